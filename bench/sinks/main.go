// Command sinks benchmarks the built-in sinks against the real test servers
// (scripts/test-servers.sh start) on the road of `agolpipe run`: it runs
// core/engine.Run on a one-item pipeline whose exporter streams one file as
// one artifact, so the engine's fan-out (one read, bounded per-sink queues,
// the manifest's sha256) and the reports are in the measurement. With one
// sink it is the single-sink baseline; with several it is the fan-out, on
// the same road, so the two compare like with like.
//
//	go run ./bench/sinks -sinks s3 -file /tmp/bench-1g.bin
//	go run ./bench/sinks -sinks local,s3,azure_blob -file /tmp/bench-1g.bin
//	go run ./bench/sinks -sinks local,s3,azure_blob -file F -agolpipe ./agolpipe
//
// The source and the exporter are in-process (the exporter reads the file;
// bench/stream measures the exporter plugin hop). The sinks are in-process
// by default, or, with -agolpipe, served by that binary as plugin
// subprocesses as in a real run. It prints wall time, throughput, the peak
// RSS (VmHWM) and CPU of this process and of each plugin subprocess, the
// load average at the start, and the CPU time the local test servers
// (Azurite, versitygw) spent during the run, read from /proc/<pid>/stat of
// the PIDs in $TEST_INFRA_DIR/run, since they share this machine's cores.
// -limit s3=50,azure_blob=30 paces those sinks' reads (MiB/s) to stand in
// for remote destinations behind slower links; -set s3.part_size_mib=5
// overrides a sink's default settings. bench/sinks/run.sh drives it.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agolpipe/agolpipe/bench/internal/procfs"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	s3api "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/zclconf/go-cty/cty"

	"github.com/agolpipe/agolpipe/core/engine"
	"github.com/agolpipe/agolpipe/core/pipeline"
	"github.com/agolpipe/agolpipe/core/pluginhost"
	"github.com/agolpipe/agolpipe/internal/testservers"
	"github.com/agolpipe/agolpipe/plugins"
	"github.com/agolpipe/agolpipe/sdk"
)

