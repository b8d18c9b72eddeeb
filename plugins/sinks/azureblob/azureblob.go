// Package azureblob is the Azure Blob Storage sink (`sink "azure_blob"`).
// Artifacts stream as block blobs: blocks of block_size_mib are staged with
// bounded concurrency and become visible only when the block list is
// committed, so a failed or cancelled Put leaves nothing a reader can see
// (Azure discards uncommitted blocks after a week).
//
// Authentication, one of: a connection string (account key or SAS), a SAS
// URL, or an account name with DefaultAzureCredential (environment, managed
// identity, Azure CLI). A SAS signature is a secret: it is never kept in a
// Location, an error or a log line.
package azureblob

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/agolpipe/agolpipe/plugins/sinks/internal/upload"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/version"
)

// Defaults for the streamed upload: 8 MiB blocks, 2 in flight, so 16 MiB
// of block buffers per Put. Against Azurite, whose one Node thread sets the
// pace, 2 in flight were as fast as 4 and 8 MiB blocks faster than 4 MiB
// (fewer requests); a store far away may want more in flight, which
// block_size_mib and concurrency give.
const (
	defaultBlockSize   = 8 << 20
	defaultConcurrency = 2
)

// Sink is the Azure Blob sink. The zero value is unconfigured; use New.
type Sink struct {
	client   *container.Client
	prefix   string
	location string
	tier     *blob.AccessTier
	// blockSize and concurrency bound a Put's memory: upload.Parts holds at
	// most concurrency buffers of blockSize bytes.
	blockSize   int
	concurrency int
	sasExpiry   time.Time // zero when not a SAS or unknown
	// authHint says what to check when the store refuses the credentials;
	// it depends on which of the three ways to sign in was configured.
	authHint string
	// pageSize is the listing page size; 0 is the server's (5000). Tests
	// set it small so every listing crosses pages.
	pageSize int32

	mu     sync.Mutex
	closed bool
}

// New returns an unconfigured Azure Blob sink.
func New() sdk.Sink { return &Sink{} }

type settings struct {
	Container        *string `cty:"container"`
	Prefix           *string `cty:"prefix"`
	ConnectionString *string `cty:"connection_string"`
	SASURL           *string `cty:"sas_url"`
	AccountName      *string `cty:"account_name"`
	Endpoint         *string `cty:"endpoint"`
	NoDiscovery      *bool   `cty:"disable_instance_discovery"`
	AccessTier       *string `cty:"access_tier"`
	BlockSizeMiB     *int    `cty:"block_size_mib"`
	Concurrency      *int    `cty:"concurrency"`
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return strings.TrimSpace(*p)
}

// Info implements sdk.Sink.
// PassEnv: with account_name, the sink signs in with DefaultAzureCredential,
// which reads the Entra application's AZURE_* variables and the managed
// identity endpoints; its plugin process gets those (and not, say,
// AZURE_STORAGE_CONNECTION_STRING, which reaches it only as
// connection_string = env(...) in its block).
func (s *Sink) PassEnv() []string {
	return []string{
		"AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH",
		"AZURE_CLIENT_CERTIFICATE_PASSWORD", "AZURE_CLIENT_SEND_CERTIFICATE_CHAIN", "AZURE_USERNAME", "AZURE_PASSWORD",
		"AZURE_FEDERATED_TOKEN_FILE", "AZURE_AUTHORITY_HOST", "AZURE_TOKEN_CREDENTIALS", "AZURE_ADDITIONALLY_ALLOWED_TENANTS",
		"AZURE_REGIONAL_AUTHORITY_NAME", "AZURE_CONFIG_DIR",
		"IDENTITY_ENDPOINT", "IDENTITY_HEADER", "IDENTITY_SERVER_THUMBPRINT", "IMDS_ENDPOINT", "MSI_ENDPOINT", "MSI_SECRET",
	}
}

