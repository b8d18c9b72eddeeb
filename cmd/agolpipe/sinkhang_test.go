package main

import (
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agolpipe/agolpipe/core/engine"
	"github.com/agolpipe/agolpipe/core/report"
	"github.com/agolpipe/agolpipe/core/sinkwatch"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sim"
)

// silentEndpoint is a TCP endpoint on 127.0.0.1 that accepts every
// connection, reads what is sent and never answers: a store whose server
// froze. It returns its http:// URL.
func silentEndpoint(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go func() { _, _ = io.Copy(io.Discard, c) }()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return "http://" + ln.Addr().String()
}

// hangingS3 is an S3 endpoint on 127.0.0.1 good enough for the s3 sink's
// calls (HeadBucket, PutObject, multipart uploads, DeleteObject,
// ListObjectsV2 of an empty bucket) that never answers a PUT whose key hang accepts: it reads the
// body and then holds the request until the client gives up. It counts
// the requests it held, by key.
type hangingS3 struct {
	url  string
	mu   sync.Mutex
	held map[string]int
	puts atomic.Int64
	// endless, when set, makes a listing of the whole bucket never end: a
	// page of one object (outside any run folder) every endless, each
	// saying more follow, as a bucket of millions of objects on a slow
	// link. pages counts the pages served.
	endless time.Duration
	pages   atomic.Int64
}

func startHangingS3(t *testing.T, hang func(key string) bool) *hangingS3 {
	return startFakeS3(t, hang, 0)
}

func startFakeS3(t *testing.T, hang func(key string) bool, endless time.Duration) *hangingS3 {
	t.Helper()
	h := &hangingS3{held: map[string]int{}, endless: endless}
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Path style: /bucket/key...
		key := ""
		if _, k, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/"); ok {
			key = k
		}
		switch {
		case r.Method == http.MethodHead:
			w.WriteHeader(http.StatusOK)
		case r.Method == http.MethodPost && r.URL.Query().Has("uploads"):
			w.Header().Set("Content-Type", "application/xml")
			fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><InitiateMultipartUploadResult><Bucket>backups</Bucket><Key>%s</Key><UploadId>u1</UploadId></InitiateMultipartUploadResult>`, html.EscapeString(key))
		case r.Method == http.MethodPost && r.URL.Query().Has("uploadId"):
			_, _ = io.Copy(io.Discard, r.Body)
			h.puts.Add(1)
			w.Header().Set("Content-Type", "application/xml")
			fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><CompleteMultipartUploadResult><Bucket>backups</Bucket><Key>%s</Key><ETag>"x-1"</ETag></CompleteMultipartUploadResult>`, html.EscapeString(key))
		case r.Method == http.MethodGet && r.URL.Query().Has("uploadId"):
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchUpload</Code><Message>gone</Message></Error>`)
		case r.Method == http.MethodPut:
			_, _ = io.Copy(io.Discard, r.Body)
			if hang(key) {
				h.mu.Lock()
				h.held[key]++
				h.mu.Unlock()
				select {
				case <-r.Context().Done():
				case <-stop:
				}
				return
			}
			if !r.URL.Query().Has("uploadId") {
				h.puts.Add(1)
			}
			w.Header().Set("ETag", `"d41d8cd98f00b204e9800998ecf8427e"`)
			w.WriteHeader(http.StatusOK)
		case r.Method == http.MethodDelete:
			w.WriteHeader(http.StatusNoContent)
		case r.Method == http.MethodGet && r.URL.Query().Get("list-type") == "2" && h.endless > 0 && r.URL.Query().Get("prefix") == "":
			select {
			case <-time.After(h.endless):
			case <-r.Context().Done():
				return
			}
			n := h.pages.Add(1)
			w.Header().Set("Content-Type", "application/xml")
			fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>backups</Name><KeyCount>1</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>true</IsTruncated><NextContinuationToken>t%d</NextContinuationToken><Contents><Key>scans/%08d.tif</Key><LastModified>2026-01-02T03:04:05.000Z</LastModified><ETag>"x"</ETag><Size>1</Size><StorageClass>STANDARD</StorageClass></Contents></ListBucketResult>`, n, n)
		case r.Method == http.MethodGet && r.URL.Query().Get("list-type") == "2":
			w.Header().Set("Content-Type", "application/xml")
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><KeyCount>0</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated></ListBucketResult>`)
		default:
			http.Error(w, "not in this fake", http.StatusNotImplemented)
		}
	}))
	t.Cleanup(func() { close(stop); srv.Close() })
	h.url = srv.URL
	return h
}

// s3Block is an s3 sink block named name at endpoint, with the dummy keys
// of s3TestKeys (the fakes check no signature).
func s3Block(name, endpoint, extra string) string {
	return fmt.Sprintf(`
