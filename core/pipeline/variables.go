package pipeline

import (
	"fmt"
	"os"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// EnvVarPrefix is the prefix of environment variables that set pipeline
// variables: AGOLPIPE_VAR_org sets var.org.
const EnvVarPrefix = "AGOLPIPE_VAR_"

// variable is a decoded `variable "name" { ... }` block.
type variable struct {
	Name        string
	Default     cty.Value // cty.NilVal when there is none
	Description string
	Sensitive   bool
	DeclRange   hcl.Range
	// set is false when no source gave a value and there is no default;
	// using such a variable is an error at the place of use.
	set bool
}

var variableSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "default"},
		{Name: "description"},
		{Name: "sensitive"},
	},
}

// ParseVarFlags turns --var flags ("name=value") into LoadOptions.Vars.
// A later flag for the same name wins.
func ParseVarFlags(flags []string) (map[string]string, error) {
	out := make(map[string]string, len(flags))
	for _, f := range flags {
		name, value, ok := strings.Cut(f, "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return nil, fmt.Errorf("--var %q: want name=value, as in --var org=https://myorg.maps.arcgis.com", f)
		}
		out[name] = value
	}
	return out, nil
}

// decodeVariables decodes the variable blocks and settles each variable's
// value. Precedence, lowest first: default, AGOLPIPE_VAR_<name>,
// --var-file (in order), --var.
func (l *loader) decodeVariables(blocks []*hcl.Block) {
	l.vars = map[string]*variable{}
	l.varVals = map[string]cty.Value{}
	// Defaults may call functions (env("X", "y")) but not other variables.
	constCtx := &hcl.EvalContext{Functions: functions(l.dir, l.opts.Env, l.addSensitive, nil)}

	for _, b := range blocks {
		name := b.Labels[0]
		if !hclsyntax.ValidIdentifier(name) {
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid variable name",
				Detail:   fmt.Sprintf("%q cannot be used as var.%s. A variable name starts with a letter and holds only letters, digits, underscores and dashes.", name, name),
				Subject:  b.LabelRanges[0].Ptr(),
			})
			continue
		}
		if prev, dup := l.vars[name]; dup {
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate variable",
				Detail:   fmt.Sprintf("Variable %q is already declared at %s. Remove one of the two blocks.", name, prev.DeclRange),
				Subject:  b.LabelRanges[0].Ptr(),
			})
			continue
		}
		v := &variable{Name: name, DeclRange: b.DefRange, Default: cty.NilVal}
		l.vars[name] = v
		content, diags := b.Body.Content(variableSchema)
		l.diags = append(l.diags, diags...)
		if a, ok := content.Attributes["sensitive"]; ok {
			if val, ok := l.evalConst(a, cty.Bool, constCtx); ok {
				v.Sensitive = val.True()
			}
		}
		if a, ok := content.Attributes["description"]; ok {
			if val, ok := l.evalConst(a, cty.String, constCtx); ok {
				v.Description = val.AsString()
			}
		}
		if a, ok := content.Attributes["default"]; ok {
			if val, ok := l.evalConst(a, cty.DynamicPseudoType, constCtx); ok && !val.IsNull() {
				v.Default = val
			}
		}
	}

	values := map[string]cty.Value{}
	for name, v := range l.vars {
		if v.Default != cty.NilVal {
			values[name] = v.Default
		}
		if s, ok := l.opts.Env(EnvVarPrefix + name); ok {
			values[name] = l.fromString(v, s)
		}
	}
	for _, f := range l.opts.VarFiles {
		l.readVarFile(f, values)
	}
	for name, s := range l.opts.Vars {
		v, ok := l.vars[name]
		if !ok {
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Value for undeclared variable",
				Detail: fmt.Sprintf("--var sets %q, but the pipeline declares no variable of that name.%s Declare it with a variable %q block, or remove the flag.",
					name, didYouMean(name, l.varNames()), name),
			})
			continue
		}
		values[name] = l.fromString(v, s)
	}

	for name, v := range l.vars {
		val, ok := values[name]
		if !ok {
			// Unknown, so that expressions using it evaluate without a
			// second error; checkRefs reports each use.
			l.varVals[name] = cty.DynamicVal
			continue
		}
		v.set = true
		if v.Sensitive {
			l.collect(val)
			val = val.Mark(sensitiveMark)
		}
		l.varVals[name] = val
	}
}

