package sim

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"html"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/agolpipe/agolpipe/sim/org"
)

type session struct {
	user     *org.User
	expires  time.Time
	apiKey   bool
	clientID string
}

type authCode struct {
	user      *org.User
	clientID  string
	redirect  string
	challenge string
	method    string
	refresh   time.Duration
	expires   time.Time
}

type refreshToken struct {
	user     *org.User
	clientID string
	expires  time.Time
}

// oauthAccessTTL is the lifetime of OAuth access tokens on ArcGIS (30 min).
const oauthAccessTTL = 30 * time.Minute

// RefreshTokenTTLCap caps refresh tokens; tests lower it to see expiry.
var defaultRefreshTTL = 14 * 24 * time.Hour

// bearer extracts the token of a request: the token parameter, then the
// X-Esri-Authorization and Authorization bearer headers.
func (c *call) bearer() string {
	if t := c.param("token"); t != "" {
		return t
	}
	for _, h := range []string{"X-Esri-Authorization", "Authorization"} {
		if v := c.r.Header.Get(h); v != "" {
			if t, ok := strings.CutPrefix(v, "Bearer "); ok {
				return strings.TrimSpace(t)
			}
		}
	}
	return ""
}

// authenticate resolves the caller. It answers 498 and returns false for
// an unknown or expired token; no token means anonymous.
func (c *call) authenticate() bool {
	tok := c.bearer()
	if tok == "" {
		return true
	}
	s := c.s
	s.mu.Lock()
	sess := s.sessions[tok]
	if sess == nil {
		sess = s.apiKeys[tok]
	}
	expired := sess != nil && !sess.expires.IsZero() && time.Now().After(sess.expires)
	s.mu.Unlock()
	if sess == nil || expired {
		c.invalidToken()
		return false
	}
	c.sess = sess
	c.user = sess.user
	return true
}

func (s *Server) newSession(u *org.User, ttl time.Duration, clientID string) (string, time.Time) {
	tok := randomToken(32)
	exp := time.Now().Add(ttl)
	s.mu.Lock()
	s.sessions[tok] = &session{user: u, expires: exp, clientID: clientID}
	s.mu.Unlock()
	return tok, exp
}

// ExpireTokens makes every issued access token expire now, so tests can
// watch clients renew them.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	past := time.Now().Add(-time.Second)
	for _, sess := range s.sessions {
		sess.expires = past
	}
	s.mu.Unlock()
}

// ExpireRefreshTokens makes every refresh token expire now.
func (s *Server) ExpireRefreshTokens() {
	s.mu.Lock()
	past := time.Now().Add(-time.Second)
	for _, rt := range s.refresh {
		rt.expires = past
	}
	s.mu.Unlock()
}

// APIKeys returns the API keys the simulator accepts (one per "API Key"
// item; each reaches public and org-wide content only, read-only).
func (s *Server) APIKeys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for k := range s.apiKeys {
		out = append(out, k)
	}
	return out
}

func (s *Server) mintAPIKeys() {
	for _, it := range s.org.Items {
		if it.Type != "API Key" {
			continue
		}
		key := "AAPK" + fmt.Sprintf("%016x", org.Mix(it.Seed)) + randomToken(24)
		s.apiKeys[key] = &session{user: s.org.User(it.Owner), apiKey: true}
	}
}

func (s *Server) ttl(requestedMinutes int, def time.Duration) time.Duration {
	d := def
	if requestedMinutes > 0 {
		d = time.Duration(requestedMinutes) * time.Minute
	}
	if d > s.opt.TokenTTL {
		d = s.opt.TokenTTL
	}
	return d
}

