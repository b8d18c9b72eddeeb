package tiles

import (
	"context"
	"fmt"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/agolpipe/agolpipe/plugins/exporters/exportkit"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/arcgisrest"
)

// Restore of hosted tile and vector tile layers, the inverse of Export: the
// run's tile package is uploaded as a Tile Package / Compact Tile Package /
// Vector Tile Package item and published as a hosted (vector) tile layer
// (publish with filetype tilePackage / compactTilePackage /
// vectorTilePackage, as ArcGIS does it), then the item's description,
// thumbnail, metadata and relationships are put back and the temporary
// package item deleted. The layer's old id and URL map to the new ones, so
// the web maps restored after it point at it.
//
// A layer whose export saved its description only (above
// maxExportTilesCount, exportTiles not allowed, its package backed up as a
// file) cannot be restored: the reason says what to do. A Map Service that
// is not hosted (a map image layer) is a reference to its server: it is
// re-created from its description like the reference exporter's items.

// restoreTimeout bounds the publish job of a restore.
const restoreTimeout = 30 * time.Minute

// packageTypes: the item type and publish filetype of each package kind.
var packageTypes = map[string]struct{ itemType, fileType string }{
	".tpk":  {"Tile Package", "tilePackage"},
	".tpkx": {"Compact Tile Package", "compactTilePackage"},
	".vtpk": {"Vector Tile Package", "vectorTilePackage"},
}

// RestoreItemTypes: hosted tile and vector tile layers, and map image
// layers (references).
func (e *Exporter) RestoreItemTypes() []string { return e.ItemTypes() }

// RestoreSkippedItemTypes: the same. A map image layer's export is skipped
// (its data is its server's) and its description restores it; a tile layer
// whose tiles were not exported is asked about too, so the plan says what
// to do rather than only that its export was skipped.
func (e *Exporter) RestoreSkippedItemTypes() []string { return e.ItemTypes() }

// Restore restores (or plans) one tile layer.
func (e *Exporter) Restore(ctx context.Context, req sdk.RestoreRequest, host sdk.RestoreHost) (sdk.RestoreResult, error) {
	s := exportkit.NewRestoreSession(host, req, e.Retry)
	if !s.Has(exportkit.ItemJSON) {
		return s.NoItemJSON(), nil
	}
	backup, err := s.LoadItem(ctx)
	if err != nil {
		return sdk.RestoreResult{}, err
	}
	if !slices.ContainsFunc(backup.TypeKeywords, func(k string) bool { return strings.EqualFold(k, "Hosted Service") }) {
		// A map image layer: its item is a reference to the server that
		// draws it.
		return s.RestoreItem(ctx, exportkit.ItemRestore{SameURL: true})
	}
	pkg, ok := packageArtifact(req)
	if req.Mode == sdk.RestoreOverwrite && req.TargetItemID != "" {
		return e.inPlace(ctx, s, backup)
	}
	if !ok {
		_, why := req.ExportStatusOf()
		if why == "" {
			why = "no tile package was saved"
		}
		return sdk.RestoreResult{Action: sdk.ActionCannot, Cannot: sdk.CannotNotRestorable,
			Reason: fmt.Sprintf("the run holds this hosted %s's description, not its tiles (its backup said: %s). "+
				"To restore it, publish it again in the target from the tile package it was made from (if the run holds that package's item, restore it and publish it), "+
				"or make its tiles exportable (allow exportTiles, and a maxExportTilesCount above its tiles) and back it up again", strings.ToLower(layerKind(backup.Type)), strings.TrimSuffix(why, "."))}, nil
	}
	return e.publishNew(ctx, s, backup, pkg)
}

func layerKind(typ string) string {
	if typ == "Vector Tile Service" {
		return "Vector tile layer"
	}
	return "Tile layer"
}

// packageArtifact is the run's tile package of the item.
func packageArtifact(req sdk.RestoreRequest) (sdk.RestoreArtifact, bool) {
	for _, a := range req.Artifacts {
		if _, ok := packageTypes[strings.ToLower(path.Ext(a.Name))]; ok {
			return a, true
		}
	}
	return sdk.RestoreArtifact{}, false
}

