package pluginhost

import (
	"context"
	"fmt"

	"github.com/agolpipe/agolpipe/sdk"
)

// The supervised exporter passes the optional restore side (sdk.Restorer)
// through, starting the plugin on demand like Export.

// RestoreItemTypes are the types the exporter plugin announced it can
// restore; asking starts it. None when it cannot start.
func (x *exporter) RestoreItemTypes() []string {
	if err := x.started(); err != nil {
		return nil
	}
	v, _, _ := x.cur()
	return sdk.RestoreItemTypesOf(v)
}

// RestoreSkippedItemTypes are the types whose skipped exports the plugin
// announced it restores too.
func (x *exporter) RestoreSkippedItemTypes() []string {
	if err := x.started(); err != nil {
		return nil
	}
	v, _, _ := x.cur()
	return sdk.RestoreSkippedItemTypesOf(v)
}

// Restore restores one item through the plugin.
func (x *exporter) Restore(ctx context.Context, req sdk.RestoreRequest, host sdk.RestoreHost) (sdk.RestoreResult, error) {
	if err := x.started(); err != nil {
		return sdk.RestoreResult{}, err
	}
	v, p, g := x.cur()
	r, ok := v.(sdk.Restorer)
	if !ok {
		return sdk.RestoreResult{}, sdk.Permanent("exporter %q cannot restore items", x.Info().Name)
	}
	res, err := r.Restore(ctx, req, host)
	return res, x.s.check(err, p, g, fmt.Sprintf("restoring item %s (%q)", req.Item.ID, req.Item.Title))
}
