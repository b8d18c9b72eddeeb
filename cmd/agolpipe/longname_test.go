package main

import (
	"bytes"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/agolpipe/agolpipe/core/objectpath"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sim"
	"github.com/agolpipe/agolpipe/sim/org"
)

// TestLongOriginalFileNameIsStored backs up a file item whose own file
// name is 250 characters into a local sink with a short path: the file is
// stored under a shortened name that keeps its extension and the item id,
// its bytes are the simulator's, and the manifest keeps the whole original
// name.
func TestLongOriginalFileNameIsStored(t *testing.T) {
	if testing.Short() {
		t.Skip("starts plugin processes")
	}
	srv, admin := startSim(t, sim.Options{Items: 12, Seed: 5, ExportTime: 100 * time.Millisecond})
	long := strings.Repeat("Quarterly budget report 2019-2024 ", 8)[:246] + ".pdf"
	// The generator keeps names under 80 characters; give one file item a
	// long name as an uploader can, leaving the org's counts as they are.
	o := srv.Org()
	o.Mu.Lock()
	var item *org.Item
	ids := make([]string, 0, len(o.Items))
	byID := map[string]*org.Item{}
	for _, it := range o.Items {
		if it.Data == org.DataFile && it.Size > 0 && it.Size < 4<<20 {
			ids = append(ids, it.ID)
			byID[it.ID] = it
		}
	}
	sort.Strings(ids)
	if len(ids) == 0 {
		o.Mu.Unlock()
		t.Fatal("no small file item in the simulated org")
	}
	item = byID[ids[0]]
	item.Name = long
	o.Mu.Unlock()

	dir := t.TempDir()
	file := writePipeline(t, dir, simSource(srv, admin, "")+`
sink "local" "disk" { path = "`+filepath.Join(dir, "s")+`" }
run {
  prefix      = "LONG"
  concurrency = 2
}
`)
	code, out := runCLI(t, "run", file, "--plain")
	runs, _ := filepath.Glob(filepath.Join(dir, "s", "LONG_*"))
	if len(runs) != 1 {
		t.Fatalf("exit %d, run folders %v\n%s", code, runs, out)
	}
	m := readManifest(t, runs[0])
	verifyArtifacts(t, m)
	if st := statuses(m)[item.ID]; st.Status != sdk.StatusExported {
		t.Fatalf("item %s with a 250-character file name: %s (%s)\n%s", item.ID, st.Status, st.Reason, out)
	}
	var found bool
	for _, a := range m.Artifacts {
		if a.ItemID != item.ID || a.Name != long {
			continue
		}
		found = true
		base := path.Base(a.Path)
		if len(base) > objectpath.MaxNameLength || !strings.HasSuffix(base, ".pdf") || !strings.Contains(base, item.ID) || !strings.Contains(base, "Quarterly budget") {
			t.Errorf("stored as %q: want a shortened name with the extension, the id and the start of the name", a.Path)
		}
		stored, err := os.ReadFile(filepath.Join(runs[0], filepath.FromSlash(a.Path)))
		if err != nil {
			t.Fatal(err)
		}
		o.Mu.RLock()
		want, _ := io.ReadAll(item.FileBlob().Reader())
		o.Mu.RUnlock()
		if !bytes.Equal(stored, want) {
			t.Errorf("%s: %d bytes, the simulator's file has %d", a.Path, len(stored), len(want))
		}
	}
	if !found {
		t.Errorf("the manifest has no artifact of %s named with the original 250-character name", item.ID)
	}
	if code != exitOK {
		t.Errorf("run exit %d\n%s", code, out)
	}
}
