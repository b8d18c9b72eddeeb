package exportkit

import (
	"context"
	"fmt"
	"net/url"

	"github.com/agolpipe/agolpipe/sdk"
)

// ItemRestore says how RestoreItem compares a target item with the backup.
type ItemRestore struct {
	// SameURL: the item is identical only when its URL is the backup's
	// (remapped) too: a reference item is its URL.
	SameURL bool
}

// RestoreItem restores (or plans) an item whose content is its
// description, an optional data JSON (data.json, every id and URL of the
// backup remapped), thumbnail, metadata, resources and relationships: the
// JSON-configured items of item_json, and the reference items of the
// reference exporter. New: addItem with the restore's marks, then the rest;
// a failure deletes what was created. In place (RestoreOverwrite): skipped
// when the target already holds the backup's description, data, thumbnail
// and resources, else updated with its id and URL kept. Sharing, owner and
// folder are the host's.
func (s *RestoreSession) RestoreItem(ctx context.Context, opt ItemRestore) (sdk.RestoreResult, error) {
	req := s.Req
	if !s.Has(ItemJSON) {
		return s.NoItemJSON(), nil
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
	if s.Has(DataJSON) {
		if data, err = s.ReadAll(ctx, DataJSON); err != nil {
			return sdk.RestoreResult{}, err
		}
		data = sdk.RemapJSON(data, req.Remap)
	}
	if overwriting {
		return s.overwriteItem(ctx, opt, backup, data)
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
	if err := s.finishItem(ctx, id); err != nil {
		s.Delete(ctx, id)
		return sdk.RestoreResult{}, err
	}
	return sdk.RestoreResult{Action: sdk.ActionCreate, NewItemID: id, Remap: map[string]string{req.Item.ID: id}, Warnings: s.Warnings}, nil
}

// NoItemJSON is the plan of an item whose run holds no item.json: cannot,
// saying why (an export skipped before it saved anything, say because no
// export block handled the type, gives its own reason).
func (s *RestoreSession) NoItemJSON() sdk.RestoreResult {
	why := "its export did not finish"
	if st, reason := s.Req.ExportStatusOf(); st == sdk.StatusSkipped && reason != "" {
		why = "its export was skipped: " + reason
	}
	return sdk.RestoreResult{Action: sdk.ActionCannot, Cannot: sdk.CannotMissingArtifact,
		Reason: "the run holds no item.json for this item (" + why + ")"}
}

// overwriteItem replaces the target item's content in place (id and URL
// kept), or skips it when it already holds the backup's.
func (s *RestoreSession) overwriteItem(ctx context.Context, opt ItemRestore, backup BackupItem, data []byte) (sdk.RestoreResult, error) {
	id := s.Req.TargetItemID
	target, err := s.TargetItem(ctx, id)
	if err != nil {
		return sdk.RestoreResult{}, fmt.Errorf("reading the item to overwrite: %w", err)
	}
	cur, err := s.TargetData(ctx, id)
	if err != nil {
		return sdk.RestoreResult{}, fmt.Errorf("reading the data of the item to overwrite: %w", err)
	}
	sameURL := !opt.SameURL || sdk.Remapper(s.Req.Remap).Replace(backup.URL) == target.URL
	if sameURL && s.SameDescription(backup, target) && (data == nil || SameJSON(data, cur)) {
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
	if s.Has(ResourcesZip) {
		var a struct{}
		if err := s.Post(ctx, s.ItemOpPath(id, "removeResources"), url.Values{"deleteAll": {"true"}}, nil, &a); err != nil {
			return sdk.RestoreResult{}, fmt.Errorf("clearing the resources before restoring them: %w", err)
		}
	}
	if err := s.finishItem(ctx, id); err != nil {
		return sdk.RestoreResult{}, err
	}
	return sdk.RestoreResult{Action: sdk.ActionOverwrite, NewItemID: id, Remap: map[string]string{s.Req.Item.ID: id}, Warnings: s.Warnings}, nil
}

// finishItem restores what follows the item's creation.
func (s *RestoreSession) finishItem(ctx context.Context, id string) error {
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
