package file_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/agolpipe/agolpipe/plugins/exporters/file"
	"github.com/agolpipe/agolpipe/plugins/exporters/simhost"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/retry"
	"github.com/agolpipe/agolpipe/sim"
)

func TestOriginalFileBytes(t *testing.T) {
	env := simhost.Start(t, sim.Options{Items: 60, Seed: 5, LargeFileSize: 1 << 20})
	items := env.Find(t, func(it sdk.Item) bool { return it.Type == "PDF" || it.Type == "CSV" })
	if len(items) == 0 {
		t.Fatal("no file items")
	}
	it := items[0]
	e := file.New().(*file.Exporter)
	e.Retry = retry.Policy{Retries: 6, Base: time.Millisecond, Max: 5 * time.Millisecond}
	rec := simhost.NewRecorder()
	if _, err := e.Export(context.Background(), env.Request(it), env.Host, rec); err != nil {
		t.Fatal(err)
	}
	o := env.Srv.Org()
	o.Mu.RLock()
	blob := o.Item(it.ID).FileBlob()
	name := o.Item(it.ID).Name
	o.Mu.RUnlock()
	want, _ := io.ReadAll(blob.Reader())
	got, ok := rec.Get(name)
	if !ok {
		t.Fatalf("no artifact %q: %v", name, rec.Names())
	}
	if got.SHA256 != simhost.SHA256(want) || got.Bytes != int64(len(want)) {
		t.Errorf("%s: %d bytes sha %s, want %d bytes", name, got.Bytes, got.SHA256, len(want))
	}
}
