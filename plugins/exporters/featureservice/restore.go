package featureservice

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/agolpipe/agolpipe/plugins/exporters/exportkit"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/arcgisrest"
)

// Restore of hosted feature services, the inverse of Export:
//
//   - new: the run's data file (File Geodatabase, or the Shapefile / CSV
//     fallback) is uploaded as a temporary item and published as a hosted
//     feature service; then what the backup saved of the service and its
//     layers is re-applied (capabilities, editor tracking, sync, extents,
//     field aliases and domains, drawing info, templates, types), the
//     item's description and data (popups) written back, and the row and
//     attachment counts checked against counts.json.
//   - views: re-created with createService (isView) on their source
//     service in the target, and addToDefinition with each layer's source
//     layer, fields and filter (view_layers.json).
//   - in place (overwrite): the service keeps its item id and URL; each
//     layer is emptied (truncate, or deletes where truncate is not
//     supported) and the backup's rows appended from the uploaded file
//     (with their GlobalIDs, so related rows and attachments stay linked),
//     then the definitions are re-applied.
//
// Every portal write goes through the host. The temporary upload carries
// the restore's mark and is deleted when the restore ends.

// RestoreItemTypes: hosted feature services and their views.
func (e *Exporter) RestoreItemTypes() []string { return []string{"Feature Service"} }

// dataArtifacts are the data files a restore can publish or append, in
// order of preference, with the publish filetype and append format.
var dataArtifacts = []struct{ name, fileType, appendFormat, itemType string }{
	{"data.gdb.zip", "fileGeodatabase", "filegdb", "File Geodatabase"},
	{"data.shp.zip", "shapefile", "shapefile", "Shapefile"},
	{"data.csv.zip", "csv", "csv", "CSV Collection"},
}

// restoreTimeout bounds each portal job of a restore (publish, append).
const restoreTimeout = 30 * time.Minute

// Restore restores (or plans) one feature service.
func (e *Exporter) Restore(ctx context.Context, req sdk.RestoreRequest, host sdk.RestoreHost) (sdk.RestoreResult, error) {
	s := exportkit.NewRestoreSession(host, req, e.Retry)
	r := &fsRestore{e: e, s: s, req: req}
	return r.run(ctx)
}

type fsRestore struct {
	e   *Exporter
	s   *exportkit.RestoreSession
	req sdk.RestoreRequest

	item    exportkit.BackupItem
	service map[string]any   // service.json
	layers  []map[string]any // layers.json: layers then tables
	counts  *Counts
	data    int // index in dataArtifacts, -1: none
	isView  bool
}

func cannot(why sdk.CannotReason, format string, args ...any) (sdk.RestoreResult, error) {
	return sdk.RestoreResult{Action: sdk.ActionCannot, Cannot: why, Reason: fmt.Sprintf(format, args...)}, nil
}

