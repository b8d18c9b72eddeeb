package sdk

import (
	"errors"
	"fmt"

	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/gocty"
)

// Type is the type of one configuration attribute. Only the types a pipeline
// needs exist; durations and sizes are strings that the component parses so
// the user can write "120m" or "5GiB".
type Type string

const (
	TypeString     Type = "string"
	TypeNumber     Type = "number"
	TypeBool       Type = "bool"
	TypeListString Type = "list(string)"
	TypeMapString  Type = "map(string)"
)

// CtyType returns the cty type the host decodes an attribute of this type to.
func (t Type) CtyType() cty.Type {
	switch t {
	case TypeString:
		return cty.String
	case TypeNumber:
		return cty.Number
	case TypeBool:
		return cty.Bool
	case TypeListString:
		return cty.List(cty.String)
	case TypeMapString:
		return cty.Map(cty.String)
	}
	panic(fmt.Sprintf("sdk: unknown attribute type %q", string(t)))
}

// Attribute describes one HCL attribute of a component's block.
type Attribute struct {
	Name     string
	Type     Type
	Required bool
	// Sensitive values (passwords, keys, tokens, connection strings) are never
	// printed by the host: not in logs, plans, reports or diagnostics.
	Sensitive   bool
	Description string
}

// Nesting says how often a nested block may appear.
type Nesting string

const (
	// NestingSingle: at most once; decoded as an object (null when absent).
	NestingSingle Nesting = "single"
	// NestingList: any number of times; decoded as a list of objects.
	NestingList Nesting = "list"
)

// Schema is the configuration schema of a component's HCL block.
type Schema struct {
	Attributes []Attribute
	Blocks     []NestedBlock
}

// NestedBlock is a block inside a component's block, such as `auth { ... }`.
type NestedBlock struct {
	TypeName    string
	Nesting     Nesting
	Required    bool
	Description string
	Schema      Schema
}

// ObjectType is the cty object type a configuration of this schema decodes
// to. Absent optional attributes are null values of their type.
func (s Schema) ObjectType() cty.Type {
	attrs := map[string]cty.Type{}
	for _, a := range s.Attributes {
		attrs[a.Name] = a.Type.CtyType()
	}
	for _, b := range s.Blocks {
		obj := b.Schema.ObjectType()
		if b.Nesting == NestingList {
			attrs[b.TypeName] = cty.List(obj)
		} else {
			attrs[b.TypeName] = obj
		}
	}
	return cty.Object(attrs)
}

// ConfigValue builds a configuration value of s the way core decodes a
// block: the attributes in attrs converted to their types, null for every
// other attribute, and each nested block absent (null, or an empty list for
// NestingList) unless attrs holds it: an object for a single block, a list
// or tuple of objects for a list, filled the same way. It fails on a name s
// does not have and on a value that does not convert. It is for tests and
// for commands that configure a component without a pipeline file.
func (s Schema) ConfigValue(attrs map[string]cty.Value) (cty.Value, error) {
	vals := map[string]cty.Value{}
	for _, a := range s.Attributes {
		v, ok := attrs[a.Name]
		if !ok {
			vals[a.Name] = cty.NullVal(a.Type.CtyType())
			continue
		}
		cv, err := convert.Convert(v, a.Type.CtyType())
		if err != nil {
			return cty.NilVal, fmt.Errorf("attribute %q: %w", a.Name, err)
		}
		vals[a.Name] = cv
	}
	for _, b := range s.Blocks {
		v, ok := attrs[b.TypeName]
		switch {
		case !ok && b.Nesting == NestingList:
			vals[b.TypeName] = cty.ListValEmpty(b.Schema.ObjectType())
		case !ok:
			vals[b.TypeName] = cty.NullVal(b.Schema.ObjectType())
		case b.Nesting == NestingList:
			if !v.CanIterateElements() {
				return cty.NilVal, fmt.Errorf("block %q: want a list of objects, not %s", b.TypeName, v.Type().FriendlyName())
			}
			var elems []cty.Value
			for it := v.ElementIterator(); it.Next(); {
				_, ev := it.Element()
				e, err := b.Schema.blockValue(ev)
				if err != nil {
					return cty.NilVal, fmt.Errorf("block %q: %w", b.TypeName, err)
				}
				elems = append(elems, e)
			}
			if len(elems) == 0 {
				vals[b.TypeName] = cty.ListValEmpty(b.Schema.ObjectType())
			} else {
				vals[b.TypeName] = cty.ListVal(elems)
			}
		default:
			e, err := b.Schema.blockValue(v)
			if err != nil {
				return cty.NilVal, fmt.Errorf("block %q: %w", b.TypeName, err)
			}
			vals[b.TypeName] = e
		}
	}
	for name := range attrs {
		if _, ok := s.ObjectType().AttributeTypes()[name]; !ok {
			return cty.NilVal, fmt.Errorf("%q is not an attribute or block of this schema", name)
		}
	}
	return cty.ObjectVal(vals), nil
}

// blockValue fills one nested block given as an object value.
func (s Schema) blockValue(v cty.Value) (cty.Value, error) {
	if v.IsNull() {
		return cty.NullVal(s.ObjectType()), nil
	}
	if !v.Type().IsObjectType() && !v.Type().IsMapType() {
		return cty.NilVal, fmt.Errorf("want an object, not %s", v.Type().FriendlyName())
	}
	m := map[string]cty.Value{}
	for it := v.ElementIterator(); it.Next(); {
		k, ev := it.Element()
		m[k.AsString()] = ev
	}
	return s.ConfigValue(m)
}

// Attribute returns the attribute called name, if the schema has one.
func (s Schema) Attribute(name string) (Attribute, bool) {
	for _, a := range s.Attributes {
		if a.Name == name {
			return a, true
		}
	}
	return Attribute{}, false
}

// SensitivePaths lists the attribute paths whose values must never be shown.
func (s Schema) SensitivePaths() [][]string {
	var out [][]string
	for _, a := range s.Attributes {
		if a.Sensitive {
			out = append(out, []string{a.Name})
		}
	}
	for _, b := range s.Blocks {
		for _, p := range b.Schema.SensitivePaths() {
			out = append(out, append([]string{b.TypeName}, p...))
		}
	}
	return out
}

// DecodeConfig copies a configuration value into a Go struct whose fields
// carry `cty:"name"` tags (see gocty). Null attributes leave pointer fields
// nil and other fields at their zero value.
func DecodeConfig(v cty.Value, target any) error {
	return gocty.FromCtyValue(v, target)
}

// ConfigErrorPath is the attribute path (as in Diagnostic.Path) of an error
// from DecodeConfig, so the diagnostic points at the attribute in the
// pipeline file; nil when the error names no attribute.
func ConfigErrorPath(err error) []string {
	var pe cty.PathError
	if !errors.As(err, &pe) {
		return nil
	}
	var out []string
	for _, step := range pe.Path {
		if ga, ok := step.(cty.GetAttrStep); ok {
			out = append(out, ga.Name)
		}
	}
	return out
}
