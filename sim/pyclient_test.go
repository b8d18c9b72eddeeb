package sim

import (
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agolpipe/agolpipe/sim/org"
)

// These tests play the requests Esri's ArcGIS API for Python 2.x sends
// (arcgis.auth EsriBuiltInAuth, Item.dependent_upon, MapImageLayer
// .export_tiles...), since Python cannot be installed here; each answer has
// the shape Esri's REST documentation gives.

// oAuthInfo is the regular expression the API for Python uses to find the
// sign-in page's state.
var oAuthInfo = regexp.MustCompile(`(?s)var oAuthInfo = (\{.*?\});`)

var noFollow = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 10 * time.Second}

// authorizePage GETs oauth2/authorize and returns the oauth_state on it.
func authorizePage(t *testing.T, s *Server, q url.Values) string {
	t.Helper()
	resp, err := noFollow.Get(s.PortalURL() + "/sharing/rest/oauth2/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := oAuthInfo.FindSubmatch(b)
	if resp.StatusCode != 200 || m == nil {
		t.Fatalf("authorize %v: %d, no oAuthInfo: %.400s", q, resp.StatusCode, b)
	}
	var info struct {
		State string `json:"oauth_state"`
	}
	if err := json.Unmarshal(m[1], &info); err != nil || info.State == "" {
		t.Fatalf("oAuthInfo %s: %v", m[1], err)
	}
	return info.State
}

func TestPythonAPISharingRoot(t *testing.T) {
	for _, mode := range []string{"online", "enterprise"} {
		s := startSim(t, Options{Items: 40, Mode: mode})
		c := &client{t: t, s: s}
		v := c.get("/sharing/rest")
		if v["currentVersion"] != "2024.1" || v["error"] != nil {
			t.Errorf("%s: sharing root: %v", mode, v)
		}
		if _, ok := v["enterpriseVersion"]; ok != (mode == "enterprise") {
			t.Errorf("%s: enterpriseVersion present=%v: %v", mode, ok, v)
		}
		if mode == "enterprise" && (v["enterpriseVersion"] != "11.3.0" || v["enterpriseBuild"] == nil) {
			t.Errorf("enterprise root: %v", v)
		}
		if self := c.get("/sharing/rest/portals/self"); self["currentVersion"] != v["currentVersion"] {
			t.Errorf("%s: portals/self currentVersion %v, root %v", mode, self["currentVersion"], v["currentVersion"])
		}
	}
}

func TestPythonAPIBuiltInSignIn(t *testing.T) {
	s := startSim(t, Options{Items: 40})
	u := (&client{t: t, s: s}).user("admin")
	host := strings.TrimPrefix(s.Origin(), "http://")

	// Implicit grant with the built-in arcgisonline client, redirecting to
	// the portal itself (https even for a plain http portal).
	q := url.Values{"response_type": {"token"}, "client_id": {"arcgisonline"}, "redirect_uri": {"https://" + host},
		"state": {"st4te"}, "expiration": {"20160"}, "allow_verification": {"false"}, "style": {"dark"}, "locale": {"en-US"}}
	st := authorizePage(t, s, q)

	// Wrong password: the page again, with the message in oAuthInfo.
	resp, err := noFollow.PostForm(s.Origin()+"/sharing/oauth2/signin", url.Values{"oauth_state": {st}, "username": {u.Username}, "password": {"wrong"}, "expiration": {"20160"}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Header.Get("Location") != "" || !strings.Contains(string(oAuthInfo.Find(b)), "Invalid username or password.") {
		t.Fatalf("wrong password: %d %q %.300s", resp.StatusCode, resp.Header.Get("Location"), b)
	}

	resp, err = noFollow.PostForm(s.Origin()+"/sharing/oauth2/signin", url.Values{"oauth_state": {st}, "username": {u.Username}, "password": {u.Password}, "expiration": {"20160"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || err != nil || loc.Host != host {
		t.Fatalf("sign-in: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	frag, _ := url.ParseQuery(loc.Fragment)
	if frag.Get("state") != "st4te" || frag.Get("access_token") == "" || frag.Get("username") != u.Username || frag.Get("expires_in") == "" {
		t.Fatalf("token redirect fragment: %q", loc.Fragment)
	}
	// The API for Python sends the token in X-Esri-Authorization.
	req, _ := http.NewRequest(http.MethodGet, s.PortalURL()+"/sharing/rest/community/self?f=json", nil)
	req.Header.Set("X-Esri-Authorization", "Bearer "+frag.Get("access_token"))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if decode(t, b)["username"] != u.Username {
		t.Fatalf("implicit token does not sign in: %s", b)
	}
	// The state is single use.
	resp, err = noFollow.PostForm(s.Origin()+"/sharing/oauth2/signin", url.Values{"oauth_state": {st}, "username": {u.Username}, "password": {u.Password}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("oauth_state reused: %d", resp.StatusCode)
	}

	// Authorization code with the oob redirect: the sign-in ends on a page
	// titled "SUCCESS code=<code>", exchanged at oauth2/token.
	st = authorizePage(t, s, url.Values{"response_type": {"code"}, "client_id": {"arcgispro"}, "redirect_uri": {oob}, "expiration": {"20160"}})
	resp, err = http.PostForm(s.Origin()+"/sharing/oauth2/signin", url.Values{"oauth_state": {st}, "authorize": {"True"}, "username": {u.Username}, "password": {u.Password}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`<title>SUCCESS code=(.*?)</title>`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("no SUCCESS code title: %.300s", b)
	}
	tok := (&client{t: t, s: s}).post("/sharing/rest/oauth2/token", url.Values{"client_id": {"arcgispro"}, "grant_type": {"authorization_code"},
		"code": {string(m[1])}, "redirect_uri": {oob}})
	if tok["access_token"] == nil || tok["refresh_token"] == nil {
		t.Fatalf("code exchange: %v", tok)
	}

	// The built-in clients redirect nowhere else and have no secret.
	q.Set("redirect_uri", "https://evil.example")
	resp, err = noFollow.Get(s.PortalURL() + "/sharing/rest/oauth2/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("arcgisonline redirect to another host: %d", resp.StatusCode)
	}
	if cc := (&client{t: t, s: s}).post("/sharing/rest/oauth2/token", url.Values{"client_id": {"arcgisonline"}, "grant_type": {"client_credentials"}}); cc["access_token"] != nil {
		t.Errorf("client_credentials without a secret: %v", cc)
	}
}

func TestPythonAPIItemDependencies(t *testing.T) {
	s := startSim(t, Options{Items: 120, Mode: "enterprise"})
	admin := signIn(t, s, "admin")
	wm := firstItem(t, s, func(it *org.Item) bool { return it.Type == "Web Map" && len(it.Refs) > 0 })
	v := admin.get("/sharing/rest/content/items/" + wm.ID + "/dependencies")
	list, _ := v["list"].([]any)
	if v["error"] != nil || num(v["total"]) != len(list) || len(list) == 0 || num(v["nextStart"]) != -1 {
		t.Fatalf("dependencies of web map %s (refs %v): %v", wm.ID, wm.Refs, v)
	}
	var got []string
	for _, d := range list {
		m, _ := d.(map[string]any)
		if m["dependencyType"] != "id" {
			t.Errorf("dependency %v", m)
		}
		got = append(got, m["id"].(string))
	}
	for _, id := range got {
		if !slices.Contains(wm.Refs, id) {
			t.Errorf("web map %s depends on %s, not among its references %v", wm.ID, id, wm.Refs)
		}
	}
	// The reverse: the first referenced item lists the web map.
	back := admin.get("/sharing/rest/content/items/"+got[0]+"/dependencies/listDependentsTo", "num", "100")
	found := false
	for _, d := range back["list"].([]any) {
		found = found || d.(map[string]any)["id"] == wm.ID
	}
	if !found {
		t.Errorf("listDependentsTo %s misses web map %s: %v", got[0], wm.ID, back)
	}
	// ArcGIS Online has no such resource.
	on := startSim(t, Options{Items: 40})
	if errCode(signIn(t, on, "admin").get("/sharing/rest/content/items/"+on.Org().Items[0].ID+"/dependencies")) != 400 {
		t.Error("online mode serves item dependencies")
	}
}

func TestPythonAPIMetadataKeyword(t *testing.T) {
	s := startSim(t, Options{Items: 80})
	admin := signIn(t, s, "admin")
	with := firstItem(t, s, func(it *org.Item) bool { return it.HasMetadata })
	without := firstItem(t, s, func(it *org.Item) bool { return !it.HasMetadata })
	kw := func(id string) []any {
		v := admin.get("/sharing/rest/content/items/" + id)
		k, _ := v["typeKeywords"].([]any)
		return k
	}
	if k := kw(with.ID); !slices.Contains(k, any("Metadata")) {
		t.Errorf("item %s has metadata; typeKeywords %v", with.ID, k)
	}
	if k := kw(without.ID); slices.Contains(k, any("Metadata")) {
		t.Errorf("item %s has no metadata; typeKeywords %v", without.ID, k)
	}
	// Search matches the keyword too.
	res := admin.get("/sharing/rest/search", "q", `id:`+with.ID+` AND typekeywords:"Metadata"`)
	if num(res["total"]) != 1 {
		t.Errorf("search by the Metadata keyword: %v", res["total"])
	}
}

func TestPythonAPITileLayerAndJobs(t *testing.T) {
	s := startSim(t, Options{Items: 200, ExportTime: 300 * time.Millisecond})
	admin := signIn(t, s, "admin")
	it := firstItem(t, s, func(it *org.Item) bool { return it.Service != nil && it.Service.Kind == org.MapServer })
	base := strings.TrimPrefix(org.AbsURL(s.Origin(), it.URL), s.Origin())
	root := admin.get(base)
	layers, _ := root["layers"].([]any)
	if len(layers) != 1 {
		t.Fatalf("tile service root layers: %v", root["layers"])
	}
	l0 := admin.get(base + "/0")
	if l0["error"] != nil || num(l0["id"]) != 0 || l0["name"] != layers[0].(map[string]any)["name"] || l0["type"] == nil {
		t.Errorf("layer 0 of %s: %v", base, l0)
	}
	if errCode(admin.get(base+"/7")) != 400 {
		t.Errorf("a layer the root does not list answers")
	}

	// export_tiles: submit, poll the operation-scoped job URL, read the
	// result parameter, list the output folder, download the package.
	j := admin.post(base+"/exportTiles", url.Values{"levels": {"0-3"}, "tilePackage": {"true"}, "exportBy": {"LevelID"}})
	id, _ := j["jobId"].(string)
	if id == "" {
		t.Fatalf("exportTiles: %v", j)
	}
	job := base + "/exportTiles/jobs/" + id
	var st map[string]any
	deadline := time.Now().Add(10 * time.Second)
	for {
		st = admin.get(job)
		if st["jobStatus"] != "esriJobExecuting" && st["jobStatus"] != "esriJobSubmitted" || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if st["jobStatus"] != "esriJobSucceeded" {
		t.Fatalf("job at %s: %v", job, st)
	}
	if same := admin.get(base + "/jobs/" + id); same["jobStatus"] != "esriJobSucceeded" {
		t.Errorf("service-scoped job URL: %v", same)
	}
	ref := st["results"].(map[string]any)["out_service_url"].(map[string]any)["paramUrl"].(string)
	res := admin.get(job + "/" + ref)
	val, ok := res["value"].(string)
	if res["paramName"] != "out_service_url" || res["dataType"] != "GPString" || !ok || strings.HasSuffix(val, ".tpkx") {
		t.Fatalf("result parameter: %v", res)
	}
	out := admin.get(val)
	files, _ := out["files"].([]any)
	if len(files) != 1 {
		t.Fatalf("output folder %s: %v", val, out)
	}
	f := files[0].(map[string]any)
	_, b := admin.do(http.MethodGet, f["url"].(string), url.Values{})
	if !strings.HasSuffix(f["name"].(string), ".tpkx") || !strings.HasPrefix(string(b), "PK") {
		t.Errorf("package %v: %.8q", f, b)
	}
}

func TestQueryOutSR(t *testing.T) {
	s := startSim(t, Options{Items: 80})
	admin := signIn(t, s, "admin")
	it := firstItem(t, s, func(it *org.Item) bool {
		return it.Service != nil && it.Service.Kind == org.FeatureServer && len(it.Service.Layers) > 0 && !it.Service.Layers[0].IsTable && it.Service.Layers[0].RowCount() > 0
	})
	q := strings.TrimPrefix(org.AbsURL(s.Origin(), it.URL), s.Origin()) + "/0/query"
	coords := func(v map[string]any) (x, y float64, wkid int) {
		t.Helper()
		feats, _ := v["features"].([]any)
		if len(feats) == 0 {
			t.Fatalf("no features: %.300v", v)
		}
		g := feats[0].(map[string]any)["geometry"].(map[string]any)
		if gx, ok := g["x"].(float64); ok {
			x, y = gx, g["y"].(float64)
		} else {
			for _, k := range []string{"paths", "rings"} {
				if p, ok := g[k].([]any); ok {
					pt := p[0].([]any)[0].([]any)
					x, y = pt[0].(float64), pt[1].(float64)
				}
			}
		}
		sr, _ := v["spatialReference"].(map[string]any)
		return x, y, num(sr["wkid"])
	}
	base := []string{"where", "1=1", "outFields", "*", "resultRecordCount", "1"}
	mx, my, w := coords(admin.get(q, base...))
	if w != 102100 || mx > -1e7 || my < 4e6 {
		t.Fatalf("default: (%v, %v) in %d, want Web Mercator", mx, my, w)
	}
	for _, sr := range []string{"4326", `{"wkid":4326}`} {
		lon, lat, w := coords(admin.get(q, append(base, "outSR", sr)...))
		if w != 4326 || lon < -123 || lon > -122 || lat < 37.4 || lat > 38 {
			t.Errorf("outSR %s: (%v, %v) in %d, want WGS84 degrees over the org's city", sr, lon, lat, w)
		}
		if x, y := wgs84toMercator(lon, lat); math.Abs(x-mx) > 0.01 || math.Abs(y-my) > 0.01 {
			t.Errorf("outSR %s: (%v, %v) is (%v, %v) in Web Mercator, the default answer says (%v, %v)", sr, lon, lat, x, y, mx, my)
		}
	}
	for _, sr := range []string{"102100", "3857", `{"wkid":102100,"latestWkid":3857}`} {
		if x, y, w := coords(admin.get(q, append(base, "outSR", sr)...)); x != mx || y != my || w != 102100 {
			t.Errorf("outSR %s: (%v, %v) in %d, want the input (%v, %v)", sr, x, y, w, mx, my)
		}
	}
	if errCode(admin.get(q, append(base, "outSR", "2227")...)) != 400 {
		t.Error("an outSR the simulator cannot project to is not refused")
	}
	// GeoJSON is WGS84 by default.
	gj := admin.get(q, "where", "1=1", "resultRecordCount", "1", "f", "geojson")
	g := gj["features"].([]any)[0].(map[string]any)["geometry"].(map[string]any)
	c := g["coordinates"].([]any)
	for len(c) > 0 {
		if f, ok := c[0].(float64); ok {
			if f < -123 || f > -122 {
				t.Errorf("GeoJSON longitude %v", f)
			}
			break
		}
		c = c[0].([]any)
	}
}
