package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/grpcplugin"
	"github.com/agolpipe/agolpipe/sdk/sinktest"
	"github.com/zclconf/go-cty/cty"
)

// build compiles this plugin the way a user would and returns the binary
// and its checksum, the one a plugin block records.
func build(t *testing.T) (string, string) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "agolpipe-sink-checksum-dir")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return bin, hex.EncodeToString(sum[:])
}

func launch(t *testing.T, bin, sum, dir string) sdk.Sink {
	t.Helper()
	// The data channel agolpipe's host offers its sinks: large objects
	// reach the plugin on it, as in a run.
	data := grpcplugin.NewDataChannel(grpcplugin.DataChannelMin)
	t.Cleanup(data.Close)
	c, err := grpcplugin.Launch(context.Background(), grpcplugin.LaunchOpts{Path: bin, SHA256: sum, DataChannel: data}, sdk.KindSink, "checksum-dir")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Kill)
	s, err := c.Sink()
	if err != nil {
		t.Fatal(err)
	}
	if _, d := s.Configure(context.Background(), sdk.ConfigureRequest{Config: cty.ObjectVal(map[string]cty.Value{"path": cty.StringVal(dir)})}); d.HasErrors() {
		t.Fatal(d.Err())
	}
	if err := s.Preflight(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestConformanceOverGRPC runs agolpipe's sink conformance suite against
// the built plugin, through the same gRPC client agolpipe uses.
func TestConformanceOverGRPC(t *testing.T) {
	bin, sum := build(t)
	sinktest.RunLaunched(t, func(t *testing.T) sdk.Sink { return launch(t, bin, sum, t.TempDir()) }, sinktest.Options{})
}

func TestSHA256SUMSVerifiesWithoutAgolpipe(t *testing.T) {
	bin, sum := build(t)
	dir := t.TempDir()
	s := launch(t, bin, sum, dir)
	ctx := context.Background()
	for p, body := range map[string]string{"PROD_2025/Feature Service/Parcels_abc.zip": "parcels", "PROD_2025/manifest.json": "{}"} {
		if _, err := s.Put(ctx, sdk.PutRequest{Path: p, Size: int64(len(body)), Body: strings.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Delete(ctx, "PROD_2025/manifest.json"); err != nil {
		t.Fatal(err)
	}
	sums, err := os.ReadFile(filepath.Join(dir, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256([]byte("parcels"))
	if string(sums) != hex.EncodeToString(want[:])+"  data/PROD_2025/Feature Service/Parcels_abc.zip\n" {
		t.Fatalf("SHA256SUMS:\n%s", sums)
	}
	if _, err := exec.LookPath("sha256sum"); err == nil {
		cmd := exec.Command("sha256sum", "-c", "SHA256SUMS")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("sha256sum -c: %v\n%s", err, out)
		}
	}
}

func TestTamperedBinaryIsRefused(t *testing.T) {
	bin, _ := build(t)
	_, err := grpcplugin.Launch(context.Background(), grpcplugin.LaunchOpts{Path: bin, SHA256: strings.Repeat("ab", 32)}, sdk.KindSink, "checksum-dir")
	if err == nil || !strings.Contains(err.Error(), "sha256sum") {
		t.Fatalf("launch with a wrong checksum: %v", err)
	}
}