// fromString turns a value given as text (--var, AGOLPIPE_VAR_) into the
// type of the variable's default: "8" becomes a number when the default is
// one, and a list or map default takes HCL syntax (["a", "b"]).
func (l *loader) fromString(v *variable, s string) cty.Value {
	if v.Default == cty.NilVal || v.Default.Type() == cty.String || v.Default.Type().IsPrimitiveType() {
		str := cty.StringVal(s)
		if v.Default != cty.NilVal && v.Default.Type() != cty.String {
			if cv, err := convert.Convert(str, v.Default.Type()); err == nil {
				return cv
			}
		}
		return str
	}
	expr, diags := hclsyntax.ParseExpression([]byte(s), "var."+v.Name, hcl.InitialPos)
	if !diags.HasErrors() {
		if val, diags := expr.Value(nil); !diags.HasErrors() {
			return val
		}
	}
	l.diags = append(l.diags, &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Invalid value for variable",
		Detail: fmt.Sprintf("Variable %q has a %s default, so a value given on the command line or in %s%s must be written in HCL syntax, as in [\"a\", \"b\"] or {key = \"value\"}.",
			v.Name, v.Default.Type().FriendlyName(), EnvVarPrefix, v.Name),
		Subject: v.DeclRange.Ptr(),
	})
	return cty.DynamicVal
}

// readVarFile applies a --var-file: an HCL file of `name = value` lines.
func (l *loader) readVarFile(path string, values map[string]cty.Value) {
	src, err := os.ReadFile(path)
	if err != nil {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Cannot read var file",
			Detail:   fmt.Sprintf("--var-file %s: %s. Check the path (relative paths start at the current folder).", path, pathErr(err)),
		})
		return
	}
	f, diags := l.parser.ParseHCL(src, path)
	l.diags = append(l.diags, diags...)
	if f == nil || diags.HasErrors() {
		return
	}
	attrs, diags := f.Body.JustAttributes()
	l.diags = append(l.diags, diags...)
	ctx := &hcl.EvalContext{Functions: functions(l.dir, l.opts.Env, l.addSensitive, nil)}
	for name, a := range attrs {
		v, ok := l.vars[name]
		if !ok {
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagWarning,
				Summary:  "Value for undeclared variable",
				Detail: fmt.Sprintf("The var file sets %q, but the pipeline declares no variable of that name, so the value is ignored.%s",
					name, didYouMean(name, l.varNames())),
				Subject: a.NameRange.Ptr(),
			})
			continue
		}
		if val, ok := l.evalConst(a, cty.DynamicPseudoType, ctx); ok && !val.IsNull() {
			values[v.Name] = val
		}
	}
}

// evalConst evaluates an expression that may call functions but not refer
// to variables, converting it to ty.
func (l *loader) evalConst(a *hcl.Attribute, ty cty.Type, ctx *hcl.EvalContext) (cty.Value, bool) {
	if vars := a.Expr.Variables(); len(vars) > 0 {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Variables not allowed",
			Detail:   fmt.Sprintf("%q must be a constant value: it is read before variables are known. Write the value itself, or use env() for values that vary.", a.Name),
			Subject:  vars[0].SourceRange().Ptr(),
		})
		return cty.NilVal, false
	}
	val, diags := a.Expr.Value(ctx)
	l.diags = append(l.diags, diags...)
	if diags.HasErrors() {
		return cty.NilVal, false
	}
	return l.convertAttr(a, val, ty)
}

func (l *loader) varNames() []string {
	names := make([]string, 0, len(l.vars))
	for n := range l.vars {
		names = append(names, n)
	}
	return names
}
