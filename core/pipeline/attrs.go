package pipeline

import (
	"fmt"
	"math/big"
	"time"

	"github.com/agolpipe/agolpipe/sdk"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// This file evaluates the attributes core owns itself (run, plugin, the
// meta-arguments of sink, export and notify blocks). Each helper reports its
// own problems and returns ok=false when the attribute is absent, wrong or
// not yet known because of an earlier error.

// eval evaluates a with the pipeline's variables and functions and converts
// it to ty. Sensitive parts are recorded and the marks removed.
func (l *loader) eval(a *hcl.Attribute, ty cty.Type) (cty.Value, bool) {
	if !l.checkRefs(a.Expr.Variables()) {
		return cty.NilVal, false
	}
	val, diags := a.Expr.Value(l.ctx)
	l.diags = append(l.diags, diags...)
	if diags.HasErrors() {
		return cty.NilVal, false
	}
	val = l.unmark(val)
	if !val.IsWhollyKnown() || val.IsNull() {
		return cty.NilVal, false
	}
	return l.convertAttr(a, val, ty)
}

// convertAttr converts val to ty, reporting a mismatch without the value.
func (l *loader) convertAttr(a *hcl.Attribute, val cty.Value, ty cty.Type) (cty.Value, bool) {
	if ty == cty.DynamicPseudoType {
		return val, true
	}
	cv, err := convert.Convert(val, ty)
	if err != nil {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Wrong type for " + a.Name,
			Detail:   fmt.Sprintf("%q must be %s: %s.", a.Name, friendlyType(ty), err),
			Subject:  a.Expr.Range().Ptr(),
		})
		return cty.NilVal, false
	}
	return cv, true
}

func friendlyType(ty cty.Type) string {
	switch ty {
	case cty.String:
		return `a string, as in "text"`
	case cty.Number:
		return "a number"
	case cty.Bool:
		return "true or false"
	case cty.List(cty.String):
		return `a list of strings, as in ["a", "b"]`
	}
	return ty.FriendlyName()
}

func (l *loader) getString(attrs hcl.Attributes, name string) (string, *hcl.Attribute, bool) {
	a, ok := attrs[name]
	if !ok {
		return "", nil, false
	}
	v, ok := l.eval(a, cty.String)
	if !ok {
		return "", a, false
	}
	return v.AsString(), a, true
}

func (l *loader) getBool(attrs hcl.Attributes, name string, def bool) bool {
	a, ok := attrs[name]
	if !ok {
		return def
	}
	v, ok := l.eval(a, cty.Bool)
	if !ok {
		return def
	}
	return v.True()
}

// getInt reads a whole number in [lo, hi], or def when absent.
func (l *loader) getInt(attrs hcl.Attributes, name string, def, lo, hi int) int {
	a, ok := attrs[name]
	if !ok {
		return def
	}
	v, ok := l.eval(a, cty.Number)
	if !ok {
		return def
	}
	bf := v.AsBigFloat()
	n, acc := bf.Int64()
	if acc != big.Exact || n < int64(lo) || n > int64(hi) {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid " + name,
			Detail:   fmt.Sprintf("%q must be a whole number from %d to %d.", name, lo, hi),
			Subject:  a.Expr.Range().Ptr(),
		})
		return def
	}
	return int(n)
}

// getDuration reads a positive duration written as a string ("90m", "7d").
func (l *loader) getDuration(attrs hcl.Attributes, name string) time.Duration {
	s, a, ok := l.getString(attrs, name)
	if !ok {
		return 0
	}
	d, err := sdk.ParseDuration(s)
	if err == nil && d <= 0 {
		err = fmt.Errorf("duration must be more than zero")
	}
	if err != nil {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid duration",
			Detail: fmt.Sprintf("%q: %s. Write a number and a unit: s, m, h, d (days) or w (weeks), as in \"120m\", \"36h\", \"7d\" or \"2w\".",
				name, err),
			Subject: a.Expr.Range().Ptr(),
		})
		return 0
	}
	return d
}

func (l *loader) getStringList(attrs hcl.Attributes, name string) ([]string, *hcl.Attribute, bool) {
	a, ok := attrs[name]
	if !ok {
		return nil, nil, false
	}
	v, ok := l.eval(a, cty.List(cty.String))
	if !ok {
		return nil, a, false
	}
	var out []string
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		if e.IsNull() {
			continue
		}
		out = append(out, e.AsString())
	}
	return out, a, true
}

