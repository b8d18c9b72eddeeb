package restore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/arcgisrest"
)

// Undo of a restore: every safety copy is put back in place (the same
// restorer, overwrite mode, reading the copy from the sink, checked
// against its sha256), and exactly the items the restore created are
// deleted: those carrying its mark (MarkPrefix + restore id), whether
// restore.json lists them or not (a temporary upload a crash left behind),
// and none without it, whatever restore.json says.

// UndoOptions of one undo.
type UndoOptions struct {
	// Sink holds the restore's folder (the pipeline's first sink).
	Sink     sdk.Sink
	SinkName string
	// Target is the portal the restore wrote to, connected as TargetOrg.
	Target    sdk.Source
	TargetOrg sdk.OrgInfo
	// Restorers by item type, to put safety copies back.
	Restorers map[string]Restorer
	RestoreID string
	Log       *slog.Logger
	// Force puts back (or deletes) also the items changed since the
	// restore left them; without it they are kept and reported.
	Force bool
}

// UndoStep is one thing the undo does.
type UndoStep struct {
	// Action is "delete" (an item the restore created), "put back" (a
	// safety copy), "keep" (either, on an item changed since the restore,
	// without --force) or "already undone" (either, done by an earlier
	// undo of the same restore: never done twice).
	Action string `json:"action"`
	ItemID string `json:"item_id"`
	Title  string `json:"title"`
	Type   string `json:"type"`
	Owner  string `json:"owner,omitempty"`
	// Outcome after applying: done, failed, kept, or already undone.
	Outcome string `json:"outcome,omitempty"`
	// UndoneAt is when an undo did it (outcome done, or already undone:
	// when the earlier undo did).
	UndoneAt time.Time `json:"undone_at,omitzero"`
	Reason   string    `json:"reason,omitempty"`
	// Changed says how the item changed since the restore left it (its
	// modified stamp or data differ from restore.json's "left").
	Changed string `json:"changed_since,omitempty"`
	// Was is the action a kept or already undone step would have taken.
	Was    string `json:"would,omitempty"`
	safety *SafetyCopy
	// checked: restore.json recorded the item's state, so apply checks
	// it again right before acting.
	checked bool
}

// UndoPlan is what an undo will do, in order: deletions (last created
// first, so views go before their sources), then the safety copies.
type UndoPlan struct {
	RestoreID string     `json:"restore_id"`
	Report    *Report    `json:"-"`
	Steps     []UndoStep `json:"steps"`
	// Warnings: items restore.json names as created that do not carry the
	// mark (left alone), copies that cannot be put back.
	Warnings []string `json:"warnings,omitempty"`
}

// UndoReport is undo.json.
type UndoReport struct {
	RestoreID string     `json:"restore_id"`
	Target    string     `json:"target_portal"`
	Started   time.Time  `json:"started"`
	Finished  time.Time  `json:"finished"`
	Steps     []UndoStep `json:"steps"`
	Warnings  []string   `json:"warnings,omitempty"`
}

// Failed counts the steps that failed.
func (r *UndoReport) Failed() int {
	return countSteps(r.Steps, func(s UndoStep) bool { return s.Outcome == "failed" })
}

// Kept counts the items left as they are because they changed since the
// restore.
func (r *UndoReport) Kept() int {
	return countSteps(r.Steps, func(s UndoStep) bool { return s.Outcome == "kept" })
}

// AlreadyUndone is the action and outcome of a step an earlier undo of
// the same restore did (undo.json): a second undo does not do it again
// (the item may have been edited since the first) and reports it so.
const AlreadyUndone = "already undone"

// Actionable reports whether applying the plan would change anything.
func (p *UndoPlan) Actionable() bool {
	return countSteps(p.Steps, func(s UndoStep) bool { return s.Action == "delete" || s.Action == "put back" }) > 0
}

// AlreadyUndone counts the plan's steps an earlier undo did.
func (p *UndoPlan) AlreadyUndone() int {
	return countSteps(p.Steps, func(s UndoStep) bool { return s.Action == AlreadyUndone })
}

