// Package sourcetest is the contract suite every agolpipe source runs, the
// source's counterpart of sdk/sinktest. The built-in arcgis source runs it
// against the simulated org; an outside author in a few lines:
//
//	func TestContract(t *testing.T) {
//		srv, _ := sim.Start(sim.Options{Items: 60})
//		defer srv.Close()
//		admin := srv.Users()[0]
//		sourcetest.Run(t, mysource.New, sourcetest.Options{
//			Valid: map[string]cty.Value{"url": cty.StringVal(srv.PortalURL()), ...},
//		})
//	}
//
// Run runs every check twice, as the subtests "in-process" and "grpc" (the
// source served through sdk/grpcplugin's real adapters inside the test, the
// road every run takes).
//
// It checks the parts of sdk.Source's contract every source shares: Info
// and Schema are well formed; Configure names the attribute path of each
// missing required attribute; Connect describes the org; ListItems yields
// every item once, with an id, a type and a title, and an excluded item
// with its reason; a callback's error stops the listing and comes back; a
// context cancelled mid-listing ends it promptly with an error of kind
// canceled and no call of the callback after ListItems returned; Do says
// not found with sdk.IsNotFound and honours a cancelled context; refused
// credentials are an auth error that shows no secret; Close is idempotent.
package sourcetest

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/grpcplugin/grpctest"
)

// Names of the checks, usable as keys of Options.KnownGaps.
const (
	CheckInfo                 = "Info"
	CheckSchema               = "Schema"
	CheckMissingRequired      = "MissingRequired"
	CheckConnect              = "Connect"
	CheckListItems            = "ListItems"
	CheckListStopsOnError     = "ListStopsOnCallbackError"
	CheckListCanceled         = "ListCanceled"
	CheckDoNotFound           = "DoNotFound"
	CheckDoCanceled           = "DoCanceled"
	CheckRefusedCredentials   = "RefusedCredentials"
	CheckCloseIdempotent      = "CloseIdempotent"
	defaultHangLimit          = 10 * time.Second
	lateCallbackWait          = 200 * time.Millisecond
	defaultNotFoundRequestURL = "content/items/00000000000000000000000000000000"
)

// Checks lists every check Run performs, in order.
var Checks = []string{
	CheckInfo, CheckSchema, CheckMissingRequired, CheckConnect, CheckListItems,
	CheckListStopsOnError, CheckListCanceled, CheckDoNotFound, CheckDoCanceled,
	CheckRefusedCredentials, CheckCloseIdempotent,
}

// Options say how to configure the source under test.
type Options struct {
	// Valid holds the attributes of a configuration that connects (to the
	// simulator, say); attributes absent from it are null.
	Valid map[string]cty.Value
	// Refused holds the attributes of a configuration whose credentials
	// the portal refuses (a wrong password). Nil skips that check.
	Refused map[string]cty.Value
	// MinItems is how many items (excluded ones included) the org behind
	// Valid holds at least (default 1).
	MinItems int
	// NotFound is a portal request URL that names nothing (default an
	// item id of zeros under content/items).
	NotFound string
	// HangLimit is how long a cancelled call may take to return before the
	// suite calls it a hang (default 10 s).
	HangLimit time.Duration
	// KnownGaps maps a check name to the reason the source cannot pass
	// it; such checks are skipped with that reason. A name that matches no
	// check fails the run.
	KnownGaps map[string]string
}

// Run runs every contract check against sources made by newSource, in this
// process and over gRPC. Each check gets a fresh source and closes it.
func Run(t *testing.T, newSource func() sdk.Source, opts Options) {
	t.Helper()
	if opts.MinItems <= 0 {
		opts.MinItems = 1
	}
	if opts.NotFound == "" {
		opts.NotFound = defaultNotFoundRequestURL
	}
	if opts.HangLimit <= 0 {
		opts.HangLimit = defaultHangLimit
	}
	for name := range opts.KnownGaps {
		found := false
		for _, c := range Checks {
			found = found || c == name
		}
		if !found {
			t.Errorf("sourcetest: KnownGaps names %q, which is not a check (checks: %s)", name, strings.Join(Checks, ", "))
		}
	}
	t.Run("in-process", func(t *testing.T) { runChecks(t, func(*testing.T) sdk.Source { return newSource() }, opts) })
	t.Run("grpc", func(t *testing.T) {
		runChecks(t, func(t *testing.T) sdk.Source { return grpctest.Source(t, newSource()) }, opts)
	})
}

