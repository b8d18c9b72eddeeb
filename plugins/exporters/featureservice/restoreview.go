package featureservice

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	"github.com/agolpipe/agolpipe/sdk"
)

// newView re-creates a hosted view on its source service in the target:
// the source restored before it (found through the remap), or, restoring
// into the same organization, the source still there.
func (r *fsRestore) newView(ctx context.Context) (res sdk.RestoreResult, err error) {
	s := r.s
	if !s.Has("sources.json") {
		return cannot(sdk.CannotMissingArtifact, "the run holds no sources.json for this view: its source service is unknown")
	}
	var src struct {
		Services []struct {
			ServiceItemID string `json:"serviceItemId"`
			Name          string `json:"name"`
			URL           string `json:"url"`
		} `json:"services"`
	}
	if err := r.readJSON(ctx, "sources.json", &src); err != nil {
		return sdk.RestoreResult{}, err
	}
	if len(src.Services) != 1 || src.Services[0].ServiceItemID == "" {
		return cannot(sdk.CannotNotRestorable, "the view reads %d services (sources.json); only a view of one hosted service is re-created", len(src.Services))
	}
	so := src.Services[0]
	tgtID := so.ServiceItemID
	if v, ok := r.req.Remap[tgtID]; ok {
		if sdk.IsPlanned(v) && r.req.PlanOnly {
			// The plan restores the source before this view.
			return sdk.RestoreResult{Action: sdk.ActionCreate, Reason: fmt.Sprintf("a view of service %s, restored before it", so.Name)}, nil
		}
		tgtID = v
	}
	tgt, err := s.TargetItem(ctx, tgtID)
	if sdk.IsNotFound(err) || (err == nil && tgt.URL == "") {
		return cannot(sdk.CannotTargetRefuses, "its source service %s (%s) is neither restored with it nor in the target: restore the source service too", so.ServiceItemID, so.Name)
	} else if err != nil {
		return sdk.RestoreResult{}, fmt.Errorf("reading the view's source service %s in the target: %w", tgtID, err)
	}
	srcName := serviceName(tgt.URL)
	name, err := r.freeName(ctx, serviceName(r.item.URL))
	if err != nil {
		return sdk.RestoreResult{}, err
	}
	if r.req.PlanOnly {
		return sdk.RestoreResult{Action: sdk.ActionCreate, Reason: fmt.Sprintf("a view of service %s", srcName)}, nil
	}
	cp := map[string]any{"name": name, "isView": true, "sourceSchemaChangesAllowed": true, "isUpdatableView": false, "capabilities": "Query"}
	for _, k := range []string{"capabilities", "spatialReference", "initialExtent", "fullExtent", "maxRecordCount"} {
		if v, ok := r.service[k]; ok {
			cp[k] = v
		}
	}
	p := "content/users/" + url.PathEscape(r.req.Owner)
	if r.req.FolderID != "" {
		p += "/" + url.PathEscape(r.req.FolderID)
	}
	var ans struct {
		ServiceURL string `json:"serviceurl"`
		ItemID     string `json:"itemId"`
	}
	form := url.Values{"createParameters": {string(mustJSON(cp))}, "isView": {"true"}, "outputType": {"featureService"}}
	if err := r.post(ctx, p+"/createService", form, &ans); err != nil {
		return sdk.RestoreResult{}, fmt.Errorf("creating the view service: %w", err)
	}
	if ans.ItemID == "" || ans.ServiceURL == "" {
		return sdk.RestoreResult{}, sdk.Permanent("creating the view service: the portal answered no item or URL")
	}
	id, newURL := ans.ItemID, strings.TrimRight(ans.ServiceURL, "/")
	defer func() {
		if err != nil {
			s.Delete(ctx, id)
		}
	}()
	def, err := r.viewDefinition(ctx, srcName)
	if err != nil {
		return sdk.RestoreResult{}, err
	}
	var ok struct {
		Success bool `json:"success"`
	}
	if err := r.post(ctx, adminURL(newURL)+"/addToDefinition", url.Values{"addToDefinition": {string(def)}}, &ok); err != nil {
		return sdk.RestoreResult{}, fmt.Errorf("defining the view's layers on %s: %w", srcName, err)
	}
	remap := r.remapTo(id, newURL)
	s.Req.Remap = merge(r.req.Remap, remap)
	if err := r.applyDefinitions(ctx, newURL, true); err != nil {
		return sdk.RestoreResult{}, err
	}
	if err := r.describe(ctx, id, true); err != nil {
		return sdk.RestoreResult{}, err
	}
	return sdk.RestoreResult{Action: sdk.ActionCreate, NewItemID: id, Remap: remap, Warnings: s.Warnings}, nil
}

