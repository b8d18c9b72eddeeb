package sim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/agolpipe/agolpipe/sim/org"
)

// jsonType names the JSON type of a decoded value.
func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

// sameShape reports where got differs from the fixture want: every key of
// want must be in got with the same JSON type (null matches anything, as
// ArcGIS sends null for unset fields); arrays compare their first elements.
// Keys in free are not descended into (their content is endpoint-specific).
func sameShape(path string, want, got any, free map[string]bool) []string {
	if want == nil || got == nil {
		return nil
	}
	if jsonType(want) != jsonType(got) {
		return []string{fmt.Sprintf("%s: type %s, fixture has %s", path, jsonType(got), jsonType(want))}
	}
	var diffs []string
	switch w := want.(type) {
	case map[string]any:
		g := got.(map[string]any)
		keys := make([]string, 0, len(w))
		for k := range w {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			gv, ok := g[k]
			if !ok {
				diffs = append(diffs, fmt.Sprintf("%s.%s: missing", path, k))
				continue
			}
			if free[k] {
				continue
			}
			diffs = append(diffs, sameShape(path+"."+k, w[k], gv, free)...)
		}
	case []any:
		g := got.([]any)
		if len(w) > 0 && len(g) > 0 {
			diffs = append(diffs, sameShape(path+"[0]", w[0], g[0], free)...)
		}
	}
	return diffs
}

func loadFixture(t *testing.T, name string) any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "fixtures", name))
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}

