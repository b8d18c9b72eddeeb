package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agolpipe/agolpipe/sim"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// TestMain lets this test binary serve built-in plugins: the plugin host
// re-executes os.Executable() with `plugin serve <kind> <name>`, which is
// this binary while testing, so the real gRPC road is exercised end to end.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "plugin" {
		rootCmd.SetArgs(os.Args[1:])
		os.Exit(execute())
	}
	// Runs keep per-pipeline state between runs; tests keep theirs out of
	// the home directory (a test that needs its own sets it again).
	if os.Getenv("AGOLPIPE_STATE_DIR") == "" {
		d, err := os.MkdirTemp("", "agolpipe-state-")
		if err != nil {
			panic(err)
		}
		os.Setenv("AGOLPIPE_STATE_DIR", d)
		code := m.Run()
		os.RemoveAll(d)
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// startSim starts a simulated organization, closed when t ends, and returns
// it with its administrator, whose password it puts in SIM_PASSWORD for
// the source block of simSource.
func startSim(t *testing.T, o sim.Options) (*sim.Server, sim.User) {
	t.Helper()
	srv, err := sim.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	admin, ok := demoAdmin(srv)
	if !ok {
		t.Fatal("no admin in the simulated org")
	}
	t.Setenv("SIM_PASSWORD", admin.Password)
	return srv, admin
}

// simSource is a source block named "sim" that signs in to srv as user
// with env("SIM_PASSWORD"); extra holds more attribute lines for it.
func simSource(srv *sim.Server, user sim.User, extra string) string {
	return fmt.Sprintf(`
source "arcgis" "sim" {
  url = %q
%s
  auth {
    username = %q
    password = env("SIM_PASSWORD")
  }
}
`, srv.PortalURL(), extra, user.Username)
}

// writePipeline writes hcl as the pipeline file p.hcl in dir and returns
// its path.
func writePipeline(t *testing.T, dir, hcl string) string {
	t.Helper()
	file := filepath.Join(dir, "p.hcl")
	if err := os.WriteFile(file, []byte(hcl), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// runCLI runs agolpipe with args in this process (plugins still run as
// subprocesses) and returns the exit code and what it printed on stdout.
func runCLI(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	rootCmd.SetOut(&out)
	defer rootCmd.SetOut(nil)
	resetFlags(rootCmd)
	rootCmd.SetArgs(args)
	code := execute()
	return code, out.String()
}

// resetFlags puts every flag of c and its subcommands back to its default:
// cobra keeps the values a previous in-process call set, so `--sink x` in
// one call would otherwise still hold in the next.
func resetFlags(c *cobra.Command) {
	reset := func(f *pflag.Flag) {
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			_ = sv.Replace(nil)
		} else {
			_ = f.Value.Set(f.DefValue)
		}
		f.Changed = false
	}
	c.Flags().VisitAll(reset)
	c.PersistentFlags().VisitAll(reset)
	for _, sub := range c.Commands() {
		resetFlags(sub)
	}
}

// interruptAt runs agolpipe (this test binary, as cliEnv makes it) with
// args, sends it SIGINT once its output holds marker, fails the test unless
// it then ends with exitCanceled within a minute, and returns its output.
// what names the command in failures.
func interruptAt(t *testing.T, what, marker string, args ...string) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), cliEnv+"=1")
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-done
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(out.String(), marker) {
		if time.Now().After(deadline) {
			t.Fatalf("the %s printed no %q in 60 s:\n%s", what, marker, out.String())
		}
		select {
		case err := <-done:
			t.Fatalf("the %s ended before it was interrupted (%v):\n%s", what, err, out.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	_ = cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatalf("the %s did not end 60 s after SIGINT:\n%s", what, out.String())
	}
	if code := cmd.ProcessState.ExitCode(); code != exitCanceled {
		t.Fatalf("interrupted %s: exit %d, want %d\n%s", what, code, exitCanceled, out.String())
	}
	return out.String()
}
