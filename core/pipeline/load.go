package pipeline

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/agolpipe/agolpipe/sdk"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// SchemaSource tells the loader which components exist and what their
// configuration looks like. core/pluginhost implements it for built-in and
// third-party plugins; tests use a fake.
type SchemaSource interface {
	// Schema returns the configuration schema of the component called name.
	Schema(kind sdk.Kind, name string) (sdk.Schema, error)
	// Names lists every component of a kind, for "did you mean" and for the
	// list of valid choices in an "unknown type" diagnostic.
	Names(kind sdk.Kind) []string
}

// ExporterItemTypes is optionally implemented by a SchemaSource whose
// exporters declare the item types they handle (sdk.Exporter.ItemTypes).
// With it the loader picks the exporter of an export block that names none
// and warns when a named exporter does not declare the item type.
type ExporterItemTypes interface {
	ItemTypes(exporter string) []string
}

// LoadOptions are the inputs of a pipeline besides the file itself.
type LoadOptions struct {
	// Vars are the --var name=value flags; they win over every other source.
	Vars map[string]string
	// VarFiles are the --var-file paths, HCL files of `name = value` lines,
	// applied in order (a later file wins).
	VarFiles []string
	// Env looks up an environment variable (for env() and
	// AGOLPIPE_VAR_<name>); nil means os.LookupEnv. It reports whether the
	// variable is set so that a variable set to "" is not taken for missing.
	Env func(name string) (string, bool)
	// Schemas describes the available components. Required.
	Schemas SchemaSource
	// Plugins, when set, is called once the plugin blocks are decoded and
	// returns the schema source to use for the components (typically
	// Schemas plus the declared third-party plugins). Its diagnostics are
	// reported with the rest.
	Plugins func(decls []*PluginDecl) (SchemaSource, hcl.Diagnostics)
	// SinksOnly loads the pipeline for a command that uses only its sinks
	// and run block and never signs in (runs, verify, prune): the source,
	// export and notify blocks are decoded and checked as always, but an
	// env() or a variable they use that is not set leaves that attribute
	// unknown instead of being an error, so reading backups needs no
	// portal password. The source's url must still be known: the
	// pipeline's id (ID), which its runs carry, is made from it.
	SinksOnly bool
}

// Load reads and decodes the pipeline file at filename. See Parse.
func Load(filename string, opts LoadOptions) (*Pipeline, hcl.Diagnostics) {
	src, err := os.ReadFile(filename)
	if err != nil {
		p := &Pipeline{Filename: filename}
		return p, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Cannot read pipeline file",
			Detail:   fmt.Sprintf("Reading %s failed: %s. Check the path and that agolpipe may read it.", filename, pathErr(err)),
		}}
	}
	return Parse(src, filename, opts)
}

// Parse decodes a pipeline from src; filename names it in diagnostics and
// anchors relative paths (file(), plugin paths).
//
// It reports every problem it can find in one pass. The returned Pipeline
// is never nil; when the diagnostics hold an error it is incomplete and is
// only good for rendering the diagnostics (WriteDiagnostics), never for a
// run.
func Parse(src []byte, filename string, opts LoadOptions) (*Pipeline, hcl.Diagnostics) {
	sum := sha256.Sum256(src)
	l := &loader{
		opts:      opts,
		parser:    hclparse.NewParser(),
		dir:       filepath.Dir(filename),
		sensitive: map[string]bool{},
		p: &Pipeline{
			Filename: filename,
			Hash:     hex.EncodeToString(sum[:]),
		},
	}
	if l.opts.Env == nil {
		l.opts.Env = os.LookupEnv
	}
	l.p.files = l.parser.Files()
	l.load(src, filename)
	for s := range l.sensitive {
		l.p.Sensitive = append(l.p.Sensitive, s)
	}
	sort.Strings(l.p.Sensitive)
	// Messages from functions and conversions may quote a value ("cannot
	// convert "..." to number"); none of them may show a secret.
	for _, d := range l.diags {
		d.Summary = Redact(d.Summary, l.p.Sensitive)
		d.Detail = Redact(d.Detail, l.p.Sensitive)
	}
	sortDiagnostics(l.diags, filename)
	return l.p, l.diags
}

// sortDiagnostics orders diagnostics the way a user reads a file: those
// about no place first (command-line values), then the pipeline file top to
// bottom, then other files (var files) by name. Decoding visits attributes
// in map order, so without this the order would change between runs.
func sortDiagnostics(diags hcl.Diagnostics, main string) {
	key := func(d *hcl.Diagnostic) (int, string, int, int) {
		if d.Subject == nil {
			return 0, "", 0, 0
		}
		group := 2
		if d.Subject.Filename == main {
			group = 1
		}
		return group, d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column
	}
	sort.SliceStable(diags, func(i, j int) bool {
		gi, fi, li, ci := key(diags[i])
		gj, fj, lj, cj := key(diags[j])
		if gi != gj {
			return gi < gj
		}
		if fi != fj {
			return fi < fj
		}
		if li != lj {
			return li < lj
		}
		return ci < cj
	})
}

