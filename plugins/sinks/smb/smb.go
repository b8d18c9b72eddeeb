// Package smb is the SMB/CIFS sink: it writes to a Windows or Samba share
// over SMB2/3 from Linux, macOS and Windows alike, without mounting anything
// (go-smb2, NTLM). Writes are atomic: each object is written to a hidden
// temporary file in its target folder and renamed into place. A broken
// session (server restart, network blip, idle timeout) is re-established on
// the next call.
package smb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hirochachacha/go-smb2"

	"github.com/agolpipe/agolpipe/plugins/sinks/internal/upload"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/version"
)

// Hidden names: temporary files of Puts in flight and replaced objects on
// their way out. List never shows them.
const (
	tempPrefix = ".agolpipe-tmp-"
	oldPrefix  = ".agolpipe-old-"
)

// NTSTATUS codes the sink understands.
const (
	statusLogonFailure      = 0xC000006D
	statusAccountRestrict   = 0xC000006E
	statusPasswordExpired   = 0xC0000071
	statusAccountDisabled   = 0xC0000072
	statusAccountLocked     = 0xC0000234
	statusBadNetworkName    = 0xC00000CC
	statusUserSessionDelete = 0xC0000203
	statusNetworkNameDelete = 0xC00000C9
	// statusDiskFull is also Samba's and Windows' answer to a reached disk
	// quota.
	statusDiskFull = 0xC000007F
)

// Sink is the SMB sink. The zero value is unconfigured; use New.
type Sink struct {
	host, share, dir string // dir uses backslashes, no leading or trailing one
	port             int
	user, pass, dom  string
	location         string

	mu     sync.Mutex
	conn   net.Conn
	sess   *smb2.Session
	fs     *smb2.Share
	closed bool
}

// New returns an unconfigured SMB sink.
func New() sdk.Sink { return &Sink{} }

type settings struct {
	Path     string  `cty:"path"`
	User     string  `cty:"user"`
	Password *string `cty:"password"`
	Domain   *string `cty:"domain"`
	Port     *int    `cty:"port"`
}

// Info implements sdk.Sink.
func (s *Sink) Info() sdk.Info {
	return sdk.Info{Kind: sdk.KindSink, Name: "smb", Version: version.Version,
		Description: `Windows or Samba share over SMB2/3 (\\server\share\folder), no mount needed`}
}

// Schema implements sdk.Sink.
func (s *Sink) Schema() sdk.Schema {
	return sdk.Schema{Attributes: []sdk.Attribute{
		{Name: "path", Type: sdk.TypeString, Required: true, Description: `Share and folder: "\\\\server\\share\\folder" or "smb://server[:port]/share/folder".`},
		{Name: "user", Type: sdk.TypeString, Required: true, Description: "User name (without the domain)."},
		{Name: "password", Type: sdk.TypeString, Sensitive: true, Description: "Password of the user."},
		{Name: "domain", Type: sdk.TypeString, Description: "Windows domain of the user, e.g. CITY."},
		{Name: "port", Type: sdk.TypeNumber, Description: "TCP port (default 445). A UNC path cannot carry a port, so it is set here."},
	}}
}