// Kept counts the plan's items changed since the restore that it keeps.
func (p *UndoPlan) Kept() int {
	return countSteps(p.Steps, func(s UndoStep) bool { return s.Action == "keep" })
}

// countSteps counts the steps of a plan (by Action) or of a report (by
// Outcome) that match.
func countSteps(steps []UndoStep, match func(UndoStep) bool) int {
	n := 0
	for _, s := range steps {
		if match(s) {
			n++
		}
	}
	return n
}

// guard decides a step on an item the restore changed or created: one
// changed since the restore left it is kept unless o.Force. warn says
// when restore.json holds no state of the item to compare with.
func guard(ctx context.Context, o *UndoOptions, rep *Report, it sdk.Item, st *UndoStep) (warn string, err error) {
	what, known, err := changedSince(ctx, o.Target, rep, it)
	if err != nil {
		return "", fmt.Errorf("item %s (%q): %w", it.ID, it.Title, err)
	}
	if !known {
		return fmt.Sprintf("restore.json does not record item %s (%q) as the restore left it (an older agolpipe, or the step did not finish): undo cannot tell whether it was edited since", it.ID, it.Title), nil
	}
	st.checked = true
	if what == "" {
		return "", nil
	}
	st.Changed = what
	if !o.Force {
		st.Was, st.Action = st.Action, "keep"
		st.Reason = "changed since the restore (" + what + "): kept as it is; --force " + map[string]string{"delete": "deletes it", "put back": "puts the safety copy back"}[st.Was]
	}
	return "", nil
}

// ErrNoRestore means the sink holds nothing of that restore.
var ErrNoRestore = errors.New("no such restore")

// LoadReport reads restores/<id>/restore.json from sink; when the restore
// stopped before writing it, the report is rebuilt from the safety copies
// in its folder (deletions then go by the mark alone).
func LoadReport(ctx context.Context, sink sdk.Sink, restoreID string) (*Report, error) {
	if strings.ContainsAny(restoreID, "/\\") || restoreID == "" || restoreID == "." || restoreID == ".." {
		return nil, fmt.Errorf("%q is not a restore id", restoreID)
	}
	var rep Report
	err := getJSON(ctx, sink, Folder(restoreID)+"/restore.json", &rep)
	if err == nil {
		return &rep, nil
	}
	if !sdk.IsNotFound(err) {
		return nil, err
	}
	rep = Report{RestoreID: restoreID}
	err = sink.List(ctx, sdk.ListRequest{Prefix: Folder(restoreID) + "/safety/"}, func(oi sdk.ObjectInfo) error {
		if !strings.HasSuffix(oi.Path, "/"+SafetyFile) {
			return nil
		}
		var sc SafetyCopy
		if err := getJSON(ctx, sink, oi.Path, &sc); err != nil {
			return err
		}
		rep.Safety = append(rep.Safety, sc)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(rep.Safety) == 0 {
		return nil, fmt.Errorf("%w: the sink holds neither %s/restore.json nor safety copies", ErrNoRestore, Folder(restoreID))
	}
	rep.Warnings = append(rep.Warnings, "restore.json is missing (the restore stopped before its end): rebuilt from the safety copies")
	return &rep, nil
}

func getJSON(ctx context.Context, sink sdk.Sink, p string, v any) error {
	rc, err := sink.Get(ctx, sdk.GetRequest{Path: p})
	if err != nil {
		return err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 256<<20))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %v", p, err)
	}
	return nil
}

// LoadUndo reads the record of an earlier undo of the restore
// (restores/<id>/undo.json); nil when there was none.
func LoadUndo(ctx context.Context, sink sdk.Sink, restoreID string) (*UndoReport, error) {
	var r UndoReport
	err := getJSON(ctx, sink, Folder(restoreID)+"/undo.json", &r)
	if sdk.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the record of an earlier undo (%s/undo.json): %w", Folder(restoreID), err)
	}
	return &r, nil
}

