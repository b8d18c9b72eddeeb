// Package notifytest is the conformance suite for notifiers. A notifier
// author runs it in a few lines:
//
//	func TestConformance(t *testing.T) {
//		notifytest.Run(t, mynotifier.New, notifytest.Options{
//			Valid:   map[string]cty.Value{"url": cty.StringVal("https://example.com/hook")},
//			Stalled: func(addr string) map[string]cty.Value { ... send to addr ... },
//		})
//	}
//
// Run runs every check twice, as the subtests "in-process" and "grpc" (the
// notifier served through sdk/grpcplugin's real adapters inside the test,
// the road every run takes). It checks the parts of the contract every
// notifier shares: Info and Schema
// are well formed; Configure names the attribute path of each missing
// required attribute; Notify before Configure fails cleanly; Notify honours
// a cancelled context promptly, also while the server stalls; Close is
// idempotent; and no sensitive value ever appears in a diagnostic or error.
// Delivery itself (what arrives at the server) is each notifier's own test.
package notifytest

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/grpcplugin/grpctest"
)

// Options say how to configure the notifier under test.
type Options struct {
	// Valid holds the attributes of a configuration Configure accepts
	// without a network call; attributes absent from it are null. Every
	// required attribute must be present.
	Valid map[string]cty.Value
	// Stalled returns the attributes of a valid configuration that sends to
	// addr ("127.0.0.1:port"), a server that accepts connections and never
	// answers. Run uses it to check that Notify returns soon after its
	// context is cancelled. Nil skips that check.
	Stalled func(addr string) map[string]cty.Value
}

// hangLimit is how long a cancelled Notify may take before Run calls it a
// hang. It is a deadlock detector, not a speed target: generous on purpose.
const hangLimit = 10 * time.Second

// Config builds a configuration value of schema s: the attributes in attrs
// (converted to the schema's types) and null for every other attribute, the
// way the host decodes a block that leaves optional attributes out.
func Config(t testing.TB, s sdk.Schema, attrs map[string]cty.Value) cty.Value {
	t.Helper()
	v, err := s.ConfigValue(attrs)
	if err != nil {
		t.Fatalf("notifytest: %v", err)
	}
	return v
}

// SampleRequest is a run summary with a failure, partial exports, two report
// locations and a Results.txt text with non-ASCII characters.
func SampleRequest() sdk.NotifyRequest {
	started := time.Date(2026, 11, 22, 1, 0, 0, 0, time.UTC)
	return sdk.NotifyRequest{
		RunID:    "PROD_2026-11-22_01-00-00",
		Pipeline: "/etc/agolpipe/nightly.hcl",
		Status:   "failed",
		ExitCode: 1,
		Started:  started,
		Finished: started.Add(1*time.Hour + 2*time.Minute + 3*time.Second),
		Counts:   map[string]int64{"exported": 2030, "partial": 2, "failed": 3, "skipped": 4, "excluded": 2},
		Results: "Status: FAILED (1h2m3s)\n" +
			"Exported 2,030  Partial 2  Failed 3  Skipped 4  Excluded 2\n\n" +
			"Failed (3)\n  export timed out (3): raise export timeout\n" +
			"    a1b2c3 Straßenbäume Zürich (Feature Service)\n",
		Locations: []string{"/mnt/gis-backups/PROD_2026-11-22_01-00-00", "s3://city-backups/PROD_2026-11-22_01-00-00"},
	}
}

// Run runs every conformance check against notifiers made by newNotifier,
// in this process and over gRPC. Each check gets a fresh notifier and
// closes it.
func Run(t *testing.T, newNotifier func() sdk.Notifier, opts Options) {
	t.Helper()
	t.Run("in-process", func(t *testing.T) { runChecks(t, newNotifier, opts) })
	t.Run("grpc", func(t *testing.T) {
		runChecks(t, func() sdk.Notifier { return grpctest.Notifier(t, newNotifier()) }, opts)
	})
}

