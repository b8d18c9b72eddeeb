package itemjson

import (
	"context"
	"fmt"
	"net/url"

	"github.com/agolpipe/agolpipe/plugins/exporters/exportkit"
	"github.com/agolpipe/agolpipe/sdk"
)

// RestoreItemTypes: every type the exporter saves can be put back.
func (e *Exporter) RestoreItemTypes() []string { return ItemTypes }

// Restore puts a JSON-configured item back: its description (item.json),
// data JSON with every id and URL of the backup remapped, thumbnail,
// metadata, resources and relationships. Sharing and owner are the host's.
func (e *Exporter) Restore(ctx context.Context, req sdk.RestoreRequest, host sdk.RestoreHost) (sdk.RestoreResult, error) {
	return RestoreJSONItem(ctx, exportkit.NewRestoreSession(host, req, e.Retry))
}

// RestoreJSONItem restores (or plans) one JSON-configured item through s.
func RestoreJSONItem(ctx context.Context, s *exportkit.RestoreSession) (sdk.RestoreResult, error) {
	req := s.Req
	if !s.Has(exportkit.ItemJSON) {
		return sdk.RestoreResult{Action: sdk.ActionCannot, Cannot: sdk.CannotMissingArtifact,
			Reason: "the run holds no item.json for this item (its export did not finish)"}, nil
	}
	overwriting := req.Mode == sdk.RestoreOverwrite && req.TargetItemID != ""
	if req.PlanOnly && !overwriting {
		return sdk.RestoreResult{Action: sdk.ActionCreate}, nil
	}
	backup, err := s.LoadItem(ctx)
	if err != nil {
		return sdk.RestoreResult{}, err
	}
	var data []byte
	if s.Has(exportkit.DataJSON) {
		if data, err = s.ReadAll(ctx, exportkit.DataJSON); err != nil {
			return sdk.RestoreResult{}, err
		}
		data = sdk.RemapJSON(data, req.Remap)
	}
	if overwriting {
		return overwrite(ctx, s, backup, data)
	}
	form := s.Form(backup, true)
	if data != nil {
		form.Set("text", string(data))
	}
	id, err := s.AddItem(ctx, form, nil)
	if err != nil {
		return sdk.RestoreResult{}, err
	}
	s.Req.Remap = withEntry(req.Remap, req.Item.ID, id)
	if err := finish(ctx, s, id); err != nil {
		s.Delete(ctx, id)
		return sdk.RestoreResult{}, err
	}
	return sdk.RestoreResult{Action: sdk.ActionCreate, NewItemID: id, Remap: map[string]string{req.Item.ID: id}, Warnings: s.Warnings}, nil
}

// overwrite replaces the target item's content in place (id and URL kept),
// or skips it when it already holds the backup's.
func overwrite(ctx context.Context, s *exportkit.RestoreSession, backup exportkit.BackupItem, data []byte) (sdk.RestoreResult, error) {
	id := s.Req.TargetItemID
	target, err := s.TargetItem(ctx, id)
	if err != nil {
		return sdk.RestoreResult{}, fmt.Errorf("reading the item to overwrite: %w", err)
	}
	cur, err := s.TargetData(ctx, id)
	if err != nil {
		return sdk.RestoreResult{}, fmt.Errorf("reading the data of the item to overwrite: %w", err)
	}
	if s.SameDescription(backup, target) && (data == nil || exportkit.SameJSON(data, cur)) {
		// Description and data alone would call an item whose thumbnail
		// or a resource (a StoryMap's images, an app's config) changed
		// identical, and a restore would leave it as it is.
		same, _, err := s.SameThumbnailAndResources(ctx, id, target)
		if err != nil {
			return sdk.RestoreResult{}, err
		}
		if same {
			return sdk.RestoreResult{Action: sdk.ActionSkip, Reason: "the item already holds the backup's description, data, thumbnail and resources", NewItemID: id,
				Remap: map[string]string{s.Req.Item.ID: id}}, nil
		}
	}
	if s.Req.PlanOnly {
		return sdk.RestoreResult{Action: sdk.ActionOverwrite}, nil
	}
	form := s.Form(backup, false)
	if data != nil {
		form.Set("text", string(data))
	}
	if err := s.Update(ctx, id, form, nil); err != nil {
		return sdk.RestoreResult{}, err
	}
	if s.Has(exportkit.ResourcesZip) {
		var a struct{}
		if err := s.Post(ctx, s.ItemOpPath(id, "removeResources"), url.Values{"deleteAll": {"true"}}, nil, &a); err != nil {
			return sdk.RestoreResult{}, fmt.Errorf("clearing the resources before restoring them: %w", err)
		}
	}
	if err := finish(ctx, s, id); err != nil {
		return sdk.RestoreResult{}, err
	}
	return sdk.RestoreResult{Action: sdk.ActionOverwrite, NewItemID: id, Remap: map[string]string{s.Req.Item.ID: id}, Warnings: s.Warnings}, nil
}

// finish restores what follows the item's creation.
func finish(ctx context.Context, s *exportkit.RestoreSession, id string) error {
	if err := s.RestoreDescription(ctx, id); err != nil {
		return err
	}
	if _, err := s.RestoreResources(ctx, id); err != nil {
		return err
	}
	return s.RestoreRelationships(ctx, id)
}

func withEntry(m map[string]string, k, v string) map[string]string {
	out := make(map[string]string, len(m)+1)
	for a, b := range m {
		out[a] = b
	}
	out[k] = v
	return out
}
