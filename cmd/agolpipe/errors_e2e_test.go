package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/agolpipe/agolpipe/core/report"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sim"
)

// startSimCLI runs `agolpipe sim` as a subprocess (this test binary acting
// as the CLI) with args and returns what its ready file says. The
// simulator is stopped, by its PID, when t ends.
func startSimCLI(t *testing.T, args ...string) simReady {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ready := filepath.Join(t.TempDir(), "sim.json")
	cmd := exec.Command(exe, append([]string{"sim", "--listen", "127.0.0.1:0", "--ready-file", ready}, args...)...)
	cmd.Env = append(os.Environ(), cliEnv+"=1")
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }() //nolint:errcheck // the exit is checked through done
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGINT) //nolint:errcheck
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill() //nolint:errcheck
			<-done
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, err := os.ReadFile(ready)
		if err == nil {
			var r simReady
			if err := json.Unmarshal(b, &r); err != nil {
				t.Fatalf("ready file: %v\n%s", err, b)
			}
			return r
		}
		select {
		case <-done:
			t.Fatalf("agolpipe sim exited before it was ready:\n%s", out.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("agolpipe sim not ready in 30 s:\n%s", out.String())
		}
	}
}

// runCLIProcess runs agolpipe with args as a subprocess, bounded by limit,
// and returns its exit code, its output and how long it took.
func runCLIProcess(t *testing.T, limit time.Duration, env []string, args ...string) (int, string, time.Duration) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(append(os.Environ(), cliEnv+"=1"), env...)
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }() //nolint:errcheck // ProcessState says how it ended
	select {
	case <-done:
	case <-time.After(limit):
		cmd.Process.Kill() //nolint:errcheck
		<-done
		t.Fatalf("agolpipe %s still running after %s:\n%s", strings.Join(args, " "), limit, out.String())
	}
	return cmd.ProcessState.ExitCode(), out.String(), time.Since(start)
}

// lastRun reads the manifest of the newest run folder under sinkDir.
func lastRun(t *testing.T, sinkDir, out string) (*report.Run, string) {
	t.Helper()
	runs, _ := filepath.Glob(filepath.Join(sinkDir, "*_*"))
	sort.Strings(runs)
	if len(runs) == 0 {
		t.Fatalf("no run folder in %s\n%s", sinkDir, out)
	}
	return readManifest(t, runs[len(runs)-1]), runs[len(runs)-1]
}

// TestQueryFallbackWithReadOnlyAPIKey signs in with an API key from the
// simulator's ready file, as a user would from the command line. The
// portal refuses the export API to the key (an ArcGIS 403); that answer
// crosses two plugin boundaries (source -> host -> feature_service
// exporter), and with fallback_query (the default) every hosted feature
// service must be saved through query as GeoJSON instead of failing.
func TestQueryFallbackWithReadOnlyAPIKey(t *testing.T) {
	if testing.Short() {
		t.Skip("starts plugin processes")
	}
	ready := startSimCLI(t, "--items", "80", "--seed", "11", "--export-time", "200ms", "--large-file-size", "65536")
	if len(ready.APIKeys) == 0 {
		t.Fatalf("the ready file lists no api_keys: %+v", ready)
	}
	dir := t.TempDir()
	sink := filepath.Join(dir, "sink")
	file := writePipeline(t, dir, fmt.Sprintf(`
source "arcgis" "sim" {
  url     = %q
  api_key = env("SIM_API_KEY")
  types   = ["Feature Service"]
}
sink "local" "disk" { path = %q }
run {
  prefix      = "KEY"
  concurrency = 4
}
`, ready.PortalURL, sink))
	code, out, _ := runCLIProcess(t, 3*time.Minute, []string{"SIM_API_KEY=" + ready.APIKeys[0]}, "run", file, "--plain")
	if strings.Contains(out, ready.APIKeys[0]) {
		t.Errorf("the API key is in the console output")
	}
	m, runDir := lastRun(t, sink, out)
	if code != exitOK && code != exitPartial {
		t.Errorf("exit %d\n%s", code, out)
	}
	fallbacks := 0
	for _, it := range m.Items {
		if it.Type != "Feature Service" || it.Status == sdk.StatusExcluded || it.Status == sdk.StatusSkipped {
			continue
		}
		if it.Status == sdk.StatusFailed {
			t.Errorf("item %s (%s) failed: %s", it.ID, it.Title, it.Reason)
			continue
		}
		if strings.Contains(it.Reason, "saved as GeoJSON through query") {
			fallbacks++
		}
	}
	if fallbacks == 0 {
		t.Fatalf("no feature service went through the query fallback; items: %+v\n%s", m.Items, out)
	}
	geojson := 0
	for _, a := range m.Artifacts {
		if strings.HasSuffix(a.Name, ".geojson") {
			geojson++
		}
	}
	if geojson == 0 {
		t.Errorf("no GeoJSON artifact in the manifest")
	}
	verifyArtifacts(t, m)
	b, err := os.ReadFile(filepath.Join(runDir, report.LogFile))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), ready.APIKeys[0]) {
		t.Errorf("the API key is in run.log")
	}
}