// undoneBefore indexes the steps an earlier undo did, by action and item
// id, with when.
func undoneBefore(prev *UndoReport) map[string]UndoStep {
	done := map[string]UndoStep{}
	if prev == nil {
		return done
	}
	for _, s := range prev.Steps {
		action := s.Action
		switch s.Outcome {
		case "done":
		case AlreadyUndone:
			action = s.Was
		default:
			continue
		}
		if s.UndoneAt.IsZero() {
			s.UndoneAt = prev.Finished // an undo.json from before undone_at
		}
		done[action+"\x00"+s.ItemID] = s
	}
	return done
}

// alreadyUndone is the plan's step for something an earlier undo did.
func alreadyUndone(prev UndoStep, action string) UndoStep {
	what := map[string]string{"delete": "deleted", "put back": "its safety copy put back"}[action]
	return UndoStep{Action: AlreadyUndone, Was: action, ItemID: prev.ItemID, Title: prev.Title, Type: prev.Type, Owner: prev.Owner,
		UndoneAt: prev.UndoneAt, Reason: fmt.Sprintf("%s by the undo of %s: nothing left to do", what, prev.UndoneAt.UTC().Format("2006-01-02 15:04:05 UTC"))}
}

// PlanUndo decides what undoing the restore does, changing nothing. What
// an earlier undo of the same restore did (its undo.json) is planned as
// already undone, not done again.
func PlanUndo(ctx context.Context, o *UndoOptions, rep *Report) (*UndoPlan, error) {
	if rep.Target != "" && o.TargetOrg.PortalURL != "" && strings.TrimRight(rep.Target, "/") != strings.TrimRight(o.TargetOrg.PortalURL, "/") {
		return nil, fmt.Errorf("restore %s wrote to %s, but this pipeline signs in to %s: undo with --to the pipeline file the restore used",
			o.RestoreID, rep.Target, o.TargetOrg.PortalURL)
	}
	p := &UndoPlan{RestoreID: o.RestoreID, Report: rep}
	if rep.Incomplete {
		p.Warnings = append(p.Warnings, "the restore did not finish (killed): restore.json lists what it had done until then; items it created after are found by its mark alone, once the portal's search has indexed them")
	}
	mark := MarkPrefix + o.RestoreID
	prev, err := LoadUndo(ctx, o.Sink, o.RestoreID)
	if err != nil {
		return nil, err
	}
	done := undoneBefore(prev)
	// Created items: those restore.json names, then any other carrying
	// the mark; last created first.
	var ids []string
	for i := len(rep.Items) - 1; i >= 0; i-- {
		if e := rep.Items[i]; e.Outcome == Restored && e.NewItemID != "" {
			ids = append(ids, e.NewItemID)
		}
	}
	found, err := markedItems(ctx, o, mark)
	if err != nil {
		return nil, err
	}
	for _, id := range found {
		if !slices.Contains(ids, id) {
			ids = append([]string{id}, ids...) // leftovers (uploads) first
		}
	}
	for _, id := range ids {
		if d, ok := done["delete\x00"+id]; ok {
			p.Steps = append(p.Steps, alreadyUndone(d, "delete"))
			continue
		}
		it, err := targetItem(ctx, o.Target, id)
		if sdk.IsNotFound(err) {
			p.Warnings = append(p.Warnings, fmt.Sprintf("item %s created by the restore is no longer in the target", id))
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading item %s: %w", id, err)
		}
		if !slices.Contains(it.TypeKeywords, mark) {
			p.Warnings = append(p.Warnings, fmt.Sprintf("item %s (%q) does not carry the restore's mark %s: left alone (delete it by hand if the restore made it)", id, it.Title, mark))
			continue
		}
		st := UndoStep{Action: "delete", ItemID: id, Title: it.Title, Type: it.Type, Owner: it.Owner}
		if slices.ContainsFunc(rep.Items, func(e Entry) bool { return e.NewItemID == id }) {
			// A leftover upload restore.json does not list has no
			// recorded state: only listed items are checked.
			warn, err := guard(ctx, o, rep, it, &st)
			if err != nil {
				return nil, err
			}
			if warn != "" {
				p.Warnings = append(p.Warnings, warn)
			}
		}
		p.Steps = append(p.Steps, st)
	}
	for i := range rep.Safety {
		sc := &rep.Safety[i]
		if d, ok := done["put back\x00"+sc.ItemID]; ok {
			p.Steps = append(p.Steps, alreadyUndone(d, "put back"))
			continue
		}
		st := UndoStep{Action: "put back", ItemID: sc.ItemID, Title: sc.Title, Type: sc.Type, safety: sc}
		if _, ok := o.Restorers[sc.Type]; !ok && sc.Kind != SafetyJSON {
			p.Warnings = append(p.Warnings, fmt.Sprintf("no exporter of this pipeline restores %s items: the safety copy of %s (%q) stays in %s", sc.Type, sc.ItemID, sc.Title, sc.Folder))
			continue
		}
		it, err := targetItem(ctx, o.Target, sc.ItemID)
		switch {
		case sdk.IsNotFound(err):
			p.Warnings = append(p.Warnings, fmt.Sprintf("item %s (%q) was deleted since the restore: its safety copy stays in %s", sc.ItemID, sc.Title, sc.Folder))
			continue
		case err != nil:
			return nil, fmt.Errorf("reading item %s: %w", sc.ItemID, err)
		}
		warn, err := guard(ctx, o, rep, it, &st)
		if err != nil {
			return nil, err
		}
		if warn != "" {
			p.Warnings = append(p.Warnings, warn)
		}
		p.Steps = append(p.Steps, st)
	}
	return p, nil
}