type suite struct {
	newSource func(t *testing.T) sdk.Source
	opts      Options
	schema    sdk.Schema
	secrets   []string
}

func runChecks(t *testing.T, newSource func(t *testing.T) sdk.Source, opts Options) {
	s := &suite{newSource: newSource, opts: opts, schema: newSource(t).Schema()}
	s.secrets = append(sensitiveValues(s.schema, opts.Valid), sensitiveValues(s.schema, opts.Refused)...)
	checks := map[string]func(t *testing.T){
		CheckInfo:               s.info,
		CheckSchema:             s.schemaCheck,
		CheckMissingRequired:    s.missingRequired,
		CheckConnect:            s.connect,
		CheckListItems:          s.listItems,
		CheckListStopsOnError:   s.listStops,
		CheckListCanceled:       s.listCanceled,
		CheckDoNotFound:         s.doNotFound,
		CheckDoCanceled:         s.doCanceled,
		CheckRefusedCredentials: s.refused,
		CheckCloseIdempotent:    s.closeIdempotent,
	}
	for _, name := range Checks {
		t.Run(name, func(t *testing.T) {
			if reason, ok := opts.KnownGaps[name]; ok {
				t.Skipf("known gap of this source: %s", reason)
			}
			checks[name](t)
		})
	}
}

// configured returns a source configured from attrs, closed when the check
// ends.
func (s *suite) configured(t *testing.T, attrs map[string]cty.Value) sdk.Source {
	t.Helper()
	src := s.newSource(t)
	t.Cleanup(func() { _ = src.Close() })
	cfg, err := s.schema.ConfigValue(attrs)
	if err != nil {
		t.Fatalf("sourcetest: configuration: %v", err)
	}
	d := src.Configure(context.Background(), sdk.ConfigureRequest{Config: cfg})
	s.noSecretsInDiags(t, d)
	if d.HasErrors() {
		t.Fatalf("Configure rejected the configuration: %v", d.Err())
	}
	return src
}

// connected returns a configured source after a successful Connect.
func (s *suite) connected(t *testing.T) (sdk.Source, sdk.OrgInfo) {
	t.Helper()
	src := s.configured(t, s.opts.Valid)
	info, err := src.Connect(context.Background())
	if err != nil {
		s.noSecrets(t, "error", err.Error())
		t.Fatalf("Connect: %v", err)
	}
	return src, info
}

func (s *suite) noSecrets(t *testing.T, where, text string) {
	t.Helper()
	for _, sec := range s.secrets {
		if strings.Contains(text, sec) {
			t.Errorf("%s shows the value of a sensitive attribute: %q", where, text)
		}
	}
}

func (s *suite) noSecretsInDiags(t *testing.T, d sdk.Diagnostics) {
	t.Helper()
	for _, x := range d {
		s.noSecrets(t, "diagnostic", x.Summary+" "+x.Detail)
	}
}

func (s *suite) info(t *testing.T) {
	info := s.newSource(t).Info()
	if info.Kind != sdk.KindSource {
		t.Errorf("Info().Kind = %q, want %q", info.Kind, sdk.KindSource)
	}
	if info.Name == "" || info.Version == "" || info.Description == "" {
		t.Errorf("Info() = %+v: Name, Version and Description must be set", info)
	}
}

func (s *suite) schemaCheck(t *testing.T) {
	seen := map[string]bool{}
	for _, a := range s.schema.Attributes {
		if seen[a.Name] {
			t.Errorf("attribute %q declared twice", a.Name)
		}
		seen[a.Name] = true
		if a.Description == "" {
			t.Errorf("attribute %q has no description", a.Name)
		}
		if a.Required {
			if _, ok := s.opts.Valid[a.Name]; !ok {
				t.Errorf("Options.Valid lacks required attribute %q", a.Name)
			}
		}
	}
}

