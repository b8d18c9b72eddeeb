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

func TestSchemaConfigValue(t *testing.T) {
	s := Schema{
		Attributes: []Attribute{{Name: "url", Type: TypeString}, {Name: "port", Type: TypeNumber}, {Name: "to", Type: TypeListString}},
		Blocks: []NestedBlock{
			{TypeName: "auth", Nesting: NestingSingle, Schema: Schema{Attributes: []Attribute{{Name: "username", Type: TypeString}, {Name: "password", Type: TypeString}}}},
			{TypeName: "header", Nesting: NestingList, Schema: Schema{Attributes: []Attribute{{Name: "name", Type: TypeString}}}},
		},
	}
	v, err := s.ConfigValue(map[string]cty.Value{
		"url":    cty.StringVal("https://gis.city.gov/portal"),
		"port":   cty.StringVal("443"), // converted, as core converts HCL values
		"to":     cty.TupleVal([]cty.Value{cty.StringVal("gis@city.gov")}),
		"auth":   cty.ObjectVal(map[string]cty.Value{"username": cty.StringVal("admin")}),
		"header": cty.TupleVal([]cty.Value{cty.ObjectVal(map[string]cty.Value{"name": cty.StringVal("X-A")})}),
	})
	if err != nil {
		t.Fatal(err)
	}
	if !v.Type().Equals(s.ObjectType()) {
		t.Fatalf("type %s, want %s", v.Type().FriendlyName(), s.ObjectType().FriendlyName())
	}
	var got struct {
		URL  string   `cty:"url"`
		Port int      `cty:"port"`
		To   []string `cty:"to"`
		Auth *struct {
			Username string  `cty:"username"`
			Password *string `cty:"password"`
		} `cty:"auth"`
		Header []struct {
			Name string `cty:"name"`
		} `cty:"header"`
	}
	if err := DecodeConfig(v, &got); err != nil {
		t.Fatal(err)
	}
	if got.Port != 443 || got.Auth == nil || got.Auth.Username != "admin" || got.Auth.Password != nil || len(got.Header) != 1 || got.Header[0].Name != "X-A" || len(got.To) != 1 {
		t.Errorf("decoded %+v", got)
	}

	empty, err := s.ConfigValue(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !empty.GetAttr("url").IsNull() || !empty.GetAttr("auth").IsNull() || empty.GetAttr("header").LengthInt() != 0 {
		t.Errorf("nothing given: %#v", empty)
	}

	for name, attrs := range map[string]map[string]cty.Value{
		"unknown name":      {"uri": cty.StringVal("x")},
		"wrong type":        {"port": cty.StringVal("four hundred")},
		"block not object":  {"auth": cty.StringVal("admin")},
		"unknown in block":  {"auth": cty.ObjectVal(map[string]cty.Value{"token": cty.StringVal("t")})},
		"list not iterable": {"header": cty.StringVal("X-A")},
	} {
		if _, err := s.ConfigValue(attrs); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
