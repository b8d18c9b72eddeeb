package catalog

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agolpipe/agolpipe/core/report"
	"github.com/agolpipe/agolpipe/core/ziprun"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/sinktest"
)

const pipeID = "T arcgis https://example.invalid/portal"

// plantRun stores a run of pipeline id in sk as the engine does (artifacts,
// then manifest.json), zipped when zip is set, and returns its manifest.
func plantRun(t *testing.T, sk sdk.Sink, id, folder string, started time.Time, status string, zip bool, files map[string]string) *report.Run {
	t.Helper()
	ctx := context.Background()
	r := &report.Run{SchemaVersion: report.SchemaVersion, RunID: folder + "-x", RunFolder: folder, PipelineID: id, Sink: "disk",
		Started: started.UTC(), Finished: started.Add(time.Minute).UTC(), Status: status,
		Sinks: []report.Sink{{Name: "disk", Type: "memory", Outcome: "ok"}}}
	var zs *ziprun.Sink
	put := sk
	if zip {
		zs = ziprun.New(sk, folder, ziprun.Options{})
		put = zs
		r.Sinks[0].Archive = folder + "/" + folder + ".zip"
	}
	for _, name := range sortedNames(files) {
		body := files[name]
		if _, err := put.Put(ctx, sdk.PutRequest{Path: folder + "/" + name, Size: int64(len(body)), Body: strings.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256([]byte(body))
		o := report.SinkOutcome{Sink: "disk", Path: name, Status: report.Stored}
		if zip {
			o.Archive = r.Sinks[0].Archive
		}
		r.Artifacts = append(r.Artifacts, report.Artifact{Path: name, Name: filepath.Base(name), ItemID: "item-" + filepath.Base(name), Size: int64(len(body)), SHA256: hex.EncodeToString(sum[:]), Sinks: []report.SinkOutcome{o}})
		r.Counts.Artifacts++
		r.Counts.Bytes += int64(len(body))
	}
	var m bytes.Buffer
	if err := report.WriteManifest(&m, r); err != nil {
		t.Fatal(err)
	}
	if _, err := put.Put(ctx, sdk.PutRequest{Path: folder + "/" + report.ManifestFile, Size: int64(m.Len()), Body: bytes.NewReader(m.Bytes())}); err != nil {
		t.Fatal(err)
	}
	if zs != nil {
		if _, err := zs.Finish(ctx); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

func sortedNames(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	for i := range ks {
		for j := i + 1; j < len(ks); j++ {
			if ks[j] < ks[i] {
				ks[i], ks[j] = ks[j], ks[i]
			}
		}
	}
	return ks
}

func readAll(t *testing.T, c *Catalog, r Run, a report.Artifact) ([]byte, error) {
	t.Helper()
	rc, err := c.Open(context.Background(), r, a)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

func getObj(t *testing.T, sk sdk.Sink, p string) []byte {
	t.Helper()
	rc, err := sk.Get(context.Background(), sdk.GetRequest{Path: p})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func putObj(t *testing.T, sk sdk.Sink, p string, b []byte) {
	t.Helper()
	if _, err := sk.Put(context.Background(), sdk.PutRequest{Path: p, Size: int64(len(b)), Body: bytes.NewReader(b)}); err != nil {
		t.Fatal(err)
	}
}

func wantProblem(t *testing.T, err error, p Problem) {
	t.Helper()
	ie, ok := AsIntegrity(err)
	if !ok {
		t.Fatalf("error %v: want an *IntegrityError (%s)", err, p)
	}
	if ie.Problem != p {
		t.Fatalf("problem %q (%v), want %q", ie.Problem, err, p)
	}
}

var files = map[string]string{
	"Web Map/Parks (abc).json":        `{"operationalLayers":[]}`,
	"Feature Service/Roads/data.zip":  strings.Repeat("roads ", 50_000),
	"Feature Service/Roads/item.json": `{"title":"Roads"}`,
}

func TestListsOnlyThisPipelinesRunsNewestFirst(t *testing.T) {
	sk := sinktest.NewMemSink()
	now := time.Now()
	plantRun(t, sk, pipeID, "T_old", now.Add(-48*time.Hour), report.StatusSuccess, false, files)
	plantRun(t, sk, pipeID, "T_new", now.Add(-time.Hour), report.StatusFailed, true, files)
	plantRun(t, sk, "OTHER arcgis x", "O_1", now, report.StatusSuccess, false, files)
	// A manifest deeper down (another sink nested in this one) is no run.
	plantRun(t, sk, pipeID, "T_nested", now, report.StatusSuccess, false, nil)
	putObj(t, sk, "nested/T_nested/manifest.json", getObj(t, sk, "T_nested/manifest.json"))
	_ = sk.Delete(context.Background(), "T_nested/manifest.json")
	// A manifest copied into another folder does not describe it.
	putObj(t, sk, "T_copy/manifest.json", getObj(t, sk, "T_old/manifest.json"))

	c := New(pipeID, []Sink{{Name: "disk", Sink: sk, Features: sdk.SinkFeatures{RangeGet: true}}})
	defer c.Close()
	l, err := c.List(context.Background(), "disk")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range l.Runs {
		got = append(got, fmt.Sprintf("%s:%s:zip=%v:%d", r.Folder, r.Head.Status, r.Zipped(), r.Head.Counts.Artifacts))
	}
	if want := "T_new:failed:zip=true:3 T_old:success:zip=false:3"; strings.Join(got, " ") != want {
		t.Fatalf("runs %v, want %s", got, want)
	}
	if l.Others != 1 || len(l.Ignored) != 1 || !strings.Contains(l.Ignored[0], "T_copy") {
		t.Fatalf("others %d ignored %q", l.Others, l.Ignored)
	}
	if f, err := c.Resolve(context.Background(), Latest); err != nil || f != "T_old" {
		t.Fatalf("latest = %q, %v; want the newest complete run T_old", f, err)
	}
	if f, err := c.Resolve(context.Background(), "T_new-x"); err != nil || f != "T_new" {
		t.Fatalf("resolve by run id = %q, %v", f, err)
	}
	var nr *NoRunError
	if _, err := c.Resolve(context.Background(), "nope"); !errors.As(err, &nr) {
		t.Fatalf("resolve of an unknown run: %v", err)
	}
}

func TestOpenChecksEveryCopy(t *testing.T) {
	for _, zipped := range []bool{false, true} {
		t.Run(fmt.Sprintf("zip=%v", zipped), func(t *testing.T) {
			ctx := context.Background()
			sk := sinktest.NewMemSink()
			plantRun(t, sk, pipeID, "T_1", time.Now(), report.StatusSuccess, zipped, files)
			c := New(pipeID, []Sink{{Name: "disk", Sink: sk, Features: sdk.SinkFeatures{RangeGet: true}}})
			defer c.Close()
			r, err := c.Find(ctx, "disk", "T_1")
			if err != nil {
				t.Fatal(err)
			}
			m, err := c.Manifest(ctx, r)
			if err != nil {
				t.Fatal(err)
			}
			byPath := map[string]report.Artifact{}
			for _, a := range m.Artifacts {
				byPath[a.Path] = a
				b, err := readAll(t, c, r, a)
				if err != nil || string(b) != files[a.Path] {
					t.Fatalf("%s: %d bytes, %v", a.Path, len(b), err)
				}
			}
			var objs []string
			if err := c.Objects(ctx, r, func(o Object) error {
				objs = append(objs, o.Path+"|"+o.Entry)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			want := "T_1/Feature Service/Roads/data.zip| T_1/Feature Service/Roads/item.json| T_1/Web Map/Parks (abc).json| T_1/manifest.json|"
			if zipped {
				want = "T_1/manifest.json| T_1/T_1.zip|Feature Service/Roads/data.zip T_1/T_1.zip|Feature Service/Roads/item.json T_1/T_1.zip|Web Map/Parks (abc).json T_1/T_1.zip|manifest.json"
			}
			if got := strings.Join(objs, " "); got != want {
				t.Errorf("objects:\n%s\nwant\n%s", got, want)
			}
			// A manifest that records other bytes: every kind of difference
			// is told apart.
			a := byPath["Feature Service/Roads/data.zip"]
			short, long, other := a, a, a
			short.Size++
			long.Size--
			other.SHA256 = strings.Repeat("0", 64)
			_, err = readAll(t, c, r, short)
			wantProblem(t, err, Truncated)
			_, err = readAll(t, c, r, long)
			wantProblem(t, err, Oversized)
			_, err = readAll(t, c, r, other)
			wantProblem(t, err, Corrupt)
			escape := a
			escape.Sinks = []report.SinkOutcome{{Sink: "disk", Path: "../../etc/passwd", Status: report.Stored, Archive: a.Sinks[0].Archive}}
			_, err = readAll(t, c, r, escape)
			wantProblem(t, err, UnsafePath)
			gone := a
			gone.Sinks = []report.SinkOutcome{{Sink: "disk", Path: "Feature Service/Roads/nothing.zip", Status: report.Stored, Archive: a.Sinks[0].Archive}}
			_, err = readAll(t, c, r, gone)
			wantProblem(t, err, Missing)
			if !sdk.IsNotFound(err) {
				t.Errorf("missing is not classified not found: %v", err)
			}
			notStored := a
			notStored.Sinks = []report.SinkOutcome{{Sink: "disk", Path: a.Path, Status: report.Missed}}
			_, err = readAll(t, c, r, notStored)
			wantProblem(t, err, NotStored)
		})
	}
}

// TestOpenFindsDamageInTheSink damages the stored bytes themselves: a
// flipped byte, a cut, in a plain object and inside a zipped run's archive.
func TestOpenFindsDamageInTheSink(t *testing.T) {
	ctx := context.Background()
	sk := sinktest.NewMemSink()
	plantRun(t, sk, pipeID, "P_1", time.Now(), report.StatusSuccess, false, files)
	plantRun(t, sk, pipeID, "Z_1", time.Now(), report.StatusSuccess, true, files)
	const data = "Feature Service/Roads/data.zip"
	obj := getObj(t, sk, "P_1/"+data)
	obj[1000] ^= 1
	putObj(t, sk, "P_1/"+data, obj)
	putObj(t, sk, "P_1/Web Map/Parks (abc).json", []byte(`{"operationalLayers":`))
	arch := getObj(t, sk, "Z_1/Z_1.zip")
	// The entry's stored bytes (data.zip is stored, not deflated): flip one
	// in the middle of the run of "roads ".
	i := bytes.Index(arch, []byte("roads roads roads"))
	arch[i+5000] ^= 1
	putObj(t, sk, "Z_1/Z_1.zip", arch)

	c := New(pipeID, []Sink{{Name: "disk", Sink: sk, Features: sdk.SinkFeatures{RangeGet: true}}})
	defer c.Close()
	for _, tc := range []struct{ folder, path string }{{"P_1", data}, {"Z_1", data}} {
		r, err := c.Find(ctx, "disk", tc.folder)
		if err != nil {
			t.Fatal(err)
		}
		m, err := c.Manifest(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range m.Artifacts {
			_, err := readAll(t, c, r, a)
			switch {
			case a.Path == data:
				wantProblem(t, err, Corrupt)
			case tc.folder == "P_1" && strings.HasPrefix(a.Path, "Web Map/"):
				wantProblem(t, err, Truncated)
			case err != nil:
				t.Errorf("%s %s: %v", tc.folder, a.Path, err)
			}
		}
	}
	// An archive cut short cannot be opened: its artifacts are corrupt.
	putObj(t, sk, "Z_1/Z_1.zip", arch[:len(arch)/2])
	c2 := New(pipeID, []Sink{{Name: "disk", Sink: sk, Features: sdk.SinkFeatures{RangeGet: false}}})
	defer c2.Close()
	r, _ := c2.Find(ctx, "disk", "Z_1")
	m, _ := c2.Manifest(ctx, r)
	_, err := readAll(t, c2, r, m.Artifacts[0])
	wantProblem(t, err, Corrupt)
}

func TestSafeJoinRefusesEscapes(t *testing.T) {
	root := t.TempDir()
	for _, bad := range []string{"", "/etc/passwd", "../x", "a/../../x", "a/./b", "a//b", `a\..\b`, "C:/x", "a/b:stream", "a/\x00"} {
		if p, err := SafeJoin(root, bad); err == nil {
			t.Errorf("SafeJoin(%q) = %q, want refused", bad, p)
		} else {
			wantProblem(t, err, UnsafePath)
		}
	}
	p, err := SafeJoin(root, "Web Map/a (1).json")
	if err != nil || p != filepath.Join(root, "Web Map", "a (1).json") {
		t.Fatalf("SafeJoin = %q, %v", p, err)
	}
}
