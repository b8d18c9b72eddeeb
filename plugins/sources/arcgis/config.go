package arcgis

import (
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/agolpipe/agolpipe/sdk"
	"github.com/zclconf/go-cty/cty"
)

// schema is the `source "arcgis" "<name>" { ... }` block.
var schema = sdk.Schema{
	Attributes: []sdk.Attribute{
		{Name: "url", Type: sdk.TypeString, Required: true, Description: `The organization: a short name ("myorg"), "myorg.maps.arcgis.com", or a Portal for ArcGIS URL ("https://gis.example.org/portal"); a trailing /home is fine.`},
		{Name: "api_key", Type: sdk.TypeString, Sensitive: true, Description: "An API key instead of a user sign-in (it sees only what its privileges allow)."},
		{Name: "proxy", Type: sdk.TypeString, Description: `HTTP(S) proxy URL, e.g. "http://proxy.example.org:3128". Default: the HTTPS_PROXY environment variable.`},
		{Name: "ca_file", Type: sdk.TypeString, Description: "PEM file of extra certificate authorities to trust (an internal CA of a Portal for ArcGIS)."},
		{Name: "scan", Type: sdk.TypeString, Description: `"quick" (portal search), "deep" (every user's root and folders) or "auto" (default: deep above 10,000 items).`},
		{Name: "tags", Type: sdk.TypeListString, Description: "Back up only items with at least one of these tags."},
		{Name: "exclude_tags", Type: sdk.TypeListString, Description: "Leave out items with any of these tags."},
		{Name: "owners", Type: sdk.TypeListString, Description: "Back up only items of these owners (usernames)."},
		{Name: "exclude_owners", Type: sdk.TypeListString, Description: "Leave out items of these owners."},
		{Name: "groups", Type: sdk.TypeListString, Description: "Back up only items shared with one of these groups (titles or ids)."},
		{Name: "exclude_groups", Type: sdk.TypeListString, Description: "Leave out items shared with any of these groups (titles or ids)."},
		{Name: "folders", Type: sdk.TypeListString, Description: `Back up only items in these folders (titles or ids; "/" is the owners' root).`},
		{Name: "exclude_folders", Type: sdk.TypeListString, Description: "Leave out items in these folders."},
		{Name: "types", Type: sdk.TypeListString, Description: `Back up only these item types ("Feature Service", "Web Map", ...).`},
		{Name: "exclude_types", Type: sdk.TypeListString, Description: "Leave out these item types."},
		{Name: "exclude_ids", Type: sdk.TypeListString, Description: "Leave out these item ids."},
		{Name: "modified_within", Type: sdk.TypeString, Description: `Only items changed in this window, e.g. "7d" or "36h" (ArcGIS Online only; a 6 h safety margin is added; a hosted feature service also counts as changed when its layers' data or schema changed).`},
		{Name: "page_size", Type: sdk.TypeNumber, Description: "Items per listing request, 1-100 (default 100)."},
		{Name: "dependencies", Type: sdk.TypeBool, Description: "Find each item's dependencies (relationships, item ids in map and app JSON). Default true."},
		{Name: "token_minutes", Type: sdk.TypeNumber, Description: "Lifetime asked for user tokens, in minutes (default 120); tokens are renewed before they expire."},
	},
	Blocks: []sdk.NestedBlock{
		{TypeName: "auth", Nesting: sdk.NestingSingle, Description: "Sign in with a built-in ArcGIS account.", Schema: sdk.Schema{Attributes: []sdk.Attribute{
			{Name: "username", Type: sdk.TypeString, Required: true, Description: "ArcGIS username (case-sensitive)."},
			{Name: "password", Type: sdk.TypeString, Required: true, Sensitive: true, Description: "Its password; use a variable, never a literal in a shared file."},
		}}},
		{TypeName: "oauth", Nesting: sdk.NestingSingle, Description: "Sign in through the browser (SSO, MFA): run `agolpipe login <pipeline> <source>` once; runs then use the stored refresh token.", Schema: sdk.Schema{Attributes: []sdk.Attribute{
			{Name: "client_id", Type: sdk.TypeString, Required: true, Description: "Client id of an OAuth application registered in the organization."},
			{Name: "token_file", Type: sdk.TypeString, Required: true, Description: "File that keeps the refresh token (created with mode 0600)."},
			{Name: "redirect", Type: sdk.TypeString, Description: `"oob" (default: the sign-in page shows a code to paste) or "loopback" (a listener on 127.0.0.1; register http://127.0.0.1 as a redirect URI).`},
		}}},
	},
}

