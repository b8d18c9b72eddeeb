// Package restore puts items of a stored run back into a portal: the
// engine's side of restore, once for every item type. It selects the items,
// pulls in the dependencies the target lacks, orders them (services, views,
// maps, apps: every item after the items it refers to), asks each item's
// restorer (the exporter of its type, sdk.Restorer) for a plan, and then
// applies it: folders created, the id/URL remap table grown as items are
// restored and handed to every later item, owners mapped, sharing and groups
// re-created from the run's org/metadata.json. Artifacts are read through
// core/catalog, checked against the manifest; an artifact that does not
// match fails its item only.
package restore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"sort"
	"strings"
	"sync"

	"github.com/agolpipe/agolpipe/core/catalog"
	"github.com/agolpipe/agolpipe/core/report"
	"github.com/agolpipe/agolpipe/sdk"
)

// OrgMetadataPath is where a run keeps the organization's metadata (users,
// groups, item sharing), as the engine writes it.
const OrgMetadataPath = "org/metadata.json"

// Folder is where a restore's report (and its safety copies) go in the
// pipeline's first sink: restores/<restore id>. It is no run folder (it
// holds no manifest.json), so listings and retention leave it alone.
func Folder(restoreID string) string { return "restores/" + restoreID }

// MarkPrefix starts the type keyword every item a restore creates carries
// (MarkPrefix + restore id), so `restore undo` deletes exactly those. Such
// an item also carries sdk.RestoredKeyword and sdk.SourceMark(backup item
// id), by which a later restore finds it (earlierCopies).
const MarkPrefix = sdk.RestoreMarkPrefix

// Restorer is the restorer of some item types, with its component name.
type Restorer struct {
	Name string
	R    sdk.Restorer
	// Skipped: R restores this type's skipped exports too
	// (sdk.SkippedRestorer); otherwise the plan refuses them itself.
	Skipped bool
}

// Selection says which items of the run to restore.
type Selection struct {
	All     bool
	Items   []string
	Types   []string
	Owners  []string
	Folders []string
	Tags    []string
	// NoDependencies leaves out the dependencies the target lacks.
	NoDependencies bool
}

// Empty reports whether nothing was selected.
func (s Selection) Empty() bool {
	return !s.All && len(s.Items)+len(s.Types)+len(s.Owners)+len(s.Folders)+len(s.Tags) == 0
}

// Options of one restore.
type Options struct {
	Catalog  *catalog.Catalog
	Run      catalog.Run
	Manifest *report.Run
	// Target is the target portal's source, connected as TargetOrg.
	Target    sdk.Source
	TargetOrg sdk.OrgInfo
	// Restorers by item type.
	Restorers map[string]Restorer
	Select    Selection
	// Mode is what to do with items that exist in the target: "" (skip
	// them when identical, else refuse), RestoreNew (a copy) or
	// RestoreOverwrite (in place).
	Mode sdk.RestoreMode
	// OwnerMap maps the backup's owners to the target's; an owner not in
	// it becomes the signed-in user.
	OwnerMap  map[string]string
	RestoreID string
	Log       *slog.Logger
	// Safety is the sink safety copies go to (the pipeline's first sink),
	// SafetySinkName its name; without it nothing is overwritten.
	Safety         sdk.Sink
	SafetySinkName string
	// Private leaves restored items unshared (a restore drill's scratch
	// copies must never show up in groups or public searches).
	Private bool
	// Progress, when set, is told of each step once it is done, in plan
	// order (never concurrently).
	Progress func(done, total int, st *Step)
	// Parallel is how many items MakePlan plans and Apply restores at
	// once (0: DefaultParallel); an item starts only after the items it
	// needs.
	Parallel int
}

// Step is one item of the plan, in the order the restore acts.
type Step struct {
	Item report.Item `json:"-"`
	// Dependency names the selected item that pulled this one in.
	Dependency   string            `json:"dependency_of,omitempty"`
	Restorer     string            `json:"restorer,omitempty"`
	Action       sdk.RestoreAction `json:"action"`
	Reason       string            `json:"reason,omitempty"`
	Cannot       sdk.CannotReason  `json:"cannot_reason,omitempty"`
	Mode         sdk.RestoreMode   `json:"-"`
	TargetItemID string            `json:"target_item_id,omitempty"`
	Owner        string            `json:"owner,omitempty"`
	Folder       string            `json:"folder,omitempty"`
	// CopyFoundBy says, for an item whose target is a copy an earlier
	// restore made, which record found it: the restore report
	// (restores/<id>/restore.json in the first sink) or its marks.
	CopyFoundBy string `json:"copy_found_by,omitempty"`
	// copyRemap: the item is a copy an earlier restore made in the target
	// (TargetItemID): the remap entries (id, URLs) to it, which hold
	// whatever the step does, so Apply starts from them.
	copyRemap map[string]string
	// After applying:
	Outcome   string   `json:"outcome,omitempty"`
	NewItemID string   `json:"new_item_id,omitempty"`
	Error     string   `json:"error,omitempty"`
	Warnings  []string `json:"warnings,omitempty"`
}

