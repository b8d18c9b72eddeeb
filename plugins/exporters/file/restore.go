package file

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/agolpipe/agolpipe/plugins/exporters/exportkit"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/arcgisrest"
)

// SinglePartMax is the largest file sent in one addItem request; larger
// files go up in parts (addItem multipart=true, addPart, commit), as
// ArcGIS requires above its single-request limit. PartSize is the size of
// each part (ArcGIS takes 1..10000 parts).
const (
	SinglePartMax = 10 << 20
	PartSize      = 8 << 20
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
		form := s.Form(backup, false)
		rc, err := host.ReadArtifact(ctx, file.Name)
		if err != nil {
			return sdk.RestoreResult{}, err
		}
		err = s.Update(ctx, id, form, &sdk.PortalFile{Field: "file", Name: name, ContentType: exportkit.MediaTypeFor(name), Size: file.Size, Body: rc})
		rc.Close()
		if err != nil {
			return sdk.RestoreResult{}, err
		}
		if err := s.RestoreDescription(ctx, id); err != nil {
			return sdk.RestoreResult{}, err
		}
		return sdk.RestoreResult{Action: sdk.ActionOverwrite, NewItemID: id, Remap: map[string]string{req.Item.ID: id}, Warnings: s.Warnings}, nil
	}
	form := s.Form(backup, true)
	form.Set("filename", name)
	id, err := upload(ctx, s, form, file, name)
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

// upload creates the item with its file: in one request up to
// SinglePartMax, else in parts. The artifact is read once, as a stream;
// its last bytes arrive only once the host has checked it, so a corrupt
// artifact never completes an upload. A failed upload's item is deleted.
func upload(ctx context.Context, s *exportkit.RestoreSession, form url.Values, file sdk.RestoreArtifact, name string) (string, error) {
	rc, err := s.Host.ReadArtifact(ctx, file.Name)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	if file.Size <= SinglePartMax {
		return s.AddItem(ctx, form, &sdk.PortalFile{Field: "file", Name: name, ContentType: exportkit.MediaTypeFor(name), Size: file.Size, Body: rc})
	}
	start := url.Values{}
	for k, v := range form {
		start[k] = v
	}
	start.Set("multipart", "true")
	id, err := s.AddItem(ctx, start, nil)
	if err != nil {
		return "", err
	}
	fail := func(err error) (string, error) {
		s.Delete(ctx, id)
		return "", err
	}
	left := file.Size
	for part := 1; left > 0; part++ {
		n := min(int64(PartSize), left)
		s.Host.Progress(ctx, sdk.Progress{ItemID: s.Req.Item.ID, Stage: fmt.Sprintf("uploading part %d", part), Percent: 100 * float64(file.Size-left) / float64(file.Size)})
		var a struct{}
		req := arcgisrest.JSONPost(s.ItemOpPath(id, "addPart"), url.Values{})
		req.Query = url.Values{"partNum": {strconv.Itoa(part)}}
		req.File = &sdk.PortalFile{Field: "file", Name: name, ContentType: "application/octet-stream", Size: n, Body: io.LimitReader(rc, n)}
		if err := arcgisrest.GetJSON(ctx, s.Host.Portal, req, &a); err != nil {
			return fail(fmt.Errorf("part %d: %w", part, err))
		}
		left -= n
	}
	// The stream must end here: reading its end is what makes the host
	// check the sha256 of everything sent.
	if _, err := rc.Read(make([]byte, 1)); err != io.EOF {
		if err == nil {
			err = sdk.Permanent("artifact %s is longer than the manifest says", file.Name)
		}
		return fail(err)
	}
	var a struct{}
	if err := s.Post(ctx, s.ItemOpPath(id, "commit"), form, nil, &a); err != nil {
		return fail(fmt.Errorf("commit: %w", err))
	}
	if err := waitCommitted(ctx, s, id); err != nil {
		return fail(err)
	}
	return id, nil
}

// waitCommitted polls the item's status until the commit is done (bounded).
func waitCommitted(ctx context.Context, s *exportkit.RestoreSession, id string) error {
	deadline := time.Now().Add(30 * time.Minute)
	delay := 500 * time.Millisecond
	for {
		var st struct {
			Status        string `json:"status"`
			StatusMessage string `json:"statusMessage"`
		}
		if err := s.Retry.Do(ctx, func(ctx context.Context, _ int) error {
			return arcgisrest.GetJSON(ctx, s.Host.Portal, arcgisrest.JSON(s.ItemOpPath(id, "status"), nil), &st)
		}); err != nil {
			return fmt.Errorf("status of the upload: %w", err)
		}
		switch st.Status {
		case "completed", "complete", "":
			return nil
		case "failed":
			return sdk.Permanent("the portal failed the upload: %s", st.StatusMessage)
		}
		if time.Now().After(deadline) {
			return sdk.Permanent("the portal had not finished the upload after 30 minutes (status %s)", st.Status)
		}
		select {
		case <-ctx.Done():
			return &sdk.Error{Kind: sdk.KindCanceled, Err: ctx.Err()}
		case <-time.After(delay):
		}
		delay = min(2*delay, 5*time.Second)
	}
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