// config is the decoded block.
type config struct {
	URL      string // normalized portal URL, no trailing slash
	Username string
	Password string
	APIKey   string
	OAuth    *oauthConfig
	Proxy    string
	CAFile   string
	Scan     string
	Filters  filters
	Within   time.Duration
	PageSize int
	Deps     bool
	TokenTTL time.Duration
}

type oauthConfig struct {
	ClientID  string
	TokenFile string
	Redirect  string // "oob" or "loopback"
}

// decodeConfig reads the block and reports every problem at once.
func decodeConfig(v cty.Value) (config, sdk.Diagnostics) {
	var d sdk.Diagnostics
	c := config{Scan: "auto", PageSize: 100, Deps: true, TokenTTL: 120 * time.Minute}
	if v.IsNull() || !v.IsKnown() {
		return c, d.Errorf(nil, "Missing configuration", "the arcgis source needs at least url and a sign-in (auth, oauth or api_key)")
	}
	raw := str(v, "url")
	u, err := NormalizeURL(raw)
	if err != nil {
		d = d.Errorf([]string{"url"}, "Invalid portal URL", "%v. Write the org short name (\"myorg\"), \"myorg.maps.arcgis.com\" or \"https://gis.example.org/portal\".", err)
	} else {
		c.URL = u
		if pu, _ := url.Parse(u); pu != nil && pu.Scheme == "http" && !isLoopback(pu.Hostname()) {
			d = d.Warnf([]string{"url"}, "Portal over plain http", "credentials and tokens to %s travel unencrypted; use https", pu.Host)
		}
	}
	c.APIKey = str(v, "api_key")
	hasAuth := false
	if a := attr(v, "auth"); !a.IsNull() {
		hasAuth = true
		c.Username, c.Password = str(a, "username"), str(a, "password")
		if c.Username == "" {
			d = d.Errorf([]string{"auth", "username"}, "Missing username", "set the ArcGIS username to sign in with")
		}
		if c.Password == "" {
			d = d.Errorf([]string{"auth", "password"}, "Missing password", "set password, e.g. password = var.arcgis_password")
		}
	}
	if o := attr(v, "oauth"); !o.IsNull() {
		oc := &oauthConfig{ClientID: str(o, "client_id"), TokenFile: str(o, "token_file"), Redirect: str(o, "redirect")}
		if oc.Redirect == "" {
			oc.Redirect = "oob"
		}
		if oc.Redirect != "oob" && oc.Redirect != "loopback" {
			d = d.Errorf([]string{"oauth", "redirect"}, "Unknown redirect", `redirect is "oob" or "loopback", not %q`, oc.Redirect)
		}
		if oc.ClientID == "" {
			d = d.Errorf([]string{"oauth", "client_id"}, "Missing client_id", "register an OAuth application in the organization and put its client id here")
		}
		if oc.TokenFile == "" {
			d = d.Errorf([]string{"oauth", "token_file"}, "Missing token_file", "name the file that keeps the refresh token, e.g. token_file = \"~/.agolpipe/prod.token\"")
		}
		oc.TokenFile = expandHome(oc.TokenFile)
		c.OAuth = oc
	}
	n := 0
	for _, set := range []bool{hasAuth, c.OAuth != nil, c.APIKey != ""} {
		if set {
			n++
		}
	}
	switch {
	case n == 0:
		d = d.Errorf(nil, "No sign-in configured", "add an auth { username, password } block, an oauth { client_id, token_file } block, or api_key")
	case n > 1:
		d = d.Errorf(nil, "More than one sign-in configured", "use exactly one of auth, oauth and api_key")
	}
	c.Proxy = str(v, "proxy")
	if c.Proxy != "" {
		if pu, err := url.Parse(c.Proxy); err != nil || pu.Host == "" {
			d = d.Errorf([]string{"proxy"}, "Invalid proxy URL", "write it as http://host:port")
		}
	}
	c.CAFile = expandHome(str(v, "ca_file"))
	if c.CAFile != "" {
		if _, err := os.Stat(c.CAFile); err != nil {
			d = d.Errorf([]string{"ca_file"}, "CA file not readable", "%v", err)
		}
	}
	if s := str(v, "scan"); s != "" {
		if s != "quick" && s != "deep" && s != "auto" {
			d = d.Errorf([]string{"scan"}, "Unknown scan mode", `scan is "quick", "deep" or "auto", not %q`, s)
		}
		c.Scan = s
	}
	if s := str(v, "modified_within"); s != "" {
		w, err := sdk.ParseDuration(s)
		if err != nil || w <= 0 {
			d = d.Errorf([]string{"modified_within"}, "Invalid modified_within", `write a positive window such as "7d", "36h" or "90m"`)
		}
		c.Within = w
	}
	if p, ok := num(v, "page_size"); ok {
		if p < 1 || p > 100 || p != float64(int(p)) {
			d = d.Errorf([]string{"page_size"}, "Invalid page_size", "page_size is a whole number from 1 to 100 (the portal's maximum)")
		} else {
			c.PageSize = int(p)
		}
	}
	if b := attr(v, "dependencies"); !b.IsNull() {
		c.Deps = b.True()
	}
	if m, ok := num(v, "token_minutes"); ok {
		if m < 5 || m > 20160 {
			d = d.Errorf([]string{"token_minutes"}, "Invalid token_minutes", "token_minutes is between 5 and 20160 (two weeks)")
		} else {
			c.TokenTTL = time.Duration(m) * time.Minute
		}
	}
	c.Filters = filters{
		Tags: list(v, "tags"), ExcludeTags: list(v, "exclude_tags"),
		Owners: list(v, "owners"), ExcludeOwners: list(v, "exclude_owners"),
		Groups: list(v, "groups"), ExcludeGroups: list(v, "exclude_groups"),
		Folders: list(v, "folders"), ExcludeFolders: list(v, "exclude_folders"),
		Types: list(v, "types"), ExcludeTypes: list(v, "exclude_types"),
		ExcludeIDs: list(v, "exclude_ids"),
	}
	return c, d
}

