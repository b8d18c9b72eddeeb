// Package s3 is the Amazon S3 sink (and S3-compatible stores: MinIO,
// versitygw, Wasabi, Ceph RGW...). Artifacts stream into multipart uploads
// of bounded part size and concurrency (upload.Parts), so memory stays at
// part_size x concurrency whatever the artifact size.
//
// Atomicity comes from S3 itself: a multipart upload is invisible until
// CompleteMultipartUpload, and a failed or cancelled Put aborts it. When the
// abort cannot reach the server either (the server died), the parts stay as
// an incomplete upload that no listing shows; a bucket lifecycle rule
// (AbortIncompleteMultipartUpload) reclaims their space.
package s3

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/logging"

	"github.com/agolpipe/agolpipe/plugins/sinks/internal/upload"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/version"
)

// Defaults for the streamed upload: 5 MiB parts (S3's minimum), 3 in
// flight, so 15 MiB of part buffers per Put. They keep a fan-out of several
// sink processes small (bench/sinks) and were still many times rclone's
// speed against versitygw; a store far away may want more in flight, which
// part_size_mib and concurrency give.
const (
	defaultPartSize    = 5 << 20
	defaultConcurrency = 3
	minPartSize        = 5 << 20 // S3's own minimum, but for the last part
)

// Sink is the S3 sink. The zero value is unconfigured; use New.
type Sink struct {
	cfg    settings
	client *s3.Client
	// partSize and concurrency bound a Put's memory: upload.Parts holds at
	// most concurrency buffers of partSize bytes.
	partSize    int
	concurrency int
	location    string
	// pageSize is the listing page size; 0 is the server's (1000). Tests
	// set it small so every listing crosses pages.
	pageSize int32

	mu     sync.Mutex
	closed bool
}

// New returns an unconfigured S3 sink.
func New() sdk.Sink { return &Sink{} }

type settings struct {
	Bucket          string  `cty:"bucket"`
	Prefix          *string `cty:"prefix"`
	Region          *string `cty:"region"`
	Endpoint        *string `cty:"endpoint"`
	PathStyle       *bool   `cty:"path_style"`
	Profile         *string `cty:"profile"`
	AccessKeyID     *string `cty:"access_key_id"`
	SecretAccessKey *string `cty:"secret_access_key"`
	SessionToken    *string `cty:"session_token"`
	StorageClass    *string `cty:"storage_class"`
	SSE             *string `cty:"server_side_encryption"`
	KMSKeyID        *string `cty:"kms_key_id"`
	ObjectLockMode  *string `cty:"object_lock_mode"`
	ObjectLockDays  *int    `cty:"object_lock_days"`
	PartSizeMiB     *int    `cty:"part_size_mib"`
	Concurrency     *int    `cty:"concurrency"`
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return strings.TrimSpace(*p)
}

// Info implements sdk.Sink.
// PassEnv: without access_key_id in its block, the sink signs in with the
// AWS SDK's default chain, which reads AWS_* variables (keys, profile,
// region, web identity, container credentials); its plugin process gets
// those and no other of the host's variables beyond the minimal set.
func (s *Sink) PassEnv() []string { return []string{"AWS_*"} }

func (s *Sink) Info() sdk.Info {
	return sdk.Info{Kind: sdk.KindSink, Name: "s3", Version: version.Version,
		Description: "Amazon S3 or an S3-compatible object store (multipart, SSE, object lock)"}
}

