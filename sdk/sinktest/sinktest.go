// Package sinktest is the conformance suite every agolpipe sink runs: the
// built-in ones against real servers, and a third-party sink in a few lines:
//
//	func TestConformance(t *testing.T) {
//		sinktest.Run(t,
//			func(t *testing.T) sdk.Sink { return mysink.New() },
//			func(t *testing.T) map[string]cty.Value {
//				return map[string]cty.Value{"path": cty.StringVal(t.TempDir())}
//			},
//			sinktest.Options{})
//	}
//
// Run runs every check twice: "in-process" against the sink itself, and
// "grpc" against the same sink served through sdk/grpcplugin's real
// adapters inside the test process (configuration as msgpack, bodies on
// the data channel from 1 MiB up and as chunk streams below, errors with
// their kind on the wire), the road every run takes. A sink therefore needs
// no test of its own for the plugin protocol. RunLaunched runs the checks
// once against a sink that is already behind the protocol, such as a
// plugin binary launched the way agolpipe launches it.
//
// Each check is a named subtest (see the Check* constants), so a sink
// that cannot pass one says so explicitly in Options.KnownGaps with a reason,
// the way rclone's backends list their known failures, instead of quietly
// not running it. Configured, Config, CutAfter and PutCut help a sink's own
// tests (a server that goes away mid-upload, for one).
//
// The suite checks the contract documented on sdk.Sink: atomic Put (a body
// that fails, or a context cancelled mid-upload, leaves nothing visible, and
// a failed overwrite keeps the old object), replace on overwrite, List yields
// every object under a prefix exactly once, Stat and Get agree with what was
// written (sha256), ranged Get, not-found recognisable by sdk.IsNotFound for
// Stat, Get and Delete, concurrent Puts, idempotent Close, and a large
// object streamed with bounded memory.
package sinktest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"runtime/metrics"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/grpcplugin/grpctest"
)

// Names of the checks, usable as keys of Options.KnownGaps. A subtest of a
// check (for example "RoundTrip/size=0") can be named too.
const (
	CheckRoundTrip                = "RoundTrip"
	CheckUnknownSize              = "UnknownSize"
	CheckOverwrite                = "Overwrite"
	CheckFailedWriteLeavesNothing = "FailedWriteLeavesNothing"
	CheckFailedOverwriteKeepsOld  = "FailedOverwriteKeepsOld"
	CheckCanceledPutLeavesNothing = "CanceledPutLeavesNothing"
	CheckList                     = "List"
	CheckNames                    = "Names"
	CheckStat                     = "Stat"
	CheckGetRange                 = "GetRange"
	CheckNotFound                 = "NotFound"
	CheckDelete                   = "Delete"
	CheckConcurrentPut            = "ConcurrentPut"
	CheckCloseIdempotent          = "CloseIdempotent"
	CheckLargeStreamed            = "LargeStreamed"
)

// Checks lists every check Run performs, in order.
var Checks = []string{
	CheckRoundTrip, CheckUnknownSize, CheckOverwrite, CheckFailedWriteLeavesNothing,
	CheckFailedOverwriteKeepsOld, CheckCanceledPutLeavesNothing, CheckList, CheckNames, CheckStat,
	CheckGetRange, CheckNotFound, CheckDelete, CheckConcurrentPut, CheckCloseIdempotent,
	CheckLargeStreamed,
}

// DefaultLargeSize is the size of the streamed large-object check.
const DefaultLargeSize = 64 << 20

// DefaultMaxHeapGrowth is how far the test process's heap may grow above its
// baseline while the large object streams. It is deliberately generous: it
// catches a sink that buffers a whole artifact (64 MiB and more), not one that
// keeps a few upload parts in flight.
const DefaultMaxHeapGrowth = 48 << 20

// Options tune Run for one sink.
type Options struct {
	// LargeSize is the size of the streamed large-object check (default
	// 64 MiB). The object is generated on the fly, never held in memory.
	LargeSize int64
	// MaxHeapGrowth bounds the growth of this test process's live heap
	// (runtime/metrics /gc/heap/live:bytes, sampled every few milliseconds
	// and once more after a final GC) over its baseline while the large
	// object is written and read back (default 48 MiB). A sink launched in
	// another process (RunLaunched) is measured on the host side only.
	MaxHeapGrowth int64
	// MaxHeapGrowthGRPC is the same bound for Run's "grpc" pass, where
	// client and server share this process, so the gRPC stream's buffers
	// and the sink's own both count (default MaxHeapGrowth).
	MaxHeapGrowthGRPC int64
	// BoundarySizes are extra sizes for the round trip, typically the sink's
	// block or part size and its neighbours (n-1, n, n+1), so chunking code
	// is exercised at its edges.
	BoundarySizes []int64
	// KnownGaps maps a check name to the reason the sink cannot pass it; such
	// checks are skipped with that reason (rclone-style explicit gaps). A
	// name that matches no check fails the run, so a typo cannot hide a gap.
	KnownGaps map[string]string
}

