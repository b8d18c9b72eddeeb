package arcgisrest

import (
	"context"
	"net/url"
	"time"

	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/retry"
)

// DeleteOptions pace DeleteItem's retries. Zero fields take the defaults.
type DeleteOptions struct {
	// Base is the first delay, doubled per retry up to Max (defaults 1 s
	// and 5 s: a throttled portal lets writes through again at a moment
	// nobody announces, and a delete tried every few seconds finds it
	// soon); a Retry-After the portal sends replaces it.
	Base, Max time.Duration
	// Bound is how long the delete may keep retrying (default 3 minutes): a
	// portal throttling writes (ArcGIS answers bursts with an HTML 403 or a
	// 429) lets them through again within a minute or two.
	Bound time.Duration
}

// DeleteItem deletes the item id of user, for good when permanent is set
// (permanentDelete: on ArcGIS Online a deleted item otherwise sits in the
// recycle bin for 14 days). An item already gone counts as deleted. A
// delete refused for a passing reason (throttled, a server error) is
// retried, one request at a time, until it is done or opt.Bound has
// passed; the last error is returned. p must not retry on its own, or the
// bound would not hold.
func DeleteItem(ctx context.Context, p Portal, user, id string, permanent bool, opt DeleteOptions) error {
	form := url.Values{}
	if permanent {
		form.Set("permanentDelete", "true")
	}
	req := JSONPost("content/users/"+url.PathEscape(user)+"/items/"+url.PathEscape(id)+"/delete", form)
	delay, most, bound := opt.Base, opt.Max, opt.Bound
	if delay <= 0 {
		delay = time.Second
	}
	if most <= 0 {
		most = 5 * time.Second
	}
	if bound <= 0 {
		bound = 3 * time.Minute
	}
	// The one retry policy (sdk/retry), paced for a clean-up that should
	// find the portal's next open moment soon, and bounded in time rather
	// than in attempts.
	pol := retry.Policy{Retries: 1 << 20, Base: delay, Max: most, ThrottleBase: delay, MaxElapsed: bound}
	return pol.Do(ctx, func(ctx context.Context, _ int) error {
		err := GetJSON(ctx, p, req, nil)
		if sdk.IsNotFound(err) {
			return nil
		}
		return err
	})
}
