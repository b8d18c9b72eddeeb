package arcgis

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/arcgisrest"
)

// LeftoverAge is how old a temporary export item must be before the sweep
// at sign-in deletes it: a run still going (a long export collected late)
// may own a younger one, and no run lasts three days.
const LeftoverAge = 72 * time.Hour

// sweepLeftovers deletes the temporary export items that runs which crashed
// or were killed left in the signed-in user's content (exports run as that
// user, so that is where they are), older than LeftoverAge. They are
// recognised by the title prefix the feature service exporter gives them
// (sdk.TempExportTitlePrefix). On ArcGIS Online
// they are deleted with permanentDelete so they do not sit in the recycle
// bin. It never fails the sign-in: what it did or could not do comes back
// as lines for Results.txt.
func (s *Source) sweepLeftovers(ctx context.Context, username, mode string) []string {
	cutoff := s.now().Add(-LeftoverAge)
	prefix := strings.TrimSpace(sdk.TempExportTitlePrefix)
	q := fmt.Sprintf(`owner:%s AND title:%s AND created:[0 TO %d]`, quote(username), quote(prefix), cutoff.UnixMilli())
	type hit struct {
		ID      string `json:"id"`
		Title   string `json:"title"`
		Owner   string `json:"owner"`
		Created int64  `json:"created"`
	}
	var found []hit
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
			return []string{fmt.Sprintf("could not look for temporary export items left by earlier runs (%v); delete items titled %q older than 3 days by hand if any remain", err, sdk.TempExportTitlePrefix+"...")}
		}
		for _, h := range page.Results {
			// The search is a hint; the title prefix, owner and age decide.
			if strings.HasPrefix(h.Title, sdk.TempExportTitlePrefix) && h.Owner == username && h.Created > 0 && time.UnixMilli(h.Created).Before(cutoff) {
				found = append(found, h)
			}
		}
		start = page.NextStart
		if len(page.Results) == 0 {
			break
		}
	}
	if len(found) == 0 {
		return nil
	}
	form := url.Values{}
	if mode != "enterprise" {
		form.Set("permanentDelete", "true")
	}
	var deleted, failed []string
	for _, h := range found {
		path := "content/users/" + url.PathEscape(h.Owner) + "/items/" + url.PathEscape(h.ID) + "/delete"
		err := s.c.getJSON(ctx, arcgisrest.JSONPost(path, form), nil)
		switch {
		case err == nil || sdk.IsNotFound(err):
			deleted = append(deleted, h.ID)
		case sdk.KindOf(err) == sdk.KindCanceled:
			return nil
		default:
			failed = append(failed, fmt.Sprintf("%s (%v)", h.ID, err))
		}
	}
	var out []string
	if len(deleted) > 0 {
		out = append(out, fmt.Sprintf("deleted %d temporary export item(s) older than 3 days that earlier runs did not finish cleaning up: %s", len(deleted), strings.Join(deleted, ", ")))
	}
	if len(failed) > 0 {
		out = append(out, fmt.Sprintf("could not delete %d temporary export item(s) left by earlier runs: %s; delete them in the portal", len(failed), strings.Join(failed, "; ")))
	}
	return out
}
