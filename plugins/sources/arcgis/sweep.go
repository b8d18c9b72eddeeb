package arcgis

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/arcgisrest"
)

// sweepDeleteBound bounds all the deletes of one sweep together, retries
// of throttled ones included.
const sweepDeleteBound = 3 * time.Minute

// LeftoverAge is how old a marked temporary export item must be before the
// sweep deletes it when the run that made it cannot be checked (it ran on
// another machine): no run lasts three days.
const LeftoverAge = sdk.TempLeftoverAge

// sweepLeftovers removes the temporary export items that runs which crashed
// or were killed left in the signed-in user's content (exports run as that
// user, so that is where they are). It never fails the sign-in: what it did
// or could not do comes back as lines for Results.txt.
//
// An item is deleted only with all of this proof:
//   - it carries agolpipe's mark (sdk.TempExportMark): the title proves
//     nothing, anyone can type it;
//   - it is owned by the signed-in user and of an export result type;
//   - the run that made it is over: its process (recorded in the mark) ran
//     on this machine and has ended, or the item is older than LeftoverAge.
//
// A plan (dry run) only says what a run would remove. Items of this run (a
// source restarted mid-run signs in again) and of a run still going are
// left alone; those of a run this machine cannot check
// are reported until they are old enough. On ArcGIS Online they are
// deleted with permanentDelete so they do not sit in the recycle bin.
func (s *Source) sweepLeftovers(ctx context.Context, username, mode string) []string {
	return s.sweepFor(ctx, username, mode, sdk.RunProcess(os.Getppid()))
}

