// Package webhook is the `webhook` notifier: it POSTs the run summary to an
// HTTP endpoint as a documented JSON payload, a Slack message or a Microsoft
// Teams Adaptive Card, so platform engineers can alert on it.
//
// The URL is treated as a secret (Slack and Teams webhook URLs are bearer
// tokens): it never appears in an error or a diagnostic, only its scheme and
// host do. Errors are classified once: 408, 425, 429 and 5xx are retryable
// (with the server's Retry-After), 401 and 403 are auth, other 4xx are
// permanent. Retrying is the host's job.
package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/agolpipe/agolpipe/plugins/internal/endpoint"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/version"
)

// DefaultTimeout bounds one POST when timeout is not set.
const DefaultTimeout = 30 * time.Second

// Formats of the request body.
const (
	FormatJSON  = "json"
	FormatSlack = "slack"
	FormatTeams = "teams"
)

var schema = sdk.Schema{Attributes: []sdk.Attribute{
	{Name: "url", Type: sdk.TypeString, Required: true, Sensitive: true,
		Description: "Webhook URL; it embeds a secret, so use env(\"WEBHOOK_URL\"). https is required except to localhost."},
	{Name: "format", Type: sdk.TypeString,
		Description: "\"json\" (default, the documented agolpipe payload), \"slack\" (Slack incoming webhook) or \"teams\" (Teams workflow, Adaptive Card)."},
	{Name: "headers", Type: sdk.TypeMapString, Sensitive: true,
		Description: "Extra HTTP headers, for example { Authorization = \"Bearer ...\" }."},
	{Name: "timeout", Type: sdk.TypeString, Description: "How long one POST may take, for example \"30s\" (default 30s)."},
	{Name: "ca_file", Type: sdk.TypeString, Description: "PEM file of extra certificate authorities to trust, for an endpoint with an internal certificate."},
}}

// Notifier posts the run summary to a webhook. Configure it once; Notify is
// safe to call concurrently; Close is idempotent.
type Notifier struct {
	mu     sync.Mutex
	cfg    *config
	client *http.Client
}

// New returns an unconfigured webhook notifier.
func New() sdk.Notifier { return &Notifier{} }

// Info describes the notifier.
func (n *Notifier) Info() sdk.Info {
	return sdk.Info{Kind: sdk.KindNotifier, Name: "webhook", Version: version.Version,
		Description: "POSTs the run summary as JSON, a Slack message or a Teams card."}
}

// Schema is the configuration schema of a `notify "webhook"` block.
func (n *Notifier) Schema() sdk.Schema { return schema }

type config struct {
	url     *url.URL
	rawURL  string
	format  string
	headers http.Header
	secrets []string // header values, never shown
	timeout time.Duration
	roots   *x509.CertPool
}

type rawConfig struct {
	URL     *string           `cty:"url"`
	Format  *string           `cty:"format"`
	Headers map[string]string `cty:"headers"`
	Timeout *string           `cty:"timeout"`
	CAFile  *string           `cty:"ca_file"`
}