// TestUnreachablePortalFailsFast: a portal that refuses connections, and
// one that resets every connection, are reported on the console within a
// minute, as what they are (not "refused by the portal"), after one retry
// budget: the sign-in inside the request is not retried on its own, and
// neither the engine nor the host retries what the source gave up on.
// Before, the loops nested (engine 4 x source 6 x sign-in 6 = 144
// attempts) and such a run took 21 minutes.
func TestUnreachablePortalFailsFast(t *testing.T) {
	if testing.Short() {
		t.Skip("starts plugin processes")
	}
	pipeline := func(dir, url string) string {
		return writePipeline(t, dir, fmt.Sprintf(`
source "arcgis" "down" {
  url = %q
  auth {
    username = "admin"
    password = env("DOWN_PASSWORD")
  }
}
sink "local" "disk" { path = %q }
`, url, filepath.Join(dir, "sink")))
	}

	t.Run("refused", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close() // nothing listens there now: connections are refused
		file := pipeline(t.TempDir(), "http://"+addr+"/portal")
		code, out, took := runCLIProcess(t, 3*time.Minute, []string{"DOWN_PASSWORD=x"}, "run", file, "--plain")
		if code != exitPartial || !strings.Contains(out, ": failed in") {
			t.Errorf("exit %d for an unreachable portal, want a failed run (exit %d)\n%s", code, exitPartial, out)
		}
		if took > time.Minute {
			t.Errorf("took %s to report an unreachable portal, want under a minute", took.Round(time.Second))
		}
		for _, want := range []string{"connection refused", "nothing answers there", `"down"`, "after 3 attempts"} {
			if !strings.Contains(out, want) {
				t.Errorf("console lacks %q:\n%s", want, out)
			}
		}
		if strings.Contains(out, "Refused by the portal") || strings.Contains(out, "sign-in refused") {
			t.Errorf("an unreachable portal reported as a refusal:\n%s", out)
		}
		if n := strings.Count(out, "attempts)"); n != 1 {
			t.Errorf("%d retry counts in the message (nested retries?):\n%s", n, out)
		}
	})

	t.Run("reset", func(t *testing.T) {
		// Every connection is accepted, counted and reset: a transient
		// fault, so the request gets its whole budget, once.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		var conns atomic.Int32
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				conns.Add(1)
				if tc, ok := c.(*net.TCPConn); ok {
					tc.SetLinger(0) //nolint:errcheck // RST instead of FIN
				}
				c.Close()
			}
		}()
		file := pipeline(t.TempDir(), "http://"+l.Addr().String()+"/portal")
		code, out, took := runCLIProcess(t, 3*time.Minute, []string{"DOWN_PASSWORD=x"}, "run", file, "--plain")
		if code != exitPartial || !strings.Contains(out, ": failed in") {
			t.Errorf("exit %d for a portal that resets every connection, want a failed run (exit %d)\n%s", code, exitPartial, out)
		}
		if n := conns.Load(); n != 6 {
			t.Errorf("%d connection attempts, want 6: one budget for the request (1 + 5 retries)", n)
		}
		if took > time.Minute {
			t.Errorf("took %s, want under a minute", took.Round(time.Second))
		}
		if !strings.Contains(out, "connection reset") || !strings.Contains(out, `"down"`) {
			t.Errorf("console lacks the reason:\n%s", out)
		}
	})
}