func (r *fsRestore) run(ctx context.Context) (sdk.RestoreResult, error) {
	s := r.s
	for _, name := range []string{exportkit.ItemJSON, "service.json", "layers.json"} {
		if !s.Has(name) {
			if name == "service.json" && s.Has(exportkit.ItemJSON) {
				return cannot(sdk.CannotNotRestorable, "the backup holds the item's description only (not a hosted feature service, or its export failed): its data lives elsewhere")
			}
			return cannot(sdk.CannotMissingArtifact, "the run holds no %s for this service (its export did not finish)", name)
		}
	}
	var err error
	if r.item, err = s.LoadItem(ctx); err != nil {
		return sdk.RestoreResult{}, err
	}
	if !slices.Contains(r.item.TypeKeywords, "Hosted Service") {
		return cannot(sdk.CannotNotRestorable, "not a hosted feature service (a registered or referenced service): its data lives on another server, and the backup holds its description only")
	}
	if err := r.readJSON(ctx, "service.json", &r.service); err != nil {
		return sdk.RestoreResult{}, err
	}
	var lj struct {
		Layers []map[string]any `json:"layers"`
		Tables []map[string]any `json:"tables"`
	}
	if err := r.readJSON(ctx, "layers.json", &lj); err != nil {
		return sdk.RestoreResult{}, err
	}
	r.layers = append(lj.Layers, lj.Tables...)
	r.isView = r.service["isView"] == true || slices.Contains(r.item.TypeKeywords, "View Service")
	r.data = -1
	for i, d := range dataArtifacts {
		if s.Has(d.name) {
			r.data = i
			break
		}
	}
	if s.Has(CountsJSON) {
		r.counts = &Counts{}
		if err := r.readJSON(ctx, CountsJSON, r.counts); err != nil {
			return sdk.RestoreResult{}, err
		}
	}
	if r.isView {
		if r.req.Mode == sdk.RestoreOverwrite && r.req.TargetItemID != "" {
			return r.overwriteView(ctx)
		}
		return r.newView(ctx)
	}
	if r.data < 0 {
		if s.Has("layers.geojson") || hasPrefix(r.req.Artifacts, "layers/") {
			return cannot(sdk.CannotNotRestorable, "the data was saved as GeoJSON through query (the export API was refused); only a File Geodatabase, Shapefile or CSV export can be published back")
		}
		return cannot(sdk.CannotMissingArtifact, "the run holds no data file for this service (data.gdb.zip, data.shp.zip or data.csv.zip): its export was skipped or failed")
	}
	if r.req.Mode == sdk.RestoreOverwrite && r.req.TargetItemID != "" {
		return r.overwrite(ctx)
	}
	return r.publishNew(ctx)
}

func hasPrefix(as []sdk.RestoreArtifact, p string) bool {
	for _, a := range as {
		if strings.HasPrefix(a.Name, p) {
			return true
		}
	}
	return false
}

func (r *fsRestore) readJSON(ctx context.Context, name string, v any) error {
	b, err := r.s.ReadAll(ctx, name)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return sdk.Permanent("%s of item %s (%s) is not JSON: %v", name, r.req.Item.ID, r.req.Item.Title, err)
	}
	return nil
}

// serviceName is the service's name in its URL (.../services/<name>/FeatureServer).
func serviceName(u string) string {
	u = strings.TrimRight(u, "/")
	u = strings.TrimSuffix(u, "/FeatureServer")
	if i := strings.LastIndex(u, "/"); i >= 0 {
		return u[i+1:]
	}
	return u
}

// freeName returns name, or name_restored[_N], whichever the target has
// free for a feature service.
func (r *fsRestore) freeName(ctx context.Context, name string) (string, error) {
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
		q := url.Values{"name": {cand}, "type": {"Feature Service"}}
		if err := r.get(ctx, arcgisrest.JSON("portals/self/isServiceNameAvailable", q), &a); err != nil {
			return "", err
		}
		if a.Available {
			return cand, nil
		}
	}
	return "", sdk.Permanent("no free service name like %q in the target", name)
}

// get is a retried read.
func (r *fsRestore) get(ctx context.Context, req sdk.PortalRequest, v any) error {
	return r.s.Retry.Do(ctx, func(ctx context.Context, _ int) error {
		return arcgisrest.GetJSON(ctx, r.s.Host.Portal, req, v)
	})
}

// post is one write, sent again only when the portal turned it away
// unapplied (throttled, or its token refused: arcgisrest.WriteJSON).
func (r *fsRestore) post(ctx context.Context, u string, form url.Values, v any) error {
	return arcgisrest.WriteJSON(ctx, r.s.Host.Portal, r.s.Retry, arcgisrest.JSONPost(u, form), nil, v)
}

// upload sends the run's data file as a temporary item of the signed-in
// user, marked as this restore's, and returns its id: in one request, or
// in parts above exportkit.SinglePartMax (a File Geodatabase is often
// gigabytes).
func (r *fsRestore) upload(ctx context.Context) (string, error) {
	d := dataArtifacts[r.data]
	a, _ := r.req.Artifact(d.name)
	kw := []string{"Data", d.itemType}
	if r.req.Mark != "" {
		kw = append(kw, r.req.Mark)
	}
	form := url.Values{"title": {"agolpipe-restore " + r.req.RestoreID + " " + r.req.Item.ID}, "type": {d.itemType},
		"typeKeywords": {strings.Join(kw, ",")}, "tags": {"agolpipe-restore"},
		"snippet": {"Temporary upload made by agolpipe restore; deleted when the restore ends."}}
	id, err := r.s.UploadItem(ctx, form, a, d.name)
	if err != nil {
		return "", fmt.Errorf("uploading %s: %w", d.name, err)
	}
	return id, nil
}

