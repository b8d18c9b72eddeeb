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

// TestMain lets this test binary serve built-in plugins: the plugin host
// re-executes os.Executable() with `plugin serve <kind> <name>`, which is
// this binary while testing, so the real gRPC road is exercised end to end.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "plugin" {
		rootCmd.SetArgs(os.Args[1:])
		os.Exit(execute())
	}
	os.Exit(m.Run())
}

// TestRunAgainstSimulator backs up a simulated organization into two local
// sinks through plugin subprocesses and checks what lands on disk.
func TestRunAgainstSimulator(t *testing.T) {
	if testing.Short() {
		t.Skip("starts plugin processes")
	}
	srv, err := sim.Start(sim.Options{Items: 12, Seed: 7, LargeFileSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	var user, pass string
	for _, u := range srv.Users() {
		if u.Kind == "admin" {
			user, pass = u.Username, u.Password
		}
	}
	dir := t.TempDir()
	nas, usb := filepath.Join(dir, "nas"), filepath.Join(dir, "usb")
	file := filepath.Join(dir, "p.hcl")
	hcl := fmt.Sprintf(`
source "arcgis" "sim" {
  url = %q
  auth {
    username = %q
    password = env("SIM_PASSWORD")
  }
}
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
`, srv.PortalURL(), user, nas, usb)
	if err := os.WriteFile(file, []byte(hcl), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SIM_PASSWORD", pass)

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
	fh, err := os.Open(filepath.Join(runs[0], report.ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	m, err := report.ReadManifest(fh)
	fh.Close()
	if err != nil {
		t.Fatal(err)
	}
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
