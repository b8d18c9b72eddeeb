package grpcplugin

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/agolpipe/agolpipe/sdk"
	"github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"
)

// ServeOpts lists the components one plugin binary serves, by the name a
// user writes in HCL. Each constructor returns a fresh, unconfigured
// component.
type ServeOpts struct {
	Sources   map[string]func() sdk.Source
	Exporters map[string]func() sdk.Exporter
	Sinks     map[string]func() sdk.Sink
	Notifiers map[string]func() sdk.Notifier
	// Logger is the plugin's logger; by default go-plugin's JSON logger on
	// stderr, which the host turns back into its own log lines.
	Logger hclog.Logger
}

// Description is what `<bin> describe` prints as JSON: everything a host
// needs to decode configuration for the binary's components without
// starting a server.
type Description struct {
	ProtocolVersion int                    `json:"protocol_version"`
	Components      []ComponentDescription `json:"components"`
}

// ComponentDescription describes one component a binary serves.
type ComponentDescription struct {
	Kind        sdk.Kind   `json:"kind"`
	Name        string     `json:"name"`
	Version     string     `json:"version"`
	Description string     `json:"description"`
	Schema      sdk.Schema `json:"schema"`
	// ItemTypes is set for exporters.
	ItemTypes []string `json:"item_types,omitempty"`
	// PassEnv is what the component asks of the host's environment
	// (sdk.EnvPasser). A host honours it for its own built-ins only.
	PassEnv []string `json:"pass_env,omitempty"`
}

// Serve is the whole main of a plugin binary: it runs `describe` or `serve
// <kind> <name>` from the command line and exits. It never returns.
func Serve(opts ServeOpts) {
	os.Exit(Run(opts, os.Args[1:], os.Stdout, os.Stderr))
}

// Run is Serve without the exit: it returns the exit code. Nothing is
// written to stdout except by `describe`; a served plugin's stdout belongs
// to go-plugin's handshake.
func Run(opts ServeOpts, args []string, stdout, stderr io.Writer) int {
	switch {
	case len(args) == 1 && args[0] == "describe":
		if err := json.NewEncoder(stdout).Encode(opts.Describe()); err != nil {
			fmt.Fprintln(stderr, "describe:", err)
			return 1
		}
		return 0
	case len(args) == 3 && args[0] == "serve":
		if err := ServeComponent(opts, sdk.Kind(args[1]), args[2]); err != nil {
			fmt.Fprintln(stderr, "Error:", err)
			return 1
		}
		return 0
	}
	fmt.Fprintf(stderr, "This is an agolpipe plugin (protocol %d). agolpipe starts it itself; declare it in a pipeline file with a plugin block.\nusage:\n  %s describe\n  %s serve <kind> <name>\n", sdk.ProtocolVersion, os.Args[0], os.Args[0])
	return 2
}

// Describe lists the components in a stable order (kind, then name).
func (o ServeOpts) Describe() Description {
	d := Description{ProtocolVersion: sdk.ProtocolVersion}
	add := func(kind sdk.Kind, name string, c interface {
		Info() sdk.Info
		Schema() sdk.Schema
	}, types []string) {
		info := c.Info()
		var env []string
		if p, ok := c.(sdk.EnvPasser); ok {
			env = p.PassEnv()
		}
		d.Components = append(d.Components, ComponentDescription{Kind: kind, Name: name, Version: info.Version, Description: info.Description, Schema: c.Schema(), ItemTypes: types, PassEnv: env})
	}
	for _, n := range sortedKeys(o.Sources) {
		add(sdk.KindSource, n, o.Sources[n](), nil)
	}
	for _, n := range sortedKeys(o.Exporters) {
		c := o.Exporters[n]()
		add(sdk.KindExporter, n, c, c.ItemTypes())
	}
	for _, n := range sortedKeys(o.Sinks) {
		add(sdk.KindSink, n, o.Sinks[n](), nil)
	}
	for _, n := range sortedKeys(o.Notifiers) {
		add(sdk.KindNotifier, n, o.Notifiers[n](), nil)
	}
	return d
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// pluginFor builds the go-plugin plugin that serves the named component.
func (o ServeOpts) pluginFor(kind sdk.Kind, name string) (plugin.Plugin, error) {
	var (
		p     plugin.Plugin
		names []string
	)
	switch kind {
	case sdk.KindSource:
		if c, ok := o.Sources[name]; ok {
			p = &SourcePlugin{Impl: c()}
		}
		names = sortedKeys(o.Sources)
	case sdk.KindExporter:
		if c, ok := o.Exporters[name]; ok {
			p = &ExporterPlugin{Impl: c()}
		}
		names = sortedKeys(o.Exporters)
	case sdk.KindSink:
		if c, ok := o.Sinks[name]; ok {
			p = &SinkPlugin{Impl: c()}
		}
		names = sortedKeys(o.Sinks)
	case sdk.KindNotifier:
		if c, ok := o.Notifiers[name]; ok {
			p = &NotifierPlugin{Impl: c()}
		}
		names = sortedKeys(o.Notifiers)
	default:
		return nil, fmt.Errorf("unknown plugin kind %q (want source, exporter, sink or notifier)", kind)
	}
	if p == nil {
		return nil, fmt.Errorf("this plugin serves no %s called %q (it serves: %s)", kind, name, strings.Join(names, ", "))
	}
	return p, nil
}

// ErrNotLaunchedByHost is returned by ServeComponent when the process was
// not started by an agolpipe host (the handshake cookie is missing).
var ErrNotLaunchedByHost = errors.New("this is an agolpipe plugin; agolpipe starts it itself, it is not run by hand")

// ServeComponent serves one component until the host stops it, or until
// the host process dies.
func ServeComponent(opts ServeOpts, kind sdk.Kind, name string) error {
	p, err := opts.pluginFor(kind, name)
	if err != nil {
		return err
	}
	if os.Getenv(Handshake.MagicCookieKey) != Handshake.MagicCookieValue {
		return ErrNotLaunchedByHost
	}
	watchParent()
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: Handshake,
		Plugins:         plugin.PluginSet{string(kind): p},
		GRPCServer:      newServer,
		Logger:          opts.Logger,
	})
	return nil
}
