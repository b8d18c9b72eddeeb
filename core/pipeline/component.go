package pipeline

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/agolpipe/agolpipe/sdk"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// kindWord is how a kind is named to a user; notify blocks say "notifier".
func kindWord(k sdk.Kind) string { return string(k) }

// decodeComponent resolves the component type, fetches its schema and
// decodes body (the block body minus core's meta-arguments) with it.
// typeRange points at the label naming the type.
//
// meta lists the meta-arguments core took out of the block, so that a
// misspelled one ("layot") still gets a "did you mean".
func (l *loader) decodeComponent(kind sdk.Kind, typ, name string, block *hcl.Block, body hcl.Body, typeRange hcl.Range, meta *hcl.BodySchema) *Component {
	c := &Component{Type: typ, Name: name, DeclRange: block.DefRange, Body: block.Body}
	names := l.schemas.Names(kind)
	if !slices.Contains(names, typ) {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  fmt.Sprintf("Unknown %s type", kindWord(kind)),
			Detail: fmt.Sprintf("There is no %s called %q.%s Available: %s. A third-party %s needs a plugin block declaring its binary.",
				kindWord(kind), typ, didYouMean(typ, names), quotedList(names), kindWord(kind)),
			Subject: typeRange.Ptr(),
		})
		return c
	}
	schema, err := l.schemas.Schema(kind, typ)
	if err != nil {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  fmt.Sprintf("Cannot load %s %q", kindWord(kind), typ),
			Detail:   fmt.Sprintf("Asking the %s %q for its configuration schema failed: %s. Check that its plugin is installed and runs (agolpipe plugins).", kindWord(kind), typ, err),
			Subject:  typeRange.Ptr(),
		})
		return c
	}
	before := len(l.diags)
	c.Config = l.decodeBody(schema, body, block)
	if meta != nil {
		suggestMeta(l.diags[before:], meta)
	}
	return c
}

// suggestMeta adds "Did you mean" to hcl's unsupported-argument and
// unsupported-block diagnostics when the unknown name is close to one of
// core's meta-arguments, which hcl could not suggest because they had
// already been taken out of the body.
func suggestMeta(diags hcl.Diagnostics, meta *hcl.BodySchema) {
	var names []string
	for _, a := range meta.Attributes {
		names = append(names, a.Name)
	}
	for _, b := range meta.Blocks {
		names = append(names, b.Type)
	}
	for _, d := range diags {
		if (d.Summary != "Unsupported argument" && d.Summary != "Unsupported block type") || strings.Contains(d.Detail, "Did you mean") {
			continue
		}
		_, rest, ok := strings.Cut(d.Detail, `"`)
		if !ok {
			continue
		}
		given, _, ok := strings.Cut(rest, `"`)
		if !ok {
			continue
		}
		d.Detail += didYouMean(given, names)
	}
}

// decodeBody decodes body with schema, checks required attributes and
// collects sensitive values. The result is unmarked and of
// schema.ObjectType(); it is cty.NilVal when decoding failed outright.
func (l *loader) decodeBody(schema sdk.Schema, body hcl.Body, block *hcl.Block) cty.Value {
	spec := specFor(schema)
	// Bad references are reported and made unknown; decoding goes on so
	// the other attributes' problems show in the same pass.
	_ = l.checkRefs(hcldec.Variables(body, spec))
	val, diags := hcldec.Decode(body, spec, l.ctx)
	l.diags = append(l.diags, diags...)
	if val == cty.NilVal {
		return cty.NilVal
	}
	val = l.unmark(val)
	if cv, err := convert.Convert(val, schema.ObjectType()); err == nil {
		val = cv
	}
	sb, _ := block.Body.(*hclsyntax.Body)
	l.walkConfig(schema, val, sb, block.DefRange, describeBlock(block))
	return val
}

// specFor builds the hcldec spec of a component schema. Required
// attributes are checked by walkConfig, which can say more than hcldec.
func specFor(s sdk.Schema) hcldec.Spec {
	obj := hcldec.ObjectSpec{}
	for _, a := range s.Attributes {
		obj[a.Name] = &hcldec.AttrSpec{Name: a.Name, Type: a.Type.CtyType()}
	}
	for _, b := range s.Blocks {
		nested := specFor(b.Schema)
		if b.Nesting == sdk.NestingList {
			min := 0
			if b.Required {
				min = 1
			}
			obj[b.TypeName] = &hcldec.BlockListSpec{TypeName: b.TypeName, Nested: nested, MinItems: min}
		} else {
			obj[b.TypeName] = &hcldec.BlockSpec{TypeName: b.TypeName, Nested: nested, Required: b.Required}
		}
	}
	return obj
}

