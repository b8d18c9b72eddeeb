package exportertest

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"testing"

	"github.com/agolpipe/agolpipe/core/pipeline"
	"github.com/agolpipe/agolpipe/sdk"
)

var (
	hclFence = regexp.MustCompile("(?s)```hcl\n(.*?)```")
	// hasBlock finds a top-level block of a type in a sample.
	hasBlock = func(typ string) *regexp.Regexp { return regexp.MustCompile(`(?m)^` + typ + `\s+"`) }
)

// ReadmeSamples checks the sample configuration in an exporter's README the
// way `agolpipe validate` checks a pipeline: every ```hcl block of readme is
// decoded by core's pipeline loader with the exporter's own schema (a
// placeholder source and sink are added when the sample has none), and
// must give no diagnostic at all, warnings included; then every export
// block naming the exporter configures a fresh exporter from newExporter
// without diagnostics. It fails t when the README has no export block for
// the exporter, and returns how many it checked.
//
// The notifiers' notifytest.ReadmeBlocks evaluates attributes by itself;
// exporters share core's export meta-arguments (exporter, format, timeout,
// skip), so going through the real loader checks those too.
func ReadmeSamples(t testing.TB, readme, name string, newExporter func() sdk.Exporter) int {
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