// markedItems searches the target for items carrying the mark. A mark is
// a keyword like any other: the caller checks each item's own keywords.
func markedItems(ctx context.Context, o *UndoOptions, mark string) ([]string, error) {
	var ids []string
	q := url.Values{"q": {fmt.Sprintf(`typekeywords:"%s"`, mark)}, "num": {"100"}, "start": {"1"}}
	for range 100 {
		var page struct {
			Results []struct {
				ID           string   `json:"id"`
				TypeKeywords []string `json:"typeKeywords"`
			} `json:"results"`
			NextStart int `json:"nextStart"`
		}
		if err := readJSON(ctx, o.Target.Do, arcgisrest.JSON("search", q), &page); err != nil {
			return nil, fmt.Errorf("searching the target for items marked %s: %w", mark, err)
		}
		for _, r := range page.Results {
			if slices.Contains(r.TypeKeywords, mark) {
				ids = append(ids, r.ID)
			}
		}
		if page.NextStart <= 0 {
			break
		}
		q.Set("start", fmt.Sprint(page.NextStart))
	}
	return ids, nil
}

// WriteUndoPlan prints the plan.
func WriteUndoPlan(w io.Writer, p *UndoPlan) {
	for _, s := range p.Steps {
		sym := map[string]string{"delete": "-", "put back": "~", "keep": "!", AlreadyUndone: "="}[s.Action]
		line := fmt.Sprintf("  %s %-8s %s %q (%s)", sym, s.Action, s.ItemID, s.Title, s.Type)
		switch {
		case s.Action == "keep" || s.Action == AlreadyUndone:
			line += ": " + s.Reason
		case s.Changed != "":
			line += ": changed since the restore (" + s.Changed + "), --force: " + s.Action + " all the same"
		}
		fmt.Fprintln(w, line)
	}
	n := map[string]int{}
	for _, s := range p.Steps {
		n[s.Action]++
	}
	fmt.Fprintf(w, "Undo: %d item(s) the restore created to delete, %d safety copy(ies) to put back.\n", n["delete"], n["put back"])
	if n["keep"] > 0 {
		fmt.Fprintf(w, "Kept: %d item(s) changed since the restore (edits made after it would be lost): --force undoes them too.\n", n["keep"])
	}
	if n[AlreadyUndone] > 0 {
		fmt.Fprintf(w, "Already undone: %d item(s), by an earlier undo of this restore (not done again).\n", n[AlreadyUndone])
	}
	for _, warn := range p.Warnings {
		fmt.Fprintf(w, "  warning: %s\n", warn)
	}
}