func main() {
	sinks := flag.String("sinks", "s3", "comma-separated: local, s3, azure_blob, smb")
	file := flag.String("file", "", "artifact to back up (required)")
	localDir := flag.String("local-dir", "/tmp/bench-sinks-local", "folder for the local sink")
	bucket := flag.String("bucket", "bench", "S3 bucket / Azure container (created when missing)")
	agolpipe := flag.String("agolpipe", "", "agolpipe binary serving the sinks as plugin subprocesses (default: sinks in this process)")
	keep := flag.Bool("keep", false, "keep the run's objects in the sinks")
	limit := flag.String("limit", "", "emulate slower links: per-sink MiB/s a sink may read its artifact at, e.g. s3=60,azure_blob=40")
	set := flag.String("set", "", "sink settings over the defaults, e.g. s3.part_size_mib=5,s3.concurrency=3,azure_blob.block_size_mib=4")
	printSAS := flag.Bool("azure-sas", false, "print a one-hour SAS URL of the Azurite container (for rclone) and exit")
	flag.Parse()
	// This process stands in for `agolpipe run`, so it takes agolpipe's GC
	// setting (cmd/agolpipe).
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(50)
	}
	if *printSAS {
		srv := testservers.AzureBlob(benchTB{})
		c, err := container.NewClientFromConnectionString(srv.ConnectionString, *bucket, nil)
		check(err)
		_, _ = c.Create(context.Background(), nil)
		u, err := c.GetSASURL(sas.ContainerPermissions{Read: true, Write: true, Delete: true, List: true, Create: true}, time.Now().Add(time.Hour), nil)
		check(err)
		fmt.Println(u)
		return
	}
	if *file == "" {
		fmt.Fprintln(os.Stderr, "usage: sinks -sinks local,s3,azure_blob -file BIG [-agolpipe BIN]")
		os.Exit(2)
	}
	ctx := context.Background()
	fi, err := os.Stat(*file)
	check(err)

	var h *pluginhost.Host
	if *agolpipe != "" {
		h, err = pluginhost.New(ctx, pluginhost.Options{Executable: *agolpipe, BuiltIns: plugins.BuiltIns().Describe()})
		check(err)
		defer h.Close()
	}
	limits := parseLimits(*limit)
	settings := parseSettings(*set)
	var es []engine.Sink
	var blocks []*pipeline.SinkBlock
	for _, n := range strings.Split(*sinks, ",") {
		s, features, attrs := open(ctx, h, n, *localDir, *bucket, settings[n])
		if l := limits[n]; l > 0 {
			s = throttledSink{Sink: s, bytesPerSec: l * (1 << 20)}
		}
		b := &pipeline.SinkBlock{Component: pipeline.Component{Type: n, Name: n, Config: attrs}, Required: true, Layout: "type"}
		blocks = append(blocks, b)
		es = append(es, engine.Sink{Block: b, Sink: s, Features: features})
	}
	p := &pipeline.Pipeline{
		Filename: "bench.hcl",
		Source:   &pipeline.Component{Type: "bench", Name: "bench"},
		Exports:  []*pipeline.Export{{ItemType: "File", Exporter: &pipeline.Component{Type: "bench-file", Name: "bench-file"}}},
		Sinks:    blocks,
		Run:      pipeline.Run{Prefix: "bench-" + randHex(), Concurrency: 1, Retries: 0},
	}

	servers := serverPIDs()
	load := procfs.LoadAvg()
	cpu0 := map[string]float64{}
	for name, pid := range servers {
		cpu0[name] = procfs.CPUSeconds(pid)
	}
	var ru0 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)

	stopPSS := make(chan struct{})
	pss := make(chan int64)
	go samplePSS(stopPSS, pss)
	start := time.Now()
	rec, err := engine.Run(ctx, engine.Options{
		Pipeline:  p,
		Source:    benchSource{size: fi.Size()},
		Exporters: map[string]engine.Exporter{"File": {Name: "bench-file", Exporter: &fileExporter{file: *file}}},
		Sinks:     es,
	})
	wall := time.Since(start)
	close(stopPSS)
	peakPSS := <-pss
	check(err)

	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	hostCPU := time.Duration(ru.Utime.Nano() + ru.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano()).Seconds()
	serverCPU := map[string]float64{}
	for name, pid := range servers {
		serverCPU[name] = procfs.CPUSeconds(pid) - cpu0[name]
	}

	// The run must have stored the whole file in every sink, else the time
	// means nothing.
	if rec.ExitCode != 0 || len(rec.Artifacts) != 1 || rec.Artifacts[0].Size != fi.Size() {
		fmt.Fprintf(os.Stderr, "error: the run ended with exit code %d, %d artifacts (%s)\n", rec.ExitCode, len(rec.Artifacts), rec.Error)
		os.Exit(1)
	}
	a := rec.Artifacts[0]
	for i, o := range a.Sinks {
		if o.Status != "stored" {
			fmt.Fprintf(os.Stderr, "error: sink %s: %s %s\n", o.Sink, o.Status, o.Error)
			os.Exit(1)
		}
		st, err := es[i].Sink.Stat(ctx, rec.RunFolder+"/"+o.Path)
		check(err)
		if st.Size != fi.Size() {
			fmt.Fprintf(os.Stderr, "error: sink %s stored %d bytes, want %d\n", o.Sink, st.Size, fi.Size())
			os.Exit(1)
		}
	}
	if !*keep {
		for _, e := range es {
			removeRun(ctx, e.Sink, rec.RunFolder+"/")
		}
	}

	mib := float64(fi.Size()) / (1 << 20)
	fmt.Printf("sinks=%s road=%s limit=%s set=%s size=%.0fMiB load=%.2f wall=%.2fs throughput=%.1fMiB/s\n",
		*sinks, road(h), *limit, *set, mib, load, wall.Seconds(), mib/wall.Seconds())
	rss := procfs.StatusKiB(os.Getpid(), "VmHWM")
	fmt.Printf("  host: peak_rss=%.1fMiB cpu=%.2fs\n", float64(rss)/1024, hostCPU)
	total, pluginCPU := rss, 0.0
	// The plugins started in the order of -sinks, so their pids rise in it.
	names := strings.Split(*sinks, ",")
	pids := procfs.Children(os.Getpid())
	sort.Ints(pids)
	perSink := map[string]float64{}
	for i, pid := range pids {
		r, c := procfs.StatusKiB(pid, "VmHWM"), procfs.CPUSeconds(pid)
		total += r
		pluginCPU += c
		name := "?"
		if len(pids) == len(names) {
			name = names[i]
			perSink[name] = float64(r) / 1024
		}
		fmt.Printf("  plugin %d (%s): peak_rss=%.1fMiB cpu=%.2fs (since its start)\n", pid, name, float64(r)/1024, c)
	}
	fmt.Printf("  total peak_rss=%.1fMiB peak_pss=%.1fMiB\n", float64(total)/1024, float64(peakPSS)/1024)
	for _, name := range []string{"azurite", "versitygw"} {
		if _, ok := servers[name]; ok {
			fmt.Printf("  server %s: cpu=%.2fs during the run\n", name, serverCPU[name])
		}
	}
	// One line for run.sh to read.
	fmt.Printf("result load=%.2f wall=%.3f rss=%.1f pss=%.1f cpu_host=%.2f cpu_plugins=%.2f cpu_azurite=%.2f cpu_versitygw=%.2f host_rss=%.1f",
		load, wall.Seconds(), float64(total)/1024, float64(peakPSS)/1024, hostCPU, pluginCPU, serverCPU["azurite"], serverCPU["versitygw"], float64(rss)/1024)
	for _, n := range names {
		if r, ok := perSink[n]; ok {
			fmt.Printf(" rss_%s=%.1f", n, r)
		}
	}
	fmt.Println()
	for _, e := range es {
		_ = e.Sink.Close()
	}
}

