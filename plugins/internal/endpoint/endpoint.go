// Package endpoint holds the checks a plugin makes of a network endpoint a
// user names in a pipeline: whether its host is this machine (the only
// place a plain-text connection cannot be overheard), and the extra
// certificate authorities of a ca_file attribute.
package endpoint

import (
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"strings"
)

// IsLoopback reports whether host (a name or an IP address, without a
// port) names this machine: "localhost" in any case, or a loopback address.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// LoadRoots returns the system's certificate authorities plus those of the
// PEM file at path, the value of a ca_file attribute. whose says in the
// user's words which server the file is for ("your mail server"); the
// error, meant for a diagnostic's detail, says what to give instead.
func LoadRoots(path, whose string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%v; give the path of a PEM file with the certificate authority of %s", err, whose)
	}
	roots, err := x509.SystemCertPool()
	if err != nil || roots == nil {
		// Without a system pool (some Windows set-ups) the file alone is
		// trusted, which is what a private certificate authority needs.
		roots = x509.NewCertPool()
	}
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate (\"-----BEGIN CERTIFICATE-----\")", path)
	}
	return roots, nil
}
