package azureblob

import (
	"context"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	"github.com/zclconf/go-cty/cty"

	"github.com/agolpipe/agolpipe/internal/testservers"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/sinktest"
)

var (
	containerOnce sync.Once
	containerName string
	containerErr  error
)

// testContainer creates one container per test process on Azurite.
func testContainer(t *testing.T, srv testservers.Azure) string {
	t.Helper()
	containerOnce.Do(func() {
		containerName = "agolpipe-test-" + testservers.RandHex(4)
		var c *container.Client
		c, containerErr = container.NewClientFromConnectionString(srv.ConnectionString, containerName, nil)
		if containerErr == nil {
			_, containerErr = c.Create(context.Background(), nil)
		}
	})
	if containerErr != nil {
		t.Fatalf("create test container: %v", containerErr)
	}
	return containerName
}

func baseAttrs(t *testing.T, srv testservers.Azure) map[string]cty.Value {
	return map[string]cty.Value{
		"container":         cty.StringVal(testContainer(t, srv)),
		"prefix":            cty.StringVal("t/" + testservers.RandHex(6)),
		"connection_string": cty.StringVal(srv.ConnectionString),
		"block_size_mib":    cty.NumberIntVal(2),
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
	srv := testservers.AzureBlob(t)
	sinktest.Run(t, func(t *testing.T) sdk.Sink {
		s := New().(*Sink)
		s.pageSize = 3 // every listing of the suite crosses pages
		return s
	}, func(t *testing.T) map[string]cty.Value { return baseAttrs(t, srv) }, sinktest.Options{BoundarySizes: []int64{2<<20 - 1, 2 << 20, 2<<20 + 1, 6<<20 + 1}})
}

// sasFor makes a container SAS URL on Azurite.
func sasFor(t *testing.T, srv testservers.Azure, expiry time.Time) string {
	t.Helper()
	c, err := container.NewClientFromConnectionString(srv.ConnectionString, testContainer(t, srv), nil)
	if err != nil {
		t.Fatal(err)
	}
	u, err := c.GetSASURL(sas.ContainerPermissions{Read: true, Write: true, Delete: true, List: true, Create: true}, expiry, nil)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestSASURL(t *testing.T) {
	srv := testservers.AzureBlob(t)
	sasURL := sasFor(t, srv, time.Now().Add(time.Hour))
	sig := mustQuery(t, sasURL).Get("sig")
	attrs := map[string]cty.Value{"sas_url": cty.StringVal(sasURL), "prefix": cty.StringVal("sas/" + testservers.RandHex(4))}
	s := New().(*Sink)
	resp, diags := s.Configure(context.Background(), sdk.ConfigureRequest{Config: sinktest.Config(t, New().Schema(), attrs)})
	if diags.HasErrors() {
		t.Fatal(diags.Err())
	}
	if strings.Contains(resp.Features.Location, sig) || strings.Contains(resp.Features.Location, "?") {
		t.Errorf("Location %q shows the SAS", resp.Features.Location)
	}
	ctx := context.Background()
	if err := s.Preflight(ctx); err != nil {
		t.Fatalf("Preflight with a SAS URL: %v", err)
	}
	if _, err := s.Put(ctx, sdk.PutRequest{Path: "a/b.txt", Size: 2, Body: strings.NewReader("hi")}); err != nil {
		t.Fatalf("Put with a SAS URL: %v", err)
	}
	_, err := s.Stat(ctx, "a/missing.txt")
	if !sdk.IsNotFound(err) {
		t.Errorf("Stat of a missing blob: %v", err)
	}
	if err != nil && strings.Contains(err.Error(), sig) {
		t.Errorf("error shows the SAS signature: %v", err)
	}
	if err := s.Delete(ctx, "a/b.txt"); err != nil {
		t.Errorf("Delete: %v", err)
	}
}

func mustQuery(t *testing.T, raw string) url.Values {
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}

func TestPreflightErrors(t *testing.T) {
	srv := testservers.AzureBlob(t)
	expired := sasFor(t, srv, time.Now().Add(-time.Hour))
	badKey := strings.Replace(srv.ConnectionString, srv.Key, strings.Repeat("A", len(srv.Key)-2)+"==", 1)
	cases := []struct {
		name     string
		attrs    map[string]cty.Value
		kind     sdk.ErrorKind
		mentions string
	}{
		{"wrong account key", map[string]cty.Value{"connection_string": cty.StringVal(badKey), "container": cty.StringVal(testContainer(t, srv))}, sdk.KindAuth, "account key"},
		{"expired SAS", map[string]cty.Value{"sas_url": cty.StringVal(expired)}, sdk.KindAuth, "expired"},
		{"missing container", map[string]cty.Value{"connection_string": cty.StringVal(srv.ConnectionString), "container": cty.StringVal("no-such-" + testservers.RandHex(3))}, sdk.KindPermanent, "does not exist"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := configured(t, c.attrs).Preflight(context.Background())
			sinktest.WantError(t, err, c.kind, c.mentions, srv.Key, mustQuery(t, expired).Get("sig"))
		})
	}
}

// Azurite "dies" mid-upload: Put fails retryable, and nothing is visible
// (the staged blocks were never committed).
func TestServerKilledMidUpload(t *testing.T) {
	srv := testservers.AzureBlob(t)
	u, _ := url.Parse(srv.Endpoint)
	proxy := testservers.NewProxy(t, u.Host)
	viaProxy := strings.Replace(srv.ConnectionString, u.Host, proxy.Addr(), 1)
	attrs := baseAttrs(t, srv)
	attrs["connection_string"] = cty.StringVal(viaProxy)
	s := configured(t, attrs)
	if err := s.Preflight(context.Background()); err != nil {
		t.Fatalf("Preflight through proxy: %v", err)
	}
	sinktest.PutCut(t, s, "run/big.bin", 24<<20, 9<<20, proxy.Cut)
	attrs["connection_string"] = cty.StringVal(srv.ConnectionString)
	direct := configured(t, attrs)
	if _, err := direct.Stat(context.Background(), "run/big.bin"); !sdk.IsNotFound(err) {
		t.Errorf("after the failed upload Stat says %v, want not found", err)
	}
}

func TestAccessTier(t *testing.T) {
	srv := testservers.AzureBlob(t)
	attrs := baseAttrs(t, srv)
	attrs["access_tier"] = cty.StringVal("cool")
	s := configured(t, attrs)
	ctx := context.Background()
	if _, err := s.Put(ctx, sdk.PutRequest{Path: "tier.txt", Size: 1, Body: strings.NewReader("x")}); err != nil {
		t.Fatalf("Put: %v", err)
	}
	p, err := s.client.NewBlobClient(s.name("tier.txt")).GetProperties(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.AccessTier == nil || *p.AccessTier != string(blob.AccessTierCool) {
		t.Errorf("access tier %v, want Cool", p.AccessTier)
	}
	_ = s.Delete(ctx, "tier.txt")
}

func TestConfigureDiagnostics(t *testing.T) {
	cases := []struct {
		name  string
		attrs map[string]cty.Value
	}{
		{"no auth", map[string]cty.Value{"container": cty.StringVal("c")}},
		{"two auths", map[string]cty.Value{"container": cty.StringVal("c"), "account_name": cty.StringVal("a"), "connection_string": cty.StringVal("x")}},
		{"sas without sig", map[string]cty.Value{"sas_url": cty.StringVal("https://a.blob.core.windows.net/c")}},
		{"bad tier", map[string]cty.Value{"account_name": cty.StringVal("a"), "container": cty.StringVal("c"), "access_tier": cty.StringVal("Lukewarm")}},
		{"connection string without container", map[string]cty.Value{"connection_string": cty.StringVal("AccountName=a;AccountKey=Zm9v")}},
		{"instance discovery without account_name", map[string]cty.Value{"connection_string": cty.StringVal("AccountName=a;AccountKey=Zm9v"), "container": cty.StringVal("c"), "disable_instance_discovery": cty.True}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, diags := New().Configure(context.Background(), sdk.ConfigureRequest{Config: sinktest.Config(t, New().Schema(), c.attrs)}); !diags.HasErrors() {
				t.Error("no error")
			}
		})
	}
}

func TestScrub(t *testing.T) {
	in := `PUT https://a.blob.core.windows.net/c/x?sv=2024&sig=abc%2Fdef&se=2020 AccountKey=Zm9vYmFy==; SharedAccessSignature=sv=1&sig=zz`
	out := scrub(in)
	for _, secret := range []string{"abc%2Fdef", "Zm9vYmFy", "sig=zz"} {
		if strings.Contains(out, secret) {
			t.Errorf("scrub left %q in %q", secret, out)
		}
	}
}
