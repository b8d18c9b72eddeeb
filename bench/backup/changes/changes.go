// Package changes edits a simulated organization after a full backup so an
// incremental run has known work: the benchmark and the end-to-end test of
// modified_within share it.
package changes

import (
	"time"

	"github.com/agolpipe/agolpipe/core/report"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sim"
)

// Make marks n items that a full run exported as changed now: hosted
// feature services through their first layer's last data edit (how the
// arcgis source judges them; at most half of n), the others through their
// modified date. Hosted views and the services views read are left alone,
// so each change touches exactly one item. It holds the org's lock while
// editing and returns the ids changed, fewer than n when the run did not
// export enough items.
func Make(srv *sim.Server, full *report.Run, n int) map[string]bool {
	o := srv.Org()
	o.Mu.Lock()
	defer o.Mu.Unlock()
	viewed := map[string]bool{}
	for _, it := range o.Items {
		if it.Service != nil && it.Service.IsView {
			viewed[it.Service.SourceItemID] = true
		}
	}
	now := time.Now().UnixMilli()
	changed := map[string]bool{}
	services := 0
	for _, rec := range full.Items {
		if len(changed) == n {
			break
		}
		it := o.Item(rec.ID)
		if rec.Status != sdk.StatusExported || it == nil || viewed[it.ID] || (it.Service != nil && it.Service.IsView) {
			continue
		}
		if it.Type == "Feature Service" && it.Service != nil && len(it.Service.Layers) > 0 {
			if services >= n/2 {
				continue
			}
			services++
			it.Service.Layers[0].LastEdit = now
		} else {
			it.Modified = now
		}
		changed[it.ID] = true
	}
	return changed
}
