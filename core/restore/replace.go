package restore

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/agolpipe/agolpipe/core/report"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/arcgisrest"
)

// Find and replace in the JSON of live items (`agolpipe replace`): every
// occurrence of a URL or id in an item's data JSON (web map layers, app
// and dashboard data sources...) and in the url of an item that is not a
// hosted service is rewritten, with the plan, safety copies and undo of a
// restore: the report goes to restores/<id>/ like one, each changed item's
// state before is a safety copy there, and `agolpipe restore undo` puts
// them back.

// ReplaceOptions of one find and replace.
type ReplaceOptions struct {
	// Source is the pipeline's portal, signed in as Org.
	Source    sdk.Source
	Org       sdk.OrgInfo
	Restorers map[string]Restorer
	Select    Selection
	Find      string
	Replace   string
	// ID names the change (a restore id: its folder is Folder(ID)).
	ID       string
	Pipeline string
	// Safety is the sink for the safety copies and the report.
	Safety         sdk.Sink
	SafetySinkName string
	Log            *slog.Logger
}

// ReplaceStep is one item the replace changes, or cannot.
type ReplaceStep struct {
	Item sdk.Item
	// InData and InURL count the occurrences found.
	InData int
	InURL  bool
	// Cannot says why the item is not changed although it holds the text.
	Cannot string
}

// ReplacePlan lists the items that hold the text, in listing order.
type ReplacePlan struct {
	Steps []*ReplaceStep
	// Scanned counts the selected items looked at.
	Scanned  int
	Warnings []string
}

// PlanReplace finds the selected items holding o.Find, changing nothing.
func PlanReplace(ctx context.Context, o *ReplaceOptions) (*ReplacePlan, error) {
	if o.Find == "" {
		return nil, fmt.Errorf("--find is empty")
	}
	if o.Find == o.Replace {
		return nil, fmt.Errorf("--find and --replace are the same")
	}
	p := &ReplacePlan{}
	look := func(it sdk.Item) error {
		p.Scanned++
		data, err := itemData(ctx, o.Source, it.ID)
		if err != nil {
			return fmt.Errorf("reading the data of item %s (%q): %w", it.ID, it.Title, err)
		}
		st := &ReplaceStep{Item: it}
		if len(data) > 0 && json.Valid(data) {
			st.InData = occurrences(string(data), o.Find)
		}
		st.InURL = it.URL != "" && !slices.Contains(it.TypeKeywords, "Hosted Service") && strings.Contains(it.URL, o.Find)
		if st.InData == 0 && !st.InURL {
			return nil
		}
		r, ok := o.Restorers[it.Type]
		if _, isExporter := r.R.(sdk.Exporter); !ok || !isExporter {
			st.Cannot = fmt.Sprintf("no exporter of this pipeline can restore %s items, so no safety copy could be put back: not changed", it.Type)
		}
		p.Steps = append(p.Steps, st)
		return nil
	}
	if onlyItems(o.Select) {
		for _, id := range o.Select.Items {
			it, err := targetItem(ctx, o.Source, id)
			if err != nil {
				return nil, fmt.Errorf("--item %s: %w", id, err)
			}
			if err := look(it); err != nil {
				return nil, err
			}
		}
		return p, nil
	}
	err := o.Source.ListItems(ctx, sdk.ListItemsRequest{}, func(li sdk.ListedItem) error {
		if li.Excluded {
			return nil
		}
		it := li.Item
		ri := report.Item{ID: it.ID, Title: it.Title, Type: it.Type, Owner: it.Owner, Folder: it.FolderTitle}
		if !matches(o.Select, ri, it.Tags) {
			return nil
		}
		return look(it)
	})
	return p, err
}

func onlyItems(s Selection) bool {
	return !s.All && len(s.Items) > 0 && len(s.Types)+len(s.Owners)+len(s.Folders)+len(s.Tags) == 0
}

// occurrences counts find in s, also as JSON writes it with escaped
// slashes.
func occurrences(s, find string) int {
	n := strings.Count(s, find)
	if esc := strings.ReplaceAll(find, "/", `\/`); esc != find {
		n += strings.Count(s, esc)
	}
	return n
}

// itemData reads an item's data as stored (nil when it has none).
func itemData(ctx context.Context, src sdk.Source, id string) ([]byte, error) {
	resp, err := src.Do(ctx, sdk.PortalRequest{Method: http.MethodGet, URL: "content/items/" + url.PathEscape(id) + "/data"})
	if sdk.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, arcgisrest.MaxJSONBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > arcgisrest.MaxJSONBytes {
		return nil, nil // a file, not JSON
	}
	return b, nil
}

