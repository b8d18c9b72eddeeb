package arcgis

import (
	"fmt"
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

// TestSimSweepLeftovers: at sign-in, temporary export items of the backup
// user older than 72 h are deleted for good; younger ones (a run may still
// own them), other users' items and look-alike titles stay.
func TestSimSweepLeftovers(t *testing.T) {
	for _, mode := range []string{"online", "enterprise"} {
		t.Run(mode, func(t *testing.T) {
			srv := startSim(t, sim.Options{Mode: mode})
			admin := simUser(t, srv, "admin")
			other := simUser(t, srv, "publisher")
			now := time.Now()
			o := srv.Org()
			add := func(id, owner, title string, age time.Duration) {
				o.Mu.Lock()
				defer o.Mu.Unlock()
				ms := now.Add(-age).UnixMilli()
				o.AddItem(&org.Item{ID: id, Owner: owner, Title: title, Type: "File Geodatabase", Created: ms, Modified: ms,
					Access: org.AccessPrivate, Data: org.DataStored, Temp: true, Name: id + ".zip"})
			}
			crashed := featureservice.TempTitle("PROD_2025-01-01_02-00-00-abcd1234", "0123456789abcdef0123456789abcdef")
			add("00000000000000000000000000000old", admin.Username, crashed, 100*time.Hour)
			add("0000000000000000000000000000old2", admin.Username, crashed+"x", 80*time.Hour)
			add("0000000000000000000000000000young", admin.Username, crashed, 10*time.Hour)
			add("0000000000000000000000000000other", other.Username, crashed, 100*time.Hour)
			add("00000000000000000000000000000look", admin.Username, "agolpipe-exports of 2020 (notes)", 100*time.Hour)

			_, info := connect(t, srv, admin, nil)
			left := srv.TempItems()
			for _, id := range []string{"00000000000000000000000000000old", "0000000000000000000000000000old2"} {
				if slices.Contains(left, id) {
					t.Errorf("leftover %s older than 72 h was not deleted", id)
				}
				inBin := slices.Contains(srv.RecycleBin(), id)
				if mode == "online" && inBin {
					t.Errorf("%s went to the recycle bin: permanentDelete was not sent", id)
				}
			}
			for _, id := range []string{"0000000000000000000000000000young", "0000000000000000000000000000other", "00000000000000000000000000000look"} {
				if !slices.Contains(left, id) {
					t.Errorf("item %s was deleted; only the backup user's own leftovers older than 72 h go", id)
				}
			}
			said := strings.Join(info.Warnings, "\n")
			if !strings.Contains(said, "deleted 2 temporary export item(s)") {
				t.Errorf("Connect does not report the sweep: %q", info.Warnings)
			}

			// A second sign-in finds nothing more to do and says nothing.
			_, info = connect(t, srv, admin, nil)
			if w := fmt.Sprint(info.Warnings); strings.Contains(w, "temporary export") {
				t.Errorf("second sign-in reports a sweep again: %s", w)
			}
		})
	}
}

// TestSimTempItemsAreNotListed: the export items a run makes while the
// listing is under way (and younger leftovers of other runs) are agolpipe's
// scratch: never listed for backup, and no false completeness warning
// because the org's count, taken at sign-in, did not include them.
func TestSimTempItemsAreNotListed(t *testing.T) {
	for _, scan := range []string{"quick", "deep"} {
		t.Run(scan, func(t *testing.T) {
			srv := startSim(t, sim.Options{Items: 40, Seed: 11})
			admin := simUser(t, srv, "admin")
			s, _ := connect(t, srv, admin, map[string]cty.Value{"scan": cty.StringVal(scan)})
			o := srv.Org()
			ms := time.Now().UnixMilli()
			var temps []string
			for i := range 3 {
				id := fmt.Sprintf("%031x%d", 0, i)
				title := featureservice.TempTitle("PROD_2026-01-01_00-00-00-abcd1234", fmt.Sprintf("%032x", i))
				o.Mu.Lock()
				o.AddItem(&org.Item{ID: id, Owner: admin.Username, Title: title, Type: "File Geodatabase", Created: ms, Modified: ms,
					Access: org.AccessPrivate, Data: org.DataStored, Temp: true, Name: id + ".zip"})
				o.Mu.Unlock()
				temps = append(temps, id)
			}
			l := listAll(t, s, sdk.ListItemsRequest{})
			for _, id := range temps {
				if slices.Contains(l.ids(), id) {
					t.Errorf("temporary export item %s was listed for backup", id)
				}
			}
			if len(l.ids()) == 0 {
				t.Fatal("nothing listed")
			}
			for _, w := range s.ListWarnings() {
				if strings.Contains(w, "completeness") {
					t.Errorf("false completeness warning: %s", w)
				}
			}
		})
	}
}
