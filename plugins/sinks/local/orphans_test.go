package local

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/agolpipe/agolpipe/sdk"
)

// TestPutRemovesOrphansOfDeadWritersOnly: a Put into a folder removes the
// temporary files a dead process of this machine left there (a sink plugin
// killed mid-write), and nothing else: not a live process's, not another
// machine's, not a file whose name does not say who wrote it.
func TestPutRemovesOrphansOfDeadWritersOnly(t *testing.T) {
	dead := exec.Command(os.Args[0], "-test.run=^$")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	deadPID := strconv.Itoa(dead.Process.Pid)
	livePID := strconv.Itoa(os.Getppid())
	root := t.TempDir()
	dir := filepath.Join(root, "RUN")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{ // name -> must survive
		tempPrefix + hostTag + "-" + deadPID + "-123": false,
		tempPrefix + hostTag + "-" + livePID + "-123": true,
		tempPrefix + "0a0b0c-" + deadPID + "-123":     true, // another machine (a shared NAS)
		tempPrefix + "4711":                           true, // no writer in the name
	}
	for n := range names {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("half"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s := newSink(t, root)
	if _, err := s.Put(context.Background(), sdk.PutRequest{Path: "RUN/a.txt", Size: 1, Body: strings.NewReader("a")}); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(dir)
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	sort.Strings(got)
	for n, keep := range names {
		_, err := os.Stat(filepath.Join(dir, n))
		if keep != (err == nil) {
			t.Errorf("%s: exists %v, want %v (folder holds %v)", n, err == nil, keep, got)
		}
	}
}