// dropUpload deletes the temporary upload for good.
func (r *fsRestore) dropUpload(ctx context.Context, id string) {
	if id == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	err := arcgisrest.DeleteItem(ctx, r.s.Host.Portal, r.req.Owner, id, r.req.Target.Mode != "enterprise", arcgisrest.DeleteOptions{})
	if err != nil {
		r.s.Warn(ctx, "the temporary upload %s of this restore could not be deleted (%v); it carries the restore's mark, so `agolpipe restore undo %s` removes it, or delete it in the portal",
			id, err, r.req.RestoreID)
	}
}

// poll waits for a job until it ends, within restoreTimeout.
func (r *fsRestore) poll(ctx context.Context, req sdk.PortalRequest, what string) error {
	opt := r.e.Poll
	opt.Timeout = restoreTimeout
	j, err := arcgisrest.PollJob(ctx, r.s.Host.Portal, req, opt)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if j.State != arcgisrest.JobSucceeded {
		msg := j.Message
		if msg == "" {
			msg = j.Status
		}
		return sdk.Permanent("%s did not succeed: %s", what, msg)
	}
	return nil
}

// analyze asks the portal (content/features/analyze) how it reads the
// uploaded CSV, and returns the publishParameters it answers.
func (r *fsRestore) analyze(ctx context.Context, upload string) (map[string]any, error) {
	var ans struct {
		PublishParameters map[string]any `json:"publishParameters"`
	}
	form := url.Values{"itemid": {upload}, "filetype": {"csv"}, "analyzeParameters": {`{"enableGlobalGeocoding":false,"sourceLocale":"en"}`}}
	if err := r.post(ctx, "content/features/analyze", form, &ans); err != nil {
		return nil, fmt.Errorf("analyzing %s before publishing it: %w", dataArtifacts[r.data].name, err)
	}
	if ans.PublishParameters == nil {
		return nil, sdk.Permanent("analyzing %s before publishing it: the portal answered no publishParameters", dataArtifacts[r.data].name)
	}
	return ans.PublishParameters, nil
}