// TestThrottledPortalBacksOff backs up the feature services of a portal
// that answers bursts of writes (export, delete) with ArcGIS Online's HTML
// 403 page, through the built binary: nothing may fail, the throttled
// requests must come back only after a backoff (seen in the simulator's
// request log), and the run says it lowered its concurrency. Before, the
// HTML 403 was taken for a refusal: no retry, the items failed.
func TestThrottledPortalBacksOff(t *testing.T) {
	if testing.Short() {
		t.Skip("starts plugin processes")
	}
	o := e2eOrg(sim.Options{Throttle: true, ThrottleWrites: 5, ThrottleBlock: 3 * time.Second})
	o.Items = 36 // about ten feature services: two writes each, several bursts
	srv, admin := startSim(t, o)
	dir := t.TempDir()
	sink := filepath.Join(dir, "sink")
	file := writePipeline(t, dir, simSource(srv, admin, `  types = ["Feature Service"]`)+fmt.Sprintf(`
sink "local" "disk" { path = %q }
run {
  prefix      = "THR"
  concurrency = 4
}
`, sink))
	code, out, _ := runCLIProcess(t, 4*time.Minute, nil, "run", file, "--plain")
	m, _ := lastRun(t, sink, out)
	if code != exitOK || m.Counts.Failed != 0 {
		t.Errorf("exit %d, %d failed; want every item exported\n%s", code, m.Counts.Failed, out)
		for _, it := range m.Items {
			if it.Status == sdk.StatusFailed {
				t.Logf("failed: %s (%s): %s", it.ID, it.Title, it.Reason)
			}
		}
	}
	if m.Counts.Exported+m.Counts.Partial < 5 {
		t.Errorf("only %d feature services exported: the test needs enough writes to be throttled", m.Counts.Exported+m.Counts.Partial)
	}
	// Backoff: a throttled request is repeated (same method and path: a
	// temp item's delete names the item) no sooner than the policy's
	// shortest wait after throttling: half of the throttle base, which is
	// 1 s for temp-item deletes (paced to catch the portal's next open
	// moment) and 4 s for other exporter calls. Without backoff the repeat
	// came within milliseconds.
	reqs := srv.Requests()
	throttled, checked := 0, 0
	for i, r := range reqs {
		if r.Fault != "403-burst" {
			continue
		}
		throttled++
		if strings.HasSuffix(r.Path, "/export") {
			continue // every item's export has this path; the next one may be another item's
		}
		for _, n := range reqs[i+1:] {
			if n.Method == r.Method && n.Path == r.Path {
				checked++
				if gap := n.Start.Sub(r.Start); gap < 450*time.Millisecond {
					t.Errorf("%s %s repeated %s after a throttled answer: no backoff", r.Method, r.Path, gap)
				}
				break
			}
		}
	}
	if throttled == 0 {
		t.Fatalf("the simulator never throttled: the test proves nothing")
	}
	if checked == 0 {
		t.Errorf("no throttled request was repeated (of %d throttled)", throttled)
	}
	if !strings.Contains(out, "the portal is throttling requests") {
		t.Errorf("the console does not say the run slowed down for throttling:\n%s", out)
	}
	if left := srv.TempItems(); len(left) > 0 {
		t.Errorf("temporary export items left in the org: %v", left)
	}
	t.Logf("%d throttled answers, %d repeats checked", throttled, checked)
}