sink "s3" %q {
  bucket            = "backups"
  endpoint          = %q
  region            = "us-east-1"
  path_style        = true
  access_key_id     = env("TEST_S3_KEY")
  secret_access_key = env("TEST_S3_SECRET")
%s
}
`, name, endpoint, extra)
}

// TestSinkStopsAnsweringDuringPut runs a backup, through the built binary
// and the s3 sink's plugin process, into a store that stops answering
// while one item's artifact is being stored: the request is sent and no
// answer ever comes. No max_duration is set. The stalled Put must fail
// after the idle bound (2 s here, AGOLPIPE_SINK_IDLE_TIMEOUT), as a
// retryable error naming the sink, be retried (by the one loop nearest to
// the write, the exporter's: the store is held again each time, until it
// has stalled 3 calls in a row and is given up), and the run must end with
// that item not complete, saying why, and every other item stored in both
// sinks. Before the bound the run waited forever.
func TestSinkStopsAnsweringDuringPut(t *testing.T) {
	if testing.Short() {
		t.Skip("starts plugin processes")
	}
	dir := t.TempDir()
	srv, admin := startSim(t, sim.Options{Items: 24, Seed: 11, LargeFileSize: 256 << 10, ExportTime: 200 * time.Millisecond})
	var victim string
	for _, it := range srv.Org().Items {
		if it.Type == "Web Map" {
			victim = it.ID
			break
		}
	}
	if victim == "" {
		t.Fatal("no web map in the simulated org")
	}
	// Object keys end in <title>_<item id>[_<artifact>]<ext>.
	store := startHangingS3(t, func(key string) bool { return strings.Contains(key, "_"+victim) })
	nas := filepath.Join(dir, "nas")
	file := writePipeline(t, dir, simSource(srv, admin, "")+fmt.Sprintf(`
sink "local" "nas" { path = %q }
`, nas)+s3Block("cloud", store.url, "")+`
run {
  prefix  = "HANG"
  retries = 1
}
`)
	env := append(os.Environ(), sinkwatch.IdleEnv+"=2s", "TEST_S3_KEY=AKIDTEST", "TEST_S3_SECRET=not-a-secret-test-key")
	start := time.Now()
	code, out := runExe(t, dir, env, "run", file, "--plain")
	took := time.Since(start)
	t.Logf("exit %d after %s", code, took.Round(time.Millisecond))
	if code != exitPartial {
		t.Errorf("exit %d, want %d (one item failed)\n%s", code, exitPartial, out)
	}
	runs, _ := filepath.Glob(filepath.Join(nas, "HANG_*"))
	if len(runs) != 1 {
		t.Fatalf("run folders in the local sink: %v\n%s", runs, out)
	}
	m := readManifest(t, runs[0])
	var failed *report.Item
	for i := range m.Items {
		it := &m.Items[i]
		if it.ID == victim {
			failed = it
		} else if it.Status == sdk.StatusFailed {
			t.Errorf("item %s %q failed too: %s", it.ID, it.Title, it.Reason)
		}
	}
	if failed == nil {
		t.Fatalf("item %s not in the manifest", victim)
	}
	// Stalled, retried, and, once the store stalled 3 calls in a row,
	// given up for the rest of the run: the item is not complete in the
	// required sink either way, and its reason says why.
	if failed.Status != sdk.StatusFailed && failed.Status != sdk.StatusPartial || !strings.Contains(failed.Reason, `sink "cloud" stopped answering: no progress for 2s`) {
		t.Errorf("the item whose store hung: status %s, reason %q; want failed or partial, naming the sink and the bound", failed.Status, failed.Reason)
	}
	held := 0
	for _, a := range m.Artifacts {
		for _, o := range a.Sinks {
			if a.ItemID != victim && o.Status != report.Stored {
				t.Errorf("artifact %s of %s not stored in %s: %s", a.Name, a.ItemID, o.Sink, o.Error)
			}
		}
	}
	store.mu.Lock()
	for _, n := range store.held {
		held += n
	}
	store.mu.Unlock()
	if held < 2 {
		t.Errorf("the store held %d request(s); want the first try and at least one retry held", held)
	}
	if store.puts.Load() == 0 {
		t.Errorf("nothing was stored in the s3 sink: the stall was not limited to one item")
	}
	if res, err := os.ReadFile(filepath.Join(runs[0], report.ResultsFile)); err != nil || !strings.Contains(string(res), `sink "cloud" stopped answering`) {
		t.Errorf("Results.txt does not say the sink stopped answering (%v):\n%s", err, res)
	}
}

// TestSinkNeverAnswers runs a backup, a prune and a listing of the stored
// runs against an s3 sink whose endpoint accepts connections and never
// answers, through the built binary and the plugin: a run where the sink is
// optional goes on without it (its preflight fails after the idle bound,
// with the sink's name), and prune and runs (whose listings hang) fail
// within seconds, naming the sink, exit 1.
// Neither has a max_duration. Before the bound both waited forever.
func TestSinkNeverAnswers(t *testing.T) {
	if testing.Short() {
		t.Skip("starts plugin processes")
	}
	dir := t.TempDir()
	srv, admin := startSim(t, sim.Options{Items: 6, Seed: 11, LargeFileSize: 256 << 10})
	endpoint := silentEndpoint(t)
	nas := filepath.Join(dir, "nas")
	file := writePipeline(t, dir, simSource(srv, admin, "")+fmt.Sprintf(`
