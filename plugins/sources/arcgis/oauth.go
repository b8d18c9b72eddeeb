package arcgis

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/agolpipe/agolpipe/sdk"
)

// OOBRedirect is the redirect URI with which the portal's sign-in page
// shows the authorization code for the user to paste.
const OOBRedirect = "urn:ietf:wg:oauth:2.0:oob"

// tokenFile is what `agolpipe login` stores: never an access token, only the
// refresh token and what is needed to use and roll it.
type tokenFile struct {
	Portal         string    `json:"portal"`
	ClientID       string    `json:"client_id"`
	Username       string    `json:"username,omitempty"`
	RedirectURI    string    `json:"redirect_uri,omitempty"`
	RefreshToken   string    `json:"refresh_token"`
	RefreshIssued  time.Time `json:"refresh_token_issued"`
	RefreshExpires time.Time `json:"refresh_token_expires,omitzero"`
}

func (f *tokenFile) redirectURI() string {
	if f.RedirectURI != "" {
		return f.RedirectURI
	}
	return OOBRedirect
}

// nearExpiry: roll the refresh token in the last day of its life, or in the
// second half of a short one, so an unattended schedule never lets it lapse.
func (f *tokenFile) nearExpiry(now time.Time) bool {
	if f.RefreshExpires.IsZero() {
		return false
	}
	left := f.RefreshExpires.Sub(now)
	margin := 24 * time.Hour
	if !f.RefreshIssued.IsZero() {
		if half := f.RefreshExpires.Sub(f.RefreshIssued) / 2; half < margin {
			margin = half
		}
	}
	return left < margin
}

func readTokenFile(path string) (*tokenFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("token file %s does not exist", path)
		}
		return nil, err
	}
	var f tokenFile
	if err := json.Unmarshal(b, &f); err != nil || f.RefreshToken == "" {
		return nil, fmt.Errorf("token file %s is not an agolpipe sign-in", path)
	}
	return &f, nil
}

