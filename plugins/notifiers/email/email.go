// Package email is the `email` notifier: it mails the run summary and the
// text of Results.txt to GIS administrators through an SMTP server
// (Microsoft 365, Gmail, a city relay), over STARTTLS or TLS.
//
// Errors are classified where SMTP is understood: rejected credentials are
// sdk.KindAuth, connection failures, timeouts and 4xx replies are retryable,
// 5xx replies are permanent. The password never appears in an error or a
// diagnostic.
package email

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"net/mail"
	"strings"
	"sync"
	"time"

	"github.com/agolpipe/agolpipe/plugins/internal/endpoint"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/version"
)

// Defaults of optional attributes.
const (
	DefaultPort          = 587
	DefaultSubjectPrefix = "[agolpipe]"
	DefaultTLS           = "starttls"
	DefaultTimeout       = 60 * time.Second
)

// TLS modes.
const (
	tlsStartTLS = "starttls"
	tlsImplicit = "tls"
	tlsNone     = "none"
)

var schema = sdk.Schema{Attributes: []sdk.Attribute{
	{Name: "smtp_host", Type: sdk.TypeString, Required: true, Description: "SMTP server host name, for example smtp.office365.com."},
	{Name: "smtp_port", Type: sdk.TypeNumber, Description: "SMTP server port (default 587; 465 for tls = \"tls\")."},
	{Name: "username", Type: sdk.TypeString, Description: "SMTP user name; leave out for a relay that needs no login."},
	{Name: "password", Type: sdk.TypeString, Sensitive: true, Description: "SMTP password or app password; use env(\"SMTP_PASSWORD\")."},
	{Name: "from", Type: sdk.TypeString, Required: true, Description: "Sender address, for example \"agolpipe <gis-backup@city.gov>\"."},
	{Name: "to", Type: sdk.TypeListString, Required: true, Description: "Recipient addresses."},
	{Name: "cc", Type: sdk.TypeListString, Description: "Copy recipient addresses."},
	{Name: "subject_prefix", Type: sdk.TypeString, Description: "Text before the subject (default \"[agolpipe]\")."},
	{Name: "tls", Type: sdk.TypeString, Description: "\"starttls\" (default), \"tls\" (TLS from the first byte, port 465) or \"none\" (only for a relay on localhost)."},
	{Name: "ca_file", Type: sdk.TypeString, Description: "PEM file of extra certificate authorities to trust, for a server with an internal certificate."},
	{Name: "timeout", Type: sdk.TypeString, Description: "How long sending may take, for example \"60s\" (default 60s)."},
	{Name: "attach_results", Type: sdk.TypeBool, Description: "Also attach Results.txt to the message (default false)."},
}}

// Notifier sends the run summary by email. Make it with New (the zero value
// also works). Configure it once; Notify is safe to call concurrently; Close
// is idempotent.
type Notifier struct {
	mu  sync.Mutex
	cfg *config

	// now and token are replaced by tests to make messages reproducible.
	now   func() time.Time
	token func() string
}

// New returns an unconfigured email notifier.
func New() sdk.Notifier { return &Notifier{now: time.Now, token: randomToken} }

// Info describes the notifier.
func (n *Notifier) Info() sdk.Info {
	return sdk.Info{Kind: sdk.KindNotifier, Name: "email", Version: version.Version,
		Description: "Emails the run summary and Results.txt through an SMTP server."}
}

// Schema is the configuration schema of a `notify "email"` block.
func (n *Notifier) Schema() sdk.Schema { return schema }

// config is a validated configuration.
type config struct {
	host          string
	port          int
	username      string
	password      string
	from          *mail.Address
	to, cc        []*mail.Address
	subjectPrefix string
	tls           string
	roots         *x509.CertPool // nil: the system pool
	timeout       time.Duration
	attach        bool
}

func (c *config) addr() string { return net.JoinHostPort(c.host, fmt.Sprint(c.port)) }

