// Package pluginhost launches and supervises the plugin processes of a run.
//
// Every component, built-in or third-party, runs as a go-plugin gRPC
// subprocess: built-ins by re-executing the agolpipe binary (`agolpipe plugin
// serve <kind> <name>`), third-party plugins from the binary a pipeline's
// plugin block declares, verified against its recorded sha256. The host
// knows every component's schema before anything starts (built-ins from the
// description cmd hands in, Options.BuiltIns; third-party ones from `<bin>
// describe`), so the pipeline parser can decode HCL without a process.
// Exporters may also start on demand, at their first call
// (Host.ExporterOnDemand).
//
// Components the host returns restart their plugin when it crashes: the
// call in flight fails with a retryable error naming the plugin and what it
// was doing, the process is started again and re-configured with its last
// configuration, and the next call goes to the new process.
//
// Close kills every process the host started; callers defer it and also
// call it from their signal handling.
package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/agolpipe/agolpipe/core/pipeline"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/grpcplugin"
	"github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"
	"github.com/hashicorp/hcl/v2"
)

// Options configure a Host.
type Options struct {
	// Logger receives plugin log lines and stderr, and the host's own
	// messages (launches, crashes). Nil discards them.
	Logger hclog.Logger
	// Plugins are the third-party plugins a pipeline declares.
	Plugins []*pipeline.PluginDecl
	// Executable is the agolpipe binary that serves built-ins; empty means
	// os.Executable().
	Executable string
	// BuiltIns describe the components Executable serves as built-ins
	// (`agolpipe plugin serve <kind> <name>`); cmd hands in the set listed
	// in package plugins, so core never imports plugins. Empty: none.
	BuiltIns grpcplugin.Description
	// Launch, when set, starts the built-ins instead of re-executing
	// Executable: tests serve them inside the test process through the
	// same gRPC adapters (pluginhost/pluginhosttest). Third-party plugins
	// always run as processes.
	Launch Launcher
}

// ComponentInfo describes one available component, as `agolpipe plugins`
// lists it.
type ComponentInfo struct {
	Kind        sdk.Kind
	Name        string
	Version     string
	Description string
	// Protocol is the plugin protocol major it speaks.
	Protocol int
	BuiltIn  bool
	// Path is the plugin binary of a third-party component, and Plugin the
	// name of its plugin block.
	Path   string
	Plugin string
}

type key struct {
	kind sdk.Kind
	name string
}

type component struct {
	ComponentInfo
	schema    sdk.Schema
	itemTypes []string
	sha256    string
	// passEnv is what a built-in asks of the environment (sdk.EnvPasser).
	passEnv []string
}

// Host knows every component and launches them. It is safe for concurrent
// use.
type Host struct {
	opts   Options
	logger hclog.Logger
	exe    string
	// data is the data channel the host offers its exporters and sinks
	// (nil when switched off); Close closes it.
	data *grpcplugin.DataChannel

	mu         sync.Mutex
	components map[key]*component
	procs      map[Plugin]struct{}
	closed     bool
}

// New returns a host that knows the built-ins and the declared plugins. It
// runs `describe` of each declared plugin (after checking its checksum) but
// starts no server.
func New(ctx context.Context, opts Options) (*Host, error) {
	h := &Host{opts: opts, logger: opts.Logger, components: map[key]*component{}, procs: map[Plugin]struct{}{},
		data: grpcplugin.NewDataChannel(grpcplugin.DataChannelMin)}
	if h.logger == nil {
		h.logger = hclog.NewNullLogger()
	}
	h.exe = opts.Executable
	if h.exe == "" && opts.Launch == nil {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("finding the agolpipe binary to serve built-in plugins: %w", err)
		}
		h.exe = exe
	}
	for _, c := range opts.BuiltIns.Components {
		h.components[key{c.Kind, c.Name}] = &component{
			ComponentInfo: ComponentInfo{Kind: c.Kind, Name: c.Name, Version: c.Version, Description: c.Description, Protocol: sdk.ProtocolVersion, BuiltIn: true},
			schema:        c.Schema, itemTypes: c.ItemTypes, passEnv: c.PassEnv,
		}
	}
	if err := h.AddPlugins(ctx, opts.Plugins); err != nil {
		return nil, err
	}
	return h, nil
}

// AddPlugins learns the components of third-party plugins. A plugin whose
// binary does not match its recorded checksum, or that serves a component
// already known, is refused.
func (h *Host) AddPlugins(ctx context.Context, decls []*pipeline.PluginDecl) error {
	var errs []error
	for _, d := range decls {
		errs = append(errs, h.addPlugin(ctx, d))
	}
	return errors.Join(errs...)
}

