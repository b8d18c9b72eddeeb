package reference

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/agolpipe/agolpipe/plugins/exporters/exportkit"
	"github.com/agolpipe/agolpipe/sdk"
)

// RestoreItemTypes: every reference type the exporter saves.
func (e *Exporter) RestoreItemTypes() []string { return ItemTypes }

// RestoreSkippedItemTypes: all of them. The export reports every reference
// item skipped (what it points at is not the organization's), yet its
// description is the whole item: it restores.
func (e *Exporter) RestoreSkippedItemTypes() []string { return ItemTypes }

// Restore re-creates a reference item from its description: the item with
// its URL (what it points at stays where it is), data JSON (a WMS item's
// layer list), thumbnail and metadata, in its folder; sharing and owner are
// the host's. In place it is skipped when identical, URL included.
func (e *Exporter) Restore(ctx context.Context, req sdk.RestoreRequest, host sdk.RestoreHost) (sdk.RestoreResult, error) {
	return RestoreReference(ctx, exportkit.NewRestoreSession(host, req, e.Retry))
}

// RestoreReference restores a reference item through s; a hosted layer
// among them (a hosted scene or image layer, whose data no exporter copies)
// cannot be restored as new.
func RestoreReference(ctx context.Context, s *exportkit.RestoreSession) (sdk.RestoreResult, error) {
	if !(s.Req.Mode == sdk.RestoreOverwrite && s.Req.TargetItemID != "") && s.Has(exportkit.ItemJSON) {
		it, err := s.LoadItem(ctx)
		if err != nil {
			return sdk.RestoreResult{}, err
		}
		if slices.ContainsFunc(it.TypeKeywords, func(k string) bool { return strings.EqualFold(k, "Hosted Service") }) {
			return sdk.RestoreResult{Action: sdk.ActionCannot, Cannot: sdk.CannotNotRestorable,
				Reason: fmt.Sprintf("hosted %s: the run holds only its description, not its data (agolpipe has no exporter for this kind of hosted layer), "+
					"and a new item pointing at the backed-up service would not restore it; publish it again in the target from the data it was made from", it.Type)}, nil
		}
	}
	return s.RestoreItem(ctx, exportkit.ItemRestore{SameURL: true})
}
