// Package pipeline is the pipeline file: the HCL language a user writes
// (source, export, sink, notify, run, plugin, variable blocks), decoded and
// checked by core with every component's own schema, with diagnostics that
// point at file:line:col.
//
// This file holds the decoded form the engine runs; the parser produces it.
package pipeline

import (
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// Pipeline is a decoded, validated pipeline file.
type Pipeline struct {
	// Filename and Hash (sha256 hex of the file bytes) identify the file in
	// the run manifest.
	Filename string
	Hash     string

	Source    *Component
	Exports   []*Export
	Sinks     []*SinkBlock
	Notifiers []*NotifierBlock
	Run       Run
	Plugins   []*PluginDecl
	// Sensitive lists the values the run must never print (passwords, keys),
	// collected from every attribute a schema marks sensitive; the logger
	// redacts them.
	Sensitive []string

	// files are the parsed sources behind diagnostics (see Files).
	files map[string]*hcl.File
}

// Component is a block that configures one plugin component, such as
// `source "arcgis" "prod" { ... }`.
type Component struct {
	// Type is the component name the plugin serves ("arcgis", "local").
	Type string
	// Name is the user's label for this block ("prod", "nas").
	Name string
	// Config is the block decoded with the component's schema.
	Config cty.Value
	// DeclRange is the block header; Body resolves attribute paths of
	// plugin diagnostics to source ranges (see Pipeline.Diagnostic).
	DeclRange hcl.Range
	Body      hcl.Body
}

// Export maps an item type to an exporter: `export "Feature Service" { ... }`.
type Export struct {
	ItemType string
	// Exporter is the component that handles the type; the default comes
	// from the exporters' declared item types.
	Exporter *Component
	// Format is the preferred export format ("File Geodatabase"), empty for
	// the exporter's default.
	Format  string
	Timeout time.Duration
	// Skip turns the type off: `export "Notebook" { skip = true }`.
	Skip      bool
	DeclRange hcl.Range
}

// SinkBlock is a sink plus the meta-arguments core owns for every sink.
type SinkBlock struct {
	Component
	// Required false makes a failure of this sink a warning, not a failed run.
	Required bool
	// Layout is "type", "owner/type" or "owner/folder/type".
	Layout string
	// Zip writes the whole run as one zip streamed into the sink.
	Zip       bool
	Retention *Retention
}

// Retention keeps a sink tidy; only runs agolpipe wrote are ever deleted.
type Retention struct {
	DeleteAfter time.Duration
	KeepDaily   int
	KeepWeekly  int
	KeepMonthly int
	DryRun      bool
	DeclRange   hcl.Range
}

// NotifierBlock is a notifier plus when it fires.
type NotifierBlock struct {
	Component
	// On lists the run statuses that trigger it: "success", "partial",
	// "failed", "canceled". Default: every status but success.
	On []string
}

// Run holds the `run { ... }` settings.
type Run struct {
	Prefix      string
	Concurrency int
	Retries     int
	// ModifiedWithin limits the run to items changed in that window
	// (incremental backups); zero means everything.
	ModifiedWithin time.Duration
	// MaxDuration bounds the whole run; zero means no bound beyond each
	// export's own timeout. At the bound what is still pending fails
	// (portal jobs given up, temporary items deleted) and the reports are
	// written.
	MaxDuration time.Duration
	// Verify reads every sink's copy of the run back after the run and
	// checks it against the manifest (core/verify): a nightly job proves
	// its own backup.
	Verify    bool
	DeclRange hcl.Range
}

// PluginDecl declares a third-party plugin binary. SHA256 is the checksum
// recorded when the user installed it; the host refuses a binary that no
// longer matches it.
type PluginDecl struct {
	Name      string
	Path      string
	SHA256    string
	DeclRange hcl.Range
}

// ID is the pipeline's identity in the run manifests it writes: retention
// deletes only runs whose manifest carries the same ID (and sink name), so
// two pipelines sharing a folder never prune each other's runs. It is
// derived from what names the backup, not from the file's bytes, so edits
// of anything else (exports, concurrency, comments, the retention block
// itself) keep it:
//
//	"<run prefix> <source type> <source url>"
//
// e.g. "PROD arcgis https://myorg.maps.arcgis.com". The source's url is
// lower-cased, without a trailing slash; a source without a url setting
// is named by its block label instead ("PROD arcgis prod"). Changing the
// prefix or the url starts a new identity: runs under the old one are left
// alone (prune lists them as another pipeline's) until removed by hand.
func (p *Pipeline) ID() string {
	if p == nil {
		return ""
	}
	src := ""
	if p.Source != nil {
		src = p.Source.Type + " " + p.Source.Name
		if u := configString(p.Source.Config, "url"); u != "" {
			src = p.Source.Type + " " + strings.TrimRight(strings.ToLower(strings.TrimSpace(u)), "/")
		}
	}
	return strings.TrimSpace(p.Run.Prefix + " " + src)
}

// configString is the string attribute name of a decoded block, or "".
func configString(v cty.Value, name string) string {
	if v == cty.NilVal || v.IsNull() || !v.IsKnown() || !v.Type().IsObjectType() || !v.Type().HasAttribute(name) {
		return ""
	}
	a := v.GetAttr(name)
	if a.IsNull() || !a.IsKnown() || a.Type() != cty.String {
		return ""
	}
	return a.AsString()
}
