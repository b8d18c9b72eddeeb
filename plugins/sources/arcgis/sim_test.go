package arcgis

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/arcgisrest"
	"github.com/agolpipe/agolpipe/sim"
	"github.com/agolpipe/agolpipe/sim/org"
	"github.com/zclconf/go-cty/cty"
)

func startSim(t *testing.T, opt sim.Options) *sim.Server {
	t.Helper()
	if opt.Items == 0 {
		opt.Items = 120
	}
	if opt.Seed == 0 {
		opt.Seed = 7
	}
	srv, err := sim.Start(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// simUser returns the first simulator user of a kind (admin, custom_admin,
// publisher, viewer).
func simUser(t *testing.T, srv *sim.Server, kind string) sim.User {
	t.Helper()
	for _, u := range srv.Users() {
		if u.Kind == kind {
			return u
		}
	}
	t.Fatalf("simulator has no %s user", kind)
	return sim.User{}
}

// connect configures and connects a source signed in as u.
func connect(t *testing.T, srv *sim.Server, u sim.User, attrs map[string]cty.Value) (*Source, sdk.OrgInfo) {
	t.Helper()
	if attrs == nil {
		attrs = map[string]cty.Value{}
	}
	if _, ok := attrs["url"]; !ok {
		attrs["url"] = cty.StringVal(srv.PortalURL())
	}
	if _, ok := attrs["oauth"]; !ok {
		attrs["auth"] = auth(u.Username, u.Password)
	}
	s := New().(*Source)
	if d := s.Configure(context.Background(), sdk.ConfigureRequest{Config: ConfigValue(attrs)}); d.HasErrors() {
		t.Fatal(d.Err())
	}
	s.c.retryBase, s.c.retryMax = time.Millisecond, 20*time.Millisecond
	info, err := s.Connect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s, info
}

type listing struct {
	in  map[string]sdk.Item
	out map[string]string // id -> reason
}

func listAll(t *testing.T, s *Source, req sdk.ListItemsRequest) listing {
	t.Helper()
	l := listing{in: map[string]sdk.Item{}, out: map[string]string{}}
	err := s.ListItems(context.Background(), req, func(li sdk.ListedItem) error {
		if _, dup := l.in[li.Item.ID]; dup {
			t.Errorf("item %s listed twice", li.Item.ID)
		}
		if _, dup := l.out[li.Item.ID]; dup {
			t.Errorf("item %s listed twice", li.Item.ID)
		}
		if li.Excluded {
			if li.Reason == "" {
				t.Errorf("item %s excluded without a reason", li.Item.ID)
			}
			l.out[li.Item.ID] = li.Reason
		} else {
			l.in[li.Item.ID] = li.Item
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func (l listing) ids() []string {
	var out []string
	for id := range l.in {
		out = append(out, id)
	}
	for id := range l.out {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// orgItems are the ids of the simulated org's live items, optionally only
// those of one owner.
func orgItems(srv *sim.Server, owner string) []string {
	o := srv.Org()
	o.Mu.RLock()
	defer o.Mu.RUnlock()
	var out []string
	for _, it := range o.Items {
		if it.Deleted || owner != "" && it.Owner != owner {
			continue
		}
		out = append(out, it.ID)
	}
	sort.Strings(out)
	return out
}

func TestSimQuickAndDeepListTheWholeOrg(t *testing.T) {
	srv := startSim(t, sim.Options{})
	admin := simUser(t, srv, "admin")
	want := orgItems(srv, "")

	var sets [][]string
	for _, scan := range []string{"quick", "deep"} {
		s, info := connect(t, srv, admin, map[string]cty.Value{"scan": cty.StringVal(scan)})
		if !info.IsAdmin || info.Mode != "online" || info.OrgID != srv.OrgID() || info.Username != admin.Username {
			t.Fatalf("%s: org info %+v", scan, info)
		}
		if info.ItemCount != int64(len(want)) {
			t.Errorf("%s: ItemCount %d, org has %d", scan, info.ItemCount, len(want))
		}
		l := listAll(t, s, sdk.ListItemsRequest{})
		got := l.ids()
		if !slices.Equal(got, want) {
			t.Errorf("%s scan listed %d items, org has %d", scan, len(got), len(want))
		}
		if w := s.ListWarnings(); len(w) != 0 {
			t.Errorf("%s: warnings %v", scan, w)
		}
		sets = append(sets, got)
		checkItems(t, srv, l)
	}
	if !slices.Equal(sets[0], sets[1]) {
		t.Fatal("quick and deep scans disagree")
	}
}

// checkItems compares listed items with the simulator's org.
func checkItems(t *testing.T, srv *sim.Server, l listing) {
	t.Helper()
	o := srv.Org()
	o.Mu.RLock()
	defer o.Mu.RUnlock()
	for _, it := range o.Items {
		got, ok := l.in[it.ID]
		if !ok {
			continue
		}
		if got.Owner != it.Owner || got.Type != it.Type || got.Title != it.Title || got.FolderID != it.FolderID {
			t.Errorf("item %s: got owner %q type %q folder %q, want %q %q %q", it.ID, got.Owner, got.Type, got.FolderID, it.Owner, it.Type, it.FolderID)
		}
		if it.FolderID != "" && got.FolderTitle == "" {
			t.Errorf("item %s: folder %s without title", it.ID, it.FolderID)
		}
		g1, g2 := slices.Clone(got.Groups), slices.Clone(it.Groups)
		slices.Sort(g1)
		slices.Sort(g2)
		if !slices.Equal(g1, g2) {
			t.Errorf("item %s: groups %v, want %v", it.ID, g1, g2)
		}
		if len(got.Raw) == 0 || got.Modified.UnixMilli() != it.Modified {
			t.Errorf("item %s: raw %d bytes, modified %v", it.ID, len(got.Raw), got.Modified)
		}
	}
}

func TestSimNeverBackedUpTypesAreExcluded(t *testing.T) {
	srv := startSim(t, sim.Options{})
	s, _ := connect(t, srv, simUser(t, srv, "admin"), nil)
	l := listAll(t, s, sdk.ListItemsRequest{})
	for id, it := range l.in {
		if _, bad := neverBackedUp[it.Type]; bad {
			t.Errorf("%s (%s) should be excluded", id, it.Type)
		}
	}
}

func TestSimTokenExpiringMidRunIsInvisible(t *testing.T) {
	srv := startSim(t, sim.Options{TokenTTL: time.Second, Latency: 5 * time.Millisecond})
	s, _ := connect(t, srv, simUser(t, srv, "admin"), map[string]cty.Value{"scan": cty.StringVal("deep")})
	deadline := time.Now().Add(2500 * time.Millisecond)
	n := 0
	for time.Now().Before(deadline) {
		l := listAll(t, s, sdk.ListItemsRequest{})
		n++
		if len(l.ids()) != len(orgItems(srv, "")) {
			t.Fatalf("pass %d listed %d items", n, len(l.ids()))
		}
	}
	tokens := 0
	for _, r := range srv.Requests() {
		if r.Endpoint == "generateToken" {
			tokens++
		}
	}
	if tokens < 2 {
		t.Fatalf("token renewed %d times over %d passes of 2.5 s with 1 s tokens", tokens, n)
	}
}

func TestSimFilters(t *testing.T) {
	srv := startSim(t, sim.Options{})
	admin := simUser(t, srv, "admin")
	pub := simUser(t, srv, "publisher")
	s, _ := connect(t, srv, admin, map[string]cty.Value{
		"owners": cty.TupleVal([]cty.Value{cty.StringVal(pub.Username)}),
		"types":  cty.TupleVal([]cty.Value{cty.StringVal("Web Map"), cty.StringVal("Feature Service")}),
	})
	l := listAll(t, s, sdk.ListItemsRequest{})
	want := 0
	o := srv.Org()
	o.Mu.RLock()
	for _, it := range o.Items {
		if !it.Deleted && it.Owner == pub.Username && (it.Type == "Web Map" || it.Type == "Feature Service") {
			want++
		}
	}
	o.Mu.RUnlock()
	if len(l.in) != want || want == 0 {
		t.Fatalf("included %d, want %d", len(l.in), want)
	}
	for _, it := range l.in {
		if it.Owner != pub.Username {
			t.Errorf("owner filter let %s through", it.Owner)
		}
	}
	if len(l.in)+len(l.out) != len(orgItems(srv, "")) {
		t.Errorf("filtered items not all reported: %d + %d", len(l.in), len(l.out))
	}

	// Group filter by title, folder filter and exclude_ids.
	o.Mu.RLock()
	var gTitle, gID string
	for _, g := range o.Groups {
		gTitle, gID = g.Title, g.ID
		break
	}
	o.Mu.RUnlock()
	s, _ = connect(t, srv, admin, map[string]cty.Value{"groups": cty.TupleVal([]cty.Value{cty.StringVal(gTitle)})})
	l = listAll(t, s, sdk.ListItemsRequest{})
	for id, it := range l.in {
		if !slices.Contains(it.Groups, gID) {
			t.Errorf("%s is not shared with %s", id, gTitle)
		}
	}
	s, _ = connect(t, srv, admin, map[string]cty.Value{"exclude_groups": cty.TupleVal([]cty.Value{cty.StringVal(gID)})})
	l2 := listAll(t, s, sdk.ListItemsRequest{})
	for id, it := range l2.in {
		if slices.Contains(it.Groups, gID) {
			t.Errorf("%s is shared with excluded group", id)
		}
	}
	if len(l.in) == 0 {
		t.Errorf("group %q has no items; pick a test org where it does", gTitle)
	}

	// An unknown group is a clear configuration error at Connect.
	bad := New().(*Source)
	bad.Configure(context.Background(), sdk.ConfigureRequest{Config: ConfigValue(map[string]cty.Value{
		"url": cty.StringVal(srv.PortalURL()), "auth": auth(admin.Username, admin.Password),
		"groups": cty.TupleVal([]cty.Value{cty.StringVal("No Such Group")}),
	})})
	if _, err := bad.Connect(context.Background()); err == nil || !strings.Contains(err.Error(), "No Such Group") {
		t.Fatalf("unknown group: %v", err)
	}
}

func TestSimNonAdminSeesOnlyOwnItems(t *testing.T) {
	srv := startSim(t, sim.Options{})
	pub := simUser(t, srv, "publisher")
	s, info := connect(t, srv, pub, nil)
	if info.IsAdmin {
		t.Fatal("publisher taken for an admin")
	}
	if len(info.Warnings) == 0 || !strings.Contains(info.Warnings[0], "only") {
		t.Fatalf("no plain warning: %v", info.Warnings)
	}
	l := listAll(t, s, sdk.ListItemsRequest{})
	if got, want := l.ids(), orgItems(srv, pub.Username); !slices.Equal(got, want) {
		t.Fatalf("publisher listed %d items, owns %d", len(got), len(want))
	}
}

func TestSimCustomAdminRoleCounts(t *testing.T) {
	srv := startSim(t, sim.Options{})
	for _, u := range srv.Users() {
		if u.Kind == "custom_admin" {
			_, info := connect(t, srv, u, nil)
			if !info.IsAdmin {
				t.Fatalf("custom admin role %s not taken for admin", u.Username)
			}
			return
		}
	}
	t.Skip("simulator has no custom_admin user")
}

func TestSimURLFormsAndEnterprise(t *testing.T) {
	for _, mode := range []string{"online", "enterprise"} {
		srv := startSim(t, sim.Options{Mode: mode, Items: 40})
		admin := simUser(t, srv, "admin")
		for _, form := range []string{"", "/", "/home", "/home/", "/sharing/rest"} {
			_, info := connect(t, srv, admin, map[string]cty.Value{"url": cty.StringVal(srv.PortalURL() + form)})
			if info.Mode != mode {
				t.Errorf("%s%s: mode %q", srv.PortalURL(), form, info.Mode)
			}
			if info.PortalURL != strings.TrimRight(srv.PortalURL(), "/") {
				t.Errorf("portal URL %q from %q", info.PortalURL, form)
			}
		}
		s, _ := connect(t, srv, admin, nil)
		l := listAll(t, s, sdk.ListItemsRequest{})
		if len(l.ids()) != len(orgItems(srv, "")) {
			t.Errorf("%s: listed %d of %d", mode, len(l.ids()), len(orgItems(srv, "")))
		}
		// A hosted service in this mode is reachable with the token.
		for _, it := range l.in {
			if isHostedFeatureService(&it) {
				var root map[string]any
				if err := arcgisrest.GetJSON(context.Background(), s.Do, arcgisrest.JSON(it.URL, nil), &root); err != nil {
					t.Errorf("%s: service %s: %v", mode, it.URL, err)
				}
				break
			}
		}
	}
}

func TestSimFaultsAreRetriedAndClassified(t *testing.T) {
	srv := startSim(t, sim.Options{FaultRate: 0.3, FaultEndpoints: []string{"search", "user/content", "group/content"}})
	s, _ := connect(t, srv, simUser(t, srv, "admin"), nil)
	l := listAll(t, s, sdk.ListItemsRequest{})
	if len(l.ids()) != len(orgItems(srv, "")) {
		t.Fatalf("with faults listed %d of %d", len(l.ids()), len(orgItems(srv, "")))
	}
	faults := 0
	for _, r := range srv.Requests() {
		if r.Fault != "" {
			faults++
		}
	}
	if faults == 0 {
		t.Fatal("no fault was injected; the test proves nothing")
	}

	// Do itself does not retry: it classifies. (A "slow" fault is a
	// success that takes its time.)
	srv2 := startSim(t, sim.Options{FaultRate: 1, FaultEndpoints: []string{"search"}})
	s2, _ := connect(t, srv2, simUser(t, srv2, "admin"), nil)
	srv2.ResetRequests()
	errs := 0
	for range 12 {
		resp, err := s2.Do(context.Background(), arcgisrest.JSON("search", url.Values{"q": {"orgid:" + srv2.OrgID()}}))
		if err == nil {
			_, err = arcgisrest.ReadBody(resp)
		}
		if err != nil {
			errs++
			if sdk.KindOf(err) != sdk.KindRetryable {
				t.Fatalf("injected fault classified %v: %v", sdk.KindOf(err), err)
			}
		}
	}
	hard := 0
	for _, r := range srv2.Requests() {
		if r.Endpoint == "search" && r.Fault != "" && r.Fault != "slow" {
			hard++
		}
	}
	if errs != hard || hard == 0 {
		t.Fatalf("%d errors from Do for %d injected failures", errs, hard)
	}
}

var codeInPage = regexp.MustCompile(`<pre class="code">([^<]+)</pre>`)

// signInPage plays the user in the browser: it posts the sign-in form of
// the authorize page and returns the response.
func signInPage(ctx context.Context, authorize string, u sim.User, follow bool) (*http.Response, error) {
	au, _ := url.Parse(authorize)
	form := au.Query()
	form.Set("username", u.Username)
	form.Set("password", u.Password)
	au.RawQuery = ""
	hc := &http.Client{}
	if !follow {
		hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, au.String(), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return hc.Do(req)
}

func TestSimOAuthPKCE(t *testing.T) {
	srv := startSim(t, sim.Options{Items: 30})
	admin := simUser(t, srv, "admin")
	for _, redirect := range []string{"oob", "loopback"} {
		t.Run(redirect, func(t *testing.T) {
			tokenFile := filepath.Join(t.TempDir(), "sub", "prod.token")
			oauth := cty.ObjectVal(map[string]cty.Value{"client_id": cty.StringVal(srv.OAuthClientID()), "token_file": cty.StringVal(tokenFile), "redirect": cty.StringVal(redirect)})
			cfg := ConfigValue(map[string]cty.Value{"url": cty.StringVal(srv.PortalURL() + "/home"), "oauth": oauth})
			opt := LoginOptions{Config: sdk.ConfigureRequest{Config: cfg}}
			if redirect == "oob" {
				opt.Code = func(ctx context.Context, authorize string) (string, error) {
					if !strings.Contains(authorize, "code_challenge_method=S256") {
						t.Errorf("no PKCE in %s", authorize)
					}
					resp, err := signInPage(ctx, authorize, admin, false)
					if err != nil {
						return "", err
					}
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					m := codeInPage.FindSubmatch(b)
					if m == nil {
						t.Fatalf("no code on the page: %s", b)
					}
					return string(m[1]), nil
				}
			} else {
				opt.Visit = func(ctx context.Context, authorize string) error {
					resp, err := signInPage(ctx, authorize, admin, true)
					if err == nil {
						resp.Body.Close()
					}
					return err
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			res, err := Login(ctx, opt)
			if err != nil {
				t.Fatal(err)
			}
			if res.Username != admin.Username {
				t.Errorf("signed in as %q", res.Username)
			}
			st, err := os.Stat(tokenFile)
			if err != nil || st.Mode().Perm() != 0o600 {
				t.Fatalf("token file: %v %v", st, err)
			}
			_, info := connect(t, srv, admin, map[string]cty.Value{"url": cty.StringVal(srv.PortalURL()), "oauth": oauth})
			if info.Username != admin.Username || !info.IsAdmin {
				t.Fatalf("oauth connect: %+v", info)
			}

			// Near its end the refresh token is rolled and written at once.
			f, err := readTokenFile(tokenFile)
			if err != nil {
				t.Fatal(err)
			}
			old := f.RefreshToken
			f.RefreshIssued = time.Now().Add(-13 * 24 * time.Hour)
			f.RefreshExpires = time.Now().Add(time.Hour)
			if err := writeTokenFile(tokenFile, f); err != nil {
				t.Fatal(err)
			}
			connect(t, srv, admin, map[string]cty.Value{"url": cty.StringVal(srv.PortalURL()), "oauth": oauth})
			f2, err := readTokenFile(tokenFile)
			if err != nil || f2.RefreshToken == old || !f2.RefreshExpires.After(time.Now().Add(24*time.Hour)) {
				t.Fatalf("refresh token not rolled: same=%v expires %v err %v", f2.RefreshToken == old, f2.RefreshExpires, err)
			}
			if st, _ := os.Stat(tokenFile); st.Mode().Perm() != 0o600 {
				t.Fatalf("rolled token file mode %v", st.Mode())
			}

			// A lapsed refresh token says what to do.
			srv.ExpireRefreshTokens()
			s := New().(*Source)
			// The host names the pipeline file and the block in Configure.
			creq := sdk.ConfigureRequest{Config: ConfigValue(map[string]cty.Value{"url": cty.StringVal(srv.PortalURL()), "oauth": oauth}),
				Name: "prod", PipelineFile: "nightly.hcl"}
			if d := s.Configure(context.Background(), creq); d.HasErrors() {
				t.Fatal(d.Err())
			}
			_, err = s.Connect(context.Background())
			if sdk.KindOf(err) != sdk.KindAuth || !strings.Contains(err.Error(), "agolpipe login nightly.hcl prod") {
				t.Fatalf("lapsed sign-in: %v", err)
			}
			b, _ := os.ReadFile(tokenFile)
			if strings.Contains(err.Error(), f2.RefreshToken) || len(b) == 0 {
				t.Fatal("refresh token leaked into the error")
			}
		})
	}
}

func TestSimModifiedWithin(t *testing.T) {
	srv := startSim(t, sim.Options{Items: 200})
	s, _ := connect(t, srv, simUser(t, srv, "admin"), map[string]cty.Value{"modified_within": cty.StringVal("20d"), "dependencies": cty.False})
	// The simulated org lives at org.RefTime; the listing's clock follows
	// it (the sign-in keeps the real clock for token lifetimes).
	s.now = func() time.Time { return org.RefTime }
	since := org.RefTime.Add(-20*24*time.Hour - incrementalBuffer)
	l := listAll(t, s, sdk.ListItemsRequest{})
	o := srv.Org()
	o.Mu.RLock()
	defer o.Mu.RUnlock()
	in, unchanged, byData := 0, 0, 0
	for _, it := range o.Items {
		if it.Deleted {
			continue
		}
		// Changed: the item record, or a hosted service's layers' data or
		// schema, whichever is later.
		changed, edited := it.Modified, int64(0)
		if it.Type == "Feature Service" && it.Service != nil && strings.Contains(it.URL, "/FeatureServer") {
			for _, ly := range it.Service.Layers {
				edited = max(edited, ly.LastEdit, ly.SchemaEdit)
			}
			changed = max(changed, edited)
		}
		_, included := l.in[it.ID]
		reason, excluded := l.out[it.ID]
		if !included && !excluded {
			t.Errorf("%s not listed", it.ID)
			continue
		}
		wantIn := changed >= since.UnixMilli()
		switch {
		case included && !wantIn:
			t.Errorf("%s (%s) included though unchanged since %v", it.ID, it.Type, since)
		case excluded && wantIn && strings.HasPrefix(reason, "unchanged"):
			t.Errorf("%s (%s) excluded as unchanged though changed at %v", it.ID, it.Type, time.UnixMilli(changed))
		case included:
			in++
			if changed != it.Modified && it.Modified < since.UnixMilli() {
				byData++
				if l.in[it.ID].DataModified.UnixMilli() != edited {
					t.Errorf("%s: DataModified %v, want %v", it.ID, l.in[it.ID].DataModified, time.UnixMilli(edited))
				}
			}
		case strings.HasPrefix(reason, "unchanged"):
			unchanged++
		}
	}
	if in == 0 || unchanged == 0 {
		t.Fatalf("window proves nothing: %d in, %d unchanged", in, unchanged)
	}
	t.Logf("%d changed, %d unchanged, %d feature services in only by their data edits", in, unchanged, byData)
}

func TestSimDependencies(t *testing.T) {
	srv := startSim(t, sim.Options{Items: 150})
	s, _ := connect(t, srv, simUser(t, srv, "admin"), nil)
	l := listAll(t, s, sdk.ListItemsRequest{})
	o := srv.Org()
	o.Mu.RLock()
	defer o.Mu.RUnlock()
	checked := 0
	for _, it := range o.Items {
		got, ok := l.in[it.ID]
		if !ok {
			continue
		}
		want := slices.Clone(it.Refs)
		for _, r := range it.Related {
			want = append(want, r.To)
		}
		for _, id := range want {
			if id != it.ID && !slices.Contains(got.Dependencies, id) {
				t.Errorf("%s (%s): dependency %s missing from %v", it.ID, it.Type, id, got.Dependencies)
			}
		}
		if len(want) > 0 {
			checked++
		}
	}
	if checked == 0 {
		t.Fatal("no item with dependencies in the org; the test proves nothing")
	}
}

func TestSimOrgMetadata(t *testing.T) {
	srv := startSim(t, sim.Options{Items: 80})
	s, _ := connect(t, srv, simUser(t, srv, "admin"), map[string]cty.Value{"dependencies": cty.False})
	l := listAll(t, s, sdk.ListItemsRequest{})
	var buf strings.Builder
	if err := s.OrgMetadata(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	var m struct {
		Format string                 `json:"format"`
		Portal map[string]any         `json:"portal"`
		Users  []map[string]any       `json:"users"`
		Groups []map[string]any       `json:"groups"`
		Shares map[string]itemSharing `json:"sharing"`
	}
	if err := json.Unmarshal([]byte(buf.String()), &m); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	o := srv.Org()
	o.Mu.RLock()
	defer o.Mu.RUnlock()
	if m.Format != MetadataFormat || m.Portal["orgId"] != srv.OrgID() {
		t.Errorf("head: %q %v", m.Format, m.Portal)
	}
	if len(m.Users) == 0 || len(m.Users) > len(o.Users) || len(m.Groups) != len(o.Groups) {
		t.Errorf("%d users, %d groups; org has %d, %d", len(m.Users), len(m.Groups), len(o.Users), len(o.Groups))
	}
	for _, u := range srv.Users() {
		if strings.Contains(buf.String(), `"`+u.Password+`"`) {
			t.Fatalf("password of %s in the metadata", u.Username)
		}
	}
	for _, g := range m.Groups {
		if _, ok := g["members"]; !ok {
			t.Errorf("group %v without members", g["id"])
		}
	}
	if len(m.Shares) != len(l.ids()) {
		t.Errorf("sharing of %d items, listed %d", len(m.Shares), len(l.ids()))
	}
	for _, it := range o.Items {
		sh, ok := m.Shares[it.ID]
		if !ok {
			continue
		}
		got, want := slices.Clone(sh.Groups), slices.Clone(it.Groups)
		slices.Sort(got)
		slices.Sort(want)
		if sh.Access != it.Access || !slices.Equal(got, want) {
			t.Errorf("%s sharing %+v, want %s %v", it.ID, sh, it.Access, want)
		}
	}
}

func TestSimQuickScanPastTheSearchCap(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 10,000+ item org")
	}
	srv := startSim(t, sim.Options{Items: 10300})
	s, info := connect(t, srv, simUser(t, srv, "admin"), map[string]cty.Value{"scan": cty.StringVal("quick"), "dependencies": cty.False})
	if info.ItemCount <= arcgisrest.MaxSearchResults {
		t.Fatalf("org of %d items", info.ItemCount)
	}
	l := listAll(t, s, sdk.ListItemsRequest{})
	if got, want := l.ids(), orgItems(srv, ""); !slices.Equal(got, want) {
		t.Fatalf("quick scan past 10,000 listed %d of %d", len(got), len(want))
	}
	// auto goes deep above 10,000 items.
	s, _ = connect(t, srv, simUser(t, srv, "admin"), map[string]cty.Value{"dependencies": cty.False})
	srv.ResetRequests()
	l = listAll(t, s, sdk.ListItemsRequest{})
	deep := false
	for _, r := range srv.Requests() {
		if r.Endpoint == "portals/users" {
			deep = true
		}
	}
	if !deep || len(l.ids()) != len(orgItems(srv, "")) {
		t.Fatalf("auto: deep=%v, listed %d", deep, len(l.ids()))
	}
}

func TestSimTLSAndCAFile(t *testing.T) {
	srv := startSim(t, sim.Options{TLS: true, Items: 20})
	admin := simUser(t, srv, "admin")
	_, info := connect(t, srv, admin, map[string]cty.Value{"ca_file": cty.StringVal(srv.CAFile())})
	if info.Username != admin.Username {
		t.Fatalf("TLS connect: %+v", info)
	}
	// Without the CA the certificate is refused, permanently, and the error
	// says what to do.
	s := New().(*Source)
	if d := s.Configure(context.Background(), sdk.ConfigureRequest{Config: ConfigValue(map[string]cty.Value{
		"url": cty.StringVal(srv.PortalURL()), "auth": auth(admin.Username, admin.Password)})}); d.HasErrors() {
		t.Fatal(d.Err())
	}
	s.c.retryBase = time.Millisecond
	_, err := s.Connect(context.Background())
	if sdk.KindOf(err) != sdk.KindPermanent && sdk.KindOf(err) != sdk.KindAuth || !strings.Contains(err.Error(), "ca_file") {
		t.Fatalf("untrusted certificate: %v (%v)", err, sdk.KindOf(err))
	}
	if strings.Contains(err.Error(), admin.Password) {
		t.Fatal("password in error")
	}
}

func TestSimProxy(t *testing.T) {
	srv := startSim(t, sim.Options{Items: 20})
	var proxied atomic.Int64
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxied.Add(1)
		r.RequestURI = ""
		resp, err := http.DefaultTransport.RoundTrip(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	}))
	defer proxy.Close()
	// Loopback targets bypass proxies from the environment, not an explicit one.
	connect(t, srv, simUser(t, srv, "admin"), map[string]cty.Value{"proxy": cty.StringVal(proxy.URL)})
	if proxied.Load() < 3 {
		t.Fatalf("%d requests went through the proxy", proxied.Load())
	}
}

func TestSimAPIKey(t *testing.T) {
	srv := startSim(t, sim.Options{Items: 60})
	keys := srv.APIKeys()
	if len(keys) == 0 {
		t.Skip("no API key item in this org")
	}
	s := New().(*Source)
	if d := s.Configure(context.Background(), sdk.ConfigureRequest{Config: ConfigValue(map[string]cty.Value{
		"url": cty.StringVal(srv.PortalURL()), "api_key": cty.StringVal(keys[0])})}); d.HasErrors() {
		t.Fatal(d.Err())
	}
	var r struct{ Total int }
	if err := arcgisrest.GetJSON(context.Background(), s.Do, arcgisrest.JSON("search", url.Values{"q": {"orgid:" + srv.OrgID()}}), &r); err != nil {
		t.Fatalf("search with API key: %v", err)
	}
	s.c.retryBase = time.Millisecond
	info, err := s.Connect(context.Background())
	if err != nil {
		t.Fatalf("connect with API key: %v", err)
	}
	if info.IsAdmin || len(info.Warnings) == 0 || !strings.Contains(info.Warnings[0], "API key") {
		t.Fatalf("API key run must say what it misses: %+v", info)
	}
	l := listAll(t, s, sdk.ListItemsRequest{})
	if int64(len(l.ids())) != info.ItemCount || info.ItemCount != int64(r.Total) {
		t.Fatalf("API key listed %d, counted %d, search says %d", len(l.ids()), info.ItemCount, r.Total)
	}
}