func road(h *pluginhost.Host) string {
	if h == nil {
		return "engine+in-process-sinks"
	}
	return "engine+plugin-sinks"
}

// removeRun deletes what the run wrote under its folder in one sink.
func removeRun(ctx context.Context, s sdk.Sink, folder string) {
	var paths []string
	_ = s.List(ctx, sdk.ListRequest{Prefix: folder}, func(o sdk.ObjectInfo) error {
		paths = append(paths, o.Path)
		return nil
	})
	for _, p := range paths {
		_ = s.Delete(ctx, p)
	}
}

// parseLimits reads -limit: name=MiB/s pairs.
func parseLimits(s string) map[string]float64 {
	out := map[string]float64{}
	for _, kv := range strings.Split(s, ",") {
		if kv == "" {
			continue
		}
		name, v, ok := strings.Cut(kv, "=")
		f, err := strconv.ParseFloat(v, 64)
		if !ok || err != nil || f <= 0 {
			fmt.Fprintf(os.Stderr, "-limit: %q is not name=MiB/s\n", kv)
			os.Exit(2)
		}
		out[name] = f
	}
	return out
}

// parseSettings reads -set: sink.attribute=value pairs, by sink. A value
// that parses as an integer is a number, true/false a bool, else a string.
func parseSettings(s string) map[string]map[string]cty.Value {
	out := map[string]map[string]cty.Value{}
	for _, kv := range strings.Split(s, ",") {
		if kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		sink, attr, ok2 := strings.Cut(k, ".")
		if !ok || !ok2 {
			fmt.Fprintf(os.Stderr, "-set: %q is not sink.attribute=value\n", kv)
			os.Exit(2)
		}
		val := cty.StringVal(v)
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			val = cty.NumberIntVal(n)
		} else if b, err := strconv.ParseBool(v); err == nil {
			val = cty.BoolVal(b)
		}
		if out[sink] == nil {
			out[sink] = map[string]cty.Value{}
		}
		out[sink][attr] = val
	}
	return out
}

// throttledSink stands in for a destination behind a slower link: its Put
// reads the artifact no faster than bytesPerSec, so the sink's own CPU
// work and the server's spread out as they would over a real network.
type throttledSink struct {
	sdk.Sink
	bytesPerSec float64
}

func (t throttledSink) Put(ctx context.Context, req sdk.PutRequest) (sdk.PutResponse, error) {
	b := &throttledBody{body: req.Body, rate: t.bytesPerSec}
	req.Body = b
	if d, ok := b.body.(interface{ SHA256() []byte }); ok {
		req.Body = digestBody{b, d}
	}
	return t.Sink.Put(ctx, req)
}

// throttledBody paces a body. It keeps the body's optional abilities that
// change the road the bytes take: io.WriterTo (the fan-out hands its chunks
// to the Put client without a copy) and, through digestBody, SHA256 (the
// Put client then does not hash every byte again), so throttling adds
// sleeps and nothing else.
type throttledBody struct {
	body  io.Reader
	rate  float64
	start time.Time
	n     int64
}