// ApplyUndo carries out the plan; a step that fails is recorded and the
// others go on.
func ApplyUndo(ctx context.Context, o *UndoOptions, p *UndoPlan) *UndoReport {
	rep := &UndoReport{RestoreID: o.RestoreID, Target: o.TargetOrg.PortalURL, Started: time.Now().UTC(), Warnings: append([]string(nil), p.Warnings...)}
	for _, s := range p.Steps {
		var err error
		if s.checked && s.Action != "keep" && !o.Force {
			// Checked again right before acting: an edit made while the
			// plan was shown is not overwritten either.
			err = recheck(ctx, o, p.Report, &s)
		}
		switch {
		case err != nil:
		case s.Action == "keep" || s.Action == AlreadyUndone:
		case s.Action == "delete":
			err = arcgisrest.DeleteItem(ctx, o.Target.Do, s.Owner, s.ItemID, o.TargetOrg.Mode != "enterprise", arcgisrest.DeleteOptions{})
		case s.Action == "put back":
			if s.safety.Kind == SafetyJSON {
				err = putBackJSON(ctx, o, s.safety)
			} else {
				err = putBack(ctx, o, s.safety)
			}
		}
		switch {
		case err != nil:
			s.Outcome, s.Reason = "failed", err.Error()
			o.Log.Error("undo step failed", "action", s.Action, "item", s.ItemID, "title", s.Title, "error", err.Error())
		case s.Action == "keep":
			s.Outcome = "kept"
			o.Log.Warn("undo kept an item changed since the restore", "item", s.ItemID, "title", s.Title, "changed", s.Changed)
		case s.Action == AlreadyUndone:
			s.Outcome = AlreadyUndone
		default:
			s.Outcome, s.UndoneAt = "done", time.Now().UTC()
		}
		rep.Steps = append(rep.Steps, s)
		if ctx.Err() != nil {
			break
		}
	}
	rep.Finished = time.Now().UTC()
	return rep
}

// recheck reads the item again and turns the step into a kept one when
// it changed since the restore; an item gone since is nothing to undo.
func recheck(ctx context.Context, o *UndoOptions, rep *Report, s *UndoStep) error {
	it, err := targetItem(ctx, o.Target, s.ItemID)
	if err != nil {
		return fmt.Errorf("reading it again before acting: %w", err)
	}
	_, err = guard(ctx, o, rep, it, s)
	return err
}

// putBack restores one safety copy in place with its type's restorer.
func putBack(ctx context.Context, o *UndoOptions, sc *SafetyCopy) error {
	r := o.Restorers[sc.Type]
	var manifest []byte
	req := sdk.RestoreRequest{
		Item:      sdk.Item{ID: sc.ItemID, Title: sc.Title, Type: sc.Type},
		RunID:     "safety-" + o.RestoreID,
		RestoreID: o.RestoreID + "-undo", Mark: MarkPrefix + o.RestoreID + "-undo",
		Target: o.TargetOrg, Owner: o.TargetOrg.Username, Mode: sdk.RestoreOverwrite, TargetItemID: sc.ItemID,
		Remap: map[string]string{}, ManifestRecord: manifest,
	}
	for _, a := range sc.Artifacts {
		req.Artifacts = append(req.Artifacts, sdk.RestoreArtifact{Name: a.Name, Size: a.Size, SHA256: a.SHA256, Format: a.Format, MediaType: a.MediaType})
	}
	res, err := r.R.Restore(ctx, req, &safetyHost{o: o, sc: sc})
	if err != nil {
		return err
	}
	switch res.Action {
	case sdk.ActionOverwrite, sdk.ActionSkip:
		return nil
	default:
		return fmt.Errorf("the restorer did not put it back (%s): %s", res.Action, res.Reason)
	}
}

