package s3

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/zclconf/go-cty/cty"

	"github.com/agolpipe/agolpipe/internal/testservers"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/sinktest"
)

var (
	bucketMu sync.Mutex
	buckets  = map[string]string{} // server name -> bucket of this process
)

// testBucket creates one bucket per test process on each shared server.
func testBucket(t *testing.T, srv testservers.S3Server) string {
	t.Helper()
	bucketMu.Lock()
	defer bucketMu.Unlock()
	if b, ok := buckets[srv.Name]; ok {
		return b
	}
	b := "agolpipe-test-" + testservers.RandHex(4)
	if _, err := rawClient(srv).CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: &b}); err != nil {
		t.Fatalf("create test bucket on %s: %v", srv.Name, err)
	}
	buckets[srv.Name] = b
	return b
}

// rawClient reaches srv with the SDK directly, to set up buckets and look
// behind the sink's back.
func rawClient(srv testservers.S3Server) *s3.Client {
	return s3.New(s3.Options{Region: srv.Region, BaseEndpoint: aws.String(srv.Endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(srv.AccessKey, srv.SecretKey, "")})
}

func baseAttrs(t *testing.T, srv testservers.S3Server, endpoint string) map[string]cty.Value {
	return map[string]cty.Value{
		"bucket":            cty.StringVal(testBucket(t, srv)),
		"prefix":            cty.StringVal("t/" + testservers.RandHex(6)),
		"region":            cty.StringVal(srv.Region),
		"endpoint":          cty.StringVal(endpoint),
		"path_style":        cty.True,
		"access_key_id":     cty.StringVal(srv.AccessKey),
		"secret_access_key": cty.StringVal(srv.SecretKey),
		"part_size_mib":     cty.NumberIntVal(5),
		"concurrency":       cty.NumberIntVal(3),
	}
}

func configured(t *testing.T, attrs map[string]cty.Value) *Sink {
	t.Helper()
	s := New().(*Sink)
	if _, diags := s.Configure(context.Background(), sdk.ConfigureRequest{Config: sinktest.Config(t, New().Schema(), attrs)}); diags.HasErrors() {
		t.Fatalf("Configure: %v", diags.Err())
	}
	return s
}

func TestConformance(t *testing.T) {
	testservers.EachS3(t, func(t *testing.T, srv testservers.S3Server) {
		sinktest.Run(t, func(t *testing.T) sdk.Sink {
			s := New().(*Sink)
			s.pageSize = 3 // every listing of the suite crosses pages
			return s
		}, func(t *testing.T) map[string]cty.Value { return baseAttrs(t, srv, srv.Endpoint) }, sinktest.Options{
			BoundarySizes: []int64{5<<20 - 1, 5 << 20, 5<<20 + 1, 10<<20 + 1},
			// Over gRPC client and server share this process, so the live
			// heap holds both the gRPC stream's buffers and the S3 parts
			// (5 MiB x (3+1)); 64 MiB written is still far from buffered.
			MaxHeapGrowthGRPC: 64 << 20,
		})
	})
}

func TestPreflightWrongCredentials(t *testing.T) {
	testservers.EachS3(t, testPreflightWrongCredentials)
}

func testPreflightWrongCredentials(t *testing.T, srv testservers.S3Server) {
	cases := map[string]map[string]cty.Value{
		"wrong secret":       {"secret_access_key": cty.StringVal("not-the-secret")},
		"unknown access key": {"access_key_id": cty.StringVal("nobody"), "secret_access_key": cty.StringVal("x")},
	}
	for name, over := range cases {
		t.Run(name, func(t *testing.T) {
			attrs := baseAttrs(t, srv, srv.Endpoint)
			for k, v := range over {
				attrs[k] = v
			}
			err := configured(t, attrs).Preflight(context.Background())
			sinktest.WantError(t, err, sdk.KindAuth, "access_key_id", "not-the-secret", srv.SecretKey)
		})
	}
}

func TestPreflightMissingBucket(t *testing.T) {
	testservers.EachS3(t, testPreflightMissingBucket)
}

func testPreflightMissingBucket(t *testing.T, srv testservers.S3Server) {
	attrs := baseAttrs(t, srv, srv.Endpoint)
	attrs["bucket"] = cty.StringVal("agolpipe-no-such-bucket-" + testservers.RandHex(3))
	err := configured(t, attrs).Preflight(context.Background())
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("Preflight of a missing bucket: %v, want an error saying it does not exist", err)
	}
}