func (s *Sink) Info() sdk.Info {
	return sdk.Info{Kind: sdk.KindSink, Name: "azure_blob", Version: version.Version,
		Description: "Azure Blob Storage container (block blobs, streamed, access tiers)"}
}

// Schema implements sdk.Sink.
func (s *Sink) Schema() sdk.Schema {
	return sdk.Schema{Attributes: []sdk.Attribute{
		{Name: "container", Type: sdk.TypeString, Description: "Container that receives the run folders; it must exist. May be left out when sas_url names the container."},
		{Name: "prefix", Type: sdk.TypeString, Description: `Virtual folder inside the container, e.g. "agolpipe/prod".`},
		{Name: "connection_string", Type: sdk.TypeString, Sensitive: true, Description: "Storage account connection string (with AccountKey or SharedAccessSignature)."},
		{Name: "sas_url", Type: sdk.TypeString, Sensitive: true, Description: "SAS URL of the container (or of the account, with container set). Needs read, write, delete and list permissions."},
		{Name: "account_name", Type: sdk.TypeString, Description: "Storage account name, signed in with DefaultAzureCredential (AZURE_* environment, managed identity, Azure CLI)."},
		{Name: "endpoint", Type: sdk.TypeString, Description: "Blob service URL for account_name when it is not https://<account>.blob.core.windows.net (sovereign clouds, Azurite)."},
		{Name: "disable_instance_discovery", Type: sdk.TypeBool, Description: "With account_name: skip Microsoft Entra instance discovery, the request to login.microsoftonline.com that vets an AZURE_AUTHORITY_HOST it does not know. Only for disconnected or private clouds (Azure Stack) whose authority host you trust."},
		{Name: "access_tier", Type: sdk.TypeString, Description: "Hot, Cool, Cold or Archive. Default: the account's default tier."},
		{Name: "block_size_mib", Type: sdk.TypeNumber, Description: "Block size in MiB (default 8; raised by itself when an artifact would need more than 50,000 blocks). Memory per Put is block size x concurrency."},
		{Name: "concurrency", Type: sdk.TypeNumber, Description: "Blocks uploaded in parallel per Put (default 2). The default is sized for memory; over a slow or distant link more blocks in flight (e.g. 8) may be faster, at one block of memory each."},
	}}
}