// Run runs every conformance check twice, as the subtests "in-process" and
// "grpc". newSink returns a new, unconfigured sink (a test may set
// unexported knobs on it first, a small listing page say); config returns
// the attributes of a configuration whose namespace is empty and private to
// the calling check (a fresh temp dir, a fresh bucket prefix), the rest
// null (see Config); nil config means no attributes. For each check Run
// makes a sink, in the "grpc" pass serves it over gRPC in this process
// (sdk/grpcplugin/grpctest) and talks to it through the client adapter,
// configures it from config and preflights it, and closes it at the end.
// newSink and config are called with the check's *testing.T, so they may
// use t.TempDir, t.Cleanup and t.Fatal.
func Run(t *testing.T, newSink func(t *testing.T) sdk.Sink, config func(t *testing.T) map[string]cty.Value, opts Options) {
	t.Helper()
	opts = opts.withDefaults(t)
	attrs := func(t *testing.T) map[string]cty.Value {
		if config == nil {
			return nil
		}
		return config(t)
	}
	t.Run("in-process", func(t *testing.T) {
		runChecks(t, opts, opts.MaxHeapGrowth, func(t *testing.T) (sdk.Sink, func(*testing.T)) {
			return Configured(t, mustSink(t, newSink), attrs(t)), nil
		})
	})
	t.Run("grpc", func(t *testing.T) {
		runChecks(t, opts, opts.MaxHeapGrowthGRPC, func(t *testing.T) (sdk.Sink, func(*testing.T)) {
			served := track(mustSink(t, newSink))
			return Configured(t, served.client(grpctest.Sink(t, served)), attrs(t)), served.settle
		})
	})
}

// RunLaunched runs every conformance check once against sinks made by
// open, which returns a configured, preflighted sink that already talks to
// its plugin over the protocol (a plugin binary started with
// grpcplugin.Launch, or a built-in started by agolpipe's plugin host), with
// a namespace empty and private to the calling check. Run is the usual
// entry point; this one adds a real process boundary on top.
func RunLaunched(t *testing.T, open func(t *testing.T) sdk.Sink, opts Options) {
	t.Helper()
	opts = opts.withDefaults(t)
	runChecks(t, opts, opts.MaxHeapGrowth, func(t *testing.T) (sdk.Sink, func(*testing.T)) { return mustSink(t, open), nil })
}

func mustSink(t *testing.T, f func(t *testing.T) sdk.Sink) sdk.Sink {
	t.Helper()
	sk := f(t)
	if sk == nil {
		t.Fatal("sinktest: the function making the sink returned nil")
	}
	return sk
}

// withDefaults fills in defaults and fails t on a KnownGaps entry that
// names no check, so a typo cannot hide a gap.
func (opts Options) withDefaults(t *testing.T) Options {
	t.Helper()
	if opts.LargeSize <= 0 {
		opts.LargeSize = DefaultLargeSize
	}
	if opts.MaxHeapGrowth <= 0 {
		opts.MaxHeapGrowth = DefaultMaxHeapGrowth
	}
	if opts.MaxHeapGrowthGRPC <= 0 {
		opts.MaxHeapGrowthGRPC = opts.MaxHeapGrowth
	}
	for name := range opts.KnownGaps {
		top, _, _ := strings.Cut(name, "/")
		found := false
		for _, c := range Checks {
			if c == top {
				found = true
			}
		}
		if !found {
			t.Errorf("sinktest: KnownGaps names %q, which is not a check (checks: %s)", name, strings.Join(Checks, ", "))
		}
	}
	return opts
}

// runChecks runs each check as a subtest of t against sinks made by connect.
func runChecks(t *testing.T, opts Options, maxHeap int64, connect func(t *testing.T) (sdk.Sink, func(*testing.T))) {
	t.Helper()
	s := &suite{connect: connect, opts: opts, maxHeap: maxHeap}
	checks := map[string]func(t *testing.T){
		CheckRoundTrip:                s.roundTrip,
		CheckUnknownSize:              s.unknownSize,
		CheckOverwrite:                s.overwrite,
		CheckFailedWriteLeavesNothing: s.failedWrite,
		CheckFailedOverwriteKeepsOld:  s.failedOverwrite,
		CheckCanceledPutLeavesNothing: s.canceledPut,
		CheckList:                     s.list,
		CheckNames:                    s.names,
		CheckStat:                     s.stat,
		CheckGetRange:                 s.getRange,
		CheckNotFound:                 s.notFound,
		CheckDelete:                   s.delete,
		CheckConcurrentPut:            s.concurrentPut,
		CheckCloseIdempotent:          s.closeIdempotent,
		CheckLargeStreamed:            s.large,
	}
	for _, name := range Checks {
		t.Run(name, func(t *testing.T) {
			s.skipIfGap(t, name)
			checks[name](t)
		})
	}
}

