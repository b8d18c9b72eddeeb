package local

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/sinktest"
	"github.com/zclconf/go-cty/cty"
)

func newSink(t *testing.T, dir string) *Sink {
	t.Helper()
	s := New().(*Sink)
	resp, diags := s.Configure(context.Background(), sdk.ConfigureRequest{Config: cty.ObjectVal(map[string]cty.Value{"path": cty.StringVal(dir)})})
	if diags.HasErrors() {
		t.Fatalf("Configure: %v", diags.Err())
	}
	abs, _ := filepath.Abs(dir)
	if want := maxPath - len(abs) - 1; resp.Features.MaxPathLength != want {
		t.Fatalf("MaxPathLength = %d, want %d", resp.Features.MaxPathLength, want)
	}
	if resp.Features.Location != abs || !resp.Features.RangeGet {
		t.Fatalf("features = %+v", resp.Features)
	}
	if err := s.Preflight(context.Background()); err != nil {
		t.Fatalf("Preflight: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func put(t *testing.T, s *Sink, p, body string) {
	t.Helper()
	resp, err := s.Put(context.Background(), sdk.PutRequest{Path: p, Size: int64(len(body)), Body: strings.NewReader(body)})
	if err != nil {
		t.Fatalf("Put %s: %v", p, err)
	}
	if resp.Size != int64(len(body)) {
		t.Fatalf("Put size %d, want %d", resp.Size, len(body))
	}
}

func get(t *testing.T, s *Sink, req sdk.GetRequest) string {
	t.Helper()
	rc, err := s.Get(context.Background(), req)
	if err != nil {
		t.Fatalf("Get %+v: %v", req, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRoundTripRangesListDelete(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "backups") // missing: Preflight creates it
	s := newSink(t, dir)
	put(t, s, "RUN_1/Web Map/Parks_abc.json", "0123456789")
	put(t, s, "RUN_1/Web Map/Parks_abc.json", "replaced!") // a second Put replaces
	put(t, s, "RUN_1/manifest.json", "{}")
	put(t, s, "RUN_2/x.txt", "x")

	if got := get(t, s, sdk.GetRequest{Path: "RUN_1/Web Map/Parks_abc.json"}); got != "replaced!" {
		t.Fatalf("Get = %q", got)
	}
	for _, tc := range []struct {
		off, n int64
		want   string
	}{{0, 3, "rep"}, {3, 2, "la"}, {5, 0, "ced!"}, {8, 100, "!"}} {
		if got := get(t, s, sdk.GetRequest{Path: "RUN_1/Web Map/Parks_abc.json", Offset: tc.off, Length: tc.n}); got != tc.want {
			t.Errorf("range %d+%d = %q, want %q", tc.off, tc.n, got, tc.want)
		}
	}
	fi, err := s.Stat(context.Background(), "RUN_1/manifest.json")
	if err != nil || fi.Size != 2 || fi.Path != "RUN_1/manifest.json" {
		t.Fatalf("Stat = %+v, %v", fi, err)
	}

	// A stray temp file (from a crash) is never listed.
	os.WriteFile(filepath.Join(dir, "RUN_1", tempPrefix+"junk"), []byte("x"), 0o644)
	list := func(prefix string) []string {
		var out []string
		if err := s.List(context.Background(), sdk.ListRequest{Prefix: prefix}, func(o sdk.ObjectInfo) error {
			out = append(out, o.Path)
			return nil
		}); err != nil {
			t.Fatalf("List %q: %v", prefix, err)
		}
		sort.Strings(out)
		return out
	}
	for prefix, want := range map[string]string{
		"":              "RUN_1/Web Map/Parks_abc.json RUN_1/manifest.json RUN_2/x.txt",
		"RUN_1/":        "RUN_1/Web Map/Parks_abc.json RUN_1/manifest.json",
		"RUN_":          "RUN_1/Web Map/Parks_abc.json RUN_1/manifest.json RUN_2/x.txt",
		"RUN_1/Web":     "RUN_1/Web Map/Parks_abc.json",
		"RUN_1/man":     "RUN_1/manifest.json",
		"nothing/here/": "",
	} {
		if got := strings.Join(list(prefix), " "); got != want {
			t.Errorf("List(%q) = %q, want %q", prefix, got, want)
		}
	}
	sentinel := errors.New("stop")
	if err := s.List(context.Background(), sdk.ListRequest{}, func(sdk.ObjectInfo) error { return sentinel }); !errors.Is(err, sentinel) {
		t.Errorf("List did not pass fn's error through: %v", err)
	}

	if err := s.Delete(context.Background(), "RUN_1/Web Map/Parks_abc.json"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "RUN_1", "Web Map")); !os.IsNotExist(err) {
		t.Errorf("empty folder left after Delete: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "RUN_1")); err != nil {
		t.Errorf("non-empty folder removed: %v", err)
	}
	if err := s.Delete(context.Background(), "RUN_2/x.txt"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Errorf("Delete removed the sink root: %v", err)
	}
}

func TestNotFound(t *testing.T) {
	s := newSink(t, t.TempDir())
	ctx := context.Background()
	if _, err := s.Stat(ctx, "missing.txt"); !sdk.IsNotFound(err) {
		t.Errorf("Stat: %v", err)
	}
	if _, err := s.Get(ctx, sdk.GetRequest{Path: "a/missing.txt"}); !sdk.IsNotFound(err) {
		t.Errorf("Get: %v", err)
	}
	if err := s.Delete(ctx, "missing.txt"); !sdk.IsNotFound(err) {
		t.Errorf("Delete: %v", err)
	}
	put(t, s, "dir/file", "x")
	if _, err := s.Stat(ctx, "dir"); !sdk.IsNotFound(err) {
		t.Errorf("Stat of a folder: %v", err)
	}
}

type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, sdk.Retryable("connection reset")
	}
	n := min(len(p), f.n)
	f.n -= n
	return n, nil
}

// cancelReader cancels the context after some bytes, as SIGINT would.
type cancelReader struct {
	n      int
	cancel func()
}

func (c *cancelReader) Read(p []byte) (int, error) {
	if c.n <= 0 {
		c.cancel()
		return len(p), nil
	}
	n := min(len(p), c.n)
	c.n -= n
	return n, nil
}

func TestFailedPutLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	s := newSink(t, dir)
	put(t, s, "a/kept.txt", "old")

	_, err := s.Put(context.Background(), sdk.PutRequest{Path: "a/new.bin", Size: -1, Body: &failingReader{n: 100000}})
	if sdk.KindOf(err) != sdk.KindRetryable {
		t.Fatalf("body error not passed through as retryable: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	_, err = s.Put(ctx, sdk.PutRequest{Path: "a/kept.txt", Size: -1, Body: &cancelReader{n: 70000, cancel: cancel}})
	if sdk.KindOf(err) != sdk.KindCanceled {
		t.Fatalf("cancelled Put: %v", err)
	}
	// Short body: the size promise is checked before the rename.
	_, err = s.Put(context.Background(), sdk.PutRequest{Path: "a/short.bin", Size: 10, Body: strings.NewReader("abc")})
	if err == nil {
		t.Fatal("short body accepted")
	}

	entries, _ := os.ReadDir(filepath.Join(dir, "a"))
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, ",") != "kept.txt" {
		t.Fatalf("folder holds %v after failed Puts, want only kept.txt", names)
	}
	if got := get(t, s, sdk.GetRequest{Path: "a/kept.txt"}); got != "old" {
		t.Fatalf("failed Put changed the old object: %q", got)
	}
}

func TestConfigureRefusesRoots(t *testing.T) {
	s := New()
	root := "/"
	if runtime.GOOS == "windows" {
		root = `C:\`
	}
	_, diags := s.Configure(context.Background(), sdk.ConfigureRequest{Config: cty.ObjectVal(map[string]cty.Value{"path": cty.StringVal(root)})})
	if !diags.HasErrors() || !strings.Contains(diags.Err().Error(), "root") || diags[0].Path[0] != "path" {
		t.Fatalf("root accepted or diagnostic unclear: %v", diags)
	}
	_, diags = s.Configure(context.Background(), sdk.ConfigureRequest{Config: cty.ObjectVal(map[string]cty.Value{"path": cty.StringVal(" ")})})
	if !diags.HasErrors() {
		t.Fatal("empty path accepted")
	}
	long := filepath.Join(t.TempDir(), strings.Repeat("x", 230))
	_, diags = s.Configure(context.Background(), sdk.ConfigureRequest{Config: cty.ObjectVal(map[string]cty.Value{"path": cty.StringVal(long)})})
	if !diags.HasErrors() {
		t.Fatal("path too long for any file name accepted")
	}
}

func TestIsRoot(t *testing.T) {
	for _, tc := range []struct {
		path    string
		windows bool
		want    bool
	}{
		{"/", false, true},
		{"//", false, true},
		{"/mnt", false, false},
		{"/mnt/gis-backups", false, false},
		{`C:\`, true, true},
		{`C:`, true, true},
		{`c:/`, true, true},
		{`C:\Backups`, true, false},
		{`\\nas\gis`, true, true},
		{`\\nas\gis\`, true, true},
		{`\\nas\gis\backups`, true, false},
		{`\\?\C:\`, true, true},
		{`\\?\C:\Backups`, true, false},
		{`\\?\UNC\nas\gis`, true, true},
		{`\\?\UNC\nas\gis\b`, true, false},
		{`\`, true, true},
	} {
		if got := isRoot(tc.path, tc.windows); got != tc.want {
			t.Errorf("isRoot(%q, windows=%v) = %v, want %v", tc.path, tc.windows, got, tc.want)
		}
	}
}

func TestLongPath(t *testing.T) {
	for in, want := range map[string]string{
		`C:\Backups\x`:      `\\?\C:\Backups\x`,
		`\\nas\gis\b\x`:     `\\?\UNC\nas\gis\b\x`,
		`\\?\C:\already`:    `\\?\C:\already`,
		`relative\path`:     `relative\path`,
		`\\.\pipe\whatever`: `\\.\pipe\whatever`,
	} {
		if got := longPath(in); got != want {
			t.Errorf("longPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRejectsEscapingPaths(t *testing.T) {
	s := newSink(t, t.TempDir())
	for _, p := range []string{"", "/abs", "../up", "a/../../up", "a//b", "a/./b", `a\b`, "C:/x", "a/" + tempPrefix + "x"} {
		_, err := s.Put(context.Background(), sdk.PutRequest{Path: p, Size: 1, Body: bytes.NewReader([]byte("x"))})
		if err == nil || sdk.KindOf(err) != sdk.KindPermanent {
			t.Errorf("Put(%q) = %v, want permanent error", p, err)
		}
	}
}

func TestPermissionErrorHasHint(t *testing.T) {
	if runtime.GOOS == "windows" || os.Geteuid() == 0 {
		t.Skip("permission bits are not enforced here")
	}
	dir := t.TempDir()
	s := newSink(t, dir)
	os.Chmod(dir, 0o500)
	defer os.Chmod(dir, 0o755)
	_, err := s.Put(context.Background(), sdk.PutRequest{Path: "x/y", Size: 1, Body: strings.NewReader("x")})
	if sdk.KindOf(err) != sdk.KindPermanent || !strings.Contains(err.Error(), "permission") {
		t.Fatalf("err = %v", err)
	}
	if err := s.Preflight(context.Background()); err == nil || !strings.Contains(err.Error(), "write permission") {
		t.Fatalf("Preflight = %v", err)
	}
}

func TestCloseIdempotent(t *testing.T) {
	s := newSink(t, t.TempDir())
	for i := range 2 {
		if err := s.Close(); err != nil {
			t.Fatalf("Close #%d: %v", i+1, err)
		}
	}
	if _, err := s.Stat(context.Background(), "x"); err == nil {
		t.Fatal("used after Close")
	}
}

func TestConformance(t *testing.T) {
	opts := sinktest.Options{}
	if testing.Short() {
		opts.LargeSize = 8 << 20
	}
	sinktest.Run(t, func(t *testing.T) sdk.Sink { return New() }, func(t *testing.T) map[string]cty.Value {
		return map[string]cty.Value{"path": cty.StringVal(t.TempDir())}
	}, opts)
}
