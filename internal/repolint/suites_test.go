package repolint

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestEveryBuiltInRunsItsSuite fails when a built-in plugin does not run
// the conformance suite of its kind (sdk/sinktest, sdk/notifytest,
// sdk/sourcetest, sdk/exportertest): each sink, notifier and source folder
// has a test calling its suite's Run, and the exporters' contract test
// imports every exporter folder, so a new built-in cannot skip its suite.
func TestEveryBuiltInRunsItsSuite(t *testing.T) {
	root := repoRoot(t)
	kinds := []struct{ dir, suite string }{
		{"plugins/sinks", "sinktest"},
		{"plugins/notifiers", "notifytest"},
		{"plugins/sources", "sourcetest"},
	}
	for _, k := range kinds {
		call := regexp.MustCompile(`\b` + k.suite + `\.Run\(`)
		for _, dir := range builtInDirs(t, filepath.Join(root, k.dir)) {
			if !anyTestMatches(t, filepath.Join(root, k.dir, dir), call) {
				t.Errorf("%s/%s runs no %s.Run: add a test that does (see sdk/%s)", k.dir, dir, k.suite, k.suite)
			}
		}
	}
	contract, err := os.ReadFile(filepath.Join(root, "plugins/exporters/simhost/contract_test.go"))
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range builtInDirs(t, filepath.Join(root, "plugins/exporters")) {
		if exporterShared[dir] {
			continue
		}
		if !strings.Contains(string(contract), `"`+module+"plugins/exporters/"+dir+`"`) {
			t.Errorf("plugins/exporters/%s is not in plugins/exporters/simhost/contract_test.go: add a row so the exporter contract suite runs for it", dir)
		}
	}
}

// builtInDirs lists the component folders under dir (internal helpers
// left out).
func builtInDirs(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() && e.Name() != "internal" && e.Name() != "testdata" {
			out = append(out, e.Name())
		}
	}
	if len(out) == 0 {
		t.Fatalf("no component folder under %s", dir)
	}
	return out
}

func anyTestMatches(t *testing.T, dir string, re *regexp.Regexp) bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*_test.go"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if re.Match(b) {
			return true
		}
	}
	return false
}
