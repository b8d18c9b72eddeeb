package arcgis

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/arcgisrest"
)

// authenticator hands out the token for requests. token renews it when it
// nears expiry, or when stale is the current token (the portal answered
// 498/499 to it): many requests failing with the same expired token renew
// it once, not once each. Safe for concurrent use.
type authenticator interface {
	token(ctx context.Context, c *client, stale string) (string, error)
	// renewable reports whether renewing can produce a different token.
	renewable() bool
	// user is the signed-in username when the sign-in tells it.
	user() string
}

// renewAt is when a token issued at issued and expiring at exp should be
// replaced: at three quarters of its life, and at least five minutes early
// for long-lived tokens, so a token never expires between check and use.
func renewAt(issued, exp time.Time) time.Time {
	life := exp.Sub(issued)
	early := life / 4
	if early > 5*time.Minute {
		early = 5 * time.Minute
	}
	return exp.Add(-early)
}

// postForm posts an unauthenticated form to the sharing root (sign-in
// endpoints) and decodes the JSON answer, once: the sign-in is part of the
// request that needs the token, whose retry loop repeats it (retrying here
// too multiplied the attempts: 6 sign-ins for each of 6 tries).
func (c *client) postForm(ctx context.Context, path string, form url.Values, v any) error {
	form.Set("f", "json")
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.root+"/"+path, strings.NewReader(form.Encode()))
	if err != nil {
		return sdk.Permanent("%s: %v", path, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Referer", referer)
	req.Header.Set("User-Agent", "agolpipe")
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return &sdk.Error{Kind: sdk.KindCanceled, Err: ctx.Err()}
		}
		return arcgisrest.ClassifyTransport(err)
	}
	return arcgisrest.DecodeJSON(&sdk.PortalResponse{StatusCode: resp.StatusCode, Header: resp.Header, Body: resp.Body}, v)
}

// passwordAuth signs in with generateToken (client=referer).
type passwordAuth struct {
	username, password string
	ttl                time.Duration
	now                func() time.Time

	mu      sync.Mutex
	tok     string
	renewBy time.Time
}

func (a *passwordAuth) renewable() bool { return true }
func (a *passwordAuth) user() string    { return a.username }

func (a *passwordAuth) token(ctx context.Context, c *client, stale string) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	if a.tok != "" && a.tok != stale && now.Before(a.renewBy) {
		return a.tok, nil
	}
	var r struct {
		Token   string `json:"token"`
		Expires int64  `json:"expires"`
	}
	form := url.Values{
		"username": {a.username}, "password": {a.password},
		"client": {"referer"}, "referer": {referer},
		"expiration": {strconv.Itoa(int(a.ttl / time.Minute))},
	}
	if err := c.postForm(ctx, "generateToken", form, &r); err != nil {
		if sdk.KindOf(err) == sdk.KindPermanent || sdk.KindOf(err) == sdk.KindAuth {
			// 400 "Unable to generate token." is wrong credentials: auth, so
			// nothing retries it and the user is told what to fix.
			return "", sdk.Auth("sign-in as %q at %s failed: %v; check auth.username (case-sensitive) and auth.password", a.username, c.portal, err)
		}
		return "", err
	}
	if r.Token == "" {
		return "", sdk.Auth("sign-in as %q at %s returned no token", a.username, c.portal)
	}
	exp := time.UnixMilli(r.Expires)
	if r.Expires <= 0 {
		exp = now.Add(a.ttl)
	}
	a.tok, a.renewBy = r.Token, renewAt(now, exp)
	return a.tok, nil
}

// apiKeyAuth sends an API key as the token; it cannot be renewed.
type apiKeyAuth struct{ key string }

func (a apiKeyAuth) renewable() bool { return false }
func (a apiKeyAuth) user() string    { return "" }
func (a apiKeyAuth) token(context.Context, *client, string) (string, error) {
	return a.key, nil
}