sink "local" "nas" { path = %q }
`, nas)+s3Block("frozen", endpoint, `
  required = false
  retention {
    delete_after = "30d"
  }
`)+`
run {
  prefix  = "FROZEN"
  retries = 1
}
`)
	env := append(os.Environ(), sinkwatch.IdleEnv+"=2s", "TEST_S3_KEY=AKIDTEST", "TEST_S3_SECRET=not-a-secret-test-key")

	start := time.Now()
	code, out := runExe(t, dir, env, "run", file, "--plain")
	t.Logf("run: exit %d after %s", code, time.Since(start).Round(time.Millisecond))
	if code != exitOK {
		t.Errorf("run exit %d, want 0 (the frozen sink is optional)\n%s", code, out)
	}
	runs, _ := filepath.Glob(filepath.Join(nas, "FROZEN_*"))
	if len(runs) != 1 {
		t.Fatalf("run folders in the local sink: %v\n%s", runs, out)
	}
	m := readManifest(t, runs[0])
	found := false
	for _, w := range m.Warnings {
		if strings.Contains(w, `sink "frozen"`) && strings.Contains(w, "failed its preflight") && strings.Contains(w, "stopped answering: no progress for 2s") {
			found = true
		}
	}
	if !found {
		t.Errorf("no warning that the frozen sink failed its preflight for want of an answer: %q", m.Warnings)
	}

	start = time.Now()
	code, out = runExe(t, dir, env, "prune", file)
	t.Logf("prune: exit %d after %s", code, time.Since(start).Round(time.Millisecond))
	if code != exitPartial {
		t.Errorf("prune exit %d, want %d\n%s", code, exitPartial, out)
	}
	if !strings.Contains(out, `sink "frozen"`) || !strings.Contains(out, `stopped answering: no progress for 2s while listing`) {
		t.Errorf("prune does not say the sink stopped answering while listing:\n%s", out)
	}

	// Reading back what the sink holds (runs; verify and restore open the
	// sinks the same way) is bounded alike.
	start = time.Now()
	code, out = runExe(t, dir, env, "runs", file, "--sink", "frozen")
	t.Logf("runs: exit %d after %s", code, time.Since(start).Round(time.Millisecond))
	if code != exitPartial {
		t.Errorf("runs exit %d, want %d\n%s", code, exitPartial, out)
	}
	if !strings.Contains(out, `sink "frozen"`) || !strings.Contains(out, `stopped answering: no progress for 2s`) {
		t.Errorf("runs does not say the sink stopped answering:\n%s", out)
	}
}

// TestSinkListingBounds runs a backup, through the built binary and the s3
// sink's plugin, into a bucket whose listing never ends but never stalls
// either (a page every 400 ms: a bucket of millions of objects on a slow
// link), so the idle bound never trips. The look for unfinished runs
// (5 min by default) and retention (30 min) are bounded on their own;
// AGOLPIPE_SINK_SCAN_TIMEOUT and AGOLPIPE_RETENTION_TIMEOUT set them to 3 s
// here. The run must end, its artifacts stored, run.log saying the look
// was cut short and the warnings that retention stopped, with the bound and
// what to do. With the bounds fixed in the code, the run took over 5
// minutes.
func TestSinkListingBounds(t *testing.T) {
	if testing.Short() {
		t.Skip("starts plugin processes")
	}
	dir := t.TempDir()
	srv, admin := startSim(t, sim.Options{Items: 6, Seed: 11, LargeFileSize: 256 << 10})
	store := startFakeS3(t, func(string) bool { return false }, 400*time.Millisecond)
	nas := filepath.Join(dir, "nas")
	file := writePipeline(t, dir, simSource(srv, admin, "")+fmt.Sprintf(`
