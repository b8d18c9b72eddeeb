package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
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
	// Who signs in differs between organizations: the examples take it as
	// a variable instead of naming an account in a block.
	literalUser := regexp.MustCompile(`(?m)^\s*username\s*=\s*"`)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if loc := literalUser.FindIndex(src); loc != nil {
				t.Errorf("%s line %d writes a user name into a block; take it from a variable", f, 1+strings.Count(string(src[:loc[0]]), "\n"))
			}
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
// at the line and column.
func TestValidateReportsErrors(t *testing.T) {
	f := filepath.Join(t.TempDir(), "broken.hcl")
	src := "source \"arcgis\" \"prod\" {\n  url = \"myorg\"\n}\nsink \"locall\" \"nas\" {\n  path = \"/tmp/x\"\n}\n" +
		"sink \"local\" \"b\" {\n  path = \"/tmp/y\"\n  layuot = \"type\"\n}\n"
	if err := os.WriteFile(f, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	rootCmd.SetArgs([]string{"validate", f})
	var code int
	stderr := captureStderr(t, func() { code = execute() })
	if code != exitUsage {
		t.Fatalf("exit %d, want %d", code, exitUsage)
	}
	// file:line:col of each, and a suggestion for a swap of two letters too.
	for _, want := range []string{"broken.hcl:4:6", `Did you mean "local"?`, "broken.hcl:9:3", `Did you mean "layout"?`} {
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
	t.Setenv("OVERLAP_TEST_KEY", "overlap-test-key")
	cases := []struct {
		name, a, b string
		want       []string // empty: valid
	}{
		{"same folder", dir + "/backups", "./backups/", []string{`Sink "b" writes to ` + dir + `/backups, the same folder as sink "a"`, "p.hcl:8:1", "p.hcl:5"}},
		{"nested", dir + "/backups", dir + "/backups/incremental", []string{`Sink "b" writes to ` + dir + `/backups/incremental, a folder inside the folder of sink "a"`, dir + "/backups/nightly and " + dir + "/backups/incremental"}},
		{"nested the other way", dir + "/backups/incremental", dir + "/backups", []string{`the folder that holds the folder of sink "a"`}},
		{"side by side", dir + "/backups/nightly", dir + "/backups/nightly-copy", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// validate checks the source block too, as run does: it needs
			// a sign-in.
			f := writePipeline(t, dir, fmt.Sprintf(`source "arcgis" "prod" {
  url     = "https://gis.example.invalid/portal"
  api_key = env("OVERLAP_TEST_KEY")
}
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

// TestValidateRefusesWhatRunRefuses runs `agolpipe validate` on pipelines
// whose sink path or portal URL no run could use: each must be an error
// (exit 2) that names the file, the line and the attribute's column, not a
// "valid" that the run then contradicts. Plain http to a portal that is
// not on this machine is a warning.
func TestValidateRefusesWhatRunRefuses(t *testing.T) {
	const goodURL, goodPath = "https://myorg.maps.arcgis.com", "/var/backups/gis"
	cases := []struct {
		name, url, path string
		want            string // the diagnostic's summary
		line            int    // where it points
	}{
		{"root", goodURL, "/", "Path is a filesystem or share root", 9},
		{"double slash", goodURL, "//", "Path is a filesystem or share root", 9},
		{"dot dot to root", goodURL, "/x/../../../", "Path is a filesystem or share root", 9},
		{"empty path", goodURL, "", "Empty path", 9},
		{"120 KB path", goodURL, "/" + strings.Repeat("a", 120<<10), "Path is too long", 9},
		{"NUL", goodURL, `/var/a\u0000b`, "Control character in path", 9},
		{"newline", goodURL, `/var/a\nb`, "Control character in path", 9},
		{"empty url", "", goodPath, "Invalid portal URL", 2},
		{"scheme only", "http://", goodPath, "Invalid portal URL", 2},
		{"ftp", "ftp://", goodPath, "Invalid portal URL", 2},
		{"javascript", "javascript:", goodPath, "Invalid portal URL", 2},
		{"port 99999", "https://gis.example.org:99999/portal", goodPath, "Invalid portal URL", 2},
		{"unclosed IPv6", "[::1", goodPath, "Invalid portal URL", 2},
	}
	t.Setenv("AGOL_PASSWORD", "validate-test-secret")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			writePipeline(t, dir, validatePipeline(c.url, c.path))
			code, out := runExe(t, dir, nil, "validate", "p.hcl")
			if code != exitUsage {
				t.Fatalf("exit %d, want %d:\n%s", code, exitUsage, out)
			}
			if !strings.Contains(out, "Error: "+c.want) {
				t.Errorf("no %q error:\n%s", c.want, out)
			}
			// The value's column: url's value starts at 9, path's at 10.
			col := map[int]int{2: 9, 9: 10}[c.line]
			if at := fmt.Sprintf("p.hcl:%d:%d", c.line, col); !strings.Contains(out, at) {
				t.Errorf("the diagnostic does not point at %s:\n%s", at, out)
			}
		})
	}
	t.Run("plain http", func(t *testing.T) {
		t.Parallel()
		for _, c := range []struct {
			url  string
			warn bool
		}{{"http://gis.example.org/portal", true}, {"http://127.0.0.1:8080/portal", false}, {"http://localhost/portal", false}} {
			dir := t.TempDir()
			writePipeline(t, dir, validatePipeline(c.url, goodPath))
			code, out := runExe(t, dir, nil, "validate", "p.hcl")
			if code != exitOK {
				t.Fatalf("%s: exit %d, want 0:\n%s", c.url, code, out)
			}
			if got := strings.Contains(out, "Warning: Portal over plain http"); got != c.warn {
				t.Errorf("%s: plain-http warning shown = %v, want %v:\n%s", c.url, got, c.warn, out)
			}
		}
	})
}

// validatePipeline is a pipeline with the portal url on line 2 and the
// local sink's path on line 9.
func validatePipeline(url, path string) string {
	return fmt.Sprintf(`source "arcgis" "prod" {
  url = %q
  auth {
    username = "backup_admin"
    password = env("AGOL_PASSWORD")
  }
}
sink "local" "nas" {
  path = "%s"
}
`, url, path)
}
