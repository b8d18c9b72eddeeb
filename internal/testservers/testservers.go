// Package testservers tells integration tests where the real test servers
// are: Azurite (Azure Blob), versitygw and MinIO (S3), Samba (SMB) and
// Mailpit (SMTP), started on 127.0.0.1 by scripts/test-servers.sh.
//
// Settings come from the process environment first, then from the env file
// that the start script writes ($TEST_INFRA_DIR/env, default
// /tmp/test-infra/env). A test asks for a server with AzureBlob(t), S3(t),
// MinIO(t), SMB(t) or Mail(t), or runs once per S3 server with EachS3: when
// the server is not configured or not listening the test is skipped with a
// message that says how to start it, unless AGOLPIPE_REQUIRE_TEST_SERVERS=1
// (set by CI), in which case it fails, so a CI run can never pass by
// skipping everything. MinIO is optional for a developer (its first build
// takes minutes, and TEST_SERVERS can leave it out): only
// AGOLPIPE_REQUIRE_MINIO=1, which scripts/test.sh sets, makes it required.
package testservers

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// RequireEnv is the variable that turns a missing server into a failure.
const RequireEnv = "AGOLPIPE_REQUIRE_TEST_SERVERS"

// RequireMinIOEnv is the variable that turns a missing MinIO into a
// failure. MinIO is optional, so RequireEnv alone only skips its tests.
const RequireMinIOEnv = "AGOLPIPE_REQUIRE_MINIO"

const startHint = "start the test servers with `scripts/test-servers.sh start` (or set the variables yourself)"

// Dir is the test-infra state directory ($TEST_INFRA_DIR, default /tmp/test-infra).
func Dir() string {
	if d := os.Getenv("TEST_INFRA_DIR"); d != "" {
		return d
	}
	return "/tmp/test-infra"
}

var (
	fileOnce sync.Once
	fileVars map[string]string
)

// Getenv returns a setting from the process environment, or else from the
// env file written by the start script.
func Getenv(key string) string {
	if v, ok := os.LookupEnv(key); ok && v != "" {
		return v
	}
	fileOnce.Do(func() { fileVars = readEnvFile(filepath.Join(Dir(), "env")) })
	return fileVars[key]
}

// readEnvFile parses the `export K=V` / `export K='V'` lines of a shell env
// file; anything else is ignored.
func readEnvFile(path string) map[string]string {
	out := map[string]string{}
	f, err := os.Open(path)
	if err != nil {
		return out
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.HasPrefix(k, "#") || strings.ContainsAny(k, " \t$") {
			continue
		}
		if len(v) >= 2 && (v[0] == '\'' && v[len(v)-1] == '\'' || v[0] == '"' && v[len(v)-1] == '"') {
			v = v[1 : len(v)-1]
		}
		out[k] = v
	}
	return out
}

// Missing skips t (or fails it when RequireEnv is set) because a server is
// not available; why says which and what is wrong.
func Missing(t testing.TB, why string) {
	t.Helper()
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("test server required (%s=1) but unavailable: %s; %s", RequireEnv, why, startHint)
	}
	t.Skipf("test server unavailable: %s; %s", why, startHint)
}

// missingOptional skips t because an optional server (one a developer may
// leave out of the start) is not available, or fails it when requireEnv=1.
func missingOptional(t testing.TB, requireEnv, why, hint string) {
	t.Helper()
	if os.Getenv(requireEnv) == "1" {
		t.Fatalf("test server required (%s=1) but unavailable: %s; %s", requireEnv, why, hint)
	}
	t.Skipf("optional test server unavailable: %s; %s", why, hint)
}

// reachable reports whether something listens at host:port.
func reachable(hostport string) error {
	c, err := net.DialTimeout("tcp", hostport, 2*time.Second)
	if err != nil {
		return err
	}
	return c.Close()
}

// Azure describes the Azurite blob endpoint.
type Azure struct {
	// ConnectionString holds the account key; never log it.
	ConnectionString string
	// Endpoint is the blob service URL, http://127.0.0.1:PORT/ACCOUNT.
	Endpoint string
	Account  string
	Key      string
}

// AzureBlob returns the Azurite settings, or skips/fails t.
func AzureBlob(t testing.TB) Azure {
	t.Helper()
	a := Azure{ConnectionString: Getenv("AZURE_STORAGE_CONNECTION_STRING"), Endpoint: Getenv("AZURE_STORAGE_BLOB_ENDPOINT")}
	if a.ConnectionString == "" {
		Missing(t, "AZURE_STORAGE_CONNECTION_STRING is not set (Azurite)")
	}
	for _, part := range strings.Split(a.ConnectionString, ";") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "AccountName":
			a.Account = v
		case "AccountKey":
			a.Key = v
		case "BlobEndpoint":
			if a.Endpoint == "" {
				a.Endpoint = v
			}
		}
	}
	u, err := url.Parse(a.Endpoint)
	if err != nil || u.Host == "" {
		Missing(t, fmt.Sprintf("no usable blob endpoint in AZURE_STORAGE_BLOB_ENDPOINT or the connection string (%q)", a.Endpoint))
	}
	if err := reachable(u.Host); err != nil {
		Missing(t, fmt.Sprintf("Azurite not listening at %s: %v", u.Host, err))
	}
	return a
}

// S3Server describes an S3-compatible server.
type S3Server struct {
	// Name is the server's kind ("versitygw", "minio"), the name of its
	// subtest under EachS3.
	Name      string
	Endpoint  string // http://127.0.0.1:PORT
	Region    string
	AccessKey string
	SecretKey string
}

