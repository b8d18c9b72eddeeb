package repolint

import (
	"os/exec"
	"sort"
	"strings"
	"testing"
)

// testingImporters are the packages outside this module that the agolpipe
// binary links and that import package testing, with the reason it cannot
// be avoided. Nothing of agolpipe's own may.
var testingImporters = map[string]string{
	// go-plugin v1.8.0 ships testing.go (TestPluginGRPCConn and friends)
	// in the package itself, without a build tag: every go-plugin host
	// links package testing. Its functions are never called.
	"github.com/hashicorp/go-plugin": "go-plugin's own testing.go helpers",
}

// TestBinaryLinksNoTestCode fails when the agolpipe binary links test code
// of ours: a package that imports testing, or a test-helper package
// (grpctest, sinktest, pluginhosttest, testservers, ...). Test helpers
// reach a product through an option that takes a testing.TB; a launcher or
// a fake injected from a test-only package keeps them out.
func TestBinaryLinksNoTestCode(t *testing.T) {
	cmd := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "./cmd/agolpipe")
	cmd.Dir = repoRoot(t)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps ./cmd/agolpipe: %v", err)
	}
	var bad []string
	importers := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		pkg, imports := f[0], f[1:]
		if rest, ours := strings.CutPrefix(pkg, module); ours {
			last := rest[strings.LastIndex(rest, "/")+1:]
			if strings.HasSuffix(last, "test") || strings.Contains(rest, "testservers") {
				bad = append(bad, pkg+" is a test-helper package")
			}
		}
		for _, imp := range imports {
			if imp != "testing" {
				continue
			}
			importers[pkg] = true
			if _, allowed := testingImporters[pkg]; !allowed {
				bad = append(bad, pkg+" imports testing")
			}
		}
	}
	sort.Strings(bad)
	for _, b := range bad {
		t.Errorf("the agolpipe binary links test code: %s", b)
	}
	for pkg, why := range testingImporters {
		if !importers[pkg] {
			t.Errorf("%s no longer imports testing (%s): remove it from testingImporters", pkg, why)
		}
	}
}