// rawConfig is the block as the host decoded it; null attributes stay nil.
type rawConfig struct {
	SMTPHost      *string  `cty:"smtp_host"`
	SMTPPort      *int     `cty:"smtp_port"`
	Username      *string  `cty:"username"`
	Password      *string  `cty:"password"`
	From          *string  `cty:"from"`
	To            []string `cty:"to"`
	Cc            []string `cty:"cc"`
	SubjectPrefix *string  `cty:"subject_prefix"`
	TLS           *string  `cty:"tls"`
	CAFile        *string  `cty:"ca_file"`
	Timeout       *string  `cty:"timeout"`
	AttachResults *bool    `cty:"attach_results"`
}

// Configure validates the block and reports every problem at once, each with
// the path of its attribute. It makes no network call.
func (n *Notifier) Configure(ctx context.Context, req sdk.ConfigureRequest) sdk.Diagnostics {
	var diags sdk.Diagnostics
	if !req.Config.IsWhollyKnown() {
		// Values known only at run time (validate of a file whose variables
		// are not set) cannot be checked yet; Notify refuses until they are.
		return nil
	}
	var raw rawConfig
	if err := sdk.DecodeConfig(req.Config, &raw); err != nil {
		return diags.Errorf(sdk.ConfigErrorPath(err), "Invalid email configuration", "%s", err)
	}
	cfg := &config{
		port: DefaultPort, subjectPrefix: DefaultSubjectPrefix, tls: DefaultTLS, timeout: DefaultTimeout,
	}

	// smtp_host
	if raw.SMTPHost == nil || strings.TrimSpace(*raw.SMTPHost) == "" {
		diags = diags.Errorf([]string{"smtp_host"}, "Missing SMTP server",
			`Set smtp_host to the host name of your mail server, for example smtp_host = "smtp.office365.com".`)
	} else {
		h := strings.TrimSpace(*raw.SMTPHost)
		switch {
		case strings.Contains(h, "://"):
			diags = diags.Errorf([]string{"smtp_host"}, "SMTP host is a URL",
				`Write only the host name, without scheme: smtp_host = %q.`, h[strings.Index(h, "://")+3:])
		case strings.Count(h, ":") == 1:
			host, port, _ := net.SplitHostPort(h)
			diags = diags.Errorf([]string{"smtp_host"}, "SMTP host contains a port",
				`Write the port separately: smtp_host = %q and smtp_port = %s.`, host, port)
		case strings.ContainsAny(h, " /\\@"):
			diags = diags.Errorf([]string{"smtp_host"}, "Invalid SMTP host",
				"%q is not a host name; write the name or IP address of the mail server.", h)
		default:
			cfg.host = strings.Trim(h, "[]")
		}
	}

	// smtp_port
	if raw.SMTPPort != nil {
		if p := *raw.SMTPPort; p < 1 || p > 65535 {
			diags = diags.Errorf([]string{"smtp_port"}, "Invalid SMTP port",
				"%d is not a TCP port; use 587 (STARTTLS), 465 (tls = \"tls\") or 25.", p)
		} else {
			cfg.port = p
		}
	}

	// tls
	if raw.TLS != nil {
		switch m := strings.ToLower(strings.TrimSpace(*raw.TLS)); m {
		case tlsStartTLS, tlsImplicit, tlsNone:
			cfg.tls = m
		default:
			diags = diags.Errorf([]string{"tls"}, "Unknown TLS mode",
				`tls = %q is not one of "starttls" (port 587), "tls" (port 465) or "none".`, *raw.TLS)
		}
	}
	if cfg.tls == tlsNone && cfg.host != "" && !endpoint.IsLoopback(cfg.host) {
		diags = diags.Errorf([]string{"tls"}, "Unencrypted SMTP is only allowed to this machine",
			`tls = "none" would send the message, and the password if one is set, in clear text across the network to %s. `+
				`Use tls = "starttls" (port 587) or tls = "tls" (port 465); "none" is only accepted for a relay on localhost or 127.0.0.1.`, cfg.host)
	}
	if raw.TLS == nil && cfg.port == 465 {
		diags = diags.Warnf([]string{"smtp_port"}, "Port 465 usually needs tls = \"tls\"",
			`Port 465 expects TLS from the first byte, but tls defaults to "starttls". Add tls = "tls" to the block.`)
	}

	// username, password
	if raw.Username != nil {
		cfg.username = *raw.Username
	}
	if raw.Password != nil {
		cfg.password = *raw.Password
	}
	if cfg.password != "" && cfg.username == "" {
		diags = diags.Errorf([]string{"username"}, "Password without user name",
			"A password is set but username is not; set username to the mailbox or account that logs in to the SMTP server.")
	}
	if cfg.username != "" && cfg.password == "" {
		diags = diags.Errorf([]string{"password"}, "User name without password",
			`username is set but password is empty; set password = env("SMTP_PASSWORD") and export that variable.`)
	}

	// from, to, cc
	if raw.From == nil || strings.TrimSpace(*raw.From) == "" {
		diags = diags.Errorf([]string{"from"}, "Missing sender address",
			`Set from to the address the message comes from, for example from = "agolpipe <gis-backup@city.gov>".`)
	} else if a, err := mail.ParseAddress(*raw.From); err != nil {
		diags = diags.Errorf([]string{"from"}, "Invalid sender address", "%q: %v.", *raw.From, err)
	} else {
		cfg.from = a
	}
	var ok bool
	if cfg.to, ok = parseAddresses(&diags, "to", raw.To); ok && len(cfg.to) == 0 {
		diags = diags.Errorf([]string{"to"}, "No recipients",
			`Set to to at least one address, for example to = ["gis-admins@city.gov"].`)
	}
	cfg.cc, _ = parseAddresses(&diags, "cc", raw.Cc)

	// subject_prefix
	if raw.SubjectPrefix != nil {
		if strings.ContainsFunc(*raw.SubjectPrefix, isControl) {
			diags = diags.Errorf([]string{"subject_prefix"}, "Control character in subject prefix",
				"The subject prefix may not contain line breaks or other control characters.")
		} else {
			cfg.subjectPrefix = strings.TrimSpace(*raw.SubjectPrefix)
		}
	}

	// ca_file
	if raw.CAFile != nil && *raw.CAFile != "" {
		roots, err := endpoint.LoadRoots(*raw.CAFile, "your mail server")
		if err != nil {
			diags = diags.Errorf([]string{"ca_file"}, "Cannot use CA file", "%v", err)
		}
		cfg.roots = roots
	}

	// timeout
	if raw.Timeout != nil {
		d, err := sdk.ParseDuration(*raw.Timeout)
		if err != nil || d <= 0 {
			diags = diags.Errorf([]string{"timeout"}, "Invalid timeout",
				`timeout = %q is not a positive duration; write for example "60s" or "2m".`, *raw.Timeout)
		} else {
			cfg.timeout = d
		}
	}
	if raw.AttachResults != nil {
		cfg.attach = *raw.AttachResults
	}

	if diags.HasErrors() {
		return diags
	}
	n.mu.Lock()
	n.cfg = cfg
	n.mu.Unlock()
	return diags
}