// Schema implements sdk.Sink.
func (s *Sink) Schema() sdk.Schema {
	return sdk.Schema{Attributes: []sdk.Attribute{
		{Name: "bucket", Type: sdk.TypeString, Required: true, Description: "Bucket that receives the run folders; it must exist."},
		{Name: "prefix", Type: sdk.TypeString, Description: `Key prefix (a "folder") inside the bucket, e.g. "agolpipe/prod".`},
		{Name: "region", Type: sdk.TypeString, Description: "Bucket region, e.g. eu-west-1. Default: from the AWS environment, else us-east-1."},
		{Name: "endpoint", Type: sdk.TypeString, Description: "Endpoint URL of an S3-compatible store (MinIO, Wasabi...). Empty for AWS."},
		{Name: "path_style", Type: sdk.TypeBool, Description: "Address buckets as endpoint/bucket instead of bucket.endpoint (most S3-compatible stores need true)."},
		{Name: "profile", Type: sdk.TypeString, Description: "Shared config profile to take credentials and region from."},
		{Name: "access_key_id", Type: sdk.TypeString, Sensitive: true, Description: "Access key id. Default: the AWS credential chain (environment, profile, IAM role)."},
		{Name: "secret_access_key", Type: sdk.TypeString, Sensitive: true, Description: "Secret access key; required with access_key_id."},
		{Name: "session_token", Type: sdk.TypeString, Sensitive: true, Description: "Session token of temporary credentials."},
		{Name: "storage_class", Type: sdk.TypeString, Description: "STANDARD (default), STANDARD_IA, ONEZONE_IA, INTELLIGENT_TIERING, GLACIER_IR, GLACIER, DEEP_ARCHIVE."},
		{Name: "server_side_encryption", Type: sdk.TypeString, Description: `"AES256" or "aws:kms".`},
		{Name: "kms_key_id", Type: sdk.TypeString, Description: `KMS key id or ARN for server_side_encryption = "aws:kms".`},
		{Name: "object_lock_mode", Type: sdk.TypeString, Description: `"GOVERNANCE" or "COMPLIANCE": keep each object immutable for object_lock_days (the bucket needs object lock enabled).`},
		{Name: "object_lock_days", Type: sdk.TypeNumber, Description: "Days each object stays locked; required with object_lock_mode."},
		{Name: "part_size_mib", Type: sdk.TypeNumber, Description: "Multipart part size in MiB (default 5, the minimum; raised by itself when an artifact would need more than 10,000 parts). Memory per Put is part size x concurrency."},
		{Name: "concurrency", Type: sdk.TypeNumber, Description: "Parts uploaded in parallel per Put (default 3). The default is sized for memory; over a slow or distant link more parts in flight (e.g. 8) may be faster, at one part of memory each."},
	}}
}

var storageClasses = map[string]bool{
	"STANDARD": true, "REDUCED_REDUNDANCY": true, "STANDARD_IA": true, "ONEZONE_IA": true,
	"INTELLIGENT_TIERING": true, "GLACIER": true, "DEEP_ARCHIVE": true, "GLACIER_IR": true,
	"OUTPOSTS": true, "SNOW": true, "EXPRESS_ONEZONE": true,
}

