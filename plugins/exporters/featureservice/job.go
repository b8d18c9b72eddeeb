package featureservice

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/agolpipe/agolpipe/plugins/exporters/exportkit"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/arcgisrest"
	"github.com/agolpipe/agolpipe/sdk/retry"
)

// TempTitle is the title of the temporary export items of one item in one
// run (sdk.TempExportTitle). The title only names the item for a person;
// what makes it deletable by a later run is agolpipe's mark (sdk.TempExportMark),
// which start sets right after the portal created the item.
func TempTitle(runID, itemID string) string { return sdk.TempExportTitle(runID, itemID) }

// runProcess is the agolpipe process of this run, written into the mark so
// that a later run can tell whether the run that made an item is over: the
// exporter is a plugin that process started.
var runProcess = sdk.RunProcess(os.Getppid())

// start submits the export of p.chain[0].
func (e *Exporter) start(ctx context.Context, s *exportkit.Session, p *pending, format string) error {
	it := s.Item()
	params := map[string]any{"layers": json.RawMessage(p.layers)}
	if attachmentFormats[format] {
		params["includeAttachments"] = p.attachments
	}
	pj, _ := json.Marshal(params)
	form := url.Values{
		"itemId":       {it.ID},
		"exportFormat": {format},
		"title":        {TempTitle(s.Req.RunID, it.ID)},
		// The mark as tags: the item carries it from its creation, so a run
		// killed before mark() could add it to the typeKeywords leaves an
		// item the next run can prove is agolpipe's.
		"tags":             {strings.Join(append([]string{"agolpipe", "temporary"}, sdk.TempExportMark(s.Req.RunID, runProcess)...), ",")},
		"snippet":          {"Temporary export made by agolpipe; deleted after download."},
		"exportParameters": {string(pj)},
	}
	var ans struct {
		ExportItemID string `json:"exportItemId"`
		JobID        string `json:"jobId"`
	}
	s.Progress(ctx, "starting "+format+" export", 0)
	// A retried submit may leave an extra export item behind when the first
	// attempt reached the portal and its answer was lost: without the
	// answer it was never marked, so the sweep at the end reports it.
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
	p.exportID, p.jobID, p.msg, p.marked = ans.ExportItemID, ans.JobID, "", false
	s.Logf(ctx, "item %s (%s): %s export started as item %s (job %s)", it.ID, it.Title, format, ans.ExportItemID, ans.JobID)
	e.mark(ctx, s, p)
	return nil
}

// mark adds agolpipe's mark (sdk.TempExportMark) to the typeKeywords of the
// export item just created, before anything else happens to it. The export
// operation takes no typeKeywords (Esri documents itemId, exportFormat,
// exportParameters and title), so the item is updated. update replaces the
// whole list: the item's own keywords are read first and kept.
//
// This run deletes the item by the id the export answered whether or not
// the mark landed; the mark is what lets a later run remove the item if
// this one dies first, and what keeps it out of every run's backup. A mark
// that cannot be set is a warning, never a reason to lose the export.
func (e *Exporter) mark(ctx context.Context, s *exportkit.Session, p *pending) {
	var cur struct {
		TypeKeywords []string `json:"typeKeywords"`
	}
	err := s.GetJSON(ctx, arcgisrest.JSON("content/items/"+url.PathEscape(p.exportID), nil), &cur)
	if err == nil {
		kw := slices.Clone(cur.TypeKeywords)
		for _, k := range sdk.TempExportMark(s.Req.RunID, runProcess) {
			if !slices.Contains(kw, k) {
				kw = append(kw, k)
			}
		}
		form := url.Values{"typeKeywords": {strings.Join(kw, ",")}}
		err = s.PostJSON(ctx, arcgisrest.JSONPost("content/users/"+url.PathEscape(p.user)+"/items/"+url.PathEscape(p.exportID)+"/update", form), nil)
	}
	if err != nil {
		if sdk.KindOf(err) != sdk.KindCanceled {
			s.Warn(ctx, "item %s (%s): could not mark temporary export item %s as agolpipe's (%v); this run still deletes it, but if the run dies first no later run will: delete it in the portal then",
				s.Item().ID, s.Item().Title, p.exportID, err)
		}
		return
	}
	p.marked = true
}

