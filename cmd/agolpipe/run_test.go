package main

import (
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agolpipe/agolpipe/core/report"
	"github.com/agolpipe/agolpipe/plugins"
	"github.com/agolpipe/agolpipe/sim"
)

// TestRunAgainstSimulator backs up a simulated organization into two local
// sinks through plugin subprocesses and checks what lands on disk.
func TestRunAgainstSimulator(t *testing.T) {
	if testing.Short() {
		t.Skip("starts plugin processes")
	}
	srv, admin := startSim(t, sim.Options{Items: 12, Seed: 7, LargeFileSize: 64 << 10})
	pass := admin.Password
	dir := t.TempDir()
	nas, usb := filepath.Join(dir, "nas"), filepath.Join(dir, "usb")
	file := writePipeline(t, dir, simSource(srv, admin, "")+fmt.Sprintf(`
sink "local" "nas" { path = %q }
sink "local" "usb" {
  path   = %q
  layout = "owner/type"
}
run {
  prefix      = "SIM"
  concurrency = 3
  retries     = 1
}
`, nas, usb))

	for _, args := range [][]string{{"plan", file}, {"run", file, "--plain", "--log-format", "json"}} {
		rootCmd.SetArgs(args)
		code := execute()
		if code != exitOK && code != exitPartial {
			t.Fatalf("agolpipe %s: exit %d", strings.Join(args, " "), code)
		}
		if args[0] == "plan" {
			if ents, _ := os.ReadDir(nas); len(ents) != 0 {
				t.Fatalf("plan wrote into the sink: %v", ents)
			}
		}
	}
	runs, _ := filepath.Glob(filepath.Join(nas, "SIM_*"))
	if len(runs) != 1 {
		t.Fatalf("run folders %v", runs)
	}
	m := readManifest(t, runs[0])
	if m.Counts.Discovered == 0 || m.Source.PortalURL == "" || (len(plugins.Exporters) > 0 && len(m.Artifacts) == 0) {
		t.Fatalf("manifest: %+v", m.Counts)
	}
	for _, a := range m.Artifacts {
		if _, err := os.Stat(filepath.Join(runs[0], filepath.FromSlash(a.Path))); err != nil {
			t.Errorf("artifact in manifest but not on disk: %v", err)
		}
	}
	b, _ := os.ReadFile(filepath.Join(runs[0], report.LogFile))
	if strings.Contains(string(b), pass) {
		t.Error("run.log contains the password")
	}
	fi, _ := os.Open(filepath.Join(runs[0], report.InventoryFile))
	rows, _ := csv.NewReader(fi).ReadAll()
	fi.Close()
	if len(rows)-1 != m.Counts.Discovered {
		t.Errorf("Inventory.csv %d rows, manifest %d items", len(rows)-1, m.Counts.Discovered)
	}
	usbRuns, _ := filepath.Glob(filepath.Join(usb, "SIM_*", report.ManifestFile))
	if len(usbRuns) != 1 {
		t.Errorf("second sink lacks its manifest")
	}
	t.Logf("status %s exit %d counts %+v", m.Status, m.ExitCode, m.Counts)
}