// The server "dies" (every connection reset, new ones refused) while a
// multipart upload is in flight: Put fails with a retryable error and no
// object is visible once the server is back.
func TestServerKilledMidUpload(t *testing.T) {
	testservers.EachS3(t, testServerKilledMidUpload)
}

func testServerKilledMidUpload(t *testing.T, srv testservers.S3Server) {
	u, _ := url.Parse(srv.Endpoint)
	proxy := testservers.NewProxy(t, u.Host)
	attrs := baseAttrs(t, srv, "http://"+proxy.Addr())
	s := configured(t, attrs)
	if err := s.Preflight(context.Background()); err != nil {
		t.Fatalf("Preflight through proxy: %v", err)
	}
	sinktest.PutCut(t, s, "run/big.bin", 40<<20, 17<<20, proxy.Cut)
	proxy.Restore()
	direct := configured(t, attrs)
	direct.client = configured(t, baseAttrs(t, srv, srv.Endpoint)).client
	if _, err := direct.Stat(context.Background(), "run/big.bin"); !sdk.IsNotFound(err) {
		t.Errorf("after the failed upload Stat says %v, want not found", err)
	}
	var listed []string
	_ = direct.List(context.Background(), sdk.ListRequest{}, func(o sdk.ObjectInfo) error { listed = append(listed, o.Path); return nil })
	if len(listed) != 0 {
		t.Errorf("objects visible after the failed upload: %v", listed)
	}
}

func TestConfigureDiagnostics(t *testing.T) {
	cases := []struct {
		name  string
		attrs map[string]cty.Value
		path  string
	}{
		{"bucket with slash", map[string]cty.Value{"bucket": cty.StringVal("a/b")}, "bucket"},
		{"key without secret", map[string]cty.Value{"bucket": cty.StringVal("b"), "access_key_id": cty.StringVal("k")}, "secret_access_key"},
		{"bad storage class", map[string]cty.Value{"bucket": cty.StringVal("b"), "storage_class": cty.StringVal("FROZEN")}, "storage_class"},
		{"bad sse", map[string]cty.Value{"bucket": cty.StringVal("b"), "server_side_encryption": cty.StringVal("rot13")}, "server_side_encryption"},
		{"lock without days", map[string]cty.Value{"bucket": cty.StringVal("b"), "object_lock_mode": cty.StringVal("COMPLIANCE")}, "object_lock_days"},
		{"tiny parts", map[string]cty.Value{"bucket": cty.StringVal("b"), "part_size_mib": cty.NumberIntVal(1)}, "part_size_mib"},
		{"fractional concurrency", map[string]cty.Value{"bucket": cty.StringVal("b"), "concurrency": cty.NumberFloatVal(2.5)}, "concurrency"},
		{"endpoint not a URL", map[string]cty.Value{"bucket": cty.StringVal("b"), "endpoint": cty.StringVal("localhost:9000")}, "endpoint"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, diags := New().Configure(context.Background(), sdk.ConfigureRequest{Config: sinktest.Config(t, New().Schema(), c.attrs)})
			if !diags.HasErrors() {
				t.Fatal("no error")
			}
			found := false
			for _, d := range diags {
				if len(d.Path) == 1 && d.Path[0] == c.path {
					found = true
				}
			}
			if !found {
				t.Errorf("no diagnostic at %q: %v", c.path, diags)
			}
		})
	}
}

func TestSecretsAreSensitive(t *testing.T) {
	for _, name := range []string{"access_key_id", "secret_access_key", "session_token"} {
		a, ok := New().Schema().Attribute(name)
		if !ok || !a.Sensitive {
			t.Errorf("%s is not a sensitive attribute", name)
		}
	}
}