// inPlace: the layer exists in the target (its own org, or the copy an
// earlier restore made). Its tiles are its own: a portal cannot compare or
// swap them in place, so only the description is the backup's to put back.
func (e *Exporter) inPlace(ctx context.Context, s *exportkit.RestoreSession, backup exportkit.BackupItem) (sdk.RestoreResult, error) {
	id := s.Req.TargetItemID
	target, err := s.TargetItem(ctx, id)
	if err != nil {
		return sdk.RestoreResult{}, fmt.Errorf("reading the layer to overwrite: %w", err)
	}
	remap := map[string]string{s.Req.Item.ID: id}
	if old, now := strings.TrimRight(backup.URL, "/"), strings.TrimRight(target.URL, "/"); old != "" && now != "" && old != now {
		remap[old] = now
	}
	s.Req.Remap = merge(s.Req.Remap, remap)
	if s.SameDescription(backup, target) {
		same, _, err := s.SameThumbnailAndResources(ctx, id, target)
		if err != nil {
			return sdk.RestoreResult{}, err
		}
		if same {
			return sdk.RestoreResult{Action: sdk.ActionSkip, NewItemID: id, Remap: remap,
				Reason: "the layer exists with the backup's description and thumbnail (its tiles are the layer's own and are not compared: to replace them, delete the layer and restore it)"}, nil
		}
	}
	if s.Req.PlanOnly {
		return sdk.RestoreResult{Action: sdk.ActionOverwrite, Remap: remap, Reason: "its description is put back; its tiles are left as they are"}, nil
	}
	form := s.Form(backup, false)
	form.Del("url") // the portal's address of the service
	if err := s.Update(ctx, id, form, nil); err != nil {
		return sdk.RestoreResult{}, err
	}
	if err := s.RestoreDescription(ctx, id); err != nil {
		return sdk.RestoreResult{}, err
	}
	s.Warn(ctx, "layer %s: its description was put back; its tiles were left as they are (delete the layer and restore it to replace them)", id)
	return sdk.RestoreResult{Action: sdk.ActionOverwrite, NewItemID: id, Remap: remap, Warnings: s.Warnings}, nil
}

// publishNew uploads the package and publishes it as a new hosted layer.
func (e *Exporter) publishNew(ctx context.Context, s *exportkit.RestoreSession, backup exportkit.BackupItem, pkg sdk.RestoreArtifact) (res sdk.RestoreResult, err error) {
	req := s.Req
	pt := packageTypes[strings.ToLower(path.Ext(pkg.Name))]
	vector := backup.Type == "Vector Tile Service"
	if vector != (pt.itemType == "Vector Tile Package") {
		return sdk.RestoreResult{Action: sdk.ActionCannot, Cannot: sdk.CannotNotRestorable,
			Reason: fmt.Sprintf("the run's package %s is a %s, which does not make a %s", pkg.Name, pt.itemType, backup.Type)}, nil
	}
	name, err := freeName(ctx, s, serviceName(backup.URL), backup.Type)
	if err != nil {
		return sdk.RestoreResult{}, err
	}
	if req.PlanOnly {
		reason := ""
		if name != serviceName(backup.URL) {
			reason = fmt.Sprintf("published as service %q (%q is taken in the target)", name, serviceName(backup.URL))
		}
		return sdk.RestoreResult{Action: sdk.ActionCreate, Reason: reason}, nil
	}
	// The package goes up as a temporary item carrying the restore's mark
	// (a stopped restore's leftover is found by undo).
	kw := []string{pt.itemType}
	if req.Mark != "" {
		kw = append(kw, req.Mark)
	}
	form := url.Values{"title": {"agolpipe-restore " + req.RestoreID + " " + req.Item.ID}, "type": {pt.itemType},
		"typeKeywords": {strings.Join(kw, ",")}, "tags": {"agolpipe-restore"}, "filename": {pkg.Name},
		"snippet": {"Temporary upload made by agolpipe restore; deleted when the restore ends."}}
	upload, err := s.UploadItem(ctx, form, pkg, pkg.Name)
	if err != nil {
		return sdk.RestoreResult{}, fmt.Errorf("uploading %s: %w", pkg.Name, err)
	}
	defer dropUpload(ctx, s, upload)
	pp := fmt.Sprintf(`{"name":%q}`, name)
	p := "content/users/" + url.PathEscape(req.Owner)
	if req.FolderID != "" {
		p += "/" + url.PathEscape(req.FolderID)
	}
	var ans exportkit.PublishAnswer
	if err := s.Post(ctx, p+"/publish", url.Values{"itemid": {upload}, "filetype": {pt.fileType}, "publishParameters": {pp}}, nil, &ans); err != nil {
		return sdk.RestoreResult{}, fmt.Errorf("publishing %s: %w", pkg.Name, err)
	}
	sv, err := ans.Service(pkg.Name)
	if err != nil {
		return sdk.RestoreResult{}, err
	}
	id, newURL := sv.ServiceItemID, strings.TrimRight(sv.ServiceURL, "/")
	// From here a failure deletes the layer: a half-restored one is worse
	// than none (the report says it failed).
	defer func() {
		if err != nil {
			s.Delete(ctx, id)
		}
	}()
	if sv.JobID != "" {
		st := arcgisrest.JSON(s.ItemOpPath(id, "status"), url.Values{"jobId": {sv.JobID}, "jobType": {"publish"}})
		opt := e.Poll
		opt.Timeout = restoreTimeout
		opt.OnStatus = func(j arcgisrest.Job) {
			s.Host.Progress(ctx, sdk.Progress{ItemID: req.Item.ID, Stage: "publishing: " + j.Status})
		}
		j, err := arcgisrest.PollJob(ctx, s.Host.Portal, st, opt)
		if err != nil {
			return sdk.RestoreResult{}, fmt.Errorf("publishing %s: %w", pkg.Name, err)
		}
		if j.State != arcgisrest.JobSucceeded {
			msg := j.Message
			if msg == "" {
				msg = j.Status
			}
			return sdk.RestoreResult{}, sdk.Permanent("publishing %s did not succeed: %s", pkg.Name, msg)
		}
	}
	remap := map[string]string{req.Item.ID: id}
	if old := strings.TrimRight(backup.URL, "/"); old != "" && newURL != "" && old != newURL {
		remap[old] = newURL
	}
	s.Req.Remap = merge(req.Remap, remap)
	item := s.Form(backup, true)
	item.Del("url") // the portal's address of the new service
	if err := s.Update(ctx, id, item, nil); err != nil {
		return sdk.RestoreResult{}, fmt.Errorf("putting the layer's description back: %w", err)
	}
	if err := s.RestoreDescription(ctx, id); err != nil {
		return sdk.RestoreResult{}, err
	}
	if err := s.RestoreRelationships(ctx, id); err != nil {
		return sdk.RestoreResult{}, err
	}
	return sdk.RestoreResult{Action: sdk.ActionCreate, NewItemID: id, Remap: remap, Warnings: s.Warnings}, nil
}

