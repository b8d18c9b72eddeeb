package grpcplugin

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/agolpipe/agolpipe/sdk"
	"github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"
)

// LaunchOpts says how to start a plugin binary.
type LaunchOpts struct {
	// Path of the binary; Args come before `serve <kind> <name>` (the
	// agolpipe binary itself uses Args ["plugin"]).
	Path string
	Args []string
	// SHA256 is the hex checksum recorded when the plugin was installed.
	// When set, the binary is refused unless it matches; it is never
	// computed at launch time, which would trust whatever is on disk.
	SHA256 string
	// Logger receives the plugin's log lines and stderr.
	Logger hclog.Logger
	// PassEnv names variables of the host's environment the plugin gets
	// besides BaseEnv (see PluginEnv); nothing else of it is passed on.
	PassEnv []string
	// DataChannel is the host's data channel, offered to the plugin when
	// it is an exporter or a sink; nil offers none (bytes go in chunks).
	DataChannel *DataChannel
}

// ErrChecksumMismatch is matched by the error of a plugin whose binary does
// not match its recorded checksum.
var ErrChecksumMismatch = errors.New("plugin binary does not match its recorded sha256")

// Client is a running plugin process serving one component.
type Client struct {
	pc   *plugin.Client
	raw  any
	kind sdk.Kind
	name string
}

// Launch starts the binary serving one component and connects to it, with
// gRPC only, automatic mTLS, and the process managed (plugin.CleanupClients
// kills it). The caller must Kill the client.
func Launch(ctx context.Context, opts LaunchOpts, kind sdk.Kind, name string) (*Client, error) {
	logger := opts.Logger
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	var secure *plugin.SecureConfig
	if opts.SHA256 != "" {
		sum, err := hex.DecodeString(opts.SHA256)
		if err != nil || len(sum) != sha256.Size {
			return nil, fmt.Errorf("plugin %s: sha256 %q is not a hex SHA-256 checksum; run `sha256sum %s` and record its output", opts.Path, opts.SHA256, opts.Path)
		}
		secure = &plugin.SecureConfig{Checksum: sum, Hash: sha256.New()}
	}
	args := append(append([]string{}, opts.Args...), "serve", string(kind), name)
	// The process gets a minimal environment, never the host's whole one
	// (passwords, store keys, webhook URLs live there); go-plugin appends
	// its handshake variables to cmd.Env.
	cmd := exec.Command(opts.Path, args...)
	cmd.Env = PluginEnv(os.Environ(), opts.PassEnv...)
	pc := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  Handshake,
		Plugins:          PluginMap(opts.DataChannel),
		Cmd:              cmd,
		SkipHostEnv:      true,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		Managed:          true,
		SecureConfig:     secure,
		Logger:           logger.Named(string(kind) + "." + name),
		StartTimeout:     time.Minute,
		GRPCDialOptions:  dialOptions(),
	})
	rpc, err := pc.Client()
	if err != nil {
		pc.Kill()
		if errors.Is(err, plugin.ErrChecksumsDoNotMatch) {
			return nil, checksumError(opts.Path, opts.SHA256)
		}
		return nil, fmt.Errorf("starting %s %q from %s: %w", kind, name, opts.Path, err)
	}
	raw, err := rpc.Dispense(string(kind))
	if err != nil {
		pc.Kill()
		return nil, fmt.Errorf("connecting to %s %q in %s: %w", kind, name, opts.Path, err)
	}
	return &Client{pc: pc, raw: raw, kind: kind, name: name}, nil
}

func checksumError(path, want string) error {
	return fmt.Errorf("%w: %s (recorded sha256 %s). If you upgraded the plugin on purpose, run `sha256sum %s` and put the new checksum in its plugin block; otherwise someone changed the file, so do not run it", ErrChecksumMismatch, path, want, path)
}

// Sink returns the sink the process serves.
func (c *Client) Sink() (sdk.Sink, error) { return as[sdk.Sink](c) }

// Source returns the source the process serves.
func (c *Client) Source() (sdk.Source, error) { return as[sdk.Source](c) }

// Exporter returns the exporter the process serves.
func (c *Client) Exporter() (sdk.Exporter, error) { return as[sdk.Exporter](c) }

// Notifier returns the notifier the process serves.
func (c *Client) Notifier() (sdk.Notifier, error) { return as[sdk.Notifier](c) }

func as[T any](c *Client) (T, error) {
	v, ok := c.raw.(T)
	if !ok {
		var zero T
		return zero, fmt.Errorf("plugin serves a %s, not the kind asked for", c.kind)
	}
	return v, nil
}

// Exited reports whether the process has exited (crashed or killed).
func (c *Client) Exited() bool { return c.pc.Exited() }

// Pid is the plugin's process id, 0 when unknown.
func (c *Client) Pid() int {
	if rc := c.pc.ReattachConfig(); rc != nil {
		return rc.Pid
	}
	return 0
}

// Kill stops the process: gracefully first, then by force. Safe to call
// more than once.
func (c *Client) Kill() { c.pc.Kill() }

// VerifyChecksum hashes the binary at path and compares it with the
// recorded hex checksum.
func VerifyChecksum(path, want string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("plugin %s: %w", path, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("plugin %s: %w", path, err)
	}
	if !strings.EqualFold(hex.EncodeToString(h.Sum(nil)), want) {
		return checksumError(path, want)
	}
	return nil
}

// DescribeBinary runs `<path> describe` and parses what it serves. When
// sha256 is set the binary is checked against it first, so an unverified
// binary is never run.
func DescribeBinary(ctx context.Context, path, sha256Hex string, args ...string) (Description, error) {
	if sha256Hex != "" {
		if err := VerifyChecksum(path, sha256Hex); err != nil {
			return Description{}, err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, describeTimeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, path, append(append([]string{}, args...), "describe")...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = PluginEnv(os.Environ()) // as at launch: nothing of the host's secrets
	if err := cmd.Run(); err != nil {
		return Description{}, fmt.Errorf("asking plugin %s what it serves (`describe`): %w: %s", path, err, strings.TrimSpace(stderr.String()))
	}
	var d Description
	if err := json.Unmarshal(stdout.Bytes(), &d); err != nil {
		return Description{}, fmt.Errorf("plugin %s printed something other than its description: %w", path, err)
	}
	if d.ProtocolVersion != sdk.ProtocolVersion {
		return Description{}, fmt.Errorf("plugin %s speaks plugin protocol %d, this agolpipe speaks %d; install a version of the plugin built for protocol %d", path, d.ProtocolVersion, sdk.ProtocolVersion, sdk.ProtocolVersion)
	}
	return d, nil
}