// walkConfig checks required attributes and records sensitive values of a
// decoded block, descending into nested blocks. body may be nil when the
// source is not native syntax; where is the block as the user wrote it.
func (l *loader) walkConfig(s sdk.Schema, val cty.Value, body *hclsyntax.Body, rng hcl.Range, where string) {
	if !val.IsKnown() || val.IsNull() || !val.Type().IsObjectType() {
		return
	}
	for _, a := range s.Attributes {
		if !val.Type().HasAttribute(a.Name) {
			continue
		}
		av := val.GetAttr(a.Name)
		if a.Sensitive {
			l.collect(av)
		}
		if body != nil {
			if sa, ok := body.Attributes[a.Name]; ok && a.Sensitive && isLiteral(sa.Expr) {
				l.diags = append(l.diags, &hcl.Diagnostic{
					Severity: hcl.DiagWarning,
					Summary:  "Secret written in the pipeline file",
					// No Subject: the snippet would show the secret.
					Detail: fmt.Sprintf("%s sets %q to a value typed into %s line %d, so anyone who can read the file can read it. Use env(\"NAME\") or a sensitive variable instead.",
						where, a.Name, sa.SrcRange.Filename, sa.SrcRange.Start.Line),
				})
			}
		}
		if a.Required && av.IsKnown() && av.IsNull() {
			if _, present := attrIn(body, a.Name); present && !isNullLiteral(body.Attributes[a.Name].Expr) {
				continue // present but unknown or erroneous: reported already
			}
			what := ""
			if a.Description != "" {
				what = " (" + strings.TrimSuffix(a.Description, ".") + ")"
			}
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  fmt.Sprintf("Missing required attribute %q", a.Name),
				Detail: fmt.Sprintf("%s needs %q%s. Add a line such as:\n  %s = %s",
					where, a.Name, what, a.Name, exampleValue(a)),
				Subject: rng.Ptr(),
			})
		}
	}
	for _, b := range s.Blocks {
		if !val.Type().HasAttribute(b.TypeName) {
			continue
		}
		bv := val.GetAttr(b.TypeName)
		var syn []*hclsyntax.Block
		if body != nil {
			for _, sb := range body.Blocks {
				if sb.Type == b.TypeName {
					syn = append(syn, sb)
				}
			}
		}
		if b.Nesting == sdk.NestingList {
			if !bv.IsKnown() || bv.IsNull() {
				continue
			}
			i := 0
			for it := bv.ElementIterator(); it.Next(); i++ {
				_, ev := it.Element()
				var nb *hclsyntax.Body
				nr := rng
				if i < len(syn) {
					nb, nr = syn[i].Body, syn[i].DefRange()
				}
				l.walkConfig(b.Schema, ev, nb, nr, fmt.Sprintf("%s, %s block %d,", where, b.TypeName, i+1))
			}
			continue
		}
		var nb *hclsyntax.Body
		nr := rng
		if len(syn) > 0 {
			nb, nr = syn[0].Body, syn[0].DefRange()
		}
		l.walkConfig(b.Schema, bv, nb, nr, fmt.Sprintf("The %s block in %s", b.TypeName, where))
	}
}

func attrIn(body *hclsyntax.Body, name string) (*hclsyntax.Attribute, bool) {
	if body == nil {
		return nil, false
	}
	a, ok := body.Attributes[name]
	return a, ok
}

func isNullLiteral(e hclsyntax.Expression) bool {
	lit, ok := e.(*hclsyntax.LiteralValueExpr)
	return ok && lit.Val.IsNull()
}

// exampleValue is a placeholder of the right shape for a Detail snippet.
func exampleValue(a sdk.Attribute) string {
	if a.Sensitive {
		return `env("` + strings.ToUpper(a.Name) + `")`
	}
	switch a.Type {
	case sdk.TypeNumber:
		return "1"
	case sdk.TypeBool:
		return "true"
	case sdk.TypeListString:
		return `["..."]`
	case sdk.TypeMapString:
		return `{ key = "value" }`
	}
	return `"..."`
}

// describeBlock renders a block header the way the user wrote it, such as
// `sink "local" "nas"`, for Details.
func describeBlock(b *hcl.Block) string {
	s := b.Type
	for _, lbl := range b.Labels {
		s += " " + strconv.Quote(lbl)
	}
	return s
}

// Diagnostics turns a component's own diagnostics (from Configure or
// validation in the plugin) into HCL diagnostics pointing at the attribute
// each one names, falling back to the block header when the path does not
// resolve. A path step that is a number selects one of several nested
// blocks of the same type (["header", "1", "name"]).
func (c *Component) Diagnostics(in sdk.Diagnostics) hcl.Diagnostics {
	var out hcl.Diagnostics
	for _, d := range in {
		sev := hcl.DiagError
		if d.Severity == sdk.SeverityWarning {
			sev = hcl.DiagWarning
		}
		rng := c.rangeOf(d.Path)
		out = append(out, &hcl.Diagnostic{
			Severity: sev,
			Summary:  d.Summary,
			Detail:   d.Detail,
			Subject:  &rng,
		})
	}
	return out
}

// rangeOf finds the source range of the attribute or block at path.
func (c *Component) rangeOf(path []string) hcl.Range {
	rng := c.DeclRange
	body, ok := c.Body.(*hclsyntax.Body)
	if !ok {
		return rng
	}
	for i := 0; i < len(path); i++ {
		step := path[i]
		if a, ok := body.Attributes[step]; ok {
			return a.Expr.Range()
		}
		var blocks []*hclsyntax.Block
		for _, b := range body.Blocks {
			if b.Type == step {
				blocks = append(blocks, b)
			}
		}
		if len(blocks) == 0 {
			return rng
		}
		idx := 0
		if i+1 < len(path) {
			if n, err := strconv.Atoi(path[i+1]); err == nil {
				if n >= 0 && n < len(blocks) {
					idx = n
				}
				i++
			}
		}
		rng = blocks[idx].DefRange()
		body = blocks[idx].Body
	}
	return rng
}