// sweepFor is sweepLeftovers for the run whose process is self (tests pass
// another run's).
func (s *Source) sweepFor(ctx context.Context, username, mode, self string) []string {
	now := s.now()
	// The title part finds items of runs whose mark did not land, to report.
	q := fmt.Sprintf(`owner:%s AND (typekeywords:%s OR tags:%s OR title:%s)`, quote(username),
		quote(sdk.TempExportKeyword), quote(sdk.TempExportKeyword), quote(strings.TrimSpace(sdk.TempExportTitlePrefix)))
	type hit struct {
		ID           string   `json:"id"`
		Title        string   `json:"title"`
		Owner        string   `json:"owner"`
		Type         string   `json:"type"`
		TypeKeywords []string `json:"typeKeywords"`
		Tags         []string `json:"tags"`
		Created      int64    `json:"created"`
	}
	type leftover struct {
		hit
		mark sdk.TempMark
		why  string // why its run is known to be over
	}
	selfMark, _ := sdk.ReadTempMark(sdk.TempExportMark("", self), nil)
	var found []leftover
	var pending, unmarked []string
	for start := 1; start > 0; {
		var page struct {
			arcgisrest.Page
			Results []hit `json:"results"`
		}
		v := url.Values{"q": {q}, "num": {"100"}, "start": {fmt.Sprint(start)}, "sortField": {"created"}}
		if err := s.c.getJSON(ctx, arcgisrest.JSON("search", v), &page); err != nil {
			if sdk.KindOf(err) == sdk.KindCanceled {
				return nil
			}
			return []string{fmt.Sprintf("could not look for temporary export items left by earlier runs (%v); they carry the typeKeyword %q: a later run removes them", err, sdk.TempExportKeyword)}
		}
		for _, h := range page.Results {
			// The search is a hint; the mark, owner, type and age decide.
			if h.Owner != username || !sdk.IsTempExportType(h.Type) || h.Created <= 0 {
				continue
			}
			m, ok := sdk.ReadTempMark(h.TypeKeywords, h.Tags)
			if !ok {
				if looksTemp(h.Title) {
					unmarked = append(unmarked, fmt.Sprintf("%s (%s %q)", h.ID, h.Type, h.Title))
				}
				continue
			}
			created := time.UnixMilli(h.Created)
			if m.PID == selfMark.PID && m.Host == selfMark.Host {
				continue // this run's own
			}
			over, why := false, ""
			switch {
			case m.PID > 0 && m.Host == selfMark.Host:
				if running, known := processState(m.PID, created); known && !running {
					over, why = true, fmt.Sprintf("its process %d has ended", m.PID)
				} else if known {
					pending = append(pending, fmt.Sprintf("%s (run %s, still running as process %d)", h.ID, runName(m), m.PID))
					continue
				}
			}
			if !over && now.Sub(created) > LeftoverAge {
				over, why = true, "it is older than 3 days"
			}
			if !over {
				where := "on another machine"
				if m.Host != "" {
					where = "on " + m.Host
				}
				pending = append(pending, fmt.Sprintf("%s (run %s %s; removed when 3 days old, or by the next run there)", h.ID, runName(m), where))
				continue
			}
			found = append(found, leftover{hit: h, mark: m, why: why})
		}
		start = page.NextStart
		if len(page.Results) == 0 {
			break
		}
	}
	var out []string
	if len(pending) > 0 {
		out = append(out, fmt.Sprintf("left alone %d temporary export item(s) of other agolpipe runs that may still be going: %s", len(pending), strings.Join(pending, "; ")))
	}
	if len(unmarked) > 0 {
		out = append(out, fmt.Sprintf("%d item(s) look like temporary export items of an agolpipe run but do not carry agolpipe's mark, so they were not deleted and are backed up like any other item: %s; if they are leftovers, delete them in the portal",
			len(unmarked), strings.Join(unmarked, "; ")))
	}
	if s.dryRun && len(found) > 0 {
		var ids []string
		for _, h := range found {
			ids = append(ids, fmt.Sprintf("%s (run %s: %s)", h.ID, runName(h.mark), h.why))
		}
		return append(out, fmt.Sprintf("a run would remove %d temporary export item(s) that earlier agolpipe runs left (plan changes nothing): %s", len(found), strings.Join(ids, "; ")))
	}
	var deleted, failed []string
	// One bound for all the deletes, not one each: a throttled portal must
	// not hold the sign-in for minutes per leftover.
	bound := s.deleteBound
	if bound <= 0 {
		bound = sweepDeleteBound
	}
	dctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	for _, h := range found {
		if ctx.Err() != nil {
			return out
		}
		if dctx.Err() != nil {
			failed = append(failed, fmt.Sprintf("%s (not tried: the %s the clean-up may take were spent)", h.ID, bound))
			continue
		}
		// c.do, not getJSON: DeleteItem is the delete's only retry.
		err := arcgisrest.DeleteItem(dctx, s.c.do, h.Owner, h.ID, mode != "enterprise", arcgisrest.DeleteOptions{Bound: bound})
		switch {
		case err == nil:
			deleted = append(deleted, fmt.Sprintf("%s (run %s: %s)", h.ID, runName(h.mark), h.why))
		case ctx.Err() != nil:
			return out
		default:
			failed = append(failed, fmt.Sprintf("%s (%v)", h.ID, err))
		}
	}
	if len(deleted) > 0 {
		out = append(out, fmt.Sprintf("removed %d temporary export item(s) that earlier agolpipe runs left (they carry agolpipe's mark and their run is over): %s", len(deleted), strings.Join(deleted, "; ")))
	}
	if len(failed) > 0 {
		out = append(out, fmt.Sprintf("could not delete %d temporary export item(s) left by earlier runs: %s; the next run tries again", len(failed), strings.Join(failed, "; ")))
	}
	return out
}

// runName is the run id of a mark, or a stand-in when it has none.
func runName(m sdk.TempMark) string {
	if m.RunID == "" {
		return "unknown"
	}
	return m.RunID
}

// looksTemp reports whether title is exactly that of a temporary export
// item (sdk.TempExportTitle: prefix, run id, item id), as the items of a run
// that died before marking them are: worth a warning, never a delete.
func looksTemp(title string) bool {
	rest, ok := strings.CutPrefix(title, sdk.TempExportTitlePrefix)
	f := strings.Fields(rest)
	return ok && len(f) == 2 && len(f[1]) == 32 && strings.Trim(f[1], "0123456789abcdef") == ""
}