func (h *Host) addPlugin(ctx context.Context, d *pipeline.PluginDecl) error {
	if d.SHA256 == "" {
		return fmt.Errorf("plugin %q (%s): no sha256 recorded; add sha256 = \"<output of sha256sum %s>\" to its plugin block", d.Name, d.Path, d.Path)
	}
	// An absolute path, so that exec never looks the name up in PATH.
	path, err := filepath.Abs(d.Path)
	if err != nil {
		return fmt.Errorf("plugin %q: %w", d.Name, err)
	}
	desc, err := grpcplugin.DescribeBinary(ctx, path, d.SHA256)
	if err != nil {
		return fmt.Errorf("plugin %q: %w", d.Name, err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range desc.Components {
		k := key{c.Kind, c.Name}
		if prev, ok := h.components[k]; ok {
			where := "built into agolpipe"
			if !prev.BuiltIn {
				where = "served by plugin " + prev.Plugin + " (" + prev.Path + ")"
			}
			return fmt.Errorf("plugin %q (%s) serves %s %q, which is already %s; remove one of the two", d.Name, d.Path, c.Kind, c.Name, where)
		}
		h.components[k] = &component{
			ComponentInfo: ComponentInfo{Kind: c.Kind, Name: c.Name, Version: c.Version, Description: c.Description, Protocol: desc.ProtocolVersion, Path: path, Plugin: d.Name},
			schema:        c.Schema, itemTypes: c.ItemTypes, sha256: d.SHA256,
		}
	}
	return nil
}

// PipelinePlugins is the pipeline loader's plugin hook
// (pipeline.LoadOptions.Plugins): it adds the declared plugins and returns
// the host as the schema source, with a diagnostic at each plugin block
// that could not be used.
func (h *Host) PipelinePlugins(decls []*pipeline.PluginDecl) (pipeline.SchemaSource, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	for _, d := range decls {
		if err := h.addPlugin(context.Background(), d); err != nil {
			rng := d.DeclRange
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Cannot use plugin " + d.Name, Detail: err.Error(), Subject: &rng})
		}
	}
	return h, diags
}

// Components lists every component, by kind (sdk.Kinds order) then name.
func (h *Host) Components() []ComponentInfo {
	h.mu.Lock()
	defer h.mu.Unlock()
	order := map[sdk.Kind]int{}
	for i, k := range sdk.Kinds {
		order[k] = i
	}
	out := make([]ComponentInfo, 0, len(h.components))
	for _, c := range h.components {
		out = append(out, c.ComponentInfo)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return order[out[i].Kind] < order[out[j].Kind]
		}
		return out[i].Name < out[j].Name
	})
	return out
}

func (h *Host) lookup(kind sdk.Kind, name string) (*component, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c, ok := h.components[key{kind, name}]
	if !ok {
		return nil, fmt.Errorf("no %s called %q; available: %s", kind, name, strings.Join(h.namesLocked(kind), ", "))
	}
	return c, nil
}

// Schema returns the configuration schema of a component without starting
// it (pipeline.SchemaSource).
func (h *Host) Schema(kind sdk.Kind, name string) (sdk.Schema, error) {
	c, err := h.lookup(kind, name)
	if err != nil {
		return sdk.Schema{}, err
	}
	return c.schema, nil
}

// Names lists the components of a kind (pipeline.SchemaSource).
func (h *Host) Names(kind sdk.Kind) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.namesLocked(kind)
}

func (h *Host) namesLocked(kind sdk.Kind) []string {
	var out []string
	for k := range h.components {
		if k.kind == kind {
			out = append(out, k.name)
		}
	}
	sort.Strings(out)
	return out
}

// ItemTypes lists the item types an exporter declares
// (pipeline.ExporterItemTypes).
func (h *Host) ItemTypes(exporter string) []string {
	c, err := h.lookup(sdk.KindExporter, exporter)
	if err != nil {
		return nil
	}
	return c.itemTypes
}

// DataChannel is the data channel the host offers the exporters and sinks
// it launches; nil when AGOLPIPE_DATA_CHANNEL=off. Its Ready says why a
// run's bytes would take the slower road.
func (h *Host) DataChannel() *grpcplugin.DataChannel { return h.data }

// Close kills every plugin process the host started, now and later: a
// component asked for after Close fails, and closes the data channel
// (removing its socket). Safe to call more than once and from a signal
// handler's goroutine.
func (h *Host) Close() error {
	h.mu.Lock()
	h.closed = true
	procs := h.procs
	h.procs = map[Plugin]struct{}{}
	h.mu.Unlock()
	var wg sync.WaitGroup
	for p := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.Kill()
		}()
	}
	wg.Wait()
	h.data.Close()
	return nil
}

var (
	_ pipeline.SchemaSource      = (*Host)(nil)
	_ pipeline.ExporterItemTypes = (*Host)(nil)
)

// CleanupClients kills every plugin process started by any host in this
// process (go-plugin's managed clients). The CLI defers it next to
// Host.Close as a last line of defence, e.g. on a panic in main.
func CleanupClients() { plugin.CleanupClients() }