// oauthAuth refreshes access tokens from the refresh token stored by
// `agolpipe login`, rolling the refresh token before it lapses.
type oauthAuth struct {
	cfg oauthConfig
	now func() time.Time
	// hint is what the user runs to sign in again.
	hint string

	mu      sync.Mutex
	file    *tokenFile
	tok     string
	renewBy time.Time
}

func (a *oauthAuth) renewable() bool { return true }
func (a *oauthAuth) user() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.file != nil {
		return a.file.Username
	}
	return ""
}

// oauthToken is the answer of /oauth2/token.
type oauthToken struct {
	AccessToken           string `json:"access_token"`
	ExpiresIn             int64  `json:"expires_in"`
	RefreshToken          string `json:"refresh_token"`
	RefreshTokenExpiresIn int64  `json:"refresh_token_expires_in"`
	Username              string `json:"username"`
}

func (a *oauthAuth) token(ctx context.Context, c *client, stale string) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	if a.tok != "" && a.tok != stale && now.Before(a.renewBy) {
		return a.tok, nil
	}
	if a.file == nil {
		f, err := readTokenFile(a.cfg.TokenFile)
		if err != nil {
			return "", sdk.Auth("no stored sign-in: %v; run `%s` to sign in", err, a.hint)
		}
		if f.ClientID != "" && f.ClientID != a.cfg.ClientID {
			return "", sdk.Auth("the sign-in stored in %s is for client_id %q, not %q; run `%s` again", a.cfg.TokenFile, f.ClientID, a.cfg.ClientID, a.hint)
		}
		a.file = f
	}
	f := a.file
	if !f.RefreshExpires.IsZero() && !now.Before(f.RefreshExpires) {
		return "", sdk.Auth("the sign-in stored in %s lapsed on %s (refresh tokens last about two weeks without a run); run `%s` again", a.cfg.TokenFile, f.RefreshExpires.Format(time.RFC3339), a.hint)
	}
	grant := "refresh_token"
	if f.nearExpiry(now) {
		grant = "exchange_refresh_token"
	}
	form := url.Values{"client_id": {a.cfg.ClientID}, "grant_type": {grant}, "refresh_token": {f.RefreshToken}, "redirect_uri": {f.redirectURI()}}
	var r oauthToken
	if err := c.postForm(ctx, "oauth2/token", form, &r); err != nil {
		if k := sdk.KindOf(err); k == sdk.KindAuth || k == sdk.KindPermanent {
			return "", sdk.Auth("the sign-in stored in %s no longer works (%v); run `%s` again", a.cfg.TokenFile, err, a.hint)
		}
		return "", err
	}
	if r.AccessToken == "" {
		return "", sdk.Auth("the portal gave no access token for the sign-in in %s; run `%s` again", a.cfg.TokenFile, a.hint)
	}
	if r.RefreshToken != "" {
		// Rolled: write the new refresh token at once, since the old one
		// may stop working now.
		nf := *f
		nf.RefreshToken = r.RefreshToken
		nf.RefreshIssued = now
		nf.RefreshExpires = time.Time{}
		if r.RefreshTokenExpiresIn > 0 {
			nf.RefreshExpires = now.Add(time.Duration(r.RefreshTokenExpiresIn) * time.Second)
		}
		if r.Username != "" {
			nf.Username = r.Username
		}
		if err := writeTokenFile(a.cfg.TokenFile, &nf); err != nil {
			return "", sdk.Permanent("could not save the renewed sign-in to %s: %v", a.cfg.TokenFile, err)
		}
		a.file = &nf
	}
	if r.Username != "" && a.file.Username == "" {
		a.file.Username = r.Username
	}
	exp := now.Add(time.Duration(r.ExpiresIn) * time.Second)
	if r.ExpiresIn <= 0 {
		exp = now.Add(30 * time.Minute)
	}
	a.tok, a.renewBy = r.AccessToken, renewAt(now, exp)
	return a.tok, nil
}

// drain empties and closes a body so the connection is reused.
func drain(rc io.ReadCloser) {
	io.Copy(io.Discard, io.LimitReader(rc, 1<<20))
	rc.Close()
}
