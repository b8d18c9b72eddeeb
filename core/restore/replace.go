package restore

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/agolpipe/agolpipe/core/report"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/arcgisrest"
	"github.com/agolpipe/agolpipe/sdk/retry"
)

// Find and replace (`agolpipe replace`): a text, typically a service URL
// or an item id, is rewritten in the JSON of live items: the string values
// of the item's data and the item properties URLs live in (ReplaceFields).
// It plans first (per item which strings change, old -> new, counted);
// applying saves each item's JSON as it is (a safety copy of kind
// SafetyJSON under restores/<id>/safety/<item>, the restore's layout) and
// then writes the change, so `agolpipe restore undo <id>` puts it back,
// byte for byte. Its record is restore.json with Replace set.

// ReplaceFields are the item properties replace searches: the URL of
// registered services and apps, and the texts links are written in.
var ReplaceFields = []string{"url", "snippet", "description"}

// SafetyJSON is the kind of a safety copy that holds an item's JSON only
// (item.json, and data.json when the data changed), put back by undo
// without an exporter: only the properties in Fields and the data.
const SafetyJSON = "json"

// maxDataBytes bounds the item data replace reads: JSON configurations
// stay far below it; a larger body is a file, not searched.
const maxDataBytes = 64 << 20

// ReplaceOptions of one find and replace.
type ReplaceOptions struct {
	Find, Replace string
	// Select picks the live items (Items alone reads just those).
	Select Selection
	// Target is the pipeline's source, connected as TargetOrg.
	Target    sdk.Source
	TargetOrg sdk.OrgInfo
	Pipeline  string
	ReplaceID string
	Log       *slog.Logger
	// Safety is the sink the safety copies and the record go to (the
	// pipeline's first sink); without it nothing is changed.
	Safety         sdk.Sink
	SafetySinkName string
	// Progress, when set, is told about each item once it is done.
	Progress func(done, total int, rec ReplaceItem)
	// Retry is the policy of the reads (the source's Do leaves retries to
	// its caller); writes are never repeated. Zero is retry's defaults.
	Retry retry.Policy
}

