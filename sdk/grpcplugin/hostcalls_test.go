package grpcplugin_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/grpcplugin"
	"github.com/agolpipe/agolpipe/sdk/grpcplugin/grpctest"
)

// A plugin's calls share one host service, dialed once; each request still
// reaches the host of its own call, also when calls run at once, and a
// plan that never touches the host followed more than go-plugin's 5 s
// broker window later by a restore that does still reaches its host.
func TestRestoreCallsShareOneHostConnection(t *testing.T) {
	ctx := context.Background()
	r := grpctest.Exporter(t, &restoringExporter{}).(sdk.Restorer)
	dials := grpcplugin.HostDials()
	item := func(i int) (sdk.RestoreRequest, *restoreHost) {
		data := []byte(fmt.Sprintf(`{"item":%d}`, i))
		h := &restoreHost{artifacts: map[string][]byte{"data.json": data}}
		return sdk.RestoreRequest{Item: sdk.Item{ID: fmt.Sprint("old", i), Title: fmt.Sprint("Map ", i), Type: "Web Map"}, Owner: "ann",
			Mode: sdk.RestoreNew, Artifacts: []sdk.RestoreArtifact{{Name: "data.json", Size: int64(len(data))}}}, h
	}
	req, h := item(0)
	req.PlanOnly = true
	if _, err := r.Restore(ctx, req, h); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5500 * time.Millisecond)
	var wg sync.WaitGroup
	errs := make([]error, 12)
	hosts := make([]*restoreHost, 12)
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, h := item(i)
			hosts[i] = h
			_, errs[i] = r.Restore(ctx, req, h)
		}()
	}
	wg.Wait()
	for i, h := range hosts {
		want := fmt.Sprintf(`content/users/ann/addItem file data.json application/json title=Map %d mark= remap= {"item":%d}`, i, i)
		if errs[i] != nil || len(h.uploads) != 1 || h.uploads[0] != want {
			t.Fatalf("call %d: %v, uploads %q, want [%q]", i, errs[i], h.uploads, want)
		}
	}
	if n := grpcplugin.HostDials() - dials; n != 1 {
		t.Fatalf("%d dials to the host for 13 calls; want 1 (one shared connection)", n)
	}
}