func (s *suite) missingRequired(t *testing.T) {
	n := 0
	for _, a := range s.schema.Attributes {
		if !a.Required {
			continue
		}
		n++
		t.Run(a.Name, func(t *testing.T) {
			attrs := map[string]cty.Value{}
			for k, v := range s.opts.Valid {
				if k != a.Name {
					attrs[k] = v
				}
			}
			src := s.newSource(t)
			defer src.Close()
			cfg, err := s.schema.ConfigValue(attrs)
			if err != nil {
				t.Fatalf("sourcetest: configuration: %v", err)
			}
			d := src.Configure(context.Background(), sdk.ConfigureRequest{Config: cfg})
			s.noSecretsInDiags(t, d)
			if !d.HasErrors() {
				t.Fatalf("Configure accepted a configuration without required %q", a.Name)
			}
			found := false
			for _, x := range d {
				if x.Severity == sdk.SeverityError && len(x.Path) > 0 && x.Path[0] == a.Name {
					found = true
				}
			}
			if !found {
				t.Errorf("no error diagnostic whose path starts at %q; got %v", a.Name, d.Err())
			}
		})
	}
	if n == 0 {
		t.Skip("the schema has no required attribute")
	}
}

func (s *suite) connect(t *testing.T) {
	_, info := s.connected(t)
	if info.PortalURL == "" || info.Username == "" {
		t.Errorf("Connect: OrgInfo %+v lacks the portal URL or the signed-in user", info)
	}
	if info.Mode != "online" && info.Mode != "enterprise" {
		t.Errorf("Connect: Mode %q, want online or enterprise", info.Mode)
	}
	if info.ItemCount < -1 {
		t.Errorf("Connect: ItemCount %d; -1 means unknown", info.ItemCount)
	}
}

