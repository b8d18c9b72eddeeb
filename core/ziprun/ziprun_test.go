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
	"os"
	"os/exec"
	"path/filepath"
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
		if strings.HasSuffix(f.Name, "/") {
			continue // a folder entry, not an object
		}
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

func TestFailedEntryIsNotListed(t *testing.T) {
	mem := sinktest.NewMemSink()
	z := New(mem, run, Options{})
	put(t, z, run+"/good1.bin", randomBytes(100000, 3))
	_, err := z.Put(context.Background(), sdk.PutRequest{Path: run + "/bad.bin", Size: -1, Body: &failingBody{data: randomBytes(200000, 4)}})
	if !errors.Is(err, errExporter) || sdk.KindOf(err) != sdk.KindRetryable {
		t.Fatalf("Put with a failing body: %v (kind %v), want the body's retryable error", err, sdk.KindOf(err))
	}
	if _, err := z.Stat(context.Background(), run+"/bad.bin"); !sdk.IsNotFound(err) {
		t.Errorf("Stat of a failed entry: %v, want not found", err)
	}
	// The engine retries the artifact: the second attempt is the real entry.
	bad := randomBytes(150000, 5)
	put(t, z, run+"/bad.bin", bad)
	put(t, z, run+"/good2.bin", randomBytes(1000, 6))
	if _, err := z.Finish(context.Background()); err != nil {
		t.Fatal(err)
	}
	entries := checkArchive(t, mem, z.ArchivePath(), 1)
	if !bytes.Equal(entries["bad.bin"], bad) {
		t.Errorf("bad.bin holds %d bytes, want the retried %d", len(entries["bad.bin"]), len(bad))
	}
	if got := strings.Join(keys(entries), ","); got != "bad.bin,good1.bin,good2.bin" {
		t.Errorf("entries %s, want bad.bin (the retry), good1.bin, good2.bin", got)
	}
}

// checkArchive reads the archive with archive/zip and, when installed,
// `unzip -t` (which must pass without a warning), checks that no name is
// listed twice and that the comment owns up to the unlisted entries, and
// returns the listed entries.
func checkArchive(t *testing.T, mem *sinktest.MemSink, p string, unlisted int) map[string][]byte {
	t.Helper()
	data := get(t, mem, p)
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("archive %s is not a valid zip: %v", p, err)
	}
	seen := map[string]bool{}
	for _, f := range zr.File {
		if seen[f.Name] {
			t.Errorf("entry %s is listed twice", f.Name)
		}
		seen[f.Name] = true
	}
	if want := fmt.Sprintf("; %d replaced, deleted or failed entries", unlisted); (unlisted > 0) != strings.Contains(zr.Comment, want) {
		t.Errorf("archive comment %q; want it to say %q: %v", zr.Comment, want, unlisted > 0)
	}
	entries, _ := readZip(t, mem, p)
	if len(entries) > 0 { // unzip refuses any archive without entries
		unzipTest(t, data)
	}
	return entries
}

// unzipTest runs Info-ZIP's `unzip -t`, the strictest common reader: it
// warns (exit 1) when a local header disagrees with the central directory.
func unzipTest(t *testing.T, data []byte) {
	t.Helper()
	bin, err := exec.LookPath("unzip")
	if err != nil {
		t.Log("unzip is not installed; archive/zip's reading stands alone")
		return
	}
	f := filepath.Join(t.TempDir(), "run.zip")
	if err := os.WriteFile(f, data, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-t", f).CombinedOutput()
	if err != nil || strings.Contains(string(out), "warning") || strings.Contains(string(out), "mismatching") {
		t.Errorf("unzip -t: %v\n%s", err, out)
	}
	// 7-Zip lists every local header when it thinks the archive has a
	// stub, so it must count what the central directory lists.
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return
	}
	for _, name := range []string{"7zz", "7z"} {
		if bin, err := exec.LookPath(name); err == nil {
			out, err := exec.Command(bin, "l", "-slt", f).CombinedOutput()
			if n := strings.Count(string(out), "\nPath = ") - 1; err != nil || n != len(zr.File) {
				t.Errorf("7-Zip lists %d entries, the central directory %d: %v\n%s", n, len(zr.File), err, out)
			}
			break
		}
	}
}