// WriteReplacePlan prints the plan.
func WriteReplacePlan(w io.Writer, o *ReplaceOptions, p *ReplacePlan) {
	change := 0
	for _, st := range p.Steps {
		where := []string{}
		if st.InData > 0 {
			where = append(where, fmt.Sprintf("%d in its data", st.InData))
		}
		if st.InURL {
			where = append(where, "its url")
		}
		sym, what := "~", "change"
		if st.Cannot != "" {
			sym, what = "!", "cannot"
		} else {
			change++
		}
		line := fmt.Sprintf("  %s %-7s %s %q (%s): %s", sym, what, st.Item.ID, st.Item.Title, st.Item.Type, strings.Join(where, ", "))
		if st.Cannot != "" {
			line += "; " + st.Cannot
		}
		fmt.Fprintln(w, line)
	}
	fmt.Fprintf(w, "Plan: replace %q with %q in %d item(s) of %d looked at; %d cannot be changed.\n", o.Find, o.Replace, change, p.Scanned, len(p.Steps)-change)
	for _, warn := range p.Warnings {
		fmt.Fprintf(w, "  warning: %s\n", warn)
	}
}

// ApplyReplace changes the planned items, each after its safety copy, and
// returns the report (stored like a restore's with Store). An item that
// fails is recorded and the others go on.
func ApplyReplace(ctx context.Context, o *ReplaceOptions, p *ReplacePlan) *Report {
	rep := &Report{RestoreID: o.ID, Pipeline: o.Pipeline, Sink: o.SafetySinkName, Target: o.Org.PortalURL, Username: o.Org.Username,
		Started: time.Now().UTC(), Remap: map[string]string{o.Find: o.Replace}}
	ro := &Options{Target: o.Source, TargetOrg: o.Org, Restorers: o.Restorers, RestoreID: o.ID, Log: o.Log,
		Safety: o.Safety, SafetySinkName: o.SafetySinkName}
	rm := sdk.Remapper(map[string]string{o.Find: o.Replace})
	for _, rs := range p.Steps {
		it := rs.Item
		st := &Step{Item: report.Item{ID: it.ID, Title: it.Title, Type: it.Type, Owner: it.Owner, Folder: it.FolderTitle},
			Restorer: o.Restorers[it.Type].Name, Action: sdk.ActionOverwrite, Mode: sdk.RestoreOverwrite, TargetItemID: it.ID, Owner: it.Owner}
		if rs.Cannot != "" {
			st.Action, st.Outcome, st.Reason = sdk.ActionCannot, NotRestored, rs.Cannot
		} else if err := replaceOne(ctx, ro, st, rs, o.Find, rm, rep); err != nil {
			st.Outcome, st.Error = Failed, err.Error()
			o.Log.Error("replace failed", "item", it.ID, "title", it.Title, "error", err.Error())
		}
		rep.Items = append(rep.Items, Entry{ID: it.ID, Title: it.Title, Type: it.Type, Step: *st})
		if ctx.Err() != nil {
			break
		}
	}
	rep.Finished = time.Now().UTC()
	return rep
}

func replaceOne(ctx context.Context, ro *Options, st *Step, rs *ReplaceStep, find string, rm *strings.Replacer, rep *Report) error {
	sc, err := takeSafetyCopy(ctx, ro, st)
	if err != nil {
		return fmt.Errorf("not changed: its safety copy could not be taken: %w", err)
	}
	rep.Safety = append(rep.Safety, *sc)
	// Read again after the copy: what is changed is what was saved.
	it, err := targetItem(ctx, ro.Target, rs.Item.ID)
	if err != nil {
		return err
	}
	data, err := itemData(ctx, ro.Target, it.ID)
	if err != nil {
		return err
	}
	form := url.Values{}
	n := 0
	if len(data) > 0 && json.Valid(data) {
		if c := occurrences(string(data), find); c > 0 {
			nd := rm.Replace(string(data))
			if !json.Valid([]byte(nd)) {
				return fmt.Errorf("not changed: the replacement would make its data invalid JSON")
			}
			form.Set("text", nd)
			n += c
		}
	}
	if rs.InURL && strings.Contains(it.URL, find) {
		form.Set("url", rm.Replace(it.URL))
		n++
	}
	if len(form) == 0 {
		st.Outcome, st.Reason = Skipped, "the text is no longer there"
		return nil
	}
	var a struct {
		Success bool `json:"success"`
	}
	p := "content/users/" + url.PathEscape(it.Owner) + "/items/" + url.PathEscape(it.ID) + "/update"
	if err := arcgisrest.GetJSON(ctx, ro.Target.Do, arcgisrest.JSONPost(p, form), &a); err != nil {
		return fmt.Errorf("updating the item: %w", err)
	}
	st.Outcome, st.NewItemID, st.Reason = Overwritten, it.ID, fmt.Sprintf("%d occurrence(s) replaced", n)
	return nil
}