// Outcomes of an applied step.
const (
	Restored    = "restored"
	Overwritten = "overwritten"
	Skipped     = "skipped"
	Failed      = "failed"
	NotRestored = "cannot"
	// Canceled: the restore was interrupted before it got to the item.
	Canceled = "canceled"
)

// Plan is the ordered list of steps.
type Plan struct {
	Steps   []*Step
	SameOrg bool
	// Warnings are problems met while planning that do not stop it.
	Warnings []string
	meta     *orgMeta
	// needs is the graph the plan was ordered by (needsGraph, and for a
	// run that recorded no dependencies the references derived from the
	// items' JSON: derive.go); applying waits along the same edges.
	needs map[string][]string
	// refRemap leads the items the plan refers to but does not restore
	// to the copies earlier restores made of them in the target (refs.go).
	refRemap map[string]string
}

// Counts of the plan's actions.
func (p *Plan) Counts() map[sdk.RestoreAction]int {
	c := map[sdk.RestoreAction]int{}
	for _, s := range p.Steps {
		c[s.Action]++
	}
	return c
}

// Actionable reports whether applying the plan would change anything.
func (p *Plan) Actionable() bool {
	c := p.Counts()
	return c[sdk.ActionCreate]+c[sdk.ActionOverwrite] > 0
}

// restorable: only items whose export stored something usable.
func restorable(it report.Item) (bool, string) {
	switch it.Status {
	case sdk.StatusExported, sdk.StatusPartial:
		return true, ""
	case sdk.StatusSkipped:
		return false, "its export was skipped: " + it.Reason
	default:
		return false, fmt.Sprintf("the run did not back it up (%s%s)", it.Status, suffix(it.Reason))
	}
}

func suffix(s string) string {
	if s == "" {
		return ""
	}
	return ": " + s
}