func TestReplacedAndDeletedEntriesAreNotListed(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		steps    func(t *testing.T, z *Sink)
		want     map[string][]byte
		unlisted int
		beside   []string
	}{
		{
			name: "a second Put replaces the entry",
			steps: func(t *testing.T, z *Sink) {
				put(t, z, run+"/Web Map/a.json", []byte("attempt 1"))
				put(t, z, run+"/Web Map/b.json", []byte("b"))
				put(t, z, run+"/Web Map/a.json", []byte("attempt 2"))
			},
			want:     map[string][]byte{"Web Map/a.json": []byte("attempt 2"), "Web Map/b.json": []byte("b")},
			unlisted: 1,
		},
		{
			name: "the first entry deleted",
			steps: func(t *testing.T, z *Sink) {
				put(t, z, run+"/d/x.bin", randomBytes(70000, 8))
				put(t, z, run+"/y.bin", []byte("y"))
				if err := z.Delete(ctx, run+"/d/x.bin"); err != nil {
					t.Fatalf("Delete: %v", err)
				}
				if _, err := z.Stat(ctx, run+"/d/x.bin"); !sdk.IsNotFound(err) {
					t.Errorf("Stat after Delete: %v, want not found", err)
				}
			},
			want:     map[string][]byte{"y.bin": []byte("y")},
			unlisted: 1,
		},
		{
			name: "the last entry deleted, then written again",
			steps: func(t *testing.T, z *Sink) {
				put(t, z, run+"/y.bin", []byte("y"))
				put(t, z, run+"/x.bin", []byte("x1"))
				if err := z.Delete(ctx, run+"/x.bin"); err != nil {
					t.Fatalf("Delete: %v", err)
				}
				put(t, z, run+"/x.bin", []byte("x2"))
			},
			want:     map[string][]byte{"y.bin": []byte("y"), "x.bin": []byte("x2")},
			unlisted: 1,
		},
		{
			name: "every entry deleted",
			steps: func(t *testing.T, z *Sink) {
				put(t, z, run+"/x.bin", []byte("x"))
				if err := z.Delete(ctx, run+"/x.bin"); err != nil {
					t.Fatalf("Delete: %v", err)
				}
			},
			want:     map[string][]byte{},
			unlisted: 1,
		},
		{
			name: "a file kept beside the archive, deleted",
			steps: func(t *testing.T, z *Sink) {
				put(t, z, run+"/d/a.json", []byte("a"))
				put(t, z, run+"/manifest.json", []byte("{}"))
				put(t, z, run+"/Results.txt", []byte("ok"))
				if err := z.Delete(ctx, run+"/manifest.json"); err != nil {
					t.Fatalf("Delete: %v", err)
				}
			},
			want:     map[string][]byte{"d/a.json": []byte("a"), "Results.txt": []byte("ok")},
			unlisted: 1,
			beside:   []string{run + "/Results.txt"},
		},
		{
			name: "a path never written is not found",
			steps: func(t *testing.T, z *Sink) {
				put(t, z, run+"/y.bin", []byte("y"))
				if err := z.Delete(ctx, run+"/x.bin"); !sdk.IsNotFound(err) {
					t.Errorf("Delete of a path never written: %v, want not found", err)
				}
			},
			want: map[string][]byte{"y.bin": []byte("y")},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mem := sinktest.NewMemSink()
			z := New(mem, run, Options{Beside: []string{"manifest.json", "Results.txt"}})
			tc.steps(t, z)
			if _, err := z.Finish(ctx); err != nil {
				t.Fatalf("Finish: %v", err)
			}
			entries := checkArchive(t, mem, z.ArchivePath(), tc.unlisted)
			if len(entries) != len(tc.want) {
				t.Errorf("entries %v, want %d", keys(entries), len(tc.want))
			}
			for n, b := range tc.want {
				if !bytes.Equal(entries[n], b) {
					t.Errorf("entry %s = %q, want %q", n, entries[n], b)
				}
			}
			want := append([]string{z.ArchivePath()}, tc.beside...)
			sort.Strings(want)
			if got := mem.Paths(); strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("sink holds %v, want %v", got, want)
			}
			if len(tc.want) > 0 {
				var any string
				for n := range tc.want {
					any = n
				}
				if err := z.Delete(ctx, run+"/"+any); err == nil || sdk.KindOf(err) != sdk.KindPermanent {
					t.Errorf("Delete from a sealed archive: %v, want a permanent error", err)
				}
			}
		})
	}
}

