package itemjson

import (
	"context"

	"github.com/agolpipe/agolpipe/plugins/exporters/exportkit"
	"github.com/agolpipe/agolpipe/sdk"
)

// RestoreItemTypes: every type the exporter saves can be put back.
func (e *Exporter) RestoreItemTypes() []string { return ItemTypes }

// Restore puts a JSON-configured item back: its description (item.json),
// data JSON with every id and URL of the backup remapped, thumbnail,
// metadata, resources and relationships (exportkit's RestoreItem). Sharing
// and owner are the host's.
func (e *Exporter) Restore(ctx context.Context, req sdk.RestoreRequest, host sdk.RestoreHost) (sdk.RestoreResult, error) {
	return exportkit.NewRestoreSession(host, req, e.Retry).RestoreItem(ctx, exportkit.ItemRestore{})
}
