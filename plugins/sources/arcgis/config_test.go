package arcgis

import (
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"
)

func TestNormalizeURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"myorg", "https://myorg.maps.arcgis.com"},
		{"myorg.maps.arcgis.com", "https://myorg.maps.arcgis.com"},
		{"MyOrg.maps.arcgis.com/home", "https://myorg.maps.arcgis.com"},
		{"https://myorg.maps.arcgis.com/home/", "https://myorg.maps.arcgis.com"},
		{"https://gis.example.org/portal", "https://gis.example.org/portal"},
		{"https://gis.example.org/portal/home", "https://gis.example.org/portal"},
		{"https://gis.example.org/portal/sharing/rest/", "https://gis.example.org/portal"},
		{"http://127.0.0.1:8080/portal/home/index.html", "http://127.0.0.1:8080/portal"},
		{" https://www.arcgis.com ", "https://www.arcgis.com"},
	}
	for _, tc := range tests {
		got, err := NormalizeURL(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("NormalizeURL(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "ftp://x/portal", "https://"} {
		if _, err := NormalizeURL(bad); err == nil {
			t.Errorf("NormalizeURL(%q) accepted", bad)
		}
	}
}

func auth(user, pass string) cty.Value {
	return cty.ObjectVal(map[string]cty.Value{"username": cty.StringVal(user), "password": cty.StringVal(pass)})
}

func TestDecodeConfigDiagnostics(t *testing.T) {
	tests := []struct {
		name  string
		attrs map[string]cty.Value
		want  []string // attribute paths of errors, joined with "."
	}{
		{"ok", map[string]cty.Value{"url": cty.StringVal("myorg"), "auth": auth("u", "p")}, nil},
		// Durations read as in the pipeline's own blocks (sdk.ParseDuration): weeks too.
		{"window in weeks", map[string]cty.Value{"url": cty.StringVal("myorg"), "auth": auth("u", "p"), "modified_within": cty.StringVal("2w")}, nil},
		{"negative window", map[string]cty.Value{"url": cty.StringVal("myorg"), "auth": auth("u", "p"), "modified_within": cty.StringVal("-1d")}, []string{"modified_within"}},
		{"no sign-in", map[string]cty.Value{"url": cty.StringVal("myorg")}, []string{""}},
		{"two sign-ins", map[string]cty.Value{"url": cty.StringVal("myorg"), "auth": auth("u", "p"), "api_key": cty.StringVal("AAPK")}, []string{""}},
		{"everything wrong at once", map[string]cty.Value{
			"url": cty.StringVal("ftp://x"), "auth": auth("", ""), "scan": cty.StringVal("fast"),
			"page_size": cty.NumberIntVal(500), "modified_within": cty.StringVal("soon"),
		}, []string{"url", "auth.username", "auth.password", "scan", "modified_within", "page_size"}},
		{"oauth redirect", map[string]cty.Value{"url": cty.StringVal("myorg"), "oauth": cty.ObjectVal(map[string]cty.Value{
			"client_id": cty.StringVal("abc"), "token_file": cty.StringVal("/tmp/x"), "redirect": cty.StringVal("browser")})}, []string{"oauth.redirect"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, d := decodeConfig(ConfigValue(tc.attrs))
			var got []string
			for _, x := range d {
				if x.Severity == 0 {
					got = append(got, strings.Join(x.Path, "."))
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("error paths %v, want %v (%v)", got, tc.want, d.Err())
			}
			for _, x := range d {
				if strings.Contains(x.Detail+x.Summary, "AAPK") {
					t.Errorf("secret in diagnostic: %+v", x)
				}
			}
		})
	}
}

func TestSchemaMarksSecretsSensitive(t *testing.T) {
	want := map[string]bool{"api_key": true, "auth.password": true}
	for _, p := range schema.SensitivePaths() {
		delete(want, strings.Join(p, "."))
	}
	if len(want) != 0 {
		t.Fatalf("not sensitive: %v", want)
	}
}