// TestUnlistZip64 covers the zip64 end records zip.Writer writes from
// 65535 entries on: counts, size and the locator are rewritten.
func TestUnlistZip64(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 65,600 entries")
	}
	mem := sinktest.NewMemSink()
	z := New(mem, run, Options{Beside: []string{}})
	const n = 65600
	for i := range n {
		put(t, z, fmt.Sprintf("%s/d/%05d", run, i), nil)
	}
	for i := 0; i < n; i += 1000 {
		if err := z.Delete(context.Background(), fmt.Sprintf("%s/d/%05d", run, i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := z.Finish(context.Background()); err != nil {
		t.Fatal(err)
	}
	data := get(t, mem, z.ArchivePath())
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("not a valid zip: %v", err)
	}
	if want := n - (n+999)/1000 + 1; len(zr.File) != want { // + the folder entry d/
		t.Errorf("%d entries listed, want %d", len(zr.File), want)
	}
	for _, f := range zr.File {
		if strings.HasSuffix(f.Name, "000") {
			t.Fatalf("deleted entry %s is listed", f.Name)
		}
	}
	unzipTest(t, data)
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

// TestUnlistRefusesWhatItDoesNotRecognise: a tail that is not what
// zip.Writer writes is an error (Finish then fails and nothing becomes
// visible), never a silently wrong directory.
func TestUnlistRefusesWhatItDoesNotRecognise(t *testing.T) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, n := range []string{"a", "b"} {
		w, _ := zw.Create(n)
		w.Write([]byte(n))
	}
	zw.Close()
	good := buf.Bytes()
	if _, err := unlistEntries(good, 0, map[int]bool{0: true}); err != nil {
		t.Fatalf("a zip.Writer archive: %v", err)
	}
	dirAt := bytes.Index(good, []byte{0x50, 0x4b, 0x01, 0x02})
	tests := map[string]struct {
		tail []byte
		base int64
	}{
		"no end record":               {good[:len(good)-3], 0},
		"base past the directory":     {good, int64(len(good))},
		"central record overwritten":  {append(append(append([]byte(nil), good[:dirAt]...), 'X', 'X', 'X', 'X'), good[dirAt+4:]...), 0},
		"tail starts inside the data": {good[dirAt:], 1},
	}
	for name, tc := range tests {
		if _, err := unlistEntries(tc.tail, tc.base, map[int]bool{0: true}); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// breakingSink is a MemSink whose first archive upload fails with cause
// once brk is closed, as the upload to a sink plugin that was killed does.
type breakingSink struct {
	*sinktest.MemSink
	brk   chan struct{}
	cause error
	once  sync.Once
}

func (b *breakingSink) Put(ctx context.Context, req sdk.PutRequest) (sdk.PutResponse, error) {
	first := false
	if strings.HasSuffix(req.Path, ".zip") {
		b.once.Do(func() { first = true })
	}
	if !first {
		return b.MemSink.Put(ctx, req)
	}
	done := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, req.Body); close(done) }()
	select {
	case <-b.brk:
		return sdk.PutResponse{}, b.cause
	case <-done:
		return sdk.PutResponse{}, errors.New("the archive ended before the break")
	}
}

// TestLostPartStartsANewOne: an archive upload that breaks with a
// retryable error (the sink's plugin restarted) loses its part; the run
// goes on in R/R.part2.zip, Locate no longer finds the lost entries, and
// Parts says what happened. A permanent break is final.
func TestLostPartStartsANewOne(t *testing.T) {
	mem := &breakingSink{MemSink: sinktest.NewMemSink(), brk: make(chan struct{}), cause: sdk.Retryable("sink plugin crashed")}
	z := New(mem, run, Options{Beside: []string{}})
	put(t, z, run+"/t/a.bin", randomBytes(5000, 1))
	put(t, z, run+"/t/b.bin", randomBytes(5000, 2))
	if p, ok := z.Locate(run + "/t/a.bin"); !ok || p != run+"/"+run+".zip" {
		t.Fatalf("Locate a.bin before the break: %q %v", p, ok)
	}
	close(mem.brk)
	c := randomBytes(300000, 3)
	var err error
	for range 2 { // the Put that meets the break fails retryable; the next goes into part 2
		_, err = z.Put(context.Background(), sdk.PutRequest{Path: run + "/t/c.bin", Size: int64(len(c)), Body: bytes.NewReader(c)})
		if err == nil {
			break
		}
		if sdk.KindOf(err) != sdk.KindRetryable {
			t.Fatalf("Put after the break: %v (kind %v), want retryable", err, sdk.KindOf(err))
		}
	}
	if err != nil {
		t.Fatalf("Put after the break, twice: %v", err)
	}
	part2 := run + "/" + run + ".part2.zip"
	if _, ok := z.Locate(run + "/t/a.bin"); ok {
		t.Error("an entry of the lost part is still located")
	}
	if p, ok := z.Locate(run + "/t/c.bin"); !ok || p != part2 {
		t.Errorf("Locate c.bin: %q %v, want %s", p, ok, part2)
	}
	if _, err := z.Finish(context.Background()); err != nil {
		t.Fatal(err)
	}
	entries, _ := readZip(t, mem.MemSink, part2)
	if len(entries) != 1 || !bytes.Equal(entries["t/c.bin"], c) {
		t.Errorf("part 2 holds %v", keys(entries))
	}
	parts := z.Parts()
	if len(parts) != 2 || !parts[0].Lost || parts[0].Entries != 2 || parts[1].Lost || !strings.Contains(parts[0].Cause, "crashed") {
		t.Errorf("parts: %+v", parts)
	}
	if got := mem.Paths(); strings.Join(got, ",") != part2 {
		t.Errorf("sink holds %v", got)
	}

	// A permanent break (a full disk) is not retried in a new part.
	full := &breakingSink{MemSink: sinktest.NewMemSink(), brk: make(chan struct{}), cause: sdk.Permanent("no space left on device")}
	z2 := New(full, run, Options{Beside: []string{}})
	defer z2.Close()
	put(t, z2, run+"/t/a.bin", randomBytes(5000, 1))
	close(full.brk)
	for range 3 {
		_, err = z2.Put(context.Background(), sdk.PutRequest{Path: run + "/t/c.bin", Size: int64(len(c)), Body: bytes.NewReader(c)})
		if err == nil || sdk.KindOf(err) != sdk.KindPermanent {
			t.Fatalf("Put after a permanent break: %v (kind %v), want permanent", err, sdk.KindOf(err))
		}
	}
	if len(z2.Parts()) != 1 {
		t.Errorf("a permanent break started a new part: %+v", z2.Parts())
	}
}
