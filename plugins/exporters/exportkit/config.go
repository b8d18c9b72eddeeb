package exportkit

import (
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/version"
	"github.com/zclconf/go-cty/cty"
)

// Info builds an exporter's Info.
func Info(name, description string) sdk.Info {
	return sdk.Info{Kind: sdk.KindExporter, Name: name, Version: version.Version, Description: description}
}

// Bool reads an optional bool attribute of a decoded block, def when null
// or absent.
func Bool(v cty.Value, name string, def bool) bool {
	a := attr(v, name)
	if a.IsNull() || !a.IsKnown() || a.Type() != cty.Bool {
		return def
	}
	return a.True()
}

// Strings reads an optional list(string) attribute, nil when null.
func Strings(v cty.Value, name string) []string {
	a := attr(v, name)
	if a.IsNull() || !a.IsKnown() || !(a.Type().IsListType() || a.Type().IsTupleType() || a.Type().IsSetType()) {
		return nil
	}
	var out []string
	for it := a.ElementIterator(); it.Next(); {
		_, e := it.Element()
		if !e.IsNull() && e.Type() == cty.String {
			out = append(out, e.AsString())
		}
	}
	return out
}

// Number reads an optional number attribute as an int, def when null.
func Number(v cty.Value, name string, def int) int {
	a := attr(v, name)
	if a.IsNull() || !a.IsKnown() || a.Type() != cty.Number {
		return def
	}
	f, _ := a.AsBigFloat().Int64()
	return int(f)
}

func attr(v cty.Value, name string) cty.Value {
	if v == cty.NilVal || v.IsNull() || !v.IsKnown() || !v.Type().IsObjectType() || !v.Type().HasAttribute(name) {
		return cty.NullVal(cty.DynamicPseudoType)
	}
	return v.GetAttr(name)
}