type suite struct {
	// connect returns a configured, preflighted sink and, when the sink
	// is served over gRPC in this process, a function that waits until
	// the server side has finished every call (else nil).
	connect func(t *testing.T) (sdk.Sink, func(*testing.T))
	opts    Options
	maxHeap int64 // the heap bound of this pass
}

// skipIfGap skips t when its name (relative to Run's test) is a known gap.
func (s *suite) skipIfGap(t *testing.T, name string) {
	t.Helper()
	if reason, ok := s.opts.KnownGaps[name]; ok {
		t.Skipf("known gap of this sink: %s", reason)
	}
}

// open makes a sink for one check; the sink is emptied (best effort, so a
// real server does not fill up) and closed when the check ends.
func (s *suite) open(t *testing.T) sdk.Sink {
	t.Helper()
	sk, _ := s.openSettle(t)
	return sk
}

// openSettle is open for a check that looks at what a failed Put left
// behind: settle waits until the server side of a sink served in this
// process has ended every call. Over gRPC the client's Put may return as
// soon as it gave up, while the plugin's Put is still finishing; what that
// Put leaves must be checked after it ends, or the check would race it.
func (s *suite) openSettle(t *testing.T) (sdk.Sink, func()) {
	t.Helper()
	sk, settle := s.connect(t)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		var paths []string
		_ = sk.List(ctx, sdk.ListRequest{}, func(o sdk.ObjectInfo) error {
			paths = append(paths, o.Path)
			return nil
		})
		for _, p := range paths {
			_ = sk.Delete(ctx, p)
		}
		if err := sk.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	if settle == nil {
		return sk, func() {}
	}
	return sk, func() { settle(t) }
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// randomBytes returns n deterministic pseudo-random bytes.
func randomBytes(n int64, seed uint64) []byte {
	b := make([]byte, n)
	rng := rand.NewChaCha8(seedOf(seed))
	_, _ = rng.Read(b)
	return b
}

func seedOf(n uint64) [32]byte {
	var s [32]byte
	for i := range 8 {
		s[i] = byte(n >> (8 * i))
	}
	s[31] = 0xa6
	return s
}

// onlyReader hides io.Seeker, io.WriterTo and the like, so a sink cannot
// depend on anything but io.Reader (a gRPC stream or a pipe has nothing else).
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

// put stores data at path and fails the test on error.
func put(t *testing.T, ctx context.Context, sk sdk.Sink, path string, data []byte) {
	t.Helper()
	resp, err := sk.Put(ctx, sdk.PutRequest{Path: path, MediaType: "application/octet-stream", Size: int64(len(data)), Body: onlyReader{bytes.NewReader(data)}})
	if err != nil {
		t.Fatalf("Put %q (%d bytes): %v", path, len(data), err)
	}
	if resp.Size != int64(len(data)) {
		t.Errorf("Put %q: response Size = %d, want %d", path, resp.Size, len(data))
	}
}

// getAll reads the whole object at path.
func getAll(t *testing.T, ctx context.Context, sk sdk.Sink, req sdk.GetRequest) []byte {
	t.Helper()
	rc, err := sk.Get(ctx, req)
	if err != nil {
		t.Fatalf("Get %q [%d,+%d): %v", req.Path, req.Offset, req.Length, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("Get %q: reading body: %v", req.Path, err)
	}
	return b
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// assertContent checks that path holds exactly want (by sha256 and size).
func assertContent(t *testing.T, ctx context.Context, sk sdk.Sink, path string, want []byte) {
	t.Helper()
	got := getAll(t, ctx, sk, sdk.GetRequest{Path: path})
	if len(got) != len(want) || sum(got) != sum(want) {
		t.Fatalf("Get %q: got %d bytes sha256 %s, want %d bytes sha256 %s", path, len(got), sum(got)[:16], len(want), sum(want)[:16])
	}
}

// listAll returns every object under prefix, failing on error.
func listAll(t *testing.T, ctx context.Context, sk sdk.Sink, prefix string) []sdk.ObjectInfo {
	t.Helper()
	var out []sdk.ObjectInfo
	err := sk.List(ctx, sdk.ListRequest{Prefix: prefix}, func(o sdk.ObjectInfo) error {
		out = append(out, o)
		return nil
	})
	if err != nil {
		t.Fatalf("List %q: %v", prefix, err)
	}
	return out
}

// assertAbsent checks that nothing is visible at path: Stat says not found
// and no listing entry starts with it (a leftover temp or part file named
// after the object would show up there too).
func assertAbsent(t *testing.T, ctx context.Context, sk sdk.Sink, path string) {
	t.Helper()
	if info, err := sk.Stat(ctx, path); err == nil {
		t.Errorf("Stat %q: object is visible (size %d) after a failed Put", path, info.Size)
	} else if !sdk.IsNotFound(err) {
		t.Errorf("Stat %q: got error %v (kind %v), want a not-found error", path, err, sdk.KindOf(err))
	}
	for _, o := range listAll(t, ctx, sk, "") {
		if o.Path == path {
			t.Errorf("List shows %q after a failed Put", path)
		}
	}
}

func (s *suite) roundTrip(t *testing.T) {
	sizes := []int64{0, 1, 2, 4095, 4096, 4097, 32<<10 - 1, 32 << 10, 32<<10 + 1,
		64<<10 - 1, 64 << 10, 64<<10 + 1, 1<<20 - 1, 1 << 20, 1<<20 + 1, 5<<20 + 7}
	sizes = append(sizes, s.opts.BoundarySizes...)
	sort.Slice(sizes, func(i, j int) bool { return sizes[i] < sizes[j] })
	sk := s.open(t)
	ctx := ctxFor(t)
	seen := map[int64]bool{}
	for _, n := range sizes {
		if seen[n] || n < 0 {
			continue
		}
		seen[n] = true
		name := fmt.Sprintf("size=%d", n)
		t.Run(name, func(t *testing.T) {
			s.skipIfGap(t, CheckRoundTrip+"/"+name)
			data := randomBytes(n, uint64(n))
			path := fmt.Sprintf("roundtrip/%s.bin", name)
			put(t, ctx, sk, path, data)
			assertContent(t, ctx, sk, path, data)
			info, err := sk.Stat(ctx, path)
			if err != nil {
				t.Fatalf("Stat %q: %v", path, err)
			}
			if info.Size != n {
				t.Errorf("Stat %q: Size = %d, want %d", path, info.Size, n)
			}
		})
	}
}

func (s *suite) unknownSize(t *testing.T) {
	sk := s.open(t)
	ctx := ctxFor(t)
	for _, n := range []int64{0, 1, 3<<20 + 11} {
		data := randomBytes(n, 1000+uint64(n))
		path := fmt.Sprintf("unknown-size/%d.bin", n)
		resp, err := sk.Put(ctx, sdk.PutRequest{Path: path, Size: -1, Body: onlyReader{bytes.NewReader(data)}})
		if err != nil {
			t.Fatalf("Put %q with Size -1: %v", path, err)
		}
		if resp.Size != n {
			t.Errorf("Put %q with Size -1: response Size = %d, want %d", path, resp.Size, n)
		}
		assertContent(t, ctx, sk, path, data)
	}
}

func (s *suite) overwrite(t *testing.T) {
	sk := s.open(t)
	ctx := ctxFor(t)
	const path = "over/write.bin"
	first := randomBytes(300<<10, 1)
	second := randomBytes(1234, 2) // shorter, so leftover tail bytes would show
	put(t, ctx, sk, path, first)
	put(t, ctx, sk, path, second)
	assertContent(t, ctx, sk, path, second)
	info, err := sk.Stat(ctx, path)
	if err != nil {
		t.Fatalf("Stat %q: %v", path, err)
	}
	if info.Size != int64(len(second)) {
		t.Errorf("Stat after overwrite: Size = %d, want %d", info.Size, len(second))
	}
	if n := len(listAll(t, ctx, sk, "over/")); n != 1 {
		t.Errorf("List after overwrite: %d objects, want 1", n)
	}
}

// errAfter is a body that yields n good bytes and then fails.
type errAfter struct {
	data []byte
	err  error
}

var errBodyFailed = errors.New("sinktest: the body failed on purpose midway")

func (e *errAfter) Read(p []byte) (int, error) {
	if len(e.data) == 0 {
		return 0, e.err
	}
	n := copy(p, e.data)
	e.data = e.data[n:]
	return n, nil
}

func (s *suite) failedWrite(t *testing.T) {
	sk, settle := s.openSettle(t)
	ctx := ctxFor(t)
	// Small (fits one request) and large (spans several blocks or parts).
	for _, n := range []int64{1000, 6<<20 + 5} {
		path := fmt.Sprintf("failed/%d.bin", n)
		_, err := sk.Put(ctx, sdk.PutRequest{Path: path, Size: n + 1000, Body: &errAfter{data: randomBytes(n, 7), err: errBodyFailed}})
		if err == nil {
			t.Fatalf("Put %q: body failed after %d bytes but Put returned nil", path, n)
		}
		settle()
		assertAbsent(t, ctx, sk, path)
	}
	if objs := listAll(t, ctx, sk, ""); len(objs) != 0 {
		t.Errorf("List after failed Puts shows %d objects, want none (first: %q)", len(objs), objs[0].Path)
	}
}

func (s *suite) failedOverwrite(t *testing.T) {
	sk, settle := s.openSettle(t)
	ctx := ctxFor(t)
	const path = "keep/old.bin"
	old := randomBytes(200<<10, 3)
	put(t, ctx, sk, path, old)
	_, err := sk.Put(ctx, sdk.PutRequest{Path: path, Size: -1, Body: &errAfter{data: randomBytes(6<<20, 4), err: errBodyFailed}})
	if err == nil {
		t.Fatal("Put over an existing object with a failing body returned nil")
	}
	settle()
	assertContent(t, ctx, sk, path, old)
	if n := len(listAll(t, ctx, sk, "")); n != 1 {
		t.Errorf("List after failed overwrite: %d objects, want 1", n)
	}
}

// cancelAfter cancels the Put's context once n bytes were read and then
// keeps producing data, as an exporter stream would until it notices.
type cancelAfter struct {
	rng    *rand.ChaCha8
	n      int64
	total  int64
	read   int64
	cancel context.CancelFunc
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	if c.read >= c.total {
		return 0, io.EOF
	}
	if int64(len(p)) > c.total-c.read {
		p = p[:c.total-c.read]
	}
	n, _ := c.rng.Read(p)
	c.read += int64(n)
	if c.read >= c.n {
		c.cancel()
	}
	return n, nil
}

func (s *suite) canceledPut(t *testing.T) {
	sk, settle := s.openSettle(t)
	ctx := ctxFor(t)
	for _, total := range []int64{64 << 10, 8 << 20} {
		path := fmt.Sprintf("canceled/%d.bin", total)
		pctx, cancel := context.WithCancel(ctx)
		body := &cancelAfter{rng: rand.NewChaCha8(seedOf(9)), n: total / 2, total: total, cancel: cancel}
		_, err := sk.Put(pctx, sdk.PutRequest{Path: path, Size: total, Body: body})
		cancel()
		if err == nil {
			t.Fatalf("Put %q: context cancelled midway but Put returned nil", path)
		}
		settle()
		assertAbsent(t, ctx, sk, path)
	}
}

func (s *suite) list(t *testing.T) {
	sk := s.open(t)
	ctx := ctxFor(t)
	objects := map[string]int64{
		"a.txt":                        1,
		"dir/b.txt":                    2,
		"dir/sub/c.bin":                3,
		"dir/sub/deeper/d.bin":         4,
		"dir2/e.txt":                   5,
		"dir with space/f g.txt":       6,
		"ünïcødé/Straße – naïve.txt":   7,
		"日本語/ファイル 名.txt":               8,
		"run_2024-01-01/manifest.json": 9,
	}
	for p, n := range objects {
		put(t, ctx, sk, p, randomBytes(n, uint64(n)))
	}
	cases := []struct {
		prefix string
		want   []string
	}{
		{"", keys(objects)},
		{"dir/", []string{"dir/b.txt", "dir/sub/c.bin", "dir/sub/deeper/d.bin"}},
		{"dir/sub/", []string{"dir/sub/c.bin", "dir/sub/deeper/d.bin"}},
		{"dir", []string{"dir/b.txt", "dir/sub/c.bin", "dir/sub/deeper/d.bin", "dir2/e.txt", "dir with space/f g.txt"}},
		{"dir with space/", []string{"dir with space/f g.txt"}},
		{"ünïcødé/", []string{"ünïcødé/Straße – naïve.txt"}},
		{"日本語/", []string{"日本語/ファイル 名.txt"}},
		{"nothing-here/", nil},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("prefix=%q", c.prefix), func(t *testing.T) {
			got := listAll(t, ctx, sk, c.prefix)
			count := map[string]int{}
			var names []string
			for _, o := range got {
				count[o.Path]++
				names = append(names, o.Path)
				if want, ok := objects[o.Path]; ok && o.Size != want {
					t.Errorf("List %q: %q has Size %d, want %d", c.prefix, o.Path, o.Size, want)
				}
			}
			for p, n := range count {
				if n != 1 {
					t.Errorf("List %q yielded %q %d times, want once", c.prefix, p, n)
				}
			}
			sort.Strings(names)
			want := append([]string(nil), c.want...)
			sort.Strings(want)
			if strings.Join(dedup(names), "\n") != strings.Join(want, "\n") {
				t.Errorf("List %q:\n got %q\nwant %q", c.prefix, dedup(names), want)
			}
		})
	}
	t.Run("StopsOnCallbackError", func(t *testing.T) {
		stop := errors.New("sinktest: stop listing")
		calls := 0
		err := sk.List(ctx, sdk.ListRequest{}, func(sdk.ObjectInfo) error {
			calls++
			return stop
		})
		if !errors.Is(err, stop) && (err == nil || !strings.Contains(err.Error(), stop.Error())) {
			t.Errorf("List with a failing callback returned %v, want the callback's error", err)
		}
		if calls != 1 {
			t.Errorf("List called the callback %d times after it failed, want 1", calls)
		}
	})
}

// oddNames are file names every OS accepts (the host never produces
// \ / : * ? " < > |) but URL- and protocol-based sinks often mangle:
// percent signs, hashes, plus signs, ampersands, quotes, brackets, leading
// dashes, dots and unicode outside the BMP.
var oddNames = []string{
	"odd/100% done #1 (final).txt",
	"odd/a+b=c & d's [copy] {1}.json",
	"odd/semi;colon,comma@at$dollar!~tilde^caret`tick.csv",
	"odd/-leading dash.txt",
	"odd/.hidden-looking.txt",
	"odd/multiple.dots.in.name.tar.gz",
	"odd/Ελληνικά – עברית – 中文 – 😀.txt",
}

// names checks that odd but OS-safe names survive Put, Stat, Get, List and
// Delete unchanged.
func (s *suite) names(t *testing.T) {
	sk := s.open(t)
	ctx := ctxFor(t)
	for i, name := range oddNames {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			data := randomBytes(int64(100+i), uint64(500+i))
			put(t, ctx, sk, name, data)
			info, err := sk.Stat(ctx, name)
			if err != nil {
				t.Fatalf("Stat %q: %v", name, err)
			}
			if info.Size != int64(len(data)) {
				t.Errorf("Stat %q: Size %d, want %d", name, info.Size, len(data))
			}
			assertContent(t, ctx, sk, name, data)
			found := 0
			for _, o := range listAll(t, ctx, sk, "odd/") {
				if o.Path == name {
					found++
				}
			}
			if found != 1 {
				t.Errorf("List shows %q %d times, want once", name, found)
			}
			if err := sk.Delete(ctx, name); err != nil {
				t.Errorf("Delete %q: %v", name, err)
			}
			if _, err := sk.Stat(ctx, name); !sdk.IsNotFound(err) {
				t.Errorf("Stat %q after Delete: %v, want not found", name, err)
			}
		})
	}
}

