package featureservice

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"time"

	"github.com/agolpipe/agolpipe/plugins/exporters/exportkit"
	"github.com/agolpipe/agolpipe/plugins/exporters/featurequery"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/arcgisrest"
)

// TempTitle is the title of the temporary export items of one item in one
// run (sdk.TempExportTitle): the engine leaves this run's own out of the
// listing, and the source's sweep of leftovers (crashed runs) matches the
// prefix.
func TempTitle(runID, itemID string) string { return sdk.TempExportTitle(runID, itemID) }

// start submits the export of p.chain[0].
func (e *Exporter) start(ctx context.Context, s *exportkit.Session, p *pending, format string) error {
	it := s.Item()
	params := map[string]any{"layers": json.RawMessage(p.layers)}
	if attachmentFormats[format] {
		params["includeAttachments"] = p.attachments
	}
	pj, _ := json.Marshal(params)
	form := url.Values{
		"itemId":           {it.ID},
		"exportFormat":     {format},
		"title":            {TempTitle(s.Req.RunID, it.ID)},
		"tags":             {"agolpipe,temporary"},
		"snippet":          {"Temporary export made by agolpipe; deleted after download."},
		"exportParameters": {string(pj)},
	}
	var ans struct {
		ExportItemID string `json:"exportItemId"`
		JobID        string `json:"jobId"`
	}
	s.Progress(ctx, "starting "+format+" export", 0)
	// A retried submit may leave an extra export item behind when the first
	// attempt reached the portal; the sweep at the end removes it by title.
	err := s.PostJSON(ctx, arcgisrest.JSONPost("content/users/"+url.PathEscape(p.user)+"/export", form), &ans)
	if err != nil {
		if refusedErr(err) {
			return fmt.Errorf("%w: %v", errRefused, err)
		}
		return err
	}
	if ans.ExportItemID == "" {
		return sdk.Permanent("the export answer named no export item")
	}
	p.exportID, p.jobID, p.msg = ans.ExportItemID, ans.JobID, ""
	s.Logf(ctx, "item %s (%s): %s export started as item %s (job %s)", it.ID, it.Title, format, ans.ExportItemID, ans.JobID)
	return nil
}

// refusedErr reports whether the portal refused the export to this user
// (not the owner nor an admin, a read-only API key, or export disabled on
// the service). The answer reaches the exporter through the host and the
// source, two plugin boundaries, so it is decided on the typed reason the
// source classified, never on the portal's message text.
func refusedErr(err error) bool {
	return sdk.ReasonOf(err) == sdk.ReasonForbidden
}

// wait polls the running export until it ends or the timeout passes. done
// is false when the export is deferred (res says so). On success res is the
// item's result; on a failed job res.Status is empty and p.msg says why.
func (e *Exporter) wait(ctx context.Context, s *exportkit.Session, p *pending, start time.Time) (res sdk.ExportResult, done bool, err error) {
	format := p.chain[0]
	opt := e.Poll
	timeout := s.Req.Timeout
	if timeout > 0 {
		opt.Timeout = timeout - time.Since(start)
		if opt.Timeout <= 0 {
			return e.deferItem(s, p, timeout), false, nil
		}
	}
	opt.OnStatus = func(j arcgisrest.Job) { s.Progress(ctx, format+" export: "+j.Status, 0) }
	status := arcgisrest.JSON("content/users/"+url.PathEscape(p.user)+"/items/"+url.PathEscape(p.exportID)+"/status",
		url.Values{"jobId": {p.jobID}, "jobType": {"export"}})
	j, err := arcgisrest.PollJob(ctx, s.Host.Portal, status, opt)
	if err != nil {
		if timeout > 0 && sdk.KindOf(err) == sdk.KindRetryable && time.Since(start)+opt.Interval >= timeout-time.Second && !j.State.Terminal() {
			return e.deferItem(s, p, timeout), false, nil
		}
		return res, true, err
	}
	switch j.State {
	case arcgisrest.JobSucceeded:
	default:
		p.msg = j.Message
		if p.msg == "" {
			p.msg = "export job " + j.Status
		}
		e.delete(ctx, s, p.user, p.exportID)
		p.exportID = ""
		return res, true, nil
	}
	s.Progress(ctx, "downloading "+format, 50)
	name := formatFiles[format]
	if name == "" {
		name = "data.zip"
	}
	if err := s.Save(ctx, sdk.Artifact{Name: name, MediaType: "application/zip", Format: format},
		exportkit.Raw(exportkit.ItemPath(p.exportID, "data"), nil)); err != nil {
		e.delete(ctx, s, p.user, p.exportID)
		return res, true, err
	}
	e.delete(ctx, s, p.user, p.exportID)
	p.exportID = ""
	partial := p.partial
	if format != p.first {
		partial = append(partial, fmt.Sprintf("exported as %s, a fallback (%s failed: %s)", format, p.first, p.firstFailure()))
	}
	return s.Result(partial), true, nil
}

