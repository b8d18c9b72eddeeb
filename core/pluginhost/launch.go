package pluginhost

import (
	"context"
	"fmt"
	"sync"

	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/grpcplugin"
	"github.com/agolpipe/agolpipe/sdk/grpcplugin/grpctest"
)

// proc is a running plugin: a subprocess, or an in-process server in tests.
type proc interface {
	Exited() bool
	Kill()
}

// launch starts the component and returns its client adapter.
func (h *Host) launch(ctx context.Context, c *component) (any, proc, error) {
	h.mu.Lock()
	closed := h.closed
	h.mu.Unlock()
	if closed {
		return nil, nil, sdk.Classify(sdk.KindCanceled, fmt.Errorf("cannot start %s %q: the plugin host is shutting down", c.Kind, c.Name))
	}
	var (
		v   any
		p   proc
		err error
	)
	if c.BuiltIn && h.opts.InProcess != nil {
		v, p, err = h.launchInProcess(c)
	} else {
		v, p, err = h.launchProcess(ctx, c)
	}
	if err != nil {
		return nil, nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		p.Kill()
		return nil, nil, sdk.Classify(sdk.KindCanceled, fmt.Errorf("cannot start %s %q: the plugin host is shutting down", c.Kind, c.Name))
	}
	h.procs[p] = struct{}{}
	return v, p, nil
}

func (h *Host) launchProcess(ctx context.Context, c *component) (any, proc, error) {
	opts := grpcplugin.LaunchOpts{Path: c.Path, SHA256: c.sha256, Logger: h.logger}
	if c.BuiltIn {
		opts = grpcplugin.LaunchOpts{Path: h.exe, Args: []string{"plugin"}, Logger: h.logger, PassEnv: h.passEnv(c)}
	}
	client, err := grpcplugin.Launch(ctx, opts, c.Kind, c.Name)
	if err != nil {
		if !c.BuiltIn {
			return nil, nil, fmt.Errorf("plugin %q: %w", c.Plugin, err)
		}
		return nil, nil, err
	}
	var v any
	switch c.Kind {
	case sdk.KindSource:
		v, err = client.Source()
	case sdk.KindExporter:
		v, err = client.Exporter()
	case sdk.KindSink:
		v, err = client.Sink()
	case sdk.KindNotifier:
		v, err = client.Notifier()
	}
	if err != nil {
		client.Kill()
		return nil, nil, err
	}
	h.logger.Debug("plugin started", "kind", c.Kind, "name", c.Name, "path", pathOf(c, h.exe))
	return v, client, nil
}

// launchInProcess serves a built-in in this process through the real
// adapters (unit tests only).
func (h *Host) launchInProcess(c *component) (any, proc, error) {
	t := h.opts.InProcess
	b := h.builtins
	var v any
	switch c.Kind {
	case sdk.KindSource:
		v = grpctest.Source(t, b.Sources[c.Name]())
	case sdk.KindExporter:
		v = grpctest.Exporter(t, b.Exporters[c.Name]())
	case sdk.KindSink:
		v = grpctest.Sink(t, b.Sinks[c.Name]())
	case sdk.KindNotifier:
		v = grpctest.Notifier(t, b.Notifiers[c.Name]())
	}
	return v, &inProcess{}, nil
}

type inProcess struct {
	mu     sync.Mutex
	killed bool
}

func (p *inProcess) Exited() bool { p.mu.Lock(); defer p.mu.Unlock(); return p.killed }
func (p *inProcess) Kill()        { p.mu.Lock(); defer p.mu.Unlock(); p.killed = true }

func pathOf(c *component, exe string) string {
	if c.BuiltIn {
		return exe
	}
	return c.Path
}

// forget drops a process the host no longer supervises (after a crash).
func (h *Host) forget(p proc) {
	h.mu.Lock()
	delete(h.procs, p)
	h.mu.Unlock()
	p.Kill()
}

// passEnv is what a built-in asks of the environment beyond the minimal
// one (sdk.EnvPasser: the s3 and azure_blob sinks' credential chains).
// Third-party plugins are not asked: they get values through their
// configuration only.
func (h *Host) passEnv(c *component) []string {
	var v any
	b := h.builtins
	switch c.Kind {
	case sdk.KindSource:
		if f := b.Sources[c.Name]; f != nil {
			v = f()
		}
	case sdk.KindExporter:
		if f := b.Exporters[c.Name]; f != nil {
			v = f()
		}
	case sdk.KindSink:
		if f := b.Sinks[c.Name]; f != nil {
			v = f()
		}
	case sdk.KindNotifier:
		if f := b.Notifiers[c.Name]; f != nil {
			v = f()
		}
	}
	if p, ok := v.(sdk.EnvPasser); ok {
		return p.PassEnv()
	}
	return nil
}
