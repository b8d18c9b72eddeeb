package pluginhost

import (
	"context"
	"fmt"

	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/grpcplugin"
)

// Plugin is one started component as the host holds it: the client side of
// its server (one of the four, by kind) and the process behind it.
// *grpcplugin.Client is one.
type Plugin interface {
	Source() (sdk.Source, error)
	Exporter() (sdk.Exporter, error)
	Sink() (sdk.Sink, error)
	Notifier() (sdk.Notifier, error)
	// Exited reports whether the process is gone (crashed or killed).
	Exited() bool
	// Kill stops the process; safe to call more than once.
	Kill()
}

var _ Plugin = (*grpcplugin.Client)(nil)

// Launcher starts the built-in component kind/name (Options.Launch).
type Launcher func(ctx context.Context, kind sdk.Kind, name string) (Plugin, error)

// launch starts the component and records its process, so Close kills it.
func (h *Host) launch(ctx context.Context, c *component) (Plugin, error) {
	h.mu.Lock()
	closed := h.closed
	h.mu.Unlock()
	if closed {
		return nil, sdk.Classify(sdk.KindCanceled, fmt.Errorf("cannot start %s %q: the plugin host is shutting down", c.Kind, c.Name))
	}
	var (
		p   Plugin
		err error
	)
	if c.BuiltIn && h.opts.Launch != nil {
		p, err = h.opts.Launch(ctx, c.Kind, c.Name)
	} else {
		p, err = h.launchProcess(ctx, c)
	}
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		p.Kill()
		return nil, sdk.Classify(sdk.KindCanceled, fmt.Errorf("cannot start %s %q: the plugin host is shutting down", c.Kind, c.Name))
	}
	h.procs[p] = struct{}{}
	return p, nil
}

func (h *Host) launchProcess(ctx context.Context, c *component) (Plugin, error) {
	opts := grpcplugin.LaunchOpts{Path: c.Path, SHA256: c.sha256, Logger: h.logger, DataChannel: h.data}
	if c.BuiltIn {
		// Only a built-in is given more of the environment than the
		// minimal one (the s3 and azure_blob sinks' credential chains);
		// a third-party plugin gets values through its configuration.
		opts = grpcplugin.LaunchOpts{Path: h.exe, Args: []string{"plugin"}, Logger: h.logger, PassEnv: c.passEnv, DataChannel: h.data}
	}
	client, err := grpcplugin.Launch(ctx, opts, c.Kind, c.Name)
	if err != nil {
		if !c.BuiltIn {
			return nil, fmt.Errorf("plugin %q: %w", c.Plugin, err)
		}
		return nil, err
	}
	h.logger.Debug("plugin started", "kind", c.Kind, "name", c.Name, "path", pathOf(c, h.exe))
	return client, nil
}

func pathOf(c *component, exe string) string {
	if c.BuiltIn {
		return exe
	}
	return c.Path
}

// forget drops a process the host no longer supervises (after a crash).
func (h *Host) forget(p Plugin) {
	h.mu.Lock()
	delete(h.procs, p)
	h.mu.Unlock()
	p.Kill()
}
