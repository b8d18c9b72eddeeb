package sim

import (
	"encoding/json"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/agolpipe/agolpipe/sim/org"
)

// call is one request being served.
type call struct {
	s        *Server
	w        http.ResponseWriter
	r        *http.Request
	rw       *recorder
	form     url.Values
	parsed   bool
	endpoint string
	write    bool
	// user is the signed-in user (nil: anonymous); sess its session.
	user *org.User
	sess *session
}

// param returns a form or query parameter (POST body first, like ArcGIS).
func (c *call) param(name string) string {
	c.parse()
	return c.form.Get(name)
}

func (c *call) parse() {
	if c.parsed {
		return
	}
	c.parsed = true
	ct, _, _ := mime.ParseMediaType(c.r.Header.Get("Content-Type"))
	if ct == "multipart/form-data" {
		_ = c.r.ParseMultipartForm(32 << 20)
	} else {
		_ = c.r.ParseForm()
	}
	c.form = c.r.Form
	if c.form == nil {
		c.form = url.Values{}
	}
}

func (c *call) intParam(name string, def int) int {
	v := c.param(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return def
	}
	return n
}

func (c *call) boolParam(name string) bool {
	v := strings.ToLower(c.param(name))
	return v == "true" || v == "1" || v == "yes"
}

// wantsJSON reports whether f asks for JSON; the ArcGIS default is HTML.
func (c *call) wantsJSON() bool {
	f := c.param("f")
	return f == "json" || f == "pjson" || f == "geojson"
}

// html answers a request without f=json the way ArcGIS does: with an HTML
// page, which a client expecting JSON cannot parse.
func (c *call) html() {
	c.w.Header().Set("Content-Type", "text/html; charset=utf-8")
	c.w.Write([]byte("<html><head><title>ArcGIS REST</title></head><body><p>Add f=json to get JSON.</p></body></html>")) //nolint:errcheck
}

// json writes body as a JSON response.
func (c *call) json(body []byte) {
	h := c.w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	c.w.Write(body) //nolint:errcheck // the client went away
}

// value marshals v with encoding/json (cold paths).
func (c *call) value(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		c.fail(500, "Unable to encode response.", "", nil)
		return
	}
	c.json(b)
}

// enc writes a response built with an enc and releases it.
func (c *call) enc(e *enc) {
	c.json(e.b)
	putEnc(e)
}

// fail writes an ArcGIS error body with HTTP 200, as the sharing API does.
func (c *call) fail(code int, message, messageCode string, details []string) {
	c.failStatus(http.StatusOK, code, message, messageCode, details)
}

// failStatus writes an ArcGIS error body with an explicit HTTP status.
func (c *call) failStatus(status, code int, message, messageCode string, details []string) {
	c.rw.errCode = code
	e := getEnc()
	e.open()
	e.k("error")
	e.open()
	e.ki("code", int64(code))
	if messageCode != "" {
		e.ks("messageCode", messageCode)
	}
	e.ks("message", message)
	e.k("details")
	if details == nil {
		details = []string{}
	}
	e.strs(details)
	e.close()
	e.close()
	h := c.w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(e.b)))
	if status != http.StatusOK {
		c.w.WriteHeader(status)
	}
	c.w.Write(e.b) //nolint:errcheck // the client went away
	putEnc(e)
}

// Canned errors, shaped like the fixtures in arcgis-fixtures/errors.
func (c *call) invalidToken() { c.fail(498, "Invalid token.", "", nil) }
func (c *call) tokenRequired() {
	c.fail(499, "Token Required", "GWM_0003", []string{"Token Required"})
}
func (c *call) forbidden() {
	c.fail(403, "You do not have permissions to access this resource or perform this operation.", "", nil)
}
func (c *call) itemNotFound() {
	c.fail(400, "Item does not exist or is inaccessible.", "CONT_0001", nil)
}
func (c *call) invalidParams() { c.fail(400, "Invalid or missing input parameters.", "", nil) }

// needUser answers 499 for anonymous calls; it returns whether a user is
// signed in.
func (c *call) needUser() bool {
	if c.user == nil {
		c.tokenRequired()
		return false
	}
	return true
}

// canView reports whether the caller may see it. The caller holds the org
// lock.
func (c *call) canView(it *org.Item) bool {
	if c.sess != nil && c.sess.apiKey {
		// API keys reach public and org-wide content only.
		return !it.Deleted && (it.Access == org.AccessPublic || it.Access == org.AccessOrg)
	}
	if c.user == nil {
		return org.CanView(nil, it, nil)
	}
	return org.CanView(c.user, it, c.s.memberOf(c.user.Username))
}

// canEdit reports whether the caller may change it.
func (c *call) canEdit(it *org.Item) bool {
	if c.sess != nil && c.sess.apiKey {
		return false
	}
	return org.CanEdit(c.user, it)
}

// isAdmin reports whether the caller has admin rights over content.
func (c *call) isAdmin() bool {
	return c.user != nil && (c.sess == nil || !c.sess.apiKey) && c.user.IsAdmin()
}