// generateToken: POST /sharing/rest/generateToken.
func (s *Server) generateToken(c *call) {
	if c.r.Method != http.MethodPost {
		c.fail(400, "Unable to generate token.", "", []string{"generateToken requires POST; never put a password in a URL."})
		return
	}
	exp := c.intParam("expiration", 60)
	if tok := c.param("token"); tok != "" && c.param("serverUrl") != "" {
		// A server token for a federated server, from a portal token.
		if !c.authenticate() {
			return
		}
		if c.user == nil {
			c.invalidToken()
			return
		}
		s.mu.Lock()
		left := time.Until(c.sess.expires)
		s.mu.Unlock()
		t, e := s.newSession(c.user, left, "")
		c.value(map[string]any{"token": t, "expires": e.UnixMilli(), "ssl": s.opt.TLS})
		return
	}
	name, pw := c.param("username"), c.param("password")
	s.org.Mu.RLock()
	u := s.org.User(name)
	s.org.Mu.RUnlock()
	if u == nil || u.Password != pw || pw == "" || u.Disabled {
		c.fail(400, "Unable to generate token.", "", []string{"Invalid username or password."})
		return
	}
	c.user = u
	t, e := s.newSession(u, s.ttl(exp, time.Hour), "")
	c.value(map[string]any{"token": t, "expires": e.UnixMilli(), "ssl": s.opt.TLS, "username": u.Username})
}

// sharingInfo: GET /sharing/rest/info.
func (s *Server) sharingInfo(c *call) {
	c.value(map[string]any{
		"owningSystemUrl": s.portal,
		"authInfo": map[string]any{
			"tokenServicesUrl":     s.portal + "/sharing/rest/generateToken",
			"isTokenBasedSecurity": true,
		},
	})
}

// serverInfo: GET <server>/rest/info.
func (s *Server) serverInfo(c *call) {
	c.value(map[string]any{
		"currentVersion": 11.3, "fullVersion": "11.3.0", "owningSystemUrl": s.portal,
		"authInfo": map[string]any{"isTokenBasedSecurity": true, "tokenServicesUrl": s.portal + "/sharing/rest/generateToken", "shortLivedTokenValidity": 60},
	})
}

// builtinClients are the client ids every ArcGIS portal knows without a
// registered application: ArcGIS Online's own web sign-in (used by the
// ArcGIS API for Python for built-in users with the implicit grant) and
// ArcGIS Pro's (the API for Python's authorization-code sign-in).
var builtinClients = map[string]bool{"arcgisonline": true, "arcgispro": true}

// app returns the OAuth application of clientID: a registered one, or a
// built-in client (no secret, redirects only to the portal itself or oob).
func (s *Server) app(clientID string) *org.App {
	s.org.Mu.RLock()
	defer s.org.Mu.RUnlock()
	for _, a := range s.org.Apps {
		if a.ClientID == clientID {
			return a
		}
	}
	if builtinClients[clientID] {
		return &org.App{ClientID: clientID}
	}
	return nil
}

// redirectAllowed checks redirect_uri against the app's registrations:
// exact match, the oob URN, or a loopback address on any port and path
// (RFC 8252 section 7.3). Built-in clients redirect to the portal's own
// host (either scheme: the API for Python names https even for a plain
// http portal, and only reads the token from the redirect's fragment).
func (s *Server) redirectAllowed(a *org.App, uri string) bool {
	if builtinClients[a.ClientID] {
		if uri == oob {
			return true
		}
		u, err := url.Parse(uri)
		return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host == strings.TrimPrefix(strings.TrimPrefix(s.origin, "https://"), "http://")
	}
	for _, r := range a.RedirectURIs {
		if r == uri {
			return true
		}
	}
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "http" {
		return false
	}
	host := u.Hostname()
	for _, r := range a.RedirectURIs {
		ru, err := url.Parse(r)
		if err == nil && ru.Scheme == "http" && ru.Hostname() == host && (host == "127.0.0.1" || host == "localhost" || host == "::1") {
			return true
		}
	}
	return false
}

const oob = "urn:ietf:wg:oauth:2.0:oob"

// pendingAuth is an authorize request waiting for the user to sign in; its
// key is the oauth_state the sign-in page carries.
type pendingAuth struct {
	clientID, redirect, responseType, state string
	challenge, method                       string
	expiration                              int // minutes, as asked
	expires                                 time.Time
}

