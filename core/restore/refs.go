package restore

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/agolpipe/agolpipe/core/report"
)

// Items the plan refers to but does not restore: with --no-dependencies,
// or restoring into its own org where the target still holds them. An
// item of the plan that refers to one must still be rewritten to what the
// target holds of it: the item itself when the target still has it (same
// id and URL: nothing to rewrite), else the copy an earlier restore made
// of it, found by the same lookup the plan uses for the items it restores
// (earlierCopies: the restore reports in the first sink, then the marks;
// every copy read from the target). Without that, a web map restored on
// its own into another org kept org A's service URLs although B held the
// service's copy. What is neither there nor copied keeps the backup's
// reference, with a warning in the plan and the report.

// referencedRemap returns the remap entries (id, URLs) to the copies of
// the items the plan's items (selected) refer to (needs) but the plan does
// not restore, and a warning per such item the target holds nothing of.
// copies is the plan's lookup of earlier copies, nil when it made none
// (--as-new): then it is made for those items only.
func referencedRemap(ctx context.Context, o *Options, byID map[string]report.Item, selected map[string]string, needs map[string][]string,
	copies map[string]targetCopy, targetHas func(string) (bool, error)) (map[string]string, []string, error) {
	refBy := map[string][]string{}
	for id := range selected {
		for _, d := range needs[id] {
			if _, ok := selected[d]; !ok {
				refBy[d] = append(refBy[d], id)
			}
		}
	}
	if len(refBy) == 0 {
		return nil, nil, nil
	}
	missing := map[string]report.Item{}
	for d := range refBy {
		has, err := targetHas(d)
		if err != nil {
			return nil, nil, err
		}
		if !has {
			missing[d] = byID[d]
		}
	}
	var warns []string
	if copies == nil && len(missing) > 0 {
		var err error
		var w []string
		copies, w, err = earlierCopies(ctx, o, missing)
		if err != nil {
			return nil, nil, err
		}
		warns = append(warns, w...)
	}
	deps := make([]string, 0, len(missing))
	for d := range missing {
		deps = append(deps, d)
	}
	sort.Strings(deps)
	remap := map[string]string{}
	for _, d := range deps {
		it := byID[d]
		cp, ok := copies[d]
		if !ok {
			warns = append(warns, fmt.Sprintf("%s %s item %s %q (%s), which this restore does not restore and of which the target holds neither the item nor a copy an earlier restore made: %s the backup's reference to it (it points into %s); restore that item too (without --no-dependencies, or with --item %s)",
				referrers(refBy[d], byID), map[bool]string{true: "refers to", false: "refer to"}[len(refBy[d]) == 1], d, it.Title, it.Type,
				map[bool]string{true: "it keeps", false: "they keep"}[len(refBy[d]) == 1], o.Manifest.Source.PortalURL, d))
			continue
		}
		m, w := copyEntries(ctx, o, d, cp)
		if w != "" {
			warns = append(warns, w)
		}
		for k, v := range m {
			remap[k] = v
		}
	}
	return remap, warns, nil
}

// referrers names the items of ids, at most 5 of them.
func referrers(ids []string, byID map[string]report.Item) string {
	sort.Strings(ids)
	var names []string
	for i, id := range ids {
		if i == 5 {
			names = append(names, fmt.Sprintf("and %d more", len(ids)-5))
			break
		}
		names = append(names, fmt.Sprintf("item %s %q", id, byID[id].Title))
	}
	return strings.Join(names, ", ")
}

// copyEntries are the remap entries from backup item d to its copy cp in
// the target: the id, and its URLs. The restore report that made the copy
// recorded them (its entries that lead to the copy's URL, a layer
// renumbered on publishing included); for a copy found by its marks only,
// the backup's URL (item.json) leads to the copy's.
func copyEntries(ctx context.Context, o *Options, d string, cp targetCopy) (map[string]string, string) {
	m := map[string]string{d: cp.ID}
	newURL := strings.TrimRight(cp.URL, "/")
	if newURL == "" {
		return m, ""
	}
	if cp.report {
		for k, v := range cp.remap {
			v = strings.TrimRight(v, "/")
			if k != d && (strings.EqualFold(v, newURL) || strings.HasPrefix(strings.ToLower(v), strings.ToLower(newURL)+"/")) {
				m[k] = v
			}
		}
		if len(m) > 1 {
			return m, ""
		}
	}
	old, err := backupURL(ctx, o, d)
	if err != nil {
		return m, fmt.Sprintf("item %s: its URL in the backup could not be read (%v): references to it by URL are not rewritten to its copy %s", d, err, cp.ID)
	}
	if old != "" && old != newURL {
		m[old] = newURL
	}
	return m, ""
}

// backupURL is item id's URL as the run's item.json holds it.
func backupURL(ctx context.Context, o *Options, id string) (string, error) {
	for _, a := range o.Manifest.Artifacts {
		if a.ItemID != id || a.Name != "item.json" {
			continue
		}
		rc, err := o.Catalog.Open(ctx, o.Run, a)
		if err != nil {
			return "", err
		}
		defer rc.Close()
		var it struct {
			URL string `json:"url"`
		}
		if err := json.NewDecoder(io.LimitReader(rc, maxDeriveScan)).Decode(&it); err != nil {
			return "", err
		}
		return strings.TrimRight(it.URL, "/"), nil
	}
	return "", nil
}