func (p *pending) firstFailure() string {
	if p.firstMsg != "" {
		return p.firstMsg
	}
	return "see the warnings"
}

// deferItem remembers the running job and answers deferred.
func (e *Exporter) deferItem(s *exportkit.Session, p *pending, timeout time.Duration) sdk.ExportResult {
	e.mu.Lock()
	e.jobs[s.Item().ID] = p
	e.mu.Unlock()
	return sdk.ExportResult{Status: sdk.StatusDeferred, Warnings: s.Warnings,
		Reason: fmt.Sprintf("%s export still running on the portal after %s; it is collected before the run ends", p.chain[0], timeout)}
}

// delete removes a temporary export item for good (permanentDelete on
// ArcGIS Online, where it would otherwise sit in the recycle bin for 14
// days). A failure is a warning: the next run's sweep removes it.
func (e *Exporter) delete(ctx context.Context, s *exportkit.Session, user, id string) {
	if id == "" {
		return
	}
	form := url.Values{}
	if s.Req.Org.Mode != "enterprise" {
		form.Set("permanentDelete", "true")
	}
	err := s.PostJSON(ctx, arcgisrest.JSONPost("content/users/"+url.PathEscape(user)+"/items/"+url.PathEscape(id)+"/delete", form), nil)
	if err != nil && !sdk.IsNotFound(err) {
		s.Warn(ctx, "temporary export item %s of item %s could not be deleted (%v); the next run removes it", id, s.Item().ID, err)
	}
}

// sweep deletes any temporary export item of this item and run still in
// the user's content: extra items from a retried submit, or a job given up.
func (e *Exporter) sweep(ctx context.Context, s *exportkit.Session, user string) {
	if user == "" || ctx.Err() != nil {
		return
	}
	title := TempTitle(s.Req.RunID, s.Item().ID)
	var ans struct {
		Results []struct {
			ID    string `json:"id"`
			Title string `json:"title"`
		} `json:"results"`
	}
	q := url.Values{"q": {fmt.Sprintf(`owner:%q AND title:%q`, user, title)}, "num": {"100"}}
	if err := s.GetJSON(ctx, arcgisrest.JSON("search", q), &ans); err != nil {
		s.Warn(ctx, "could not look for leftover export items of item %s: %v", s.Item().ID, err)
		return
	}
	for _, r := range ans.Results {
		if r.Title == title {
			e.delete(ctx, s, user, r.ID)
		}
	}
}

// refused handles an export the portal does not allow to the user.
func (e *Exporter) refused(ctx context.Context, s *exportkit.Session, p *pending, cause error) (sdk.ExportResult, error) {
	it := s.Item()
	if !e.fallbackQuery {
		return sdk.ExportResult{}, sdk.Permanent("item %s (%s): the portal refused the export to %s (%v); run as the owner or an administrator, or set fallback_query = true",
			it.ID, it.Title, p.user, cause)
	}
	s.Warn(ctx, "item %s (%s): export refused to %s (%v); paging the layers through query instead", it.ID, it.Title, p.user, cause)
	partial, err := featurequery.Layers(ctx, s, it.URL, featurequery.Options{Attachments: true})
	if err != nil {
		return sdk.ExportResult{}, err
	}
	partial = append([]string{"the export API was refused to " + p.user + "; the layers were saved as GeoJSON through query (no domains or relationship classes)"}, append(p.partial, partial...)...)
	return s.Result(partial), nil
}
