package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agolpipe/agolpipe/sim"
	"github.com/agolpipe/agolpipe/sim/org"
)

// TestCompletenessWarningThroughTheRun runs a backup through the built
// binary and the arcgis source's plugin against an organization whose
// content changes between the count taken at sign-in and the listing, or
// holds an item no user's folder lists, and reads the completeness warning
// the user gets on the console and in the manifest: its advice must fit the
// scan that ran ("set scan = deep" only after a quick scan), and a listing
// above the count must not say items may be missing.
func TestCompletenessWarningThroughTheRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts plugin processes")
	}
	newest := func(o *org.Org) *org.Item {
		var n *org.Item
		for _, it := range o.Items {
			if !it.Deleted && (n == nil || it.Created > n.Created) {
				n = it
			}
		}
		return n
	}
	cases := []struct {
		name string
		scan string
		// before changes the org before the run; during, once the count
		// at sign-in is taken and before the listing reaches the newest
		// item (listed last: the quick scan lists by creation date).
		before, during func(o *org.Org)
		want, notWant  []string
	}{
		{
			name: "quick scan finds fewer",
			scan: "quick",
			during: func(o *org.Org) {
				newest(o).Deleted = true
			},
			want:    []string{"the listing found 5 items but the portal counts 6", "some items may be missing", `set scan = "deep"`},
			notWant: []string{"already walked"},
		},
		{
			name: "deep scan finds fewer",
			scan: "deep",
			before: func(o *org.Org) {
				// An item the count includes whose owner no longer has an
				// account (so no user's folder lists it).
				c := *newest(o)
				c.ID, c.Owner, c.FolderID, c.Title = "0123456789abcdef0123456789abcdef", "departed_user", "", "Orphaned map"
				o.AddItem(&c)
			},
			want:    []string{"the listing found 6 items but the portal counts 7", "The deep scan already walked every folder"},
			notWant: []string{`scan = "deep"`},
		},
		{
			name: "listing finds more",
			scan: "quick",
			during: func(o *org.Org) {
				c := *newest(o)
				c.ID, c.Title = "fedcba9876543210fedcba9876543210", "Created during the run"
				c.Created, c.Modified = time.Now().UnixMilli(), time.Now().UnixMilli()
				o.AddItem(&c)
			},
			want:    []string{"the listing found 7 items, more than the 6 the portal counted", "nothing is missing"},
			notWant: []string{"may be missing", `scan = "deep"`},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			// Latency and one item per page keep the listing at the
			// newest item seconds after the sign-in's count.
			srv, admin := startSim(t, sim.Options{Items: 6, Seed: 5, LargeFileSize: 64 << 10, Latency: 150 * time.Millisecond})
			o := srv.Org()
			if c.before != nil {
				o.Mu.Lock()
				c.before(o)
				o.Version++
				o.Mu.Unlock()
			}
			file := writePipeline(t, dir, simSource(srv, admin, fmt.Sprintf("  scan = %q\n  page_size = 1", c.scan))+fmt.Sprintf(`
sink "local" "nas" { path = %q }
run { prefix = "COUNT" }
`, filepath.Join(dir, "nas")))
			changed := make(chan struct{})
			if c.during != nil {
				go func() {
					defer close(changed)
					// The sign-in's count is a search; the listing's own
					// count (or its first page) is the next one. The change
					// comes between them, or at worst while the first
					// pages are served, far from the newest item's.
					deadline := time.Now().Add(30 * time.Second)
					for time.Now().Before(deadline) {
						n := 0
						for _, r := range srv.Requests() {
							if r.Endpoint == "search" {
								n++
							}
						}
						if n >= 1 {
							o.Mu.Lock()
							c.during(o)
							o.Version++
							o.Mu.Unlock()
							return
						}
						time.Sleep(20 * time.Millisecond)
					}
				}()
			} else {
				close(changed)
			}
			code, out := runExe(t, dir, nil, "run", file, "--plain")
			<-changed
			runs, _ := filepath.Glob(filepath.Join(dir, "nas", "COUNT_*"))
			if len(runs) != 1 {
				t.Fatalf("exit %d, run folders %v:\n%s", code, runs, out)
			}
			m := readManifest(t, runs[0])
			var warning string
			for _, w := range m.Warnings {
				if strings.Contains(w, "completeness check") {
					warning = w
				}
			}
			if warning == "" {
				t.Fatalf("no completeness warning in the manifest (%q):\n%s", m.Warnings, out)
			}
			flat := strings.Join(strings.Fields(out), " ")
			if !strings.Contains(flat, strings.Join(strings.Fields(warning), " ")) {
				t.Errorf("the console does not show the warning %q:\n%s", warning, out)
			}
			for _, w := range c.want {
				if !strings.Contains(warning, w) {
					t.Errorf("warning %q lacks %q", warning, w)
				}
			}
			for _, w := range c.notWant {
				if strings.Contains(warning, w) {
					t.Errorf("warning %q says %q", warning, w)
				}
			}
		})
	}
}
