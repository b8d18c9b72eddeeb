package notifytest

import (
	"os"
	"regexp"
	"slices"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
)

var hclFence = regexp.MustCompile("(?s)```hcl\n(.*?)```")

// Statuses are the run statuses a notify block's `on` may list.
var Statuses = []string{"success", "partial", "failed", "canceled"}

// ReadmeBlocks returns the attributes of every `notify "<component>" "..."`
// block in the ```hcl fences of a README, so a test can check that the
// documented samples configure. env gives the value env("NAME") returns in
// the samples; a sample using a name not in env fails the test. The block's
// own `on` (core's attribute) is checked against Statuses and left out.
func ReadmeBlocks(t testing.TB, readme, component string, env map[string]string) []map[string]cty.Value {
	t.Helper()
	src, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	ctx := &hcl.EvalContext{Functions: map[string]function.Function{
		"env": function.New(&function.Spec{
			Params: []function.Parameter{{Name: "name", Type: cty.String}},
			Type:   function.StaticReturnType(cty.String),
			Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
				name := args[0].AsString()
				v, ok := env[name]
				if !ok {
					t.Errorf("%s: a sample uses env(%q); give it a test value", readme, name)
				}
				return cty.StringVal(v), nil
			},
		}),
	}}
	var out []map[string]cty.Value
	for i, m := range hclFence.FindAllSubmatch(src, -1) {
		f, diags := hclsyntax.ParseConfig(m[1], readme, hcl.Pos{Line: 1, Column: 1})
		if diags.HasErrors() {
			t.Errorf("%s, hcl sample %d: %v", readme, i+1, diags)
			continue
		}
		for _, b := range f.Body.(*hclsyntax.Body).Blocks {
			if b.Type != "notify" || len(b.Labels) != 2 || b.Labels[0] != component {
				continue
			}
			attrs := map[string]cty.Value{}
			for name, a := range b.Body.Attributes {
				v, diags := a.Expr.Value(ctx)
				if diags.HasErrors() {
					t.Errorf("%s, block %q: %v", readme, b.Labels[1], diags)
					continue
				}
				if name == "on" {
					for it := v.ElementIterator(); it.Next(); {
						_, s := it.Element()
						if !slices.Contains(Statuses, s.AsString()) {
							t.Errorf("%s, block %q: on lists %q, not one of %q", readme, b.Labels[1], s.AsString(), Statuses)
						}
					}
					continue
				}
				attrs[name] = v
			}
			out = append(out, attrs)
		}
	}
	if len(out) == 0 {
		t.Errorf("%s has no sample notify %q block", readme, component)
	}
	return out
}
