// Package arcgis is the `arcgis` source: it signs in to an ArcGIS Online
// organization or a Portal for ArcGIS, lists the items a run covers (quick
// search or deep walk of every user's content, with the user's filters), and
// performs the authenticated portal requests of exporters through Do, so
// exporters never hold credentials.
package arcgis

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/arcgisrest"
	"github.com/agolpipe/agolpipe/sdk/version"
)

// Source is the arcgis source. Methods are safe for concurrent use after
// Connect; Configure and Connect are called once, in that order.
type Source struct {
	// LoginHint, when set, is the command a user runs to sign in again.
	// Left empty, Configure builds it from the pipeline file and block name
	// the host passes in sdk.ConfigureRequest ("agolpipe login prod.hcl prod").
	LoginHint string

	cfg  config
	c    *client
	now  func() time.Time
	org  OrgInfoDetail
	info sdk.OrgInfo

	mu       sync.Mutex
	sharing  map[string]itemSharing // item id -> sharing, filled by ListItems
	listed   int64                  // distinct items the last ListItems found
	warnings []string               // listing problems worth a line in Results.txt

	// dryRun (agolpipe plan): change nothing in the portal.
	dryRun bool
	// deleteBound bounds the deletes of the sweep of leftover temporary
	// items, retries included (zero: sweepDeleteBound); tests shorten it.
	deleteBound time.Duration
}

// warn records a listing problem for ListWarnings.
func (s *Source) warn(msg string) {
	s.mu.Lock()
	s.warnings = append(s.warnings, msg)
	s.mu.Unlock()
}

// ListWarnings returns the problems the last ListItems met that did not fail
// it, completeness check included, for Results.txt. (Not yet on the plugin
// protocol; see the package README.)
func (s *Source) ListWarnings() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.warnings...)
}

// OrgInfoDetail is what Connect learned beyond sdk.OrgInfo.
type OrgInfoDetail struct {
	URLKey     string
	Version    string
	Role       string
	RoleID     string
	Privileges []string
}

// New returns an unconfigured source.
func New() sdk.Source { return &Source{now: time.Now} }

// Info describes the component.
func (s *Source) Info() sdk.Info {
	return sdk.Info{Kind: sdk.KindSource, Name: "arcgis", Version: version.Version,
		Description: "Items of an ArcGIS Online organization or a Portal for ArcGIS"}
}

// Schema is the HCL schema of the source block.
func (s *Source) Schema() sdk.Schema { return schema }

// Configure decodes and checks the block without any network call.
func (s *Source) Configure(ctx context.Context, req sdk.ConfigureRequest) sdk.Diagnostics {
	cfg, d := decodeConfig(req.Config)
	if d.HasErrors() {
		return d
	}
	hc, err := newHTTPClient(cfg)
	if err != nil {
		return d.Errorf([]string{"ca_file"}, "Cannot set up HTTPS", "%v", err)
	}
	s.cfg = cfg
	s.c = newClient(cfg, hc)
	s.dryRun = req.DryRun
	if s.now == nil {
		s.now = time.Now
	}
	hint := loginHint(s.LoginHint, req)
	switch {
	case cfg.APIKey != "":
		s.c.auth = apiKeyAuth{key: cfg.APIKey}
	case cfg.OAuth != nil:
		s.c.auth = &oauthAuth{cfg: *cfg.OAuth, now: s.now, hint: hint}
	default:
		s.c.auth = &passwordAuth{username: cfg.Username, password: cfg.Password, ttl: cfg.TokenTTL, now: s.now}
	}
	return d
}

// portalSelf is the part of portals/self the source uses.
type portalSelf struct {
	ID             string `json:"id"`
	Name           string `json:"name"`
	IsPortal       bool   `json:"isPortal"`
	URLKey         string `json:"urlKey"`
	CustomBaseURL  string `json:"customBaseUrl"`
	PortalHostname string `json:"portalHostname"`
	CurrentVersion string `json:"currentVersion"`
	User           *user  `json:"user"`
}

// user is a portal user as community/self and the users listing give it.
type user struct {
	Username   string   `json:"username"`
	FullName   string   `json:"fullName"`
	Role       string   `json:"role"`
	RoleID     string   `json:"roleId"`
	Privileges []string `json:"privileges"`
	OrgID      string   `json:"orgId"`
	Groups     []struct {
		ID    string `json:"id"`
		Title string `json:"title"`
	} `json:"groups"`
}

// adminPrivilege is what it takes to see every member's items; a custom
// role that grants it counts as admin for a backup.
const adminPrivilege = "portal:admin:viewItems"

