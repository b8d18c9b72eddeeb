package pipeline

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agolpipe/agolpipe/sdk"
	"github.com/hashicorp/hcl/v2"
)

// minimal is a valid pipeline body the table tests extend.
const minimal = `
source "arcgis" "prod" {
  url = "https://myorg.maps.arcgis.com"
  auth {
    username = "backup_admin"
    password = env("AGOL_PASSWORD")
  }
}
sink "local" "nas" {
  path = "/mnt/gis-backups"
}
`

func mustParse(t *testing.T, src string, opts LoadOptions) *Pipeline {
	t.Helper()
	p, diags := Parse([]byte(src), "test.hcl", opts)
	if diags.HasErrors() {
		t.Fatalf("unexpected errors:\n%s", renderDiags(p, diags))
	}
	return p
}

func renderDiags(p *Pipeline, diags hcl.Diagnostics) string {
	var b strings.Builder
	_ = WriteDiagnostics(&b, p, diags, 0, false)
	return b.String()
}

func TestDefaults(t *testing.T) {
	p := mustParse(t, minimal, fakeOptions())
	if p.Source == nil || p.Source.Type != "arcgis" || p.Source.Name != "prod" {
		t.Fatalf("source = %+v", p.Source)
	}
	if got := p.Source.Config.GetAttr("url").AsString(); got != "https://myorg.maps.arcgis.com" {
		t.Errorf("url = %q", got)
	}
	if !p.Source.Config.GetAttr("page_size").IsNull() {
		t.Errorf("absent page_size should be null")
	}
	if !p.Source.Config.Type().Equals(fakeComponents[sdk.KindSource]["arcgis"].ObjectType()) {
		t.Errorf("config type %s is not the schema's object type", p.Source.Config.Type().FriendlyName())
	}
	want := Run{Prefix: DefaultPrefix, Concurrency: 4, Retries: 3}
	if p.Run.Prefix != want.Prefix || p.Run.Concurrency != want.Concurrency || p.Run.Retries != want.Retries || p.Run.ModifiedWithin != 0 {
		t.Errorf("run = %+v, want defaults %+v", p.Run, want)
	}
	s := p.Sinks[0]
	if !s.Required || s.Layout != "type" || s.Zip || s.Retention != nil {
		t.Errorf("sink meta defaults = required %v layout %q zip %v retention %v", s.Required, s.Layout, s.Zip, s.Retention)
	}
	if got := s.Config.GetAttr("path").AsString(); got != "/mnt/gis-backups" {
		t.Errorf("sink path = %q", got)
	}
	// The meta-arguments are core's; the sink's config holds only its own.
	if s.Config.Type().HasAttribute("layout") {
		t.Errorf("sink config carries the layout meta-argument")
	}
	if len(p.Hash) != 64 || p.Filename != "test.hcl" {
		t.Errorf("hash %q filename %q", p.Hash, p.Filename)
	}
}

func TestMetaArguments(t *testing.T) {
	src := minimal + `
sink "s3" "offsite" {
  bucket   = "b"
  required = false
  zip      = true
  layout   = "owner/folder/type"
  retention {
    delete_after = "90d"
    keep_daily   = 7
    keep_weekly  = 4
    keep_monthly = 12
    dry_run      = true
  }
}
notify "webhook" "teams" {
  url = "https://hooks.example.com/x"
}
notify "webhook" "pager" {
  url = "https://hooks.example.com/y"
  on  = ["failed", "failed", "canceled"]
}
export "Feature Service" {
  format              = "File Geodatabase"
  timeout             = "120m"
  include_attachments = true
}
export "Web Map" {
  exporter = "item-data"
}
export "Notebook" {
  skip = true
}
run {
  prefix          = "PROD"
  concurrency     = 8
  retries         = 0
  modified_within = "7d"
  max_duration    = "10h"
}
`
	p := mustParse(t, src, fakeOptions())
	s := p.Sinks[1]
	if s.Required || !s.Zip || s.Layout != "owner/folder/type" {
		t.Errorf("sink meta = %+v", s)
	}
	r := s.Retention
	if r == nil || r.DeleteAfter != 90*24*time.Hour || r.KeepDaily != 7 || r.KeepWeekly != 4 || r.KeepMonthly != 12 || !r.DryRun {
		t.Errorf("retention = %+v", r)
	}
	if !slices.Equal(p.Notifiers[0].On, DefaultNotifyOn) {
		t.Errorf("default on = %v", p.Notifiers[0].On)
	}
	if !slices.Equal(p.Notifiers[1].On, []string{"failed", "canceled"}) {
		t.Errorf("on = %v", p.Notifiers[1].On)
	}
	fs := p.Exports[0]
	if fs.ItemType != "Feature Service" || fs.Format != "File Geodatabase" || fs.Timeout != 120*time.Minute || fs.Skip {
		t.Errorf("export = %+v", fs)
	}
	// No exporter named: the one declaring the type is picked.
	if fs.Exporter == nil || fs.Exporter.Type != "hosted" || !fs.Exporter.Config.GetAttr("include_attachments").True() {
		t.Errorf("feature service exporter = %+v", fs.Exporter)
	}
	if p.Exports[1].Exporter == nil || p.Exports[1].Exporter.Type != "item-data" {
		t.Errorf("web map exporter = %+v", p.Exports[1].Exporter)
	}
	if !p.Exports[2].Skip || p.Exports[2].Exporter != nil {
		t.Errorf("notebook export = %+v", p.Exports[2])
	}
	if p.Run.Prefix != "PROD" || p.Run.Concurrency != 8 || p.Run.Retries != 0 || p.Run.ModifiedWithin != 7*24*time.Hour || p.Run.MaxDuration != 10*time.Hour {
		t.Errorf("run = %+v", p.Run)
	}
}

