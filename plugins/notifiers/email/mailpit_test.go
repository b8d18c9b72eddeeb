package email

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
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
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/agolpipe/agolpipe/internal/testservers"
)

// mailpit is a Mailpit SMTP server of this test alone, on ephemeral ports of
// 127.0.0.1, killed by its PID when the test ends.
type mailpit struct {
	smtpPort int
	api      string // http://127.0.0.1:port
}

// mailpitBinary finds Mailpit: $MAILPIT_BIN, else where
// scripts/test-servers.sh installs it ($TEST_INFRA_DIR/bin, the directory
// every other test server is found through). Without it the test is
// skipped, or fails when the environment demands real servers
// (AGOLPIPE_REQUIRE_TEST_SERVERS=1).
func mailpitBinary(t *testing.T) string {
	t.Helper()
	installed := filepath.Join(testservers.Dir(), "bin", "mailpit")
	for _, p := range []string{os.Getenv("MAILPIT_BIN"), installed} {
		if p == "" {
			continue
		}
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p
		}
	}
	msg := fmt.Sprintf("Mailpit not found at %s: install it with `scripts/test-servers.sh install mailpit` (with the same TEST_INFRA_DIR) or set MAILPIT_BIN", installed)
	if os.Getenv(testservers.RequireEnv) == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startMailpit starts Mailpit with extra flags and waits until it is ready.
func startMailpit(t *testing.T, extra ...string) *mailpit {
	t.Helper()
	bin := mailpitBinary(t)
	dir := t.TempDir()
	var lastErr error
	// Another process may take a port between freePort and Mailpit's bind;
	// a fresh pair of ports fixes that.
	for attempt := 0; attempt < 3; attempt++ {
		m := &mailpit{smtpPort: freePort(t)}
		httpPort := freePort(t)
		m.api = fmt.Sprintf("http://127.0.0.1:%d", httpPort)
		args := append([]string{
			"--listen", fmt.Sprintf("127.0.0.1:%d", httpPort),
			"--smtp", fmt.Sprintf("127.0.0.1:%d", m.smtpPort),
			"--database", filepath.Join(dir, fmt.Sprintf("m%d.db", attempt)),
			"--smtp-disable-rdns", "--quiet",
		}, extra...)
		cmd := exec.Command(bin, args...)
		var logBuf strings.Builder
		cmd.Stdout, cmd.Stderr = &logBuf, &logBuf
		if err := cmd.Start(); err != nil {
			t.Fatalf("starting mailpit: %v", err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		stop := func() {
			_ = cmd.Process.Kill()
			<-exited
		}
		deadline := time.Now().Add(15 * time.Second)
		for time.Now().Before(deadline) {
			select {
			case <-exited:
				lastErr = fmt.Errorf("mailpit exited: %s", logBuf.String())
			default:
			}
			if lastErr != nil {
				break
			}
			resp, err := http.Get(m.api + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					t.Cleanup(stop)
					return m
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
		stop()
		if lastErr == nil {
			lastErr = fmt.Errorf("mailpit not ready within 15s: %s", logBuf.String())
		}
	}
	t.Fatal(lastErr)
	return nil
}

type apiAddress struct{ Name, Address string }

type apiSummary struct {
	ID      string
	Subject string
	To, Cc  []apiAddress
}

type apiMessage struct {
	ID          string
	Subject     string
	From        apiAddress
	To, Cc      []apiAddress
	Text        string
	Attachments []struct{ FileName, ContentType string }
}

func (m *mailpit) getJSON(t *testing.T, path string, v any) {
	t.Helper()
	resp, err := http.Get(m.api + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %s %s", path, resp.Status, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

// messages lists what Mailpit received, newest first.
func (m *mailpit) messages(t *testing.T) []apiSummary {
	t.Helper()
	var list struct{ Messages []apiSummary }
	m.getJSON(t, "/api/v1/messages", &list)
	return list.Messages
}

func (m *mailpit) message(t *testing.T, id string) (apiMessage, string) {
	t.Helper()
	var msg apiMessage
	m.getJSON(t, "/api/v1/message/"+id, &msg)
	resp, err := http.Get(m.api + "/api/v1/message/" + id + "/raw")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return msg, string(raw)
}

// chaos makes Mailpit answer the given stage ("Sender", "Recipient",
// "Authentication") with code every time; code 0 turns it off.
func (m *mailpit) chaos(t *testing.T, stage string, code int) {
	t.Helper()
	prob := 100
	if code == 0 {
		prob = 0
	}
	body := fmt.Sprintf(`{%q:{"ErrorCode":%d,"Probability":%d}}`, stage, max(code, 451), prob)
	req, _ := http.NewRequest(http.MethodPut, m.api+"/api/v1/chaos", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("PUT chaos: %s %s", resp.Status, b)
	}
}

// authFile writes a Mailpit (htpasswd) password file with one user.
func authFile(t *testing.T, user, password string) string {
	t.Helper()
	sum := sha1.Sum([]byte(password))
	p := filepath.Join(t.TempDir(), "smtp-users")
	line := user + ":{SHA}" + base64.StdEncoding.EncodeToString(sum[:]) + "\n"
	if err := os.WriteFile(p, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// selfSignedCert writes a certificate for 127.0.0.1 and localhost and its
// key; the certificate is its own CA, so ca_file can point at certFile.
func selfSignedCert(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "agolpipe test mail server"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	i, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return i
}
