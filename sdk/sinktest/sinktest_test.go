package sinktest_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/sinktest"
)

// The reference sink passes the whole suite.
func TestMemSinkConforms(t *testing.T) {
	sinktest.Run(t, func(t *testing.T) sdk.Sink {
		return sinktest.NewMemSink()
	}, nil, sinktest.Options{
		// MemSink keeps objects in memory by design, so the streamed check
		// runs at a size whose copy stays under the heap bound.
		LargeSize:     8 << 20,
		BoundarySizes: []int64{3<<20 - 1, 3 << 20, 3<<20 + 1},
	})
}

// The folder sink that core's tests use in place of a real sink plugin
// passes the whole suite too.
func TestDirSinkConforms(t *testing.T) {
	sinktest.Run(t, func(t *testing.T) sdk.Sink {
		return sinktest.NewDirSink(filepath.Join(t.TempDir(), "sink"))
	}, nil, sinktest.Options{LargeSize: 16 << 20})
}

// brokenSink wraps MemSink with one deliberate contract violation, so the
// tests below can prove the suite notices it.
type brokenSink struct {
	*sinktest.MemSink
	mode string
}

func (b *brokenSink) Put(ctx context.Context, req sdk.PutRequest) (sdk.PutResponse, error) {
	if b.mode != "non-atomic" {
		return b.MemSink.Put(ctx, req)
	}
	// Stores whatever arrived, even when the body failed: a partial object.
	var buf bytes.Buffer
	_, err := io.Copy(&buf, req.Body)
	resp, perr := b.MemSink.Put(context.Background(), sdk.PutRequest{Path: req.Path, Size: int64(buf.Len()), Body: &buf})
	if err != nil {
		return resp, err
	}
	return resp, perr
}

func (b *brokenSink) Stat(ctx context.Context, path string) (sdk.ObjectInfo, error) {
	info, err := b.MemSink.Stat(ctx, path)
	if b.mode == "unclassified-not-found" && err != nil {
		return info, errors.New("no such object") // lost its classification
	}
	return info, err
}

func (b *brokenSink) Get(ctx context.Context, req sdk.GetRequest) (io.ReadCloser, error) {
	if b.mode == "ignores-range" {
		req.Offset, req.Length = 0, 0
	}
	return b.MemSink.Get(ctx, req)
}

func (b *brokenSink) List(ctx context.Context, req sdk.ListRequest, fn func(sdk.ObjectInfo) error) error {
	if b.mode != "list-twice" {
		return b.MemSink.List(ctx, req, fn)
	}
	for range 2 {
		if err := b.MemSink.List(ctx, req, fn); err != nil {
			return err
		}
	}
	return nil
}

// TestHelperBrokenSink is run in a child process by TestSuiteCatches; on its
// own it does nothing.
func TestHelperBrokenSink(t *testing.T) {
	mode := os.Getenv("SINKTEST_BROKEN_MODE")
	if mode == "" {
		t.Skip("helper for TestSuiteCatches")
	}
	sinktest.Run(t, func(t *testing.T) sdk.Sink {
		return &brokenSink{MemSink: sinktest.NewMemSink(), mode: mode}
	}, nil, sinktest.Options{LargeSize: 1 << 20, KnownGaps: gapsFromEnv()})
}

func gapsFromEnv() map[string]string {
	g := map[string]string{}
	if v := os.Getenv("SINKTEST_GAP"); v != "" {
		g[v] = "declared by the test"
	}
	return g
}

// both fills each pattern's %s with the name of either road Run takes.
func both(patterns ...string) []string {
	var out []string
	for _, p := range patterns {
		out = append(out, fmt.Sprintf(p, "in-process"), fmt.Sprintf(p, "grpc"))
	}
	return out
}

func TestSuiteCatches(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the suite in child processes")
	}
	cases := []struct {
		mode      string
		gap       string
		wantFail  bool
		wantInOut []string
	}{
		// Each check runs on both roads and fails on both.
		{mode: "non-atomic", wantFail: true, wantInOut: both("--- FAIL: TestHelperBrokenSink/%s/FailedWriteLeavesNothing", "--- FAIL: TestHelperBrokenSink/%s/CanceledPutLeavesNothing")},
		{mode: "unclassified-not-found", wantFail: true, wantInOut: append(both("--- FAIL: TestHelperBrokenSink/%s/NotFound"), "want a not-found error")},
		{mode: "list-twice", wantFail: true, wantInOut: append(both("--- FAIL: TestHelperBrokenSink/%s/List"), "times, want once")},
		// A declared gap turns the failing check into a skip with the reason.
		{mode: "ignores-range", wantFail: true, wantInOut: both("--- FAIL: TestHelperBrokenSink/%s/GetRange")},
		{mode: "ignores-range", gap: "GetRange", wantFail: false, wantInOut: append(both("--- SKIP: TestHelperBrokenSink/%s/GetRange"), "known gap of this sink: declared by the test")},
		// A gap naming no check is an error, so a typo cannot hide anything.
		{mode: "none", gap: "Lsit", wantFail: true, wantInOut: []string{`KnownGaps names "Lsit", which is not a check`}},
	}
	for _, c := range cases {
		t.Run(c.mode+"/"+c.gap, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperBrokenSink$", "-test.v")
			cmd.Env = append(os.Environ(), "SINKTEST_BROKEN_MODE="+c.mode, "SINKTEST_GAP="+c.gap)
			out, err := cmd.CombinedOutput()
			if c.wantFail && err == nil {
				t.Errorf("suite passed a sink that is %s; output:\n%s", c.mode, out)
			}
			if !c.wantFail && err != nil {
				t.Errorf("suite failed: %v; output:\n%s", err, out)
			}
			for _, w := range c.wantInOut {
				if !strings.Contains(string(out), w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}