// writeTokenFile replaces path atomically (temp file, fsync, rename) with
// mode 0600 from the first byte, so a crash never leaves half a token and no
// other user can ever read it.
func writeTokenFile(path string, f *tokenFile) error {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".agolpipe-token-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// LoginOptions drive the OAuth 2.0 authorization-code flow with PKCE.
type LoginOptions struct {
	// Config is the source block (its url and oauth block are used).
	Config sdk.ConfigureRequest
	// Out receives the instructions (the URL to open).
	Out io.Writer
	// In is where the user pastes the code (oob redirect).
	In io.Reader
	// Code, when set, replaces the prompt: it is given the authorization
	// URL and returns the code (tests, or a GUI).
	Code func(ctx context.Context, authorizeURL string) (string, error)
	// Visit, when set, is called with the authorization URL in loopback
	// mode instead of asking the user to open it (tests, or a browser
	// opener).
	Visit func(ctx context.Context, authorizeURL string) error
}

// LoginResult says who signed in and where the sign-in is kept.
type LoginResult struct {
	Username       string
	TokenFile      string
	RefreshExpires time.Time
}

// Login runs the authorization-code flow with PKCE for the source block in
// opt.Config and stores the refresh token in the block's token_file.
func Login(ctx context.Context, opt LoginOptions) (LoginResult, error) {
	cfg, d := decodeConfig(opt.Config.Config)
	if d.HasErrors() {
		return LoginResult{}, d.Err()
	}
	if cfg.OAuth == nil {
		return LoginResult{}, fmt.Errorf("this source has no oauth block; add oauth { client_id = \"...\", token_file = \"...\" } to sign in through the browser")
	}
	hc, err := newHTTPClient(cfg)
	if err != nil {
		return LoginResult{}, err
	}
	c := newClient(cfg, hc)
	if opt.Out == nil {
		opt.Out = io.Discard
	}

	verifier := randomString(48)
	sum := sha256.Sum256([]byte(verifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	state := randomString(16)

	redirect := OOBRedirect
	var codes chan string
	var errs chan error
	if cfg.OAuth.Redirect == "loopback" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return LoginResult{}, fmt.Errorf("loopback redirect: %w", err)
		}
		defer ln.Close()
		redirect = fmt.Sprintf("http://127.0.0.1:%d/agolpipe/callback", ln.Addr().(*net.TCPAddr).Port)
		codes, errs = make(chan string, 1), make(chan error, 1)
		srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/agolpipe/callback" {
				http.NotFound(w, r)
				return
			}
			q := r.URL.Query()
			switch {
			case q.Get("state") != state:
				http.Error(w, "state does not match; start `agolpipe login` again", http.StatusBadRequest)
				select {
				case errs <- errors.New("the sign-in answer did not carry our state (a stale or forged redirect)"):
				default:
				}
			case q.Get("error") != "":
				http.Error(w, "sign-in failed: "+q.Get("error_description"), http.StatusBadRequest)
				select {
				case errs <- fmt.Errorf("sign-in failed: %s %s", q.Get("error"), q.Get("error_description")):
				default:
				}
			default:
				fmt.Fprintln(w, "agolpipe is signed in. You can close this window.")
				select {
				case codes <- q.Get("code"):
				default:
				}
			}
		})}
		go srv.Serve(ln)
		defer srv.Close()
	}
	q := url.Values{
		"client_id": {cfg.OAuth.ClientID}, "response_type": {"code"}, "redirect_uri": {redirect},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"}, "state": {state},
		"expiration": {"20160"},
	}
	authorize := c.root + "/oauth2/authorize?" + q.Encode()

	var code string
	switch {
	case codes != nil:
		fmt.Fprintf(opt.Out, "Open this address in a browser and sign in; agolpipe waits for the portal to send you back:\n\n  %s\n\n", authorize)
		if opt.Visit != nil {
			go func() {
				if err := opt.Visit(ctx, authorize); err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}()
		}
		select {
		case code = <-codes:
		case err := <-errs:
			return LoginResult{}, err
		case <-ctx.Done():
			return LoginResult{}, ctx.Err()
		}
	case opt.Code != nil:
		if code, err = opt.Code(ctx, authorize); err != nil {
			return LoginResult{}, err
		}
	default:
		fmt.Fprintf(opt.Out, "Open this address in a browser, sign in, and paste the code the portal shows:\n\n  %s\n\nCode: ", authorize)
		if opt.In == nil {
			return LoginResult{}, errors.New("no input to read the code from")
		}
		line, err := bufio.NewReader(opt.In).ReadString('\n')
		if err != nil && line == "" {
			return LoginResult{}, fmt.Errorf("reading the code: %w", err)
		}
		code = strings.TrimSpace(line)
	}
	if code == "" {
		return LoginResult{}, errors.New("no authorization code was given")
	}
	now := time.Now()
	var r oauthToken
	form := url.Values{"client_id": {cfg.OAuth.ClientID}, "grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}, "code_verifier": {verifier}}
	if err := c.postForm(ctx, "oauth2/token", form, &r); err != nil {
		return LoginResult{}, fmt.Errorf("exchanging the code: %w", err)
	}
	if r.RefreshToken == "" {
		return LoginResult{}, errors.New("the portal returned no refresh token; check that the OAuth application allows the authorization-code grant")
	}
	f := &tokenFile{Portal: cfg.URL, ClientID: cfg.OAuth.ClientID, Username: r.Username, RedirectURI: redirect, RefreshToken: r.RefreshToken, RefreshIssued: now}
	if r.RefreshTokenExpiresIn > 0 {
		f.RefreshExpires = now.Add(time.Duration(r.RefreshTokenExpiresIn) * time.Second)
	}
	if err := writeTokenFile(cfg.OAuth.TokenFile, f); err != nil {
		return LoginResult{}, fmt.Errorf("saving the sign-in to %s: %w", cfg.OAuth.TokenFile, err)
	}
	return LoginResult{Username: r.Username, TokenFile: cfg.OAuth.TokenFile, RefreshExpires: f.RefreshExpires}, nil
}

func randomString(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