// loader holds the state of one Parse.
type loader struct {
	opts   LoadOptions
	parser *hclparse.Parser
	dir    string
	p      *Pipeline
	diags  hcl.Diagnostics

	ctx       *hcl.EvalContext
	vars      map[string]*variable
	varVals   map[string]cty.Value
	sensitive map[string]bool
	schemas   SchemaSource
	// unused is true while decoding a block the command will not use
	// (LoadOptions.SinksOnly): unset env() and variables are unknown there.
	unused bool
}

// fileSchema is the top level of a pipeline file.
var fileSchema = &hcl.BodySchema{
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "variable", LabelNames: []string{"name"}},
		{Type: "plugin", LabelNames: []string{"name"}},
		{Type: "source", LabelNames: []string{"type", "name"}},
		{Type: "export", LabelNames: []string{"item_type"}},
		{Type: "sink", LabelNames: []string{"type", "name"}},
		{Type: "notify", LabelNames: []string{"type", "name"}},
		{Type: "run"},
	},
}

func (l *loader) load(src []byte, filename string) {
	file, diags := l.parser.ParseHCL(src, filename)
	l.diags = append(l.diags, diags...)
	if file == nil || file.Body == nil {
		return
	}
	// A syntax error leaves a partial body; decoding it would mostly add
	// noise about blocks the parser could not finish.
	if diags.HasErrors() {
		return
	}
	content, diags := file.Body.Content(fileSchema)
	l.diags = append(l.diags, diags...)

	byType := map[string][]*hcl.Block{}
	for _, b := range content.Blocks {
		byType[b.Type] = append(byType[b.Type], b)
	}

	// Phase 1: what everything else depends on (variables, functions,
	// plugins), then the component blocks with their schemas.
	l.decodeVariables(byType["variable"])
	l.ctx = &hcl.EvalContext{
		Variables: map[string]cty.Value{"var": cty.ObjectVal(l.varVals)},
		Functions: functions(l.dir, l.opts.Env, l.addSensitive, func() bool { return l.unused }),
	}
	l.decodePlugins(byType["plugin"])
	l.decodeRun(byType["run"])

	l.schemas = l.opts.Schemas
	if l.opts.Plugins != nil {
		s, diags := l.opts.Plugins(l.p.Plugins)
		l.diags = append(l.diags, diags...)
		if s != nil {
			l.schemas = s
		}
	}
	if l.schemas == nil {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "No component schemas",
			Detail:   "The pipeline loader was called without a SchemaSource; this is a bug in agolpipe, please report it.",
		})
		return
	}

	l.unused = l.opts.SinksOnly
	l.decodeSources(byType["source"], file.Body)
	l.decodeExports(byType["export"])
	l.unused = false
	l.decodeSinks(byType["sink"], file.Body)
	l.unused = l.opts.SinksOnly
	l.decodeNotifiers(byType["notify"])
	l.unused = false
	if l.opts.SinksOnly {
		l.checkIDKnown()
	}
}

// checkIDKnown: in SinksOnly mode the source's url may have been left
// unknown by an unset env() or variable; the pipeline's id is made from
// it, so without it the command would look for another pipeline's runs.
func (l *loader) checkIDKnown() {
	src := l.p.Source
	if src == nil || src.Config == cty.NilVal || !src.Config.IsKnown() || src.Config.IsNull() || !src.Config.Type().IsObjectType() ||
		!src.Config.Type().HasAttribute("url") || src.Config.GetAttr("url").IsKnown() {
		return
	}
	var subject *hcl.Range
	if sb, ok := src.Body.(*hclsyntax.Body); ok {
		if a, ok := sb.Attributes["url"]; ok {
			subject = a.SrcRange.Ptr()
		}
	}
	if subject == nil {
		subject = src.DeclRange.Ptr()
	}
	l.diags = append(l.diags, &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Source url not set",
		Detail: fmt.Sprintf("Source %q takes its url from an environment variable or variable that is not set. This command does not sign in, but it finds the pipeline's runs by its id, which is made from the url: set it as for a run.",
			src.Name),
		Subject: subject,
	})
}

// fileStart is the range used for problems with the file as a whole, such
// as a missing source block.
func fileStart(body hcl.Body, filename string) *hcl.Range {
	if sb, ok := body.(*hclsyntax.Body); ok {
		r := sb.SrcRange
		r.End = r.Start
		return &r
	}
	return &hcl.Range{Filename: filename, Start: hcl.InitialPos, End: hcl.InitialPos}
}

// Files returns the source files read while loading (the pipeline file and
// any var files), for rendering diagnostics with snippets.
func (p *Pipeline) Files() map[string]*hcl.File { return p.files }

// addSensitive records a value the run must never print.
func (l *loader) addSensitive(s string) {
	if s != "" {
		l.sensitive[s] = true
	}
}
