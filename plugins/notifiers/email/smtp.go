package email

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/agolpipe/agolpipe/plugins/internal/endpoint"
	"github.com/agolpipe/agolpipe/sdk"
)

// stageRecipient starts the stage of sending one recipient address.
const stageRecipient = "sending recipient"

// sender delivers one message over one SMTP connection.
type sender struct {
	cfg   *config
	now   func() time.Time
	token func() string
	// stage says what the session was doing, for errors.
	stage string
}

// send connects, secures the connection, logs in, and hands the message to
// the server. The context bounds every step: when it ends, the connection's
// deadline is moved to the past so a blocked read or write returns at once.
func (s *sender) send(parent context.Context, req sdk.NotifyRequest) (err error) {
	ctx, cancel := context.WithTimeout(parent, s.cfg.timeout)
	defer cancel()
	defer func() {
		if err != nil {
			err = s.classify(parent, ctx, err)
		}
	}()

	s.stage = "connecting"
	tlsConfig := &tls.Config{ServerName: s.cfg.host, RootCAs: s.cfg.roots, MinVersion: tls.VersionTLS12}
	dialer := &net.Dialer{}
	var conn net.Conn
	if s.cfg.tls == tlsImplicit {
		conn, err = (&tls.Dialer{NetDialer: dialer, Config: tlsConfig}).DialContext(ctx, "tcp", s.cfg.addr())
	} else {
		conn, err = dialer.DialContext(ctx, "tcp", s.cfg.addr())
	}
	if err != nil {
		return err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	s.stage = "waiting for the server greeting"
	c, err := smtp.NewClient(conn, s.cfg.host)
	if err != nil {
		return err
	}
	defer c.Close()
	s.stage = "saying hello"
	if err := c.Hello(helloName()); err != nil {
		return err
	}

	if s.cfg.tls == tlsStartTLS {
		s.stage = "starting TLS"
		if ok, _ := c.Extension("STARTTLS"); !ok {
			hint := ""
			if endpoint.IsLoopback(s.cfg.host) {
				hint = `; for a relay on this machine that has no TLS, set tls = "none"`
			}
			return sdk.Permanent("the server does not offer STARTTLS; if it expects TLS from the first byte (usually port 465) set tls = \"tls\"%s", hint)
		}
		if err := c.StartTLS(tlsConfig); err != nil {
			return err
		}
	}

	if s.cfg.username != "" {
		s.stage = "logging in"
		ok, mechs := c.Extension("AUTH")
		if !ok {
			return sdk.Permanent("the server does not offer authentication (no AUTH after %s); check tls and smtp_port, or remove username and password for a relay that needs no login", s.cfg.tls)
		}
		a, err := s.auth(mechs)
		if err != nil {
			return err
		}
		if err := c.Auth(a); err != nil {
			return err
		}
	}

	s.stage = "sending the sender address"
	if err := c.Mail(s.cfg.from.Address); err != nil {
		return err
	}
	for _, rcpt := range append(append([]*mail.Address(nil), s.cfg.to...), s.cfg.cc...) {
		s.stage = stageRecipient + " " + rcpt.Address
		if err := c.Rcpt(rcpt.Address); err != nil {
			return err
		}
	}
	s.stage = "sending the message"
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := newMessage(s.cfg, req, s.now(), s.token()).WriteTo(w); err != nil {
		return err
	}
	// Close ends DATA; its reply is the server's verdict on the message.
	if err := w.Close(); err != nil {
		return err
	}
	// The message is accepted; a failing QUIT changes nothing for the user.
	_ = c.Quit()
	return nil
}

// auth picks PLAIN, else LOGIN (Microsoft 365 offers only LOGIN and XOAUTH2).
func (s *sender) auth(mechs string) (smtp.Auth, error) {
	offered := strings.Fields(strings.ToUpper(mechs))
	has := func(m string) bool {
		for _, o := range offered {
			if o == m {
				return true
			}
		}
		return false
	}
	switch {
	case has("PLAIN"):
		return smtp.PlainAuth("", s.cfg.username, s.cfg.password, s.cfg.host), nil
	case has("LOGIN"):
		return &loginAuth{user: s.cfg.username, pass: s.cfg.password, host: s.cfg.host}, nil
	}
	return nil, sdk.Permanent("the server offers login methods %q, but agolpipe supports PLAIN and LOGIN", mechs)
}

// loginAuth is the LOGIN mechanism, which net/smtp lacks. Like PlainAuth it
// refuses to send the password unencrypted, except to this machine.
type loginAuth struct{ user, pass, host string }

func (a *loginAuth) Start(si *smtp.ServerInfo) (string, []byte, error) {
	if !si.TLS && !endpoint.IsLoopback(si.Name) {
		return "", nil, errors.New("refusing to send the password over an unencrypted connection")
	}
	if si.Name != a.host {
		return "", nil, errors.New("wrong host name")
	}
	return "LOGIN", nil, nil
}

func (a *loginAuth) Next(fromServer []byte, more bool) ([]byte, error) {
	if !more {
		return nil, nil
	}
	switch prompt := strings.ToLower(string(fromServer)); {
	case strings.Contains(prompt, "user"):
		return []byte(a.user), nil
	case strings.Contains(prompt, "pass"):
		return []byte(a.pass), nil
	}
	return nil, errors.New("unexpected LOGIN challenge from the server")
}

// classify turns err into a classified error that says where it happened
// and what to do. parent is the caller's context, ctx adds the timeout.
func (s *sender) classify(parent, ctx context.Context, err error) error {
	where := fmt.Sprintf("email: %s to %s (tls = %q)", s.stage, s.cfg.addr(), s.cfg.tls)
	if perr := parent.Err(); perr != nil {
		return fmt.Errorf("%s: %w", where, perr)
	}
	if ctx.Err() != nil {
		return sdk.Retryable("%s: no progress within timeout %s; check smtp_host, smtp_port and tls, and that a firewall lets this machine reach the server", where, s.cfg.timeout)
	}
	var se *sdk.Error
	if errors.As(err, &se) {
		return &sdk.Error{Kind: se.Kind, Err: fmt.Errorf("%s: %w", where, err), RetryAfter: se.RetryAfter}
	}

	var te *textproto.Error
	if errors.As(err, &te) {
		msg := fmt.Sprintf("%s: the server answered %d %s", where, te.Code, te.Msg)
		switch {
		case te.Code == 535 || te.Code == 534 || te.Code == 530 || te.Code == 538 ||
			(s.stage == "logging in" && te.Code >= 500):
			return sdk.Auth("%s; check username and password (Microsoft 365 needs SMTP AUTH enabled for the mailbox, Gmail needs an app password)", msg)
		case te.Code >= 400 && te.Code < 500:
			return sdk.Retryable("%s; the server asks to try again later", msg)
		case s.stage == "sending the sender address":
			return sdk.Permanent("%s; check that the account may send as the from address", msg)
		case strings.HasPrefix(s.stage, stageRecipient):
			return sdk.Permanent("%s; check the to and cc addresses", msg)
		}
		return sdk.Permanent("%s", msg)
	}

	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalidCert x509.CertificateInvalidError
	var recErr tls.RecordHeaderError
	var netErr net.Error
	switch {
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return sdk.Permanent("%s: host %q not found; check smtp_host", where, s.cfg.host)
	case errors.As(err, &dnsErr):
		return sdk.Retryable("%s: looking up %q: %v", where, s.cfg.host, dnsErr)
	case errors.As(err, &certErr), errors.As(err, &unknownCA), errors.As(err, &hostErr), errors.As(err, &invalidCert):
		return sdk.Permanent("%s: the server's certificate is not trusted: %v; if the server uses an internal certificate authority, set ca_file to its PEM file", where, err)
	case errors.As(err, &recErr):
		return sdk.Permanent("%s: the server did not answer in TLS; port 465 uses tls = \"tls\", port 587 uses tls = \"starttls\"", where)
	case errors.Is(err, syscall.ECONNREFUSED):
		return sdk.Retryable("%s: connection refused; nothing listens on %s, check smtp_host and smtp_port", where, s.cfg.addr())
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return sdk.Retryable("%s: the server closed the connection: %v", where, err)
	case errors.As(err, &netErr), errors.Is(err, os.ErrDeadlineExceeded):
		return sdk.Retryable("%s: %v", where, err)
	}
	return sdk.Permanent("%s: %v", where, err)
}

// scrub makes sure the password never leaves in an error, whatever a server
// or library echoed: plain, or base64 as PLAIN and LOGIN send it.
func (s *sender) scrub(err error) error {
	if err == nil || s.cfg.password == "" {
		return err
	}
	msg := err.Error()
	secrets := []string{
		s.cfg.password,
		base64.StdEncoding.EncodeToString([]byte(s.cfg.password)),
		base64.StdEncoding.EncodeToString([]byte("\x00" + s.cfg.username + "\x00" + s.cfg.password)),
	}
	clean := msg
	for _, sec := range secrets {
		clean = strings.ReplaceAll(clean, sec, "[redacted]")
	}
	if clean == msg {
		return err
	}
	kind := sdk.KindOf(err)
	if kind == sdk.KindCanceled {
		return fmt.Errorf("%s: %w", clean, context.Canceled)
	}
	return &sdk.Error{Kind: kind, Err: errors.New(clean), RetryAfter: sdk.RetryAfterOf(err)}
}

// helloName is the name sent in EHLO: this machine's host name when it is a
// plausible one, since some servers score "localhost" as spam.
func helloName() string {
	h, err := os.Hostname()
	if err != nil || h == "" || strings.ContainsAny(h, " \r\n") {
		return "localhost"
	}
	return h
}
