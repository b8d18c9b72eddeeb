package restore

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/agolpipe/agolpipe/core/report"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/arcgisrest"
)

// Copies an earlier restore made in the target. Restoring an item again
// must find its copy there instead of making a second one. Two records
// say where the copies are:
//   - the restore reports in the pipeline's first sink
//     (restores/<id>/restore.json: per item the new id, and the target
//     portal), the first source of truth: they exist as soon as the
//     restore ends, whatever the portal's search index holds, and also
//     for restores made before copies carried marks;
//   - the marks on the copies (sdk.RestoredKeyword, sdk.SourceMark), found
//     by one search of the target: they also find copies whose report is
//     in another sink, or was never stored. ArcGIS indexes a new item for
//     search seconds to minutes after it is created, so the search alone
//     misses a copy made just before.
// Either way the copy is read from the target (content/items/<id>, which
// answers at once) before it is used: one deleted since, or of another
// type or organization, is no copy.

// DrillPrefix starts the id of a restore drill's restore (verify
// --drill). A drill's copies are scratch copies it deletes again: never
// the copy a later restore should update.
const DrillPrefix = "drill-"

// targetCopy is an item an earlier restore created in the target.
type targetCopy struct {
	ID      string
	Restore string // the restore id that made it, "" when unknown
	// FoundBy says which record found it: the report's path in the sink
	// (restores/<id>/restore.json) or "its marks".
	FoundBy string
	// URL is the copy's URL in the target, as confirmCopy read it.
	URL     string
	created int64
	report  bool // a restore report names it
	// From the report that names it: the run that restore read, the
	// copy's state as it left it, and its remap table (asLeft).
	run   string
	left  *ItemState
	remap map[string]string
}

func (c targetCopy) restore() string {
	if c.Restore == "" {
		return "an earlier restore"
	}
	return "restore " + c.Restore
}

// foundBy is the plan's note of the record that found the copy.
func (c targetCopy) foundBy() string {
	if c.report {
		return "found in " + c.FoundBy
	}
	return "found by its marks"
}

// reportsParallel bounds the restore reports read at once, and the
// candidate copies read from the target at once.
const reportsParallel = 8

// earlierCopies finds the items earlier restores created in the target
// from items of the run (byID): the restore reports of the pipeline's
// first sink first, then the marks (one search). Every candidate is read
// from the target. Of several copies of the same item the oldest is
// taken, and a warning names the others.
func earlierCopies(ctx context.Context, o *Options, byID map[string]report.Item) (map[string]targetCopy, []string, error) {
	var warns []string
	cands := map[string]map[string]*targetCopy{} // backup id -> copy id -> copy
	add := func(id string, c targetCopy) {
		if cands[id] == nil {
			cands[id] = map[string]*targetCopy{}
		}
		if have, ok := cands[id][c.ID]; ok {
			if c.report && !have.report { // the report is the first source
				*have = c
			}
			return
		}
		cands[id][c.ID] = &c
	}
	fromReports, w := reportedCopies(ctx, o, byID)
	warns = append(warns, w...)
	for _, rc := range fromReports {
		add(rc.source, rc.targetCopy)
	}
	marked, w, err := markedCopies(ctx, o.Target, byID)
	if err != nil {
		return nil, nil, err
	}
	warns = append(warns, w...)
	for _, mc := range marked {
		add(mc.source, mc.targetCopy)
	}

	// Read every candidate from the target, a few at once.
	type job struct {
		source string
		c      *targetCopy
		ok     bool
		err    error
	}
	var jobs []*job
	for id, m := range cands {
		for _, c := range m {
			jobs = append(jobs, &job{source: id, c: c})
		}
	}
	eachAtOnce(len(jobs), reportsParallel, func(i int) {
		j := jobs[i]
		j.ok, j.err = confirmCopy(ctx, o, j.c, byID[j.source].Type)
	})
	found := map[string][]targetCopy{}
	for _, j := range jobs {
		if j.err != nil {
			return nil, nil, fmt.Errorf("reading item %s, which %s created from item %s (%s), in the target: %w", j.c.ID, j.c.restore(), j.source, j.c.foundBy(), j.err)
		}
		if j.ok {
			found[j.source] = append(found[j.source], *j.c)
		}
	}
	out := make(map[string]targetCopy, len(found))
	ids := make([]string, 0, len(found))
	for id := range found {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		hs := found[id]
		sort.Slice(hs, func(i, j int) bool {
			if hs[i].created != hs[j].created {
				return hs[i].created < hs[j].created
			}
			return hs[i].ID < hs[j].ID
		})
		out[id] = hs[0]
		if len(hs) > 1 {
			others := make([]string, 0, len(hs)-1)
			for _, h := range hs[1:] {
				others = append(others, h.ID)
			}
			warns = append(warns, fmt.Sprintf("item %s %q has %d copies in the target from earlier restores: the plan uses %s (the oldest); %s are further copies, delete them by hand if unwanted",
				id, byID[id].Title, len(hs), hs[0].ID, strings.Join(others, ", ")))
		}
	}
	return out, warns, nil
}