// authorize: GET shows the sign-in page, whose form posts the oauth_state
// to /sharing/oauth2/signin as ArcGIS's does (the page also carries it in
// "var oAuthInfo = {...}" for scripted clients). A POST with username and
// password signs in directly (a simulator shortcut for tests).
// response_type is code or token (the implicit grant: the access token
// comes back in the redirect's fragment).
func (s *Server) authorize(c *call) {
	clientID, redirect := c.param("client_id"), c.param("redirect_uri")
	a := s.app(clientID)
	if a == nil {
		c.w.WriteHeader(http.StatusBadRequest)
		c.oauthPage("Invalid client_id", "<p>Invalid client_id.</p>")
		return
	}
	if !s.redirectAllowed(a, redirect) {
		c.w.WriteHeader(http.StatusBadRequest)
		c.oauthPage("Invalid redirect_uri", "<p>Invalid redirect_uri.</p>")
		return
	}
	rt := c.param("response_type")
	if rt != "code" && rt != "token" {
		c.w.WriteHeader(http.StatusBadRequest)
		c.oauthPage("Unsupported response_type", "<p>response_type must be code or token.</p>")
		return
	}
	if rt == "token" && redirect == oob {
		// The implicit grant hands the token over in a redirect.
		c.w.WriteHeader(http.StatusBadRequest)
		c.oauthPage("Invalid redirect_uri", "<p>response_type=token needs a redirect_uri to send the token to.</p>")
		return
	}
	p := &pendingAuth{clientID: clientID, redirect: redirect, responseType: rt, state: c.param("state"),
		challenge: c.param("code_challenge"), method: c.param("code_challenge_method"),
		expiration: c.intParam("expiration", 0), expires: time.Now().Add(10 * time.Minute)}
	var msgs []string
	if c.r.Method == http.MethodPost && c.param("username") != "" {
		if u := s.checkPassword(c.param("username"), c.param("password")); u != nil {
			s.grant(c, p, u)
			return
		}
		msgs = []string{"Invalid username or password."}
	}
	st := randomToken(24)
	s.mu.Lock()
	now := time.Now()
	for k, old := range s.states {
		if now.After(old.expires) {
			delete(s.states, k)
		}
	}
	s.states[st] = p
	s.mu.Unlock()
	s.signInPage(c, st, msgs)
}

// checkPassword returns the enabled user with this username and password.
func (s *Server) checkPassword(username, password string) *org.User {
	s.org.Mu.RLock()
	defer s.org.Mu.RUnlock()
	u := s.org.User(username)
	if u == nil || password == "" || u.Password != password || u.Disabled {
		return nil
	}
	return u
}

// signInPage writes the OAuth sign-in page for oauth_state st.
func (s *Server) signInPage(c *call, st string, messages []string) {
	if messages == nil {
		messages = []string{}
	}
	info, _ := json.Marshal(map[string]any{"oauth_state": st, "locale": "en-US", "style": "light", "persist": false,
		"messages": messages, "appTitle": "ArcGIS (simulated)"})
	msg := ""
	for _, m := range messages {
		msg += `<p class="error">` + html.EscapeString(m) + `</p>`
	}
	c.oauthPage("Sign in", msg+`<script>var oAuthInfo = `+string(info)+`;</script>`+
		`<form method="post" action="`+html.EscapeString(s.portal+"/sharing/oauth2/signin")+`">`+
		`<label>Username <input name="username"></label><label>Password <input type="password" name="password"></label>`+
		`<input type="hidden" name="oauth_state" value="`+st+`"><button type="submit">Sign In</button></form>`)
}

// signIn: POST /sharing/oauth2/signin with oauth_state, username and
// password, as the sign-in page posts it. Wrong credentials show the page
// again with the message in oAuthInfo.messages; success ends the
// authorization like ArcGIS: a redirect carrying the code (query) or the
// token (fragment), or for the oob redirect a page titled
// "SUCCESS code=<code>".
func (s *Server) signIn(c *call) {
	if c.r.Method != http.MethodPost {
		c.w.WriteHeader(http.StatusMethodNotAllowed)
		c.oauthPage("Sign in", "<p>Sign in with POST.</p>")
		return
	}
	st := c.param("oauth_state")
	s.mu.Lock()
	p := s.states[st]
	if p != nil && time.Now().After(p.expires) {
		delete(s.states, st)
		p = nil
	}
	s.mu.Unlock()
	if p == nil {
		c.w.WriteHeader(http.StatusBadRequest)
		c.oauthPage("Invalid oauth_state", "<p>The sign-in page expired or is unknown; start again from oauth2/authorize.</p>")
		return
	}
	u := s.checkPassword(c.param("username"), c.param("password"))
	if u == nil {
		s.signInPage(c, st, []string{"Invalid username or password."})
		return
	}
	s.mu.Lock()
	delete(s.states, st) // single use
	s.mu.Unlock()
	s.grant(c, p, u)
}