func keys(m map[string]int64) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func dedup(sorted []string) []string {
	var out []string
	for i, s := range sorted {
		if i == 0 || s != sorted[i-1] {
			out = append(out, s)
		}
	}
	return out
}

func (s *suite) stat(t *testing.T) {
	sk := s.open(t)
	ctx := ctxFor(t)
	before := time.Now().Add(-time.Hour) // generous: server clocks drift
	const path = "stat/some file.bin"
	data := randomBytes(77777, 5)
	put(t, ctx, sk, path, data)
	info, err := sk.Stat(ctx, path)
	if err != nil {
		t.Fatalf("Stat %q: %v", path, err)
	}
	if info.Size != int64(len(data)) {
		t.Errorf("Stat: Size = %d, want %d", info.Size, len(data))
	}
	if info.Path != path {
		t.Errorf("Stat: Path = %q, want %q", info.Path, path)
	}
	if info.Modified.IsZero() || info.Modified.Before(before) || info.Modified.After(time.Now().Add(time.Hour)) {
		t.Errorf("Stat: Modified = %v, want about now", info.Modified)
	}
	for _, o := range listAll(t, ctx, sk, "stat/") {
		if o.Path == path && o.Size != info.Size {
			t.Errorf("List says %q has %d bytes, Stat says %d", path, o.Size, info.Size)
		}
	}
}

