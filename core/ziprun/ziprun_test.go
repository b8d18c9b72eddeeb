package ziprun

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/sinktest"
)

const run = "PROD_2024-05-01_02-00-00"

func randomBytes(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
	_, _ = r.Read(b)
	return b
}

func put(t *testing.T, s sdk.Sink, p string, data []byte) {
	t.Helper()
	resp, err := s.Put(context.Background(), sdk.PutRequest{Path: p, Size: int64(len(data)), Body: bytes.NewReader(data)})
	if err != nil {
		t.Fatalf("Put %s: %v", p, err)
	}
	if resp.Size != int64(len(data)) {
		t.Errorf("Put %s: Size %d, want %d", p, resp.Size, len(data))
	}
}

func get(t *testing.T, s sdk.Sink, p string) []byte {
	t.Helper()
	rc, err := s.Get(context.Background(), sdk.GetRequest{Path: p})
	if err != nil {
		t.Fatalf("Get %s: %v", p, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// readZip opens the archive stored in mem and returns its entries by name.
func readZip(t *testing.T, mem *sinktest.MemSink, p string) (map[string][]byte, map[string]string) {
	t.Helper()
	data := get(t, mem, p)
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("archive %s is not a valid zip: %v", p, err)
	}
	out := map[string][]byte{}
	comments := map[string]string{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatalf("entry %s: %v", f.Name, err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("entry %s: %v", f.Name, err)
		}
		out[f.Name] = b
		comments[f.Name] = f.Comment
	}
	return out, comments
}

func TestRunBecomesOneArchivePlusManifest(t *testing.T) {
	mem := sinktest.NewMemSink()
	z := New(mem, run, Options{})
	files := map[string][]byte{
		"Feature Service/Parcels_abc123.zip": randomBytes(3<<20+17, 1),
		"Web Map/City map_def456.json":       []byte(`{"operationalLayers":[]}`),
		"Inventory.csv":                      []byte("Item ID,Title\nabc123,Parcels\n"),
		"empty.txt":                          nil,
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		put(t, z, run+"/"+n, files[n])
	}
	if got := mem.Paths(); len(got) != 0 {
		t.Errorf("visible before Finish: %v", got)
	}
	if info, err := z.Stat(context.Background(), run+"/Inventory.csv"); err != nil || info.Size != int64(len(files["Inventory.csv"])) {
		t.Errorf("Stat of an entry: %+v, %v", info, err)
	}
	manifest := []byte(`{"schema":"agolpipe.manifest/v1","run":"` + run + `"}`)
	put(t, z, run+"/manifest.json", manifest)
	if _, err := z.Finish(context.Background()); err != nil {
		t.Fatalf("Finish: %v", err)
	}
	want := []string{run + "/" + run + ".zip", run + "/manifest.json"}
	if got := mem.Paths(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("sink holds %v, want %v", got, want)
	}
	if !bytes.Equal(get(t, mem, run+"/manifest.json"), manifest) {
		t.Error("manifest beside the archive differs")
	}
	entries, _ := readZip(t, mem, z.ArchivePath())
	files["manifest.json"] = manifest
	if len(entries) != len(files) {
		t.Errorf("archive has %d entries, want %d", len(entries), len(files))
	}
	for n, data := range files {
		if sha256.Sum256(entries[n]) != sha256.Sum256(data) {
			t.Errorf("entry %q: %d bytes, want %d", n, len(entries[n]), len(data))
		}
	}
	if _, err := z.Put(context.Background(), sdk.PutRequest{Path: run + "/late.txt", Body: strings.NewReader("x")}); err == nil {
		t.Error("Put after Finish succeeded")
	}
	if err := z.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := z.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestCloseWithoutFinishLeavesNothing(t *testing.T) {
	for _, how := range []string{"close", "abort"} {
		t.Run(how, func(t *testing.T) {
			mem := sinktest.NewMemSink()
			z := New(mem, run, Options{Beside: []string{}})
			put(t, z, run+"/a.bin", randomBytes(1<<20, 2))
			if how == "abort" {
				z.Abort(errors.New("run cancelled"))
				if _, err := z.Finish(context.Background()); err == nil {
					t.Error("Finish after Abort succeeded")
				}
			}
			if err := z.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if got := mem.Paths(); len(got) != 0 {
				t.Errorf("sink holds %v after the run ended without Finish", got)
			}
		})
	}
}

type failingBody struct {
	data []byte
}

var errExporter = errors.New("exporter died")

func (f *failingBody) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, sdk.Classify(sdk.KindRetryable, errExporter)
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

func TestFailedEntryIsMarkedNotPassedOff(t *testing.T) {
	mem := sinktest.NewMemSink()
	z := New(mem, run, Options{})
	put(t, z, run+"/good1.bin", randomBytes(100000, 3))
	_, err := z.Put(context.Background(), sdk.PutRequest{Path: run + "/bad.bin", Size: -1, Body: &failingBody{data: randomBytes(200000, 4)}})
	if !errors.Is(err, errExporter) || sdk.KindOf(err) != sdk.KindRetryable {
		t.Fatalf("Put with a failing body: %v (kind %v), want the body's retryable error", err, sdk.KindOf(err))
	}
	// The engine retries the artifact: the second attempt is the real entry.
	bad := randomBytes(150000, 5)
	put(t, z, run+"/bad.bin", bad)
	put(t, z, run+"/good2.bin", randomBytes(1000, 6))
	if _, err := z.Finish(context.Background()); err != nil {
		t.Fatal(err)
	}
	entries, comments := readZip(t, mem, z.ArchivePath())
	if !bytes.Equal(entries["bad.bin"], bad) {
		t.Errorf("bad.bin holds %d bytes, want the retried %d", len(entries["bad.bin"]), len(bad))
	}
	partial := FailedDir + "bad.bin.partial"
	if _, ok := entries[partial]; !ok {
		t.Errorf("no %s entry; entries: %v", partial, keys(entries))
	}
	if !strings.Contains(comments[partial], "exporter died") {
		t.Errorf("comment of %s = %q, want the error", partial, comments[partial])
	}
	if len(entries) != 4 {
		t.Errorf("entries %v, want good1, bad (retried), _failed/bad.partial, good2", keys(entries))
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestFailedUploadLeavesNothing(t *testing.T) {
	mem := sinktest.NewMemSink()
	mem.PutHook = func(p string) error {
		if strings.HasSuffix(p, ".zip") {
			return sdk.Retryable("storage went away")
		}
		return nil
	}
	z := New(mem, run, Options{Beside: []string{}})
	put(t, z, run+"/a.bin", randomBytes(1000, 7))
	_, err := z.Finish(context.Background())
	if err == nil || sdk.KindOf(err) != sdk.KindRetryable {
		t.Fatalf("Finish with a failing upload: %v (kind %v), want retryable", err, sdk.KindOf(err))
	}
	if got := mem.Paths(); len(got) != 0 {
		t.Errorf("sink holds %v", got)
	}
	_ = z.Close()
}

func TestConcurrentPuts(t *testing.T) {
	mem := sinktest.NewMemSink()
	z := New(mem, run, Options{})
	var wg sync.WaitGroup
	want := map[string][]byte{}
	for i := range 8 {
		name := fmt.Sprintf("type%d/item%d.bin", i%3, i)
		want[name] = randomBytes(50000+i*997, uint64(10+i))
	}
	for name, data := range want {
		wg.Add(1)
		go func() {
			defer wg.Done()
			put(t, z, run+"/"+name, data)
		}()
	}
	wg.Wait()
	if _, err := z.Finish(context.Background()); err != nil {
		t.Fatal(err)
	}
	entries, _ := readZip(t, mem, z.ArchivePath())
	for name, data := range want {
		if !bytes.Equal(entries[name], data) {
			t.Errorf("entry %s differs", name)
		}
	}
}

func TestPathOutsideRunPassesThrough(t *testing.T) {
	mem := sinktest.NewMemSink()
	z := New(mem, run, Options{})
	put(t, z, "other/file.txt", []byte("x"))
	if got := mem.Paths(); strings.Join(got, ",") != "other/file.txt" {
		t.Errorf("sink holds %v", got)
	}
}

// discardSink reads every Put to the end and keeps only the byte count, so
// a streaming test measures the zip path and nothing else.
type discardSink struct {
	sinktest.MemSink
	n int64
}

func (d *discardSink) Put(ctx context.Context, req sdk.PutRequest) (sdk.PutResponse, error) {
	n, err := io.Copy(io.Discard, req.Body)
	d.n += n
	return sdk.PutResponse{Size: n}, err
}

type gen struct {
	r    *rand.ChaCha8
	left int64
}

func (g *gen) Read(p []byte) (int, error) {
	if g.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > g.left {
		p = p[:g.left]
	}
	n, _ := g.r.Read(p)
	g.left -= int64(n)
	return n, nil
}

// A 64 MiB run streams through with the heap bounded: no copy of the run
// is made (the bound is generous; a copy would be 64 MiB).
func TestStreamsWithBoundedMemory(t *testing.T) {
	d := &discardSink{}
	z := New(d, run, Options{Beside: []string{}})
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var peak uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapAlloc)
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	const size = 64 << 20
	for i, name := range []string{"a/big.zip", "b/big.bin"} { // stored, then deflated
		_, err := z.Put(context.Background(), sdk.PutRequest{Path: run + "/" + name, Size: size / 2, Body: &gen{r: rand.NewChaCha8([32]byte{byte(i)}), left: size / 2}})
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := z.Finish(context.Background()); err != nil {
		t.Fatal(err)
	}
	close(stop)
	<-done
	grow := int64(peak) - int64(base)
	t.Logf("64 MiB through the zip: archive %d bytes, heap +%.1f MiB", d.n, float64(grow)/(1<<20))
	if d.n < size {
		t.Errorf("archive has %d bytes, want at least %d (random data does not compress)", d.n, size)
	}
	if grow > 24<<20 {
		t.Errorf("heap grew %.1f MiB while zipping 64 MiB: the run is being buffered", float64(grow)/(1<<20))
	}
}