func TestClassify(t *testing.T) {
	ctx := context.Background()
	if k := sdk.KindOf(classify(ctx, errors.New("read tcp: connection reset by peer"), "x")); k != sdk.KindRetryable {
		t.Errorf("connection reset: %v", k)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if k := sdk.KindOf(classify(cctx, context.Canceled, "x")); k != sdk.KindCanceled {
		t.Errorf("cancelled: %v", k)
	}
	// MinIO's answer to SSE without a KMS: a 501 that no retry changes.
	notImpl := &awshttp.ResponseError{ResponseError: &smithyhttp.ResponseError{
		Response: &smithyhttp.Response{Response: &http.Response{StatusCode: http.StatusNotImplemented}},
		Err:      &smithy.GenericAPIError{Code: "NotImplemented", Message: "Server side encryption specified but KMS is not configured"},
	}}
	if k := sdk.KindOf(classify(ctx, notImpl, "x")); k != sdk.KindPermanent {
		t.Errorf("NotImplemented: %v, want permanent", k)
	}
	// MinIO with a full disk: a 507, which a retry does not mend; the whole
	// store is full, so the reason says so.
	full := &awshttp.ResponseError{ResponseError: &smithyhttp.ResponseError{
		Response: &smithyhttp.Response{Response: &http.Response{StatusCode: http.StatusInsufficientStorage}},
		Err:      &smithy.GenericAPIError{Code: "XMinioStorageFull", Message: "Storage backend has reached its minimum free drive threshold."},
	}}
	if err := classify(ctx, full, "x"); sdk.KindOf(err) != sdk.KindPermanent || sdk.ReasonOf(err) != sdk.ReasonNoSpace {
		t.Errorf("XMinioStorageFull: %v, reason %v; want permanent, no space", sdk.KindOf(err), sdk.ReasonOf(err))
	}
}

// Object lock reaches the server, on a single PutObject and on a multipart
// upload alike, next to a storage class header: each stored object reports
// the retention the sink asked for.
func TestObjectLock(t *testing.T) {
	testservers.EachS3(t, testObjectLock)
}

func testObjectLock(t *testing.T, srv testservers.S3Server) {
	ctx := context.Background()
	c := rawClient(srv)
	bucket := "agolpipe-lock-" + testservers.RandHex(4)
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket, ObjectLockEnabledForBucket: aws.Bool(true)}); err != nil {
		t.Skipf("%s cannot create an object-lock bucket: %v", srv.Name, err)
	}
	attrs := baseAttrs(t, srv, srv.Endpoint)
	attrs["bucket"] = cty.StringVal(bucket)
	attrs["object_lock_mode"] = cty.StringVal("GOVERNANCE")
	attrs["object_lock_days"] = cty.NumberIntVal(2)
	attrs["storage_class"] = cty.StringVal("STANDARD")
	s := configured(t, attrs)
	if err := s.Preflight(ctx); err != nil {
		t.Fatalf("Preflight: %v", err)
	}
	for _, size := range []int64{6, 6 << 20} { // one PutObject, then a multipart upload
		path := fmt.Sprintf("locked-%d.bin", size)
		if _, err := s.Put(ctx, sdk.PutRequest{Path: path, Size: size, Body: io.LimitReader(rand.Reader, size)}); err != nil {
			t.Fatalf("Put %d bytes with object lock: %v", size, err)
		}
		key := s.key(path)
		out, err := c.GetObjectRetention(ctx, &s3.GetObjectRetentionInput{Bucket: &bucket, Key: &key})
		if err != nil {
			t.Fatalf("GetObjectRetention of %s: %v", path, err)
		}
		if out.Retention == nil || string(out.Retention.Mode) != "GOVERNANCE" || out.Retention.RetainUntilDate == nil {
			t.Fatalf("%s: retention %+v, want GOVERNANCE with a date", path, out.Retention)
		}
		until := *out.Retention.RetainUntilDate
		if d := time.Until(until); d < 47*time.Hour || d > 49*time.Hour {
			t.Errorf("%s: retained until %v (%v from now), want about 2 days", path, until, d)
		}
	}
}

