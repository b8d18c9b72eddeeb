// Command sinks benchmarks the built-in sinks against the real test servers
// (scripts/test-servers.sh start): one artifact streamed into one sink, or
// fanned out to several sinks at once, reporting wall time, throughput and
// the process's peak RSS (VmHWM). bench/sinks/run.sh drives it and compares
// with rclone copying the same file to the same servers.
//
//	go run ./bench/sinks -sinks s3 -file /tmp/bench-1g.bin
//	go run ./bench/sinks -sinks local,s3,azure_blob -file /tmp/bench-1g.bin
//
// The sinks run in this process (no plugin subprocess), so the numbers are
// the sinks' own cost; the fan-out is this program's harness (one reader,
// one bounded pipe per sink), the same shape as the engine's fan-out.
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
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	s3api "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/zclconf/go-cty/cty"

	"github.com/agolpipe/agolpipe/internal/testservers"
	"github.com/agolpipe/agolpipe/plugins"
	"github.com/agolpipe/agolpipe/sdk"
)

func main() {
	sinks := flag.String("sinks", "s3", "comma-separated: local, s3, azure_blob, smb")
	file := flag.String("file", "", "artifact to upload (required)")
	localDir := flag.String("local-dir", "/tmp/bench-sinks-local", "folder for the local sink")
	bucket := flag.String("bucket", "bench", "S3 bucket / Azure container (created when missing)")
	keep := flag.Bool("keep", false, "keep the uploaded objects")
	printSAS := flag.Bool("azure-sas", false, "print a one-hour SAS URL of the Azurite container (for rclone) and exit")
	flag.Parse()
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
		fmt.Fprintln(os.Stderr, "usage: sinks -sinks s3,azure_blob -file BIG")
		os.Exit(2)
	}
	ctx := context.Background()
	fi, err := os.Stat(*file)
	check(err)
	var names []string
	var ss []sdk.Sink
	for _, n := range strings.Split(*sinks, ",") {
		s := open(ctx, n, *localDir, *bucket)
		names = append(names, n)
		ss = append(ss, s)
	}
	obj := "bench/" + randHex() + "/" + filepath.Base(*file)
	f, err := os.Open(*file)
	check(err)
	defer f.Close()

	start := time.Now()
	errs := fanOut(ctx, ss, obj, fi.Size(), f)
	wall := time.Since(start)
	for i, e := range errs {
		if e != nil {
			fmt.Fprintf(os.Stderr, "sink %s: %v\n", names[i], e)
			os.Exit(1)
		}
	}
	for i, s := range ss {
		info, err := s.Stat(ctx, obj)
		check(err)
		if info.Size != fi.Size() {
			fmt.Fprintf(os.Stderr, "sink %s stored %d bytes, want %d\n", names[i], info.Size, fi.Size())
			os.Exit(1)
		}
		if !*keep {
			_ = s.Delete(ctx, obj)
		}
		_ = s.Close()
	}
	mib := float64(fi.Size()) / (1 << 20)
	fmt.Printf("sinks=%s size=%.0fMiB wall=%.2fs throughput=%.1fMiB/s peak_rss=%dMiB\n",
		*sinks, mib, wall.Seconds(), mib/wall.Seconds(), peakRSSKiB()/1024)
}

// fanOut reads body once and writes it to every sink concurrently. Each
// sink has a queue of up to queueChunks chunks of 1 MiB, so a slow sink
// holds back the reader only when its queue is full: peak buffering is
// sinks x queueChunks MiB, independent of the artifact size.
func fanOut(ctx context.Context, ss []sdk.Sink, p string, size int64, body io.Reader) []error {
	const chunkSize, queueChunks = 1 << 20, 8
	errs := make([]error, len(ss))
	queues := make([]chan *chunk, len(ss))
	stopped := make([]chan struct{}, len(ss))
	var wg sync.WaitGroup
	for i, s := range ss {
		queues[i] = make(chan *chunk, queueChunks)
		stopped[i] = make(chan struct{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(stopped[i])
			r := &queueReader{q: queues[i]}
			_, errs[i] = s.Put(ctx, sdk.PutRequest{Path: p, Size: size, Body: r})
			r.drain()
		}()
	}
	var readErr error
	for {
		c := getChunk(chunkSize)
		n, err := io.ReadFull(body, c.b[:chunkSize])
		if n > 0 {
			c.b = c.b[:n]
			c.refs.Store(int32(len(ss)))
			for i, q := range queues {
				select {
				case q <- c:
				case <-stopped[i]:
					c.release()
				}
			}
		} else {
			putChunk(c)
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			readErr = err
			break
		}
	}
	for _, q := range queues {
		if readErr != nil {
			q <- &chunk{err: readErr}
		}
		close(q)
	}
	wg.Wait()
	return errs
}

type chunk struct {
	b    []byte
	refs atomic.Int32
	err  error
}

var chunkPool sync.Pool

func getChunk(n int) *chunk {
	if c, ok := chunkPool.Get().(*chunk); ok {
		c.b = c.b[:cap(c.b)]
		return c
	}
	return &chunk{b: make([]byte, n)}
}

func putChunk(c *chunk) { chunkPool.Put(c) }

func (c *chunk) release() {
	if c.refs.Add(-1) == 0 {
		putChunk(c)
	}
}

// queueReader is one sink's view of the shared stream.
type queueReader struct {
	q   chan *chunk
	cur *chunk
	off int
}

func (r *queueReader) Read(p []byte) (int, error) {
	for r.cur == nil || r.off == len(r.cur.b) {
		if r.cur != nil {
			r.cur.release()
			r.cur = nil
		}
		c, ok := <-r.q
		if !ok {
			return 0, io.EOF
		}
		if c.err != nil {
			return 0, c.err
		}
		r.cur, r.off = c, 0
	}
	n := copy(p, r.cur.b[r.off:])
	r.off += n
	return n, nil
}

// drain releases what a sink that stopped early never read.
func (r *queueReader) drain() {
	if r.cur != nil {
		r.cur.release()
		r.cur = nil
	}
	for {
		select {
		case c, ok := <-r.q:
			if !ok {
				return
			}
			if c.err == nil {
				c.release()
			}
		default:
			return
		}
	}
}

// open configures a sink against the test servers.
func open(ctx context.Context, name, localDir, bucket string) sdk.Sink {
	t := benchTB{}
	mk, ok := plugins.Sinks[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "unknown sink %q\n", name)
		os.Exit(2)
	}
	s := mk()
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
	cfg, err := s.Schema().ConfigValue(attrs)
	check(err)
	if _, diags := s.Configure(ctx, sdk.ConfigureRequest{Config: cfg}); diags.HasErrors() {
		check(diags.Err())
	}
	check(s.Preflight(ctx))
	return s
}

// benchTB lets testservers report a missing server outside a test.
type benchTB struct{ testing.TB }

func (benchTB) Helper() {}
func (benchTB) Skipf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(3)
}
func (b benchTB) Fatalf(format string, args ...any) { b.Skipf(format, args...) }

func peakRSSKiB() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var n int64
			fmt.Sscanf(strings.TrimSpace(v), "%d", &n)
			return n
		}
	}
	return 0
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
