package arcgis

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agolpipe/agolpipe/plugins/exporters/featureservice"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sim"
	"github.com/agolpipe/agolpipe/sim/org"
	"github.com/zclconf/go-cty/cty"
)

// endedPID is the pid of a process that ran on this machine and has ended
// (and was reaped), as the process of a killed run is.
func endedPID(t *testing.T) int {
	t.Helper()
	c := exec.Command("true")
	if err := c.Run(); err != nil {
		t.Skipf("cannot start a process to end: %v", err)
	}
	return c.Process.Pid
}

// TestSimSweepLeftovers: at sign-in, only items carrying agolpipe's mark,
// owned by the backup user, of an export result type, whose run is over
// (its process on this machine ended, or older than 72 h) are deleted, for
// good. Look-alikes by title, other users' items, this run's own and those
// of a run still going stay; the ones of runs that may be going are named.
func TestSimSweepLeftovers(t *testing.T) {
	host := strings.SplitN(sdk.RunProcess(1), "@", 2)[1]
	for _, mode := range []string{"online", "enterprise"} {
		t.Run(mode, func(t *testing.T) {
			srv := startSim(t, sim.Options{Mode: mode})
			admin := simUser(t, srv, "admin")
			other := simUser(t, srv, "publisher")
			now := time.Now()
			o := srv.Org()
			add := func(id, owner, typ, title string, age time.Duration, kw []string) {
				o.Mu.Lock()
				defer o.Mu.Unlock()
				ms := now.Add(-age).UnixMilli()
				o.AddItem(&org.Item{ID: id, Owner: owner, Title: title, Type: typ, TypeKeywords: kw, Created: ms, Modified: ms,
					Access: org.AccessPrivate, Data: org.DataStored, Temp: true, Name: id + ".zip"})
			}
			const run = "PROD_2025-01-01_02-00-00-abcd1234"
			title := featureservice.TempTitle(run, "0123456789abcdef0123456789abcdef")
			fgdb := "File Geodatabase"
			dead := sdk.TempExportMark(run, fmt.Sprintf("%d@%s", endedPID(t), host))
			elsewhere := sdk.TempExportMark(run, "4242@backup-host-2")
			alive := sdk.TempExportMark(run, sdk.RunProcess(os.Getpid())) // this test: running
			self := sdk.TempExportMark("THIS_RUN", sdk.RunProcess(os.Getppid()))
			add("000000000000000000000000000crash", admin.Username, fgdb, title, 10*time.Minute, dead)
			add("00000000000000000000000000000old", admin.Username, "CSV", title, 100*time.Hour, elsewhere)
			add("000000000000000000000000000young", admin.Username, fgdb, title, 10*time.Hour, elsewhere)
			add("000000000000000000000000000going", admin.Username, fgdb, title, time.Second, alive)
			add("0000000000000000000000000000self", admin.Username, fgdb, title, time.Hour, self)
			add("0000000000000000000000000000other", other.Username, fgdb, title, 100*time.Hour, elsewhere)
			add("000000000000000000000000notmarked", admin.Username, fgdb, title, 100*time.Hour, []string{"Data"})
			add("00000000000000000000000000000look", admin.Username, "PDF", "agolpipe-export budget notes 2019-2024", 30*24*time.Hour, nil)
			add("0000000000000000000000000markpdf", admin.Username, "PDF", "notes", 100*time.Hour, dead)

			_, info := connect(t, srv, admin, nil)
			left := srv.TempItems()
			for _, id := range []string{"000000000000000000000000000crash", "00000000000000000000000000000old"} {
				if slices.Contains(left, id) {
					t.Errorf("leftover %s of a run that is over was not deleted", id)
				}
				if inBin := slices.Contains(srv.RecycleBin(), id); mode == "online" && inBin {
					t.Errorf("%s went to the recycle bin: permanentDelete was not sent", id)
				}
			}
			for _, id := range []string{"000000000000000000000000000young", "000000000000000000000000000going", "0000000000000000000000000000self",
				"0000000000000000000000000000other", "000000000000000000000000notmarked", "00000000000000000000000000000look", "0000000000000000000000000markpdf"} {
				if !slices.Contains(left, id) {
					t.Errorf("item %s was deleted without the proof: mark, owner, export type, run over", id)
				}
			}
			said := strings.Join(info.Warnings, "\n")
			if !strings.Contains(said, "removed 2 temporary export item(s)") || !strings.Contains(said, run) {
				t.Errorf("Connect does not report the removal with the run: %q", info.Warnings)
			}
			if !strings.Contains(said, "000000000000000000000000000young") || !strings.Contains(said, "000000000000000000000000000going") ||
				strings.Contains(said, "0000000000000000000000000000self") {
				t.Errorf("Connect does not name (only) the items of runs that may still be going: %q", info.Warnings)
			}

			if !strings.Contains(said, "000000000000000000000000notmarked") || !strings.Contains(said, "do not carry agolpipe's mark") ||
				strings.Contains(said, "00000000000000000000000000000look") {
				t.Errorf("Connect does not warn (only) about the unmarked export titled exactly like a temporary item: %q", info.Warnings)
			}

			// A second sign-in deletes nothing more.
			_, info = connect(t, srv, admin, nil)
			if w := fmt.Sprint(info.Warnings); strings.Contains(w, "that earlier agolpipe runs left") {
				t.Errorf("second sign-in removes again: %s", w)
			}
		})
	}
}

