package sdk

import (
	"errors"
	"slices"
	"testing"

	"github.com/zclconf/go-cty/cty"
)

func TestConfigErrorPath(t *testing.T) {
	var target struct {
		Port *int    `cty:"port"`
		Host *string `cty:"host"`
	}
	cases := []struct {
		name string
		v    cty.Value
		want []string
	}{
		{"not a whole number", cty.ObjectVal(map[string]cty.Value{"port": cty.NumberFloatVal(1.5), "host": cty.NullVal(cty.String)}), []string{"port"}},
		{"wrong type", cty.ObjectVal(map[string]cty.Value{"port": cty.NullVal(cty.Number), "host": cty.ListValEmpty(cty.String)}), []string{"host"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := DecodeConfig(c.v, &target)
			if err == nil {
				t.Fatal("DecodeConfig succeeded")
			}
			if got := ConfigErrorPath(err); !slices.Equal(got, c.want) {
				t.Errorf("ConfigErrorPath(%v) = %v, want %v", err, got, c.want)
			}
		})
	}
	if got := ConfigErrorPath(errors.New("plain")); got != nil {
		t.Errorf("an error without a path: %v", got)
	}
}