func runChecks(t *testing.T, newNotifier func() sdk.Notifier, opts Options) {
	t.Helper()
	schema := newNotifier().Schema()
	secrets := sensitiveValues(schema, opts.Valid)
	if opts.Stalled != nil {
		secrets = append(secrets, sensitiveValues(schema, opts.Stalled("127.0.0.1:9"))...)
	}
	noSecrets := func(t *testing.T, where, text string) {
		t.Helper()
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("%s shows the value of a sensitive attribute: %q", where, text)
			}
		}
	}
	noSecretsInDiags := func(t *testing.T, diags sdk.Diagnostics) {
		t.Helper()
		for _, d := range diags {
			noSecrets(t, "diagnostic", d.Summary+" "+d.Detail)
		}
	}
	configured := func(t *testing.T, attrs map[string]cty.Value) sdk.Notifier {
		t.Helper()
		n := newNotifier()
		t.Cleanup(func() { _ = n.Close() })
		diags := n.Configure(context.Background(), sdk.ConfigureRequest{Config: Config(t, schema, attrs)})
		noSecretsInDiags(t, diags)
		if diags.HasErrors() {
			t.Fatalf("Configure rejected a valid configuration: %v", diags.Err())
		}
		return n
	}

	t.Run("Info", func(t *testing.T) {
		info := newNotifier().Info()
		if info.Kind != sdk.KindNotifier {
			t.Errorf("Info().Kind = %q, want %q", info.Kind, sdk.KindNotifier)
		}
		if info.Name == "" || info.Version == "" || info.Description == "" {
			t.Errorf("Info() = %+v: Name, Version and Description must be set", info)
		}
	})

	t.Run("Schema", func(t *testing.T) {
		seen := map[string]bool{}
		for _, a := range schema.Attributes {
			if seen[a.Name] {
				t.Errorf("attribute %q declared twice", a.Name)
			}
			seen[a.Name] = true
			if a.Description == "" {
				t.Errorf("attribute %q has no description", a.Name)
			}
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Errorf("attribute %q: %v", a.Name, r)
					}
				}()
				a.Type.CtyType()
			}()
			if a.Required {
				if _, ok := opts.Valid[a.Name]; !ok {
					t.Errorf("Options.Valid lacks required attribute %q", a.Name)
				}
			}
		}
	})

	t.Run("ConfigureValid", func(t *testing.T) {
		configured(t, opts.Valid)
	})

	t.Run("MissingRequired", func(t *testing.T) {
		for _, a := range schema.Attributes {
			if !a.Required {
				continue
			}
			t.Run(a.Name, func(t *testing.T) {
				attrs := copyWithout(opts.Valid, a.Name)
				n := newNotifier()
				defer n.Close()
				diags := n.Configure(context.Background(), sdk.ConfigureRequest{Config: Config(t, schema, attrs)})
				noSecretsInDiags(t, diags)
				if !diags.HasErrors() {
					t.Fatalf("Configure accepted a configuration without required %q", a.Name)
				}
				found := false
				for _, d := range diags {
					if d.Severity == sdk.SeverityError && len(d.Path) == 1 && d.Path[0] == a.Name {
						found = true
					}
				}
				if !found {
					t.Errorf("no error diagnostic with path [%q]; got %v", a.Name, diags.Err())
				}
			})
		}
	})

	t.Run("NotifyUnconfigured", func(t *testing.T) {
		n := newNotifier()
		defer n.Close()
		err := n.Notify(context.Background(), SampleRequest())
		if err == nil {
			t.Fatal("Notify before Configure returned nil")
		}
		if k := sdk.KindOf(err); k == sdk.KindRetryable {
			t.Errorf("Notify before Configure is %v; retrying cannot fix it", k)
		}
	})

	t.Run("NotifyCanceledBefore", func(t *testing.T) {
		n := configured(t, opts.Valid)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := notifyWithin(t, n, ctx)
		if err == nil {
			t.Fatal("Notify with a cancelled context returned nil")
		}
		noSecrets(t, "error", err.Error())
		if k := sdk.KindOf(err); k != sdk.KindCanceled {
			t.Errorf("Notify with a cancelled context: kind %v (%v), want canceled", k, err)
		}
	})

	t.Run("NotifyCanceledWhileStalled", func(t *testing.T) {
		if opts.Stalled == nil {
			t.Skip("Options.Stalled not given")
		}
		addr, stop := stalledServer(t)
		defer stop()
		n := configured(t, opts.Stalled(addr))
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(200*time.Millisecond, cancel)
		err := notifyWithin(t, n, ctx)
		if err == nil {
			t.Fatal("Notify to a server that never answers returned nil")
		}
		noSecrets(t, "error", err.Error())
		if k := sdk.KindOf(err); k != sdk.KindCanceled {
			t.Errorf("Notify cancelled while the server stalls: kind %v (%v), want canceled", k, err)
		}
	})

	t.Run("CloseIdempotent", func(t *testing.T) {
		n := newNotifier()
		if err := n.Close(); err != nil {
			t.Errorf("Close of an unconfigured notifier: %v", err)
		}
		n = configured(t, opts.Valid)
		for i := 0; i < 2; i++ {
			if err := n.Close(); err != nil {
				t.Errorf("Close #%d: %v", i+1, err)
			}
		}
	})
}

