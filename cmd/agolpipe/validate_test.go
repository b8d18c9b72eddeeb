package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExamplesValidate checks every example pipeline against the real
// schemas of the built-in components, so the examples users copy from stay
// true to what the plugins accept.
func TestExamplesValidate(t *testing.T) {
	files, err := filepath.Glob("../../examples/*.hcl")
	if err != nil || len(files) == 0 {
		t.Fatalf("no example pipelines found: %v", err)
	}
	// The examples read secrets from the environment, as real pipelines do.
	for _, name := range []string{"AGOL_PASSWORD", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "SMTP_PASSWORD",
		"AZURE_STORAGE_CONNECTION_STRING", "SMB_PASSWORD", "AGOL_API_KEY", "WEBHOOK_URL"} {
		t.Setenv(name, "example-"+strings.ToLower(name))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			rootCmd.SetArgs([]string{"validate", f})
			var code int
			stderr := captureStderr(t, func() { code = execute() })
			if code != exitOK {
				t.Fatalf("agolpipe validate %s: exit %d\n%s", f, code, stderr)
			}
		})
	}
}

// TestValidateReportsErrors checks that a broken pipeline exits 2 and points
// at the line.
func TestValidateReportsErrors(t *testing.T) {
	f := filepath.Join(t.TempDir(), "broken.hcl")
	src := "source \"arcgis\" \"prod\" {\n  url = \"myorg\"\n}\nsink \"locall\" \"nas\" {\n  path = \"/tmp/x\"\n}\n"
	if err := os.WriteFile(f, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	rootCmd.SetArgs([]string{"validate", f})
	var code int
	stderr := captureStderr(t, func() { code = execute() })
	if code != exitUsage {
		t.Fatalf("exit %d, want %d", code, exitUsage)
	}
	for _, want := range []string{"broken.hcl line 4", `Did you mean "local"?`} {
		if !strings.Contains(stderr, want) {
			t.Errorf("diagnostics lack %q:\n%s", want, stderr)
		}
	}
}

// captureStderr runs fn with os.Stderr redirected and returns what it wrote.
func captureStderr(t *testing.T, fn func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stderr
	os.Stderr = w
	done := make(chan string)
	go func() {
		var b strings.Builder
		buf := make([]byte, 4096)
		for {
			n, err := r.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				break
			}
		}
		done <- b.String()
	}()
	fn()
	os.Stderr = old
	w.Close()
	return <-done
}

// TestValidateRefusesOverlappingSinks: two sinks on one folder (one copy
// reported as two) and a sink folder nested in another's (the shipped
// examples' old layout, which let one retention meet the other's runs) are
// errors naming both sinks and where they are; sinks side by side pass.
// It goes through the sink plugins' own Configure, so each sink's path is
// compared as the sink resolves it (relative paths, trailing slashes).
func TestValidateRefusesOverlappingSinks(t *testing.T) {
	if testing.Short() {
		t.Skip("starts plugin processes")
	}
	dir := t.TempDir()
	t.Chdir(dir)
	cases := []struct {
		name, a, b string
		want       []string // empty: valid
	}{
		{"same folder", dir + "/backups", "./backups/", []string{`Sink "b" writes to ` + dir + `/backups, the same folder as sink "a"`, "p.hcl line 6", "p.hcl:3"}},
		{"nested", dir + "/backups", dir + "/backups/incremental", []string{`Sink "b" writes to ` + dir + `/backups/incremental, a folder inside the folder of sink "a"`, dir + "/backups/nightly and " + dir + "/backups/incremental"}},
		{"nested the other way", dir + "/backups/incremental", dir + "/backups", []string{`the folder that holds the folder of sink "a"`}},
		{"side by side", dir + "/backups/nightly", dir + "/backups/nightly-copy", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := writePipeline(t, dir, fmt.Sprintf(`source "arcgis" "prod" { url = "https://gis.example.invalid/portal" }

sink "local" "a" {
  path = %q
}
sink "local" "b" {
  path = %q
}
`, tc.a, tc.b))
			rootCmd.SetArgs([]string{"validate", f})
			var code int
			stderr := captureStderr(t, func() { code = execute() })
			if len(tc.want) == 0 {
				if code != exitOK {
					t.Fatalf("exit %d, want 0:\n%s", code, stderr)
				}
				return
			}
			if code != exitUsage {
				t.Fatalf("exit %d, want %d:\n%s", code, exitUsage, stderr)
			}
			flat := strings.Join(strings.Fields(stderr), " ") // the diagnostics wrap at 100 columns
			for _, w := range append(tc.want, "Sinks overlap") {
				if !strings.Contains(flat, w) {
					t.Errorf("diagnostics lack %q:\n%s", w, stderr)
				}
			}
		})
	}
}