// S3 returns the settings of versitygw, the S3 server every test run has,
// or skips/fails t.
func S3(t testing.TB) S3Server {
	t.Helper()
	s := S3Server{Name: "versitygw", Endpoint: Getenv("S3_ENDPOINT"), Region: Getenv("S3_REGION"), AccessKey: Getenv("S3_ACCESS_KEY"), SecretKey: Getenv("S3_SECRET_KEY")}
	if s.Endpoint == "" || s.AccessKey == "" || s.SecretKey == "" {
		Missing(t, "S3_ENDPOINT, S3_ACCESS_KEY and S3_SECRET_KEY are not all set (versitygw)")
	}
	if why := s.check(); why != "" {
		Missing(t, why)
	}
	return s
}

const minioHint = "install and start it with `TEST_SERVERS=minio scripts/test-servers.sh start` (a Go build of about 4 minutes the first time)"

// MinIO returns the settings of MinIO (MINIO_ENDPOINT, MINIO_ACCESS_KEY,
// MINIO_SECRET_KEY), or skips t: MinIO is optional, and fails t only when
// RequireMinIOEnv is 1.
func MinIO(t testing.TB) S3Server {
	t.Helper()
	s := S3Server{Name: "minio", Endpoint: Getenv("MINIO_ENDPOINT"), Region: Getenv("MINIO_REGION"), AccessKey: Getenv("MINIO_ACCESS_KEY"), SecretKey: Getenv("MINIO_SECRET_KEY")}
	if s.Endpoint == "" || s.AccessKey == "" || s.SecretKey == "" {
		missingOptional(t, RequireMinIOEnv, "MINIO_ENDPOINT, MINIO_ACCESS_KEY and MINIO_SECRET_KEY are not all set (MinIO)", minioHint)
	}
	if why := s.check(); why != "" {
		missingOptional(t, RequireMinIOEnv, why, minioHint)
	}
	return s
}

// check defaults the region and says what is wrong with the endpoint, or "".
func (s *S3Server) check() string {
	if s.Region == "" {
		s.Region = "us-east-1"
	}
	u, err := url.Parse(s.Endpoint)
	if err != nil || u.Host == "" {
		return fmt.Sprintf("%s endpoint %q is not a URL", s.Name, s.Endpoint)
	}
	if err := reachable(u.Host); err != nil {
		return fmt.Sprintf("%s not listening at %s: %v", s.Name, u.Host, err)
	}
	return ""
}

// S3Servers lists every S3-compatible test server, by name, with the
// function that returns its settings or skips t.
var S3Servers = []struct {
	Name string
	Get  func(testing.TB) S3Server
}{
	{"versitygw", S3},
	{"minio", MinIO},
}

// EachS3 runs fn once per S3 server of S3Servers, as a subtest named by the
// server, so one test body covers them all; a server that is missing skips
// (or fails) its own subtest only.
func EachS3(t *testing.T, fn func(t *testing.T, srv S3Server)) {
	t.Helper()
	for _, s := range S3Servers {
		t.Run(s.Name, func(t *testing.T) { fn(t, s.Get(t)) })
	}
}

// SMBServer describes the Samba share.
type SMBServer struct {
	Host  string
	Port  int
	User  string
	Pass  string
	Share string
	// Dir is the share's directory on this machine, for tests that look
	// behind the server's back (empty when unknown).
	Dir string
}

// Addr is host:port.
func (s SMBServer) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// SMB returns the Samba settings, or skips/fails t.
func SMB(t testing.TB) SMBServer {
	t.Helper()
	s := SMBServer{Host: Getenv("SMB_HOST"), User: Getenv("SMB_USER"), Pass: Getenv("SMB_PASS"), Share: Getenv("SMB_SHARE"), Dir: Getenv("SMB_SHARE_DIR")}
	if s.Host == "" || s.User == "" || s.Share == "" {
		Missing(t, "SMB_HOST, SMB_USER, SMB_PASS and SMB_SHARE are not all set (Samba)")
	}
	s.Port = 445
	if p := Getenv("SMB_PORT"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil {
			Missing(t, fmt.Sprintf("SMB_PORT %q is not a number", p))
		}
		s.Port = n
	}
	if err := reachable(s.Addr()); err != nil {
		Missing(t, fmt.Sprintf("Samba not listening at %s: %v", s.Addr(), err))
	}
	return s
}

// MailServer describes Mailpit.
type MailServer struct {
	SMTPHost string
	SMTPPort int
	// API is Mailpit's REST root, http://127.0.0.1:8025/api/v1.
	API string
}

// Mail returns the Mailpit settings, or skips/fails t.
func Mail(t testing.TB) MailServer {
	t.Helper()
	m := MailServer{SMTPHost: Getenv("SMTP_HOST"), API: Getenv("MAILPIT_API")}
	port, err := strconv.Atoi(Getenv("SMTP_PORT"))
	if m.SMTPHost == "" || err != nil || m.API == "" {
		Missing(t, "SMTP_HOST, SMTP_PORT and MAILPIT_API are not all set (Mailpit)")
	}
	m.SMTPPort = port
	if err := reachable(net.JoinHostPort(m.SMTPHost, strconv.Itoa(port))); err != nil {
		Missing(t, fmt.Sprintf("Mailpit not listening at %s:%d: %v", m.SMTPHost, port, err))
	}
	return m
}

// Binary returns the path of a test-infra tool (versitygw, mailpit), or
// skips/fails t when it is not installed.
func Binary(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(Dir(), "bin", name)
	if _, err := os.Stat(p); err != nil {
		Missing(t, fmt.Sprintf("%s not installed at %s", name, p))
	}
	return p
}

// RandHex is n random bytes in hex, for the names of the buckets,
// containers, folders and prefixes a test creates on a shared server, so
// test processes running at once never meet.
func RandHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