// Configure implements sdk.Sink. No network call happens before Preflight.
func (s *Sink) Configure(ctx context.Context, req sdk.ConfigureRequest) (sdk.SinkConfigureResponse, sdk.Diagnostics) {
	var diags sdk.Diagnostics
	var c settings
	if err := sdk.DecodeConfig(req.Config, &c); err != nil {
		return sdk.SinkConfigureResponse{}, diags.Errorf(sdk.ConfigErrorPath(err), "Invalid azure_blob sink configuration", "%v", err)
	}
	conn, sasURL, account := str(c.ConnectionString), str(c.SASURL), str(c.AccountName)
	n := 0
	for _, v := range []string{conn, sasURL, account} {
		if v != "" {
			n++
		}
	}
	if n != 1 {
		return sdk.SinkConfigureResponse{}, diags.Errorf(nil, "Choose one way to authenticate",
			`Set exactly one of connection_string, sas_url or account_name (DefaultAzureCredential), for example connection_string = env("AZURE_STORAGE_CONNECTION_STRING").`)
	}
	s.blockSize = defaultBlockSize
	if c.BlockSizeMiB != nil {
		if *c.BlockSizeMiB < 1 || *c.BlockSizeMiB > 4000 {
			diags = diags.Errorf([]string{"block_size_mib"}, "Block size out of range", "Azure accepts blocks of 1 to 4000 MiB; got %d.", *c.BlockSizeMiB)
		}
		s.blockSize = *c.BlockSizeMiB << 20
	}
	s.concurrency = defaultConcurrency
	if c.Concurrency != nil {
		if *c.Concurrency < 1 || *c.Concurrency > 64 {
			diags = diags.Errorf([]string{"concurrency"}, "Concurrency out of range", "Use 1 to 64; got %d.", *c.Concurrency)
		}
		s.concurrency = *c.Concurrency
	}
	if t := str(c.AccessTier); t != "" {
		var tier blob.AccessTier
		for _, known := range []blob.AccessTier{blob.AccessTierHot, blob.AccessTierCool, blob.AccessTierCold, blob.AccessTierArchive} {
			if strings.EqualFold(t, string(known)) {
				tier = known
			}
		}
		if tier == "" {
			diags = diags.Errorf([]string{"access_tier"}, "Unknown access tier", `%q: use "Hot", "Cool", "Cold" or "Archive".`, t)
		}
		s.tier = &tier
	}
	name := str(c.Container)
	opts := &container.ClientOptions{ClientOptions: policy.ClientOptions{
		Retry:     policy.RetryOptions{MaxRetries: 3, RetryDelay: 500 * time.Millisecond, MaxRetryDelay: 10 * time.Second},
		Telemetry: policy.TelemetryOptions{Disabled: true},
	}}
	noDiscovery := c.NoDiscovery != nil && *c.NoDiscovery
	if noDiscovery && account == "" {
		diags = diags.Errorf([]string{"disable_instance_discovery"}, "Instance discovery applies to account_name only",
			"disable_instance_discovery changes how DefaultAzureCredential signs in; remove it, or use account_name instead of connection_string or sas_url.")
	}
	var err error
	switch {
	case conn != "":
		if name == "" {
			diags = diags.Errorf([]string{"container"}, "Missing container", `Set container = "backups" (the container must exist).`)
			break
		}
		s.client, err = container.NewClientFromConnectionString(conn, name, opts)
		if err != nil {
			// The parser's message may quote the string; say only what is wrong.
			diags = diags.Errorf([]string{"connection_string"}, "Invalid connection string",
				"It must look like DefaultEndpointsProtocol=https;AccountName=...;AccountKey=...;EndpointSuffix=core.windows.net (copy it from the storage account's Access keys page).")
		}
		s.authHint = "check the account key in connection_string"
		if v, ok := connValue(conn, "SharedAccessSignature"); ok {
			s.sasExpiry = sasExpiry(v)
		}
	case sasURL != "":
		u, perr := url.Parse(sasURL)
		if perr != nil || u.Host == "" || u.RawQuery == "" || !u.Query().Has("sig") {
			diags = diags.Errorf([]string{"sas_url"}, "Invalid SAS URL",
				"sas_url must be a full URL with its token, like https://ACCOUNT.blob.core.windows.net/CONTAINER?sv=...&sig=... (Generate SAS in the portal).")
			break
		}
		s.sasExpiry = sasExpiry(u.RawQuery)
		s.authHint = "check sas_url"
		path := strings.Trim(u.Path, "/")
		switch {
		case path == "" && name == "":
			diags = diags.Errorf([]string{"container"}, "Missing container", "The SAS URL is for the account; set container too.")
		case path == "":
			u.Path = "/" + name
		case name != "" && path != name:
			diags = diags.Errorf([]string{"container"}, "Container does not match the SAS URL", "The SAS URL is for container %q but container = %q.", path, name)
		}
		if !diags.HasErrors() {
			s.client, err = container.NewClientWithNoCredential(u.String(), opts)
		}
	default:
		if name == "" {
			diags = diags.Errorf([]string{"container"}, "Missing container", `Set container = "backups" (the container must exist).`)
			break
		}
		ep := str(c.Endpoint)
		if ep == "" {
			ep = "https://" + account + ".blob.core.windows.net"
		}
		s.authHint = "check the Microsoft Entra sign-in of DefaultAzureCredential (AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET, managed identity or az login) and that it holds the Storage Blob Data Contributor role on the container"
		cred, cerr := azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{DisableInstanceDiscovery: noDiscovery})
		if cerr != nil {
			diags = diags.Errorf([]string{"account_name"}, "No Azure credential available", "%v", scrub(cerr.Error()))
			break
		}
		s.client, err = container.NewClient(strings.TrimRight(ep, "/")+"/"+name, cred, opts)
	}
	if err != nil && !diags.HasErrors() {
		diags = diags.Errorf(nil, "Cannot create the Azure client", "%s", scrub(err.Error()))
	}
	if diags.HasErrors() {
		s.client = nil
		return sdk.SinkConfigureResponse{}, diags
	}
	s.prefix = strings.Trim(str(c.Prefix), "/")
	loc, _ := url.Parse(s.client.URL())
	loc.RawQuery, loc.User = "", nil // never echo a SAS
	s.location = loc.String()
	if s.prefix != "" {
		s.location += "/" + s.prefix
	}
	return sdk.SinkConfigureResponse{Features: sdk.SinkFeatures{MaxPathLength: 1024 - len(s.prefix) - 1, RangeGet: true, Location: s.location}}, nil
}