func TestVariablePrecedence(t *testing.T) {
	dir := t.TempDir()
	file1 := filepath.Join(dir, "a.vars")
	file2 := filepath.Join(dir, "b.vars")
	if err := os.WriteFile(file1, []byte("root = \"from-file1\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file2, []byte("root = \"from-file2\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	src := `
variable "root" { default = "from-default" }
source "arcgis" "prod" {
  url = "https://x"
  auth {
    username = "u"
    password = "p"
  }
}
sink "local" "nas" { path = var.root }
`
	tests := []struct {
		name     string
		env      map[string]string
		varFiles []string
		vars     map[string]string
		want     string
	}{
		{"default", nil, nil, nil, "from-default"},
		{"env beats default", map[string]string{"AGOLPIPE_VAR_root": "from-env"}, nil, nil, "from-env"},
		{"env may be empty", map[string]string{"AGOLPIPE_VAR_root": ""}, nil, nil, ""},
		{"var file beats env", map[string]string{"AGOLPIPE_VAR_root": "from-env"}, []string{file1}, nil, "from-file1"},
		{"later var file wins", nil, []string{file1, file2}, nil, "from-file2"},
		{"--var beats all", map[string]string{"AGOLPIPE_VAR_root": "from-env"}, []string{file1, file2}, map[string]string{"root": "from-flag"}, "from-flag"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := LoadOptions{
				Schemas:  fakeSchemas{},
				Vars:     tt.vars,
				VarFiles: tt.varFiles,
				Env: func(k string) (string, bool) {
					v, ok := tt.env[k]
					return v, ok
				},
			}
			p := mustParse(t, src, opts)
			if got := p.Sinks[0].Config.GetAttr("path").AsString(); got != tt.want {
				t.Errorf("path = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestVariableTypes(t *testing.T) {
	src := `
variable "workers" { default = 4 }
variable "tags" { default = ["a"] }
` + minimal + `
run { concurrency = var.workers }
`
	opts := fakeOptions()
	opts.Vars = map[string]string{"workers": "12", "tags": `["x", "y"]`}
	p := mustParse(t, src, opts)
	if p.Run.Concurrency != 12 {
		t.Errorf("concurrency = %d", p.Run.Concurrency)
	}

	opts.Vars = map[string]string{"tags": `not a list`}
	_, diags := Parse([]byte(src), "test.hcl", opts)
	if !hasSummary(diags, "Invalid value for variable") {
		t.Errorf("list variable from bad text: %v", diags)
	}
	opts.Vars = map[string]string{"tagz": "x"}
	_, diags = Parse([]byte(src), "test.hcl", opts)
	if !hasSummary(diags, "Value for undeclared variable") || !strings.Contains(diags[0].Detail, `Did you mean "tags"?`) {
		t.Errorf("undeclared --var: %v", diags)
	}
}

func hasSummary(diags hcl.Diagnostics, s string) bool {
	for _, d := range diags {
		if d.Summary == s {
			return true
		}
	}
	return false
}

func TestFunctions(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "root.txt"), []byte("/srv/backups\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		expr string
		want string
	}{
		{`env("BACKUP_ROOT")`, "/from/env"},
		{`env("NOT_SET", "/fallback")`, "/fallback"},
		{`env("EMPTY", "/fallback")`, ""},
		{`trimspace(file("root.txt"))`, "/srv/backups"},
		{`upper("abc")`, "ABC"},
		{`lower("ABC")`, "abc"},
		{`join("/", ["a", "b"])`, "a/b"},
		{`split(",", "a,b")[1]`, "b"},
		{`format("%s-%02d", "run", 7)`, "run-07"},
		{`replace("a-b-c", "-", "/")`, "a/b/c"},
		{`concat(["a"], ["b"])[1]`, "b"},
		{`coalesce(null, "x")`, "x"},
		{`lookup({a = "1"}, "b", "dflt")`, "dflt"},
		{`tostring(length("abcd") + length(["a", "b"]))`, "6"},
		{`"${var.name}-${upper("x")}"`, "prod-X"},
	}
	env := map[string]string{"BACKUP_ROOT": "/from/env", "EMPTY": ""}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			src := `variable "name" { default = "prod" }
source "arcgis" "prod" {
  url = "https://x"
  auth {
    username = "u"
    password = "p"
  }
}
sink "local" "nas" { path = ` + tt.expr + " }\n"
			opts := LoadOptions{Schemas: fakeSchemas{}, Env: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
			p, diags := Parse([]byte(src), filepath.Join(dir, "p.hcl"), opts)
			if diags.HasErrors() {
				t.Fatalf("errors:\n%s", renderDiags(p, diags))
			}
			if got := p.Sinks[0].Config.GetAttr("path").AsString(); got != tt.want {
				t.Errorf("= %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSensitiveCollected(t *testing.T) {
	src := `
variable "key" {
  sensitive = true
  default   = "var-secret-value"
}
variable "plain" { default = "plain-value" }
source "arcgis" "prod" {
  url = "https://x"
  auth {
    username = "u"
    password = "typed-in-password"
  }
}
sink "s3" "offsite" {
  bucket            = "bucket-${var.plain}"
  secret_access_key = var.key
  region            = env("REGION")
}
sink "local" "nas" { path = "/p" }
`
	opts := fakeOptions()
	opts.Env = func(k string) (string, bool) { return "region-from-env", k == "REGION" }
	p, diags := Parse([]byte(src), "t.hcl", opts)
	if diags.HasErrors() {
		t.Fatal(renderDiags(p, diags))
	}
	for _, s := range []string{"var-secret-value", "typed-in-password"} {
		if !slices.Contains(p.Sensitive, s) {
			t.Errorf("Sensitive lacks %q: %q", s, p.Sensitive)
		}
	}
	// env() in an attribute no component marks sensitive (a region, a
	// folder) is not a secret: hiding it made a sink's location unreadable.
	for _, s := range []string{"plain-value", "bucket-plain-value", "/p", "u", "region-from-env"} {
		if slices.Contains(p.Sensitive, s) {
			t.Errorf("Sensitive holds non-secret %q", s)
		}
	}
	// Config values are unmarked so they can cross the plugin wire.
	if p.Sinks[0].Config.ContainsMarked() {
		t.Errorf("config still carries marks")
	}
	if !hasSummary(diags, "Secret written in the pipeline file") {
		t.Errorf("no warning for the typed-in password")
	}
	if out := renderDiags(p, diags); strings.Contains(out, "typed-in-password") {
		t.Errorf("rendered output shows the password:\n%s", out)
	}
}

func TestComponentDiagnostics(t *testing.T) {
	src := minimal + `
notify "webhook" "teams" {
  url = "https://hooks.example.com/x"
  headers = {
    X = "y"
  }
}
`
	p := mustParse(t, src, fakeOptions())
	tests := []struct {
		c    *Component
		path []string
		line int
	}{
		{p.Source, []string{"url"}, 3},
		{p.Source, []string{"auth", "password"}, 6},
		{p.Source, []string{"auth"}, 4},
		{p.Source, []string{"auth", "0", "username"}, 5},
		{p.Source, []string{"nope"}, 2},
		{p.Source, nil, 2},
		{&p.Sinks[0].Component, []string{"path"}, 10},
		{&p.Notifiers[0].Component, []string{"headers", "X"}, 15},
	}
	for _, tt := range tests {
		diags := tt.c.Diagnostics(sdk.Diagnostics{}.Errorf(tt.path, "Bad", "fix it"))
		if len(diags) != 1 || diags[0].Subject == nil {
			t.Fatalf("%v: %v", tt.path, diags)
		}
		d := diags[0]
		if d.Subject.Start.Line != tt.line || d.Subject.Filename != "test.hcl" || d.Summary != "Bad" || d.Severity != hcl.DiagError {
			t.Errorf("path %v -> %s %q, want line %d", tt.path, d.Subject, d.Summary, tt.line)
		}
	}
	w := p.Source.Diagnostics(sdk.Diagnostics{}.Warnf([]string{"url"}, "W", ""))
	if w[0].Severity != hcl.DiagWarning {
		t.Errorf("warning severity lost")
	}
}

func TestParseVarFlags(t *testing.T) {
	got, err := ParseVarFlags([]string{"a=1", "b=x=y", "a=2", "c="})
	if err != nil {
		t.Fatal(err)
	}
	if got["a"] != "2" || got["b"] != "x=y" || got["c"] != "" || len(got) != 3 {
		t.Errorf("got %v", got)
	}
	for _, bad := range []string{"novalue", "=x"} {
		if _, err := ParseVarFlags([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestSuggest(t *testing.T) {
	tests := []struct {
		given string
		cands []string
		want  string
	}{
		{"locl", []string{"local", "s3"}, "local"},
		{"Feature Servce", ItemTypes, "Feature Service"},
		{"web map", ItemTypes, "Web Map"},
		{"dropbox", []string{"local", "s3"}, ""},
		{"x", []string{"s3"}, ""},
	}
	for _, tt := range tests {
		if got := suggest(tt.given, tt.cands); got != tt.want {
			t.Errorf("suggest(%q) = %q, want %q", tt.given, got, tt.want)
		}
	}
}

func TestItemTypesUnique(t *testing.T) {
	seen := map[string]bool{}
	for _, it := range ItemTypes {
		if seen[it] {
			t.Errorf("duplicate item type %q", it)
		}
		seen[it] = true
	}
	for _, want := range []string{"Feature Service", "Web Map", "StoryMap", "File Geodatabase", "Notebook", "API Key"} {
		if !IsItemType(want) {
			t.Errorf("%q missing", want)
		}
	}
}

func TestRedact(t *testing.T) {
	// A short secret is hidden where it is a value, never inside a word
	// ("cabin" keeps its "ab").
	got := Redact("user pw=abcdef, key=abcdefgh, n=ab, cabin, ab ab ab", []string{"abcdef", "abcdefgh", "ab"})
	if got != "user pw=(sensitive), key=(sensitive), n=(sensitive), cabin, (sensitive) (sensitive) (sensitive)" {
		t.Errorf("got %q", got)
	}
}

// withDropbox adds a third-party sink to the fake schemas, as the plugin
// host does for a declared plugin.
type withDropbox struct{ fakeSchemas }

func (withDropbox) Schema(kind sdk.Kind, name string) (sdk.Schema, error) {
	if kind == sdk.KindSink && name == "dropbox" {
		return sdk.Schema{Attributes: []sdk.Attribute{{Name: "folder", Type: sdk.TypeString, Required: true}}}, nil
	}
	return fakeSchemas{}.Schema(kind, name)
}

func (withDropbox) Names(kind sdk.Kind) []string {
	n := fakeSchemas{}.Names(kind)
	if kind == sdk.KindSink {
		n = append(n, "dropbox")
	}
	return n
}

func TestPluginsHook(t *testing.T) {
	sum := strings.Repeat("AB", 32)
	src := minimal + `
plugin "dropbox" {
  path   = "bin/agolpipe-sink-dropbox"
  sha256 = "` + sum + `"
}
sink "dropbox" "cloud" {
  folder = "/backups"
}
`
	var got []*PluginDecl
	opts := fakeOptions()
	opts.Plugins = func(decls []*PluginDecl) (SchemaSource, hcl.Diagnostics) {
		got = decls
		return withDropbox{}, nil
	}
	p, diags := Parse([]byte(src), filepath.Join("conf", "p.hcl"), opts)
	if diags.HasErrors() {
		t.Fatal(renderDiags(p, diags))
	}
	if len(got) != 1 || got[0].Name != "dropbox" || got[0].Path != filepath.Join("conf", "bin", "agolpipe-sink-dropbox") || got[0].SHA256 != strings.ToLower(sum) {
		t.Fatalf("declared plugins = %+v", got)
	}
	if p.Sinks[1].Type != "dropbox" || p.Sinks[1].Config.GetAttr("folder").AsString() != "/backups" {
		t.Errorf("third-party sink = %+v", p.Sinks[1])
	}

	// Without the hook the same file names an unknown sink type.
	_, diags = Parse([]byte(src), "p.hcl", fakeOptions())
	if !hasSummary(diags, "Unknown sink type") {
		t.Errorf("want unknown sink type, got %v", diags)
	}
}
