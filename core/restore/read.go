package restore

import (
	"context"

	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/arcgisrest"
	"github.com/agolpipe/agolpipe/sdk/retry"
)

// readJSON is a read the restore engine makes of a portal (the search for
// earlier copies, an owner's folders, a group, an item's state), retried
// under the one policy (sdk/retry: throttling waited out longer, a 5xx or
// a dropped connection briefly): the source's Do retries only a refused
// token, so one 429 or 500 failed the item, or the whole plan.
func readJSON(ctx context.Context, do arcgisrest.Portal, req sdk.PortalRequest, v any) error {
	return retry.Policy{}.Do(ctx, func(ctx context.Context, _ int) error {
		return arcgisrest.GetJSON(ctx, do, req, v)
	})
}
