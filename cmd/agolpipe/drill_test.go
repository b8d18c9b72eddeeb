package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/agolpipe/agolpipe/core/report"
	"github.com/agolpipe/agolpipe/sim"
)

// TestVerifyDrill backs up a simulated org and runs `agolpipe verify
// --drill 4` through the plugins: four items, feature services first and
// then other types, are restored as new items into a scratch folder,
// compared with the backup and deleted. It exits 0, says each matched, and
// leaves the org as it was: no item and no folder more, and nothing was
// ever shared.
func TestVerifyDrill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts plugin processes")
	}
	srv, admin := startSim(t, sim.Options{Items: 12, Seed: 7, LargeFileSize: 64 << 10})
	dir := t.TempDir()
	file := writePipeline(t, dir, simSource(srv, admin, "")+fmt.Sprintf(`
sink "local" "nas" { path = %q }
run {
  prefix      = "SIM"
  concurrency = 3
}
`, filepath.Join(dir, "nas")))
	m := backup(t, file, dir)
	live := func() (items, folders int) {
		o := srv.Org()
		o.Mu.RLock()
		defer o.Mu.RUnlock()
		for _, it := range o.Items {
			if !it.Deleted && !it.Temp {
				items++
			}
		}
		for _, u := range o.Users {
			folders += len(u.Folders)
		}
		return items, folders
	}
	items, folders := live()
	srv.ResetRequests()

	code, out := runCLI(t, "verify", file, "--drill", "4")
	t.Logf("verify --drill said:\n%s", out)
	if code != exitOK {
		t.Fatalf("verify --drill: exit %d\n%s", code, out)
	}
	matched := regexp.MustCompile(`(?m)^  - (\w+) ".*" \((.*)\): restored as \w+, matches the backup, deleted$`).FindAllStringSubmatch(out, -1)
	if len(matched) != 4 {
		t.Fatalf("%d items matched and deleted, want 4", len(matched))
	}
	types := map[string]bool{}
	for _, mm := range matched {
		types[mm[2]] = true
	}
	if !types["Feature Service"] || len(types) < 3 {
		t.Errorf("the sample is not spread across types with a feature service: %v", types)
	}
	if !strings.Contains(out, "Drill: 4 of 4 item(s) came back equal to the backup") {
		t.Errorf("no drill verdict line")
	}
	if i, f := live(); i != items || f != folders {
		t.Errorf("the org after the drill: %d items, %d folders; before: %d, %d", i, f, items, folders)
	}
	for _, r := range srv.Requests() {
		if strings.HasSuffix(r.Path, "/share") || strings.HasSuffix(r.Path, "/shareItems") {
			t.Errorf("the drill shared a copy: %s %s", r.Method, r.Path)
		}
	}

	// A file item whose stored copy is damaged: restore refuses it (its
	// bytes do not match the manifest), the drill says so and fails, the
	// other items still come back and are removed.
	var csv report.Artifact
	for _, a := range m.Artifacts {
		if a.Exporter == "file" && a.Format == a.ItemType && strings.HasSuffix(a.Path, ".csv") {
			csv = a
		}
	}
	if csv.Path == "" {
		t.Fatal("the run has no CSV file artifact")
	}
	p := filepath.Join(dir, "nas", m.RunFolder, filepath.FromSlash(csv.Path))
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x01
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	code, out = runCLI(t, "verify", file, "--drill", "4")
	t.Logf("verify --drill with a damaged copy said:\n%s", out)
	if code != exitPartial {
		t.Fatalf("verify --drill with a damaged copy: exit %d, want %d", code, exitPartial)
	}
	if !regexp.MustCompile(`(?m)^  - `+csv.ItemID+` ".*" \(CSV\): NOT RESTORED \(failed\): .*`).MatchString(out) ||
		!strings.Contains(out, "Drill: FAILED: 3 of 4 item(s) came back equal to the backup") {
		t.Errorf("the drill does not name the item it could not restore")
	}
	if i, f := live(); i != items || f != folders {
		t.Errorf("the org after the failed drill: %d items, %d folders; before: %d, %d", i, f, items, folders)
	}
}