// Configure implements sdk.Sink. It checks the settings and builds the
// client; no network call happens before Preflight.
func (s *Sink) Configure(ctx context.Context, req sdk.ConfigureRequest) (sdk.SinkConfigureResponse, sdk.Diagnostics) {
	var diags sdk.Diagnostics
	var c settings
	if err := sdk.DecodeConfig(req.Config, &c); err != nil {
		return sdk.SinkConfigureResponse{}, diags.Errorf(sdk.ConfigErrorPath(err), "Invalid s3 sink configuration", "%v", err)
	}
	c.Bucket = strings.TrimSpace(c.Bucket)
	if c.Bucket == "" || strings.ContainsAny(c.Bucket, "/ ") {
		diags = diags.Errorf([]string{"bucket"}, "Invalid bucket name",
			`bucket is the bucket name only, e.g. bucket = "city-gis-backups"; put folders in prefix.`)
	}
	if (str(c.AccessKeyID) == "") != (str(c.SecretAccessKey) == "") {
		diags = diags.Errorf([]string{"secret_access_key"}, "Incomplete credentials",
			"Set both access_key_id and secret_access_key, or neither to use the AWS credential chain.")
	}
	if sc := str(c.StorageClass); sc != "" && !storageClasses[strings.ToUpper(sc)] {
		diags = diags.Errorf([]string{"storage_class"}, "Unknown storage class",
			"%q is not an S3 storage class; use STANDARD, STANDARD_IA, ONEZONE_IA, INTELLIGENT_TIERING, GLACIER_IR, GLACIER or DEEP_ARCHIVE.", sc)
	}
	switch sse := str(c.SSE); sse {
	case "", "AES256":
		if str(c.KMSKeyID) != "" {
			diags = diags.Errorf([]string{"kms_key_id"}, "kms_key_id without KMS encryption",
				`kms_key_id only applies with server_side_encryption = "aws:kms".`)
		}
	case "aws:kms", "aws:kms:dsse":
	default:
		diags = diags.Errorf([]string{"server_side_encryption"}, "Unknown server-side encryption",
			`%q is not supported; use "AES256" or "aws:kms".`, sse)
	}
	switch m := strings.ToUpper(str(c.ObjectLockMode)); m {
	case "":
		if c.ObjectLockDays != nil {
			diags = diags.Errorf([]string{"object_lock_days"}, "object_lock_days without object_lock_mode",
				`Set object_lock_mode = "GOVERNANCE" or "COMPLIANCE" too.`)
		}
	case "GOVERNANCE", "COMPLIANCE":
		if c.ObjectLockDays == nil || *c.ObjectLockDays < 1 {
			diags = diags.Errorf([]string{"object_lock_days"}, "object_lock_days missing",
				"object_lock_mode needs object_lock_days = N (1 or more) to say how long objects stay locked.")
		}
	default:
		diags = diags.Errorf([]string{"object_lock_mode"}, "Unknown object lock mode", `%q: use "GOVERNANCE" or "COMPLIANCE".`, m)
	}
	partSize := int64(defaultPartSize)
	if c.PartSizeMiB != nil {
		partSize = int64(*c.PartSizeMiB) << 20
		if partSize < minPartSize || partSize > 5<<30 {
			diags = diags.Errorf([]string{"part_size_mib"}, "Part size out of range", "S3 accepts parts of 5 MiB to 5 GiB; got %d MiB.", *c.PartSizeMiB)
		}
	}
	conc := defaultConcurrency
	if c.Concurrency != nil {
		conc = *c.Concurrency
		if conc < 1 || conc > 64 {
			diags = diags.Errorf([]string{"concurrency"}, "Concurrency out of range", "Use 1 to 64; got %d.", conc)
		}
	}
	var endpoint string
	if e := str(c.Endpoint); e != "" {
		u, err := url.Parse(e)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			diags = diags.Errorf([]string{"endpoint"}, "Invalid endpoint", `endpoint is a URL such as "https://s3.example.com:9000".`)
		} else {
			u.User = nil // never keep or echo credentials written into a URL
			endpoint = u.String()
		}
	}
	if diags.HasErrors() {
		return sdk.SinkConfigureResponse{}, diags
	}

	var opts []func(*config.LoadOptions) error
	if r := str(c.Region); r != "" {
		opts = append(opts, config.WithRegion(r))
	}
	if p := str(c.Profile); p != "" {
		opts = append(opts, config.WithSharedConfigProfile(p))
	}
	if ak := str(c.AccessKeyID); ak != "" {
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(ak, str(c.SecretAccessKey), str(c.SessionToken))))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return sdk.SinkConfigureResponse{}, diags.Errorf(nil, "Cannot load AWS configuration", "%v", err)
	}
	if awsCfg.Region == "" {
		awsCfg.Region = "us-east-1"
	}
	s.client = s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
		o.UsePathStyle = c.PathStyle != nil && *c.PathStyle
		// The SDK logs to stderr by default, which would mix into the plugin
		// protocol's log stream; errors are returned, not logged.
		o.Logger = logging.Nop{}
		o.DisableLogOutputChecksumValidationSkipped = true
	})
	s.partSize, s.concurrency = int(partSize), conc
	c.Prefix = aws.String(strings.Trim(str(c.Prefix), "/"))
	s.cfg = c
	s.location = "s3://" + c.Bucket + "/" + *c.Prefix
	if endpoint != "" {
		s.location += " at " + endpoint
	}
	return sdk.SinkConfigureResponse{Features: sdk.SinkFeatures{MaxPathLength: 1024 - len(*c.Prefix) - 1, RangeGet: true, Location: s.location}}, nil
}

func (s *Sink) key(path string) string {
	if *s.cfg.Prefix == "" {
		return path
	}
	return *s.cfg.Prefix + "/" + path
}

func (s *Sink) keyPrefix() string {
	if *s.cfg.Prefix == "" {
		return ""
	}
	return *s.cfg.Prefix + "/"
}

func (s *Sink) ready() error {
	if s.client == nil {
		return sdk.Permanent("s3 sink: not configured")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return sdk.Permanent("s3 sink: closed")
	}
	return nil
}

