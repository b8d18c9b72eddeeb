package main

import (
	"archive/zip"
	"bytes"
	"fmt"
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
		case w.SHA256 != a.SHA256 && a.Name == "counts.json" && sameCounts(filepath.Join(want.Sinks[0].RunPath, w.Path), filepath.Join(got.Sinks[0].RunPath, a.Path)):
			// counted at another time: the same counts
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

	// Attachments, which only the feature_query exporter downloads one by
	// one (sized by the attachment infos): every stored one has the
	// simulator's bytes.
	// One hosted feature service, the smallest with attachments, tagged so
	// the run covers it alone.
	const tag = "agolpipe-truncation-test"
	o := cut.Org()
	o.Mu.Lock()
	var pick *org.Item
	best := 0
	for _, it := range o.Items {
		if it.Type != "Feature Service" || it.Service == nil || it.Service.IsView {
			continue
		}
		rows := 0
		for _, l := range it.Service.Layers {
			if l.HasAttachments {
				rows += l.RowCount()
			}
		}
		if rows > 0 && (pick == nil || rows < best) {
			pick, best = it, rows
		}
	}
	if pick != nil {
		pick.Tags = append(pick.Tags, tag)
	}
	o.Mu.Unlock()
	if pick == nil {
		t.Fatal("no hosted feature service with attachments in the org")
	}
	admin, _ := demoAdmin(cut)
	qdir := filepath.Join(dir, "query")
	file := writePipeline(t, dir, simSource(cut, admin, `  tags = ["`+tag+`"]`)+fmt.Sprintf(`
export "Feature Service" {
  exporter = "feature_query"
}
sink "local" "disk" { path = %q }
run {
  prefix      = "Q"
  concurrency = 4
  retries     = 3
}
`, qdir))
	before := len(cut.Requests())
	qcode, qout := runCLI(t, "run", file, "--plain")
	runs, _ := filepath.Glob(filepath.Join(qdir, "Q_*"))
	if len(runs) != 1 {
		t.Fatalf("feature_query run: exit %d, run folders %v\n%s", qcode, runs, qout)
	}
	qm := readManifest(t, runs[0])
	verifyArtifacts(t, qm)
	attCuts := 0
	for _, r := range cut.Requests()[before:] {
		if r.Endpoint == "attachment" && (r.Fault == "cut" || r.Fault == "short") {
			attCuts++
		}
	}
	n := checkAttachments(t, cut, qm)
	t.Logf("feature_query run: exit %d, %+v; %d attachments checked, %d attachment bodies cut", qcode, qm.Counts, n, attCuts)
	if n == 0 || attCuts == 0 {
		t.Errorf("%d attachments checked, %d attachment bodies cut: the run did not prove anything about attachments", n, attCuts)
	}
	for _, it := range qm.Items {
		if it.Status == sdk.StatusFailed && qcode == exitOK {
			t.Errorf("item %s failed but the run exited 0", it.ID)
		}
	}
}

// checkAttachments compares every entry of the stored attachment zips
// (attachments-<layer>-<name>.zip, entries <oid>/<aid>-<name>) with the
// simulator's bytes and returns how many it checked.
func checkAttachments(t *testing.T, srv *sim.Server, m *report.Run) int {
	t.Helper()
	n := 0
	for _, a := range m.Artifacts {
		if !strings.HasPrefix(a.Name, "attachments-") {
			continue
		}
		var lid int
		if _, err := fmt.Sscanf(a.Name, "attachments-%d-", &lid); err != nil {
			t.Errorf("%s: %v", a.Name, err)
			continue
		}
		zr, err := zip.OpenReader(filepath.Join(m.Sinks[0].RunPath, filepath.FromSlash(a.Path)))
		if err != nil {
			t.Errorf("%s: %v", a.Path, err)
			continue
		}
		for _, f := range zr.File {
			var oid, aid int
			if _, err := fmt.Sscanf(f.Name, "%d/%d-", &oid, &aid); err != nil {
				t.Errorf("%s %s: %v", a.Path, f.Name, err)
				continue
			}
			want, ok := srv.Attachment(a.ItemID, lid, oid, aid)
			rc, err := f.Open()
			if err != nil {
				t.Errorf("%s %s: %v", a.Path, f.Name, err)
				continue
			}
			b, err := io.ReadAll(rc)
			rc.Close()
			if !ok || err != nil || !bytes.Equal(b, want) {
				t.Errorf("item %s attachment %s: stored %d bytes (%v), the simulator's has %d", a.ItemID, f.Name, len(b), err, len(want))
			}
			n++
		}
		zr.Close()
	}
	return n
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
