package file

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strings"

	"github.com/agolpipe/agolpipe/plugins/exporters/exportkit"
	"github.com/agolpipe/agolpipe/sdk"
)

// SinglePartMax and PartSize are exportkit's: a file above SinglePartMax
// goes up in parts of PartSize (RestoreSession.UploadItem).
const (
	SinglePartMax = exportkit.SinglePartMax
	PartSize      = exportkit.PartSize
)

// RestoreItemTypes: every file type the exporter saves.
func (e *Exporter) RestoreItemTypes() []string { return ItemTypes }

// Restore uploads the item's file again with its type, name and
// description (thumbnail and metadata too), streamed from the run.
func (e *Exporter) Restore(ctx context.Context, req sdk.RestoreRequest, host sdk.RestoreHost) (sdk.RestoreResult, error) {
	s := exportkit.NewRestoreSession(host, req, e.Retry)
	if !s.Has(exportkit.ItemJSON) {
		return sdk.RestoreResult{Action: sdk.ActionCannot, Cannot: sdk.CannotMissingArtifact,
			Reason: "the run holds no item.json for this item (its export did not finish)"}, nil
	}
	file, ok := fileArtifact(req)
	if !ok {
		return sdk.RestoreResult{Action: sdk.ActionCannot, Cannot: sdk.CannotNotRestorable,
			Reason: "the run holds only this item's description, not its file (a service definition not downloaded, or no file on the portal)"}, nil
	}
	overwriting := req.Mode == sdk.RestoreOverwrite && req.TargetItemID != ""
	if req.PlanOnly && !overwriting {
		return sdk.RestoreResult{Action: sdk.ActionCreate}, nil
	}
	backup, err := s.LoadItem(ctx)
	if err != nil {
		return sdk.RestoreResult{}, err
	}
	name := backup.Name
	if name == "" {
		name = file.Name
	}
	if overwriting {
		id := req.TargetItemID
		same, err := sameFile(ctx, s, id, file)
		if err != nil {
			return sdk.RestoreResult{}, err
		}
		target, err := s.TargetItem(ctx, id)
		if err != nil {
			return sdk.RestoreResult{}, fmt.Errorf("reading the item to overwrite: %w", err)
		}
		if same && s.SameDescription(backup, target) {
			return sdk.RestoreResult{Action: sdk.ActionSkip, Reason: "the item already holds the backup's file and description", NewItemID: id,
				Remap: map[string]string{req.Item.ID: id}}, nil
		}
		if req.PlanOnly {
			return sdk.RestoreResult{Action: sdk.ActionOverwrite}, nil
		}
		if err := s.ReplaceFile(ctx, id, s.Form(backup, false), file, name); err != nil {
			return sdk.RestoreResult{}, err
		}
		if err := s.RestoreDescription(ctx, id); err != nil {
			return sdk.RestoreResult{}, err
		}
		return sdk.RestoreResult{Action: sdk.ActionOverwrite, NewItemID: id, Remap: map[string]string{req.Item.ID: id}, Warnings: s.Warnings}, nil
	}
	form := s.Form(backup, true)
	form.Set("filename", name)
	id, err := s.UploadItem(ctx, form, file, name)
	if err != nil {
		return sdk.RestoreResult{}, err
	}
	if err := s.RestoreDescription(ctx, id); err != nil {
		s.Delete(ctx, id)
		return sdk.RestoreResult{}, err
	}
	return sdk.RestoreResult{Action: sdk.ActionCreate, NewItemID: id, Remap: map[string]string{req.Item.ID: id}, Warnings: s.Warnings}, nil
}

// fileArtifact is the item's file among its artifacts: the one that is not
// part of the description.
func fileArtifact(req sdk.RestoreRequest) (sdk.RestoreArtifact, bool) {
	for _, a := range req.Artifacts {
		switch {
		case a.Name == exportkit.ItemJSON, a.Name == exportkit.MetadataXML, a.Name == exportkit.RelationshipsJSON,
			strings.HasPrefix(a.Name, "thumbnail."):
			continue
		}
		return a, true
	}
	return sdk.RestoreArtifact{}, false
}

// sameFile reports whether the target item's file is the backup's (sha256
// of a streamed download).
func sameFile(ctx context.Context, s *exportkit.RestoreSession, id string, file sdk.RestoreArtifact) (bool, error) {
	resp, err := s.Host.Portal(ctx, exportkit.Raw(exportkit.ItemPath(id, "data"), nil))
	if sdk.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading the file of the item to overwrite: %w", err)
	}
	defer resp.Body.Close()
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	if err != nil {
		return false, fmt.Errorf("reading the file of the item to overwrite: %w", err)
	}
	return n == file.Size && strings.EqualFold(hex.EncodeToString(h.Sum(nil)), file.SHA256), nil
}