// MakePlan decides what the restore would do, changing nothing.
func MakePlan(ctx context.Context, o *Options) (*Plan, error) {
	m := o.Manifest
	p := &Plan{SameOrg: m.Source.OrgID != "" && m.Source.OrgID == o.TargetOrg.OrgID}
	byID := map[string]report.Item{}
	for _, it := range m.Items {
		if it.Status != sdk.StatusExcluded {
			byID[it.ID] = it
		}
	}
	for _, id := range o.Select.Items {
		if _, ok := byID[id]; !ok {
			return nil, fmt.Errorf("--item %s: run %s holds no such item (`agolpipe runs show` lists its items)", id, o.Run.Folder)
		}
	}
	var err error
	p.meta, err = loadOrgMeta(ctx, o)
	if err != nil {
		p.Warnings = append(p.Warnings, fmt.Sprintf("org/metadata.json could not be read (%v): sharing and groups are not restored", err))
	}
	tags, err := itemTags(ctx, o, byID)
	if err != nil {
		return nil, err
	}
	selected := map[string]string{} // id -> "" or the item that pulled it in
	for _, it := range m.Items {
		if it.Status != sdk.StatusExcluded && matches(o.Select, it, tags[it.ID]) {
			selected[it.ID] = ""
		}
	}
	exists := map[string]bool{}
	targetHas := func(id string) (bool, error) {
		if !p.SameOrg {
			return false, nil
		}
		if v, ok := exists[id]; ok {
			return v, nil
		}
		v, err := itemExists(ctx, o.Target, id)
		exists[id] = v
		return v, err
	}
	// Copies an earlier restore created in the target, by backup item id
	// (copies.go: the restore reports first, then the marks): restoring
	// the item again finds its copy there instead of making a second one
	// (unless --as-new asks for one).
	var copies map[string]targetCopy
	if o.Mode != sdk.RestoreNew {
		var warns []string
		copies, warns, err = earlierCopies(ctx, o, byID)
		if err != nil {
			return nil, err
		}
		p.Warnings = append(p.Warnings, warns...)
	}
	needs := needsGraph(byID)
	if !recordsDependencies(m) {
		derived, read, warns := derivedNeeds(ctx, o, byID)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		addNeeds(needs, derived)
		p.Warnings = append(p.Warnings, warns...)
		p.Warnings = append(p.Warnings, fmt.Sprintf("run %s records no dependencies between its items (its source did not collect them: the arcgis source's dependencies = false): the items each item refers to were read from its JSON (%d items read, ids and service URLs of the run's items found in them)", o.Run.Folder, read))
	}
	p.needs = needs
	if !o.Select.NoDependencies {
		queue := make([]string, 0, len(selected))
		for id := range selected {
			queue = append(queue, id)
		}
		sort.Strings(queue)
		for len(queue) > 0 {
			id := queue[0]
			queue = queue[1:]
			for _, dep := range needs[id] {
				if _, ok := selected[dep]; ok {
					continue
				}
				has, err := targetHas(dep)
				if err != nil {
					return nil, err
				}
				if has {
					continue // the target still has it: references stay valid
				}
				selected[dep] = id
				queue = append(queue, dep)
			}
		}
	}
	// What the plan's items refer to but it does not restore: rewritten
	// to what the target holds of it (refs.go).
	refRemap, warns, err := referencedRemap(ctx, o, byID, selected, needs, copies, targetHas)
	if err != nil {
		return nil, err
	}
	p.refRemap = refRemap
	p.Warnings = append(p.Warnings, warns...)
	// Each step is first placed (restorer, mode, target: no portal call
	// but the existence checks), then planned by its restorer. Planning
	// asks the portal about every item, so it walks the plan as Apply does:
	// o.Parallel items at once, each after the items it needs. While
	// planning, the items planned before an item stand in the remap table
	// as sdk.Planned(id), so its restorer can count on them (a view on its
	// source service).
	type placed struct {
		r      Restorer
		has    bool
		copied bool
		cp     targetCopy
	}
	var pend []*placed
	for _, id := range order(selected, byID, needs) {
		it := byID[id]
		st := &Step{Item: it, Dependency: selected[id], Folder: it.Folder, Owner: o.owner(it.Owner)}
		p.Steps = append(p.Steps, st)
		pend = append(pend, nil)
		r, hasRestorer := o.Restorers[it.Type]
		if ok, why := restorable(it); !ok && !(it.Status == sdk.StatusSkipped && hasRestorer && r.Skipped) {
			st.Action, st.Cannot, st.Reason = sdk.ActionCannot, sdk.CannotNotRestorable, why
			continue
		}
		if !hasRestorer {
			st.Action, st.Cannot = sdk.ActionCannot, sdk.CannotNotRestorable
			st.Reason = fmt.Sprintf("no exporter of this pipeline can restore %s items yet", it.Type)
			continue
		}
		st.Restorer = r.Name
		st.Mode = sdk.RestoreNew
		has, err := targetHas(id)
		if err != nil {
			return nil, err
		}
		cp, copied := copies[id]
		copied = copied && !has
		if has {
			switch o.Mode {
			case sdk.RestoreNew:
			default:
				st.Mode, st.TargetItemID = sdk.RestoreOverwrite, id
			}
		} else if copied {
			st.Mode, st.TargetItemID, st.CopyFoundBy = sdk.RestoreOverwrite, cp.ID, cp.FoundBy
		}
		pend[len(pend)-1] = &placed{r: r, has: has, copied: copied, cp: cp}
	}
	planned := maps.Clone(p.refRemap)
	if planned == nil {
		planned = map[string]string{}
	}
	var mu sync.Mutex // planned
	inOrder(len(p.Steps), o.parallel(), stepDeps(o, p), func(i int) bool { return pend[i] == nil }, func(i int) {
		st, pl := p.Steps[i], pend[i]
		id, has, copied, cp := st.Item.ID, pl.has, pl.copied, pl.cp
		mu.Lock()
		remap := maps.Clone(planned)
		mu.Unlock()
		res, err := pl.r.R.Restore(ctx, o.request(st, remap, true), o.host(st))
		if err != nil {
			st.Action, st.Reason = sdk.ActionCannot, "planning failed: "+err.Error()
			return
		}
		leftAsIs := false
		if copied && res.Action == sdk.ActionOverwrite && res.Uncompared && asLeft(ctx, o, cp, remap, needs[id]) {
			res.Action, res.Cannot, res.Reason, leftAsIs = sdk.ActionSkip, "", "", true
		}
		mu.Lock()
		defer mu.Unlock()
		st.Action, st.Reason, st.Cannot = res.Action, res.Reason, res.Cannot
		switch {
		case copied:
			// The copy stays where it is whatever is done with it: later
			// items refer to it (its id, and its URL as the restorer knows).
			st.copyRemap = map[string]string{id: cp.ID}
			for k, v := range res.Remap {
				if !sdk.IsPlanned(v) {
					st.copyRemap[k] = v
				}
			}
			for k, v := range st.copyRemap {
				planned[k] = v
			}
		case res.Action == sdk.ActionCreate || res.Action == sdk.ActionOverwrite:
			planned[id] = sdk.Planned(id)
		}
		if has && o.Mode == "" && res.Action == sdk.ActionOverwrite {
			st.Action, st.Cannot = sdk.ActionCannot, sdk.CannotExists
			st.Reason = "the item exists in the target and differs from the backup: --overwrite replaces it in place, --as-new restores a copy"
		}
		if copied {
			switch {
			case leftAsIs:
				st.NewItemID = cp.ID
				st.Reason = fmt.Sprintf("item %s, which %s created from it (%s), is as that restore left it out of this run: unchanged since", cp.ID, cp.restore(), cp.foundBy())
			case res.Action == sdk.ActionSkip:
				st.NewItemID = cp.ID
				st.Reason = fmt.Sprintf("item %s, which %s created from it (%s), already holds the backup's content", cp.ID, cp.restore(), cp.foundBy())
			case res.Action == sdk.ActionOverwrite && o.Mode == "":
				st.Action, st.Cannot = sdk.ActionCannot, sdk.CannotExists
				st.Reason = fmt.Sprintf("item %s, which %s created from it (%s), differs from the backup (changed since, or not comparable): --overwrite replaces it in place, --as-new restores another copy", cp.ID, cp.restore(), cp.foundBy())
			case res.Action == sdk.ActionOverwrite:
				st.Reason = fmt.Sprintf("item %s, which %s created from it (%s), in place", cp.ID, cp.restore(), cp.foundBy())
			}
		}
	}, func(int) {})
	return p, nil
}