// Notify mails the run summary to every recipient. It returns when the
// server has accepted the message, ctx is done or the timeout passed.
func (n *Notifier) Notify(ctx context.Context, req sdk.NotifyRequest) error {
	n.mu.Lock()
	cfg := n.cfg
	n.mu.Unlock()
	if cfg == nil {
		return sdk.Permanent("email: notifier is not configured (Configure failed or was not called)")
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("email: not sent to %s: %w", cfg.addr(), err)
	}
	s := &sender{cfg: cfg, now: time.Now, token: randomToken}
	if n.now != nil { // tests fix the clock and the token
		s.now, s.token = n.now, n.token
	}
	return s.scrub(s.send(ctx, req))
}

// Close releases nothing: every Notify opens and closes its own connection.
// It is idempotent.
func (n *Notifier) Close() error { return nil }

// parseAddresses parses a list attribute of addresses; ok is false when an
// entry is invalid (and a diagnostic was added).
func parseAddresses(diags *sdk.Diagnostics, attr string, list []string) (out []*mail.Address, ok bool) {
	ok = true
	for i, s := range list {
		as, err := mail.ParseAddressList(s)
		if err != nil {
			*diags = diags.Errorf([]string{attr}, "Invalid email address",
				"Entry %d of %s, %q: %v. Write one address per entry, such as \"gis-admins@city.gov\" or \"GIS Admins <gis-admins@city.gov>\".", i+1, attr, s, err)
			ok = false
			continue
		}
		out = append(out, as...)
	}
	return out, ok
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }
