package pipeline

import (
	"fmt"
	"slices"

	"github.com/agolpipe/agolpipe/sdk"
	"github.com/hashicorp/hcl/v2"
)

// Layouts are the folder layouts a sink may use inside a run folder.
var Layouts = []string{"type", "owner/type", "owner/folder/type"}

// DefaultLayout is the layout of a sink that names none.
const DefaultLayout = "type"

// sinkMeta are the meta-arguments core owns in every sink block; they are
// taken out before the rest is decoded with the sink's own schema, so a
// sink plugin must not use these names.
var sinkMeta = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "required"}, {Name: "layout"}, {Name: "zip"}},
	Blocks:     []hcl.BlockHeaderSchema{{Type: "retention"}},
}

var retentionSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "delete_after"},
		{Name: "keep_daily"},
		{Name: "keep_weekly"},
		{Name: "keep_monthly"},
		{Name: "dry_run"},
	},
}

// maxKeep bounds keep_* so a typo like 3650 weekly runs is caught.
const maxKeep = 1000

// decodeSinks decodes the sink blocks; a pipeline has at least one, and
// sink names are unique because reports and logs name sinks by them.
func (l *loader) decodeSinks(blocks []*hcl.Block, file hcl.Body) {
	if len(blocks) == 0 {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Missing sink block",
			Detail:   "A backup needs somewhere to go. Add at least one sink, such as:\n  sink \"local\" \"nas\" {\n    path = \"/mnt/gis-backups\"\n  }",
			Subject:  fileStart(file, l.p.Filename),
		})
		return
	}
	seen := map[string]hcl.Range{}
	for _, b := range blocks {
		typ, name := b.Labels[0], b.Labels[1]
		if !l.firstNamed(seen, b, 1, "Duplicate sink name", "The name %q is already used by the sink at %s. Sink names appear in reports and logs, so each sink needs its own.") {
			continue
		}
		meta, rest, diags := b.Body.PartialContent(sinkMeta)
		l.diags = append(l.diags, diags...)
		s := &SinkBlock{
			Required: l.getBool(meta.Attributes, "required", true),
			Layout:   DefaultLayout,
			Zip:      l.getBool(meta.Attributes, "zip", false),
		}
		if v, a, ok := l.getString(meta.Attributes, "layout"); ok {
			if slices.Contains(Layouts, v) {
				s.Layout = v
			} else {
				l.diags = append(l.diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Unknown layout",
					Detail:   fmt.Sprintf("%q is not a layout.%s Choose one of %s.", v, didYouMean(v, Layouts), quotedList(Layouts)),
					Subject:  a.Expr.Range().Ptr(),
				})
			}
		}
		for i, rb := range meta.Blocks {
			if i > 0 {
				l.diags = append(l.diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Duplicate retention block",
					Detail:   fmt.Sprintf("This sink's retention is already set at %s. Merge the two blocks.", meta.Blocks[0].DefRange),
					Subject:  rb.DefRange.Ptr(),
				})
				continue
			}
			s.Retention = l.decodeRetention(rb)
		}
		s.Component = *l.decodeComponent(sdk.KindSink, typ, name, b, rest, b.LabelRanges[0], sinkMeta)
		l.p.Sinks = append(l.p.Sinks, s)
	}
}

func (l *loader) decodeRetention(b *hcl.Block) *Retention {
	content, diags := b.Body.Content(retentionSchema)
	l.diags = append(l.diags, diags...)
	a := content.Attributes
	r := &Retention{
		DeleteAfter: l.getDuration(a, "delete_after"),
		KeepDaily:   l.getInt(a, "keep_daily", 0, 0, maxKeep),
		KeepWeekly:  l.getInt(a, "keep_weekly", 0, 0, maxKeep),
		KeepMonthly: l.getInt(a, "keep_monthly", 0, 0, maxKeep),
		DryRun:      l.getBool(a, "dry_run", false),
		DeclRange:   b.DefRange,
	}
	if _, ok := a["delete_after"]; !ok {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Retention without delete_after",
			Detail: "Retention deletes runs older than delete_after, except those kept by keep_daily, keep_weekly and keep_monthly. Say how old a run may get, as in:\n" +
				"  retention {\n    delete_after = \"90d\"\n    keep_monthly = 12\n  }",
			Subject: b.DefRange.Ptr(),
		})
	}
	return r
}