// TestFixtures compares each endpoint's response with the real response
// body recorded for it (testdata/fixtures, from Esri's own test suites).
func TestFixtures(t *testing.T) {
	s := startSim(t, Options{})
	admin := signIn(t, s, "admin")
	backup := signIn(t, s, "custom_admin")
	pub := signIn(t, s, "publisher")
	anon := &client{t: t, s: s}
	adminName := admin.user("admin").Username
	pubName := pub.user("publisher").Username

	hosted := firstItem(t, s, func(it *org.Item) bool {
		return it.Service != nil && it.Service.Kind == org.FeatureServer && !it.Service.IsView && len(it.Service.Layers) > 1 && it.Service.Layers[0].HasAttachments
	})
	view := firstItem(t, s, func(it *org.Item) bool { return it.Service != nil && it.Service.IsView })
	webmap := firstItem(t, s, func(it *org.Item) bool { return it.Type == "Web Map" && len(it.Refs) > 0 })
	withRes := firstItem(t, s, func(it *org.Item) bool { return len(it.Resources) > 0 })
	form := firstItem(t, s, func(it *org.Item) bool { return it.Type == "Form" && len(it.Related) > 0 })
	shared := firstItem(t, s, func(it *org.Item) bool { return len(it.Groups) > 0 })
	bigPoints := firstItem(t, s, func(it *org.Item) bool {
		return it.Service != nil && it.Service.Kind == org.FeatureServer && it.Service.Layers[0].Geometry == "esriGeometryPoint" && it.Service.Layers[0].Rows > 20
	})
	tiles := firstItem(t, s, func(it *org.Item) bool { return it.Service != nil && it.Service.Kind == org.MapServer })
	var groupID string
	s.Org().Mu.RLock()
	groupID = s.Org().Groups[0].ID
	s.Org().Mu.RUnlock()
	fs := func(it *org.Item) string { return strings.TrimPrefix(org.AbsURL(s.Origin(), it.URL), s.Origin()) }

	// A completed export for the status and export fixtures.
	exp := admin.post("/sharing/rest/content/users/"+adminName+"/export", url.Values{"itemId": {hosted.ID}, "exportFormat": {"CSV"}})
	expID, _ := exp["exportItemId"].(string)

	cases := []struct {
		fixture string
		free    []string
		get     func() map[string]any
	}{
		{"auth/generate-token.json", nil, func() map[string]any {
			u := admin.user("publisher")
			return anon.post("/sharing/rest/generateToken", url.Values{"username": {u.Username}, "password": {u.Password}, "client": {"referer"}, "referer": {"x"}})
		}},
		{"auth/oauth2-token-authorization-code.json", nil, func() map[string]any {
			return oauthCodeFlow(t, s, admin.user("publisher"), url.Values{})
		}},
		{"auth/sharing-rest-info.json", nil, func() map[string]any { return anon.get("/sharing/rest/info") }},
		{"content/user-content.json", nil, func() map[string]any { return admin.get("/sharing/rest/content/users/"+pubName, "num", "2") }},
		{"errors/error-400-add-to-definition.json", nil, func() map[string]any {
			return admin.post(fs(hosted)[:strings.Index(fs(hosted), "/rest/")]+"/rest/admin/services/"+hosted.Service.Name+"/FeatureServer/addToDefinition", url.Values{"addToDefinition": {"{not json"}})
		}},
		{"errors/error-400-feature-service-invalid-params.json", nil, func() map[string]any {
			return admin.get(fs(hosted)+"/0/query", "where", "OBJECTID > abc")
		}},
		{"errors/error-400-generate-token-failed.json", nil, func() map[string]any {
			return anon.post("/sharing/rest/generateToken", url.Values{"username": {adminName}, "password": {"wrong"}})
		}},
		{"errors/error-400-item-not-found-CONT_0001.json", nil, func() map[string]any {
			return admin.get("/sharing/rest/content/items/00000000000000000000000000000000")
		}},
		{"errors/error-400-missing-type-title.json", nil, func() map[string]any {
			return admin.post("/sharing/rest/content/users/"+adminName+"/addItem", url.Values{"title": {"no type"}})
		}},
		{"errors/error-403-no-permission.json", nil, func() map[string]any {
			return pub.get("/sharing/rest/content/users/" + adminName)
		}},
		{"errors/error-498-invalid-token.json", nil, func() map[string]any {
			return anon.get("/sharing/rest/portals/self", "token", "not-a-token")
		}},
		{"errors/error-498-refresh-token-expired.json", nil, func() map[string]any {
			tok := oauthCodeFlow(t, s, admin.user("publisher"), url.Values{})
			s.ExpireRefreshTokens()
			return anon.post("/sharing/rest/oauth2/token", url.Values{"client_id": {s.OAuthClientID()}, "grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}})
		}},
		{"errors/error-499-token-required.json", nil, func() map[string]any { return anon.get("/sharing/rest/community/self") }},
		{"errors/error-500-item-has-no-file.json", nil, func() map[string]any {
			slow := startSim(t, Options{ExportTime: time.Hour})
			a := signIn(t, slow, "admin")
			fsItem := firstItem(t, slow, func(it *org.Item) bool { return it.Service != nil && it.Service.Kind == org.FeatureServer })
			r := a.post("/sharing/rest/content/users/"+a.user("admin").Username+"/export", url.Values{"itemId": {fsItem.ID}, "exportFormat": {"File Geodatabase"}})
			_, b := a.do(http.MethodGet, "/sharing/rest/content/items/"+r["exportItemId"].(string)+"/data", url.Values{})
			return decode(t, b)
		}},
		{"featureservice/add-to-definition-success.json", nil, func() map[string]any {
			cs := admin.post("/sharing/rest/content/users/"+adminName+"/createService", url.Values{"outputType": {"featureService"}, "createParameters": {`{"name":"FixtureSvc","maxRecordCount":1000,"capabilities":"Query"}`}})
			u := strings.TrimPrefix(cs["serviceurl"].(string), s.Origin())
			admu := strings.Replace(u, "/rest/services/", "/rest/admin/services/", 1)
			return admin.post(admu+"/addToDefinition", url.Values{"addToDefinition": {`{"layers":[{"name":"Cyd","geometryType":"esriGeometryPoint"}],"tables":[{"name":"Gene"}]}`}})
		}},
		{"featureservice/attachments.json", nil, func() map[string]any {
			for oid := 1; ; oid++ {
				v := admin.get(fs(hosted) + fmt.Sprintf("/0/%d/attachments", oid))
				if a, _ := v["attachmentInfos"].([]any); len(a) > 0 || oid > 50 {
					return v
				}
			}
		}},
		{"featureservice/create-service-response.json", nil, func() map[string]any {
			return admin.post("/sharing/rest/content/users/"+adminName+"/createService", url.Values{"outputType": {"featureService"}, "createParameters": {`{"name":"EmptyServiceName"}`}})
		}},
		// Layer definitions carry endpoint-specific renderers and templates.
		{"featureservice/feature-layer.json", []string{"drawingInfo", "types", "relationships"}, func() map[string]any { return admin.get(fs(hosted) + "/0") }},
		{"featureservice/featureserver-layers.json", []string{"timeInfo", "drawingInfo", "relationships"}, func() map[string]any { return admin.get(fs(hosted) + "/layers") }},
		{"featureservice/featureserver-root.json", []string{"validationSystemLayers", "relationships"}, func() map[string]any { return admin.get(fs(hosted)) }},
		{"featureservice/featureserver-sources.json", nil, func() map[string]any { return admin.get(fs(view) + "/sources") }},
		{"featureservice/layer-query.json", []string{"attributes"}, func() map[string]any {
			return admin.get(fs(hosted)+"/0/query", "where", "1=1", "outFields", "*")
		}},
		{"featureservice/layer-query-points-exceeded-transfer-limit.json", []string{"attributes"}, func() map[string]any {
			return admin.get(fs(bigPoints)+"/0/query", "where", "1=1", "outFields", "*", "resultRecordCount", "5")
		}},
		{"groups/community-groups-search.json", nil, func() map[string]any {
			return admin.get("/sharing/rest/community/groups", "q", "orgid:"+s.OrgID(), "num", "1")
		}},
		{"groups/group-content.json", nil, func() map[string]any { return admin.get("/sharing/rest/content/groups/"+groupID, "num", "1") }},
		{"groups/group.json", nil, func() map[string]any { return admin.get("/sharing/rest/community/groups/" + groupID) }},
		{"items/export-item-response.json", nil, func() map[string]any { return exp }},
		{"items/item-add-or-update-success.json", nil, func() map[string]any {
			return pub.post("/sharing/rest/content/users/"+pubName+"/addItem", url.Values{"title": {"Notes"}, "type": {"Web Map"}, "text": {`{"operationalLayers":[]}`}})
		}},
		{"items/item-data-webmap.json", []string{"layerDefinition"}, func() map[string]any {
			return admin.get("/sharing/rest/content/items/" + webmap.ID + "/data")
		}},
		{"items/item-groups.json", nil, func() map[string]any {
			return admin.get("/sharing/rest/content/items/" + shared.ID + "/groups")
		}},
		{"items/item-resources-with-access.json", nil, func() map[string]any {
			return admin.get("/sharing/rest/content/items/" + withRes.ID + "/resources")
		}},
		{"items/item-resources.json", nil, func() map[string]any {
			return admin.get("/sharing/rest/content/items/" + withRes.ID + "/resources")
		}},
		{"items/item-status-completed.json", nil, func() map[string]any {
			return admin.get("/sharing/rest/content/users/"+adminName+"/items/"+expID+"/status", "jobId", exp["jobId"].(string), "jobType", "export")
		}},
		// The fixture's properties are a Hub item's; properties are free-form.
		{"items/related-items.json", []string{"properties"}, func() map[string]any {
			return admin.get("/sharing/rest/content/items/"+form.ID+"/relatedItems", "relationshipType", "Survey2Service")
		}},
		{"jobs/gp-job-succeeded.json", []string{"results"}, func() map[string]any {
			j := admin.post(fs(tiles)+"/exportTiles", url.Values{"levels": {"0-3"}, "tilePackage": {"true"}})
			return admin.get(fs(tiles) + "/jobs/" + j["jobId"].(string))
		}},
		{"portal/community-self-org-admin.json", nil, func() map[string]any { return admin.get("/sharing/rest/community/self") }},
		{"portal/community-user-org-publisher.json", nil, func() map[string]any {
			return admin.get("/sharing/rest/community/users/" + backup.user("custom_admin").Username)
		}},
		{"portal/portals-self-users-search.json", nil, func() map[string]any {
			return admin.get("/sharing/rest/portals/self/users/search", "q", "role:org_user OR role:org_publisher", "num", "100")
		}},
		{"portal/portals-self.json", []string{"user", "subscriptionInfo", "defaultBasemap"}, func() map[string]any {
			return admin.get("/sharing/rest/portals/self")
		}},
		{"search/search-items.json", nil, func() map[string]any {
			return admin.get("/sharing/rest/search", "q", `typekeywords:"Survey123"`, "num", "1")
		}},
	}
	seen := map[string]bool{}
	for _, tc := range cases {
		seen[tc.fixture] = true
		t.Run(tc.fixture, func(t *testing.T) {
			want := loadFixture(t, tc.fixture)
			got := tc.get()
			free := map[string]bool{}
			for _, k := range tc.free {
				free[k] = true
			}
			if wantErr, ok := want.(map[string]any)["error"]; ok {
				if errCode(got) != int(wantErr.(map[string]any)["code"].(float64)) {
					t.Errorf("error code %d, fixture has %v: %v", errCode(got), wantErr.(map[string]any)["code"], got)
				}
			} else if got["error"] != nil {
				t.Fatalf("unexpected error: %v", got["error"])
			}
			for _, d := range sameShape("$", want, got, free) {
				t.Error(d)
			}
		})
	}
	// Every fixture has a case.
	filepath.Walk(filepath.Join("testdata", "fixtures"), func(p string, info os.FileInfo, err error) error {
		if err == nil && strings.HasSuffix(p, ".json") {
			rel, _ := filepath.Rel(filepath.Join("testdata", "fixtures"), p)
			if !seen[filepath.ToSlash(rel)] {
				t.Errorf("fixture %s has no test case", rel)
			}
		}
		return nil
	})
}

// oauthCodeFlow signs in through /oauth2/authorize with PKCE and the oob
// redirect, reads the code from the page and exchanges it.
func oauthCodeFlow(t testing.TB, s *Server, u User, extra url.Values) map[string]any {
	t.Helper()
	verifier := "verifier-0123456789-0123456789-0123456789-abcdef"
	form := url.Values{"client_id": {s.OAuthClientID()}, "response_type": {"code"}, "redirect_uri": {"urn:ietf:wg:oauth:2.0:oob"},
		"code_challenge": {pkceChallenge(verifier)}, "code_challenge_method": {"S256"}, "username": {u.Username}, "password": {u.Password}}
	for k, v := range extra {
		form[k] = v
	}
	c := &client{t: t, s: s}
	_, page := c.do(http.MethodPost, "/sharing/rest/oauth2/authorize", form)
	code := between(string(page), `id="code" readonly value="`, `"`)
	if code == "" {
		t.Fatalf("no code on the oob page: %s", page)
	}
	return c.post("/sharing/rest/oauth2/token", url.Values{"client_id": {s.OAuthClientID()}, "grant_type": {"authorization_code"},
		"code": {code}, "redirect_uri": {"urn:ietf:wg:oauth:2.0:oob"}, "code_verifier": {verifier}})
}

func between(s, a, b string) string {
	i := strings.Index(s, a)
	if i < 0 {
		return ""
	}
	s = s[i+len(a):]
	j := strings.Index(s, b)
	if j < 0 {
		return ""
	}
	return s[:j]
}
