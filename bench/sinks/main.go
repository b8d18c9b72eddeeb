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
	"bufio"
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

// fanOut reads body once and writes it to every sink concurrently, through
// one pipe per sink; a sink that stops reading stops the others only as far
// as the pipe's (unbuffered) hand-over requires.
func fanOut(ctx context.Context, ss []sdk.Sink, p string, size int64, body io.Reader) []error {
	errs := make([]error, len(ss))
	if len(ss) == 1 {
		_, errs[0] = ss[0].Put(ctx, sdk.PutRequest{Path: p, Size: size, Body: bufio.NewReaderSize(body, 1<<20)})
		return errs
	}
	pws := make([]*io.PipeWriter, len(ss))
	var wg sync.WaitGroup
	for i, s := range ss {
		pr, pw := io.Pipe()
		pws[i] = pw
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = s.Put(ctx, sdk.PutRequest{Path: p, Size: size, Body: pr})
			_ = pr.CloseWithError(fmt.Errorf("sink done"))
		}()
	}
	buf := make([]byte, 1<<20)
	alive := make([]bool, len(ss))
	for i := range alive {
		alive[i] = true
	}
	for {
		n, err := body.Read(buf)
		if n > 0 {
			var w sync.WaitGroup
			for i, pw := range pws {
				if !alive[i] {
					continue
				}
				w.Add(1)
				go func() {
					defer w.Done()
					if _, werr := pw.Write(buf[:n]); werr != nil {
						alive[i] = false
					}
				}()
			}
			w.Wait()
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			for _, pw := range pws {
				pw.CloseWithError(err)
			}
			wg.Wait()
			return errs
		}
	}
	for _, pw := range pws {
		pw.Close()
	}
	wg.Wait()
	return errs
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
	full := map[string]cty.Value{}
	for _, a := range s.Schema().Attributes {
		if v, ok := attrs[a.Name]; ok {
			full[a.Name] = v
		} else {
			full[a.Name] = cty.NullVal(a.Type.CtyType())
		}
	}
	if _, diags := s.Configure(ctx, sdk.ConfigureRequest{Config: cty.ObjectVal(full)}); diags.HasErrors() {
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
