package repolint

import (
	"bufio"
	"go/build/constraint"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// goarches are the GOARCH values a file name or build constraint could
// name.
var goarches = map[string]bool{
	"386": true, "amd64": true, "arm": true, "arm64": true, "loong64": true, "mips": true, "mipsle": true,
	"mips64": true, "mips64le": true, "ppc64": true, "ppc64le": true, "riscv64": true, "s390x": true, "wasm": true,
}

// TestNoArchSpecificSource fails when a Go file of this repository is
// for some processor architectures only (a _arm64.go name, a
// `//go:build amd64` line). CI builds every operating system on amd64 and
// arm64 on Linux only (scripts/test.sh): that stands for windows/arm64 and
// darwin/arm64 as long as nothing of ours differs by architecture. Whoever
// adds such a file adds those targets' builds back to scripts/test.sh and
// this test's exception with the reason.
func TestNoArchSpecificSource(t *testing.T) {
	root := repoRoot(t)
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		// name_GOOS_GOARCH.go, name_GOARCH.go, and the same before _test.
		parts := strings.Split(strings.TrimSuffix(strings.TrimSuffix(d.Name(), ".go"), "_test"), "_")
		if len(parts) > 1 && goarches[parts[len(parts)-1]] {
			t.Errorf("%s is for the %s architecture only", rel, parts[len(parts)-1])
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if strings.HasPrefix(line, "package ") {
				break // constraints come before the package clause
			}
			if !constraint.IsGoBuild(line) {
				continue
			}
			expr, err := constraint.Parse(line)
			if err != nil {
				t.Errorf("%s: %v", rel, err)
				continue
			}
			expr.Eval(func(tag string) bool {
				if goarches[tag] {
					t.Errorf("%s: build constraint %q names the architecture %s", rel, line, tag)
				}
				return true
			})
		}
		return sc.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
}
