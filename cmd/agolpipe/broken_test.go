package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestBrokenPipelinesNoPanic runs every command that loads a pipeline, as
// the agolpipe executable, on every invalid example of
// core/pipeline/testdata/broken: each must print its diagnostics and exit 2
// through the intended path, never with a Go panic (whose exit status is
// also 2, which is how a nil-session panic in `run` and `plan` went
// unnoticed).
func TestBrokenPipelinesNoPanic(t *testing.T) {
	dir, err := filepath.Abs(filepath.Join("..", "..", "core", "pipeline", "testdata", "broken"))
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.hcl"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no broken examples found (%v)", err)
	}
	commands := []struct {
		name string
		args func(file string) []string
		exit int // -1: any code, as long as it is not a crash
	}{
		{"validate", func(f string) []string { return []string{"validate", f} }, exitUsage},
		{"plan", func(f string) []string { return []string{"plan", f} }, exitUsage},
		{"run", func(f string) []string { return []string{"run", f, "--plain"} }, exitUsage},
		{"prune", func(f string) []string { return []string{"prune", f} }, exitUsage},
		{"runs", func(f string) []string { return []string{"runs", f} }, exitUsage},
		{"runs_show", func(f string) []string { return []string{"runs", "show", f, "latest"} }, exitUsage},
		{"verify", func(f string) []string { return []string{"verify", f} }, exitUsage},
		{"login", func(f string) []string { return []string{"login", f, "prod"} }, exitUsage},
		// plugins lists what it can even from a broken file.
		{"plugins", func(f string) []string { return []string{"plugins", f} }, -1},
	}
	for _, file := range files {
		for _, c := range commands {
			name := strings.TrimSuffix(filepath.Base(file), ".hcl") + "/" + c.name
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				env := []string{}
				for _, kv := range os.Environ() {
					// The examples read env("AGOL_PASSWORD"); missing_env.hcl
					// depends on it being unset.
					if !strings.HasPrefix(kv, "AGOL_") {
						env = append(env, kv)
					}
				}
				// A run or prune must not write into the source tree.
				code, text := runExe(t, t.TempDir(), env, c.args(file)...)
				if strings.Contains(text, "panic") || strings.Contains(text, "goroutine ") {
					t.Fatalf("exit %d with a Go panic:\n%s", code, text)
				}
				if c.exit >= 0 && code != c.exit {
					t.Errorf("exit %d, want %d:\n%s", code, c.exit, text)
				}
				if c.exit == exitUsage && strings.TrimSpace(text) == "" {
					t.Errorf("exit %d without a word of why", code)
				}
			})
		}
	}
}

// runExe runs this test binary as the agolpipe executable (see cliEnv) in
// dir with env (os.Environ() when nil), bounded to 60 s, and returns its
// exit code and everything it printed.
func runExe(t *testing.T, dir string, env []string, args ...string) (int, string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, args...)
	if env == nil {
		env = os.Environ()
	}
	cmd.Env = append(slices.Clone(env), cliEnv+"=1")
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("agolpipe %s did not end within 60 s:\n%s", strings.Join(args, " "), out.String())
	}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return ee.ExitCode(), out.String()
	case err != nil:
		t.Fatalf("agolpipe %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return 0, out.String()
}