// publishNew publishes the backup's data as a new hosted feature service.
func (r *fsRestore) publishNew(ctx context.Context) (res sdk.RestoreResult, err error) {
	s := r.s
	name, err := r.freeName(ctx, serviceName(r.item.URL))
	if err != nil {
		return sdk.RestoreResult{}, err
	}
	if r.req.PlanOnly {
		reason := ""
		if name != serviceName(r.item.URL) {
			reason = fmt.Sprintf("published as service %q (%q is taken in the target)", name, serviceName(r.item.URL))
		}
		return sdk.RestoreResult{Action: sdk.ActionCreate, Reason: reason}, nil
	}
	upload, err := r.upload(ctx)
	if err != nil {
		return sdk.RestoreResult{}, err
	}
	defer r.dropUpload(ctx, upload)
	pp := map[string]any{}
	if dataArtifacts[r.data].fileType == "csv" {
		// A CSV holds no layer definition: ArcGIS publishes it with the
		// publishParameters its analyze answers (location fields,
		// delimiter, the layer's fields), as the portal's own upload does.
		if pp, err = r.analyze(ctx, upload); err != nil {
			return sdk.RestoreResult{}, err
		}
	}
	li, _ := pp["layerInfo"].(map[string]any)
	if li == nil {
		li = map[string]any{}
	}
	li["capabilities"] = "Query"
	pp["name"], pp["maxRecordCount"], pp["hasStaticData"], pp["layerInfo"] = name, num(r.service["maxRecordCount"], 2000), false, li
	if d, ok := r.service["serviceDescription"].(string); ok {
		pp["description"] = d
	}
	ppj, _ := json.Marshal(pp)
	p := "content/users/" + url.PathEscape(r.req.Owner)
	if r.req.FolderID != "" {
		p += "/" + url.PathEscape(r.req.FolderID)
	}
	var ans exportkit.PublishAnswer
	form := url.Values{"itemid": {upload}, "filetype": {dataArtifacts[r.data].fileType}, "publishParameters": {string(ppj)}}
	if err := r.post(ctx, p+"/publish", form, &ans); err != nil {
		return sdk.RestoreResult{}, fmt.Errorf("publishing %s: %w", dataArtifacts[r.data].name, err)
	}
	sv, err := ans.Service(dataArtifacts[r.data].name)
	if err != nil {
		return sdk.RestoreResult{}, err
	}
	id, newURL := sv.ServiceItemID, strings.TrimRight(sv.ServiceURL, "/")
	// From here on a failure deletes what was published: a half-restored
	// service is worse than none (the report says it failed).
	defer func() {
		if err != nil {
			s.Delete(ctx, id)
		}
	}()
	if sv.JobID != "" {
		st := arcgisrest.JSON("content/users/"+url.PathEscape(r.req.Owner)+"/items/"+url.PathEscape(id)+"/status",
			url.Values{"jobId": {sv.JobID}, "jobType": {"publish"}})
		if err := r.poll(ctx, st, "publishing"); err != nil {
			return sdk.RestoreResult{}, err
		}
	}
	remap := r.remapTo(id, newURL)
	s.Req.Remap = merge(r.req.Remap, remap)
	if err := r.applyDefinitions(ctx, newURL, false); err != nil {
		return sdk.RestoreResult{}, err
	}
	if err := r.describe(ctx, id, true); err != nil {
		return sdk.RestoreResult{}, err
	}
	if err := r.checkCounts(ctx, newURL); err != nil {
		return sdk.RestoreResult{}, err
	}
	return sdk.RestoreResult{Action: sdk.ActionCreate, NewItemID: id, Remap: remap, Warnings: s.Warnings}, nil
}