func (s *suite) getRange(t *testing.T) {
	sk := s.open(t)
	ctx := ctxFor(t)
	const path = "range/data.bin"
	data := randomBytes(300<<10+3, 6)
	put(t, ctx, sk, path, data)
	size := int64(len(data))
	cases := []struct{ off, length int64 }{
		{0, 1}, {0, 10}, {10, 100}, {size - 1, 1}, {1000, 0}, {size - 5, 0},
		{64 << 10, 128 << 10}, {0, size},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("offset=%d,length=%d", c.off, c.length), func(t *testing.T) {
			got := getAll(t, ctx, sk, sdk.GetRequest{Path: path, Offset: c.off, Length: c.length})
			end := size
			if c.length > 0 {
				end = c.off + c.length
			}
			want := data[c.off:end]
			if !bytes.Equal(got, want) {
				t.Errorf("Get [%d,+%d): got %d bytes sha256 %s, want %d bytes sha256 %s", c.off, c.length, len(got), sum(got)[:16], len(want), sum(want)[:16])
			}
		})
	}
}

func (s *suite) notFound(t *testing.T) {
	sk := s.open(t)
	ctx := ctxFor(t)
	put(t, ctx, sk, "exists/x.bin", []byte("x"))
	for _, path := range []string{"missing.bin", "exists/missing.bin", "no/such/dir/file.bin"} {
		if _, err := sk.Stat(ctx, path); !sdk.IsNotFound(err) {
			t.Errorf("Stat %q: got %v (kind %v), want a not-found error", path, err, sdk.KindOf(err))
		}
		rc, err := sk.Get(ctx, sdk.GetRequest{Path: path})
		if err == nil {
			rc.Close()
		}
		if !sdk.IsNotFound(err) {
			t.Errorf("Get %q: got %v (kind %v), want a not-found error", path, err, sdk.KindOf(err))
		}
		if err := sk.Delete(ctx, path); !sdk.IsNotFound(err) {
			t.Errorf("Delete %q: got %v (kind %v), want a not-found error", path, err, sdk.KindOf(err))
		}
	}
}

