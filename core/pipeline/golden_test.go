package pipeline

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the .golden files from the current output")

// TestBrokenGolden renders the diagnostics of every broken pipeline in
// testdata/broken and compares them with its .golden file. Each file holds
// several mistakes, all of which must be reported in one pass.
func TestBrokenGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/broken/*.hcl")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 10 {
		t.Fatalf("found %d broken pipelines, want the full set", len(files))
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".hcl"), func(t *testing.T) {
			opts := fakeOptions()
			// A var file next to the pipeline is used when present.
			if vf := strings.TrimSuffix(f, ".hcl") + ".vars"; fileExists(vf) {
				opts.VarFiles = []string{vf}
			}
			p, diags := Load(f, opts)
			if !diags.HasErrors() {
				t.Fatalf("%s: no error reported", f)
			}
			var out bytes.Buffer
			if err := WriteDiagnostics(&out, p, diags, 0, false); err != nil {
				t.Fatal(err)
			}
			got := out.String()
			for _, s := range fakeSecrets {
				if strings.Contains(got, s) {
					t.Errorf("output shows the secret %q:\n%s", s, got)
				}
			}
			for _, d := range diags {
				for _, s := range fakeSecrets {
					if strings.Contains(d.Summary+d.Detail, s) {
						t.Errorf("diagnostic %q holds the secret %q in its text", d.Summary, s)
					}
				}
			}
			golden := strings.TrimSuffix(f, ".hcl") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("diagnostics differ from %s (go test -update rewrites it)\n--- got\n%s\n--- want\n%s", golden, got, want)
			}
		})
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