func connValue(conn, key string) (string, bool) {
	for _, part := range strings.Split(conn, ";") {
		k, v, ok := strings.Cut(part, "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), key) {
			return v, true
		}
	}
	return "", false
}

// sasExpiry reads the se= (signed expiry) of a SAS query, zero if absent.
func sasExpiry(query string) time.Time {
	q, err := url.ParseQuery(strings.TrimPrefix(query, "?"))
	if err != nil {
		return time.Time{}
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04Z", "2006-01-02"} {
		if t, err := time.Parse(layout, q.Get("se")); err == nil {
			return t
		}
	}
	return time.Time{}
}

func (s *Sink) name(path string) string {
	if s.prefix == "" {
		return path
	}
	return s.prefix + "/" + path
}

func (s *Sink) ready() error {
	if s.client == nil {
		return sdk.Permanent("azure_blob sink: not configured")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return sdk.Permanent("azure_blob sink: closed")
	}
	return nil
}

// Preflight writes and deletes a test blob under the prefix: it proves the
// credentials, the container and the write and delete permissions at once.
func (s *Sink) Preflight(ctx context.Context) error {
	if err := s.ready(); err != nil {
		return err
	}
	if !s.sasExpiry.IsZero() && time.Now().After(s.sasExpiry) {
		return sdk.Auth("azure_blob sink %s: the SAS expired on %s; generate a new one (with read, write, delete and list permissions) and update the pipeline", s.location, s.sasExpiry.Format(time.RFC3339))
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	probe := s.name(".agolpipe-preflight-" + hex.EncodeToString(rnd[:]))
	bb := s.client.NewBlockBlobClient(probe)
	if _, err := bb.UploadBuffer(ctx, []byte("agolpipe preflight\n"), nil); err != nil {
		err = classify(ctx, err, "test write")
		switch {
		case bloberror.HasCode(err, bloberror.ContainerNotFound):
			return sdk.Permanent("azure_blob sink %s: the container does not exist; create it or fix container: %w", s.location, err)
		case sdk.KindOf(err) == sdk.KindAuth:
			hint := s.authHint
			if !s.sasExpiry.IsZero() {
				hint = fmt.Sprintf("check the SAS (expires %s; it needs read, write, delete and list permissions)", s.sasExpiry.Format(time.RFC3339))
			}
			return fmt.Errorf("azure_blob sink %s: the credentials were refused; %s: %w", s.location, hint, err)
		}
		return fmt.Errorf("azure_blob sink %s: %w", s.location, err)
	}
	if _, err := bb.Delete(ctx, nil); err != nil {
		return fmt.Errorf("azure_blob sink %s: test write succeeded but deleting it failed; retention needs delete permission: %w", s.location, classify(ctx, err, "delete test blob"))
	}
	return nil
}

// Put implements sdk.Sink with a streamed block upload: one Upload for
// bodies under one block, else staged blocks and a committed block list.
func (s *Sink) Put(ctx context.Context, req sdk.PutRequest) (sdk.PutResponse, error) {
	if err := s.ready(); err != nil {
		return sdk.PutResponse{}, err
	}
	blocks := &blocks{client: s.client.NewBlockBlobClient(s.name(req.Path)), tier: s.tier}
	if req.MediaType != "" {
		blocks.headers = &blob.HTTPHeaders{BlobContentType: &req.MediaType}
	}
	_, _ = rand.Read(blocks.idPrefix[:])
	body := &upload.Body{R: req.Body}
	err := upload.Parts{Size: upload.PartSize(s.blockSize, req.Size, maxBlocks), Concurrency: s.concurrency}.Upload(ctx, body, blocks)
	if err != nil {
		if err := body.ReadError("azure_blob", req.Path); err != nil {
			return sdk.PutResponse{}, err
		}
		return sdk.PutResponse{}, classify(ctx, err, "upload "+req.Path)
	}
	return sdk.PutResponse{Size: body.Size()}, nil
}

// maxBlocks is Azure's limit of committed blocks per blob.
const maxBlocks = 50000

// blocks stores one blob as upload.Parts hands it over. Uncommitted blocks
// of a failed Put are invisible and Azure drops them after a week, so
// nothing needs aborting.
type blocks struct {
	client   *blockblob.Client
	tier     *blob.AccessTier
	headers  *blob.HTTPHeaders
	idPrefix [16]byte // random per Put, so two Puts of one blob never share a block id
}

func (b *blocks) Single(ctx context.Context, body []byte) error {
	_, err := b.client.Upload(ctx, streaming.NopCloser(bytes.NewReader(body)), &blockblob.UploadOptions{Tier: b.tier, HTTPHeaders: b.headers})
	return err
}

func (b *blocks) Begin(context.Context) error { return nil }

func (b *blocks) Part(ctx context.Context, num int, body []byte) error {
	_, err := b.client.StageBlock(ctx, b.id(num), streaming.NopCloser(bytes.NewReader(body)), nil)
	return err
}

func (b *blocks) Commit(ctx context.Context, n int) error {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = b.id(i + 1)
	}
	_, err := b.client.CommitBlockList(ctx, ids, &blockblob.CommitBlockListOptions{Tier: b.tier, HTTPHeaders: b.headers})
	return err
}

