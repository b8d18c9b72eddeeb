package repolint

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// inProcessExceptions are the product files of cmd that call a plugin's
// own code in this process instead of through the plugin host, with the
// reason (ARCHITECTURE.md, "Every component is a process").
var inProcessExceptions = map[string]string{
	"cmd/agolpipe/login.go -> plugins/sources/arcgis": "login runs the arcgis source's interactive OAuth sign-in (terminal prompt, browser, loopback listener) once, at a person's request, never during a backup",
}

// TestCmdReachesPluginsThroughTheHost fails when cmd's product code (tests
// aside) imports a plugin's package rather than the registry (package
// plugins, handed to the plugin host): every component runs as a process,
// the built-ins included, and a call into a plugin's code in the CLI skips
// that road. The documented exceptions are listed above; the test also
// fails when one is gone.
func TestCmdReachesPluginsThroughTheHost(t *testing.T) {
	root := repoRoot(t)
	found := map[string]bool{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(filepath.Join(root, "cmd"), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "testdata" {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			t.Errorf("%s: %v", path, err)
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if target, ok := strings.CutPrefix(p, module); ok && strings.HasPrefix(target, "plugins/") {
				found[rel+" -> "+target] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var calls []string
	for k := range found {
		if _, ok := inProcessExceptions[k]; !ok {
			calls = append(calls, k)
		}
	}
	sort.Strings(calls)
	for _, k := range calls {
		t.Errorf("cmd calls a plugin in-process: %s (reach it through the plugin host, or document the exception in ARCHITECTURE.md and inProcessExceptions)", k)
	}
	for k := range inProcessExceptions {
		if !found[k] {
			t.Errorf("in-process exception %q is gone: remove it from inProcessExceptions and ARCHITECTURE.md", k)
		}
	}
}
