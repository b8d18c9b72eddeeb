//go:build unix

package azureblob

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/zclconf/go-cty/cty"

	"github.com/agolpipe/agolpipe/internal/testservers"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/sinktest"
)

// The account_name road (DefaultAzureCredential) against a private Azurite
// that checks OAuth bearer tokens (--oauth basic, which needs HTTPS) and a
// fake Microsoft Entra authority, both on 127.0.0.1 with a throwaway CA.
// EnvironmentCredential reads AZURE_TENANT_ID, AZURE_CLIENT_ID,
// AZURE_CLIENT_SECRET and AZURE_AUTHORITY_HOST, as it would for a user.

const (
	entraTenant = "00000000-0000-0000-0000-00000000a901"
	entraClient = "agolpipe-test-client"
	// wrongAudClient gets a token for another resource, which Azurite must
	// refuse: the proof that Azurite checks the token at all.
	wrongAudClient = "agolpipe-test-wrong-audience"
	azuriteAccount = "devstoreaccount1"
	// azuriteKey is Azurite's published well-known key, used only to
	// create the container the sink writes into.
	azuriteKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// testCA is a throwaway CA and a server certificate for 127.0.0.1 it signed.
type testCA struct {
	caFile, certFile, keyFile string
	serverCert                tls.Certificate
}

// One CA per test process: Go reads SSL_CERT_FILE into its system pool
// once, so a second CA would not be trusted.
var (
	caOnce  sync.Once
	caPEMs  map[string][]byte
	caCert  tls.Certificate
	caError error
)

// newTestCA writes the process's CA, server certificate and key into a
// folder of t.
func newTestCA(t *testing.T) testCA {
	t.Helper()
	caOnce.Do(func() { caPEMs, caCert, caError = makeCA() })
	if caError != nil {
		t.Fatal(caError)
	}
	dir := t.TempDir()
	c := testCA{caFile: filepath.Join(dir, "ca.pem"), certFile: filepath.Join(dir, "cert.pem"), keyFile: filepath.Join(dir, "key.pem"), serverCert: caCert}
	for name, data := range caPEMs {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func makeCA() (map[string][]byte, tls.Certificate, error) {
	fail := func(err error) (map[string][]byte, tls.Certificate, error) { return nil, tls.Certificate{}, err }
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fail(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "agolpipe test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return fail(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return fail(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fail(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return fail(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fail(err)
	}
	pems := map[string][]byte{
		"ca.pem":   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		"cert.pem": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		"key.pem":  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}
	return pems, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// trustOnly makes Go's system pool this CA alone, as SSL_CERT_FILE does for
// a user whose storage and authority use a private CA. The pool is read
// once per process, so the check below fails loudly if something in this
// test binary loaded it before.
func (c testCA) trustOnly(t *testing.T) {
	t.Helper()
	t.Setenv("SSL_CERT_FILE", c.caFile)
	t.Setenv("SSL_CERT_DIR", t.TempDir()) // empty: no other roots
	pool, err := x509.SystemCertPool()
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(c.serverCert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool}); err != nil {
		t.Fatalf("the system pool was loaded before SSL_CERT_FILE was set, so the test CA is not trusted: %v", err)
	}
}

// fakeEntra is a Microsoft Entra authority for one tenant: OpenID
// discovery and a client-credentials token endpoint that hands out
// unsigned JWTs shaped as Azurite's basic OAuth check wants them.
type fakeEntra struct {
	srv    *httptest.Server
	secret string
	tokens atomic.Int32 // tokens issued
}

func newFakeEntra(t *testing.T, ca testCA, secret string) *fakeEntra {
	t.Helper()
	f := &fakeEntra{secret: secret}
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	f.srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.serverCert}}
	f.srv.StartTLS()
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeEntra) serve(w http.ResponseWriter, r *http.Request) {
	base := f.srv.URL + "/" + entraTenant
	switch r.URL.Path {
	case "/" + entraTenant + "/v2.0/.well-known/openid-configuration":
		writeJSON(w, http.StatusOK, map[string]any{
			"issuer":                 base + "/v2.0",
			"authorization_endpoint": base + "/oauth2/v2.0/authorize",
			"token_endpoint":         base + "/oauth2/v2.0/token",
		})
	case "/" + entraTenant + "/oauth2/v2.0/token":
		if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "client_credentials" {
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": "unsupported_grant_type"})
			return
		}
		client := r.PostForm.Get("client_id")
		if (client != entraClient && client != wrongAudClient) || r.PostForm.Get("client_secret") != f.secret {
			writeJSON(w, http.StatusUnauthorized, map[string]any{"error": "invalid_client",
				"error_description": "AADSTS7000215: Invalid client secret provided."})
			return
		}
		// MSAL adds openid, profile and offline_access to the resource's scope.
		if scope := r.PostForm.Get("scope"); !slices.Contains(strings.Fields(scope), "https://storage.azure.com/.default") {
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid_scope", "error_description": "unexpected scope " + scope})
			return
		}
		aud := "https://storage.azure.com"
		if client == wrongAudClient {
			aud = "https://vault.azure.net"
		}
		f.tokens.Add(1)
		writeJSON(w, http.StatusOK, map[string]any{"token_type": "Bearer", "expires_in": 3600, "ext_expires_in": 3600,
			"access_token": unsignedJWT(aud)})
	default:
		// Instance discovery would not come here but go to
		// login.microsoftonline.com, which disable_instance_discovery
		// prevents; anything else is unexpected.
		http.Error(w, "unexpected request "+r.URL.Path, http.StatusNotFound)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// unsignedJWT is an access token Azurite's --oauth basic accepts: it reads
// nbf, exp, iat, an sts.windows.net issuer and the storage audience, and
// checks no signature.
func unsignedJWT(aud string) string {
	now := time.Now().Unix()
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return enc(map[string]any{"alg": "none", "typ": "JWT"}) + "." + enc(map[string]any{
		"aud": aud, "iss": "https://sts.windows.net/" + entraTenant + "/", "tid": entraTenant,
		"appid": entraClient, "iat": now - 60, "nbf": now - 60, "exp": now + 3600,
	}) + ".sig"
}

// startOAuthAzurite starts an Azurite of its own, with HTTPS and bearer
// token checks, on a free port and an empty folder; it is killed when t
// ends. It returns the blob service URL.
func startOAuthAzurite(t *testing.T, ca testCA) string {
	t.Helper()
	bin := filepath.Join(testservers.Dir(), "npm", "node_modules", ".bin", "azurite-blob")
	if _, err := os.Stat(bin); err != nil {
		testservers.Missing(t, fmt.Sprintf("azurite-blob not installed at %s", bin))
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, "--blobHost", "127.0.0.1", "--blobPort", strconv.Itoa(port),
		"--location", t.TempDir(), "--silent", "--skipApiVersionCheck", "--disableTelemetry", "--disableProductStyleUrl",
		"--oauth", "basic", "--cert", ca.certFile, "--key", ca.keyFile)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	// Its own process group, so the kill reaches node and nothing else.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		testservers.Missing(t, fmt.Sprintf("cannot start %s: %v", bin, err))
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	})
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("Azurite exited before it answered (%v): %s", err, out.String())
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return "https://" + addr + "/" + azuriteAccount
		}
		if time.Now().After(deadline) {
			t.Fatalf("Azurite did not listen on %s within 30 s: %s", addr, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// entraSetup starts the CA, the authority and Azurite, creates a container
// with the account key, and points DefaultAzureCredential at the
// authority. It returns the blob service URL and the container.
func entraSetup(t *testing.T, secret string) (endpoint, containerName string, entra *fakeEntra) {
	t.Helper()
	ca := newTestCA(t)
	ca.trustOnly(t)
	endpoint = startOAuthAzurite(t, ca)
	entra = newFakeEntra(t, ca, secret)
	t.Setenv("AZURE_AUTHORITY_HOST", entra.srv.URL+"/")
	t.Setenv("AZURE_TENANT_ID", entraTenant)
	t.Setenv("AZURE_CLIENT_ID", entraClient)
	t.Setenv("AZURE_CLIENT_SECRET", secret)
	// Only the environment link of the chain: the others would probe the
	// managed identity endpoint (169.254.169.254) or run az when the
	// environment fails, and no request may leave 127.0.0.1.
	t.Setenv("AZURE_TOKEN_CREDENTIALS", "EnvironmentCredential")
	for _, v := range []string{"AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_USERNAME", "AZURE_FEDERATED_TOKEN_FILE", "AZURE_REGIONAL_AUTHORITY_NAME"} {
		t.Setenv(v, "")
		os.Unsetenv(v)
	}

	containerName = "entra-" + testservers.RandHex(4)
	conn := "DefaultEndpointsProtocol=https;AccountName=" + azuriteAccount + ";AccountKey=" + azuriteKey + ";BlobEndpoint=" + endpoint + ";"
	c, err := container.NewClientFromConnectionString(conn, containerName, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create(context.Background(), nil); err != nil {
		t.Fatalf("create container on the OAuth Azurite: %v", err)
	}
	return endpoint, containerName, entra
}

// entraAttrs is the block a user writes for this road: no key, no SAS.
func entraAttrs(endpoint, containerName string) map[string]cty.Value {
	return map[string]cty.Value{
		"account_name":               cty.StringVal(azuriteAccount),
		"endpoint":                   cty.StringVal(endpoint),
		"container":                  cty.StringVal(containerName),
		"disable_instance_discovery": cty.True,
		"prefix":                     cty.StringVal("entra/" + testservers.RandHex(4)),
		"block_size_mib":             cty.NumberIntVal(1),
	}
}

func TestEntraIDDefaultCredential(t *testing.T) {
	secret := "s3cret-" + testservers.RandHex(12)
	endpoint, containerName, entra := entraSetup(t, secret)
	ctx := context.Background()

	s := configured(t, entraAttrs(endpoint, containerName))
	defer s.Close()
	if err := s.Preflight(ctx); err != nil {
		t.Fatalf("Preflight with account_name and DefaultAzureCredential: %v", err)
	}
	if entra.tokens.Load() == 0 {
		t.Fatal("Preflight passed but the authority issued no token")
	}

	body := strings.Repeat("entra round trip\n", 150_000) // 2.4 MiB: three blocks
	if _, err := s.Put(ctx, sdk.PutRequest{Path: "run/a.txt", Size: int64(len(body)), Body: strings.NewReader(body)}); err != nil {
		t.Fatalf("Put: %v", err)
	}
	rc, err := s.Get(ctx, sdk.GetRequest{Path: "run/a.txt"})
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || string(got) != body {
		t.Fatalf("Get read %d bytes (%v), want the %d put", len(got), err, len(body))
	}
	var listed []string
	if err := s.List(ctx, sdk.ListRequest{Prefix: "run/"}, func(o sdk.ObjectInfo) error {
		listed = append(listed, o.Path)
		return nil
	}); err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(listed) != 1 || listed[0] != "run/a.txt" {
		t.Errorf("List = %v, want [run/a.txt]", listed)
	}
	if err := s.Delete(ctx, "run/a.txt"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := s.Stat(ctx, "run/a.txt"); !sdk.IsNotFound(err) {
		t.Errorf("Stat after Delete: %v, want not found", err)
	}
}

func TestEntraIDConformance(t *testing.T) {
	secret := "s3cret-" + testservers.RandHex(12)
	endpoint, containerName, _ := entraSetup(t, secret)
	sinktest.Run(t, func(t *testing.T) sdk.Sink {
		s := New().(*Sink)
		s.pageSize = 3
		return s
	}, func(t *testing.T) map[string]cty.Value { return entraAttrs(endpoint, containerName) }, sinktest.Options{BoundarySizes: []int64{1<<20 - 1, 1 << 20, 1<<20 + 1}})
}

func TestEntraIDRefused(t *testing.T) {
	secret := "s3cret-" + testservers.RandHex(12)
	endpoint, containerName, entra := entraSetup(t, secret)

	t.Run("authority refuses the secret", func(t *testing.T) {
		wrong := "wr0ng-" + testservers.RandHex(12)
		t.Setenv("AZURE_CLIENT_SECRET", wrong)
		err := configured(t, entraAttrs(endpoint, containerName)).Preflight(context.Background())
		sinktest.WantError(t, err, sdk.KindAuth, "azure_blob sink", secret, wrong)
		for _, want := range []string{endpoint, "Microsoft Entra"} {
			if err != nil && !strings.Contains(err.Error(), want) {
				t.Errorf("error does not mention %q: %v", want, err)
			}
		}
	})
	t.Run("Azurite refuses the token", func(t *testing.T) {
		t.Setenv("AZURE_CLIENT_ID", wrongAudClient)
		before := entra.tokens.Load()
		err := configured(t, entraAttrs(endpoint, containerName)).Preflight(context.Background())
		if entra.tokens.Load() == before {
			t.Fatalf("no token was issued, so Azurite's check was not reached: %v", err)
		}
		sinktest.WantError(t, err, sdk.KindAuth, "azure_blob sink", secret)
		if err != nil && !strings.Contains(err.Error(), "Invalid token audience") {
			t.Errorf("refused for another reason than the audience: %v", err)
		}
	})
}