// grant ends an authorization for user u.
func (s *Server) grant(c *call, p *pendingAuth, u *org.User) {
	c.user = u
	sep := "?"
	if strings.Contains(p.redirect, "?") {
		sep = "&"
	}
	if p.responseType == "token" {
		// Implicit grant: the access token in the fragment, lifetime from
		// expiration (minutes; default two hours).
		tok, exp := s.newSession(u, s.ttl(p.expiration, 2*time.Hour), p.clientID)
		f := url.Values{"access_token": {tok}, "expires_in": {strconv.Itoa(int(time.Until(exp).Seconds()))},
			"username": {u.Username}, "ssl": {strconv.FormatBool(s.opt.TLS)}, "persist": {"false"}}
		if p.state != "" {
			f.Set("state", p.state)
		}
		http.Redirect(c.w, c.r, p.redirect+"#"+f.Encode(), http.StatusFound)
		return
	}
	refresh := defaultRefreshTTL
	if p.expiration > 0 {
		refresh = time.Duration(p.expiration) * time.Minute
	}
	if refresh > 90*24*time.Hour {
		refresh = 90 * 24 * time.Hour
	}
	code := randomToken(24)
	s.mu.Lock()
	s.codes[code] = &authCode{user: u, clientID: p.clientID, redirect: p.redirect, challenge: p.challenge,
		method: p.method, refresh: refresh, expires: time.Now().Add(10 * time.Minute)}
	s.mu.Unlock()
	if p.redirect == oob {
		c.oauthPage("SUCCESS code="+code, `<p>Copy this code and paste it into the application:</p><input id="code" readonly value="`+code+`"><pre class="code">`+code+`</pre>`)
		return
	}
	q := url.Values{"code": {code}}
	if p.state != "" {
		q.Set("state", p.state)
	}
	http.Redirect(c.w, c.r, p.redirect+sep+q.Encode(), http.StatusFound)
}

func (c *call) oauthPage(title, body string) {
	c.w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(c.w, "<!DOCTYPE html><html><head><title>%s</title></head><body><h1>ArcGIS (simulated) – %s</h1>%s</body></html>", html.EscapeString(title), html.EscapeString(title), body)
}

func (c *call) oauthError(code int, kind, desc string) {
	c.rw.errCode = code
	c.value(map[string]any{"error": map[string]any{"code": code, "error": kind, "error_description": desc, "message": desc, "details": []string{}}})
}