// Configure validates the block and reports every problem at once, each with
// the path of its attribute. It makes no network call. Diagnostics never
// quote the URL or a header value.
func (n *Notifier) Configure(ctx context.Context, req sdk.ConfigureRequest) sdk.Diagnostics {
	var diags sdk.Diagnostics
	if !req.Config.IsWhollyKnown() {
		// Values known only at run time cannot be checked yet; Notify
		// refuses until a Configure with known values succeeds.
		return nil
	}
	var raw rawConfig
	if err := sdk.DecodeConfig(req.Config, &raw); err != nil {
		// gocty errors name the attribute, never its value.
		return diags.Errorf(sdk.ConfigErrorPath(err), "Invalid webhook configuration", "%s", err)
	}
	cfg := &config{format: FormatJSON, timeout: DefaultTimeout, headers: http.Header{}}

	if raw.URL == nil || strings.TrimSpace(*raw.URL) == "" {
		diags = diags.Errorf([]string{"url"}, "Missing webhook URL",
			`Set url to the webhook address, for example url = env("SLACK_WEBHOOK_URL").`)
	} else if u, err := url.Parse(strings.TrimSpace(*raw.URL)); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		diags = diags.Errorf([]string{"url"}, "Invalid webhook URL",
			"The url is not an absolute http or https URL (its value is not shown because it holds a secret); it should look like https://hooks.slack.com/services/...")
	} else if u.Scheme == "http" && !endpoint.IsLoopback(u.Hostname()) {
		diags = diags.Errorf([]string{"url"}, "Webhook URL must use https",
			"The url uses plain http to %s, so its secret and the run summary would cross the network unencrypted. Use the https address; plain http is only accepted for localhost and 127.0.0.1.", u.Hostname())
	} else {
		cfg.url, cfg.rawURL = u, strings.TrimSpace(*raw.URL)
	}

	if raw.Format != nil {
		switch f := strings.ToLower(strings.TrimSpace(*raw.Format)); f {
		case FormatJSON, FormatSlack, FormatTeams:
			cfg.format = f
		default:
			diags = diags.Errorf([]string{"format"}, "Unknown webhook format",
				`format = %q is not one of "json", "slack" or "teams".`, *raw.Format)
		}
	}

	names := make([]string, 0, len(raw.Headers))
	for k := range raw.Headers {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		v := raw.Headers[k]
		switch {
		case !validHeaderName(k):
			diags = diags.Errorf([]string{"headers"}, "Invalid header name",
				"%q is not a valid HTTP header name (letters, digits and -).", k)
		case strings.ContainsAny(v, "\r\n\x00"):
			diags = diags.Errorf([]string{"headers"}, "Invalid header value",
				"The value of header %q contains a line break (the value is not shown because headers are sensitive).", k)
		case strings.EqualFold(k, "Host") || strings.EqualFold(k, "Content-Length"):
			diags = diags.Errorf([]string{"headers"}, "Header cannot be set",
				"%s is computed from the url and the body; remove it from headers.", http.CanonicalHeaderKey(k))
		default:
			cfg.headers.Set(k, v)
			if len(v) >= 4 {
				cfg.secrets = append(cfg.secrets, v)
			}
		}
	}

	if raw.Timeout != nil {
		d, err := sdk.ParseDuration(*raw.Timeout)
		if err != nil || d <= 0 {
			diags = diags.Errorf([]string{"timeout"}, "Invalid timeout",
				`timeout = %q is not a positive duration; write for example "30s".`, *raw.Timeout)
		} else {
			cfg.timeout = d
		}
	}

	if raw.CAFile != nil && *raw.CAFile != "" {
		roots, err := endpoint.LoadRoots(*raw.CAFile, "the endpoint")
		if err != nil {
			diags = diags.Errorf([]string{"ca_file"}, "Cannot use CA file", "%v", err)
		}
		cfg.roots = roots
	}

	if diags.HasErrors() {
		return diags
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = &tls.Config{RootCAs: cfg.roots, MinVersion: tls.VersionTLS12}
	client := &http.Client{
		Transport: transport,
		// A redirect of a POST may turn into a GET and drop the summary;
		// report it instead so the user sets the final URL.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	n.mu.Lock()
	if n.client != nil {
		n.client.CloseIdleConnections()
	}
	n.cfg, n.client = cfg, client
	n.mu.Unlock()
	return diags
}

// Notify POSTs the run summary once. It returns nil on any 2xx answer.
func (n *Notifier) Notify(ctx context.Context, req sdk.NotifyRequest) error {
	n.mu.Lock()
	cfg, client := n.cfg, n.client
	n.mu.Unlock()
	if cfg == nil {
		return sdk.Permanent("webhook: notifier is not configured (Configure failed or was not called)")
	}
	where := "webhook: POST to " + cfg.redactedURL()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: not sent: %w", where, err)
	}
	body, err := Payload(cfg.format, req)
	if err != nil {
		return sdk.Permanent("%s: building the %s payload: %v", where, cfg.format, err)
	}
	tctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	hreq, err := http.NewRequestWithContext(tctx, http.MethodPost, cfg.rawURL, bytes.NewReader(body))
	if err != nil {
		return sdk.Permanent("%s: %s", where, cfg.redact(err.Error()))
	}
	hreq.Header = cfg.headers.Clone()
	if hreq.Header.Get("Content-Type") == "" {
		hreq.Header.Set("Content-Type", "application/json; charset=utf-8")
	}
	if hreq.Header.Get("User-Agent") == "" {
		hreq.Header.Set("User-Agent", "agolpipe-webhook/"+version.Version)
	}
	resp, err := client.Do(hreq)
	if err != nil {
		return cfg.classifyTransport(ctx, tctx, where, err)
	}
	defer resp.Body.Close()
	// Read a little of the answer: Slack explains errors in the body
	// ("no_service", "invalid_payload").
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	return cfg.classifyStatus(where, resp, string(snippet), time.Now())
}

