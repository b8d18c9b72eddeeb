// Package survey is the `survey` exporter: Survey123 forms (item type
// Form). It saves the form's file (the XLSForm package) under its own name,
// its resources as resources.zip, its description, and relationships.json,
// where the form's linked feature services (Survey2Service) and data
// (Survey2Data) are recorded so a restore can reconnect them. The linked
// services themselves are exported as the feature services they are.
package survey

import (
	"context"
	"fmt"
	"strings"

	"github.com/agolpipe/agolpipe/plugins/exporters/exportkit"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/retry"
)

// Exporter is the survey exporter. Retry may be set before use (tests).
type Exporter struct {
	Retry retry.Policy
}

// New returns the exporter.
func New() sdk.Exporter { return &Exporter{} }

func (e *Exporter) Info() sdk.Info {
	return exportkit.Info("survey", "Survey123 forms: form file, resources, description and the linked services")
}
func (e *Exporter) Schema() sdk.Schema  { return sdk.Schema{} }
func (e *Exporter) ItemTypes() []string { return []string{"Form"} }
func (e *Exporter) Configure(context.Context, sdk.ConfigureRequest) sdk.Diagnostics {
	return nil
}
func (e *Exporter) Close() error { return nil }

// Export saves the form.
func (e *Exporter) Export(ctx context.Context, req sdk.ExportRequest, host sdk.Host, out sdk.ArtifactWriter) (sdk.ExportResult, error) {
	s := exportkit.NewSession(host, out, req, e.Retry)
	var partial []string
	s.Progress(ctx, "form file", 0)
	saved, err := s.SaveFile(ctx, exportkit.FileName(req.Item, ".zip"), "Survey123 form")
	if err != nil {
		return sdk.ExportResult{}, err
	}
	if !saved {
		partial = append(partial, "the portal has no form file for this survey")
	}
	rr, err := s.SaveResources(ctx)
	if err != nil {
		return sdk.ExportResult{}, err
	}
	if len(rr.Missing) > 0 {
		partial = append(partial, fmt.Sprintf("%d of %d form resources could not be saved", len(rr.Missing), len(rr.Missing)+rr.Count))
	}
	if err := s.Describe(ctx); err != nil {
		return sdk.ExportResult{}, err
	}
	rel, err := s.SaveRelated(ctx, nil)
	if err != nil {
		return sdk.ExportResult{}, err
	}
	var linked []string
	for _, r := range rel {
		if r.Direction == "forward" && (r.Type == "Survey2Service" || r.Type == "Survey2Data") {
			linked = append(linked, fmt.Sprintf("%s %s (%s)", r.Type, r.ItemID, r.Title))
		}
	}
	if len(linked) > 0 {
		s.Logf(ctx, "survey %s (%s) is linked to: %s", req.Item.ID, req.Item.Title, strings.Join(linked, ", "))
	} else {
		s.Warn(ctx, "survey %s (%s) has no Survey2Service relationship: its results service was not found", req.Item.ID, req.Item.Title)
	}
	return s.Result(partial), nil
}