// parsePath splits a UNC path or smb:// URL into host, port (0 when not
// given), share and folder (backslash-separated).
func parsePath(p string) (host string, port int, share, dir string, err error) {
	p = strings.TrimSpace(p)
	var parts []string
	switch {
	case strings.HasPrefix(strings.ToLower(p), "smb://"):
		u, perr := url.Parse(p)
		if perr != nil {
			return "", 0, "", "", fmt.Errorf("not a valid smb:// URL")
		}
		if u.User != nil {
			return "", 0, "", "", fmt.Errorf("put the user in user and the password in password, not in the URL")
		}
		host = u.Hostname()
		if ps := u.Port(); ps != "" {
			port, err = strconv.Atoi(ps)
			if err != nil {
				return "", 0, "", "", fmt.Errorf("port %q is not a number", ps)
			}
		}
		parts = strings.Split(strings.Trim(u.Path, "/"), "/")
	case strings.HasPrefix(p, `\\`) || strings.HasPrefix(p, "//"):
		rest := strings.ReplaceAll(p[2:], "/", `\`)
		all := strings.Split(strings.Trim(rest, `\`), `\`)
		host, parts = all[0], all[1:]
	default:
		return "", 0, "", "", fmt.Errorf(`use \\server\share\folder or smb://server/share/folder`)
	}
	var clean []string
	for _, x := range parts {
		if x == "" || x == "." {
			continue
		}
		if x == ".." {
			return "", 0, "", "", fmt.Errorf(`".." is not allowed in the path`)
		}
		clean = append(clean, x)
	}
	if host == "" || len(clean) == 0 {
		return "", 0, "", "", fmt.Errorf("the path needs a server and a share")
	}
	return host, port, clean[0], strings.Join(clean[1:], `\`), nil
}

// Configure implements sdk.Sink. No network call happens before Preflight.
func (s *Sink) Configure(ctx context.Context, req sdk.ConfigureRequest) (sdk.SinkConfigureResponse, sdk.Diagnostics) {
	var diags sdk.Diagnostics
	var c settings
	if err := sdk.DecodeConfig(req.Config, &c); err != nil {
		return sdk.SinkConfigureResponse{}, diags.Errorf(sdk.ConfigErrorPath(err), "Invalid smb sink configuration", "%v", err)
	}
	host, port, share, dir, err := parsePath(c.Path)
	if err != nil {
		return sdk.SinkConfigureResponse{}, diags.Errorf([]string{"path"}, "Invalid SMB path", `%s, for example path = "\\\\nas01\\gis\\backups".`, err)
	}
	if c.Port != nil {
		if *c.Port < 1 || *c.Port > 65535 {
			diags = diags.Errorf([]string{"port"}, "Invalid port", "port must be 1 to 65535; got %d.", *c.Port)
		}
		if port != 0 && port != *c.Port {
			diags = diags.Errorf([]string{"port"}, "Two different ports", "path says port %d and port says %d; keep one.", port, *c.Port)
		}
		port = *c.Port
	}
	if port == 0 {
		port = 445
	}
	if strings.TrimSpace(c.User) == "" {
		diags = diags.Errorf([]string{"user"}, "Missing user", "SMB needs a user; anonymous access is not supported.")
	}
	if diags.HasErrors() {
		return sdk.SinkConfigureResponse{}, diags
	}
	s.host, s.port, s.share, s.dir = host, port, share, dir
	s.user = strings.TrimSpace(c.User)
	if c.Password != nil {
		s.pass = *c.Password
	}
	if c.Domain != nil {
		s.dom = strings.TrimSpace(*c.Domain)
	}
	s.location = `\\` + host + `\` + share
	if dir != "" {
		s.location += `\` + dir
	}
	if port != 445 {
		s.location += fmt.Sprintf(" (port %d)", port)
	}
	// Windows limits a path to 260 characters by default; the share's local
	// path is unknown, so keep a margin like the local sink.
	return sdk.SinkConfigureResponse{Features: sdk.SinkFeatures{MaxPathLength: 240 - len(dir) - 1, RangeGet: true, Location: s.location}}, nil
}

// share returns the mounted share, dialling and signing in when there is no
// live session.
func (s *Sink) mount(ctx context.Context) (*smb2.Share, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, sdk.Permanent("smb sink %s: closed", s.location)
	}
	if s.host == "" {
		return nil, sdk.Permanent("smb sink: not configured")
	}
	if s.fs != nil {
		return s.fs, nil
	}
	d := net.Dialer{Timeout: 15 * time.Second, KeepAlive: 30 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(s.host, strconv.Itoa(s.port)))
	if err != nil {
		return nil, sdk.Retryable("smb sink %s: cannot reach %s port %d: %v", s.location, s.host, s.port, err)
	}
	dialer := &smb2.Dialer{Initiator: &smb2.NTLMInitiator{User: s.user, Password: s.pass, Domain: s.dom}}
	sess, err := dialer.DialContext(ctx, conn)
	if err != nil {
		conn.Close()
		if code, ok := ntStatus(err); ok {
			switch code {
			case statusLogonFailure:
				return nil, sdk.Auth("smb sink %s: sign-in refused for user %q; check user, password and domain", s.location, s.user)
			case statusPasswordExpired, statusAccountDisabled, statusAccountLocked, statusAccountRestrict:
				return nil, sdk.Auth("smb sink %s: the account %q cannot sign in (expired password, disabled or locked: NTSTATUS %#x); ask the share's administrator", s.location, s.user, code)
			}
		}
		return nil, classify(ctx, err, "sign in to "+s.host)
	}
	share, err := sess.Mount(s.share)
	if err != nil {
		_ = sess.Logoff()
		conn.Close()
		if code, ok := ntStatus(err); ok && code == statusBadNetworkName {
			return nil, sdk.Permanent("smb sink %s: share %q not found on %s; check the share name in path", s.location, s.share, s.host)
		}
		err = classify(ctx, err, "mount share "+s.share)
		if sdk.KindOf(err) == sdk.KindAuth {
			return nil, fmt.Errorf("smb sink %s: user %q may not open share %q; grant it access: %w", s.location, s.user, s.share, err)
		}
		return nil, err
	}
	s.conn, s.sess, s.fs = conn, sess, share
	return share, nil
}

// drop forgets the session after a transport failure so the next call
// reconnects; fs is the share the failing call used.
func (s *Sink) drop(fs *smb2.Share) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fs != fs || s.fs == nil {
		return
	}
	_ = s.conn.Close()
	s.conn, s.sess, s.fs = nil, nil, nil
}

// do runs op on a live share. When the session broke (transport error), it
// reconnects and runs op once more; op must be safe to repeat.
func (s *Sink) do(ctx context.Context, op func(fs *smb2.Share) error) error {
	for attempt := 0; ; attempt++ {
		fs, err := s.mount(ctx)
		if err != nil {
			return err
		}
		err = op(fs.WithContext(ctx))
		if err == nil || !brokenSession(err) || ctx.Err() != nil {
			return err
		}
		s.drop(fs)
		if attempt == 1 {
			return err
		}
	}
}

func (s *Sink) full(p string) string {
	p = strings.ReplaceAll(p, "/", `\`)
	if s.dir == "" {
		return p
	}
	return s.dir + `\` + p
}

func randomHex() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Preflight signs in, opens the share, creates the folder when missing and
// writes and deletes a test file there.
func (s *Sink) Preflight(ctx context.Context) error {
	return s.do(ctx, func(fs *smb2.Share) error {
		if s.dir != "" {
			if err := fs.MkdirAll(s.dir, 0o755); err != nil {
				return fmt.Errorf("smb sink %s: cannot create the folder: %w", s.location, classify(ctx, err, "create folder"))
			}
		}
		name := s.full(tempPrefix + "preflight-" + randomHex())
		if err := fs.WriteFile(name, []byte("agolpipe preflight\n"), 0o644); err != nil {
			err = classify(ctx, err, "test write")
			if sdk.KindOf(err) == sdk.KindAuth {
				return fmt.Errorf("smb sink %s: user %q may not write here; grant it modify rights on the folder: %w", s.location, s.user, err)
			}
			return fmt.Errorf("smb sink %s: %w", s.location, err)
		}
		if err := fs.Remove(name); err != nil {
			return fmt.Errorf("smb sink %s: test write succeeded but deleting it failed; retention needs delete rights: %w", s.location, classify(ctx, err, "delete test file"))
		}
		return nil
	})
}

// Put implements sdk.Sink: temp file in the target folder, then rename.
func (s *Sink) Put(ctx context.Context, req sdk.PutRequest) (sdk.PutResponse, error) {
	fs, err := s.mount(ctx)
	if err != nil {
		return sdk.PutResponse{}, err
	}
	fs = fs.WithContext(ctx)
	final := s.full(req.Path)
	dir := path.Dir(strings.ReplaceAll(final, `\`, "/"))
	tmp := final[:len(final)-len(path.Base(strings.ReplaceAll(final, `\`, "/")))] + tempPrefix + randomHex()
	var f *smb2.File
	for attempt := 0; ; attempt++ {
		if dir != "." {
			if err := fs.MkdirAll(strings.ReplaceAll(dir, "/", `\`), 0o755); err != nil {
				s.dropIfBroken(fs, err)
				return sdk.PutResponse{}, classify(ctx, err, "create folder for "+req.Path)
			}
		}
		f, err = fs.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		// A concurrent Delete may remove the folder between MkdirAll and
		// the create; make it again once.
		if err != nil && errors.Is(err, os.ErrNotExist) && attempt == 0 {
			continue
		}
		break
	}
	if err != nil {
		s.dropIfBroken(fs, err)
		return sdk.PutResponse{}, classify(ctx, err, "create "+req.Path)
	}
	body := &upload.Body{R: req.Body, Ctx: ctx}
	buf := make([]byte, 1<<20)
	_, err = io.CopyBuffer(struct{ io.Writer }{f}, body, buf)
	if err == nil {
		err = ctx.Err()
	}
	cerr := f.Close()
	if err == nil {
		err = cerr
	}
	if err != nil {
		s.cleanup(ctx, fs, tmp)
		s.dropIfBroken(fs, err)
		if err := body.ReadError("smb", req.Path); err != nil {
			return sdk.PutResponse{}, err
		}
		return sdk.PutResponse{}, classify(ctx, err, "write "+req.Path)
	}
	if err := s.replace(ctx, fs, tmp, final); err != nil {
		s.cleanup(ctx, fs, tmp)
		s.dropIfBroken(fs, err)
		return sdk.PutResponse{}, classify(ctx, err, "rename into place "+req.Path)
	}
	return sdk.PutResponse{Size: body.Size()}, nil
}

// replace renames tmp to final. SMB rename (as go-smb2 sends it) does not
// overwrite, so an existing object is first renamed aside and deleted
// after; between those two renames a reader sees no object at final, never
// a partial one.
func (s *Sink) replace(ctx context.Context, fs *smb2.Share, tmp, final string) error {
	var aside []string
	defer func() {
		for _, a := range aside {
			_ = fs.Remove(a)
		}
	}()
	var err error
	for range 8 {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		err = fs.Rename(tmp, final)
		if err == nil {
			return nil
		}
		if !errors.Is(err, os.ErrExist) {
			return err
		}
		a := final[:len(final)-len(path.Base(strings.ReplaceAll(final, `\`, "/")))] + oldPrefix + randomHex()
		if rerr := fs.Rename(final, a); rerr == nil {
			aside = append(aside, a)
		} else if !errors.Is(rerr, os.ErrNotExist) {
			return rerr
		}
	}
	return err
}

// cleanup removes a temp file after a failed Put, on a context that
// survives the Put's cancellation. If the session is gone the file stays,
// hidden from List.
func (s *Sink) cleanup(ctx context.Context, fs *smb2.Share, tmp string) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_ = fs.WithContext(cctx).Remove(tmp)
}

func (s *Sink) dropIfBroken(fs *smb2.Share, err error) {
	if brokenSession(err) {
		s.drop(fs)
	}
}

// Stat implements sdk.Sink.
func (s *Sink) Stat(ctx context.Context, p string) (sdk.ObjectInfo, error) {
	var info sdk.ObjectInfo
	err := s.do(ctx, func(fs *smb2.Share) error {
		fi, err := fs.Stat(s.full(p))
		if err != nil {
			return err
		}
		if fi.IsDir() {
			return sdk.NotFound("smb sink: %q is a folder, not an object", p)
		}
		info = sdk.ObjectInfo{Path: p, Size: fi.Size(), Modified: fi.ModTime()}
		return nil
	})
	return info, classify(ctx, err, "stat "+p)
}

// Get implements sdk.Sink.
func (s *Sink) Get(ctx context.Context, req sdk.GetRequest) (io.ReadCloser, error) {
	var f *smb2.File
	err := s.do(ctx, func(fs *smb2.Share) error {
		var err error
		f, err = fs.Open(s.full(req.Path))
		if err != nil {
			return err
		}
		if fi, err := f.Stat(); err == nil && fi.IsDir() {
			f.Close()
			return sdk.NotFound("smb sink: %q is a folder, not an object", req.Path)
		}
		return nil
	})
	if err != nil {
		return nil, classify(ctx, err, "get "+req.Path)
	}
	if req.Offset > 0 {
		if _, err := f.Seek(req.Offset, io.SeekStart); err != nil {
			f.Close()
			return nil, classify(ctx, err, "seek "+req.Path)
		}
	}
	var r io.Reader = f
	if req.Length > 0 {
		r = io.LimitReader(f, req.Length)
	}
	return &readCloser{Reader: r, c: f}, nil
}

type readCloser struct {
	io.Reader
	c io.Closer
}

func (r *readCloser) Close() error { return r.c.Close() }

// List implements sdk.Sink by walking the folders that can hold matches.
func (s *Sink) List(ctx context.Context, req sdk.ListRequest, fn func(sdk.ObjectInfo) error) error {
	var infos []sdk.ObjectInfo
	// Collect first, then call fn, so a retry after a broken session does
	// not call fn twice for the same object.
	err := s.do(ctx, func(fs *smb2.Share) error {
		infos = infos[:0]
		start := ""
		if i := strings.LastIndex(req.Prefix, "/"); i >= 0 {
			start = req.Prefix[:i]
		}
		return s.walk(fs, start, req.Prefix, &infos)
	})
	if err != nil {
		return classify(ctx, err, "list "+req.Prefix)
	}
	for _, info := range infos {
		if err := fn(info); err != nil {
			return err
		}
	}
	return nil
}

func (s *Sink) walk(fs *smb2.Share, rel, prefix string, out *[]sdk.ObjectInfo) error {
	dir := s.dir
	if rel != "" {
		dir = s.full(rel)
	}
	entries, err := fs.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, tempPrefix) || strings.HasPrefix(name, oldPrefix) {
			continue
		}
		p := name
		if rel != "" {
			p = rel + "/" + name
		}
		if e.IsDir() {
			if strings.HasPrefix(p+"/", prefix) || strings.HasPrefix(prefix, p+"/") {
				if err := s.walk(fs, p, prefix, out); err != nil {
					return err
				}
			}
			continue
		}
		if strings.HasPrefix(p, prefix) {
			*out = append(*out, sdk.ObjectInfo{Path: p, Size: e.Size(), Modified: e.ModTime()})
		}
	}
	return nil
}

// Delete implements sdk.Sink, and removes folders it leaves empty (up to
// the sink's own folder), so retention leaves no empty run folders behind.
func (s *Sink) Delete(ctx context.Context, p string) error {
	err := s.do(ctx, func(fs *smb2.Share) error {
		full := s.full(p)
		if fi, err := fs.Stat(full); err != nil {
			return err
		} else if fi.IsDir() {
			return sdk.NotFound("smb sink: %q is a folder, not an object", p)
		}
		if err := fs.Remove(full); err != nil {
			return err
		}
		for d := path.Dir(p); d != "." && d != "/" && d != ""; d = path.Dir(d) {
			if fs.Remove(s.full(d)) != nil {
				break // not empty, or in use by a concurrent Put
			}
		}
		return nil
	})
	return classify(ctx, err, "delete "+p)
}

// Close implements sdk.Sink; it logs off and is idempotent.
func (s *Sink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.fs != nil {
		_ = s.fs.Umount()
		_ = s.sess.Logoff()
		_ = s.conn.Close()
		s.conn, s.sess, s.fs = nil, nil, nil
	}
	return nil
}

func ntStatus(err error) (uint32, bool) {
	var re *smb2.ResponseError
	if errors.As(err, &re) {
		return re.Code, true
	}
	return 0, false
}

// brokenSession reports errors after which the session cannot be used.
func brokenSession(err error) bool {
	if err == nil {
		return false
	}
	var te *smb2.TransportError
	if errors.As(err, &te) {
		return true
	}
	if code, ok := ntStatus(err); ok {
		return code == statusUserSessionDelete || code == statusNetworkNameDelete || code == 0xC000035C /* NETWORK_SESSION_EXPIRED */
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed) ||
		strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "broken pipe") ||
		strings.Contains(err.Error(), "use of closed network connection")
}

// classify classifies err once; errors already classified keep their kind.
func classify(ctx context.Context, err error, what string) error {
	if err == nil {
		return nil
	}
	var ce *sdk.Error
	if errors.As(err, &ce) {
		return err
	}
	wrap := func(k sdk.ErrorKind) error { return sdk.Classify(k, fmt.Errorf("smb: %s: %w", what, err)) }
	if ctx.Err() != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return wrap(sdk.KindRetryable)
		}
		return wrap(sdk.KindCanceled)
	}
	switch {
	case errors.Is(err, os.ErrNotExist):
		return wrap(sdk.KindNotFound)
	case errors.Is(err, os.ErrPermission):
		return wrap(sdk.KindAuth)
	case brokenSession(err):
		return wrap(sdk.KindRetryable)
	}
	if code, ok := ntStatus(err); ok && code == statusLogonFailure {
		return wrap(sdk.KindAuth)
	}
	if code, ok := ntStatus(err); ok && code == statusDiskFull {
		// The share is full, not this object: core stops sending to it.
		return sdk.WithReason(sdk.KindPermanent, sdk.ReasonNoSpace, fmt.Errorf("smb: %s: %w (the share is full or the quota is reached; free space on it)", what, err))
	}
	return wrap(sdk.KindPermanent)
}