// viewDefinition is the addToDefinition of the view's layers on the
// source service srcName: each layer's source layer, the fields it shows
// and its filter, from view_layers.json (the admin definitions), or from
// layers.json (same layer ids as the source, every field) for a backup
// without it.
func (r *fsRestore) viewDefinition(ctx context.Context, srcName string) ([]byte, error) {
	layers, tables := r.layerDefs(false), r.layerDefs(true)
	if r.s.Has(ViewLayersJSON) {
		var vl struct {
			Layers []map[string]any `json:"layers"`
			Tables []map[string]any `json:"tables"`
		}
		if err := r.readJSON(ctx, ViewLayersJSON, &vl); err != nil {
			return nil, err
		}
		layers, tables = vl.Layers, vl.Tables
	} else {
		r.s.Warn(ctx, "the backup has no view_layers.json: the view's layers were re-created on the source layers of the same ids with every field")
	}
	build := func(list []map[string]any) []any {
		var out []any
		for _, l := range list {
			id := num(l["id"], 0)
			d := pick(l, viewLayerKeys)
			d["id"], d["name"] = id, l["name"]
			vld := map[string]any{}
			if ai, ok := l["adminLayerInfo"].(map[string]any); ok {
				if v, ok := ai["viewLayerDefinition"].(map[string]any); ok {
					vld = v
				}
			}
			if _, ok := vld["table"]; ok {
				r.s.Warn(ctx, "view layer %d (%v) joins tables; it was re-created on its first source only", id, l["name"])
			}
			srcLayer := num(vld["sourceLayerId"], id)
			if _, ok := vld["sourceLayerId"].(float64); !ok {
				srcLayer = id
			}
			fields, ok := vld["sourceLayerFields"]
			if !ok {
				fields = "*"
			}
			d["adminLayerInfo"] = map[string]any{"viewLayerDefinition": map[string]any{
				"sourceServiceName": srcName, "sourceLayerId": srcLayer, "sourceLayerFields": fields}}
			out = append(out, d)
		}
		return out
	}
	doc := map[string]any{"layers": build(layers)}
	if t := build(tables); len(t) > 0 {
		doc["tables"] = t
	}
	b, err := json.Marshal(doc)
	return b, err
}

// layerDefs are layers.json's layers (or tables).
func (r *fsRestore) layerDefs(tables bool) []map[string]any {
	var out []map[string]any
	for _, l := range r.layers {
		if (l["type"] == "Table") == tables {
			out = append(out, l)
		}
	}
	return out
}

// overwriteView puts the backup's view definitions (filters, drawing
// info) and item back onto an existing view in place.
func (r *fsRestore) overwriteView(ctx context.Context) (sdk.RestoreResult, error) {
	id := r.req.TargetItemID
	target, err := r.s.TargetItem(ctx, id)
	if err != nil {
		return sdk.RestoreResult{}, fmt.Errorf("reading the view to overwrite (%s): %w", id, err)
	}
	svcURL := strings.TrimRight(target.URL, "/")
	if adminURL(svcURL) == "" {
		return cannot(sdk.CannotTargetRefuses, "the item to overwrite (%s) is not a hosted view (%q)", id, target.URL)
	}
	remap := r.remapTo(id, svcURL)
	if r.req.PlanOnly {
		// The remap too: the host plans later items against the view's id
		// and URL in the target.
		return sdk.RestoreResult{Action: sdk.ActionOverwrite, Remap: remap, Uncompared: true}, nil
	}
	r.s.Req.Remap = merge(r.req.Remap, remap)
	if err := r.applyDefinitions(ctx, svcURL, true); err != nil {
		return sdk.RestoreResult{}, err
	}
	if err := r.describe(ctx, id, false); err != nil {
		return sdk.RestoreResult{}, err
	}
	return sdk.RestoreResult{Action: sdk.ActionOverwrite, NewItemID: id, Remap: remap, Warnings: r.s.Warnings, Uncompared: true}, nil
}