// NormalizeURL turns what a user writes for an organization into the portal
// URL (scheme, host, web adaptor path; no trailing slash): "myorg" ->
// https://myorg.maps.arcgis.com; "https://gis.example.org/portal/home/" ->
// https://gis.example.org/portal. The sharing root is this + "/sharing/rest".
func NormalizeURL(raw string) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", fmt.Errorf("url is empty")
	}
	if !strings.Contains(s, "://") {
		if !strings.ContainsAny(s, "./:") {
			// An org short name (urlKey).
			s = s + ".maps.arcgis.com"
		}
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("%q is not a URL", raw)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return "", fmt.Errorf("%q: the scheme must be https", raw)
	}
	if u.Host == "" {
		return "", fmt.Errorf("%q has no host", raw)
	}
	if err := checkHost(u); err != nil {
		return "", fmt.Errorf("%q: %v", raw, err)
	}
	p := strings.TrimRight(u.Path, "/")
	for _, suffix := range []string{"/home", "/sharing/rest", "/sharing", "/home/index.html"} {
		if strings.HasSuffix(strings.ToLower(p), suffix) {
			p = strings.TrimRight(p[:len(p)-len(suffix)], "/")
		}
	}
	return u.Scheme + "://" + strings.ToLower(u.Host) + p, nil
}

