// Package repolint holds checks on the repository itself rather than on
// code: things a reviewer misses and a user who clones the project trips on.
package repolint

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// devMachinePath matches a path that exists only on the machine this
// project was developed on (its workspace root, root's home, a folder
// beside the checkout). A clone has none of them, so a script, test or README that
// names one works only for its author.
var devMachinePath = regexp.MustCompile(`(^|[\s"'(=:` + "`" + `])(/(?:work|root)/|\.\./shared\b)`)

// TestNoDevMachinePaths fails when a tracked file names such a path.
func TestNoDevMachinePaths(t *testing.T) {
	root := repoRoot(t)
	out, err := exec.Command("git", "-C", root, "ls-files", "-z").Output()
	if err != nil {
		t.Skipf("not a git checkout (%v): nothing to check", err)
	}
	var bad []string
	for _, name := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		// This file names the paths it looks for.
		if name == "" || strings.HasSuffix(name, "package-lock.json") || strings.HasPrefix(name, "internal/repolint/") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(root, name))
		if err != nil || bytes.IndexByte(data, 0) >= 0 {
			continue // deleted in the worktree, or binary
		}
		for i, line := range strings.Split(string(data), "\n") {
			if devMachinePath.MatchString(line) {
				bad = append(bad, name+":"+strconv.Itoa(i+1)+": "+strings.TrimSpace(line))
			}
		}
	}
	if len(bad) > 0 {
		t.Errorf("files name a path of a development machine (use a repository-relative path, or $TEST_INFRA_DIR):\n%s", strings.Join(bad, "\n"))
	}
}

func repoRoot(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Clean(filepath.Join(wd, "..", ".."))
}