// sourcedCopy is a candidate copy of backup item source.
type sourcedCopy struct {
	source string
	targetCopy
}

// reportedCopies reads the restore reports of the pipeline's first sink
// (o.Safety) and returns the items they record as created in this target
// from items of the run. A report that cannot be read is a warning: the
// marks may still find its copies.
func reportedCopies(ctx context.Context, o *Options, byID map[string]report.Item) ([]sourcedCopy, []string) {
	if o.Safety == nil {
		return nil, nil
	}
	var paths []string
	err := o.Safety.List(ctx, sdk.ListRequest{Prefix: "restores/"}, func(oi sdk.ObjectInfo) error {
		rest, ok := strings.CutPrefix(oi.Path, "restores/")
		if !ok {
			return nil
		}
		id, name, ok := strings.Cut(rest, "/")
		if ok && name == "restore.json" && !strings.HasPrefix(id, DrillPrefix) && id != o.RestoreID {
			paths = append(paths, oi.Path)
		}
		return nil
	})
	if err != nil {
		return nil, []string{fmt.Sprintf("the restore reports in sink %s could not be listed (%v): copies earlier restores made are looked for by their marks only, which the portal's search finds only once it has indexed them", o.SafetySinkName, err)}
	}
	sort.Strings(paths)
	reps := make([]*Report, len(paths))
	errs := make([]error, len(paths))
	eachAtOnce(len(paths), reportsParallel, func(i int) {
		var r Report
		if errs[i] = getJSON(ctx, o.Safety, paths[i], &r); errs[i] == nil {
			reps[i] = &r
		}
	})
	var out []sourcedCopy
	var warns []string
	for i, r := range reps {
		if errs[i] != nil {
			warns = append(warns, fmt.Sprintf("restore report %s in sink %s could not be read (%v): copies that restore made are looked for by their marks only", paths[i], o.SafetySinkName, errs[i]))
			continue
		}
		if r.Replace != nil || r.Private || !sameTarget(r, o.TargetOrg) {
			continue
		}
		for _, e := range r.Items {
			it, inRun := byID[e.ID]
			if e.Outcome != Restored || e.NewItemID == "" || e.NewItemID == e.ID || !inRun || it.Type != e.Type {
				continue
			}
			created := int64(0)
			if !r.Started.IsZero() {
				created = r.Started.UnixMilli()
			}
			c := targetCopy{ID: e.NewItemID, Restore: r.RestoreID, FoundBy: paths[i], created: created, report: true, run: r.Run, remap: r.Remap}
			if l, ok := r.Left[e.NewItemID]; ok {
				c.left = &l
			}
			out = append(out, sourcedCopy{source: e.ID, targetCopy: c})
		}
	}
	return out, warns
}

// sameTarget reports whether restore report r wrote to the portal org
// signs in to: the same organization where both record it, else the same
// portal address.
func sameTarget(r *Report, org sdk.OrgInfo) bool {
	if r.TargetOrgID != "" && org.OrgID != "" {
		return r.TargetOrgID == org.OrgID
	}
	norm := func(u string) string { return strings.ToLower(strings.TrimRight(strings.TrimSpace(u), "/")) }
	return r.Target != "" && norm(r.Target) == norm(org.PortalURL)
}