// checkHost refuses what url.Parse lets through but no connection could
// use: an empty or out-of-range port ("javascript:" reads as the host
// "javascript" with an empty port) and a host name with characters no DNS
// name or IP address has.
func checkHost(u *url.URL) error {
	if strings.HasSuffix(u.Host, ":") {
		return fmt.Errorf("the port after %q is empty", u.Hostname())
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("port %s is not between 1 and 65535", p)
		}
	}
	h := u.Hostname()
	if net.ParseIP(h) != nil {
		return nil
	}
	if h == "" || len(h) > 253 {
		return fmt.Errorf("%q is not a host name", h)
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("%q is not a host name", h)
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return fmt.Errorf("%q is not a host name (%q is not allowed in one)", h, r)
			}
		}
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func expandHome(p string) string {
	if strings.HasPrefix(p, "~/") {
		if h, err := os.UserHomeDir(); err == nil {
			return h + p[1:]
		}
	}
	return p
}

// cty accessors that tolerate absent and null attributes.

func attr(v cty.Value, name string) cty.Value {
	if v.IsNull() || !v.IsKnown() || !v.Type().IsObjectType() || !v.Type().HasAttribute(name) {
		return cty.NullVal(cty.DynamicPseudoType)
	}
	return v.GetAttr(name)
}

func str(v cty.Value, name string) string {
	a := attr(v, name)
	if a.IsNull() || !a.IsKnown() || a.Type() != cty.String {
		return ""
	}
	return a.AsString()
}

func num(v cty.Value, name string) (float64, bool) {
	a := attr(v, name)
	if a.IsNull() || !a.IsKnown() || a.Type() != cty.Number {
		return 0, false
	}
	f, _ := a.AsBigFloat().Float64()
	return f, true
}

func list(v cty.Value, name string) []string {
	a := attr(v, name)
	if a.IsNull() || !a.IsKnown() || !(a.Type().IsListType() || a.Type().IsSetType() || a.Type().IsTupleType()) {
		return nil
	}
	var out []string
	for it := a.ElementIterator(); it.Next(); {
		_, e := it.Element()
		if !e.IsNull() && e.IsKnown() && e.Type() == cty.String {
			if s := strings.TrimSpace(e.AsString()); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

// ConfigValue builds a configuration value of this source's schema from a
// few attributes, with every other attribute null. It is for tests and for
// `agolpipe login` flags; pipelines are decoded by core.
func ConfigValue(attrs map[string]cty.Value) cty.Value {
	return fill(schema, attrs)
}

func fill(s sdk.Schema, attrs map[string]cty.Value) cty.Value {
	ot := s.ObjectType()
	vals := map[string]cty.Value{}
	for name, t := range ot.AttributeTypes() {
		v, ok := attrs[name]
		if !ok {
			vals[name] = cty.NullVal(t)
			continue
		}
		if v.Type().IsObjectType() && t.IsObjectType() {
			for _, b := range s.Blocks {
				if b.TypeName == name {
					m := map[string]cty.Value{}
					for k := range v.Type().AttributeTypes() {
						m[k] = v.GetAttr(k)
					}
					v = fill(b.Schema, m)
				}
			}
		}
		if t.IsListType() && v.Type().IsTupleType() {
			l := []cty.Value{}
			for it := v.ElementIterator(); it.Next(); {
				_, e := it.Element()
				l = append(l, e)
			}
			if len(l) == 0 {
				v = cty.ListValEmpty(t.ElementType())
			} else {
				v = cty.ListVal(l)
			}
		}
		if t == cty.Number && v.Type() == cty.Number {
			v = cty.NumberVal(new(big.Float).Set(v.AsBigFloat()))
		}
		vals[name] = v
	}
	return cty.ObjectVal(vals)
}