// Preflight checks that the bucket exists and that the credentials may
// write and delete in it, with a test object under the prefix.
func (s *Sink) Preflight(ctx context.Context) error {
	if err := s.ready(); err != nil {
		return err
	}
	b := s.cfg.Bucket
	if _, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &b}); err != nil {
		err = classify(ctx, err, "check bucket "+b)
		if sdk.KindOf(err) == sdk.KindNotFound {
			// A HEAD answer has no body, so some stores' "unknown access key"
			// looks like a missing bucket; a GET shows the real error code.
			if _, lerr := s.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &b, MaxKeys: aws.Int32(1)}); lerr != nil {
				err = classify(ctx, lerr, "check bucket "+b)
			}
		}
		switch sdk.KindOf(err) {
		case sdk.KindNotFound:
			return sdk.Permanent("s3 sink %s: bucket %q does not exist (or is in another region); create it or fix bucket/region: %w", s.location, b, err)
		case sdk.KindAuth:
			return fmt.Errorf("s3 sink %s: the credentials were refused; check access_key_id/secret_access_key (or the AWS profile/role) and that they may access bucket %q: %w", s.location, b, err)
		}
		return fmt.Errorf("s3 sink %s: %w", s.location, err)
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	// The test object carries the storage class and encryption every
	// artifact will, so a store that refuses them (MinIO without a KMS
	// answers SSE with 501 NotImplemented) stops the run here rather than
	// at each Put. Not the object lock: a locked test object could not be
	// deleted.
	in := (&multipart{cfg: &s.cfg, key: s.key(".agolpipe-preflight-" + hex.EncodeToString(rnd[:]))}).object()
	in.ObjectLockMode, in.ObjectLockRetainUntilDate = "", nil
	body := "agolpipe preflight\n"
	in.Body, in.ContentLength = strings.NewReader(body), aws.Int64(int64(len(body)))
	if _, err := s.client.PutObject(ctx, in); err != nil {
		err = classify(ctx, err, "test write")
		switch {
		case sdk.KindOf(err) == sdk.KindAuth:
			return fmt.Errorf("s3 sink %s: the credentials may not write to the bucket; grant s3:PutObject and s3:DeleteObject on it: %w", s.location, err)
		case sdk.KindOf(err) == sdk.KindPermanent && (in.StorageClass != "" || in.ServerSideEncryption != ""):
			return fmt.Errorf("s3 sink %s: the store refused a test object with this sink's storage_class/server_side_encryption/kms_key_id; change or remove them (some stores support only some classes, or encryption only with a KMS configured): %w", s.location, err)
		}
		return fmt.Errorf("s3 sink %s: %w", s.location, err)
	}
	probe := aws.ToString(in.Key)
	if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &b, Key: &probe}); err != nil {
		return fmt.Errorf("s3 sink %s: test write succeeded but deleting it failed; retention needs s3:DeleteObject: %w", s.location, classify(ctx, err, "delete test object"))
	}
	return nil
}

// Put implements sdk.Sink: a single PutObject for bodies under one part,
// else a multipart upload that is aborted on any failure.
func (s *Sink) Put(ctx context.Context, req sdk.PutRequest) (sdk.PutResponse, error) {
	if err := s.ready(); err != nil {
		return sdk.PutResponse{}, err
	}
	m := &multipart{client: s.client, cfg: &s.cfg, key: s.key(req.Path), mediaType: req.MediaType}
	body := &upload.Body{R: req.Body}
	err := upload.Parts{Size: upload.PartSize(s.partSize, req.Size, maxParts), Concurrency: s.concurrency}.Upload(ctx, body, m)
	if err != nil {
		if m.uploadID != "" {
			s.abort(ctx, m.key, m.uploadID)
		}
		if err := body.ReadError("s3", req.Path); err != nil {
			return sdk.PutResponse{}, err
		}
		return sdk.PutResponse{}, classify(ctx, err, "upload "+req.Path)
	}
	return sdk.PutResponse{Size: body.Size()}, nil
}

// maxParts is S3's limit of parts per multipart upload.
const maxParts = 10000

// multipart stores one object as upload.Parts hands it over: one
// PutObject, or a multipart upload whose parts carry a CRC32 checksum as
// the SDK's own uploader sends them.
type multipart struct {
	client    *s3.Client
	cfg       *settings
	key       string
	mediaType string
	uploadID  string // set by Begin; the caller aborts it on failure

	mu    sync.Mutex
	parts []types.CompletedPart
}

func (m *multipart) Single(ctx context.Context, body []byte) error {
	in := m.object()
	in.Body, in.ContentLength = bytes.NewReader(body), aws.Int64(int64(len(body)))
	_, err := m.client.PutObject(ctx, in)
	return err
}

