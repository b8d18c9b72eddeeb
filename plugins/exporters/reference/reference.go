// Package reference is the `reference` exporter: items that only point at
// something outside the organization (WMS, WMTS, WFS, a non-hosted map
// image layer, a geocoding service, a document link). The thing itself is
// not the organization's to back up; its description is: item.json, the
// item data JSON when there is one (a WMS item keeps its layer list there),
// the thumbnail and metadata.xml.
package reference

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/agolpipe/agolpipe/plugins/exporters/exportkit"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/retry"
)

// Exporter is the reference exporter. Retry may be set before use (tests).
type Exporter struct {
	Retry retry.Policy
}

// New returns the exporter.
func New() sdk.Exporter { return &Exporter{} }

// ItemTypes are the reference-only item types.
var ItemTypes = []string{"WMS", "WMTS", "WFS", "OGCFeatureServer", "Geocoding Service", "Geoprocessing Service",
	"Geometry Service", "Network Analysis Service", "Image Service", "Scene Service", "Stream Service",
	"Globe Service", "Document Link", "Map Image Layer"}

func (e *Exporter) Info() sdk.Info {
	return exportkit.Info("reference", "Description only (item.json, data JSON, thumbnail, metadata) of items that point outside the organization")
}
func (e *Exporter) Schema() sdk.Schema  { return sdk.Schema{} }
func (e *Exporter) ItemTypes() []string { return ItemTypes }
func (e *Exporter) Configure(context.Context, sdk.ConfigureRequest) sdk.Diagnostics {
	return nil
}
func (e *Exporter) Close() error { return nil }

// Export saves the description and reports the item skipped: nothing but
// its description belongs to the organization.
func (e *Exporter) Export(ctx context.Context, req sdk.ExportRequest, host sdk.Host, out sdk.ArtifactWriter) (sdk.ExportResult, error) {
	s := exportkit.NewSession(host, out, req, e.Retry)
	if err := Describe(ctx, s); err != nil {
		return sdk.ExportResult{}, err
	}
	return sdk.ExportResult{Status: sdk.StatusSkipped, Warnings: s.Warnings, Reason: Reason(req.Item)}, nil
}

// Reason says, in a GIS administrator's words, why only the description of
// a reference-only item was backed up and where its data really lives. It
// names the server by host only: an item URL may carry a token in its query.
func Reason(it sdk.Item) string {
	at := ""
	if u, err := url.Parse(it.URL); err == nil && u.Host != "" {
		at = " at " + u.Hostname()
	}
	const saved = "agolpipe saved the item's description (item.json, data.json, thumbnail, metadata.xml), not the data"
	for _, k := range it.TypeKeywords {
		if strings.EqualFold(k, "Hosted Service") {
			// A hosted scene or image layer is the organization's data, but
			// no exporter can copy it out yet: say so rather than "outside".
			return fmt.Sprintf("hosted %s: agolpipe has no exporter that can copy this kind of hosted layer's data; %s. Keep the source data it was published from", it.Type, saved)
		}
	}
	switch it.Type {
	case "WMS", "WMTS", "WFS", "OGCFeatureServer", "KML Collection":
		return fmt.Sprintf("%s layer: it displays an OGC service that runs on a server%s, outside the organization; %s. Back up that server on its own", it.Type, at, saved)
	case "Map Service", "Map Image Layer":
		return fmt.Sprintf("map image layer: it is drawn by ArcGIS Server%s from data in that server's own registered data stores, not hosted in the organization; %s. Back up the data where the server reads it", at, saved)
	case "Document Link":
		return fmt.Sprintf("document link: the document is stored on a web server%s, not in the organization; %s (which keeps the link)", at, saved)
	case "Geocoding Service", "Geoprocessing Service", "Geometry Service", "Network Analysis Service":
		return fmt.Sprintf("%s: a tool run by ArcGIS Server%s, not data in the organization; %s", strings.ToLower(it.Type), at, saved)
	}
	return fmt.Sprintf("reference-only item (%s): it points at a service or document%s outside the organization; %s", it.Type, at, saved)
}

// Describe saves the description of a reference-only item; other exporters
// call it for items they find to be references (a non-hosted service).
func Describe(ctx context.Context, s *exportkit.Session) error {
	if err := s.Describe(ctx); err != nil {
		return err
	}
	_, _, err := s.SaveDataJSON(ctx)
	if sdk.IsNotFound(err) {
		return nil
	}
	return err
}