func (b *throttledBody) pace(n int) {
	if b.start.IsZero() {
		b.start = time.Now()
	}
	b.n += int64(n)
	due := time.Duration(float64(b.n) / b.rate * float64(time.Second))
	if d := due - time.Since(b.start); d > 0 {
		time.Sleep(d)
	}
}

func (b *throttledBody) Read(p []byte) (int, error) {
	n, err := b.body.Read(p)
	b.pace(n)
	return n, err
}

func (b *throttledBody) WriteTo(w io.Writer) (int64, error) {
	wt, ok := b.body.(io.WriterTo)
	if !ok {
		return io.Copy(w, struct{ io.Reader }{b})
	}
	return wt.WriteTo(pacedWriter{w: w, b: b})
}

// digestBody is a throttledBody whose body knows its SHA-256.
type digestBody struct {
	*throttledBody
	d interface{ SHA256() []byte }
}

func (b digestBody) SHA256() []byte { return b.d.SHA256() }

type pacedWriter struct {
	w io.Writer
	b *throttledBody
}

func (p pacedWriter) Write(c []byte) (int, error) {
	n, err := p.w.Write(c)
	p.b.pace(n)
	return n, err
}

// fileExporter streams one file as one artifact; in-process, since the
// exporter plugin hop is bench/stream's subject, not this benchmark's.
type fileExporter struct{ file string }

func (e *fileExporter) Info() sdk.Info {
	return sdk.Info{Kind: sdk.KindExporter, Name: "bench-file", Version: "1.0.0"}
}
func (e *fileExporter) Schema() sdk.Schema                                              { return sdk.Schema{} }
func (e *fileExporter) ItemTypes() []string                                             { return []string{"File"} }
func (e *fileExporter) Configure(context.Context, sdk.ConfigureRequest) sdk.Diagnostics { return nil }
func (e *fileExporter) Close() error                                                    { return nil }