func (m *multipart) Begin(ctx context.Context) error {
	o := m.object()
	out, err := m.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket: o.Bucket, Key: o.Key, ContentType: o.ContentType, StorageClass: o.StorageClass,
		ServerSideEncryption: o.ServerSideEncryption, SSEKMSKeyId: o.SSEKMSKeyId,
		ObjectLockMode: o.ObjectLockMode, ObjectLockRetainUntilDate: o.ObjectLockRetainUntilDate,
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
	})
	if err != nil {
		return err
	}
	m.uploadID = aws.ToString(out.UploadId)
	return nil
}

func (m *multipart) Part(ctx context.Context, num int, body []byte) error {
	out, err := m.client.UploadPart(ctx, &s3.UploadPartInput{
		Bucket: &m.cfg.Bucket, Key: &m.key, UploadId: &m.uploadID, PartNumber: aws.Int32(int32(num)),
		Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body))), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
	})
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.parts = append(m.parts, types.CompletedPart{PartNumber: aws.Int32(int32(num)), ETag: out.ETag,
		ChecksumCRC32: out.ChecksumCRC32, ChecksumCRC32C: out.ChecksumCRC32C, ChecksumCRC64NVME: out.ChecksumCRC64NVME,
		ChecksumSHA1: out.ChecksumSHA1, ChecksumSHA256: out.ChecksumSHA256})
	m.mu.Unlock()
	return nil
}

func (m *multipart) Commit(ctx context.Context, n int) error {
	if len(m.parts) != n {
		return fmt.Errorf("%d parts stored, %d expected", len(m.parts), n)
	}
	// S3 wants the parts in order; they finish in any.
	slices.SortFunc(m.parts, func(a, b types.CompletedPart) int { return int(aws.ToInt32(a.PartNumber) - aws.ToInt32(b.PartNumber)) })
	_, err := m.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: &m.cfg.Bucket, Key: &m.key, UploadId: &m.uploadID, MultipartUpload: &types.CompletedMultipartUpload{Parts: m.parts},
	})
	return err
}

// object is the object's own settings, those of a PutObject and of a
// CreateMultipartUpload alike.
func (m *multipart) object() *s3.PutObjectInput {
	c := m.cfg
	in := &s3.PutObjectInput{Bucket: &c.Bucket, Key: &m.key}
	if m.mediaType != "" {
		in.ContentType = aws.String(m.mediaType)
	}
	if sc := str(c.StorageClass); sc != "" {
		in.StorageClass = types.StorageClass(strings.ToUpper(sc))
	}
	if sse := str(c.SSE); sse != "" {
		in.ServerSideEncryption = types.ServerSideEncryption(sse)
		if k := str(c.KMSKeyID); k != "" {
			in.SSEKMSKeyId = aws.String(k)
		}
	}
	if mode := strings.ToUpper(str(c.ObjectLockMode)); mode != "" {
		in.ObjectLockMode = types.ObjectLockMode(mode)
		in.ObjectLockRetainUntilDate = aws.Time(time.Now().Add(time.Duration(*c.ObjectLockDays) * 24 * time.Hour))
	}
	return in
}

// abort removes the parts of a failed multipart upload. It runs on a
// context that survives the caller's cancellation, or a cancelled run would
// leave its parts behind. A part cancelled mid-request can still be stored
// by the server after the abort, so, as S3 advises, abort repeats while
// the upload still lists parts.
func (s *Sink) abort(ctx context.Context, key, uploadID string) {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	for try := range 4 {
		if try > 0 {
			time.Sleep(time.Duration(try) * 250 * time.Millisecond)
		}
		_, _ = s.client.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{Bucket: &s.cfg.Bucket, Key: &key, UploadId: &uploadID})
		if _, err := s.client.ListParts(actx, &s3.ListPartsInput{Bucket: &s.cfg.Bucket, Key: &key, UploadId: &uploadID}); err != nil {
			return // gone (NoSuchUpload), or the server cannot say: the lifecycle rule is the backstop
		}
	}
}

// Stat implements sdk.Sink.
func (s *Sink) Stat(ctx context.Context, path string) (sdk.ObjectInfo, error) {
	if err := s.ready(); err != nil {
		return sdk.ObjectInfo{}, err
	}
	key := s.key(path)
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.cfg.Bucket, Key: &key})
	if err != nil {
		return sdk.ObjectInfo{}, classify(ctx, err, "stat "+path)
	}
	return sdk.ObjectInfo{Path: path, Size: aws.ToInt64(out.ContentLength), Modified: aws.ToTime(out.LastModified)}, nil
}