// serviceName is the service's name in its URL (.../services/<name>/MapServer).
func serviceName(u string) string {
	u = strings.TrimRight(u, "/")
	u = strings.TrimSuffix(strings.TrimSuffix(u, "/MapServer"), "/VectorTileServer")
	if i := strings.LastIndex(u, "/"); i >= 0 {
		return u[i+1:]
	}
	return u
}

// freeName returns name, or name_restored[_N], whichever the target has
// free for a service of the type.
func freeName(ctx context.Context, s *exportkit.RestoreSession, name, typ string) (string, error) {
	for i := 0; i < 20; i++ {
		cand := name
		if i == 1 {
			cand = name + "_restored"
		} else if i > 1 {
			cand = fmt.Sprintf("%s_restored_%d", name, i)
		}
		var a struct {
			Available bool `json:"available"`
		}
		q := url.Values{"name": {cand}, "type": {typ}}
		err := s.Retry.Do(ctx, func(ctx context.Context, _ int) error {
			return arcgisrest.GetJSON(ctx, s.Host.Portal, arcgisrest.JSON("portals/self/isServiceNameAvailable", q), &a)
		})
		if err != nil {
			return "", err
		}
		if a.Available {
			return cand, nil
		}
	}
	return "", sdk.Permanent("no free service name like %q in the target", name)
}

// dropUpload deletes the temporary package item for good.
func dropUpload(ctx context.Context, s *exportkit.RestoreSession, id string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	err := arcgisrest.DeleteItem(ctx, s.Host.Portal, s.Req.Owner, id, s.Req.Target.Mode != "enterprise", arcgisrest.DeleteOptions{})
	if err != nil {
		s.Warn(ctx, "the temporary package upload %s of this restore could not be deleted (%v); it carries the restore's mark, so `agolpipe restore undo %s` removes it, or delete it in the portal",
			id, err, s.Req.RestoreID)
	}
}

func merge(a, b map[string]string) map[string]string {
	out := make(map[string]string, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}