// safetyHost serves a safety copy's artifacts to a restorer, checked
// against safety.json, and the target portal.
type safetyHost struct {
	o  *UndoOptions
	sc *SafetyCopy
}

func (h *safetyHost) Portal(ctx context.Context, req sdk.PortalRequest) (*sdk.PortalResponse, error) {
	return h.o.Target.Do(ctx, req)
}
func (h *safetyHost) Progress(context.Context, sdk.Progress) {}
func (h *safetyHost) Log(_ context.Context, level sdk.LogLevel, msg string) {
	args := []any{"item", h.sc.ItemID, "title", h.sc.Title, "undo", h.o.RestoreID}
	if level == sdk.LogWarn || level == sdk.LogError {
		h.o.Log.Warn(msg, args...)
		return
	}
	h.o.Log.Info(msg, args...)
}

func (h *safetyHost) ReadArtifact(ctx context.Context, name string) (io.ReadCloser, error) {
	for _, a := range h.sc.Artifacts {
		if a.Name != name {
			continue
		}
		rc, err := h.o.Sink.Get(ctx, sdk.GetRequest{Path: h.sc.Folder + "/" + a.Name})
		if err != nil {
			return nil, err
		}
		return &checkedReader{rc: rc, want: a, h: sha256.New()}, nil
	}
	return nil, sdk.Classify(sdk.KindNotFound, fmt.Errorf("the safety copy of item %s holds no %q", h.sc.ItemID, name))
}

// checkedReader fails a safety copy artifact that does not match
// safety.json (size, sha256) at its end, before the reader reports EOF.
type checkedReader struct {
	rc   io.ReadCloser
	want SafetyArtifact
	h    interface {
		io.Writer
		Sum([]byte) []byte
	}
	n int64
}

func (c *checkedReader) Read(p []byte) (int, error) {
	n, err := c.rc.Read(p)
	c.n += int64(n)
	c.h.Write(p[:n])
	if errors.Is(err, io.EOF) {
		if c.n != c.want.Size || hex.EncodeToString(c.h.Sum(nil)) != c.want.SHA256 {
			return n, sdk.Classify(sdk.KindPermanent, fmt.Errorf("safety copy artifact %s is not as stored (%d bytes, sha256 differs or size %d expected): not put back", c.want.Name, c.n, c.want.Size))
		}
	}
	return n, err
}

func (c *checkedReader) Close() error { return c.rc.Close() }

// StoreUndo writes undo.json and Undo.txt beside the restore's report.
func StoreUndo(ctx context.Context, sink sdk.Sink, r *UndoReport) error {
	b, _ := json.MarshalIndent(r, "", "  ")
	var txt bytes.Buffer
	WriteUndoSummary(&txt, r)
	for _, f := range []struct {
		name, mt string
		body     []byte
	}{{"undo.json", "application/json", b}, {"Undo.txt", "text/plain", txt.Bytes()}} {
		if _, err := sink.Put(ctx, sdk.PutRequest{Path: Folder(r.RestoreID) + "/" + f.name, MediaType: f.mt, Size: int64(len(f.body)), Body: bytes.NewReader(f.body)}); err != nil {
			return fmt.Errorf("storing %s/%s: %w", Folder(r.RestoreID), f.name, err)
		}
	}
	return nil
}

// WriteUndoSummary is the readable undo report.
func WriteUndoSummary(w io.Writer, r *UndoReport) {
	fmt.Fprintf(w, "Undo of restore %s in %s, %s\n", r.RestoreID, r.Target, r.Finished.Sub(r.Started).Round(time.Second))
	for _, s := range r.Steps {
		action := s.Action
		if s.Action == AlreadyUndone {
			action = s.Was // "already undone put back <id>"
		}
		line := fmt.Sprintf("  %-6s %-8s %s %q (%s)", s.Outcome, action, s.ItemID, s.Title, s.Type)
		if s.Reason != "" {
			line += ": " + s.Reason
		}
		fmt.Fprintln(w, line)
	}
	for _, warn := range r.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
}