// notifyWithin calls Notify and fails the test when it hangs.
func notifyWithin(t *testing.T, n sdk.Notifier, ctx context.Context) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- n.Notify(ctx, SampleRequest()) }()
	select {
	case err := <-done:
		return err
	case <-time.After(hangLimit):
		t.Fatalf("Notify did not return within %v of its context being cancelled", hangLimit)
		return nil
	}
}

// stalledServer listens on 127.0.0.1, accepts connections and never writes.
func stalledServer(t *testing.T) (addr string, stop func()) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	return l.Addr().String(), func() {
		_ = l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	}
}

// sensitiveValues lists the non-trivial string values of sensitive
// attributes in attrs, including the values of sensitive maps.
func sensitiveValues(s sdk.Schema, attrs map[string]cty.Value) []string {
	var out []string
	add := func(v cty.Value) {
		if v.IsKnown() && !v.IsNull() && v.Type() == cty.String && len(v.AsString()) >= 4 {
			out = append(out, v.AsString())
		}
	}
	for _, a := range s.Attributes {
		v, ok := attrs[a.Name]
		if !a.Sensitive || !ok || !v.IsKnown() || v.IsNull() {
			continue
		}
		if v.CanIterateElements() {
			for it := v.ElementIterator(); it.Next(); {
				_, ev := it.Element()
				add(ev)
			}
			continue
		}
		add(v)
	}
	return out
}

func copyWithout(m map[string]cty.Value, drop string) map[string]cty.Value {
	out := map[string]cty.Value{}
	for k, v := range m {
		if k != drop {
			out[k] = v
		}
	}
	return out
}

// ErrKind is a test helper: it fails t unless err has kind want.
func ErrKind(t testing.TB, err error, want sdk.ErrorKind) {
	t.Helper()
	if err == nil {
		t.Fatalf("got nil error, want a %v error", want)
	}
	if got := sdk.KindOf(err); got != want {
		var se *sdk.Error
		t.Errorf("error kind = %v, want %v (classified: %v): %v", got, want, errors.As(err, &se), err)
	}
}

// Golden compares got with the golden file at path; with update it first
// rewrites the file. Notifiers use it for rendered messages and payloads.
func Golden(t testing.TB, path string, got []byte, update bool) {
	t.Helper()
	if update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update creates it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (go test -update rewrites it):\n%s", path, got)
	}
}