// owner maps a backup owner to the target's.
func (o *Options) owner(old string) string {
	if n, ok := o.OwnerMap[old]; ok && n != "" {
		return n
	}
	return o.TargetOrg.Username
}

// request is the restorer's request for st.
func (o *Options) request(st *Step, remap map[string]string, planOnly bool) sdk.RestoreRequest {
	rec, _ := json.Marshal(st.Item)
	req := sdk.RestoreRequest{
		Item: sdk.Item{ID: st.Item.ID, Title: st.Item.Title, Type: st.Item.Type, Owner: st.Item.Owner, FolderTitle: st.Item.Folder,
			Access: st.Item.Access, Size: st.Item.Size, Dependencies: st.Item.Dependencies, Created: st.Item.Created, Modified: st.Item.Modified},
		ManifestRecord: rec, RunID: o.Manifest.RunID, RestoreID: o.RestoreID, Mark: MarkPrefix + o.RestoreID,
		Target: o.TargetOrg, Owner: o.TargetOrg.Username, FolderTitle: st.Folder, Mode: st.Mode, TargetItemID: st.TargetItemID,
		Remap: remap, PlanOnly: planOnly,
	}
	for _, a := range o.Manifest.Artifacts {
		if a.ItemID == st.Item.ID {
			req.Artifacts = append(req.Artifacts, sdk.RestoreArtifact{Name: a.Name, Size: a.Size, SHA256: a.SHA256, Format: a.Format, MediaType: a.MediaType})
		}
	}
	return req
}

