package restore

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/arcgisrest"
	"github.com/agolpipe/agolpipe/sdk/retry"
)

// orgMeta is what a restore uses of the run's org/metadata.json.
type orgMeta struct {
	Groups []struct {
		ID           string   `json:"id"`
		Title        string   `json:"title"`
		Snippet      string   `json:"snippet"`
		Description  string   `json:"description"`
		Tags         []string `json:"tags"`
		Access       string   `json:"access"`
		Capabilities []string `json:"capabilities"`
	} `json:"groups"`
	Sharing map[string]struct {
		Access string   `json:"access"`
		Groups []string `json:"groups"`
	} `json:"sharing"`
}

func loadOrgMeta(ctx context.Context, o *Options) (*orgMeta, error) {
	for _, a := range o.Manifest.Artifacts {
		if a.ItemType != "Organization" || a.Name != "metadata.json" {
			continue
		}
		rc, err := o.Catalog.Open(ctx, o.Run, a)
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		var m orgMeta
		if err := json.NewDecoder(rc).Decode(&m); err != nil {
			return nil, err
		}
		// Read to the end: only a clean end proves the copy is the backup.
		if _, err := io.Copy(io.Discard, rc); err != nil {
			return nil, err
		}
		return &m, nil
	}
	return nil, errNoMeta
}