// Connect signs in, reads portals/self and community/self, and counts the
// organization's items.
func (s *Source) Connect(ctx context.Context) (sdk.OrgInfo, error) {
	if s.c == nil {
		return sdk.OrgInfo{}, sdk.Permanent("arcgis source used before Configure")
	}
	var ps portalSelf
	if err := s.c.getJSON(ctx, arcgisrest.JSON("portals/self", nil), &ps); err != nil {
		return sdk.OrgInfo{}, s.where(err, "reading portals/self")
	}
	var me user
	if err := s.c.getJSON(ctx, arcgisrest.JSON("community/self", nil), &me); err != nil {
		return sdk.OrgInfo{}, s.where(err, "reading community/self")
	}
	if me.Username == "" && ps.User != nil {
		me = *ps.User
	}
	if me.Username == "" {
		return sdk.OrgInfo{}, sdk.Auth("signed in to %s but the portal does not say as whom: an API key without user context cannot back up an organization; use auth or oauth", s.cfg.URL)
	}
	info := sdk.OrgInfo{PortalURL: s.cfg.URL, OrgID: ps.ID, OrgName: ps.Name, Mode: "online", Username: me.Username, ItemCount: -1}
	if ps.IsPortal {
		info.Mode = "enterprise"
	}
	info.IsAdmin = slices.Contains(me.Privileges, adminPrivilege)
	if ps.ID == "" {
		ps.ID = me.OrgID
		info.OrgID = me.OrgID
	}
	if s.cfg.APIKey != "" {
		// An API key acts within its own privileges, whatever its owner's
		// role: it lists through search what it can see, nothing private.
		info.IsAdmin = false
		info.Warnings = append(info.Warnings, "an API key sees only the content its privileges allow (typically public and organization-shared items): private items are not in this backup; sign in with auth or oauth for a complete one")
	} else if !info.IsAdmin {
		info.Warnings = append(info.Warnings, fmt.Sprintf("%s is not an administrator (no %s privilege): this run covers only %s's own items, not the whole organization", me.Username, adminPrivilege, me.Username))
	}
	if info.Mode == "enterprise" && s.cfg.Within > 0 {
		info.Warnings = append(info.Warnings, "modified_within works on ArcGIS Online only (Portal for ArcGIS does not record data edit dates reliably): this run backs up every item")
	}
	s.org = OrgInfoDetail{URLKey: ps.URLKey, Version: ps.CurrentVersion, Role: me.Role, RoleID: me.RoleID, Privileges: me.Privileges}
	s.info = info

	// Item count for the completeness check: the whole org for an admin,
	// the user's own items otherwise.
	q := "orgid:" + ps.ID
	if !info.IsAdmin && s.cfg.APIKey == "" {
		q = "owner:" + quote(me.Username)
	}
	var pg arcgisrest.Page
	if err := s.c.getJSON(ctx, arcgisrest.JSON("search", url.Values{"q": {q}, "num": {"0"}}), &pg); err == nil {
		info.ItemCount = int64(pg.Total)
	} else if sdk.KindOf(err) == sdk.KindCanceled {
		return sdk.OrgInfo{}, err
	} else {
		info.Warnings = append(info.Warnings, "could not count the organization's items, so the completeness check is off: "+err.Error())
	}
	if info.Mode == "enterprise" {
		// Federated servers (hosting server included) may live on other
		// hosts; they accept the portal's token.
		var sv struct {
			Servers []struct {
				URL string `json:"url"`
			} `json:"servers"`
		}
		if err := s.c.getJSON(ctx, arcgisrest.JSON("portals/self/servers", nil), &sv); err == nil {
			for _, x := range sv.Servers {
				if u, err := url.Parse(x.URL); err == nil {
					s.c.trust(u.Host)
				}
			}
		}
	}
	if err := s.resolveGroups(ctx); err != nil {
		return sdk.OrgInfo{}, err
	}
	// Leftovers of crashed runs go before this run creates its own.
	info.Warnings = append(info.Warnings, s.sweepLeftovers(ctx, me.Username, info.Mode)...)
	s.info = info
	return info, nil
}

// where names the portal and the step in an error, keeping its class.
func (s *Source) where(err error, step string) error {
	k := sdk.KindOf(err)
	e := fmt.Errorf("%s at %s: %w", step, s.cfg.URL, err)
	if k == sdk.KindAuth && !strings.Contains(err.Error(), "sign-in") {
		e = fmt.Errorf("%s at %s: the portal refused the sign-in: %w", step, s.cfg.URL, err)
	}
	return &sdk.Error{Kind: k, Err: e, RetryAfter: sdk.RetryAfterOf(err)}
}

// Do performs one authenticated portal request for an exporter.
//
// Contract (to be copied to the sdk.PortalRequest doc):
//   - URL is absolute or relative to the sharing root ("content/items/<id>/data").
//   - Method defaults to GET, or POST when Form is set; Form is sent
//     urlencoded on POST.
//   - The token is added (query on GET, form on POST) only for the portal
//     and the organization's own servers, never for third-party hosts.
//   - f=json is added when Header has Accept: application/json and neither
//     Query nor Form sets f; otherwise the request goes as built, so a file
//     download stays raw (arcgisrest.JSON builds JSON requests).
//   - Offset > 0 sends Range: bytes=Offset-; the body always starts at
//     Offset (skipped client-side when the server ignores Range).
//   - An error answer (HTTP >= 400, or a small JSON body with an "error"
//     object, even with HTTP 200) returns a classified error; 498/499 renew
//     the token and retry once. Nothing else is retried here: the host
//     retries retryable errors in one place.
func (s *Source) Do(ctx context.Context, req sdk.PortalRequest) (*sdk.PortalResponse, error) {
	if s.c == nil {
		return nil, sdk.Permanent("arcgis source used before Configure")
	}
	return s.c.do(ctx, req)
}

// Close releases idle connections.
func (s *Source) Close() error {
	if s.c != nil {
		s.c.http.CloseIdleConnections()
	}
	return nil
}

// quote makes a search value a phrase.
func quote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"` }

var _ sdk.Source = (*Source)(nil)
