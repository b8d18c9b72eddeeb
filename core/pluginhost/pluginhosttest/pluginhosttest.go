// Package pluginhosttest serves a plugin host's built-in components inside
// a test process, through the same gRPC adapters and go-plugin broker as a
// subprocess (sdk/grpcplugin/grpctest), for unit tests of what uses the
// host. It is a package of its own so that the agolpipe binary never links
// package testing or the test fakes.
package pluginhosttest

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/agolpipe/agolpipe/core/pluginhost"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/grpcplugin"
	"github.com/agolpipe/agolpipe/sdk/grpcplugin/grpctest"
)

// Options are host options whose built-ins are b, served in this process.
func Options(t testing.TB, b grpcplugin.ServeOpts) pluginhost.Options {
	return pluginhost.Options{BuiltIns: b.Describe(), Launch: InProcess(t, b)}
}

// InProcess is a launcher that serves the components of b in this
// process; their servers stop when t ends.
func InProcess(t testing.TB, b grpcplugin.ServeOpts) pluginhost.Launcher {
	return func(_ context.Context, kind sdk.Kind, name string) (pluginhost.Plugin, error) {
		p := &plugin{kind: kind, name: name}
		missing := func() (pluginhost.Plugin, error) {
			return nil, fmt.Errorf("no built-in %s called %q to serve in process", kind, name)
		}
		switch kind {
		case sdk.KindSource:
			f, ok := b.Sources[name]
			if !ok {
				return missing()
			}
			p.v = grpctest.Source(t, f())
		case sdk.KindExporter:
			f, ok := b.Exporters[name]
			if !ok {
				return missing()
			}
			p.v = grpctest.Exporter(t, f())
		case sdk.KindSink:
			f, ok := b.Sinks[name]
			if !ok {
				return missing()
			}
			p.v = grpctest.Sink(t, f())
		case sdk.KindNotifier:
			f, ok := b.Notifiers[name]
			if !ok {
				return missing()
			}
			p.v = grpctest.Notifier(t, f())
		default:
			return missing()
		}
		return p, nil
	}
}

// plugin is a component served in process: "killing" it only marks it
// gone (its server stops with the test).
type plugin struct {
	kind sdk.Kind
	name string
	v    any

	mu     sync.Mutex
	killed bool
}

func as[T any](p *plugin) (T, error) {
	v, ok := p.v.(T)
	if !ok {
		var zero T
		return zero, fmt.Errorf("%s %q is served, not the kind asked for", p.kind, p.name)
	}
	return v, nil
}

func (p *plugin) Source() (sdk.Source, error)     { return as[sdk.Source](p) }
func (p *plugin) Exporter() (sdk.Exporter, error) { return as[sdk.Exporter](p) }
func (p *plugin) Sink() (sdk.Sink, error)         { return as[sdk.Sink](p) }
func (p *plugin) Notifier() (sdk.Notifier, error) { return as[sdk.Notifier](p) }
func (p *plugin) Exited() bool                    { p.mu.Lock(); defer p.mu.Unlock(); return p.killed }
func (p *plugin) Kill()                           { p.mu.Lock(); defer p.mu.Unlock(); p.killed = true }