// markedCopies searches the target for the items earlier restores
// created from items of the run, by their marks (sdk.RestoredKeyword and
// sdk.SourceMark).
func markedCopies(ctx context.Context, src sdk.Source, byID map[string]report.Item) ([]sourcedCopy, []string, error) {
	var out []sourcedCopy
	q := url.Values{"q": {fmt.Sprintf(`typekeywords:"%s"`, sdk.RestoredKeyword)}, "num": {"100"}, "start": {"1"}, "sortField": {"created"}, "sortOrder": {"asc"}}
	var warns []string
	for page := 0; ; page++ {
		if page == 100 {
			warns = append(warns, "more than 10000 items of earlier restores in the target: only the first 10000 were looked at for copies of the run's items")
			break
		}
		var res struct {
			Results []struct {
				ID           string   `json:"id"`
				Type         string   `json:"type"`
				Created      int64    `json:"created"`
				TypeKeywords []string `json:"typeKeywords"`
			} `json:"results"`
			NextStart int `json:"nextStart"`
		}
		if err := readJSON(ctx, src.Do, arcgisrest.JSON("search", q), &res); err != nil {
			return nil, nil, fmt.Errorf("searching the target for items earlier restores created: %w", err)
		}
		for _, r := range res.Results {
			id, ok := sdk.SourceOf(r.TypeKeywords)
			it, inRun := byID[id]
			// A copy has its item's type: the temporary upload of a
			// feature service restore is no copy of the service.
			if !ok || !inRun || it.Type != r.Type {
				continue
			}
			c := targetCopy{ID: r.ID, created: r.Created, FoundBy: "its marks"}
			for _, k := range r.TypeKeywords {
				if rid, ok := strings.CutPrefix(k, MarkPrefix); ok {
					c.Restore = rid
				}
			}
			if strings.HasPrefix(c.Restore, DrillPrefix) {
				continue // a drill's scratch copy, left behind
			}
			out = append(out, sourcedCopy{source: id, targetCopy: c})
		}
		if res.NextStart <= 0 {
			break
		}
		q.Set("start", fmt.Sprint(res.NextStart))
	}
	return out, warns, nil
}

// confirmCopy reads candidate c from the target: false when it is gone,
// or is no copy of an item of type typ in this organization. It sets the
// copy's created stamp from the portal.
func confirmCopy(ctx context.Context, o *Options, c *targetCopy, typ string) (bool, error) {
	var it struct {
		ID      string `json:"id"`
		Type    string `json:"type"`
		OrgID   string `json:"orgId"`
		Created int64  `json:"created"`
		URL     string `json:"url"`
	}
	err := readJSON(ctx, o.Target.Do, arcgisrest.JSON("content/items/"+url.PathEscape(c.ID), nil), &it)
	if sdk.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if it.ID != c.ID || it.Type != typ || (it.OrgID != "" && o.TargetOrg.OrgID != "" && it.OrgID != o.TargetOrg.OrgID) {
		return false, nil
	}
	if it.Created != 0 {
		c.created = it.Created
	}
	c.URL = it.URL
	return true, nil
}

// asLeft reports whether copy cp of an item is still exactly as the
// restore that made it from this same run left it (restore.json's "left":
// modified stamp, and a feature service's last edit), and the items it
// needs (needs) map where they mapped then: it then holds the backup's
// content. MakePlan asks only where the restorer cannot compare
// (RestoreResult.Uncompared: a hosted feature service's rows), so the
// copy is skipped rather than rewritten; a restorer that compared and
// found a difference is believed. A copy that cannot be checked is not.
func asLeft(ctx context.Context, o *Options, cp targetCopy, remap map[string]string, needs []string) bool {
	if !cp.report || cp.left == nil || cp.run == "" || cp.run != o.Run.Folder {
		return false
	}
	for _, d := range needs {
		if remap[d] != cp.remap[d] {
			return false // it would now refer to another copy of d
		}
	}
	it, err := targetItem(ctx, o.Target, cp.ID)
	if err != nil {
		return false
	}
	what, known, err := changedSince(ctx, o.Target, &Report{Left: map[string]ItemState{cp.ID: *cp.left}}, it)
	return err == nil && known && what == ""
}
