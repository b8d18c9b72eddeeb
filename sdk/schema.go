package sdk

import (
	"errors"
	"fmt"

	"github.com/zclconf/go-cty/cty"
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
