package main

import (
	"bytes"
	"runtime"
	"strings"
	"testing"

	"github.com/agolpipe/agolpipe/core/report"
	"github.com/agolpipe/agolpipe/sdk/version"
)

// TestVersionAndPluginVersions runs `agolpipe version` and `agolpipe
// plugins` as the executable: version names the build, and every built-in
// component (the same binary) reports that same version.
func TestVersionAndPluginVersions(t *testing.T) {
	code, out := runExe(t, t.TempDir(), nil, "version")
	if code != exitOK {
		t.Fatalf("agolpipe version: exit %d\n%s", code, out)
	}
	for _, want := range []string{"agolpipe " + version.Version + "\n", "plugin protocol v1\n", runtime.GOOS + "/" + runtime.GOARCH} {
		if !strings.Contains(out, want) {
			t.Errorf("agolpipe version lacks %q:\n%s", want, out)
		}
	}
	code, out = runExe(t, t.TempDir(), nil, "plugins")
	if code != exitOK {
		t.Fatalf("agolpipe plugins: exit %d\n%s", code, out)
	}
	rows := 0
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 5 || f[len(f)-1] != "built-in" {
			continue
		}
		rows++
		if f[2] != version.Version {
			t.Errorf("%s %s reports version %s, not agolpipe's %s", f[0], f[1], f[2], version.Version)
		}
	}
	if rows < 10 {
		t.Fatalf("agolpipe plugins listed %d built-ins:\n%s", rows, out)
	}
}

// TestSummaryCountsWords checks the run summary's plural for one artifact.
func TestSummaryCountsWords(t *testing.T) {
	var b bytes.Buffer
	printSummary(&b, &report.Run{RunFolder: "R", Status: "success", Counts: report.Counts{Exported: 1, Artifacts: 1, Bytes: 10}})
	if !strings.Contains(b.String(), "(1 artifact, 10 B)") {
		t.Errorf("summary: %q", b.String())
	}
}