// Storage class and server-side encryption reach the server, on a single
// PutObject and on a multipart upload alike. Each setting is first tried
// with the SDK directly: a server that refuses it, or accepts it but does
// not keep it (versitygw stores every object as STANDARD and unencrypted),
// cannot show whether the sink sent it, so that case is skipped with the
// server's answer as the reason; a refused setting must still fail the
// sink's Preflight as permanent.
func TestObjectSettings(t *testing.T) {
	cases := []struct {
		attr, value string
		direct      func(*s3.PutObjectInput)
		reported    func(*s3.HeadObjectOutput) string
	}{
		{"storage_class", "REDUCED_REDUNDANCY",
			func(in *s3.PutObjectInput) { in.StorageClass = types.StorageClassReducedRedundancy },
			func(h *s3.HeadObjectOutput) string { return string(h.StorageClass) }},
		// Refused by MinIO (InvalidStorageClass), kept by no server here.
		{"storage_class", "STANDARD_IA",
			func(in *s3.PutObjectInput) { in.StorageClass = types.StorageClassStandardIa },
			func(h *s3.HeadObjectOutput) string { return string(h.StorageClass) }},
		{"server_side_encryption", "AES256",
			func(in *s3.PutObjectInput) { in.ServerSideEncryption = types.ServerSideEncryptionAes256 },
			func(h *s3.HeadObjectOutput) string { return string(h.ServerSideEncryption) }},
	}
	testservers.EachS3(t, func(t *testing.T, srv testservers.S3Server) {
		for _, c := range cases {
			t.Run(c.attr+"="+c.value, func(t *testing.T) {
				ctx := context.Background()
				raw := rawClient(srv)
				attrs := baseAttrs(t, srv, srv.Endpoint)
				bucket := testBucket(t, srv)
				probe := attrs["prefix"].AsString() + "/direct"
				in := &s3.PutObjectInput{Bucket: &bucket, Key: &probe, Body: strings.NewReader("x")}
				c.direct(in)
				attrs[c.attr] = cty.StringVal(c.value)
				if _, err := raw.PutObject(ctx, in); err != nil {
					// Then the sink must say so at Preflight, as a
					// permanent error naming the setting: retrying a
					// setting the store refuses cannot succeed.
					perr := configured(t, attrs).Preflight(ctx)
					sinktest.WantError(t, perr, sdk.KindPermanent, c.attr)
					t.Skipf("%s refuses %s = %s (Preflight says so); nothing stored to check: %v", srv.Name, c.attr, c.value, err)
				}
				h, err := raw.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: &probe})
				if err != nil {
					t.Fatalf("HeadObject of the direct probe: %v", err)
				}
				_, _ = raw.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &bucket, Key: &probe})
				if got := c.reported(h); got != c.value {
					t.Skipf("%s accepts %s = %s but reports %q for the object, so the sink's header cannot be checked", srv.Name, c.attr, c.value, got)
				}
				s := configured(t, attrs)
				if err := s.Preflight(ctx); err != nil {
					t.Fatalf("Preflight: %v", err)
				}
				for _, size := range []int64{6, 6 << 20} { // one PutObject, then a multipart upload
					path := fmt.Sprintf("o-%d.bin", size)
					if _, err := s.Put(ctx, sdk.PutRequest{Path: path, Size: size, Body: io.LimitReader(rand.Reader, size)}); err != nil {
						t.Fatalf("Put %d bytes with %s = %s: %v", size, c.attr, c.value, err)
					}
					key := s.key(path)
					h, err := raw.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: &key})
					if err != nil {
						t.Fatalf("HeadObject %s: %v", path, err)
					}
					if got := c.reported(h); got != c.value {
						t.Errorf("%s (%d bytes): %s is %q, want %q", path, size, c.attr, got, c.value)
					}
					if got := aws.ToInt64(h.ContentLength); got != size {
						t.Errorf("%s: %d bytes stored, want %d", path, got, size)
					}
					_ = s.Delete(ctx, path)
				}
			})
		}
	})
}

// A failed or cancelled multipart upload is aborted: no incomplete upload
// keeps its parts (and their storage cost) on the server.
func TestFailedUploadIsAborted(t *testing.T) {
	testservers.EachS3(t, testFailedUploadIsAborted)
}

func testFailedUploadIsAborted(t *testing.T, srv testservers.S3Server) {
	s := configured(t, baseAttrs(t, srv, srv.Endpoint))
	ctx := context.Background()
	_, err := s.Put(ctx, sdk.PutRequest{Path: "fail/body.bin", Size: -1, Body: io.MultiReader(io.LimitReader(rand.Reader, 12<<20), iotest.ErrReader(errors.New("exporter stream broke")))})
	if err == nil || !strings.Contains(err.Error(), "exporter stream broke") {
		t.Fatalf("Put with a failing body: %v, want the body's error", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	body := sinktest.CutAfter(io.LimitReader(rand.Reader, 30<<20), 12<<20, cancel)
	if _, err := s.Put(cctx, sdk.PutRequest{Path: "fail/cancel.bin", Size: 30 << 20, Body: body}); sdk.KindOf(err) != sdk.KindCanceled {
		t.Errorf("cancelled Put: %v (kind %v), want canceled", err, sdk.KindOf(err))
	}
	prefix := s.key("fail/")
	out, err := s.client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &s.cfg.Bucket, Prefix: &prefix})
	if err != nil {
		t.Fatalf("ListMultipartUploads: %v", err)
	}
	for _, u := range out.Uploads {
		t.Errorf("incomplete upload left behind: %s", aws.ToString(u.Key))
	}
}