func (s *suite) delete(t *testing.T) {
	sk := s.open(t)
	ctx := ctxFor(t)
	const path = "del/me.bin"
	const keep = "del/keep.bin"
	put(t, ctx, sk, path, randomBytes(4096, 8))
	put(t, ctx, sk, keep, []byte("keep"))
	if err := sk.Delete(ctx, path); err != nil {
		t.Fatalf("Delete %q: %v", path, err)
	}
	if _, err := sk.Stat(ctx, path); !sdk.IsNotFound(err) {
		t.Errorf("Stat after Delete: got %v, want not found", err)
	}
	if err := sk.Delete(ctx, path); !sdk.IsNotFound(err) {
		t.Errorf("second Delete: got %v, want not found", err)
	}
	objs := listAll(t, ctx, sk, "")
	if len(objs) != 1 || objs[0].Path != keep {
		t.Errorf("List after Delete: %v, want only %q", objs, keep)
	}
	assertContent(t, ctx, sk, keep, []byte("keep"))
}

func (s *suite) concurrentPut(t *testing.T) {
	sk := s.open(t)
	ctx := ctxFor(t)
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	datas := make([][]byte, n)
	for i := range n {
		datas[i] = randomBytes(int64(256<<10+i*1000), uint64(100+i))
	}
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = sk.Put(ctx, sdk.PutRequest{Path: fmt.Sprintf("conc/%d.bin", i), Size: int64(len(datas[i])), Body: onlyReader{bytes.NewReader(datas[i])}})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("concurrent Put %d: %v", i, err)
		}
	}
	for i := range n {
		assertContent(t, ctx, sk, fmt.Sprintf("conc/%d.bin", i), datas[i])
	}

	// Several writers to one path: the winner's bytes, whole, never a mix.
	const same = "conc/same.bin"
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = sk.Put(ctx, sdk.PutRequest{Path: same, Size: int64(len(datas[i])), Body: onlyReader{bytes.NewReader(datas[i])}})
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		}
	}
	if ok == 0 {
		t.Fatalf("every concurrent Put to one path failed; first error: %v", errs[0])
	}
	got := getAll(t, ctx, sk, sdk.GetRequest{Path: same})
	match := false
	for i := range n {
		if errs[i] == nil && bytes.Equal(got, datas[i]) {
			match = true
		}
	}
	if !match {
		t.Errorf("after concurrent Puts to %q the object (%d bytes) matches none of the successful writes", same, len(got))
	}
}

