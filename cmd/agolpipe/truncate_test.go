package main

import (
	"archive/zip"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/agolpipe/agolpipe/core/report"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sim"
	"github.com/agolpipe/agolpipe/sim/org"
)

// TestTruncatedBodiesNeverStored backs up an organization whose downloads
// (item data and export results, resources, thumbnails, metadata,
// attachments, replicas, tile packages) are often cut off mid-way, either
// by a connection closed before the announced Content-Length or by a body
// that ends cleanly but early without one (where the size is known from
// the item or a listing). Through the real binary and plugins, every stored
// artifact must have exactly the simulator's bytes: file items and
// resources are checked against the bytes the simulator generates, every
// artifact against a clean run of the same org. An item that could not be
// completed must be reported failed or partial, never exported.
func TestTruncatedBodiesNeverStored(t *testing.T) {
	if testing.Short() {
		t.Skip("starts plugin processes")
	}
	dir := t.TempDir()
	clean, err := sim.Start(e2eOrg(sim.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	defer clean.Close()
	code, want := e2eRun(t, clean, filepath.Join(dir, "clean"), "")
	if code != exitOK {
		t.Fatalf("clean run: exit %d (%s): %+v", code, want.Status, want.Counts)
	}
	// The same address: item JSON and web maps carry service URLs.
	addr := strings.TrimPrefix(clean.Origin(), "http://")
	clean.Close()
	cut, err := sim.Start(e2eOrg(sim.Options{Listen: addr, TruncateRate: 0.3}))
	if err != nil {
		t.Fatal(err)
	}
	defer cut.Close()
	code, got := e2eRun(t, cut, filepath.Join(dir, "cut"), "retries = 3")
	verifyArtifacts(t, got)

	// The run met cut bodies of both kinds, on every download endpoint it
	// used (and it used the main ones).
	used, cuts, kinds := map[string]int{}, map[string]int{}, map[string]int{}
	for _, r := range cut.Requests() {
		if !slices.Contains(sim.DownloadEndpoints, r.Endpoint) {
			continue
		}
		used[r.Endpoint]++
		if r.Fault == "cut" || r.Fault == "short" {
			cuts[r.Endpoint]++
			kinds[r.Fault]++
		}
	}
	t.Logf("run with cut bodies: exit %d, %s, %+v; download requests %v, cut %v %v", code, got.Status, got.Counts, used, cuts, kinds)
	for _, ep := range []string{"data", "resource", "item/info"} {
		if used[ep] == 0 {
			t.Errorf("the run made no %s request: the org no longer exercises that download", ep)
		}
	}
	for ep, n := range used {
		if n >= 5 && cuts[ep] == 0 {
			t.Errorf("%d %s requests and none cut: the fault mode missed an endpoint", n, ep)
		}
	}
	if kinds["cut"] == 0 || kinds["short"] == 0 {
		t.Errorf("cut bodies of kinds %v: want both cut connections and short clean ends", kinds)
	}

	// Every artifact has the clean run's bytes; an item whose artifacts
	// could not all be stored says so.
	wantArt := map[string]report.Artifact{}
	for _, a := range want.Artifacts {
		wantArt[a.Path] = a
	}
	gotArt := map[string]bool{}
	for _, a := range got.Artifacts {
		gotArt[a.Path] = true
		w, ok := wantArt[a.Path]
		switch {
		case !ok:
			t.Errorf("artifact %s only in the run with cut bodies", a.Path)
		case w.SHA256 != a.SHA256:
			t.Errorf("artifact %s of %s stored with %d bytes, the simulator's has %d: a cut body was stored as good", a.Path, a.ItemID, a.Size, w.Size)
		}
	}
	ws, gs := statuses(want), statuses(got)
	incomplete := 0
	for p, a := range wantArt {
		if gotArt[p] {
			continue
		}
		if g := gs[a.ItemID]; g.Status == sdk.StatusExported {
			t.Errorf("artifact %s missing, but item %s %q is reported exported", p, a.ItemID, g.Title)
		}
	}
	for id, w := range ws {
		g := gs[id]
		if g.Status != w.Status {
			incomplete++
			if g.Status == sdk.StatusExported || g.Reason == "" {
				t.Errorf("%s %q: %s (%q) with cut bodies, %s in the clean run", id, g.Title, g.Status, g.Reason, w.Status)
			}
		}
	}
	if incomplete > 0 && code == exitOK {
		t.Errorf("%d items not complete, but the run exited 0", incomplete)
	}

	// Independently of the clean run: file items and resources hold the
	// bytes the simulator generates for them.
	checked := checkAgainstSim(t, cut.Org(), got)
	if checked["file"] == 0 || checked["resource"] == 0 {
		t.Errorf("checked %v against the simulator's bytes: want file items and resources", checked)
	}
}

// checkAgainstSim compares stored file items and resources.zip entries
// with the bytes the simulator generates, and counts what it checked.
func checkAgainstSim(t *testing.T, o *org.Org, m *report.Run) map[string]int {
	t.Helper()
	o.Mu.RLock()
	defer o.Mu.RUnlock()
	items := map[string]*org.Item{}
	for _, it := range o.Items {
		items[it.ID] = it
	}
	runPath := m.Sinks[0].RunPath
	checked := map[string]int{}
	for _, a := range m.Artifacts {
		it := items[a.ItemID]
		if it == nil {
			continue
		}
		stored, err := os.ReadFile(filepath.Join(runPath, filepath.FromSlash(a.Path)))
		if err != nil {
			t.Errorf("%s: %v", a.Path, err)
			continue
		}
		switch {
		case it.Data == org.DataFile && a.Format == it.Type:
			want, _ := io.ReadAll(it.FileBlob().Reader())
			if !bytes.Equal(stored, want) {
				t.Errorf("file item %s %q: stored %d bytes, the simulator's file has %d (or other bytes)", it.ID, it.Title, len(stored), len(want))
			}
			checked["file"]++
		case a.Name == "resources.zip":
			zr, err := zip.NewReader(bytes.NewReader(stored), int64(len(stored)))
			if err != nil {
				t.Errorf("%s: %v", a.Path, err)
				continue
			}
			for _, f := range zr.File {
				var want []byte
				for i := range it.Resources {
					r := &it.Resources[i]
					if r.Path != f.Name {
						continue
					}
					switch j := it.ResourceJSON(r); {
					case r.Body != nil:
						want = r.Body
					case j != nil:
						want = j
					default:
						want, _ = io.ReadAll(it.ResourceBlob(r).Reader())
					}
				}
				rc, err := f.Open()
				if err != nil {
					t.Errorf("%s %s: %v", a.Path, f.Name, err)
					continue
				}
				b, err := io.ReadAll(rc)
				rc.Close()
				if err != nil || want == nil || !bytes.Equal(b, want) {
					t.Errorf("item %s resource %s: stored %d bytes (%v), the simulator's has %d", it.ID, f.Name, len(b), err, len(want))
				}
				checked["resource"]++
			}
		}
	}
	return checked
}
