// Package featurequery is the `feature_query` exporter: it reads every
// layer and table of a feature service through query, page by page
// (resultOffset/resultRecordCount ordered by the object id field, following
// exceededTransferLimit), and streams each into a GeoJSON file as it pages,
// so a layer is never held in memory. Attachments are fetched separately
// into one zip per layer. It works for any user who can query the service,
// which makes it the fallback when the export API is refused. The query
// engine itself lives in exportkit (QueryLayers), which feature_service
// uses as its fallback, since exporters never import each other.
package featurequery

import (
	"context"

	"github.com/agolpipe/agolpipe/plugins/exporters/exportkit"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/retry"
)

// Exporter is the feature_query exporter. Retry may be set before use.
type Exporter struct {
	Retry       retry.Policy
	pageSize    int
	attachments bool
}

// New returns the exporter.
func New() sdk.Exporter { return &Exporter{attachments: true} }

var schema = sdk.Schema{Attributes: []sdk.Attribute{
	{Name: "page_size", Type: sdk.TypeNumber, Description: "Features per query page (default: the layer's maxRecordCount)."},
	{Name: "attachments", Type: sdk.TypeBool, Description: "Fetch attachments into attachments-<layer>.zip (default true)."},
}}

func (e *Exporter) Info() sdk.Info {
	return exportkit.Info("feature_query", "Every layer and table of a feature service paged through query into GeoJSON, attachments zipped")
}
func (e *Exporter) Schema() sdk.Schema { return schema }

// ItemTypes: feature_query is chosen per type in HCL; by default the
// feature_service exporter owns Feature Service and falls back to this one.
func (e *Exporter) ItemTypes() []string { return nil }
func (e *Exporter) Configure(_ context.Context, req sdk.ConfigureRequest) sdk.Diagnostics {
	var d sdk.Diagnostics
	e.pageSize = exportkit.Number(req.Config, "page_size", 0)
	if e.pageSize < 0 || e.pageSize > 32000 {
		d = d.Errorf([]string{"page_size"}, "page_size out of range", "Use a number from 1 to 32000, or leave it out to use each layer's maxRecordCount.")
	}
	e.attachments = exportkit.Bool(req.Config, "attachments", true)
	return d
}
func (e *Exporter) Close() error { return nil }

// Export saves the service definition, the item description and every
// layer as GeoJSON.
func (e *Exporter) Export(ctx context.Context, req sdk.ExportRequest, host sdk.Host, out sdk.ArtifactWriter) (sdk.ExportResult, error) {
	s := exportkit.NewSession(host, out, req, e.Retry)
	if req.Item.URL == "" {
		return sdk.ExportResult{}, sdk.Permanent("item %s (%s) has no service URL to query", req.Item.ID, req.Item.Title)
	}
	if err := s.Save(ctx, sdk.Artifact{Name: "service.json", MediaType: "application/json", Format: "JSON"}, exportkit.JSONRequest(req.Item.URL)); err != nil {
		return sdk.ExportResult{}, err
	}
	if err := s.Describe(ctx); err != nil {
		return sdk.ExportResult{}, err
	}
	partial, err := exportkit.QueryLayers(ctx, s, req.Item.URL, exportkit.QueryOptions{PageSize: e.pageSize, Attachments: e.attachments})
	if err != nil {
		return sdk.ExportResult{}, err
	}
	return s.Result(partial), nil
}