func (s *suite) closeIdempotent(t *testing.T) {
	sk, _ := s.connect(t)
	ctx := ctxFor(t)
	put(t, ctx, sk, "close/x.bin", []byte("x"))
	if err := sk.Delete(ctx, "close/x.bin"); err != nil {
		t.Errorf("Delete: %v", err)
	}
	if err := sk.Close(); err != nil {
		t.Errorf("first Close: %v", err)
	}
	if err := sk.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// genReader generates size pseudo-random bytes on the fly, hashing them.
type genReader struct {
	rng  *rand.ChaCha8
	left int64
	h    interface {
		io.Writer
		Sum([]byte) []byte
	}
}

func newGen(size int64, seed uint64) *genReader {
	return &genReader{rng: rand.NewChaCha8(seedOf(seed)), left: size, h: sha256.New()}
}

func (g *genReader) Read(p []byte) (int, error) {
	if g.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > g.left {
		p = p[:g.left]
	}
	n, _ := g.rng.Read(p)
	g.h.Write(p[:n])
	g.left -= int64(n)
	return n, nil
}

// heapWatch samples the live heap (runtime/metrics /gc/heap/live:bytes,
// what the last GC found reachable) until stopped and reports the peak. The
// live heap, not HeapAlloc, because HeapAlloc also counts garbage the GC
// has not collected yet, which with GOGC=100 can be as large again as the
// live heap and says nothing about buffering.
type heapWatch struct {
	stop chan struct{}
	done chan struct{}
	peak uint64
}

const liveHeapMetric = "/gc/heap/live:bytes"

func liveHeap() uint64 {
	sample := []metrics.Sample{{Name: liveHeapMetric}}
	metrics.Read(sample)
	if sample[0].Value.Kind() != metrics.KindUint64 {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	return sample[0].Value.Uint64()
}

func watchHeap() *heapWatch {
	w := &heapWatch{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			w.peak = max(w.peak, liveHeap())
			select {
			case <-w.stop:
				// One last collection, so an object buffered until the
				// very end of the call is seen as live.
				runtime.GC()
				w.peak = max(w.peak, liveHeap())
				return
			case <-tick.C:
			}
		}
	}()
	return w
}

func (w *heapWatch) Stop() uint64 { close(w.stop); <-w.done; return w.peak }

func baselineHeap() uint64 {
	runtime.GC()
	return liveHeap()
}

func (s *suite) large(t *testing.T) {
	sk := s.open(t)
	ctx := ctxFor(t)
	size := s.opts.LargeSize
	path := "large/object.bin"
	base := baselineHeap()
	w := watchHeap()
	gen := newGen(size, 42)
	resp, err := sk.Put(ctx, sdk.PutRequest{Path: path, Size: size, Body: gen})
	peakPut := w.Stop()
	if err != nil {
		t.Fatalf("Put of %d MiB: %v", size>>20, err)
	}
	if resp.Size != size {
		t.Errorf("Put: response Size = %d, want %d", resp.Size, size)
	}
	want := hex.EncodeToString(gen.h.Sum(nil))

	info, err := sk.Stat(ctx, path)
	if err != nil {
		t.Fatalf("Stat: %v", err)
	}
	if info.Size != size {
		t.Errorf("Stat: Size = %d, want %d", info.Size, size)
	}

	base2 := baselineHeap()
	w = watchHeap()
	rc, err := sk.Get(ctx, sdk.GetRequest{Path: path})
	if err != nil {
		w.Stop()
		t.Fatalf("Get: %v", err)
	}
	h := sha256.New()
	n, err := io.Copy(h, onlyReader{rc})
	rc.Close()
	peakGet := w.Stop()
	if err != nil {
		t.Fatalf("Get: reading: %v", err)
	}
	if n != size || hex.EncodeToString(h.Sum(nil)) != want {
		t.Errorf("Get: %d bytes, sha256 %x, want %d bytes, sha256 %s", n, h.Sum(nil), size, want)
	}

	growPut := int64(peakPut) - int64(base)
	growGet := int64(peakGet) - int64(base2)
	t.Logf("%d MiB streamed: live heap peak +%.1f MiB while writing, +%.1f MiB while reading (bound %d MiB)",
		size>>20, float64(growPut)/(1<<20), float64(growGet)/(1<<20), s.maxHeap>>20)
	if growPut > s.maxHeap {
		t.Errorf("writing %d MiB grew the heap by %.1f MiB, more than %d MiB: the sink seems to buffer the object", size>>20, float64(growPut)/(1<<20), s.maxHeap>>20)
	}
	if growGet > s.maxHeap {
		t.Errorf("reading %d MiB grew the heap by %.1f MiB, more than %d MiB: Get seems to buffer the object", size>>20, float64(growGet)/(1<<20), s.maxHeap>>20)
	}
}