// TestSimTempItemsAreNotListed: the export items runs make while the
// listing is under way are agolpipe's scratch when they carry its mark:
// never listed for backup, and no false completeness warning because the
// org's count, taken at sign-in, did not include them. Items that only
// look like them (title, no mark) are listed like any other.
func TestSimTempItemsAreNotListed(t *testing.T) {
	for _, scan := range []string{"quick", "deep"} {
		t.Run(scan, func(t *testing.T) {
			srv := startSim(t, sim.Options{Items: 40, Seed: 11})
			admin := simUser(t, srv, "admin")
			o := srv.Org()
			ms := time.Now().UnixMilli()
			add := func(id, typ, title string, kw []string, temp bool) {
				o.Mu.Lock()
				o.AddItem(&org.Item{ID: id, Owner: admin.Username, Title: title, Type: typ, TypeKeywords: kw, Created: ms, Modified: ms,
					Access: org.AccessPrivate, Data: org.DataStored, Temp: temp, Name: id + ".zip"})
				o.Mu.Unlock()
			}
			// Look-alikes exist before sign-in, so the org's count has them.
			add("0000000000000000000000000000look", "PDF", "agolpipe-export budget notes 2019-2024", nil, false)
			add("000000000000000000000000000look2", "File Geodatabase", featureservice.TempTitle("PROD_2026-01-01_00-00-00-abcd1234", fmt.Sprintf("%032x", 9)), []string{"Data"}, false)
			s, _ := connect(t, srv, admin, map[string]cty.Value{"scan": cty.StringVal(scan)})
			var temps []string
			for i := range 3 {
				id := fmt.Sprintf("%031x%d", 0, i)
				run := "PROD_2026-01-01_00-00-00-abcd1234"
				add(id, "File Geodatabase", featureservice.TempTitle(run, fmt.Sprintf("%032x", i)), sdk.TempExportMark(run, sdk.RunProcess(os.Getppid())), true)
				temps = append(temps, id)
			}
			l := listAll(t, s, sdk.ListItemsRequest{})
			for _, id := range temps {
				if slices.Contains(l.ids(), id) {
					t.Errorf("temporary export item %s was listed for backup", id)
				}
			}
			for _, id := range []string{"0000000000000000000000000000look", "000000000000000000000000000look2"} {
				if !slices.Contains(l.ids(), id) {
					t.Errorf("item %s, titled like a temporary export item but without agolpipe's mark, was not listed for backup", id)
				}
			}
			for _, w := range s.ListWarnings() {
				if strings.Contains(w, "completeness") {
					t.Errorf("false completeness warning: %s", w)
				}
			}
		})
	}
}
