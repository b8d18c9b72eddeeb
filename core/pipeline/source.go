package pipeline

import (
	"fmt"

	"github.com/agolpipe/agolpipe/sdk"
	"github.com/hashicorp/hcl/v2"
)

// decodeSources decodes the source block; a pipeline has exactly one.
func (l *loader) decodeSources(blocks []*hcl.Block, file hcl.Body) {
	if len(blocks) == 0 {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Missing source block",
			Detail: "A pipeline backs up one organization, named by a source block such as:\n" +
				"  source \"arcgis\" \"prod\" {\n    url = \"https://myorg.maps.arcgis.com\"\n  }",
			Subject: fileStart(file, l.p.Filename),
		})
		return
	}
	for i, b := range blocks {
		if i > 0 {
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "More than one source",
				Detail: fmt.Sprintf("A pipeline backs up one organization; a source is already defined at %s. Move this one to its own pipeline file.",
					blocks[0].DefRange),
				Subject: b.DefRange.Ptr(),
			})
			continue
		}
		l.p.Source = l.decodeComponent(sdk.KindSource, b.Labels[0], b.Labels[1], b, b.Body, b.LabelRanges[0], nil)
	}
}