// Get implements sdk.Sink; ranges map to an HTTP Range header.
func (s *Sink) Get(ctx context.Context, req sdk.GetRequest) (io.ReadCloser, error) {
	if err := s.ready(); err != nil {
		return nil, err
	}
	key := s.key(req.Path)
	in := &s3.GetObjectInput{Bucket: &s.cfg.Bucket, Key: &key}
	if req.Offset > 0 || req.Length > 0 {
		r := fmt.Sprintf("bytes=%d-", req.Offset)
		if req.Length > 0 {
			r += fmt.Sprint(req.Offset + req.Length - 1)
		}
		in.Range = &r
	}
	out, err := s.client.GetObject(ctx, in)
	if err != nil {
		return nil, classify(ctx, err, "get "+req.Path)
	}
	return out.Body, nil
}

// List implements sdk.Sink. Keys ending in "/" (folder markers made by
// consoles) are not objects and are skipped.
func (s *Sink) List(ctx context.Context, req sdk.ListRequest, fn func(sdk.ObjectInfo) error) error {
	if err := s.ready(); err != nil {
		return err
	}
	root := s.keyPrefix()
	prefix := root + req.Prefix
	in := &s3.ListObjectsV2Input{Bucket: &s.cfg.Bucket, Prefix: &prefix}
	if s.pageSize > 0 {
		in.MaxKeys = aws.Int32(s.pageSize)
	}
	p := s3.NewListObjectsV2Paginator(s.client, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return classify(ctx, err, "list "+req.Prefix)
		}
		for _, o := range page.Contents {
			k := aws.ToString(o.Key)
			if strings.HasSuffix(k, "/") || !strings.HasPrefix(k, root) {
				continue
			}
			if err := fn(sdk.ObjectInfo{Path: k[len(root):], Size: aws.ToInt64(o.Size), Modified: aws.ToTime(o.LastModified)}); err != nil {
				return err
			}
		}
	}
	return nil
}

// Delete implements sdk.Sink. S3 deletes a missing key without complaint,
// so Delete looks first to report not found as the contract asks.
func (s *Sink) Delete(ctx context.Context, path string) error {
	_, err := s.DeleteReport(ctx, path)
	return err
}

// DeleteReport implements sdk.DeleteReporter. In a bucket with versioning
// (always on with object lock) DeleteObject only writes a delete marker:
// the version stays stored and billed, and object lock forbids removing it
// before its retain-until date (or while a legal hold is on). The result
// says so, from the object's own headers and S3's answer, so retention
// never reports those bytes as freed.
func (s *Sink) DeleteReport(ctx context.Context, path string) (sdk.DeleteResult, error) {
	if err := s.ready(); err != nil {
		return sdk.DeleteResult{}, err
	}
	key := s.key(path)
	head, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.cfg.Bucket, Key: &key})
	if err != nil {
		return sdk.DeleteResult{}, classify(ctx, err, "stat "+path)
	}
	size := aws.ToInt64(head.ContentLength)
	until := aws.ToTime(head.ObjectLockRetainUntilDate)
	locked := until.After(time.Now()) || head.ObjectLockLegalHoldStatus == types.ObjectLockLegalHoldStatusOn
	out, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.cfg.Bucket, Key: &key})
	if err != nil {
		if locked && sdk.KindOf(classify(ctx, err, "")) == sdk.KindAuth {
			// Some stores (versitygw) refuse the delete of a locked
			// object outright instead of writing a delete marker: nothing
			// changed, and that is what is reported.
			r := sdk.DeleteResult{Retained: true, RetainedBytes: size, LegalHold: head.ObjectLockLegalHoldStatus == types.ObjectLockLegalHoldStatusOn}
			r.Reason = "the store refused to delete it: object lock keeps it"
			if until.After(time.Now()) {
				r.RetainUntil = until.UTC()
				r.Reason = fmt.Sprintf("the store refused to delete it: object lock (%s) keeps it until %s", head.ObjectLockMode, until.UTC().Format(time.RFC3339))
			}
			return r, nil
		}
		return sdk.DeleteResult{}, classify(ctx, err, "delete "+path)
	}
	var r sdk.DeleteResult
	if v := aws.ToString(head.VersionId); aws.ToBool(out.DeleteMarker) || v != "" && v != "null" {
		r.Retained, r.RetainedBytes = true, size
		r.Reason = "the bucket keeps versions: S3 wrote a delete marker and the object's version stays stored (and billed) until a lifecycle rule or a version delete removes it"
	}
	if until.After(time.Now()) {
		r.Retained, r.RetainedBytes, r.RetainUntil = true, size, until.UTC()
		r.Reason = fmt.Sprintf("object lock (%s) keeps the object's version until %s; S3 only wrote a delete marker", head.ObjectLockMode, until.UTC().Format(time.RFC3339))
	}
	if head.ObjectLockLegalHoldStatus == types.ObjectLockLegalHoldStatusOn {
		r.Retained, r.RetainedBytes, r.LegalHold = true, size, true
		r.Reason = "a legal hold keeps the object's version until it is lifted; S3 only wrote a delete marker"
	}
	return r, nil
}

