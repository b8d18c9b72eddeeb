package main

import (
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
