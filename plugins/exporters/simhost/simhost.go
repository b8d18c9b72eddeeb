// Package simhost runs exporters against the simulated organization the
// way the engine does: a Host whose Portal goes through a real `arcgis`
// source signed in to a sim.Server, and an ArtifactWriter that records
// every artifact with its SHA-256, like a sink would. A third-party
// exporter's tests can reuse it in a few lines:
//
//	env := simhost.Start(t, sim.Options{Items: 60})
//	maps := env.Find(t, func(it sdk.Item) bool { return it.Type == "Web Map" })
//	rec := simhost.NewRecorder()
//	res, err := myExporter.Export(ctx, env.Request(maps[0]), env.Host, rec)
//
// Its Host and requests are also what the exporter contract suite
// (sdk/exportertest) needs; contract_test.go runs that suite for every
// built-in exporter.
package simhost

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agolpipe/agolpipe/plugins/sources/arcgis"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sim"
	"github.com/zclconf/go-cty/cty"
)

// Env is a running simulator with a source signed in to it as the org
// administrator.
type Env struct {
	Srv    *sim.Server
	Source sdk.Source
	Org    sdk.OrgInfo
	Host   *Host
	RunID  string
}

// Start starts a simulator with opt, signs an arcgis source in as the first
// (admin) user and registers cleanup with t.
func Start(t testing.TB, opt sim.Options) *Env {
	t.Helper()
	srv, err := sim.Start(opt)
	if err != nil {
		t.Fatalf("sim.Start: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	users := srv.Users()
	if len(users) == 0 {
		t.Fatal("simulator has no users")
	}
	return StartAs(t, srv, users[0].Username, users[0].Password)
}

// StartAs signs a source in to srv as the given user.
func StartAs(t testing.TB, srv *sim.Server, username, password string) *Env {
	t.Helper()
	src := arcgis.New()
	cfg := Config(src.Schema(), map[string]cty.Value{
		"url":  cty.StringVal(srv.PortalURL()),
		"auth": cty.ObjectVal(map[string]cty.Value{"username": cty.StringVal(username), "password": cty.StringVal(password)}),
	})
	ctx := context.Background()
	if d := src.Configure(ctx, sdk.ConfigureRequest{Config: cfg}); d.HasErrors() {
		t.Fatalf("configure arcgis source: %v", d.Err())
	}
	info, err := src.Connect(ctx)
	if err != nil {
		t.Fatalf("connect to simulator: %v", err)
	}
	t.Cleanup(func() { src.Close() })
	return &Env{Srv: srv, Source: src, Org: info, Host: &Host{Do: src.Do}, RunID: "run" + time.Now().UTC().Format("20060102T150405")}
}

// Items lists every item the source covers (excluded ones left out).
func (e *Env) Items(t testing.TB) []sdk.Item {
	t.Helper()
	var out []sdk.Item
	err := e.Source.ListItems(context.Background(), sdk.ListItemsRequest{}, func(li sdk.ListedItem) error {
		if !li.Excluded {
			out = append(out, li.Item)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("list items: %v", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Find returns the listed items for which keep is true.
func (e *Env) Find(t testing.TB, keep func(sdk.Item) bool) []sdk.Item {
	var out []sdk.Item
	for _, it := range e.Items(t) {
		if keep(it) {
			out = append(out, it)
		}
	}
	return out
}

// Request builds the ExportRequest the engine would send for it.
func (e *Env) Request(it sdk.Item) sdk.ExportRequest {
	return sdk.ExportRequest{Item: it, RunID: e.RunID, Org: e.Org}
}

// HasKeyword reports whether the item carries the type keyword.
func HasKeyword(it sdk.Item, kw string) bool {
	for _, k := range it.TypeKeywords {
		if strings.EqualFold(k, kw) {
			return true
		}
	}
	return false
}

// Config builds a configuration value of schema from attrs, every other
// attribute and block null, as the host would decode a block.
func Config(schema sdk.Schema, attrs map[string]cty.Value) cty.Value {
	ty := schema.ObjectType()
	vals := map[string]cty.Value{}
	for name, at := range ty.AttributeTypes() {
		if v, ok := attrs[name]; ok {
			vals[name] = v
		} else {
			vals[name] = cty.NullVal(at)
		}
	}
	return cty.ObjectVal(vals)
}

// Host is an sdk.Host whose Portal is a source's Do. Logs and progress are
// kept for assertions. Safe for concurrent use.
type Host struct {
	Do func(ctx context.Context, req sdk.PortalRequest) (*sdk.PortalResponse, error)

	mu       sync.Mutex
	logs     []string
	progress []sdk.Progress
}

// Portal performs the request through the source.
func (h *Host) Portal(ctx context.Context, req sdk.PortalRequest) (*sdk.PortalResponse, error) {
	return h.Do(ctx, req)
}

// Progress records p.
func (h *Host) Progress(_ context.Context, p sdk.Progress) {
	h.mu.Lock()
	h.progress = append(h.progress, p)
	h.mu.Unlock()
}

// Log records a line.
func (h *Host) Log(_ context.Context, level sdk.LogLevel, msg string) {
	h.mu.Lock()
	h.logs = append(h.logs, string(level)+": "+msg)
	h.mu.Unlock()
}

// Logs returns the lines logged so far.
func (h *Host) Logs() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.logs...)
}

// Artifact is one recorded artifact.
type Artifact struct {
	sdk.Artifact
	// Bytes is how many bytes the body had; SHA256 its hex digest.
	Bytes  int64
	SHA256 string
	// Data holds the body when it is at most KeepBytes long.
	Data []byte
}

// KeepBytes bounds the bodies a Recorder keeps for content assertions.
const KeepBytes = 64 << 20

// Recorder is an sdk.ArtifactWriter that reads every artifact to the end,
// like a sink, and records it. A body that fails to read records nothing,
// as a sink's failed write leaves nothing behind. Safe for concurrent use.
type Recorder struct {
	mu   sync.Mutex
	list []Artifact
	// Failed counts writes whose body failed.
	Failed int
}

// NewRecorder returns an empty recorder.
func NewRecorder() *Recorder { return &Recorder{} }

// Write reads body to the end, hashing it.
func (r *Recorder) Write(ctx context.Context, a sdk.Artifact, body io.Reader) error {
	h := sha256.New()
	var keep bytes.Buffer
	n, err := io.Copy(io.MultiWriter(h, &limitBuf{&keep, KeepBytes}), body)
	if err == nil {
		err = ctx.Err()
	}
	if err == nil && a.Size >= 0 && a.Size != n {
		err = fmt.Errorf("artifact %s declared %d bytes, body had %d", a.Name, a.Size, n)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.Failed++
		return err
	}
	rec := Artifact{Artifact: a, Bytes: n, SHA256: hex.EncodeToString(h.Sum(nil))}
	if n <= KeepBytes {
		rec.Data = keep.Bytes()
	}
	r.list = append(r.list, rec)
	return nil
}

type limitBuf struct {
	b   *bytes.Buffer
	max int
}

func (l *limitBuf) Write(p []byte) (int, error) {
	if l.b.Len()+len(p) <= l.max {
		l.b.Write(p)
	}
	return len(p), nil
}

// Artifacts returns what was recorded, in write order.
func (r *Recorder) Artifacts() []Artifact {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Artifact(nil), r.list...)
}

// Names returns the recorded artifact names, in write order.
func (r *Recorder) Names() []string {
	var out []string
	for _, a := range r.Artifacts() {
		out = append(out, a.Name)
	}
	return out
}

// Get returns the last artifact called name.
func (r *Recorder) Get(name string) (Artifact, bool) {
	l := r.Artifacts()
	for i := len(l) - 1; i >= 0; i-- {
		if l[i].Name == name {
			return l[i], true
		}
	}
	return Artifact{}, false
}

// SHA256 is the hex digest of b, for expected values.
func SHA256(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
