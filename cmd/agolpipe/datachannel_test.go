package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agolpipe/agolpipe/core/report"
	"github.com/agolpipe/agolpipe/sdk/grpcplugin"
	"github.com/agolpipe/agolpipe/sim"
)

// TestDataChannelRoadsAgree backs up the same organization twice through
// the real plugin processes: with artifact bytes on the data channel (the
// default) and with every byte in gRPC chunks (AGOLPIPE_DATA_CHANNEL=off).
// The two runs must store the same artifacts with the same bytes; the
// channel must have carried the large ones in the first run and nothing
// in the second; and no socket folder may outlive a run.
func TestDataChannelRoadsAgree(t *testing.T) {
	if testing.Short() {
		t.Skip("starts plugin processes")
	}
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // where the host makes its socket folder
	o := e2eOrg(sim.Options{})
	o.LargeFileSize = 3 << 20 // file items above grpcplugin.DataChannelMin
	srv, err := sim.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	dir := t.TempDir()

	before := grpcplugin.DataChannelTransfers()
	code, on := e2eRun(t, srv, filepath.Join(dir, "on"), "")
	onTransfers := grpcplugin.DataChannelTransfers() - before
	if code != exitOK {
		t.Fatalf("run with the data channel: exit %d (%s)", code, on.Status)
	}
	t.Setenv(grpcplugin.DataChannelEnv, "off")
	before = grpcplugin.DataChannelTransfers()
	code, off := e2eRun(t, srv, filepath.Join(dir, "off"), "")
	offTransfers := grpcplugin.DataChannelTransfers() - before
	if code != exitOK {
		t.Fatalf("run without the data channel: exit %d (%s)", code, off.Status)
	}

	large := 0
	for _, a := range on.Artifacts {
		if a.Size >= grpcplugin.DataChannelMin {
			large++
		}
	}
	// Each large artifact crosses two hops: exporter -> host -> sink.
	if large == 0 || onTransfers < int64(2*large) {
		t.Fatalf("%d large artifacts, %d transfers on the data channel; want at least two per large artifact", large, onTransfers)
	}
	if offTransfers != 0 {
		t.Fatalf("AGOLPIPE_DATA_CHANNEL=off, yet %d transfers took the data channel", offTransfers)
	}
	if verifyArtifacts(t, on) == 0 || verifyArtifacts(t, off) == 0 {
		t.Fatal("a run stored no artifact")
	}
	// Every artifact is the same byte for byte (none records when it was
	// made).
	sums := func(m *report.Run) map[string]string {
		out := map[string]string{}
		for _, a := range m.Artifacts {
			out[a.Path] = a.SHA256
		}
		return out
	}
	want, got := sums(on), sums(off)
	if len(want) != len(got) {
		t.Fatalf("%d artifacts with the data channel, %d without", len(want), len(got))
	}
	for p, sum := range want {
		if got[p] != sum {
			t.Errorf("%s: sha256 %s with the data channel, %q without", p, sum, got[p])
		}
	}
	if left, _ := filepath.Glob(filepath.Join(tmp, "agolpipe-data-*")); len(left) > 0 {
		t.Fatalf("the data channel's socket folder outlived the run: %v", left)
	}
}

// TestDataChannelUnavailableIsLogged: when the host cannot open its data
// channel (here: a TMPDIR too deep for a Unix socket path, yet short enough
// for go-plugin's own socket), the run still stores everything, through
// gRPC, and run.log says why it took the slower road and what to change.
func TestDataChannelUnavailableIsLogged(t *testing.T) {
	if testing.Short() {
		t.Skip("starts plugin processes")
	}
	deep := t.TempDir()
	deep = filepath.Join(deep, strings.Repeat("d", max(1, 85-len(deep)-1)))
	if err := os.MkdirAll(deep, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TMPDIR", deep)
	o := e2eOrg(sim.Options{})
	o.Items = 20
	o.LargeFileSize = 2 << 20
	srv, err := sim.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	before := grpcplugin.DataChannelTransfers()
	code, m := e2eRun(t, srv, t.TempDir(), "")
	if code != exitOK {
		t.Fatalf("exit %d (%s)", code, m.Status)
	}
	if n := grpcplugin.DataChannelTransfers() - before; n != 0 {
		t.Fatalf("%d transfers took a data channel that could not be opened", n)
	}
	if verifyArtifacts(t, m) == 0 {
		t.Fatal("no artifact stored")
	}
	var runPath string
	for _, s := range m.Sinks {
		runPath = s.RunPath
	}
	log, err := os.ReadFile(filepath.Join(runPath, "run.log"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"artifact bytes will go through gRPC", "set TMPDIR to a short, writable local folder"} {
		if !strings.Contains(string(log), want) {
			t.Errorf("run.log lacks %q", want)
		}
	}
}