sink "local" "nas" { path = %q }
`, nas)+s3Block("cloud", store.url, `
  retention {
    delete_after = "30d"
  }
`)+`
run { prefix = "SLOW" }
`)
	env := append(os.Environ(), "TEST_S3_KEY=AKIDTEST", "TEST_S3_SECRET=not-a-secret-test-key",
		engine.SinkScanTimeoutEnv+"=3s", engine.RetentionTimeoutEnv+"=3s")
	start := time.Now()
	code, out := runExe(t, dir, env, "run", file, "--plain")
	took := time.Since(start)
	t.Logf("exit %d after %s, %d listing pages served", code, took.Round(time.Millisecond), store.pages.Load())
	if code != exitOK {
		t.Errorf("exit %d, want 0 (every item stored)\n%s", code, out)
	}
	if store.pages.Load() < 10 {
		t.Errorf("only %d listing pages: the listing did not go on moving as the test means it to", store.pages.Load())
	}
	runs, _ := filepath.Glob(filepath.Join(nas, "SLOW_*"))
	if len(runs) != 1 {
		t.Fatalf("run folders in the local sink: %v\n%s", runs, out)
	}
	// Retention runs after the manifest is written; Results.txt is
	// rewritten with its outcome.
	res, err := os.ReadFile(filepath.Join(runs[0], report.ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	want := `sink "cloud": retention stopped: retention did not finish within 3s; set ` + engine.RetentionTimeoutEnv + ` to allow longer`
	if !strings.Contains(string(res), want) {
		t.Errorf("Results.txt does not say %q:\n%s", want, res)
	}
	log, err := os.ReadFile(filepath.Join(runs[0], report.LogFile))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), "could not look for unfinished runs") || !strings.Contains(string(log), "the look for unfinished runs did not finish within 3s; set "+engine.SinkScanTimeoutEnv) {
		t.Errorf("run.log does not say the look for unfinished runs in the slow sink was cut short:\n%s", log)
	}
}

// TestSinkBoundVariablesChecked: a bound set to something that is not a
// positive duration stops run and prune before they start, exit 2, naming
// the variable, instead of being ignored or taken as no bound.
func TestSinkBoundVariablesChecked(t *testing.T) {
	if testing.Short() {
		t.Skip("starts plugin processes")
	}
	dir := t.TempDir()
	srv, admin := startSim(t, sim.Options{Items: 2, Seed: 11})
	file := writePipeline(t, dir, simSource(srv, admin, "")+fmt.Sprintf(`
sink "local" "nas" {
  path = %q
  retention {
    delete_after = "30d"
  }
}
`, filepath.Join(dir, "nas")))
	for _, c := range []struct{ name, value, cmd string }{
		{sinkwatch.IdleEnv, "soon", "run"},
		{sinkwatch.IdleEnv, "-5m", "prune"},
		{engine.RetentionTimeoutEnv, "0", "run"},
		{engine.SinkScanTimeoutEnv, "5", "run"},
	} {
		code, out := runExe(t, dir, append(os.Environ(), c.name+"="+c.value), c.cmd, file)
		if code != exitUsage || !strings.Contains(out, c.name+"="+fmt.Sprintf("%q", c.value)) {
			t.Errorf("%s with %s=%s: exit %d, want %d naming the variable:\n%s", c.cmd, c.name, c.value, code, exitUsage, out)
		}
	}
}