// refusedErr reports whether the portal refused the export to this user
// (not the owner nor an admin, a read-only API key, or export disabled on
// the service). The answer reaches the exporter through the host and the
// source, two plugin boundaries, so it is decided on the typed reason the
// source classified, never on the portal's message text.
func refusedErr(err error) bool {
	return sdk.ReasonOf(err) == sdk.ReasonForbidden
}

// wait polls the running export until it ends or the time for it runs out
// (s.Req.Timeout from start). done is false when the export is deferred
// (res says so). On success res is the item's result; on a failed job
// res.Status is empty and p.msg says why; a job given up on resume is
// res.Status failed.
//
// Once a job runs, nothing here returns a retryable error while there is
// time left: the host would export the item again, which starts a second
// portal job for it (and the first keeps running). Failing status requests
// are polled through until the deadline, and at the deadline the job is
// deferred (first pass) or given up (resume), never restarted.
func (e *Exporter) wait(ctx context.Context, s *exportkit.Session, p *pending, start time.Time) (res sdk.ExportResult, done bool, err error) {
	format := p.chain[0]
	opt := e.Poll
	timeout := s.Req.Timeout
	opt.OnStatus = func(j arcgisrest.Job) { s.Progress(ctx, format+" export: "+j.Status, 0) }
	status := arcgisrest.JSON("content/users/"+url.PathEscape(p.user)+"/items/"+url.PathEscape(p.exportID)+"/status",
		url.Values{"jobId": {p.jobID}, "jobType": {"export"}})
	var j arcgisrest.Job
	for {
		if timeout != 0 {
			opt.Timeout = timeout - time.Since(start)
			if opt.Timeout <= 0 {
				r, done := e.outOfTime(ctx, s, p)
				return r, done, nil
			}
		}
		j, err = arcgisrest.PollJob(ctx, s.Host.Portal, status, opt)
		if err == nil {
			break
		}
		if timeout != 0 && arcgisrest.IsPollTimeout(err) {
			r, done := e.outOfTime(ctx, s, p)
			return r, done, nil
		}
		if k := sdk.KindOf(err); timeout == 0 || (k != sdk.KindRetryable && k != sdk.KindAuth) {
			return res, true, err
		}
		// The status requests failed for a while; the job runs on.
		s.Logf(ctx, "item %s (%s): status of %s export job %s unavailable (%v); still waiting for it", s.Item().ID, s.Item().Title, format, p.jobID, err)
		if serr := retry.Sleep(ctx, statusRetryPause); serr != nil {
			return res, true, sdk.Classify(sdk.KindCanceled, serr)
		}
	}
	switch j.State {
	case arcgisrest.JobSucceeded:
	default:
		p.msg = j.Message
		if p.msg == "" {
			p.msg = "export job " + j.Status
		}
		e.delete(ctx, s, p.user, p.exportID, p.marked)
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
		e.delete(ctx, s, p.user, p.exportID, p.marked)
		return res, true, err
	}
	s.DataFormat = format
	e.delete(ctx, s, p.user, p.exportID, p.marked)
	p.exportID = ""
	if err := saveCounts(ctx, s, p.attachments); err != nil {
		return res, true, err
	}
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

// statusRetryPause is the pause before polling again after the status
// requests of a running job failed several times in a row.
const statusRetryPause = 5 * time.Second

// outOfTime ends the wait for a job still running when the time for it ran
// out. On the first pass the job is remembered and the item deferred
// (done=false): the host collects it before the run ends. On resume there
// is no later: the job is given up, its temporary item deleted, and the
// item fails (done=true).
func (e *Exporter) outOfTime(ctx context.Context, s *exportkit.Session, p *pending) (sdk.ExportResult, bool) {
	format := p.chain[0]
	if !s.Req.Resume {
		e.mu.Lock()
		e.jobs[s.Item().ID] = p
		e.mu.Unlock()
		return sdk.ExportResult{Status: sdk.StatusDeferred, Warnings: s.Warnings,
			Reason: fmt.Sprintf("%s export still running on the portal after %s; it is collected before the run ends", format, s.Req.Timeout)}, false
	}
	job := p.jobID
	what := "deleted"
	if !e.delete(ctx, s, p.user, p.exportID, p.marked) {
		what = "could not be deleted (see the warnings)"
	}
	p.exportID = ""
	return sdk.ExportResult{Status: sdk.StatusFailed, Warnings: s.Warnings,
		Reason: fmt.Sprintf("the portal's %s export job %s was still running when the time to collect it ran out; the job was given up and its temporary item %s", format, job, what)}, true
}

// delete removes the temporary export item id for good. Its proof of
// ownership is the export answer that named it, or (sweep) agolpipe's mark
// of this run. A throttled delete is retried until done within
// arcgisrest.DeleteItem's bound; one that still fails is a warning that
// says who removes the item. It reports whether the item is gone.
func (e *Exporter) delete(ctx context.Context, s *exportkit.Session, user, id string, marked bool) bool {
	if id == "" {
		return true
	}
	err := arcgisrest.DeleteItem(ctx, s.Host.Portal, user, id, s.Req.Org.Mode != "enterprise",
		arcgisrest.DeleteOptions{Bound: e.DeleteBound})
	if err == nil {
		return true
	}
	who := "it carries agolpipe's mark, so the next run started on this machine removes it (a run elsewhere once it is 3 days old)"
	if !marked {
		who = "it lacks agolpipe's mark, so no later run removes it: delete it in the portal"
	}
	s.Warn(ctx, "temporary export item %s of item %s (%s) could not be deleted (%v); %s", id, s.Item().ID, s.Item().Title, err, who)
	return false
}

// sweep deletes the temporary export items of this item and run still in
// the user's content: extra items from a retried submit, or a job given up.
// Only items carrying this run's mark are deleted; one that has the title
// but not the mark (its export answer was lost, so it was never marked) is
// reported, not deleted.
func (e *Exporter) sweep(ctx context.Context, s *exportkit.Session, user string) {
	if user == "" || ctx.Err() != nil {
		return
	}
	title := TempTitle(s.Req.RunID, s.Item().ID)
	var ans struct {
		Results []struct {
			ID           string   `json:"id"`
			Title        string   `json:"title"`
			Owner        string   `json:"owner"`
			Type         string   `json:"type"`
			TypeKeywords []string `json:"typeKeywords"`
			Tags         []string `json:"tags"`
		} `json:"results"`
	}
	q := url.Values{"q": {fmt.Sprintf(`owner:%q AND title:%q`, user, title)}, "num": {"100"}}
	if err := s.GetJSON(ctx, arcgisrest.JSON("search", q), &ans); err != nil {
		s.Warn(ctx, "could not look for leftover export items of item %s: %v", s.Item().ID, err)
		return
	}
	for _, r := range ans.Results {
		if r.Title != title || r.Owner != user || !sdk.IsTempExportType(r.Type) {
			continue
		}
		if m, ok := sdk.ReadTempMark(r.TypeKeywords, r.Tags); ok && m.RunID == s.Req.RunID {
			e.delete(ctx, s, user, r.ID, true)
			continue
		}
		s.Warn(ctx, "item %s (%s): the %s item %s is titled like this run's temporary export but does not carry agolpipe's mark, so it was not deleted; if it is a leftover export, delete it in the portal",
			s.Item().ID, s.Item().Title, r.Type, r.ID)
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
	partial, err := exportkit.QueryLayers(ctx, s, it.URL, exportkit.QueryOptions{Attachments: true})
	if err != nil {
		return sdk.ExportResult{}, err
	}
	partial = append([]string{"the export API was refused to " + p.user + "; the layers were saved as GeoJSON through query (no domains or relationship classes)"}, append(p.partial, partial...)...)
	return s.Result(partial), nil
}