// ReplaceItem is one item the text was found in.
type ReplaceItem struct {
	ID      string   `json:"id"`
	Title   string   `json:"title"`
	Type    string   `json:"type"`
	Owner   string   `json:"owner"`
	Changes []Change `json:"changes"`
	// Notes say what was found but is not rewritten, and why.
	Notes []string `json:"notes,omitempty"`
	// After applying: Overwritten, Skipped or Failed.
	Outcome  string   `json:"outcome,omitempty"`
	Error    string   `json:"error,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
}

// Replacements counts the occurrences the item's changes replace.
func (r *ReplaceItem) Replacements() int {
	n := 0
	for _, c := range r.Changes {
		n += c.Count
	}
	return n
}

// ReplacePlan is what a replace would change.
type ReplacePlan struct {
	Find     string         `json:"find"`
	Replace  string         `json:"replace"`
	Searched int            `json:"searched"`
	Items    []*ReplaceItem `json:"items"`
	// Unmatched items were searched and hold the text nowhere replace
	// rewrites (their notes may say where it is).
	Unmatched []*ReplaceItem `json:"-"`
	// Unreadable items could not be read (Error says why): not searched.
	Unreadable []*ReplaceItem `json:"unreadable,omitempty"`
	// FileData counts the items whose data is a file, not searched (their
	// properties were).
	FileData int `json:"file_data"`
}

// planWorkers bounds the items read at once while planning: a portal
// answers a few requests in parallel well, and an org of thousands of
// items is read in minutes rather than an hour.
const planWorkers = 8

// Actionable reports whether applying would change anything.
func (p *ReplacePlan) Actionable() bool { return len(p.Items) > 0 }

// itemState is an item as read for a replace, and its rewrite.
type itemState struct {
	item     sdk.Item
	raw      []byte // the item JSON as the portal answered
	data     []byte // the item data when JSON, else nil
	newData  []byte // nil when the data does not change
	fields   url.Values
	rec      ReplaceItem
	fileData bool // the data is a file, not searched
}

// PlanReplace finds the text in the selected live items, changing nothing.
func PlanReplace(ctx context.Context, o *ReplaceOptions) (*ReplacePlan, error) {
	items, err := selectLive(ctx, o)
	if err != nil {
		return nil, err
	}
	p := &ReplacePlan{Find: o.Find, Replace: o.Replace, Searched: len(items)}
	states := make([]*itemState, len(items))
	errs := make([]error, len(items))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(planWorkers, len(items)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				// One item that cannot be read is reported, not the end
				// of the search through thousands.
				states[i], errs[i] = o.read(ctx, items[i])
			}
		}()
	}
feed:
	for i := range items {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for i, st := range states {
		if errs[i] != nil {
			it := items[i]
			o.Log.Warn("item not searched", "item", it.ID, "title", it.Title, "error", errs[i].Error())
			p.Unreadable = append(p.Unreadable, &ReplaceItem{ID: it.ID, Title: it.Title, Type: it.Type, Owner: it.Owner, Error: errs[i].Error()})
			continue
		}
		rec := st.rec
		if st.fileData {
			p.FileData++
		}
		if len(rec.Changes) > 0 {
			p.Items = append(p.Items, &rec)
		} else {
			p.Unmatched = append(p.Unmatched, &rec)
		}
	}
	return p, nil
}

// selectLive lists the portal's items the selection names: --item alone
// reads those items, anything else goes through the source's listing (its
// own filters apply: the pipeline's scope).
func selectLive(ctx context.Context, o *ReplaceOptions) ([]sdk.Item, error) {
	s := o.Select
	if !s.All && len(s.Types)+len(s.Owners)+len(s.Folders)+len(s.Tags) == 0 {
		var out []sdk.Item
		for _, id := range s.Items {
			it, err := targetItem(ctx, o.Target, id)
			if sdk.IsNotFound(err) {
				return nil, fmt.Errorf("--item %s: %s has no such item (or the signed-in user %s may not see it)", id, o.TargetOrg.PortalURL, o.TargetOrg.Username)
			}
			if err != nil {
				return nil, fmt.Errorf("--item %s: %w", id, err)
			}
			out = append(out, it)
		}
		return out, nil
	}
	var out []sdk.Item
	err := o.Target.ListItems(ctx, sdk.ListItemsRequest{}, func(li sdk.ListedItem) error {
		it := li.Item
		if li.Excluded {
			return nil
		}
		if matches(s, report.Item{ID: it.ID, Type: it.Type, Owner: it.Owner, Folder: it.FolderTitle}, it.Tags) {
			out = append(out, it)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing the items of %s: %w", o.TargetOrg.PortalURL, err)
	}
	return out, nil
}

// read is readState, retried as the policy says (reads only).
func (o *ReplaceOptions) read(ctx context.Context, it sdk.Item) (*itemState, error) {
	var st *itemState
	err := o.Retry.Do(ctx, func(ctx context.Context, _ int) error {
		var err error
		st, err = readState(ctx, o, it)
		return err
	})
	return st, err
}

// readState reads the item's JSON and data as they are now and computes
// the rewrite.
func readState(ctx context.Context, o *ReplaceOptions, it sdk.Item) (*itemState, error) {
	if len(it.Raw) == 0 || it.Owner == "" {
		full, err := targetItem(ctx, o.Target, it.ID)
		if err != nil {
			return nil, err
		}
		it = full
	}
	st := &itemState{item: it, raw: it.Raw, fields: url.Values{},
		rec: ReplaceItem{ID: it.ID, Title: it.Title, Type: it.Type, Owner: it.Owner}}
	var props map[string]any
	if err := json.Unmarshal(it.Raw, &props); err != nil {
		return nil, fmt.Errorf("the portal's item JSON does not parse: %w", err)
	}
	hosted := slices.Contains(it.TypeKeywords, "Hosted Service")
	for _, f := range ReplaceFields {
		v, _ := props[f].(string)
		if !strings.Contains(v, o.Find) {
			continue
		}
		if f == "url" && hosted {
			st.rec.Notes = append(st.rec.Notes, "its url is the hosted service's own address, set by the portal: not rewritten")
			continue
		}
		nv := strings.ReplaceAll(v, o.Find, o.Replace)
		st.fields.Set(f, nv)
		st.rec.Changes = append(st.rec.Changes, Change{Where: "item", Path: f, Old: v, New: nv, Count: strings.Count(v, o.Find)})
	}
	data, note, err := readData(ctx, o.Target, it.ID)
	if err != nil {
		return nil, fmt.Errorf("reading its data: %w", err)
	}
	if note == noteFile {
		st.fileData = true
		return st, nil
	}
	if note != "" {
		st.rec.Notes = append(st.rec.Notes, note)
		return st, nil
	}
	if data == nil {
		return st, nil
	}
	nd, changes, keys, err := rewriteJSON(data, o.Find, o.Replace)
	if err != nil {
		st.rec.Notes = append(st.rec.Notes, fmt.Sprintf("its data could not be searched (%v): not changed", err))
		return st, nil
	}
	st.data = data
	for _, k := range keys {
		st.rec.Notes = append(st.rec.Notes, fmt.Sprintf("data key at %s holds the text: keys are not rewritten", k))
	}
	if len(changes) > 0 {
		st.newData = nd
		st.rec.Changes = append(st.rec.Changes, changes...)
	}
	return st, nil
}

// noteFile is readData's note for data that is a file.
const noteFile = "its data is a file: not searched"

// readData reads an item's data when it is a JSON document. A file (a
// download, or a body that is not JSON) is not searched: note says so.
// No data is (nil, "", nil).
func readData(ctx context.Context, src sdk.Source, id string) (data []byte, note string, err error) {
	resp, err := src.Do(ctx, sdk.PortalRequest{Method: http.MethodGet, URL: "content/items/" + url.PathEscape(id) + "/data"})
	if sdk.IsNotFound(err) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment") ||
		mt != "" && mt != "application/json" && mt != "text/plain" && !strings.HasSuffix(mt, "+json") {
		return nil, noteFile, nil
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxDataBytes+1))
	if err != nil {
		return nil, "", arcgisrest.ClassifyTransport(err)
	}
	if len(b) > maxDataBytes {
		return nil, fmt.Sprintf("its data is larger than %d MiB: not searched", maxDataBytes>>20), nil
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, "", nil
	}
	if err := arcgisrest.CheckBody(resp.StatusCode, resp.Header, b, ""); err != nil {
		return nil, "", err
	}
	if !json.Valid(b) {
		return nil, "its data is not JSON: not searched", nil
	}
	return b, "", nil
}

// WriteReplacePlan prints the plan: per item every string that changes.
func WriteReplacePlan(w io.Writer, p *ReplacePlan) {
	n := 0
	for _, it := range p.Items {
		n += it.Replacements()
		fmt.Fprintf(w, "  ~ %s %q (%s), owner %s: %d replacement(s)\n", it.ID, it.Title, it.Type, it.Owner, it.Replacements())
		for _, c := range it.Changes {
			fmt.Fprintf(w, "      %s %s (%dx):\n        - %s\n        + %s\n", c.Where, c.Path, c.Count, excerpt(c.Old, p.Find), excerpt(c.New, p.Replace))
		}
		for _, note := range it.Notes {
			fmt.Fprintf(w, "      note: %s\n", note)
		}
	}
	for _, it := range p.Unmatched {
		for _, note := range it.Notes {
			fmt.Fprintf(w, "  = %s %q (%s): %s\n", it.ID, it.Title, it.Type, note)
		}
	}
	for _, it := range p.Unreadable {
		fmt.Fprintf(w, "  ! %s %q (%s): could not be read, not searched: %s\n", it.ID, it.Title, it.Type, it.Error)
	}
	if p.FileData > 0 {
		fmt.Fprintf(w, "  (%d item(s) hold a file as data, which is not searched; their properties were)\n", p.FileData)
	}
	if len(p.Items) == 0 {
		fmt.Fprintf(w, "No match: %q is in none of the %d item(s) searched (item %s and JSON data); nothing to change.\n",
			p.Find, p.Searched-len(p.Unreadable), strings.Join(ReplaceFields, ", "))
		return
	}
	fmt.Fprintf(w, "Plan: %d item(s) to change (%d replacement(s)), %d of %d searched without a match.\n", len(p.Items), n, len(p.Unmatched), p.Searched)
	if len(p.Unreadable) > 0 {
		fmt.Fprintf(w, "  warning: %d item(s) could not be read and were not searched (listed with !)\n", len(p.Unreadable))
	}
}

// excerpt shortens a long value around the first occurrence of mark.
func excerpt(s, mark string) string {
	const room = 80
	if len(s) <= 2*room+len(mark) {
		return quoted(s)
	}
	i := strings.Index(s, mark)
	if i < 0 {
		i = 0
	}
	from, to := max(0, i-room), min(len(s), i+len(mark)+room)
	out := quoted(s[from:to])
	if from > 0 {
		out = "…" + out
	}
	if to < len(s) {
		out += "…"
	}
	return out
}

func quoted(s string) string { return string(encodeString(s)) }

// ApplyReplace changes the plan's items. Each item is read again, its
// JSON saved as a safety copy, then rewritten and read back; an item that
// fails is recorded and the others go on.
func ApplyReplace(ctx context.Context, o *ReplaceOptions, p *ReplacePlan) *Report {
	rep := &Report{RestoreID: o.ReplaceID, Pipeline: o.Pipeline, Target: o.TargetOrg.PortalURL, Username: o.TargetOrg.Username,
		Started: time.Now().UTC(), Remap: map[string]string{}, Replace: &ReplaceRecord{Find: o.Find, Replace: o.Replace}}
	for _, planned := range p.Items {
		var rec ReplaceItem
		if ctx.Err() != nil {
			// Interrupted: what was not attempted is in the record as such.
			rec = *planned
			rec.Outcome = Canceled
		} else {
			rec = applyItem(ctx, o, planned, rep)
			if o.Progress != nil {
				o.Progress(len(rep.Replace.Items)+1, len(p.Items), rec)
			}
		}
		rep.Replace.Items = append(rep.Replace.Items, rec)
		rep.Items = append(rep.Items, Entry{ID: rec.ID, Title: rec.Title, Type: rec.Type,
			Step: Step{Action: sdk.ActionOverwrite, TargetItemID: rec.ID, Owner: rec.Owner, Outcome: rec.Outcome, Error: rec.Error, Warnings: rec.Warnings}})
	}
	rep.Finished = time.Now().UTC()
	return rep
}

func applyItem(ctx context.Context, o *ReplaceOptions, planned *ReplaceItem, rep *Report) ReplaceItem {
	fail := func(rec ReplaceItem, err error) ReplaceItem {
		rec.Outcome, rec.Error = Failed, err.Error()
		o.Log.Error("replace failed", "item", rec.ID, "title", rec.Title, "error", err.Error())
		return rec
	}
	it := sdk.Item{ID: planned.ID} // read whole by o.read
	// What is saved and what is changed come from this one read, so the
	// safety copy is exactly the state the change overwrites.
	st, err := o.read(ctx, it)
	if err != nil {
		return fail(*planned, fmt.Errorf("reading it again: %w", err))
	}
	it = st.item
	rec := st.rec
	if !sameChanges(rec.Changes, planned.Changes) {
		rec.Warnings = append(rec.Warnings, "the item changed since the plan: the text was replaced in its current JSON")
	}
	if len(rec.Changes) == 0 {
		rec.Outcome = Skipped
		rec.Warnings = append(rec.Warnings, "the text is no longer in the item: nothing changed")
		return rec
	}
	sc, err := takeJSONSafetyCopy(ctx, o, st)
	if err != nil {
		return fail(rec, fmt.Errorf("not changed: its safety copy could not be taken: %w", err))
	}
	rep.Safety = append(rep.Safety, *sc)
	form := url.Values{}
	for f, v := range st.fields {
		form[f] = v
	}
	if st.newData != nil {
		form.Set("text", string(st.newData))
	}
	if err := updateItem(ctx, o.Target, it.Owner, it.ID, form); err != nil {
		return fail(rec, err)
	}
	if st.newData != nil {
		got, _, err := readData(ctx, o.Target, it.ID)
		if err != nil {
			rec.Warnings = append(rec.Warnings, fmt.Sprintf("the data could not be read back to check it: %v", err))
		} else if !bytes.Equal(got, st.newData) {
			return fail(rec, fmt.Errorf("the portal holds other data than was written (read back %d bytes, wrote %d): undo puts the safety copy back", len(got), len(st.newData)))
		}
	}
	rec.Outcome = Overwritten
	if w := recordLeft(ctx, o.Target, rep, it.ID, st.newData); w != "" {
		rec.Warnings = append(rec.Warnings, w)
	}
	return rec
}

func sameChanges(a, b []Change) bool {
	return slices.EqualFunc(a, b, func(x, y Change) bool { return x == y })
}

// updateItem writes an item's fields (and data text) through the portal.
func updateItem(ctx context.Context, src sdk.Source, owner, id string, form url.Values) error {
	for _, v := range form {
		if v[0] == "" {
			// ArcGIS leaves a field sent empty as it was unless told.
			form.Set("clearEmptyFields", "true")
			break
		}
	}
	var a struct {
		Success bool `json:"success"`
	}
	p := "content/users/" + url.PathEscape(owner) + "/items/" + url.PathEscape(id) + "/update"
	// Sent again only when the portal turned it away unapplied (throttled,
	// or its token refused): arcgisrest.WriteJSON.
	if err := arcgisrest.WriteJSON(ctx, src.Do, retry.Policy{}, arcgisrest.JSONPost(p, form), nil, &a); err != nil {
		return fmt.Errorf("updating the item: %w", err)
	}
	if !a.Success {
		return fmt.Errorf("updating the item: the portal did not answer success")
	}
	return nil
}

// takeJSONSafetyCopy stores the item JSON and (when it changes) the data
// as they are, with safety.json, before anything is written.
func takeJSONSafetyCopy(ctx context.Context, o *ReplaceOptions, st *itemState) (*SafetyCopy, error) {
	if o.Safety == nil {
		return nil, fmt.Errorf("no sink to keep a safety copy in: nothing is changed without one")
	}
	sc := &SafetyCopy{ItemID: st.item.ID, Title: st.item.Title, Type: st.item.Type, Kind: SafetyJSON,
		Folder: SafetyFolder(o.ReplaceID, st.item.ID), Sink: o.SafetySinkName, Taken: time.Now().UTC(), Status: sdk.StatusExported}
	for f := range st.fields {
		sc.Fields = append(sc.Fields, f)
	}
	slices.Sort(sc.Fields)
	w := &safetyWriter{sink: o.Safety, dir: sc.Folder, seen: map[string]bool{}}
	put := func(name string, b []byte) error {
		return w.Write(ctx, sdk.Artifact{Name: name, MediaType: "application/json", Size: int64(len(b)), Format: "JSON"}, bytes.NewReader(b))
	}
	if err := put("item.json", st.raw); err != nil {
		return nil, fmt.Errorf("storing item.json: %w", err)
	}
	if st.newData != nil {
		if err := put("data.json", st.data); err != nil {
			return nil, fmt.Errorf("storing data.json: %w", err)
		}
	}
	sc.Artifacts = w.arts
	b, _ := json.MarshalIndent(sc, "", "  ")
	if _, err := o.Safety.Put(ctx, sdk.PutRequest{Path: sc.Folder + "/" + SafetyFile, MediaType: "application/json", Size: int64(len(b)), Body: bytes.NewReader(b)}); err != nil {
		return nil, fmt.Errorf("storing %s/%s: %w", sc.Folder, SafetyFile, err)
	}
	return sc, nil
}

// putBackJSON puts a SafetyJSON copy back: the properties it recorded and
// the data, checked against safety.json, then the data read back.
func putBackJSON(ctx context.Context, o *UndoOptions, sc *SafetyCopy) error {
	h := &safetyHost{o: o, sc: sc}
	read := func(name string) ([]byte, error) {
		rc, err := h.ReadArtifact(ctx, name)
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		return io.ReadAll(rc)
	}
	raw, err := read("item.json")
	if err != nil {
		return fmt.Errorf("safety copy item.json: %w", err)
	}
	var props map[string]any
	if err := json.Unmarshal(raw, &props); err != nil {
		return fmt.Errorf("safety copy item.json: %w", err)
	}
	form := url.Values{}
	for _, f := range sc.Fields {
		v, _ := props[f].(string)
		form.Set(f, v)
	}
	var data []byte
	if hasArtifact(sc, "data.json") {
		if data, err = read("data.json"); err != nil {
			return fmt.Errorf("safety copy data.json: %w", err)
		}
		form.Set("text", string(data))
	}
	// The item may have changed hands since: write as its owner now.
	it, err := targetItem(ctx, o.Target, sc.ItemID)
	if err != nil {
		return fmt.Errorf("reading the item: %w", err)
	}
	if err := updateItem(ctx, o.Target, it.Owner, sc.ItemID, form); err != nil {
		return err
	}
	if data != nil {
		got, _, err := readData(ctx, o.Target, sc.ItemID)
		if err != nil {
			return fmt.Errorf("reading the data back: %w", err)
		}
		if !bytes.Equal(got, data) {
			return fmt.Errorf("the portal holds other data than the safety copy after putting it back (%d bytes, want %d)", len(got), len(data))
		}
	}
	return nil
}

func hasArtifact(sc *SafetyCopy, name string) bool {
	for _, a := range sc.Artifacts {
		if a.Name == name {
			return true
		}
	}
	return false
}

// ReplaceRecord is what restore.json holds of a find and replace.
type ReplaceRecord struct {
	Find    string        `json:"find"`
	Replace string        `json:"replace"`
	Items   []ReplaceItem `json:"items"`
}

// WriteReplaceSummary is the readable report (Replace.txt).
func WriteReplaceSummary(w io.Writer, r *Report) {
	fmt.Fprintf(w, "Replace %s in %s as %s, %s: %q -> %q\n", r.RestoreID, r.Target, r.Username, r.Finished.Sub(r.Started).Round(time.Second),
		r.Replace.Find, r.Replace.Replace)
	counts := map[string]int{}
	for _, it := range r.Replace.Items {
		counts[it.Outcome]++
	}
	fmt.Fprintf(w, "%d changed, %d skipped, %d failed", counts[Overwritten], counts[Skipped], counts[Failed])
	if counts[Canceled] > 0 {
		fmt.Fprintf(w, ", %d not attempted (interrupted)", counts[Canceled])
	}
	fmt.Fprintln(w)
	for _, it := range r.Replace.Items {
		outcome := it.Outcome
		if outcome == Overwritten {
			outcome = "changed"
		}
		line := fmt.Sprintf("  %-8s %s %q (%s): %d replacement(s)", outcome, it.ID, it.Title, it.Type, it.Replacements())
		if it.Error != "" {
			line += ": " + it.Error
		}
		fmt.Fprintln(w, line)
		for _, c := range it.Changes {
			fmt.Fprintf(w, "      %s %s (%dx)\n", c.Where, c.Path, c.Count)
		}
		for _, warn := range it.Warnings {
			fmt.Fprintf(w, "      warning: %s\n", warn)
		}
	}
}

// StoreReplace writes restore.json (the record `restore undo` reads) and
// Replace.txt into sink under Folder(id).
func StoreReplace(ctx context.Context, sink sdk.Sink, r *Report) (string, error) {
	dir := Folder(r.RestoreID)
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", err
	}
	var txt bytes.Buffer
	WriteReplaceSummary(&txt, r)
	for _, f := range []struct {
		name, mt string
		body     []byte
	}{{"restore.json", "application/json", b}, {"Replace.txt", "text/plain", txt.Bytes()}} {
		if _, err := sink.Put(ctx, sdk.PutRequest{Path: dir + "/" + f.name, MediaType: f.mt, Size: int64(len(f.body)), Body: bytes.NewReader(f.body)}); err != nil {
			return dir, fmt.Errorf("storing %s/%s: %w", dir, f.name, err)
		}
	}
	return dir, nil
}