func (e *fileExporter) Export(ctx context.Context, _ sdk.ExportRequest, _ sdk.Host, out sdk.ArtifactWriter) (sdk.ExportResult, error) {
	f, err := os.Open(e.file)
	if err != nil {
		return sdk.ExportResult{}, sdk.Permanent("%v", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return sdk.ExportResult{}, sdk.Permanent("%v", err)
	}
	if err := out.Write(ctx, sdk.Artifact{Name: filepath.Base(e.file), MediaType: "application/octet-stream", Size: fi.Size(), Format: "Binary"}, f); err != nil {
		return sdk.ExportResult{}, err
	}
	return sdk.ExportResult{Status: sdk.StatusExported}, nil
}

// benchSource lists the one item the benchmark exports.
type benchSource struct{ size int64 }

func (s benchSource) Info() sdk.Info {
	return sdk.Info{Kind: sdk.KindSource, Name: "bench", Version: "1.0.0"}
}
func (s benchSource) Schema() sdk.Schema                                              { return sdk.Schema{} }
func (s benchSource) Configure(context.Context, sdk.ConfigureRequest) sdk.Diagnostics { return nil }
func (s benchSource) Connect(context.Context) (sdk.OrgInfo, error) {
	return sdk.OrgInfo{PortalURL: "https://bench.invalid/portal", OrgID: "bench", OrgName: "Bench", Mode: "online", Username: "bench", ItemCount: 1}, nil
}
func (s benchSource) ListItems(_ context.Context, _ sdk.ListItemsRequest, fn func(sdk.ListedItem) error) error {
	return fn(sdk.ListedItem{Item: sdk.Item{ID: "bench", Title: "1 GiB", Type: "File", Owner: "bench", Size: s.size}})
}
func (s benchSource) Do(context.Context, sdk.PortalRequest) (*sdk.PortalResponse, error) {
	return nil, sdk.NotFound("the benchmark source has no portal")
}
func (s benchSource) Close() error { return nil }

// open configures a sink against the test servers, in this process or as
// a plugin subprocess of h, with the sink's default settings unless set
// overrides some (-set). It returns the configuration too, for the sink
// block.
func open(ctx context.Context, h *pluginhost.Host, name, localDir, bucket string, set map[string]cty.Value) (sdk.Sink, sdk.SinkFeatures, cty.Value) {
	t := benchTB{}
	var s sdk.Sink
	if h != nil {
		var err error
		s, err = h.Sink(ctx, name)
		check(err)
	} else {
		mk, ok := plugins.Sinks[name]
		if !ok {
			fmt.Fprintf(os.Stderr, "unknown sink %q\n", name)
			os.Exit(2)
		}
		s = mk()
	}
	attrs := map[string]cty.Value{}
	switch name {
	case "local":
		attrs["path"] = cty.StringVal(localDir)
	case "s3":
		srv := testservers.S3(t)
		c := s3api.New(s3api.Options{Region: srv.Region, BaseEndpoint: aws.String(srv.Endpoint), UsePathStyle: true,
			Credentials: credentials.NewStaticCredentialsProvider(srv.AccessKey, srv.SecretKey, "")})
		_, _ = c.CreateBucket(ctx, &s3api.CreateBucketInput{Bucket: &bucket})
		attrs = map[string]cty.Value{"bucket": cty.StringVal(bucket), "endpoint": cty.StringVal(srv.Endpoint), "region": cty.StringVal(srv.Region),
			"path_style": cty.True, "access_key_id": cty.StringVal(srv.AccessKey), "secret_access_key": cty.StringVal(srv.SecretKey)}
	case "azure_blob":
		srv := testservers.AzureBlob(t)
		c, err := container.NewClientFromConnectionString(srv.ConnectionString, bucket, nil)
		check(err)
		_, _ = c.Create(ctx, nil)
		attrs = map[string]cty.Value{"container": cty.StringVal(bucket), "connection_string": cty.StringVal(srv.ConnectionString)}
	case "smb":
		srv := testservers.SMB(t)
		attrs = map[string]cty.Value{"path": cty.StringVal(`\\` + srv.Host + `\` + srv.Share + `\bench`), "user": cty.StringVal(srv.User),
			"password": cty.StringVal(srv.Pass), "port": cty.NumberIntVal(int64(srv.Port))}
	}
	for k, v := range set {
		attrs[k] = v
	}
	cfg, err := s.Schema().ConfigValue(attrs)
	check(err)
	resp, diags := s.Configure(ctx, sdk.ConfigureRequest{Config: cfg})
	if diags.HasErrors() {
		check(diags.Err())
	}
	check(s.Preflight(ctx))
	return s, resp.Features, cfg
}

// benchTB lets testservers report a missing server outside a test.
type benchTB struct{ testing.TB }

func (benchTB) Helper() {}
func (benchTB) Skipf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(3)
}
func (b benchTB) Fatalf(format string, args ...any) { b.Skipf(format, args...) }

// serverPIDs reads the PIDs of the local test servers that share this
// machine's cores (scripts/test-servers.sh records them).
func serverPIDs() map[string]int {
	dir := os.Getenv("TEST_INFRA_DIR")
	if dir == "" {
		dir = "/tmp/test-infra"
	}
	out := map[string]int{}
	for _, name := range []string{"azurite", "versitygw"} {
		b, err := os.ReadFile(filepath.Join(dir, "run", name+".pid"))
		if err != nil {
			continue
		}
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && procfs.CPUSeconds(pid) >= 0 {
			out[name] = pid
		}
	}
	return out
}

// samplePSS sums the proportional set size (Pss) of this process and its
// plugin subprocesses every 250 ms until stop is closed, then sends the
// largest sum in KiB. Not more often: the kernel walks every page table of
// a process to answer smaps_rollup, and at 50 ms the four processes'
// samples cost ~0.9 CPU-s of a 11 s fan-out (perf: smaps_account), CPU the
// measured run then lacked. The memory of a fan-out is a plateau (part
// buffers and queues are taken at the start), so 250 ms still finds it.
// The RSS sum counts the agolpipe binary's file pages
// once per process although they are one copy in memory; Pss splits shared
// pages between the processes that map them, so the sum is the physical
// memory the run used (sampled, so it can miss a short peak).
func samplePSS(stop <-chan struct{}, out chan<- int64) {
	var peak int64
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		sum := max(0, procfs.PssKiB(os.Getpid()))
		for _, pid := range procfs.Children(os.Getpid()) {
			sum += max(0, procfs.PssKiB(pid))
		}
		peak = max(peak, sum)
		select {
		case <-stop:
			out <- peak
			return
		case <-t.C:
		}
	}
}

func randHex() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}