// Close implements sdk.Sink; it is idempotent.
func (s *Sink) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return nil
}

var (
	authCodes = map[string]bool{
		"InvalidAccessKeyId": true, "SignatureDoesNotMatch": true, "AccessDenied": true,
		"ExpiredToken": true, "InvalidToken": true, "TokenRefreshRequired": true,
		"AllAccessDisabled": true, "InvalidSecurity": true, "AuthorizationHeaderMalformed": true,
		"XAdminUserNotFound": true, // versitygw's answer to an unknown access key
		"Forbidden":          true,
	}
	notFoundCodes = map[string]bool{"NoSuchKey": true, "NotFound": true, "NoSuchBucket": true, "NoSuchUpload": true}
	// permanentCodes are answers that a retry cannot change although some
	// come with a 5xx status: MinIO answers SSE without a KMS with 501
	// NotImplemented.
	permanentCodes = map[string]bool{"NotImplemented": true, "InvalidStorageClass": true}
	retryCodes     = map[string]bool{
		"SlowDown": true, "InternalError": true, "ServiceUnavailable": true, "RequestTimeout": true,
		"Throttling": true, "ThrottlingException": true, "RequestLimitExceeded": true,
	}
	// noSpaceCodes: MinIO's full disks (HTTP 507), Ceph RGW's bucket or
	// user quota.
	noSpaceCodes = map[string]bool{"XMinioStorageFull": true, "QuotaExceeded": true}
)

// classify turns an SDK error into a classified one, once, with what was
// being done. Messages come from the server and the SDK and hold no secret.
func classify(ctx context.Context, err error, what string) error {
	if err == nil {
		return nil
	}
	wrap := func(k sdk.ErrorKind) error { return sdk.Classify(k, fmt.Errorf("s3: %s: %w", what, err)) }
	if ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, ctx.Err())) {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return wrap(sdk.KindRetryable)
		}
		return wrap(sdk.KindCanceled)
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code := ae.ErrorCode()
		switch {
		case noSpaceCodes[code]:
			// The store is full, not this object: core stops sending to it.
			return sdk.WithReason(sdk.KindPermanent, sdk.ReasonNoSpace, fmt.Errorf("s3: %s: %w (the store is full or the bucket's quota is reached)", what, err))
		case notFoundCodes[code]:
			return wrap(sdk.KindNotFound)
		case authCodes[code]:
			return wrap(sdk.KindAuth)
		case retryCodes[code]:
			return wrap(sdk.KindRetryable)
		case permanentCodes[code]:
			return wrap(sdk.KindPermanent)
		}
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		switch st := re.HTTPStatusCode(); {
		case st == 404:
			return wrap(sdk.KindNotFound)
		case st == 401 || st == 403:
			return wrap(sdk.KindAuth)
		case st == 408 || st == 429 || st >= 500:
			return wrap(sdk.KindRetryable)
		case st >= 400:
			return wrap(sdk.KindPermanent)
		}
	}
	if isTransient(err) {
		return wrap(sdk.KindRetryable)
	}
	return wrap(sdk.KindPermanent)
}

// isTransient reports network faults worth retrying: resets, refusals,
// timeouts, connections cut mid-body.
func isTransient(err error) bool {
	var ne net.Error
	var oe *net.OpError
	return errors.As(err, &ne) || errors.As(err, &oe) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, io.EOF) || errors.Is(err, context.DeadlineExceeded) ||
		strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "broken pipe")
}
