package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/agolpipe/agolpipe/core/pipeline"
	"github.com/agolpipe/agolpipe/plugins"
	"github.com/agolpipe/agolpipe/plugins/exporters/featurequery"
	"github.com/agolpipe/agolpipe/sdk"
)

// TestExporterReadmeSamples checks the sample export blocks in every
// built-in exporter's README (plugins/exporters/<name without _>/README.md).
func TestExporterReadmeSamples(t *testing.T) {
	var names []string
	for name := range plugins.Exporters {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			readme := filepath.Join("..", "..", "plugins", "exporters", strings.ReplaceAll(name, "_", ""), "README.md")
			readmeSamples(t, readme, name, plugins.Exporters[name])
		})
	}
}

// recordingTB collects what readmeSamples reports instead of failing.
type recordingTB struct {
	testing.TB
	errs []string
}

func (r *recordingTB) Helper() {}
func (r *recordingTB) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// TestReadmeSamplesCheck: the check itself finds a misspelt option, a value
// the exporter refuses, a core meta-argument of the wrong shape, and a
// README without a sample.
func TestReadmeSamplesCheck(t *testing.T) {
	tests := []struct {
		file    string
		checked int
		// want are parts of the reports, one per expected report.
		want []string
	}{
		{"testdata/readme/good.md", 1, nil},
		{"testdata/readme/bad.md", 1, []string{`Unsupported argument; An argument named "pagesize"`, "page_size out of range", "timeout"}},
		{"testdata/readme/none.md", 0, []string{`no sample export block with exporter = "feature_query"`}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			rec := &recordingTB{TB: t}
			n := readmeSamples(rec, tc.file, "feature_query", featurequery.New)
			if n != tc.checked {
				t.Errorf("checked %d blocks, want %d", n, tc.checked)
			}
			if len(rec.errs) != len(tc.want) {
				t.Errorf("reports %q, want %d", rec.errs, len(tc.want))
			}
			for _, w := range tc.want {
				found := false
				for _, e := range rec.errs {
					found = found || strings.Contains(e, w)
				}
				if !found {
					t.Errorf("no report contains %q: %q", w, rec.errs)
				}
			}
		})
	}
}

var (
	hclFence = regexp.MustCompile("(?s)```hcl\n(.*?)```")
	// hasBlock finds a top-level block of a type in a sample.
	hasBlock = func(typ string) *regexp.Regexp { return regexp.MustCompile(`(?m)^` + typ + `\s+"`) }
)

// readmeSamples checks the sample configuration in an exporter's README the
// way `agolpipe validate` checks a pipeline: every ```hcl block of readme is
// decoded by core's pipeline loader with the exporter's own schema (a
// placeholder source and sink are added when the sample has none), and
// must give no diagnostic at all, warnings included; then every export
// block naming the exporter configures a fresh exporter from newExporter
// without diagnostics. It fails t when the README has no export block for
// the exporter, and returns how many it checked.
//
// It lives here, where cmd wires core and plugins, because it needs both:
// core's loader and the exporters. The notifiers' notifytest.ReadmeBlocks
// evaluates attributes by itself; exporters share core's export
// meta-arguments (exporter, format, timeout, skip), so going through the
// real loader checks those too.
func readmeSamples(t testing.TB, readme, name string, newExporter func() sdk.Exporter) int {
	t.Helper()
	src, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	schemas := &readmeSchemas{name: name, exporter: newExporter()}
	checked := 0
	for i, m := range hclFence.FindAllSubmatch(src, -1) {
		sample := string(m[1])
		if !hasBlock("source").MatchString(sample) {
			sample += "\nsource \"readme\" \"org\" {}\n"
		}
		if !hasBlock("sink").MatchString(sample) {
			sample += "\nsink \"readme\" \"out\" {}\n"
		}
		file := fmt.Sprintf("%s (hcl sample %d)", readme, i+1)
		p, diags := pipeline.Parse([]byte(sample), file, pipeline.LoadOptions{
			Schemas: schemas,
			Env:     func(string) (string, bool) { return "", false },
		})
		for _, d := range diags {
			t.Errorf("%s", d.Error())
		}
		if diags.HasErrors() {
			continue
		}
		for _, e := range p.Exports {
			if e.Exporter == nil || e.Exporter.Type != name {
				continue
			}
			checked++
			ex := newExporter()
			d := ex.Configure(context.Background(), sdk.ConfigureRequest{Config: e.Exporter.Config, Name: e.ItemType})
			for _, x := range d {
				t.Errorf("%s, export %q: the exporter says: %s: %s (%v)", file, e.ItemType, x.Summary, x.Detail, x.Path)
			}
			if err := ex.Close(); err != nil {
				t.Errorf("%s, export %q: close: %v", file, e.ItemType, err)
			}
		}
	}
	if checked == 0 {
		t.Errorf("%s has no sample export block with exporter = %q", readme, name)
	}
	return checked
}

// readmeSchemas is the schema source of a README sample: the exporter
// under test, and a source and a sink called "readme" that take no
// attributes.
type readmeSchemas struct {
	name     string
	exporter sdk.Exporter
}

func (r *readmeSchemas) Schema(kind sdk.Kind, name string) (sdk.Schema, error) {
	switch {
	case kind == sdk.KindExporter && name == r.name:
		return r.exporter.Schema(), nil
	case (kind == sdk.KindSource || kind == sdk.KindSink) && name == "readme":
		return sdk.Schema{}, nil
	}
	return sdk.Schema{}, fmt.Errorf("README samples configure only the %s exporter", r.name)
}

func (r *readmeSchemas) Names(kind sdk.Kind) []string {
	switch kind {
	case sdk.KindExporter:
		return []string{r.name}
	case sdk.KindSource, sdk.KindSink:
		return []string{"readme"}
	}
	return nil
}

func (r *readmeSchemas) ItemTypes(exporter string) []string {
	if exporter == r.name {
		return r.exporter.ItemTypes()
	}
	return nil
}