// checkRefs reports references to undeclared or unset variables, each at
// its place of use, and returns false if there was one. Bad names are then
// made unknown in the evaluation context so that evaluating the expression
// adds no second, vaguer error.
func (l *loader) checkRefs(refs []hcl.Traversal) bool {
	ok := true
	for _, t := range refs {
		root := t.RootName()
		if root != "var" {
			detail := fmt.Sprintf("There is no %q here. Variables are written var.<name>.", root)
			if _, declared := l.vars[root]; declared {
				detail = fmt.Sprintf("To use the variable %q, write var.%s.", root, root)
			}
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Unknown reference",
				Detail:   detail,
				Subject:  t.SourceRange().Ptr(),
			})
			l.ctx.Variables[root] = cty.DynamicVal
			ok = false
			continue
		}
		if len(t) < 2 {
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid reference",
				Detail:   "var on its own is not a value; name a variable, as in var.org.",
				Subject:  t.SourceRange().Ptr(),
			})
			ok = false
			continue
		}
		step, isAttr := t[1].(hcl.TraverseAttr)
		if !isAttr {
			continue // var["x"] is an index error hcl reports itself
		}
		name := step.Name
		v, declared := l.vars[name]
		switch {
		case !declared:
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Undeclared variable",
				Detail: fmt.Sprintf("No variable %q is declared.%s Declare it with a block such as:\n  variable %q {\n    default = \"...\"\n  }",
					name, didYouMean(name, l.varNames()), name),
				Subject: t.SourceRange().Ptr(),
			})
			l.varVals[name] = cty.DynamicVal
			l.ctx.Variables["var"] = cty.ObjectVal(l.varVals)
			ok = false
		case !v.set && l.unused:
			// Unknown in a block the command does not use (SinksOnly).
		case !v.set:
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Variable not set",
				Detail: fmt.Sprintf("Variable %q (declared at %s) has no value and no default. Set it with --var %s=..., in a --var-file, or in the environment variable %s%s.",
					name, v.DeclRange, name, EnvVarPrefix, name),
				Subject: t.SourceRange().Ptr(),
			})
			ok = false
		}
	}
	return ok
}

// unmark removes the sensitive marks from val, recording every marked part
// as sensitive.
func (l *loader) unmark(val cty.Value) cty.Value {
	unmarked, pvms := val.UnmarkDeepWithPaths()
	for _, pvm := range pvms {
		if _, ok := pvm.Marks[sensitiveMark]; !ok {
			continue
		}
		if part, err := pvm.Path.Apply(unmarked); err == nil {
			l.collect(part)
		}
	}
	return unmarked
}

// collect records every string inside val (marked or not) as sensitive.
func (l *loader) collect(val cty.Value) {
	val, _ = val.UnmarkDeep()
	if !val.IsKnown() || val.IsNull() {
		return
	}
	ty := val.Type()
	switch {
	case ty == cty.String:
		l.addSensitive(val.AsString())
	case ty.IsPrimitiveType():
		// Numbers and bools are not worth redacting: "8" would blank out
		// every 8 in the log.
	case ty.IsListType(), ty.IsSetType(), ty.IsMapType(), ty.IsTupleType(), ty.IsObjectType():
		for it := val.ElementIterator(); it.Next(); {
			_, e := it.Element()
			l.collect(e)
		}
	}
}

// isLiteral reports whether expr is a value typed into the file, with no
// function call or reference (a secret written in clear).
func isLiteral(expr hcl.Expression) bool {
	switch e := expr.(type) {
	case *hclsyntax.LiteralValueExpr:
		return true
	case *hclsyntax.TemplateExpr:
		for _, p := range e.Parts {
			if !isLiteral(p) {
				return false
			}
		}
		return true
	}
	return false
}

// firstNamed reports whether b is the first of its kind of block with the
// name in its label at index label, remembering it in seen. A later block
// of that name gets an error at its label: summary, and detail, a format
// given the name and where the first block is.
func (l *loader) firstNamed(seen map[string]hcl.Range, b *hcl.Block, label int, summary, detail string) bool {
	name := b.Labels[label]
	if first, dup := seen[name]; dup {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  summary,
			Detail:   fmt.Sprintf(detail, name, first),
			Subject:  b.LabelRanges[label].Ptr(),
		})
		return false
	}
	seen[name] = b.DefRange
	return true
}
