// Command exporter is the benchmark's exporter plugin: exporter "file"
// streams the file named in its configuration as one artifact, so the
// benchmark measures the plugin road and not a portal.
package main

import (
	"context"
	"os"

	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/grpcplugin"
)

type fileExporter struct {
	cfg struct {
		File string `cty:"file"`
	}
}

func (e *fileExporter) Info() sdk.Info {
	return sdk.Info{Kind: sdk.KindExporter, Name: "bench-file", Version: "1.0.0", Description: "streams one file (benchmark)"}
}

func (e *fileExporter) Schema() sdk.Schema {
	return sdk.Schema{Attributes: []sdk.Attribute{{Name: "file", Type: sdk.TypeString, Required: true}}}
}

func (e *fileExporter) ItemTypes() []string { return []string{"File"} }

func (e *fileExporter) Configure(_ context.Context, req sdk.ConfigureRequest) sdk.Diagnostics {
	if err := sdk.DecodeConfig(req.Config, &e.cfg); err != nil {
		return sdk.Diagnostics{}.Errorf(nil, "Invalid configuration", "%v", err)
	}
	return nil
}

func (e *fileExporter) Export(ctx context.Context, req sdk.ExportRequest, _ sdk.Host, out sdk.ArtifactWriter) (sdk.ExportResult, error) {
	f, err := os.Open(e.cfg.File)
	if err != nil {
		return sdk.ExportResult{}, sdk.Permanent("%v", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return sdk.ExportResult{}, sdk.Permanent("%v", err)
	}
	if err := out.Write(ctx, sdk.Artifact{Name: "data.bin", MediaType: "application/octet-stream", Size: fi.Size(), Format: "Binary"}, f); err != nil {
		return sdk.ExportResult{}, err
	}
	return sdk.ExportResult{Status: sdk.StatusExported}, nil
}

func (e *fileExporter) Close() error { return nil }

func main() {
	grpcplugin.Serve(grpcplugin.ServeOpts{Exporters: map[string]func() sdk.Exporter{"bench-file": func() sdk.Exporter { return &fileExporter{} }}})
}
