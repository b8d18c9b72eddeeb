package repolint

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// TestErrorIsLastResult fails when a function returns an error before
// another result. staticcheck's ST1008 says the same but lets an error
// through before a trailing bool, the (T, error, ok bool) form a result
// like putData's (resp, err, fallBack) slipped in by; callers then read the
// flag and miss the error, or the reverse. Here the error is last, always.
// Generated code is not ours to shape and is skipped.
func TestErrorIsLastResult(t *testing.T) {
	root := repoRoot(t)
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, ".pb.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			t.Errorf("%s: %v", path, err)
			return nil
		}
		ast.Inspect(f, func(n ast.Node) bool {
			ft, ok := n.(*ast.FuncType)
			if !ok || ft.Results == nil {
				return true
			}
			var results []ast.Expr
			for _, r := range ft.Results.List {
				for range max(1, len(r.Names)) {
					results = append(results, r.Type)
				}
			}
			for _, r := range results[:len(results)-1] {
				if id, ok := r.(*ast.Ident); ok && id.Name == "error" {
					rel, _ := filepath.Rel(root, path)
					t.Errorf("%s:%d: an error is returned before another result; return it last", filepath.ToSlash(rel), fset.Position(ft.Pos()).Line)
					break
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