func (s *suite) listItems(t *testing.T) {
	src, _ := s.connected(t)
	seen := map[string]int{}
	n := 0
	err := src.ListItems(context.Background(), sdk.ListItemsRequest{}, func(li sdk.ListedItem) error {
		n++
		it := li.Item
		seen[it.ID]++
		if it.ID == "" || it.Type == "" || it.Title == "" {
			t.Errorf("listed item without an id, type or title: %+v", it)
		}
		if li.Excluded && strings.TrimSpace(li.Reason) == "" {
			t.Errorf("item %s %q excluded without a reason", it.ID, it.Title)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("ListItems: %v", err)
	}
	for id, c := range seen {
		if c != 1 {
			t.Errorf("item %s listed %d times, want once", id, c)
		}
	}
	if n < s.opts.MinItems {
		t.Errorf("ListItems yielded %d items, want at least %d", n, s.opts.MinItems)
	}
}

func (s *suite) listStops(t *testing.T) {
	src, _ := s.connected(t)
	stop := errors.New("sourcetest: stop listing")
	calls := 0
	err := src.ListItems(context.Background(), sdk.ListItemsRequest{}, func(sdk.ListedItem) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) && (err == nil || !strings.Contains(err.Error(), stop.Error())) {
		t.Errorf("ListItems with a failing callback returned %v, want the callback's error", err)
	}
	if calls != 1 {
		t.Errorf("ListItems called the callback %d times after it failed, want 1", calls)
	}
}

func (s *suite) listCanceled(t *testing.T) {
	src, _ := s.connected(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	returned, late := false, 0
	done := make(chan error, 1)
	go func() {
		err := src.ListItems(ctx, sdk.ListItemsRequest{}, func(sdk.ListedItem) error {
			mu.Lock()
			defer mu.Unlock()
			if returned {
				late++
			}
			cancel() // the run stops while the listing is under way
			return nil
		})
		mu.Lock()
		returned = true
		mu.Unlock()
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("ListItems cancelled mid-way returned nil")
		}
		s.noSecrets(t, "error", err.Error())
		if k := sdk.KindOf(err); k != sdk.KindCanceled {
			t.Errorf("ListItems cancelled mid-way: kind %v (%v), want canceled", k, err)
		}
	case <-time.After(s.opts.HangLimit):
		t.Fatalf("ListItems did not return within %v of its context being cancelled", s.opts.HangLimit)
	}
	time.Sleep(lateCallbackWait)
	mu.Lock()
	defer mu.Unlock()
	if late > 0 {
		t.Errorf("the callback was called %d time(s) after ListItems returned", late)
	}
}

func (s *suite) doNotFound(t *testing.T) {
	src, _ := s.connected(t)
	resp, err := src.Do(context.Background(), sdk.PortalRequest{Method: "GET", URL: s.opts.NotFound, Query: map[string][]string{"f": {"json"}}})
	if err == nil {
		resp.Body.Close()
		t.Fatalf("Do %s: no error, want not found", s.opts.NotFound)
	}
	s.noSecrets(t, "error", err.Error())
	if !sdk.IsNotFound(err) {
		t.Errorf("Do %s: kind %v (%v), want not found", s.opts.NotFound, sdk.KindOf(err), err)
	}
}

func (s *suite) doCanceled(t *testing.T) {
	src, _ := s.connected(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	resp, err := src.Do(ctx, sdk.PortalRequest{Method: "GET", URL: "portals/self", Query: map[string][]string{"f": {"json"}}})
	if err == nil {
		resp.Body.Close()
		t.Fatal("Do with a cancelled context returned no error")
	}
	if k := sdk.KindOf(err); k != sdk.KindCanceled {
		t.Errorf("Do with a cancelled context: kind %v (%v), want canceled", k, err)
	}
}

func (s *suite) refused(t *testing.T) {
	if s.opts.Refused == nil {
		t.Skip("Options.Refused not given")
	}
	src := s.configured(t, s.opts.Refused)
	_, err := src.Connect(context.Background())
	if err == nil {
		t.Fatal("Connect with refused credentials returned no error")
	}
	s.noSecrets(t, "error", err.Error())
	if k := sdk.KindOf(err); k != sdk.KindAuth {
		t.Errorf("Connect with refused credentials: kind %v (%v), want auth", k, err)
	}
}

func (s *suite) closeIdempotent(t *testing.T) {
	src := s.newSource(t)
	if err := src.Close(); err != nil {
		t.Errorf("Close of an unconfigured source: %v", err)
	}
	src, _ = s.connected(t)
	for i := range 2 {
		if err := src.Close(); err != nil {
			t.Errorf("Close #%d: %v", i+1, err)
		}
	}
}

// sensitiveValues lists the non-trivial string values of sensitive
// attributes in attrs, nested objects and maps included (a source's auth
// block holds its password).
func sensitiveValues(s sdk.Schema, attrs map[string]cty.Value) []string {
	var out []string
	var walk func(v cty.Value)
	walk = func(v cty.Value) {
		if !v.IsKnown() || v.IsNull() {
			return
		}
		switch {
		case v.Type() == cty.String:
			if len(v.AsString()) >= 4 {
				out = append(out, v.AsString())
			}
		case v.CanIterateElements():
			for it := v.ElementIterator(); it.Next(); {
				_, ev := it.Element()
				walk(ev)
			}
		}
	}
	for _, a := range s.Attributes {
		if v, ok := attrs[a.Name]; ok && a.Sensitive {
			walk(v)
		}
	}
	for _, b := range s.Blocks {
		if v, ok := attrs[b.TypeName]; ok {
			walk(sensitiveIn(b.Schema, v))
		}
	}
	return out
}

// sensitiveIn keeps only the sensitive attributes of a block's value.
func sensitiveIn(s sdk.Schema, v cty.Value) cty.Value {
	if !v.IsKnown() || v.IsNull() || !v.Type().IsObjectType() {
		return cty.NilVal
	}
	var keep []cty.Value
	for _, a := range s.Attributes {
		if a.Sensitive && v.Type().HasAttribute(a.Name) {
			keep = append(keep, v.GetAttr(a.Name))
		}
	}
	if len(keep) == 0 {
		return cty.NilVal
	}
	return cty.TupleVal(keep)
}