// id is block num's id: the Put's prefix and the number, base64 (every id
// of a blob must have the same length).
func (b *blocks) id(num int) string {
	var raw [20]byte
	copy(raw[:], b.idPrefix[:])
	binary.BigEndian.PutUint32(raw[16:], uint32(num))
	return base64.StdEncoding.EncodeToString(raw[:])
}

// Stat implements sdk.Sink.
func (s *Sink) Stat(ctx context.Context, path string) (sdk.ObjectInfo, error) {
	if err := s.ready(); err != nil {
		return sdk.ObjectInfo{}, err
	}
	p, err := s.client.NewBlobClient(s.name(path)).GetProperties(ctx, nil)
	if err != nil {
		return sdk.ObjectInfo{}, classify(ctx, err, "stat "+path)
	}
	info := sdk.ObjectInfo{Path: path}
	if p.ContentLength != nil {
		info.Size = *p.ContentLength
	}
	if p.LastModified != nil {
		info.Modified = *p.LastModified
	}
	return info, nil
}

// Get implements sdk.Sink. The body resumes by itself after a dropped
// connection (the SDK's retry reader), up to three times.
func (s *Sink) Get(ctx context.Context, req sdk.GetRequest) (io.ReadCloser, error) {
	if err := s.ready(); err != nil {
		return nil, err
	}
	o := &blob.DownloadStreamOptions{}
	if req.Offset > 0 || req.Length > 0 {
		o.Range = blob.HTTPRange{Offset: req.Offset, Count: req.Length}
	}
	resp, err := s.client.NewBlobClient(s.name(req.Path)).DownloadStream(ctx, o)
	if err != nil {
		return nil, classify(ctx, err, "get "+req.Path)
	}
	return resp.NewRetryReader(ctx, &blob.RetryReaderOptions{MaxRetries: 3}), nil
}