// Report is the record of an applied restore (restore.json).
type Report struct {
	RestoreID string `json:"restore_id"`
	Pipeline  string `json:"pipeline"`
	Run       string `json:"run"`
	Sink      string `json:"sink"`
	Target    string `json:"target_portal"`
	// TargetOrgID is the target's organization id: a later restore finds
	// the copies this one made in the same organization (copies.go).
	TargetOrgID string `json:"target_org_id,omitempty"`
	Username    string `json:"target_user"`
	// Private: the restore's copies were private scratch copies (a
	// drill), never the copies a later restore updates.
	Private  bool      `json:"private,omitempty"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	Items    []Entry   `json:"items"`
	// Remap is every old -> new item id and URL of the restore.
	Remap    map[string]string `json:"remap"`
	Groups   map[string]string `json:"groups,omitempty"`
	Warnings []string          `json:"warnings,omitempty"`
	// Safety are the copies taken before overwriting (safety.go), which
	// `restore undo` puts back.
	Safety []SafetyCopy `json:"safety_copies,omitempty"`
	// Replace is set when the record is of a find and replace
	// (replace.go), not of a restore.
	Replace *ReplaceRecord `json:"replace,omitempty"`
	// Left is each changed or created item's state as the restore left
	// it, by target item id (left.go): undo leaves alone what changed since.
	Left map[string]ItemState `json:"left,omitempty"`
	// Incomplete: written while the restore ran (checkpoint.go), listing
	// the items done so far; the restore never wrote its final report
	// (it was killed).
	Incomplete bool `json:"incomplete,omitempty"`
}

// Entry is one item of the report.
type Entry struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	Type  string `json:"type"`
	Step
}

// Failed counts the items that failed.
func (r *Report) Failed() int {
	n := 0
	for _, e := range r.Items {
		if e.Outcome == Failed {
			n++
		}
	}
	return n
}

// Apply carries out p: up to o.Parallel items at once (DefaultParallel
// when unset), each started only once every item of the plan it needs
// (needsGraph: the edges the plan's order was built from) has finished,
// so its restorer finds their ids and URLs in the remap table. An item
// whose dependency failed still runs after it and gets the remap table
// without it: its restorer says why it cannot be restored, as it did when
// the items went one by one. An item that fails is recorded with its error
// and the others go on. The report lists the items in plan order and
// Progress is told of them in plan order, whatever order they finish in.
// On cancel no item is started; those not started are Canceled.
func Apply(ctx context.Context, o *Options, p *Plan) *Report {
	rep := &Report{RestoreID: o.RestoreID, Pipeline: o.Manifest.PipelineID, Run: o.Run.Folder, Sink: o.Run.Sink,
		Target: o.TargetOrg.PortalURL, TargetOrgID: o.TargetOrg.OrgID, Username: o.TargetOrg.Username, Private: o.Private, Started: time.Now().UTC(), Remap: map[string]string{},
		Groups: map[string]string{}, Warnings: append([]string(nil), p.Warnings...)}
	a := &applier{o: o, rep: rep, folders: map[string]string{}}
	a.groups = &groupMapper{o: o, meta: p.meta, same: p.SameOrg, ids: rep.Groups}
	maps.Copy(rep.Remap, p.refRemap) // copies of what the items refer to, not restored now
	for _, st := range p.Steps {
		maps.Copy(rep.Remap, st.copyRemap) // copies earlier restores made are there already
	}
	cp := newCheckpointer(a, p)
	schedule(ctx, o, p, func(ctx context.Context, st *Step) {
		a.step(ctx, st)
		cp.stepDone(st)
	})
	cp.wait()
	// Safety copies were taken in the order items got to them: the
	// record lists them in plan order, like the items.
	at := map[string]int{}
	for i, st := range p.Steps {
		at[st.TargetItemID], at[st.Item.ID] = i, i
	}
	sort.SliceStable(rep.Safety, func(i, j int) bool { return at[rep.Safety[i].ItemID] < at[rep.Safety[j].ItemID] })
	rep.Items = make([]Entry, 0, len(p.Steps))
	for _, st := range p.Steps {
		rep.Items = append(rep.Items, Entry{ID: st.Item.ID, Title: st.Item.Title, Type: st.Item.Type, Step: *st})
	}
	rep.Finished = time.Now().UTC()
	return rep
}

// applier is the state the items of one Apply share, each part behind the
// lock that keeps concurrent items from creating a folder or group twice.
type applier struct {
	o       *Options
	rep     *Report
	mu      sync.Mutex // rep.Remap, rep.Safety, rep.Left
	groups  *groupMapper
	folders map[string]string // owner + "\x00" + title -> folder id, under folderMu
	// folderMu is held across a folder's lookup and creation: two items
	// of one new folder must not both create it.
	folderMu sync.Mutex
}

// remap is a copy of the remap table as it stands: the restorer's request
// must not share a map other items are adding to.
func (a *applier) remap() map[string]string {
	a.mu.Lock()
	defer a.mu.Unlock()
	m := make(map[string]string, len(a.rep.Remap))
	for k, v := range a.rep.Remap {
		m[k] = v
	}
	return m
}

func (a *applier) folderID(ctx context.Context, owner, title string) (string, error) {
	a.folderMu.Lock()
	defer a.folderMu.Unlock()
	return folderID(ctx, a.o, owner, title, a.folders)
}

// step applies one step of the plan (any action); ctx is not yet canceled.
func (a *applier) step(ctx context.Context, st *Step) {
	switch st.Action {
	case sdk.ActionCannot:
		st.Outcome = NotRestored
	case sdk.ActionSkip:
		st.Outcome = Skipped
	default:
		applyStep(ctx, a, st)
		leftStep(ctx, a, st)
	}
}

func applyStep(ctx context.Context, a *applier, st *Step) {
	o := a.o
	fail := func(err error) {
		st.Outcome, st.Error = Failed, err.Error()
		o.Log.Error("restore failed", "item", st.Item.ID, "title", st.Item.Title, "error", err.Error())
	}
	req := o.request(st, a.remap(), false)
	signedIn := o.TargetOrg.Username
	if st.Folder != "" && st.Mode == sdk.RestoreNew {
		id, err := a.folderID(ctx, signedIn, st.Folder)
		if err != nil {
			fail(fmt.Errorf("folder %q: %w", st.Folder, err))
			return
		}
		req.FolderID = id
	}
	if st.Mode == sdk.RestoreOverwrite && st.Action == sdk.ActionOverwrite {
		// Nothing is overwritten without a safety copy (safety.go).
		sc, err := takeSafetyCopy(ctx, o, st)
		if err != nil {
			fail(fmt.Errorf("not overwritten: its safety copy could not be taken: %w", err))
			return
		}
		a.mu.Lock()
		a.rep.Safety = append(a.rep.Safety, *sc)
		a.mu.Unlock()
		if sc.Status == sdk.StatusPartial {
			st.Warnings = append(st.Warnings, "the safety copy is partial: "+sc.Reason)
		}
	}
	h := o.host(st)
	res, err := o.Restorers[st.Item.Type].R.Restore(ctx, req, h)
	if err != nil {
		fail(err)
		h.dropMade(ctx)
		return
	}
	st.NewItemID, st.Warnings = res.NewItemID, append(st.Warnings, res.Warnings...)
	switch res.Action {
	case sdk.ActionCreate:
		st.Outcome = Restored
	case sdk.ActionOverwrite:
		st.Outcome = Overwritten
	case sdk.ActionSkip:
		st.Outcome = Skipped
	default:
		st.Outcome, st.Reason = NotRestored, res.Reason
		return
	}
	a.mu.Lock()
	if st.NewItemID != "" && st.NewItemID != st.Item.ID {
		a.rep.Remap[st.Item.ID] = st.NewItemID
	}
	for k, v := range res.Remap {
		if k != v {
			a.rep.Remap[k] = v
		}
	}
	a.mu.Unlock()
	if st.Outcome != Restored {
		return
	}
	if st.Owner != "" && st.Owner != signedIn {
		if err := reassign(ctx, a, st, signedIn); err != nil {
			st.Warnings = append(st.Warnings, fmt.Sprintf("not given to owner %s (it stays %s's): %v", st.Owner, signedIn, err))
			st.Owner = signedIn
		}
	} else {
		st.Owner = signedIn
	}
	if o.Private {
		return
	}
	if w := a.groups.share(ctx, st); w != "" {
		st.Warnings = append(st.Warnings, w)
	}
}

// post is one write, sent again only when the portal turned it away
// unapplied (throttled, or its token refused: arcgisrest.WriteJSON).
func post(ctx context.Context, o *Options, path string, form url.Values, v any) error {
	return arcgisrest.WriteJSON(ctx, o.Target.Do, retry.Policy{}, arcgisrest.JSONPost(path, form), nil, v)
}

// folderID finds or creates the owner's folder titled title.
func folderID(ctx context.Context, o *Options, owner, title string, cache map[string]string) (string, error) {
	key := owner + "\x00" + title
	if id, ok := cache[key]; ok {
		return id, nil
	}
	var u struct {
		Folders []struct {
			ID    string `json:"id"`
			Title string `json:"title"`
		} `json:"folders"`
	}
	if err := readJSON(ctx, o.Target.Do, arcgisrest.JSON("content/users/"+url.PathEscape(owner), url.Values{"num": {"1"}}), &u); err != nil {
		return "", err
	}
	for _, f := range u.Folders {
		if f.Title == title {
			cache[key] = f.ID
			return f.ID, nil
		}
	}
	var a struct {
		Folder struct {
			ID string `json:"id"`
		} `json:"folder"`
	}
	if err := post(ctx, o, "content/users/"+url.PathEscape(owner)+"/createFolder", url.Values{"title": {title}}, &a); err != nil {
		return "", err
	}
	cache[key] = a.Folder.ID
	return a.Folder.ID, nil
}

// reassign gives a restored item to its mapped owner, into the folder of
// the same title (created when missing).
func reassign(ctx context.Context, a *applier, st *Step, from string) error {
	o := a.o
	form := url.Values{"targetUsername": {st.Owner}}
	if st.Folder != "" {
		if _, err := a.folderID(ctx, st.Owner, st.Folder); err != nil {
			return fmt.Errorf("folder %q of %s: %w", st.Folder, st.Owner, err)
		}
		form.Set("targetFolderName", st.Folder)
	}
	var ans struct{}
	return post(ctx, o, "content/users/"+url.PathEscape(from)+"/items/"+url.PathEscape(st.NewItemID)+"/reassign", form, &ans)
}

// groupMapper re-creates the backup's groups in the target (by title, when
// restoring into another org) and shares restored items as they were.
type groupMapper struct {
	// mu is held across a group's lookup and creation (group): two items
	// shared with one group must not both create it.
	mu   sync.Mutex
	o    *Options
	meta *orgMeta
	same bool
	ids  map[string]string // old group id -> target group id
}

func (g *groupMapper) share(ctx context.Context, st *Step) string {
	if g.meta == nil {
		return ""
	}
	sh, ok := g.meta.Sharing[st.Item.ID]
	if !ok {
		return ""
	}
	form := url.Values{"everyone": {fmt.Sprint(sh.Access == "public")}, "org": {fmt.Sprint(sh.Access == "public" || sh.Access == "org")}}
	var ids, missing []string
	for _, old := range sh.Groups {
		id, err := g.group(ctx, old)
		if err != nil {
			missing = append(missing, fmt.Sprintf("%s (%v)", old, err))
			continue
		}
		ids = append(ids, id)
	}
	if len(ids) > 0 {
		form.Set("groups", strings.Join(ids, ","))
		// Shared-update groups take an item only when this is said.
		form.Set("confirmItemControl", "true")
	}
	if sh.Access == "private" && len(ids) == 0 {
		return strings.Join(missing, "; ")
	}
	var a struct{}
	if err := post(ctx, g.o, "content/users/"+url.PathEscape(st.Owner)+"/items/"+url.PathEscape(st.NewItemID)+"/share", form, &a); err != nil {
		return fmt.Sprintf("sharing (%s, %d groups) not restored: %v", sh.Access, len(ids), err)
	}
	if len(missing) > 0 {
		return "not shared with group(s) " + strings.Join(missing, "; ")
	}
	return ""
}

// group returns the target's id of the backup's group old.
func (g *groupMapper) group(ctx context.Context, old string) (string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if id, ok := g.ids[old]; ok {
		return id, nil
	}
	if g.same {
		g.ids[old] = old
		return old, nil
	}
	for _, grp := range g.meta.Groups {
		if grp.ID != old {
			continue
		}
		var found struct {
			Results []struct {
				ID    string `json:"id"`
				Title string `json:"title"`
			} `json:"results"`
		}
		q := url.Values{"q": {fmt.Sprintf(`title:"%s"`, grp.Title)}, "num": {"100"}}
		if g.o.TargetOrg.OrgID != "" {
			q.Set("q", q.Get("q")+" AND orgid:"+g.o.TargetOrg.OrgID)
		}
		if err := readJSON(ctx, g.o.Target.Do, arcgisrest.JSON("community/groups", q), &found); err != nil {
			return "", err
		}
		for _, r := range found.Results {
			if r.Title == grp.Title {
				g.ids[old] = r.ID
				return r.ID, nil
			}
		}
		access := grp.Access
		if access == "" {
			access = "private"
		}
		var a struct {
			Group struct {
				ID string `json:"id"`
			} `json:"group"`
		}
		form := url.Values{"title": {grp.Title}, "access": {access}, "tags": {strings.Join(grp.Tags, ",")}, "snippet": {grp.Snippet},
			"description": {grp.Description}}
		if len(grp.Capabilities) > 0 {
			form.Set("capabilities", strings.Join(grp.Capabilities, ","))
		}
		if err := post(ctx, g.o, "community/createGroup", form, &a); err != nil {
			return "", err
		}
		g.ids[old] = a.Group.ID
		return a.Group.ID, nil
	}
	return "", fmt.Errorf("group %s is not in org/metadata.json", old)
}

// WritePlan prints the plan like terraform plan: one line per item in the
// order the restore acts, then the counts.
func WritePlan(w io.Writer, p *Plan) {
	for _, st := range p.Steps {
		sym := map[sdk.RestoreAction]string{sdk.ActionCreate: "+", sdk.ActionOverwrite: "~", sdk.ActionSkip: "=", sdk.ActionCannot: "!"}[st.Action]
		line := fmt.Sprintf("  %s %-9s %s %q (%s)", sym, st.Action, st.Item.ID, st.Item.Title, st.Item.Type)
		if st.Dependency != "" {
			line += " [dependency of " + st.Dependency + "]"
		}
		if st.Reason != "" {
			line += ": " + st.Reason
		}
		fmt.Fprintln(w, line)
	}
	c := p.Counts()
	fmt.Fprintf(w, "Plan: %d to create, %d to overwrite, %d identical (skip), %d cannot be restored.\n",
		c[sdk.ActionCreate], c[sdk.ActionOverwrite], c[sdk.ActionSkip], c[sdk.ActionCannot])
	for _, warn := range p.Warnings {
		fmt.Fprintf(w, "  warning: %s\n", warn)
	}
}

// WriteSummary is the readable report (Restore.txt).
func WriteSummary(w io.Writer, r *Report) {
	if r.Run == "" {
		// agolpipe replace: a change of live items, no run.
		fmt.Fprintf(w, "Replace %s in %s as %s, %s\n", r.RestoreID, r.Target, r.Username, r.Finished.Sub(r.Started).Round(time.Second))
	} else {
		fmt.Fprintf(w, "Restore %s of run %s (sink %s) into %s as %s, %s\n", r.RestoreID, r.Run, r.Sink, r.Target, r.Username,
			r.Finished.Sub(r.Started).Round(time.Second))
	}
	counts := map[string]int{}
	for _, e := range r.Items {
		counts[e.Outcome]++
	}
	fmt.Fprintf(w, "%d restored, %d overwritten, %d skipped, %d failed, %d cannot be restored",
		counts[Restored], counts[Overwritten], counts[Skipped], counts[Failed], counts[NotRestored])
	if counts[Canceled] > 0 {
		fmt.Fprintf(w, ", %d not attempted (interrupted)", counts[Canceled])
	}
	fmt.Fprintln(w)
	if len(r.Safety) > 0 {
		fmt.Fprintf(w, "%d safety copy(ies) of what was overwritten under %s/safety/ in sink %s; `agolpipe restore undo <pipeline.hcl> %s` puts them back\n",
			len(r.Safety), Folder(r.RestoreID), r.Safety[0].Sink, r.RestoreID)
	}
	for _, e := range r.Items {
		line := fmt.Sprintf("  %-11s %s %q (%s)", e.Outcome, e.ID, e.Title, e.Type)
		if e.NewItemID != "" && e.NewItemID != e.ID {
			line += " -> " + e.NewItemID
		}
		switch {
		case e.Error != "":
			line += ": " + e.Error
		case e.Reason != "":
			line += ": " + e.Reason
		}
		fmt.Fprintln(w, line)
		for _, warn := range e.Warnings {
			fmt.Fprintf(w, "      warning: %s\n", warn)
		}
	}
	if len(r.Remap) > 0 {
		fmt.Fprintln(w, "Remap (backup -> target):")
		keys := make([]string, 0, len(r.Remap))
		for k := range r.Remap {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(w, "  %s -> %s\n", k, r.Remap[k])
		}
	}
	for _, warn := range r.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
}

// Store writes restore.json and Restore.txt into sink under Folder(id).
func Store(ctx context.Context, sink sdk.Sink, r *Report) (string, error) {
	dir := Folder(r.RestoreID)
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", err
	}
	var txt bytes.Buffer
	WriteSummary(&txt, r)
	for _, f := range []struct {
		name, mt string
		body     []byte
	}{{"restore.json", "application/json", b}, {"Restore.txt", "text/plain", txt.Bytes()}} {
		if _, err := sink.Put(ctx, sdk.PutRequest{Path: dir + "/" + f.name, MediaType: f.mt, Size: int64(len(f.body)), Body: bytes.NewReader(f.body)}); err != nil {
			return dir, fmt.Errorf("storing %s/%s: %w", dir, f.name, err)
		}
	}
	return dir, nil
}
