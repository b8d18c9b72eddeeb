package repolint

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// exitCodeHome is the one file that defines agolpipe's exit codes.
const exitCodeHome = "core/engine/engine.go"

var exitConst = regexp.MustCompile(`^[eE]xit[A-Z]`)

// TestExitCodesDefinedOnce fails when a constant named Exit…/exit… gets a
// number anywhere but core/engine: a second definition drifts from the
// first (they were defined twice once, in the engine and in the CLI).
// Other places name them by reference (exitUsage = engine.ExitUsage).
func TestExitCodesDefinedOnce(t *testing.T) {
	root := repoRoot(t)
	fset := token.NewFileSet()
	found := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			t.Errorf("%s: %v", path, err)
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		for _, decl := range f.Decls {
			g, ok := decl.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, spec := range g.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, name := range vs.Names {
					if !exitConst.MatchString(name.Name) || i >= len(vs.Values) {
						continue
					}
					if _, literal := vs.Values[i].(*ast.BasicLit); !literal {
						continue
					}
					if rel == exitCodeHome {
						found++
						continue
					}
					t.Errorf("%s: exit code %s is defined here; name the one in %s instead", fset.Position(name.Pos()), name.Name, exitCodeHome)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if found == 0 {
		t.Errorf("no exit codes found in %s: update exitCodeHome", exitCodeHome)
	}
}