// List implements sdk.Sink.
func (s *Sink) List(ctx context.Context, req sdk.ListRequest, fn func(sdk.ObjectInfo) error) error {
	if err := s.ready(); err != nil {
		return err
	}
	root := ""
	if s.prefix != "" {
		root = s.prefix + "/"
	}
	prefix := root + req.Prefix
	lo := &container.ListBlobsFlatOptions{Prefix: &prefix}
	if s.pageSize > 0 {
		lo.MaxResults = &s.pageSize
	}
	pager := s.client.NewListBlobsFlatPager(lo)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return classify(ctx, err, "list "+req.Prefix)
		}
		for _, b := range page.Segment.BlobItems {
			if b.Name == nil || !strings.HasPrefix(*b.Name, root) {
				continue
			}
			info := sdk.ObjectInfo{Path: (*b.Name)[len(root):]}
			if b.Properties != nil {
				if b.Properties.ContentLength != nil {
					info.Size = *b.Properties.ContentLength
				}
				if b.Properties.LastModified != nil {
					info.Modified = *b.Properties.LastModified
				}
			}
			if err := fn(info); err != nil {
				return err
			}
		}
	}
	return nil
}

// Delete implements sdk.Sink (with its snapshots, which Azure requires).
func (s *Sink) Delete(ctx context.Context, path string) error {
	if err := s.ready(); err != nil {
		return err
	}
	inc := blob.DeleteSnapshotsOptionTypeInclude
	if _, err := s.client.NewBlobClient(s.name(path)).Delete(ctx, &blob.DeleteOptions{DeleteSnapshots: &inc}); err != nil {
		return classify(ctx, err, "delete "+path)
	}
	return nil
}

// Close implements sdk.Sink; it is idempotent.
func (s *Sink) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return nil
}

var sigRE = regexp.MustCompile(`(?i)(sig|signature|accountkey|sharedaccesssignature)=[^&;\s"']*`)

// scrub removes SAS signatures and keys from a message, in case a URL or a
// connection string found its way into an SDK error.
func scrub(msg string) string { return sigRE.ReplaceAllString(msg, "$1=REDACTED") }

// classifiedErr keeps the SDK error for errors.As (bloberror.HasCode) while
// its message is scrubbed.
type classifiedErr struct {
	msg string
	err error
}

func (e *classifiedErr) Error() string { return e.msg }
func (e *classifiedErr) Unwrap() error { return e.err }

// classify turns an SDK error into a classified one, once.
func classify(ctx context.Context, err error, what string) error {
	if err == nil {
		return nil
	}
	wrapped := &classifiedErr{msg: "azure_blob: " + what + ": " + scrub(err.Error()), err: err}
	wrap := func(k sdk.ErrorKind) error { return sdk.Classify(k, wrapped) }
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return wrap(sdk.KindRetryable)
		}
		return wrap(sdk.KindCanceled)
	}
	var authErr *azidentity.AuthenticationFailedError
	var required *azidentity.AuthenticationRequiredError
	if errors.As(err, &authErr) || errors.As(err, &required) ||
		strings.Contains(err.Error(), "DefaultAzureCredential") {
		return wrap(sdk.KindAuth)
	}
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		switch st := re.StatusCode; {
		case st == 404:
			return wrap(sdk.KindNotFound)
		case st == 401 || st == 403:
			return wrap(sdk.KindAuth)
		case st == 408 || st == 429 || st >= 500:
			return wrap(sdk.KindRetryable)
		default:
			return wrap(sdk.KindPermanent)
		}
	}
	var ne net.Error
	var oe *net.OpError
	if errors.As(err, &ne) || errors.As(err, &oe) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "connection refused") {
		return wrap(sdk.KindRetryable)
	}
	return wrap(sdk.KindPermanent)
}
