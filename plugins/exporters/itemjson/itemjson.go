// Package itemjson is the `item_json` exporter: items whose content is a
// JSON document and files kept as item resources (web maps and scenes,
// dashboards, web apps, Experience Builder, StoryMaps, QuickCapture, Hub
// sites and pages, ...). It saves data.json, resources.zip, item.json,
// thumbnail, metadata.xml and relationships.json (relationships in both
// directions and the item ids the data JSON refers to).
package itemjson

import (
	"context"
	"fmt"

	"github.com/agolpipe/agolpipe/plugins/exporters/exportkit"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/retry"
)

// Exporter is the item_json exporter. Retry may be set before use (tests).
type Exporter struct {
	Retry     retry.Policy
	resources bool
}

// New returns the exporter.
func New() sdk.Exporter { return &Exporter{resources: true} }

// ItemTypes are the JSON-configured item types.
var ItemTypes = []string{
	"Web Map", "Web Scene", "Web Mapping Application", "Mobile Application", "Native Application", "Instant App",
	"Dashboard", "Operation View", "Web Experience", "Web Experience Template", "StoryMap", "Story Map",
	"StoryMap Theme", "Storymap Theme", "QuickCapture Project", "Workforce Project", "Hub Site Application", "Hub Page",
	"Hub Initiative", "Hub Initiative Template", "Hub Project", "Hub Event", "Site Application", "Site Page",
	"Insights Workbook", "Insights Page", "Insights Model", "Insights Theme", "Insights Workbook Package",
	"Solution", "Data Pipeline", "Feature Collection", "Feature Collection Template", "Group Layer",
	"Application Configuration", "AppBuilder Extension", "AppBuilder Widget Package", "Web AppBuilder Widget",
	"Vector Tile Style", "Web Style", "Symbol Set", "Color Set", "Map Area Template", "Urban Model", "Urban Project",
	"Big Data Analytic", "Real Time Analytic", "Feed", "Notebook Code Snippet Library", "Survey123 Add In",
	"Field Maps Configuration", "Experience Builder Widget", "Geoprocessing Web Tool", "Reality Mapping Project",
}

var schema = sdk.Schema{Attributes: []sdk.Attribute{
	{Name: "resources", Type: sdk.TypeBool, Description: "Save the item's resources as resources.zip (default true)."},
}}

func (e *Exporter) Info() sdk.Info {
	return exportkit.Info("item_json", "Data JSON, resources zip, description and relationships of maps, apps and other JSON-configured items")
}
func (e *Exporter) Schema() sdk.Schema  { return schema }
func (e *Exporter) ItemTypes() []string { return ItemTypes }
func (e *Exporter) Configure(_ context.Context, req sdk.ConfigureRequest) sdk.Diagnostics {
	e.resources = exportkit.Bool(req.Config, "resources", true)
	return nil
}
func (e *Exporter) Close() error { return nil }

// Export saves the item.
func (e *Exporter) Export(ctx context.Context, req sdk.ExportRequest, host sdk.Host, out sdk.ArtifactWriter) (sdk.ExportResult, error) {
	s := exportkit.NewSession(host, out, req, e.Retry)
	partial, err := SaveJSONItem(ctx, s, e.resources)
	if err != nil {
		return sdk.ExportResult{}, err
	}
	return s.Result(partial), nil
}

// SaveJSONItem saves everything of a JSON-configured item through s and
// returns the reasons the result is partial (none when complete).
func SaveJSONItem(ctx context.Context, s *exportkit.Session, resources bool) ([]string, error) {
	s.Progress(ctx, "data", 0)
	refs, _, err := s.SaveDataJSON(ctx)
	if err != nil && !sdk.IsNotFound(err) {
		return nil, err
	}
	var partial []string
	if resources {
		s.Progress(ctx, "resources", 30)
		rr, err := s.SaveResources(ctx)
		if err != nil {
			return nil, err
		}
		if len(rr.Missing) > 0 {
			partial = append(partial, fmt.Sprintf("%d of %d resources could not be saved", len(rr.Missing), len(rr.Missing)+rr.Count))
		}
	}
	s.Progress(ctx, "description", 70)
	if err := s.Describe(ctx); err != nil {
		return nil, err
	}
	if _, err := s.SaveRelated(ctx, refs); err != nil {
		return nil, err
	}
	return partial, nil
}
