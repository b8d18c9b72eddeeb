// Package file is the `file` exporter: items that are a file (documents,
// GIS files, packages, notebooks, service definitions when asked). The
// original file is streamed under its own name, with item.json, thumbnail
// and metadata.xml beside it.
package file

import (
	"context"
	"fmt"
	"strings"

	"github.com/agolpipe/agolpipe/plugins/exporters/exportkit"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/retry"
)

// Exporter is the file exporter. Retry may be set before use (tests).
type Exporter struct {
	Retry              retry.Policy
	serviceDefinitions bool
}

// New returns the exporter.
func New() sdk.Exporter { return &Exporter{} }

// ItemTypes are the file item types.
var ItemTypes = []string{
	"PDF", "CSV", "CSV Collection", "Shapefile", "File Geodatabase", "GeoJson", "GeoPackage", "KML", "KML Collection",
	"Microsoft Excel", "Microsoft Word", "Microsoft PowerPoint", "Microsoft Visio", "iWork Keynote", "iWork Numbers", "iWork Pages",
	"Image", "CAD Drawing", "Raster", "SQLite Geodatabase", "Notebook", "Service Definition",
	"Layer Package", "Map Package", "Tile Package", "Compact Tile Package", "Vector Tile Package", "Mobile Map Package",
	"Project Package", "Project Template", "Scene Package", "Geoprocessing Package", "Locator Package", "Basemap Package",
	"Mobile Basemap Package", "Deep Learning Package", "Workflow Manager Package", "Rule Package", "ArcPad Package",
	"Layer File", "Layout", "Pro Map", "Map Template", "Report Template", "Task File", "Desktop Style", "Style",
	"Code Sample", "Desktop Application", "Desktop Application Template", "Desktop Add In", "ArcGIS Pro Add In",
	"Explorer Map", "Explorer Layer", "Operations Dashboard Add In", "Windows Mobile Package", "Visio Document",
}

var schema = sdk.Schema{Attributes: []sdk.Attribute{
	{Name: "service_definitions", Type: sdk.TypeBool, Description: "Also download Service Definition files (often large copies of data published elsewhere). Default false: their description only."},
}}

func (e *Exporter) Info() sdk.Info {
	return exportkit.Info("file", "The original file of document, GIS file, package and notebook items, streamed, with its description")
}
func (e *Exporter) Schema() sdk.Schema  { return schema }
func (e *Exporter) ItemTypes() []string { return ItemTypes }
func (e *Exporter) Configure(_ context.Context, req sdk.ConfigureRequest) sdk.Diagnostics {
	e.serviceDefinitions = exportkit.Bool(req.Config, "service_definitions", false)
	return nil
}
func (e *Exporter) Close() error { return nil }

// extByType is the extension a file gets when the item has no file name.
var extByType = map[string]string{"PDF": ".pdf", "CSV": ".csv", "Shapefile": ".zip", "File Geodatabase": ".zip",
	"GeoJson": ".geojson", "Microsoft Excel": ".xlsx", "Microsoft Word": ".docx", "Microsoft PowerPoint": ".pptx",
	"Notebook": ".ipynb", "Service Definition": ".sd", "KML": ".kmz", "Layer Package": ".lpk", "Map Package": ".mpk",
	"Tile Package": ".tpk", "Vector Tile Package": ".vtpk", "Mobile Map Package": ".mmpk", "Project Package": ".ppkx",
	"Scene Package": ".spk", "GeoPackage": ".gpkg", "Image": ".png", "Layer File": ".lyrx", "Code Sample": ".zip"}

// Export saves the file and the description.
func (e *Exporter) Export(ctx context.Context, req sdk.ExportRequest, host sdk.Host, out sdk.ArtifactWriter) (sdk.ExportResult, error) {
	s := exportkit.NewSession(host, out, req, e.Retry)
	it := req.Item
	if it.Type == "Service Definition" && !e.serviceDefinitions {
		if err := s.Describe(ctx); err != nil {
			return sdk.ExportResult{}, err
		}
		return sdk.ExportResult{Status: sdk.StatusSkipped, Warnings: s.Warnings,
			Reason: "service definition file not downloaded (set service_definitions = true in its export block to keep it); its description was saved"}, nil
	}
	ext := extByType[it.Type]
	if ext == "" {
		ext = ".bin"
	}
	name := exportkit.FileName(it, ext)
	if it.Type == "Notebook" && !hasSuffixFold(name, ".ipynb") {
		name += ".ipynb"
	}
	s.Progress(ctx, "downloading file", 0)
	saved, err := s.SaveFile(ctx, name, it.Type)
	if err != nil {
		return sdk.ExportResult{}, err
	}
	if err := s.Describe(ctx); err != nil {
		return sdk.ExportResult{}, err
	}
	var partial []string
	if !saved {
		partial = append(partial, fmt.Sprintf("the portal has no file for this %s item; only its description was saved", it.Type))
	}
	return s.Result(partial), nil
}

func hasSuffixFold(s, suf string) bool {
	return strings.HasSuffix(strings.ToLower(s), strings.ToLower(suf))
}
