package featureservice

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	"github.com/agolpipe/agolpipe/plugins/exporters/exportkit"
	"github.com/agolpipe/agolpipe/sdk"
)

// CountsJSON is the artifact that records, beside the exported data, how
// many rows and attachments each layer had when it was exported: what a
// restore checks the restored service against, and what `verify --deep`
// compares the live service with. A File Geodatabase cannot be read here,
// so the counts are the service's own, asked right after the export.
const CountsJSON = "counts.json"

// Counts is counts.json.
//
// It holds no time of its own (the run's manifest says when): two exports
// of an unchanged service give the same bytes, so a run's copy can be
// compared with another's and an unchanged item reads as unchanged.
type Counts struct {
	// Attachments says whether the exported data holds the attachments
	// (a File Geodatabase or GeoPackage export that kept them).
	Attachments bool          `json:"attachments_included"`
	Layers      []LayerCounts `json:"layers"`
}

// LayerCounts are one layer's or table's counts. Attachments is nil for a
// layer without an attachment table, or when they could not be counted.
type LayerCounts struct {
	ID          int    `json:"id"`
	Name        string `json:"name"`
	Rows        int64  `json:"rows"`
	Attachments *int64 `json:"attachments,omitempty"`
}

// saveCounts counts the service's layers and writes counts.json. A count
// the portal does not answer is a warning (the restore then says it could
// not check), never a failed export.
func saveCounts(ctx context.Context, s *exportkit.Session, withAttachments bool) error {
	it := s.Item()
	base := strings.TrimRight(it.URL, "/")
	var defs struct {
		Layers []layerHead `json:"layers"`
		Tables []layerHead `json:"tables"`
	}
	if err := s.GetJSON(ctx, exportkit.JSONRequest(base+"/layers"), &defs); err != nil {
		if sdk.KindOf(err) == sdk.KindCanceled {
			return err
		}
		s.Warn(ctx, "item %s (%s): rows not counted (%v); a restore of this run cannot check its row counts", it.ID, it.Title, err)
		return nil
	}
	c := Counts{Attachments: withAttachments}
	for _, l := range append(defs.Layers, defs.Tables...) {
		if l.Type == "Group Layer" {
			continue
		}
		var n struct {
			Count *int64 `json:"count"`
		}
		q := url.Values{"where": {"1=1"}, "returnCountOnly": {"true"}}
		if err := s.GetJSON(ctx, exportkit.JSONRequest(fmt.Sprintf("%s/%d/query?%s", base, l.ID, q.Encode())), &n); err != nil || n.Count == nil {
			if sdk.KindOf(err) == sdk.KindCanceled {
				return err
			}
			s.Warn(ctx, "item %s (%s): layer %d (%s) not counted (%v); a restore of this run cannot check its rows", it.ID, it.Title, l.ID, l.Name, err)
			continue
		}
		lc := LayerCounts{ID: l.ID, Name: l.Name, Rows: *n.Count}
		if l.HasAttachments {
			var a struct {
				Count *int64 `json:"count"`
			}
			q := url.Values{"definitionExpression": {"1=1"}, "returnCountOnly": {"true"}}
			err := s.GetJSON(ctx, exportkit.JSONRequest(fmt.Sprintf("%s/%d/queryAttachments?%s", base, l.ID, q.Encode())), &a)
			if sdk.KindOf(err) == sdk.KindCanceled {
				return err
			}
			if err == nil && a.Count != nil {
				lc.Attachments = a.Count
			} else {
				s.Logf(ctx, "item %s (%s): attachments of layer %d not counted (%v)", it.ID, it.Title, l.ID, err)
			}
		}
		c.Layers = append(c.Layers, lc)
	}
	b, _ := json.MarshalIndent(c, "", "  ")
	return s.SaveBytes(ctx, sdk.Artifact{Name: CountsJSON, MediaType: "application/json", Format: "JSON"}, b)
}

// layerHead is the part of a layer definition the counts and the restore
// read.
type layerHead struct {
	ID             int    `json:"id"`
	Name           string `json:"name"`
	Type           string `json:"type"`
	HasAttachments bool   `json:"hasAttachments"`
}

// ViewLayersJSON holds, for a hosted view, each layer's admin definition:
// its adminLayerInfo.viewLayerDefinition names the source layer and the
// fields the view shows, and its viewDefinitionQuery the filter, which the
// public layer JSON does not say. A restore re-creates the view from it.
const ViewLayersJSON = "view_layers.json"

// saveViewLayers writes view_layers.json ({"layers":[...],"tables":[...]}).
// A layer whose admin definition cannot be read is a warning: the view is
// then re-created from its public definition (same layer ids as the
// source).
func saveViewLayers(ctx context.Context, s *exportkit.Session, svc exportkit.FeatureServer) error {
	it := s.Item()
	au := adminURL(it.URL)
	if au == "" {
		return nil
	}
	doc := map[string][]json.RawMessage{"layers": {}, "tables": {}}
	for key, list := range map[string][]exportkit.LayerRef{"layers": svc.Layers, "tables": svc.Tables} {
		for _, l := range list {
			var raw json.RawMessage
			if err := s.GetJSON(ctx, exportkit.JSONRequest(fmt.Sprintf("%s/%d", strings.TrimRight(au, "/"), l.ID)), &raw); err != nil {
				if sdk.KindOf(err) == sdk.KindCanceled {
					return err
				}
				s.Warn(ctx, "item %s (%s): admin definition of view layer %d not saved (%v); a restore re-creates it from layers.json", it.ID, it.Title, l.ID, err)
				continue
			}
			doc[key] = append(doc[key], raw)
		}
	}
	b, _ := json.Marshal(doc)
	return s.SaveBytes(ctx, sdk.Artifact{Name: ViewLayersJSON, MediaType: "application/json", Format: "JSON"}, b)
}