// matches applies the selection to one item of the run.
func matches(s Selection, it report.Item, tags []string) bool {
	if s.All {
		return true
	}
	if len(s.Items) > 0 && !contains(s.Items, it.ID) {
		return false
	}
	if len(s.Types) > 0 && !containsFold(s.Types, it.Type) {
		return false
	}
	if len(s.Owners) > 0 && !contains(s.Owners, it.Owner) {
		return false
	}
	if len(s.Folders) > 0 && !containsFold(s.Folders, it.Folder) {
		return false
	}
	if len(s.Tags) > 0 {
		hit := false
		for _, t := range tags {
			hit = hit || containsFold(s.Tags, t)
		}
		if !hit {
			return false
		}
	}
	return !s.Empty()
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func containsFold(list []string, v string) bool {
	for _, x := range list {
		if strings.EqualFold(x, v) {
			return true
		}
	}
	return false
}

// serviceTypes are hosted service items: between two of them, a
// relationship (Service2Service) goes from the source service to its view,
// so it is the view that needs the source, not the other way round.
var serviceTypes = map[string]bool{"Feature Service": true, "Vector Tile Service": true, "Scene Service": true, "Image Service": true}

// needsGraph says which items of the run each item needs restored before
// it: the items it refers to (the source's dependencies: a web map's
// layers, an app's map), except between services, where the view needs its
// source.
func needsGraph(byID map[string]report.Item) map[string][]string {
	g := map[string][]string{}
	for id, it := range byID {
		for _, d := range it.Dependencies {
			dep, ok := byID[d]
			if !ok || d == id {
				continue
			}
			if serviceTypes[it.Type] && serviceTypes[dep.Type] {
				g[d] = append(g[d], id)
				continue
			}
			g[id] = append(g[id], d)
		}
	}
	for id := range g {
		sort.Strings(g[id])
	}
	return g
}

// rank orders item kinds: services first, then views and layers, maps and
// scenes, apps last; the dependency order comes before it.
func rank(typ string) int {
	switch {
	case strings.HasSuffix(typ, "Service") || typ == "Feature Collection":
		return 0
	case typ == "Web Map" || typ == "Web Scene":
		return 2
	case strings.Contains(typ, "Application") || strings.Contains(typ, "App") || typ == "Dashboard" || typ == "StoryMap" ||
		strings.HasPrefix(typ, "Web Experience") || strings.HasPrefix(typ, "Hub ") || strings.HasPrefix(typ, "Site "):
		return 3
	}
	return 1
}

// order sorts ids so each item comes after the items of the set it depends
// on (a cycle is broken by kind and title), kinds in rank order.
func order(set map[string]string, byID map[string]report.Item, needs map[string][]string) []string {
	ids := make([]string, 0, len(set))
	for id := range set {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool {
		a, b := byID[ids[i]], byID[ids[j]]
		if rank(a.Type) != rank(b.Type) {
			return rank(a.Type) < rank(b.Type)
		}
		if a.Title != b.Title {
			return a.Title < b.Title
		}
		return a.ID < b.ID
	})
	done := map[string]bool{}
	visiting := map[string]bool{}
	var out []string
	var visit func(id string)
	visit = func(id string) {
		if done[id] || visiting[id] {
			return
		}
		visiting[id] = true
		for _, d := range needs[id] {
			if _, ok := set[d]; ok {
				visit(d)
			}
		}
		visiting[id] = false
		done[id] = true
		out = append(out, id)
	}
	for _, id := range ids {
		visit(id)
	}
	return out
}

// itemTags reads the tags of the run's items from their item.json, only
// when the selection filters on tags (the manifest does not record them).
func itemTags(ctx context.Context, o *Options, byID map[string]report.Item) (map[string][]string, error) {
	if len(o.Select.Tags) == 0 {
		return nil, nil
	}
	out := map[string][]string{}
	for _, a := range o.Manifest.Artifacts {
		if a.Name != "item.json" {
			continue
		}
		if _, ok := byID[a.ItemID]; !ok {
			continue
		}
		rc, err := o.Catalog.Open(ctx, o.Run, a)
		if err != nil {
			o.Log.Warn("item.json not readable for --tag", "item", a.ItemID, "error", err.Error())
			continue
		}
		var it struct {
			Tags []string `json:"tags"`
		}
		err = json.NewDecoder(io.LimitReader(rc, 64<<20)).Decode(&it)
		rc.Close()
		if err == nil {
			out[a.ItemID] = it.Tags
		}
	}
	return out, nil
}

// itemExists asks the target whether it holds item id.
func itemExists(ctx context.Context, src sdk.Source, id string) (bool, error) {
	resp, err := src.Do(ctx, sdk.PortalRequest{Method: "GET", URL: "content/items/" + id, Header: jsonHeader()})
	if err != nil {
		if sdk.IsNotFound(err) { // the source classifies ArcGIS's 400 "does not exist" so
			return false, nil
		}
		return false, fmt.Errorf("looking for item %s in the target: %w", id, err)
	}
	resp.Body.Close()
	return true, nil
}

func jsonHeader() map[string][]string { return map[string][]string{"Accept": {"application/json"}} }

var errNoMeta = errors.New("the run holds no org/metadata.json")