// Close drops idle connections. It is idempotent.
func (n *Notifier) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.client != nil {
		n.client.CloseIdleConnections()
	}
	return nil
}

// classifyStatus turns a non-2xx answer into a classified error.
func (c *config) classifyStatus(where string, resp *http.Response, body string, now time.Time) error {
	code := resp.StatusCode
	if code >= 200 && code < 300 {
		return nil
	}
	msg := fmt.Sprintf("%s: the endpoint answered %s", where, resp.Status)
	if b := c.redact(oneLine(body)); b != "" {
		msg += ": " + b
	}
	switch {
	case code == http.StatusTooManyRequests || code == http.StatusRequestTimeout || code == http.StatusTooEarly || code >= 500:
		return &sdk.Error{Kind: sdk.KindRetryable, Err: errors.New(msg + "; try again later"),
			RetryAfter: retryAfter(resp.Header.Get("Retry-After"), now)}
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return sdk.Auth("%s; check the url's token and the headers (an Authorization header, if the endpoint needs one)", msg)
	case code == http.StatusNotFound || code == http.StatusGone:
		return sdk.Permanent("%s; the webhook does not exist any more (deleted, or its channel archived): create a new one and update url", msg)
	case code >= 300 && code < 400:
		return sdk.Permanent("%s; the endpoint redirects, set url to the final address", msg)
	}
	return sdk.Permanent("%s; the endpoint rejected the request, check format and headers", msg)
}

// classifyTransport classifies an error of client.Do. The *url.Error that
// net/http returns quotes the whole URL, so only its cause is kept.
func (c *config) classifyTransport(parent, ctx context.Context, where string, err error) error {
	if perr := parent.Err(); perr != nil {
		return fmt.Errorf("%s: %w", where, perr)
	}
	if ctx.Err() != nil {
		return sdk.Retryable("%s: no answer within timeout %s", where, c.timeout)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	text := c.redact(err.Error())
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var recErr tls.RecordHeaderError
	var netErr net.Error
	switch {
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return sdk.Permanent("%s: host %q not found; check url", where, c.url.Hostname())
	case errors.As(err, &certErr), errors.As(err, &unknownCA), errors.As(err, &hostErr):
		return sdk.Permanent("%s: the endpoint's certificate is not trusted: %s; for an internal certificate authority set ca_file", where, text)
	case errors.As(err, &recErr):
		return sdk.Permanent("%s: the endpoint does not speak TLS; check the url's scheme and port", where)
	case errors.Is(err, syscall.ECONNREFUSED):
		return sdk.Retryable("%s: connection refused", where)
	case errors.As(err, &dnsErr), errors.As(err, &netErr), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET):
		return sdk.Retryable("%s: %s", where, text)
	}
	return sdk.Permanent("%s: %s", where, text)
}

// redactedURL is the URL without its secret parts: scheme and host only.
func (c *config) redactedURL() string {
	return c.url.Scheme + "://" + c.url.Host + "/…"
}

// redact removes the URL, its path and query, and header values from text.
func (c *config) redact(text string) string {
	secrets := append([]string{c.rawURL, c.url.String(), c.url.RequestURI(), c.url.EscapedPath(), c.url.RawQuery}, c.secrets...)
	for _, s := range secrets {
		if len(s) >= 4 {
			text = strings.ReplaceAll(text, s, "[redacted]")
		}
	}
	return text
}

// retryAfter parses a Retry-After header: seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now).Round(time.Second)
	}
	return 0
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(strings.ToValidUTF8(s, "?")), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r == '-' || r == '_' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}
