package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"reflect"
	"sort"
	"strings"

	"github.com/agolpipe/agolpipe/core/catalog"
	"github.com/agolpipe/agolpipe/core/report"
	"github.com/agolpipe/agolpipe/core/restore"
	"github.com/agolpipe/agolpipe/core/verify"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/arcgisrest"
)

// A restore drill proves a backup can come back, not only that its bytes
// are intact: N items of the run (a sample across types, feature services
// first) are restored as new, private items into a scratch folder of the
// target portal, each is compared with the backup (type, data JSON after
// the id remap, a file item's bytes, a feature service's rows against the
// counts at export time), and then exactly the items the drill created are
// deleted (restore undo: by the restore's mark) and the scratch folder
// removed once empty. restore.json and undo.json stay in the pipeline's
// first sink under restores/<drill id>.

// drillResult is one item of a drill.
type drillResult struct {
	Item    report.Item
	NewID   string
	Outcome string // restored, failed, cannot
	Problem string // why it does not match the backup ("" when it does)
	Error   string
}

// runDrill restores n items of the run in folder and reports; it returns
// whether every sampled item came back equal to the backup and was removed.
func runDrill(ctx context.Context, out io.Writer, sr *storedRuns, target string, vars, varFiles []string, folder string, n int) (bool, error) {
	r, err := sr.findRun(ctx, folder)
	if err != nil {
		return false, err
	}
	m, err := sr.cat.Manifest(ctx, r)
	if err != nil {
		return false, withExit(exitPartial, err)
	}
	types := make([]string, 0, len(m.Items))
	for _, it := range m.Items {
		types = append(types, it.Type)
	}
	s, org, restorers, err := openRestoreTarget(ctx, target, vars, varFiles, types)
	if err != nil {
		return false, err
	}
	defer s.close()
	sample := drillSample(m, restorers, n)
	if len(sample) == 0 {
		return false, withExit(exitPartial, fmt.Errorf("drill: run %s holds no exported item of a type agolpipe can restore", r.Folder))
	}
	first := sr.cat.Sinks()[0]
	id := restore.DrillPrefix + newRestoreID()
	scratch := "agolpipe-" + id
	o := &restore.Options{Catalog: sr.cat, Run: r, Manifest: m, Target: s.opts.Source, TargetOrg: org, Restorers: restorers,
		Select: restore.Selection{Items: sample, NoDependencies: true}, Mode: sdk.RestoreNew, RestoreID: id, Log: s.log.Logger(),
		Safety: first.Sink, SafetySinkName: first.Name, Private: true}
	fmt.Fprintf(out, "\nRestore drill %s: %d item(s) of run %s (sink %q) restored as new, private items into folder %q of %s as %s\n",
		id, len(sample), r.Folder, r.Sink, scratch, org.PortalURL, org.Username)
	plan, err := restore.MakePlan(ctx, o)
	if err != nil {
		return false, withExit(exitPartial, fmt.Errorf("drill: %w", err))
	}
	for _, st := range plan.Steps {
		st.Folder, st.Owner = scratch, "" // the signed-in user's scratch folder, whatever the backup's
	}
	rep := restore.Apply(ctx, o, plan)
	if _, err := restore.Store(ctx, first.Sink, rep); err != nil {
		fmt.Fprintf(out, "  note: the drill's restore.json could not be stored in sink %q: %v\n", first.Name, err)
	}
	var results []drillResult
	for _, e := range rep.Items {
		dr := drillResult{Item: e.Step.Item, NewID: e.NewItemID, Outcome: e.Outcome, Error: e.Error}
		if dr.Item.ID == "" {
			dr.Item = report.Item{ID: e.ID, Title: e.Title, Type: e.Type}
		}
		if e.Outcome == restore.NotRestored {
			dr.Error = e.Reason
		}
		if e.Outcome == restore.Restored && e.NewItemID != "" {
			dr.Problem = compareRestored(ctx, sr.cat, r, m, s.opts.Source, dr.Item, e.NewItemID, rep.Remap)
		}
		results = append(results, dr)
	}

	// Remove exactly what the drill created (its mark), then its folder.
	uo := &restore.UndoOptions{Sink: first.Sink, SinkName: first.Name, Target: s.opts.Source, TargetOrg: org, Restorers: restorers, RestoreID: id, Log: s.log.Logger()}
	cleaned := true
	up, err := restore.PlanUndo(ctx, uo, rep)
	if err != nil {
		cleaned = false
		fmt.Fprintf(out, "  CLEAN-UP FAILED: %v; run 'agolpipe restore undo %s %s --yes'\n", err, sr.p.Filename, id)
	} else {
		ur := restore.ApplyUndo(ctx, uo, up)
		_ = restore.StoreUndo(ctx, first.Sink, ur)
		if ur.Failed() > 0 {
			cleaned = false
			fmt.Fprintf(out, "  CLEAN-UP FAILED for %d item(s); run 'agolpipe restore undo %s %s --yes'\n", ur.Failed(), sr.p.Filename, id)
		}
	}
	if cleaned {
		if err := deleteEmptyFolder(ctx, s.opts.Source, org.Username, scratch); err != nil {
			fmt.Fprintf(out, "  note: scratch folder %q not removed: %v\n", scratch, err)
		}
	}

	ok := cleaned
	restored := 0
	for _, dr := range results {
		line := fmt.Sprintf("  - %s %q (%s): ", dr.Item.ID, dr.Item.Title, dr.Item.Type)
		switch {
		case dr.Outcome != restore.Restored:
			ok = false
			line += fmt.Sprintf("NOT RESTORED (%s): %s", dr.Outcome, dr.Error)
		case dr.Problem != "":
			ok = false
			line += fmt.Sprintf("restored as %s, DIFFERS from the backup: %s", dr.NewID, dr.Problem)
		default:
			restored++
			line += fmt.Sprintf("restored as %s, matches the backup, deleted", dr.NewID)
		}
		fmt.Fprintln(out, line)
	}
	if ok {
		fmt.Fprintf(out, "Drill: %d of %d item(s) came back equal to the backup; the copies and the scratch folder are gone.\n", restored, len(results))
	} else {
		fmt.Fprintf(out, "Drill: FAILED: %d of %d item(s) came back equal to the backup (restore.json and undo.json in sink %q under %s).\n", restored, len(results), first.Name, restore.Folder(id))
	}
	return ok, nil
}

// drillSample picks up to n exported items that have a restorer, spread
// across types (feature services first, then the other types in turn).
func drillSample(m *report.Run, restorers map[string]restore.Restorer, n int) []string {
	byType := map[string][]string{}
	var types []string
	for _, it := range m.Items {
		if it.Status != sdk.StatusExported {
			continue
		}
		if _, ok := restorers[it.Type]; !ok {
			continue
		}
		if byType[it.Type] == nil {
			types = append(types, it.Type)
		}
		byType[it.Type] = append(byType[it.Type], it.ID)
	}
	sort.SliceStable(types, func(i, j int) bool {
		if (types[i] == "Feature Service") != (types[j] == "Feature Service") {
			return types[i] == "Feature Service"
		}
		return types[i] < types[j]
	})
	var out []string
	for round := 0; len(out) < n; round++ {
		added := false
		for _, t := range types {
			if round < len(byType[t]) && len(out) < n {
				out = append(out, byType[t][round])
				added = true
			}
		}
		if !added {
			break
		}
	}
	return out
}

// compareRestored compares a restored item with the backup; it returns
// what differs, or "".
func compareRestored(ctx context.Context, cat *catalog.Catalog, r catalog.Run, m *report.Run, src sdk.Source, it report.Item, newID string, remap map[string]string) string {
	var got struct {
		Type string `json:"type"`
	}
	if err := arcgisrest.GetJSON(ctx, src.Do, arcgisrest.JSON("content/items/"+url.PathEscape(newID), nil), &got); err != nil {
		return fmt.Sprintf("the restored item cannot be read: %v", err)
	}
	if got.Type != it.Type {
		return fmt.Sprintf("type %q, the backup's is %q", got.Type, it.Type)
	}
	var problems []string
	for _, a := range m.Artifacts {
		if a.ItemID != it.ID {
			continue
		}
		switch {
		case a.Name == "data.json":
			if p := compareDataJSON(ctx, cat, r, a, src, newID, remap); p != "" {
				problems = append(problems, p)
			}
		case a.Name == verify.CountsArtifact:
			if p := compareCounts(ctx, cat, r, a, src, newID); p != "" {
				problems = append(problems, p)
			}
		case a.Exporter == "file" && a.Format == it.Type:
			if p := compareFile(ctx, src, newID, a); p != "" {
				problems = append(problems, p)
			}
		}
	}
	return strings.Join(problems, "; ")
}

// readArtifact reads a small artifact whole, checked against the manifest.
func readArtifact(ctx context.Context, cat *catalog.Catalog, r catalog.Run, a report.Artifact) ([]byte, error) {
	rc, err := cat.Open(ctx, r, a)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(io.LimitReader(rc, 64<<20))
}

func compareDataJSON(ctx context.Context, cat *catalog.Catalog, r catalog.Run, a report.Artifact, src sdk.Source, newID string, remap map[string]string) string {
	b, err := readArtifact(ctx, cat, r, a)
	if err != nil {
		return fmt.Sprintf("data.json of the backup: %v", err)
	}
	text := string(b)
	for old, nu := range remap {
		text = strings.ReplaceAll(text, old, nu)
	}
	var want, have any
	if err := json.Unmarshal([]byte(text), &want); err != nil {
		return fmt.Sprintf("data.json of the backup does not parse: %v", err)
	}
	resp, err := src.Do(ctx, sdk.PortalRequest{Method: "GET", URL: "content/items/" + url.PathEscape(newID) + "/data"})
	if err != nil {
		return fmt.Sprintf("the restored item's data cannot be read: %v", err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&have); err != nil {
		return fmt.Sprintf("the restored item's data is not JSON: %v", err)
	}
	if !reflect.DeepEqual(want, have) {
		return "its data differs from data.json in the backup"
	}
	return ""
}

func compareCounts(ctx context.Context, cat *catalog.Catalog, r catalog.Run, a report.Artifact, src sdk.Source, newID string) string {
	b, err := readArtifact(ctx, cat, r, a)
	if err != nil {
		return fmt.Sprintf("counts.json of the backup: %v", err)
	}
	var c struct {
		Layers []struct {
			ID   int    `json:"id"`
			Name string `json:"name"`
			Rows int64  `json:"rows"`
		} `json:"layers"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return fmt.Sprintf("counts.json of the backup does not parse: %v", err)
	}
	live, err := verify.SourceCounts(src)(ctx, newID)
	if err != nil {
		return fmt.Sprintf("the restored service cannot be counted: %v", err)
	}
	var diffs []string
	for _, l := range c.Layers {
		got, ok := live[l.ID]
		if !ok || got.Rows != l.Rows {
			diffs = append(diffs, fmt.Sprintf("layer %d (%s): %d rows backed up, %d restored", l.ID, l.Name, l.Rows, got.Rows))
		}
	}
	return strings.Join(diffs, "; ")
}

func compareFile(ctx context.Context, src sdk.Source, newID string, a report.Artifact) string {
	resp, err := src.Do(ctx, sdk.PortalRequest{Method: "GET", URL: "content/items/" + url.PathEscape(newID) + "/data"})
	if err != nil {
		return fmt.Sprintf("the restored file cannot be read: %v", err)
	}
	defer resp.Body.Close()
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	if err != nil {
		return fmt.Sprintf("the restored file cannot be read: %v", err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); n != a.Size || got != a.SHA256 {
		return fmt.Sprintf("its file (%d bytes, sha256 %s) differs from the backup's %s (%d bytes, sha256 %s)", n, got, a.Name, a.Size, a.SHA256)
	}
	return ""
}

// deleteEmptyFolder removes the drill's scratch folder of user, only when
// it holds nothing (the drill created it under a name of its own).
func deleteEmptyFolder(ctx context.Context, src sdk.Source, user, title string) error {
	var content struct {
		Folders []struct {
			ID    string `json:"id"`
			Title string `json:"title"`
		} `json:"folders"`
	}
	if err := arcgisrest.GetJSON(ctx, src.Do, arcgisrest.JSON("content/users/"+url.PathEscape(user), nil), &content); err != nil {
		return err
	}
	for _, f := range content.Folders {
		if f.Title != title {
			continue
		}
		var items struct {
			Items []json.RawMessage `json:"items"`
		}
		if err := arcgisrest.GetJSON(ctx, src.Do, arcgisrest.JSON("content/users/"+url.PathEscape(user)+"/"+url.PathEscape(f.ID), nil), &items); err != nil {
			return err
		}
		if len(items.Items) > 0 {
			return fmt.Errorf("it still holds %d item(s)", len(items.Items))
		}
		var res struct{}
		return arcgisrest.GetJSON(ctx, src.Do, arcgisrest.JSONPost("content/users/"+url.PathEscape(user)+"/"+url.PathEscape(f.ID)+"/delete", nil), &res)
	}
	return nil
}