// token: POST /sharing/rest/oauth2/token.
func (s *Server) token(c *call) {
	clientID := c.param("client_id")
	a := s.app(clientID)
	if a == nil {
		c.oauthError(400, "invalid_client", "Invalid client_id")
		return
	}
	accessTTL := oauthAccessTTL
	if accessTTL > s.opt.TokenTTL {
		accessTTL = s.opt.TokenTTL
	}
	switch gt := c.param("grant_type"); gt {
	case "authorization_code":
		code := c.param("code")
		s.mu.Lock()
		ac := s.codes[code]
		delete(s.codes, code) // single use
		s.mu.Unlock()
		if ac == nil || time.Now().After(ac.expires) || ac.clientID != clientID {
			c.oauthError(400, "invalid_request", "Invalid authorization code")
			return
		}
		if ac.redirect != c.param("redirect_uri") {
			c.oauthError(400, "invalid_request", "Invalid redirect_uri")
			return
		}
		if ac.challenge != "" {
			v := c.param("code_verifier")
			ok := false
			switch ac.method {
			case "S256", "":
				sum := sha256.Sum256([]byte(v))
				ok = base64.RawURLEncoding.EncodeToString(sum[:]) == ac.challenge
			case "plain":
				ok = v == ac.challenge
			}
			if !ok {
				c.oauthError(400, "invalid_request", "Invalid code_verifier")
				return
			}
		}
		c.user = ac.user
		tok, _ := s.newSession(ac.user, accessTTL, clientID)
		rt := s.newRefresh(ac.user, clientID, ac.refresh)
		c.value(map[string]any{"access_token": tok, "expires_in": int(accessTTL.Seconds()), "username": ac.user.Username,
			"ssl": s.opt.TLS, "refresh_token": rt, "refresh_token_expires_in": int(ac.refresh.Seconds())})
	case "refresh_token", "exchange_refresh_token":
		rtok := c.param("refresh_token")
		s.mu.Lock()
		rt := s.refresh[rtok]
		s.mu.Unlock()
		if rt == nil || rt.clientID != clientID {
			c.oauthError(400, "invalid_request", "Invalid refresh_token")
			return
		}
		if time.Now().After(rt.expires) {
			c.oauthError(498, "invalid_request", "refresh_token expired")
			return
		}
		c.user = rt.user
		tok, _ := s.newSession(rt.user, accessTTL, clientID)
		resp := map[string]any{"access_token": tok, "expires_in": int(accessTTL.Seconds()), "username": rt.user.Username, "ssl": s.opt.TLS}
		if gt == "exchange_refresh_token" {
			life := defaultRefreshTTL
			if m := c.intParam("expiration", 0); m > 0 {
				life = time.Duration(m) * time.Minute
			}
			s.mu.Lock()
			delete(s.refresh, rtok)
			s.mu.Unlock()
			resp["refresh_token"] = s.newRefresh(rt.user, clientID, life)
			resp["refresh_token_expires_in"] = int(life.Seconds())
		}
		c.value(resp)
	case "client_credentials":
		if a.ClientSecret == "" || c.param("client_secret") != a.ClientSecret {
			c.oauthError(400, "invalid_client", "Invalid client_secret")
			return
		}
		tok := randomToken(32)
		exp := time.Now().Add(s.ttl(c.intParam("expiration", 120), 2*time.Hour))
		s.mu.Lock()
		s.sessions[tok] = &session{expires: exp, apiKey: true, clientID: clientID}
		s.mu.Unlock()
		c.value(map[string]any{"access_token": tok, "expires_in": int(time.Until(exp).Seconds())})
	default:
		c.oauthError(400, "unsupported_grant_type", "Unsupported grant_type")
	}
}

func (s *Server) newRefresh(u *org.User, clientID string, life time.Duration) string {
	rt := randomToken(32)
	s.mu.Lock()
	s.refresh[rt] = &refreshToken{user: u, clientID: clientID, expires: time.Now().Add(life)}
	s.mu.Unlock()
	return rt
}

// revokeToken: POST /sharing/rest/oauth2/revokeToken.
func (s *Server) revokeToken(c *call) {
	t := c.param("auth_token")
	s.mu.Lock()
	delete(s.sessions, t)
	delete(s.refresh, t)
	s.mu.Unlock()
	c.value(map[string]any{"success": true})
}

// memberCache remembers each user's groups until the org changes.
type memberCache struct {
	mu      sync.Mutex
	version uint64
	m       map[string]map[string]bool
}

// memberOf returns the set of group ids username belongs to. The caller
// holds the org lock for reading.
func (s *Server) memberOf(username string) map[string]bool {
	mc := &s.memo
	mc.mu.Lock()
	defer mc.mu.Unlock()
	if mc.m == nil || mc.version != s.org.Version {
		mc.m = map[string]map[string]bool{}
		mc.version = s.org.Version
	}
	if g, ok := mc.m[username]; ok {
		return g
	}
	g := s.org.MemberSet(username)
	mc.m[username] = g
	return g
}

// selfSigned makes a certificate for 127.0.0.1 and localhost and writes its
// PEM to a temporary file clients can trust.
func selfSigned() (tls.Certificate, string, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, "", err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "agolpipe sim", Organization: []string{"agolpipe simulator"}},
		NotBefore:    time.Now().Add(-time.Hour), NotAfter: time.Now().Add(30 * 24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")}, DNSNames: []string{"localhost"},
		IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, "", err
	}
	f, err := os.CreateTemp("", "agolpipe-sim-ca-*.pem")
	if err != nil {
		return tls.Certificate{}, "", err
	}
	if err := pem.Encode(f, &pem.Block{Type: "CERTIFICATE", Bytes: der}); err != nil {
		f.Close()
		return tls.Certificate{}, "", err
	}
	if err := f.Close(); err != nil {
		return tls.Certificate{}, "", err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, f.Name(), nil
}
