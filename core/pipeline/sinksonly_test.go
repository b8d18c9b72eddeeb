package pipeline

import (
	"strings"
	"testing"
)

// SinksOnly: an unset env() or variable in the source, export and notify
// blocks leaves the setting unknown (the id stays the same), one in a sink
// is still an error (the command reads the sinks), and so is one in the
// source's url (the id is made from it).
func TestSinksOnlyLoad(t *testing.T) {
	src := func(url, sinkPath string) string {
		return `
variable "pw" {}
source "arcgis" "prod" {
  url = ` + url + `
  auth {
    username = "admin"
    password = env("UNSET_PASSWORD")
  }
}
sink "local" "nas" { path = ` + sinkPath + ` }
notify "webhook" "ops" { url = var.pw }
`
	}
	unset := func(string) (string, bool) { return "", false }
	good := src(`"https://gis.example.com/portal"`, `"/backups"`)

	p, diags := Parse([]byte(good), "p.hcl", LoadOptions{Schemas: fakeSchemas{}, Env: unset})
	if !diags.HasErrors() {
		t.Fatal("a full load accepted an unset password")
	}
	full := p.ID()
	p, diags = Parse([]byte(good), "p.hcl", LoadOptions{Schemas: fakeSchemas{}, Env: unset, SinksOnly: true})
	if diags.HasErrors() {
		t.Fatalf("sinks-only load:\n%s", renderDiags(p, diags))
	}
	if p.ID() != full || !strings.Contains(p.ID(), "gis.example.com/portal") {
		t.Errorf("id %q, want %q", p.ID(), full)
	}
	if p.Source.Config.IsWhollyKnown() {
		t.Error("the source's password is known although unset")
	}
	for what, bad := range map[string]string{
		"sink":       src(`"https://gis.example.com/portal"`, `env("UNSET_PATH")`),
		"source url": src(`env("UNSET_URL")`, `"/backups"`),
	} {
		p, diags := Parse([]byte(bad), "p.hcl", LoadOptions{Schemas: fakeSchemas{}, Env: unset, SinksOnly: true})
		if !diags.HasErrors() {
			t.Errorf("unset env in the %s: no error", what)
		} else if what == "source url" && !strings.Contains(renderDiags(p, diags), "Source url not set") {
			t.Errorf("source url: %s", renderDiags(p, diags))
		}
	}
}