func num(v any, def int) int {
	if f, ok := v.(float64); ok && f > 0 {
		return int(f)
	}
	return def
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

// remapTo is the item's remap: its id, its service URL and each layer's.
func (r *fsRestore) remapTo(id, newURL string) map[string]string {
	m := map[string]string{r.req.Item.ID: id}
	old := strings.TrimRight(r.item.URL, "/")
	if old != "" && newURL != "" && old != newURL {
		m[old] = newURL
		for _, l := range r.layers {
			lid := num(l["id"], 0)
			if _, ok := l["id"].(float64); ok {
				m[fmt.Sprintf("%s/%d", old, lid)] = fmt.Sprintf("%s/%d", newURL, lid)
			}
		}
	}
	return m
}

// Service and layer properties a restore puts back through
// updateDefinition (what publishing a data file does not carry).
var (
	serviceKeys = []string{"capabilities", "syncEnabled", "editorTrackingInfo", "initialExtent", "fullExtent", "serviceDescription",
		"description", "copyrightText", "maxRecordCount", "allowGeometryUpdates", "xssPreventionInfo", "units", "hasStaticData"}
	layerKeys = []string{"fields", "drawingInfo", "templates", "types", "typeIdField", "displayField", "description", "copyrightText",
		"defaultVisibility", "minScale", "maxScale", "timeInfo", "htmlPopupType", "definitionExpression", "hasAttachments"}
	viewLayerKeys = []string{"drawingInfo", "templates", "types", "displayField", "description", "defaultVisibility", "minScale",
		"maxScale", "viewDefinitionQuery", "definitionExpression"}
)

func pick(m map[string]any, keys []string) map[string]any {
	out := map[string]any{}
	for _, k := range keys {
		if v, ok := m[k]; ok {
			out[k] = v
		}
	}
	return out
}

// targetLayers lists the ids of the target service's layers and tables.
func (r *fsRestore) targetLayers(ctx context.Context, svcURL string) (map[int]map[string]any, error) {
	var lj struct {
		Layers []map[string]any `json:"layers"`
		Tables []map[string]any `json:"tables"`
	}
	if err := r.get(ctx, exportkit.JSONRequest(svcURL+"/layers"), &lj); err != nil {
		return nil, err
	}
	out := map[int]map[string]any{}
	for _, l := range append(lj.Layers, lj.Tables...) {
		out[num(l["id"], 0)] = l
	}
	return out, nil
}

// applyDefinitions re-applies the service's and its layers' saved
// properties to the service at svcURL in one admin updateDefinition; for
// a view, the keys a view has of its own.
func (r *fsRestore) applyDefinitions(ctx context.Context, svcURL string, view bool) error {
	au := adminURL(svcURL)
	if au == "" {
		return sdk.Permanent("%s is not a hosted feature service URL", svcURL)
	}
	have, err := r.targetLayers(ctx, svcURL)
	if err != nil {
		return err
	}
	keys := layerKeys
	if view {
		keys = viewLayerKeys
	}
	def := pick(r.service, serviceKeys)
	if view {
		delete(def, "syncEnabled")
	}
	var layers, tables []any
	for _, l := range r.layers {
		id := num(l["id"], 0)
		if have[id] == nil {
			r.s.Warn(ctx, "layer %d (%v) of the backup is not in the restored service; its definition was not re-applied", id, l["name"])
			continue
		}
		d := pick(l, keys)
		d["id"] = id
		if f, ok := d["fields"]; ok {
			// Only the aliases and domains that differ: a server refuses a
			// change of a field's type, and the data file kept most.
			if ch := changedFields(f, have[id]["fields"]); len(ch) > 0 {
				d["fields"] = ch
			} else {
				delete(d, "fields")
			}
		}
		if l["type"] == "Table" {
			tables = append(tables, d)
		} else {
			layers = append(layers, d)
		}
	}
	if len(layers) > 0 {
		def["layers"] = layers
	}
	if len(tables) > 0 {
		def["tables"] = tables
	}
	b := sdk.RemapJSON(mustJSON(def), r.s.Req.Remap)
	var ok struct {
		Success bool `json:"success"`
	}
	if err := r.post(ctx, au+"/updateDefinition", url.Values{"updateDefinition": {string(b)}}, &ok); err != nil {
		return fmt.Errorf("re-applying the service and layer definitions: %w", err)
	}
	return nil
}

// changedFields are the backup's fields (name, alias, domain, default)
// whose alias, domain or default differ from the target's field of the
// same name; fields the target lacks are left out (a schema change is
// not an updateDefinition).
func changedFields(backup, target any) []any {
	cur := map[string]map[string]any{}
	tl, _ := target.([]any)
	for _, f := range tl {
		if m, ok := f.(map[string]any); ok {
			if n, _ := m["name"].(string); n != "" {
				cur[strings.ToLower(n)] = m
			}
		}
	}
	var out []any
	bl, _ := backup.([]any)
	for _, f := range bl {
		m, ok := f.(map[string]any)
		if !ok {
			continue
		}
		n, _ := m["name"].(string)
		t := cur[strings.ToLower(n)]
		if t == nil {
			continue
		}
		d := map[string]any{"name": n}
		diff := false
		for _, k := range []string{"alias", "domain", "defaultValue"} {
			if v, ok := m[k]; ok {
				d[k] = v
				if string(mustJSON(v)) != string(mustJSON(t[k])) {
					diff = true
				}
			}
		}
		if diff {
			out = append(out, d)
		}
	}
	return out
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// describe writes the item's description, data (popups and the rest of the
// item data, remapped), thumbnail and metadata back onto item id.
func (r *fsRestore) describe(ctx context.Context, id string, mark bool) error {
	s := r.s
	form := s.Form(r.item, mark)
	form.Del("url") // the service's URL is the portal's, not the backup's
	form.Del("type")
	if s.Has(exportkit.DataJSON) {
		b, err := s.ReadAll(ctx, exportkit.DataJSON)
		if err != nil {
			return err
		}
		form.Set("text", string(sdk.RemapJSON(b, s.Req.Remap)))
	}
	if err := s.Update(ctx, id, form, nil); err != nil {
		return fmt.Errorf("writing the item's description and data: %w", err)
	}
	if err := s.RestoreDescription(ctx, id); err != nil {
		return err
	}
	if !mark {
		return nil // in place: the item's relationships are still there
	}
	return s.RestoreRelationships(ctx, id)
}

// checkCounts compares the restored service's rows and attachments with
// counts.json; a difference fails the restore.
func (r *fsRestore) checkCounts(ctx context.Context, svcURL string) error {
	if r.counts == nil {
		r.s.Warn(ctx, "the backup has no counts.json (made before agolpipe recorded counts): the restored rows were not checked against it")
		return nil
	}
	var bad []string
	for _, l := range r.counts.Layers {
		var n struct {
			Count *int64 `json:"count"`
		}
		q := url.Values{"where": {"1=1"}, "returnCountOnly": {"true"}}
		if err := r.get(ctx, exportkit.JSONRequest(fmt.Sprintf("%s/%d/query?%s", svcURL, l.ID, q.Encode())), &n); err != nil {
			return fmt.Errorf("counting the rows of restored layer %d: %w", l.ID, err)
		}
		if n.Count == nil || *n.Count != l.Rows {
			bad = append(bad, fmt.Sprintf("layer %d (%s): %s rows, the backup %d", l.ID, l.Name, countStr(n.Count), l.Rows))
		}
		if l.Attachments == nil || !r.counts.Attachments || dataArtifacts[r.data].appendFormat != "filegdb" {
			continue
		}
		var a struct {
			Count *int64 `json:"count"`
		}
		q = url.Values{"definitionExpression": {"1=1"}, "returnCountOnly": {"true"}}
		if err := r.get(ctx, exportkit.JSONRequest(fmt.Sprintf("%s/%d/queryAttachments?%s", svcURL, l.ID, q.Encode())), &a); err != nil {
			return fmt.Errorf("counting the attachments of restored layer %d: %w", l.ID, err)
		}
		if a.Count == nil || *a.Count != *l.Attachments {
			bad = append(bad, fmt.Sprintf("layer %d (%s): %s attachments, the backup %d", l.ID, l.Name, countStr(a.Count), *l.Attachments))
		}
	}
	if len(bad) > 0 {
		return sdk.Permanent("the restored service does not hold what the backup did: %s", strings.Join(bad, "; "))
	}
	return nil
}

func countStr(n *int64) string {
	if n == nil {
		return "unknown"
	}
	return fmt.Sprint(*n)
}

// overwrite replaces the rows of the target service in place: its item id
// and URL stay, so every map and app keeps working.
func (r *fsRestore) overwrite(ctx context.Context) (sdk.RestoreResult, error) {
	s := r.s
	id := r.req.TargetItemID
	target, err := s.TargetItem(ctx, id)
	if err != nil {
		return sdk.RestoreResult{}, fmt.Errorf("reading the service to overwrite (%s): %w", id, err)
	}
	svcURL := strings.TrimRight(target.URL, "/")
	if target.Type != "Feature Service" || adminURL(svcURL) == "" {
		return cannot(sdk.CannotTargetRefuses, "the item to overwrite (%s) is a %s at %q, not a hosted feature service", id, target.Type, target.URL)
	}
	have, err := r.targetLayers(ctx, svcURL)
	if err != nil {
		return sdk.RestoreResult{}, err
	}
	var missing []string
	for _, l := range r.dataLayers() {
		if have[l.ID] == nil {
			missing = append(missing, fmt.Sprintf("%d (%s)", l.ID, l.Name))
		}
	}
	if len(missing) > 0 {
		return cannot(sdk.CannotTargetRefuses, "the service to overwrite lacks layers of the backup (%s): its schema changed; restore it as a new item instead", strings.Join(missing, ", "))
	}
	remap := r.remapTo(id, svcURL)
	if same, why, err := r.unchangedSinceBackup(ctx, id, svcURL); err != nil {
		return sdk.RestoreResult{}, err
	} else if same {
		return sdk.RestoreResult{Action: sdk.ActionSkip, Reason: why, NewItemID: id, Remap: remap}, nil
	}
	if r.req.PlanOnly {
		// The remap too: the host plans later items (a web map of the
		// service) against the service's id and URL in the target.
		// Uncompared: a copy unchanged since a restore of this run left
		// it is for the host to skip (it holds restore.json).
		return sdk.RestoreResult{Action: sdk.ActionOverwrite, Remap: remap, Uncompared: true}, nil
	}
	upload, err := r.upload(ctx)
	if err != nil {
		return sdk.RestoreResult{}, err
	}
	defer r.dropUpload(ctx, upload)
	s.Req.Remap = merge(r.req.Remap, remap)
	for _, l := range r.dataLayers() {
		if err := r.empty(ctx, svcURL, l, have[l.ID]); err != nil {
			return sdk.RestoreResult{}, err
		}
		if err := r.appendLayer(ctx, svcURL, upload, l); err != nil {
			return sdk.RestoreResult{}, fmt.Errorf("%w; layer %d (%s) of %s was emptied first: the safety copy of restore %s holds its previous rows (agolpipe restore undo %s)",
				err, l.ID, l.Name, id, r.req.RestoreID, r.req.RestoreID)
		}
	}
	if err := r.applyDefinitions(ctx, svcURL, false); err != nil {
		return sdk.RestoreResult{}, err
	}
	if err := r.describe(ctx, id, false); err != nil {
		return sdk.RestoreResult{}, err
	}
	if err := r.checkCounts(ctx, svcURL); err != nil {
		return sdk.RestoreResult{}, err
	}
	return sdk.RestoreResult{Action: sdk.ActionOverwrite, NewItemID: id, Remap: remap, Warnings: s.Warnings, Uncompared: true}, nil
}

// unchangedSinceBackup reports whether the service restored in place is
// the backed-up item itself (its own org) and neither it nor its rows or
// layers changed since the backup: the item's modified stamp is
// item.json's, and the service's editingInfo (lastEditDate, which moves
// with every data or schema edit) is service.json's, which the exporter
// read before the export job. Then the live service holds the backup's
// content and nothing is rewritten. Rows cannot be compared otherwise
// (the File Geodatabase is not read here). Anything missing: false.
func (r *fsRestore) unchangedSinceBackup(ctx context.Context, id, svcURL string) (bool, string, error) {
	if id != r.req.Item.ID {
		return false, "", nil // a copy: the engine knows whether it is as a restore left it
	}
	type stamps struct {
		Modified    int64 `json:"modified"`
		EditingInfo struct {
			LastEditDate       int64 `json:"lastEditDate"`
			DataLastEditDate   int64 `json:"dataLastEditDate"`
			SchemaLastEditDate int64 `json:"schemaLastEditDate"`
		} `json:"editingInfo"`
	}
	var backupItem, liveItem, backupSvc, liveSvc stamps
	if err := r.readJSON(ctx, exportkit.ItemJSON, &backupItem); err != nil {
		return false, "", err
	}
	if err := r.readJSON(ctx, "service.json", &backupSvc); err != nil {
		return false, "", err
	}
	if backupItem.Modified == 0 || backupSvc.EditingInfo.LastEditDate == 0 {
		return false, "", nil
	}
	if err := r.get(ctx, arcgisrest.JSON(exportkit.ItemPath(id), nil), &liveItem); err != nil {
		return false, "", fmt.Errorf("reading item %s to compare with the backup: %w", id, err)
	}
	if err := r.get(ctx, arcgisrest.JSON(svcURL, nil), &liveSvc); err != nil {
		return false, "", fmt.Errorf("reading service %s to compare with the backup: %w", svcURL, err)
	}
	if liveItem.Modified != backupItem.Modified || liveSvc.EditingInfo != backupSvc.EditingInfo {
		return false, "", nil
	}
	return true, fmt.Sprintf("unchanged since the backup: item modified %s, rows and layers last edited %s, as the backup recorded",
		time.UnixMilli(liveItem.Modified).UTC().Format("2006-01-02 15:04:05 UTC"), time.UnixMilli(liveSvc.EditingInfo.LastEditDate).UTC().Format("2006-01-02 15:04:05 UTC")), nil
}

// dataLayers are the backup's layers and tables that hold rows.
func (r *fsRestore) dataLayers() []LayerCounts {
	if r.counts != nil && len(r.counts.Layers) > 0 {
		return r.counts.Layers
	}
	var out []LayerCounts
	for _, l := range r.layers {
		if l["type"] == "Group Layer" {
			continue
		}
		name, _ := l["name"].(string)
		out = append(out, LayerCounts{ID: num(l["id"], 0), Name: name})
	}
	return out
}

// empty deletes every row of a target layer: truncate where the layer
// supports it, else deletes by object id, a page at a time.
func (r *fsRestore) empty(ctx context.Context, svcURL string, l LayerCounts, def map[string]any) error {
	if def["supportsTruncate"] == true {
		var ok struct {
			Success bool `json:"success"`
		}
		if err := r.post(ctx, fmt.Sprintf("%s/%d/truncate", adminURL(svcURL), l.ID), url.Values{"attachmentOnly": {"false"}, "async": {"false"}}, &ok); err != nil {
			return fmt.Errorf("truncating layer %d (%s): %w", l.ID, l.Name, err)
		}
		return nil
	}
	for range 100000 {
		var ids struct {
			ObjectIDs []int64 `json:"objectIds"`
		}
		q := url.Values{"where": {"1=1"}, "returnIdsOnly": {"true"}}
		if err := r.get(ctx, exportkit.JSONRequest(fmt.Sprintf("%s/%d/query?%s", svcURL, l.ID, q.Encode())), &ids); err != nil {
			return fmt.Errorf("listing the rows of layer %d (%s) to delete: %w", l.ID, l.Name, err)
		}
		if len(ids.ObjectIDs) == 0 {
			return nil
		}
		page := ids.ObjectIDs[:min(len(ids.ObjectIDs), 1000)]
		parts := make([]string, len(page))
		for i, v := range page {
			parts[i] = fmt.Sprint(v)
		}
		var res struct {
			DeleteResults []struct {
				Success bool `json:"success"`
			} `json:"deleteResults"`
		}
		if err := r.post(ctx, fmt.Sprintf("%s/%d/applyEdits", svcURL, l.ID), url.Values{"deletes": {strings.Join(parts, ",")}, "rollbackOnFailure": {"true"}}, &res); err != nil {
			return fmt.Errorf("deleting the rows of layer %d (%s): %w", l.ID, l.Name, err)
		}
		if len(res.DeleteResults) != len(page) {
			return sdk.Permanent("deleting the rows of layer %d (%s): %d of %d deletes answered", l.ID, l.Name, len(res.DeleteResults), len(page))
		}
	}
	return sdk.Permanent("layer %d (%s) still has rows after deleting a hundred million", l.ID, l.Name)
}

// appendLayer appends the backup's rows of one layer from the uploaded
// file, keeping their GlobalIDs (related rows and attachments stay linked).
func (r *fsRestore) appendLayer(ctx context.Context, svcURL, upload string, l LayerCounts) error {
	form := url.Values{"appendItemId": {upload}, "appendUploadFormat": {dataArtifacts[r.data].appendFormat}, "sourceTableName": {l.Name},
		"upsert": {"false"}, "skipInserts": {"false"}, "skipUpdates": {"true"}, "useGlobalIds": {"true"}, "rollbackOnFailure": {"true"}}
	var ans struct {
		StatusURL string `json:"statusUrl"`
	}
	if err := r.post(ctx, fmt.Sprintf("%s/%d/append", svcURL, l.ID), form, &ans); err != nil {
		return fmt.Errorf("appending the backup's rows to layer %d (%s): %w", l.ID, l.Name, err)
	}
	if ans.StatusURL == "" {
		return nil // answered synchronously
	}
	return r.poll(ctx, exportkit.JSONRequest(ans.StatusURL), fmt.Sprintf("appending the backup's rows to layer %d (%s)", l.ID, l.Name))
}
