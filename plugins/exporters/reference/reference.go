// Package reference is the `reference` exporter: items that only point at
// something outside the organization (WMS, WMTS, WFS, a non-hosted map
// image layer, a geocoding service, a document link). The thing itself is
// not the organization's to back up; its description is: item.json, the
// item data JSON when there is one (a WMS item keeps its layer list there),
// the thumbnail and metadata.xml.
package reference

import (
	"context"

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
	if err := s.DescribeReference(ctx); err != nil {
		return sdk.ExportResult{}, err
	}
	return sdk.ExportResult{Status: sdk.StatusSkipped, Warnings: s.Warnings, Reason: exportkit.ReferenceReason(req.Item)}, nil
}
