package pipeline

import (
	"fmt"
	"slices"

	"github.com/agolpipe/agolpipe/sdk"
)

// fakeSchemas is a SchemaSource with realistic schemas of the built-in
// components, so the loader is tested without starting plugins.
type fakeSchemas struct{}

var fakeComponents = map[sdk.Kind]map[string]sdk.Schema{
	sdk.KindSource: {
		"arcgis": {
			Attributes: []sdk.Attribute{
				{Name: "url", Type: sdk.TypeString, Required: true, Description: "Portal URL, such as https://myorg.maps.arcgis.com"},
				{Name: "folders", Type: sdk.TypeListString},
				{Name: "exclude_tags", Type: sdk.TypeListString},
				{Name: "page_size", Type: sdk.TypeNumber},
			},
			Blocks: []sdk.NestedBlock{{
				TypeName: "auth", Nesting: sdk.NestingSingle, Required: true,
				Schema: sdk.Schema{Attributes: []sdk.Attribute{
					{Name: "username", Type: sdk.TypeString, Required: true, Description: "Name of the ArcGIS account that runs backups"},
					{Name: "password", Type: sdk.TypeString, Required: true, Sensitive: true, Description: "Password of that account"},
				}},
			}},
		},
	},
	sdk.KindExporter: {
		"hosted": {Attributes: []sdk.Attribute{
			{Name: "include_attachments", Type: sdk.TypeBool},
			{Name: "poll_interval", Type: sdk.TypeString},
		}},
		"item-data": {Attributes: []sdk.Attribute{
			{Name: "include_resources", Type: sdk.TypeBool},
		}},
	},
	sdk.KindSink: {
		"local": {Attributes: []sdk.Attribute{
			{Name: "path", Type: sdk.TypeString, Required: true, Description: "Folder the runs are written under"},
		}},
		"s3": {Attributes: []sdk.Attribute{
			{Name: "bucket", Type: sdk.TypeString, Required: true},
			{Name: "region", Type: sdk.TypeString},
			{Name: "prefix", Type: sdk.TypeString},
			{Name: "access_key_id", Type: sdk.TypeString, Sensitive: true},
			{Name: "secret_access_key", Type: sdk.TypeString, Sensitive: true},
		}},
	},
	sdk.KindNotifier: {
		"webhook": {Attributes: []sdk.Attribute{
			{Name: "url", Type: sdk.TypeString, Required: true, Sensitive: true},
			{Name: "headers", Type: sdk.TypeMapString},
		}},
		"email": {Attributes: []sdk.Attribute{
			{Name: "smtp_host", Type: sdk.TypeString, Required: true, Description: "SMTP server host name"},
			{Name: "username", Type: sdk.TypeString},
			{Name: "password", Type: sdk.TypeString, Sensitive: true},
			{Name: "from", Type: sdk.TypeString, Required: true},
			{Name: "to", Type: sdk.TypeListString, Required: true},
		}},
	},
}

var fakeItemTypes = map[string][]string{
	"hosted":    {"Feature Service", "Vector Tile Service"},
	"item-data": {"Web Map", "Web Mapping Application", "Dashboard", "StoryMap"},
}

func (fakeSchemas) Schema(kind sdk.Kind, name string) (sdk.Schema, error) {
	s, ok := fakeComponents[kind][name]
	if !ok {
		return sdk.Schema{}, fmt.Errorf("no %s %q", kind, name)
	}
	return s, nil
}

func (fakeSchemas) Names(kind sdk.Kind) []string {
	var out []string
	for n := range fakeComponents[kind] {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

func (fakeSchemas) ItemTypes(exporter string) []string { return fakeItemTypes[exporter] }

// fakeEnv is the environment tests run with; secrets in it must never
// appear in any rendered diagnostic.
var fakeEnv = map[string]string{
	"AGOL_PASSWORD":     "Hunter2-agol-secret",
	"S3_SECRET":         "wJalrXUtnFEMI-s3-secret",
	"HOOK_URL":          "https://hooks.example.com/T000/B000/hook-secret",
	"AGOLPIPE_VAR_team": "gis-team",
}

var fakeSecrets = []string{"Hunter2-agol-secret", "wJalrXUtnFEMI-s3-secret", "hook-secret", "literal-Pa55word"}

func lookupFakeEnv(name string) (string, bool) {
	v, ok := fakeEnv[name]
	return v, ok
}

func fakeOptions() LoadOptions {
	return LoadOptions{Schemas: fakeSchemas{}, Env: lookupFakeEnv}
}
