package pipeline

import (
	"fmt"
	"slices"
	"sort"

	"github.com/agolpipe/agolpipe/sdk"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// exportMeta are the attributes core owns in an export block; everything
// else in the block configures the exporter and is decoded with its schema.
var exportMeta = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "exporter"}, {Name: "format"}, {Name: "timeout"}, {Name: "skip"}},
}

// decodeExports decodes the export blocks, one per item type.
//
// An export block picks its exporter with `exporter = "<name>"`; without
// it, the exporter that declares the item type is used (when the schema
// source can tell, see ExporterItemTypes) and the block may only set the
// meta-arguments.
func (l *loader) decodeExports(blocks []*hcl.Block) {
	seen := map[string]hcl.Range{}
	for _, b := range blocks {
		itemType := b.Labels[0]
		if !l.firstNamed(seen, b, 0, "Duplicate export block", "Item type %q is already configured at %s. Merge the two blocks.") {
			continue
		}
		l.checkItemType(itemType, b.LabelRanges[0])

		meta, rest, diags := b.Body.PartialContent(exportMeta)
		l.diags = append(l.diags, diags...)
		e := &Export{ItemType: itemType, DeclRange: b.DefRange}
		e.Format, _, _ = l.getString(meta.Attributes, "format")
		e.Timeout = l.getDuration(meta.Attributes, "timeout")
		e.Skip = l.getBool(meta.Attributes, "skip", false)

		exporter, exAttr, named := l.getString(meta.Attributes, "exporter")
		if exAttr != nil && !named {
			l.p.Exports = append(l.p.Exports, e)
			continue // the exporter attribute is wrong; reported
		}
		typeRange := b.LabelRanges[0]
		if named {
			typeRange = exAttr.Expr.Range()
			l.checkExporterHandles(exporter, itemType, typeRange)
		} else {
			exporter = l.defaultExporter(itemType)
			if exporter == "" {
				if opts := optionNames(b.Body, exportMeta); len(opts) > 0 {
					l.diags = append(l.diags, &hcl.Diagnostic{
						Severity: hcl.DiagError,
						Summary:  "Exporter options without an exporter",
						Detail: fmt.Sprintf("This block sets %s, which are options of an exporter, but names none and no exporter declares %q. Add exporter = \"<name>\" (see agolpipe plugins).",
							quotedList(opts), itemType),
						Subject: b.DefRange.Ptr(),
					})
				}
				l.p.Exports = append(l.p.Exports, e)
				continue
			}
		}
		e.Exporter = l.decodeComponent(sdk.KindExporter, exporter, itemType, b, rest, typeRange, exportMeta)
		l.p.Exports = append(l.p.Exports, e)
	}
}

// checkItemType flags item type names that are likely typos. A name that
// is close to no known type is only a warning, since the portal grows new
// types faster than this list.
func (l *loader) checkItemType(t string, rng hcl.Range) {
	if IsItemType(t) {
		return
	}
	if s := suggest(t, ItemTypes); s != "" {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Unknown item type",
			Detail:   fmt.Sprintf("%q is not an ArcGIS item type. Did you mean %q? Item types are spelled as the portal shows them, with their capitals.", t, s),
			Subject:  rng.Ptr(),
		})
		return
	}
	l.diags = append(l.diags, &hcl.Diagnostic{
		Severity: hcl.DiagWarning,
		Summary:  "Unrecognised item type",
		Detail:   fmt.Sprintf("%q is not an item type agolpipe knows. If the portal shows items of this type, ignore this warning; otherwise check the spelling against the item's Type in the portal.", t),
		Subject:  rng.Ptr(),
	})
}

// defaultExporter is the first exporter (by name) that declares itemType,
// or "" when none does or the schema source cannot tell.
func (l *loader) defaultExporter(itemType string) string {
	it, ok := l.schemas.(ExporterItemTypes)
	if !ok {
		return ""
	}
	names := slices.Clone(l.schemas.Names(sdk.KindExporter))
	sort.Strings(names)
	for _, n := range names {
		if slices.Contains(it.ItemTypes(n), itemType) {
			return n
		}
	}
	return ""
}

// checkExporterHandles warns when a named exporter does not declare the
// item type; it may still work (generic exporters), so it is no error.
func (l *loader) checkExporterHandles(exporter, itemType string, rng hcl.Range) {
	it, ok := l.schemas.(ExporterItemTypes)
	if !ok || !slices.Contains(l.schemas.Names(sdk.KindExporter), exporter) {
		return
	}
	types := it.ItemTypes(exporter)
	if len(types) == 0 || slices.Contains(types, itemType) {
		return
	}
	l.diags = append(l.diags, &hcl.Diagnostic{
		Severity: hcl.DiagWarning,
		Summary:  "Exporter does not declare this item type",
		Detail:   fmt.Sprintf("Exporter %q declares %s, not %q. Check that it can export this type, or pick another exporter.", exporter, quotedList(types), itemType),
		Subject:  rng.Ptr(),
	})
}

// optionNames lists the attributes and blocks of body outside meta.
func optionNames(body hcl.Body, meta *hcl.BodySchema) []string {
	sb, ok := body.(*hclsyntax.Body)
	if !ok {
		return nil
	}
	var out []string
	for name := range sb.Attributes {
		if !slices.ContainsFunc(meta.Attributes, func(a hcl.AttributeSchema) bool { return a.Name == name }) {
			out = append(out, name)
		}
	}
	for _, b := range sb.Blocks {
		out = append(out, b.Type)
	}
	return out
}
