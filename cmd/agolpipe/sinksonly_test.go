package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agolpipe/agolpipe/sim"
)

// TestSinkCommandsNeedNoPortalPassword: the commands that only read the
// sinks (runs, runs show, verify without live counts, prune) work when the
// source's password (and a notifier's URL) come from environment variables
// that are not set, as on the machine where an administrator reads the
// backups; verify --deep shows the live counts as not available instead of
// failing; the commands that sign in (run, replace) still refuse, naming
// the variable; an unset variable in the source's url is refused too,
// since the pipeline's id is made from it.
func TestSinkCommandsNeedNoPortalPassword(t *testing.T) {
	if testing.Short() {
		t.Skip("starts plugin processes")
	}
	srv, admin := startSim(t, sim.Options{Items: 12, Seed: 5})
	dir := t.TempDir()
	sinks := fmt.Sprintf(`
sink "local" "nas" {
  path = %q
  retention {
    delete_after = "3650d"
  }
}
run { prefix = "NOPW" }
`, filepath.Join(dir, "nas"))
	file := writePipeline(t, dir, simSource(srv, admin, "")+sinks)
	if code, out := runCLI(t, "run", file, "--plain"); code != exitOK {
		t.Fatalf("run: exit %d\n%s", code, out)
	}
	// On another machine: no password, and a notifier whose URL is unset.
	os.Unsetenv("SIM_PASSWORD") // startSim's t.Setenv puts it back
	file = writePipeline(t, dir, simSource(srv, admin, "")+sinks+`
notify "webhook" "ops" {
  url = env("AGOLPIPE_TEST_UNSET_WEBHOOK")
}
`)
	for _, args := range [][]string{
		{"runs", file},
		{"runs", "show", file, "latest"},
		{"verify", file},
		{"verify", file, "--deep", "--no-live"},
		{"prune", file, "--dry-run"},
	} {
		code, out := runCLI(t, args...)
		if code != exitOK {
			t.Errorf("%s: exit %d without the portal password\n%s", strings.Join(args, " "), code, out)
		}
	}
	code, out := runCLI(t, "verify", file, "--deep")
	if code != exitOK || !strings.Contains(out, "live counts not shown") {
		t.Errorf("verify --deep: exit %d, want the run verified and the live counts not shown\n%s", code, out)
	}
	for _, args := range [][]string{
		{"run", file, "--plain"},
		{"replace", file, "--find", "a", "--replace", "b", "--all", "--dry-run"},
	} {
		if code, out := runCLI(t, args...); code != exitUsage {
			t.Errorf("%s: exit %d, want %d (the password is needed)\n%s", strings.Join(args, " "), code, exitUsage, out)
		}
	}
	// A url from an unset variable: the runs of which pipeline?
	noURL := writePipeline(t, dir, strings.Replace(simSource(srv, admin, ""), fmt.Sprintf("%q", srv.PortalURL()), `env("AGOLPIPE_TEST_UNSET_URL")`, 1)+sinks)
	if code, out := runCLI(t, "runs", noURL); code != exitUsage {
		t.Errorf("runs with the source url unset: exit %d, want %d\n%s", code, exitUsage, out)
	}
}
