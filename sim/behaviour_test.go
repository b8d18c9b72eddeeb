package sim

import (
	"archive/zip"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/agolpipe/agolpipe/sim/org"
)

func num(v any) int {
	f, _ := v.(float64)
	return int(f)
}

func TestSearchPaging(t *testing.T) {
	s := startSim(t, Options{Items: 10250})
	admin := signIn(t, s, "admin")
	q := "orgid:" + s.OrgID()
	tests := []struct {
		name                            string
		start, num                      string
		wantStart, wantNum, wantResults int
		wantNext                        int
	}{
		{"default page", "", "", 1, 10, 10, 11},
		{"num capped at 100", "1", "500", 1, 100, 100, 101},
		{"num=0 counts only", "1", "0", 1, 0, 0, -1},
		// Past the cap: the last reachable page again, and the end.
		{"past the cap", "10201", "100", 10201, 100, 100, -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := admin.get("/sharing/rest/search", "q", q, "start", tc.start, "num", tc.num)
			res, _ := v["results"].([]any)
			if num(v["total"]) != 10250 || num(v["start"]) != tc.wantStart || num(v["num"]) != tc.wantNum || len(res) != tc.wantResults || num(v["nextStart"]) != tc.wantNext {
				t.Errorf("total=%v start=%v num=%v results=%d nextStart=%v", v["total"], v["start"], v["num"], len(res), v["nextStart"])
			}
		})
	}
	// Past 10,000 results the service repeats the last reachable page.
	ids := func(start int) string {
		v := admin.get("/sharing/rest/search", "q", q, "start", strconv.Itoa(start), "num", "100")
		var b strings.Builder
		for _, r := range v["results"].([]any) {
			b.WriteString(r.(map[string]any)["id"].(string))
		}
		return b.String()
	}
	if a, b := ids(9901), ids(10001); a != b {
		t.Error("the page past the 10,000 cap differs from the last reachable page")
	}
	if a, b := ids(9801), ids(9901); a == b {
		t.Error("pages below the cap repeat")
	}
}

func TestVisibility(t *testing.T) {
	s := startSim(t, Options{})
	admin := signIn(t, s, "admin")
	viewer := signIn(t, s, "viewer")
	anon := &client{t: t, s: s}
	count := func(c *client) int {
		return num(c.get("/sharing/rest/search", "q", "orgid:"+s.OrgID(), "num", "0")["total"])
	}
	var all, public, private int
	s.Org().Mu.RLock()
	for _, it := range s.Org().Items {
		all++
		if it.Access == org.AccessPublic {
			public++
		}
		if it.Access == org.AccessPrivate {
			private++
		}
	}
	s.Org().Mu.RUnlock()
	if got := count(admin); got != all {
		t.Errorf("admin search total %d, want all %d", got, all)
	}
	if got := count(anon); got != public {
		t.Errorf("anonymous search total %d, want public %d", got, public)
	}
	if got := count(viewer); got >= all-private+1 || got < public {
		t.Errorf("viewer search total %d: should see public and org items, not others' private ones (all %d, private %d)", got, all, private)
	}
	viewerName := viewer.user("viewer").Username
	priv := firstItem(t, s, func(it *org.Item) bool { return it.Access == org.AccessPrivate && it.Owner != viewerName })
	tests := []struct {
		name string
		c    *client
		path string
		want int
	}{
		{"anonymous private item", anon, "/sharing/rest/content/items/" + priv.ID, 499},
		{"viewer private item", viewer, "/sharing/rest/content/items/" + priv.ID, 403},
		{"admin private item", admin, "/sharing/rest/content/items/" + priv.ID, 0},
		{"viewer deep-lists another user", viewer, "/sharing/rest/content/users/" + priv.Owner, 403},
		{"admin deep-lists another user", admin, "/sharing/rest/content/users/" + priv.Owner, 0},
		{"anonymous user list", anon, "/sharing/rest/portals/self/users", 499},
		{"missing item", admin, "/sharing/rest/content/items/ffffffffffffffffffffffffffffffff", 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := errCode(tc.c.get(tc.path)); got != tc.want {
				t.Errorf("error code %d, want %d", got, tc.want)
			}
		})
	}
	// Without f=json ArcGIS answers HTML.
	_, body := admin.do(http.MethodGet, "/sharing/rest/portals/self", url.Values{})
	if !bytes.HasPrefix(body, []byte("<html")) {
		t.Errorf("no f=json: got %.40q, want HTML", body)
	}
}

func TestTokens(t *testing.T) {
	s := startSim(t, Options{TokenTTL: time.Minute})
	admin := signIn(t, s, "admin")
	v := admin.post("/sharing/rest/generateToken", url.Values{"username": {admin.user("admin").Username}, "password": {admin.user("admin").Password}, "expiration": {"600"}})
	exp := time.UnixMilli(int64(v["expires"].(float64)))
	if d := time.Until(exp); d > time.Minute+time.Second || d < 50*time.Second {
		t.Errorf("token lives %s; TokenTTL caps it at 1m", d)
	}
	if errCode(admin.get("/sharing/rest/community/self")) != 0 {
		t.Fatal("fresh token refused")
	}
	s.ExpireTokens()
	if got := errCode(admin.get("/sharing/rest/community/self")); got != 498 {
		t.Errorf("expired token: error %d, want 498", got)
	}
	// generateToken over GET is refused: passwords never go in URLs.
	_, b := admin.do(http.MethodGet, "/sharing/rest/generateToken", url.Values{"username": {"a"}, "password": {"b"}, "f": {"json"}})
	if errCode(decode(t, b)) != 400 {
		t.Error("generateToken accepted GET")
	}
	// Bearer headers work like the token parameter.
	c := signIn(t, s, "publisher")
	req, _ := http.NewRequest(http.MethodGet, s.PortalURL()+"/sharing/rest/community/self?f=json", nil)
	req.Header.Set("X-Esri-Authorization", "Bearer "+c.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if v := decode(t, body); v["username"] != c.user("publisher").Username {
		t.Errorf("X-Esri-Authorization: %v", v)
	}
}

func TestOAuth(t *testing.T) {
	s := startSim(t, Options{})
	u := (&client{t: t, s: s}).userOf("publisher")
	tok := oauthCodeFlow(t, s, u, url.Values{"expiration": {"1440"}})
	if tok["access_token"] == nil || num(tok["expires_in"]) != 1800 || num(tok["refresh_token_expires_in"]) != 86400 {
		t.Fatalf("authorization_code: %v", tok)
	}
	anon := &client{t: t, s: s}
	ref := anon.post("/sharing/rest/oauth2/token", url.Values{"client_id": {s.OAuthClientID()}, "grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}})
	if ref["access_token"] == nil || ref["refresh_token"] != nil {
		t.Errorf("refresh_token grant: %v", ref)
	}
	ex := anon.post("/sharing/rest/oauth2/token", url.Values{"client_id": {s.OAuthClientID()}, "grant_type": {"exchange_refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}, "redirect_uri": {"urn:ietf:wg:oauth:2.0:oob"}})
	if ex["access_token"] == nil || ex["refresh_token"] == nil || ex["refresh_token"] == tok["refresh_token"] {
		t.Errorf("exchange_refresh_token: %v", ex)
	}
	// The old refresh token is gone after an exchange.
	if errCode(anon.post("/sharing/rest/oauth2/token", url.Values{"client_id": {s.OAuthClientID()}, "grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}})) != 400 {
		t.Error("exchanged refresh token still works")
	}
	// The new access token works.
	c := &client{t: t, s: s, token: ex["access_token"].(string)}
	if c.get("/sharing/rest/community/self")["username"] != u.Username {
		t.Error("exchanged access token does not sign in")
	}

	// Loopback redirect: 302 to the app with code and state.
	verifier := "another-verifier-abcdefghijklmnopqrstuvwxyz-0123456789"
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	form := url.Values{"client_id": {s.OAuthClientID()}, "response_type": {"code"}, "redirect_uri": {"http://127.0.0.1:49152/callback"},
		"state": {"xyz"}, "code_challenge": {pkceChallenge(verifier)}, "code_challenge_method": {"S256"}, "username": {u.Username}, "password": {u.Password}}
	resp, err := noRedirect.PostForm(s.PortalURL()+"/sharing/rest/oauth2/authorize", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || loc == nil || loc.Query().Get("state") != "xyz" || loc.Query().Get("code") == "" {
		t.Fatalf("loopback redirect: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	bad := anon.post("/sharing/rest/oauth2/token", url.Values{"client_id": {s.OAuthClientID()}, "grant_type": {"authorization_code"},
		"code": {loc.Query().Get("code")}, "redirect_uri": {"http://127.0.0.1:49152/callback"}, "code_verifier": {"wrong"}})
	if errCode(bad) != 400 {
		t.Errorf("wrong PKCE verifier accepted: %v", bad)
	}
	// Unregistered redirects are refused.
	form.Set("redirect_uri", "https://evil.example/cb")
	resp, err = noRedirect.PostForm(s.PortalURL()+"/sharing/rest/oauth2/authorize", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("unregistered redirect: status %d", resp.StatusCode)
	}
}

func (c *client) userOf(kind string) User { return c.user(kind) }

func TestAPIKey(t *testing.T) {
	s := startSim(t, Options{})
	keys := s.APIKeys()
	if len(keys) == 0 {
		t.Fatal("no API keys")
	}
	c := &client{t: t, s: s, token: keys[0]}
	orgItem := firstItem(t, s, func(it *org.Item) bool { return it.Access == org.AccessOrg })
	priv := firstItem(t, s, func(it *org.Item) bool { return it.Access == org.AccessPrivate })
	if errCode(c.get("/sharing/rest/content/items/"+orgItem.ID)) != 0 {
		t.Error("API key cannot read an org item")
	}
	if errCode(c.get("/sharing/rest/content/items/"+priv.ID)) != 403 {
		t.Error("API key reads a private item")
	}
	if got := errCode(c.post("/sharing/rest/content/users/"+orgItem.Owner+"/addItem", url.Values{"title": {"x"}, "type": {"PDF"}})); got != 403 {
		t.Errorf("API key write: error %d, want 403", got)
	}
}

func TestData(t *testing.T) {
	s := startSim(t, Options{})
	admin := signIn(t, s, "admin")
	pdf := firstItem(t, s, func(it *org.Item) bool { return it.Type == "PDF" })
	csv := firstItem(t, s, func(it *org.Item) bool { return it.Type == "CSV" })
	svc := firstItem(t, s, func(it *org.Item) bool { return it.Type == "Feature Service" })
	nb := firstItem(t, s, func(it *org.Item) bool { return it.Type == "Notebook" })
	get := func(id, rng string) (*http.Response, []byte) {
		req, _ := http.NewRequest(http.MethodGet, s.PortalURL()+"/sharing/rest/content/items/"+id+"/data?token="+admin.token, nil)
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	resp, whole := get(pdf.ID, "")
	if int64(len(whole)) != pdf.Size || !bytes.HasPrefix(whole, []byte("%PDF")) || resp.Header.Get("Content-Type") != "application/pdf" {
		t.Errorf("pdf: %d bytes (item size %d), type %q", len(whole), pdf.Size, resp.Header.Get("Content-Type"))
	}
	resp, part := get(pdf.ID, "bytes=100-199")
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(part, whole[100:200]) {
		t.Errorf("range: status %d, %d bytes", resp.StatusCode, len(part))
	}
	_, c := get(csv.ID, "")
	if !bytes.HasPrefix(c, []byte("OBJECTID,")) || int64(len(c)) != csv.Size {
		t.Errorf("csv: %.40q, %d bytes", c, len(c))
	}
	resp, empty := get(svc.ID, "")
	if resp.StatusCode != 200 || len(empty) != 0 {
		t.Errorf("service item data: status %d, %d bytes; want an empty body", resp.StatusCode, len(empty))
	}
	_, j := get(nb.ID, "")
	if decode(t, j)["cells"] == nil {
		t.Error("notebook data is not an ipynb")
	}
	withMeta := firstItem(t, s, func(it *org.Item) bool { return it.HasMetadata })
	noMeta := firstItem(t, s, func(it *org.Item) bool { return !it.HasMetadata })
	r1, m := admin.do(http.MethodGet, "/sharing/rest/content/items/"+withMeta.ID+"/info/metadata/metadata.xml", url.Values{})
	r2, _ := admin.do(http.MethodGet, "/sharing/rest/content/items/"+noMeta.ID+"/info/metadata/metadata.xml", url.Values{})
	if r1.StatusCode != 200 || !bytes.Contains(m, []byte("<metadata")) || r2.StatusCode != 404 {
		t.Errorf("metadata: %d %.30q; without: %d", r1.StatusCode, m, r2.StatusCode)
	}
	thumb := firstItem(t, s, func(it *org.Item) bool { return it.Thumbnail != "" })
	_, png := admin.do(http.MethodGet, "/sharing/rest/content/items/"+thumb.ID+"/info/"+thumb.Thumbnail, url.Values{})
	if !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Error("thumbnail is not a PNG")
	}
	res := firstItem(t, s, func(it *org.Item) bool { return len(it.Resources) > 1 })
	for _, r := range res.Resources {
		_, b := admin.do(http.MethodGet, "/sharing/rest/content/items/"+res.ID+"/resources/"+r.Path, url.Values{})
		if int64(len(b)) != r.Size {
			t.Errorf("resource %s: %d bytes, listed %d", r.Path, len(b), r.Size)
		}
	}
}

func readZip(t *testing.T, b []byte) map[string]string {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("not a zip: %v", err)
	}
	out := map[string]string{}
	for _, f := range zr.File {
		rc, _ := f.Open()
		data, _ := io.ReadAll(rc)
		rc.Close()
		out[f.Name] = string(data)
	}
	return out
}

func TestExport(t *testing.T) {
	faulty := map[string]ExportFault{}
	s0 := startSim(t, Options{})
	var failID, hangID, attID string
	s0.Org().Mu.RLock()
	for _, it := range s0.Org().Items {
		if it.Service == nil || it.Service.Kind != org.FeatureServer || it.Service.IsView {
			continue
		}
		switch {
		case failID == "":
			failID = it.ID
		case hangID == "":
			hangID = it.ID
		case attID == "" && it.Service.Layers[0].HasAttachments:
			attID = it.ID
		}
	}
	s0.Org().Mu.RUnlock()
	faulty[failID], faulty[hangID], faulty[attID] = ExportFail, ExportHang, ExportAttachmentError

	for _, mode := range []string{"online", "enterprise"} {
		t.Run(mode, func(t *testing.T) {
			s := startSim(t, Options{Mode: mode, ExportTime: 100 * time.Millisecond, ExportFaults: faulty})
			admin := signIn(t, s, "admin")
			name := admin.user("admin").Username
			run := func(id, format, params string) (map[string]any, string) {
				r := admin.post("/sharing/rest/content/users/"+name+"/export", url.Values{"itemId": {id}, "exportFormat": {format}, "exportParameters": {params}})
				if errCode(r) != 0 {
					t.Fatalf("export: %v", r)
				}
				var st map[string]any
				for i := 0; i < 15; i++ {
					st = admin.get("/sharing/rest/content/users/"+name+"/items/"+r["exportItemId"].(string)+"/status", "jobId", r["jobId"].(string), "jobType", "export")
					if st["status"] != "processing" {
						break
					}
					time.Sleep(20 * time.Millisecond)
				}
				return r, st["status"].(string)
			}
			ok := firstItem(t, s, func(it *org.Item) bool {
				return it.Service != nil && it.Service.Kind == org.FeatureServer && faulty[it.ID] == "" && len(it.Service.Layers) > 1 && it.Service.Layers[0].Rows < 5000
			})
			r, st := run(ok.ID, "File Geodatabase", "")
			if st != "completed" {
				t.Fatalf("export status %q", st)
			}
			expID := r["exportItemId"].(string)
			if got := s.TempItems(); len(got) != 1 || got[0] != expID {
				t.Errorf("TempItems %v, want [%s]", got, expID)
			}
			_, body := admin.do(http.MethodGet, "/sharing/rest/content/items/"+expID+"/data", url.Values{})
			files := readZip(t, body)
			if !strings.Contains(files["manifest.json"], `"sourceItemId":"`+ok.ID+`"`) {
				t.Errorf("manifest: %s", files["manifest.json"])
			}
			if n := strings.Count(files["0.jsonl"], "\n"); n != ok.Service.Layers[0].Rows {
				t.Errorf("layer 0 rows in export: %d, want %d", n, ok.Service.Layers[0].Rows)
			}
			item := admin.get("/sharing/rest/content/items/" + expID)
			if num(item["size"]) != len(body) {
				t.Errorf("export item size %v, data %d bytes", item["size"], len(body))
			}
			// Resume: a range of the export equals the same bytes.
			req, _ := http.NewRequest(http.MethodGet, s.PortalURL()+"/sharing/rest/content/items/"+expID+"/data?token="+admin.token, nil)
			req.Header.Set("Range", "bytes=10-")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			tail, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(tail, body[10:]) {
				t.Errorf("export range: status %d", resp.StatusCode)
			}

			if _, st := run(failID, "File Geodatabase", ""); st != "failed" {
				t.Errorf("fail mode: %q", st)
			}
			if _, st := run(hangID, "CSV", ""); st != "processing" {
				t.Errorf("hang mode: %q", st)
			}
			if _, st := run(attID, "File Geodatabase", ""); st != "failed" {
				t.Errorf("attachment mode with attachments: %q", st)
			}
			if _, st := run(attID, "Shapefile", ""); st != "completed" {
				t.Errorf("attachment mode without attachments (Shapefile): %q", st)
			}
			if _, st := run(attID, "File Geodatabase", `{"includeAttachments":false}`); st != "completed" {
				t.Errorf("attachment mode, attachments excluded: %q", st)
			}

			del := admin.post("/sharing/rest/content/users/"+name+"/items/"+expID+"/delete", url.Values{"permanentDelete": {"true"}})
			if del["success"] != true {
				t.Fatalf("delete: %v", del)
			}
			bin := s.RecycleBin()
			inBin := false
			for _, id := range bin {
				inBin = inBin || id == expID
			}
			if inBin != (mode == "enterprise") {
				t.Errorf("%s: export in recycle bin = %v after permanentDelete", mode, inBin)
			}
			var exports int
			for _, rq := range s.Requests() {
				if rq.Endpoint == "export" && rq.Write {
					exports++
				}
			}
			if exports != 6 {
				t.Errorf("request log: %d export jobs, want 6", exports)
			}
		})
	}
}

func TestFeatureService(t *testing.T) {
	s := startSim(t, Options{ExportTime: 50 * time.Millisecond})
	admin := signIn(t, s, "admin")
	svc := firstItem(t, s, func(it *org.Item) bool {
		return it.Service != nil && it.Service.Kind == org.FeatureServer && it.Service.Layers[0].Rows > 2500 && it.Service.Layers[0].HasAttachments
	})
	base := strings.TrimPrefix(org.AbsURL(s.Origin(), svc.URL), s.Origin())
	l0 := svc.Service.Layers[0]
	if c := num(admin.get(base+"/0/query", "where", "1=1", "returnCountOnly", "true")["count"]); c != l0.Rows {
		t.Fatalf("count %d, want %d", c, l0.Rows)
	}
	// Page through with resultOffset until exceededTransferLimit is absent.
	seen := map[int]bool{}
	for off := 0; ; {
		v := admin.get(base+"/0/query", "where", "1=1", "outFields", "*", "resultOffset", strconv.Itoa(off), "resultRecordCount", "1000", "orderByFields", "OBJECTID")
		feats := v["features"].([]any)
		for _, f := range feats {
			seen[num(f.(map[string]any)["attributes"].(map[string]any)["OBJECTID"])] = true
		}
		off += len(feats)
		if v["exceededTransferLimit"] != true {
			break
		}
		if len(feats) == 0 {
			t.Fatal("exceededTransferLimit with an empty page")
		}
	}
	if len(seen) != l0.Rows {
		t.Errorf("paged %d distinct features, want %d", len(seen), l0.Rows)
	}
	// Attachments: listed sizes match the bytes.
	found := false
	for oid := 1; oid < 30 && !found; oid++ {
		infos := admin.get(base + fmt.Sprintf("/0/%d/attachments", oid))["attachmentInfos"].([]any)
		for _, a := range infos {
			am := a.(map[string]any)
			_, b := admin.do(http.MethodGet, base+fmt.Sprintf("/0/%d/attachments/%d", oid, num(am["id"])), url.Values{})
			if len(b) != num(am["size"]) {
				t.Errorf("attachment %v: %d bytes, listed %v", am["id"], len(b), am["size"])
			}
			found = true
		}
	}
	if !found {
		t.Error("no attachments in the first 30 features")
	}
	// createReplica (async): statusUrl only, then Completed with resultUrl.
	r := admin.post(base+"/createReplica", url.Values{"layers": {"0"}, "async": {"true"}, "syncModel": {"none"}, "dataFormat": {"json"}, "returnAttachments": {"true"}})
	if r["statusUrl"] == nil || r["resultUrl"] != nil {
		t.Fatalf("async createReplica: %v", r)
	}
	var st map[string]any
	for i := 0; i < 50; i++ {
		st = admin.get(r["statusUrl"].(string))
		if st["status"] == "Completed" || st["status"] == "Failed" {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st["status"] != "Completed" {
		t.Fatalf("replica status %v", st)
	}
	_, z := admin.do(http.MethodGet, st["resultUrl"].(string), url.Values{})
	if files := readZip(t, z); strings.Count(files["0.jsonl"], "\n") != l0.Rows {
		t.Errorf("replica rows %d, want %d", strings.Count(files["0.jsonl"], "\n"), l0.Rows)
	}
	// Views list their source.
	view := firstItem(t, s, func(it *org.Item) bool { return it.Service != nil && it.Service.IsView })
	vb := strings.TrimPrefix(org.AbsURL(s.Origin(), view.URL), s.Origin())
	src := admin.get(vb + "/sources")["services"].([]any)
	if len(src) != 1 || src[0].(map[string]any)["serviceItemId"] != view.Service.SourceItemID {
		t.Errorf("view sources %v, want %s", src, view.Service.SourceItemID)
	}
	if admin.get(vb)["isView"] != true {
		t.Error("view root lacks isView")
	}
	// Deleting a source with views is refused.
	source := s.Org().Item(view.Service.SourceItemID)
	s.Org().Mu.Lock()
	source.Protected = false
	s.Org().Mu.Unlock()
	if d := admin.post("/sharing/rest/content/users/"+source.Owner+"/items/"+source.ID+"/delete", url.Values{}); errCode(d) != 400 {
		t.Errorf("deleting a view's source: %v", d)
	}
	// Anonymous access to a non-public service needs a token.
	if svc.Access != org.AccessPublic {
		if got := errCode((&client{t: t, s: s}).get(base)); got != 499 {
			t.Errorf("anonymous service root: %d, want 499", got)
		}
	}
}

func TestExportTiles(t *testing.T) {
	s := startSim(t, Options{ExportTime: 20 * time.Millisecond})
	admin := signIn(t, s, "admin")
	for _, kind := range []string{org.MapServer, org.VectorTileServer} {
		// The generated tile layers are a mix: some fit under
		// maxExportTilesCount when exported to their last level, some not.
		var fits, above int
		o := s.Org()
		o.Mu.RLock()
		var layers []*org.Item
		for _, it := range o.Items {
			if it.Service != nil && it.Service.Kind == kind {
				layers = append(layers, it)
			}
		}
		o.Mu.RUnlock()
		for _, it := range layers {
			base := strings.TrimPrefix(org.AbsURL(s.Origin(), it.URL), s.Origin())
			root := admin.get(base)
			if num(root["maxExportTilesCount"]) != it.Service.MaxExportTiles || root["exportTilesAllowed"] != true ||
				num(root["maxLOD"]) != it.Service.Levels {
				t.Errorf("%s root: %v", kind, root)
			}
			poll := func(levels string) map[string]any {
				j := admin.post(base+"/exportTiles", url.Values{"levels": {levels}, "tilePackage": {"true"}})
				time.Sleep(40 * time.Millisecond)
				return admin.get(base + "/jobs/" + j["jobId"].(string))
			}
			ok := poll("0-5")
			if ok["jobStatus"] != "esriJobSucceeded" {
				t.Fatalf("%s small export: %v", kind, ok)
			}
			res := admin.get(base + "/jobs/" + ok["jobId"].(string) + "/results/out_service_url")
			folder := admin.get(res["value"].(string))
			files, _ := folder["files"].([]any)
			if len(files) != 1 {
				t.Fatalf("%s output folder %v: %v", kind, res["value"], folder)
			}
			f, _ := files[0].(map[string]any)
			_, b := admin.do(http.MethodGet, f["url"].(string), url.Values{})
			if !bytes.HasPrefix(b, []byte("PK")) || int64(len(b)) != int64(num(f["size"])) {
				t.Errorf("%s tile package: %d bytes (listed %v): %.10q", kind, len(b), f["size"], b)
			}
			all := make([]int, it.Service.Levels+1)
			for l := range all {
				all[l] = l
			}
			want := "esriJobSucceeded"
			if tileCount(all) > int64(it.Service.MaxExportTiles) {
				want = "esriJobFailed"
				above++
			} else {
				fits++
			}
			if full := poll("0-" + strconv.Itoa(it.Service.Levels)); full["jobStatus"] != want {
				t.Errorf("%s %s export to level %d (%d tiles, max %d): %v, want %s", kind, it.ID, it.Service.Levels,
					tileCount(all), it.Service.MaxExportTiles, full["jobStatus"], want)
			}
		}
		if fits == 0 || above == 0 {
			t.Errorf("%s: %d layers fit under maxExportTilesCount and %d are above it; the org should have both", kind, fits, above)
		}
	}
}

func TestFaultsAndThrottling(t *testing.T) {
	s := startSim(t, Options{FaultRate: 1, FaultEndpoints: []string{"search"}})
	admin := signIn(t, s, "admin")
	kinds := map[string]int{}
	for i := 0; i < 40; i++ {
		resp, err := http.Get(s.PortalURL() + "/sharing/rest/search?f=json&q=*&num=20&token=" + admin.token)
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		_ = err
	}
	for _, r := range s.Requests() {
		if r.Endpoint == "search" {
			kinds[r.Fault]++
		}
		if r.Endpoint == "item" && r.Fault != "" {
			t.Errorf("fault outside FaultEndpoints: %+v", r)
		}
	}
	for _, k := range []string{"500", "503", "reset", "slow"} {
		if kinds[k] == 0 {
			t.Errorf("no %s fault in 40 faulty searches: %v", k, kinds)
		}
	}

	th := startSim(t, Options{Throttle: true, ThrottleQPS: 3, ThrottleWrites: 2})
	a := signIn(t, th, "admin")
	svc := firstItem(t, th, func(it *org.Item) bool { return it.Service != nil && it.Service.Kind == org.FeatureServer })
	base := strings.TrimPrefix(org.AbsURL(th.Origin(), svc.URL), th.Origin())
	var got429 bool
	for i := 0; i < 10; i++ {
		resp, _ := a.do(http.MethodGet, base+"/0/query", url.Values{"where": {"1=1"}, "returnCountOnly": {"true"}, "f": {"json"}})
		if resp.StatusCode == http.StatusTooManyRequests {
			got429 = true
			if resp.Header.Get("Retry-After") != "" {
				t.Error("429 carries Retry-After; ArcGIS Online sends none")
			}
		}
	}
	if !got429 {
		t.Error("no 429 above ThrottleQPS")
	}
	var got403 bool
	name := a.user("admin").Username
	for i := 0; i < 5; i++ {
		resp, _ := a.do(http.MethodPost, "/sharing/rest/content/users/"+name+"/addItem", url.Values{"title": {"n"}, "type": {"Web Map"}, "text": {"{}"}, "f": {"json"}})
		got403 = got403 || resp.StatusCode == http.StatusForbidden
	}
	if !got403 {
		t.Error("no 403 for a burst of writes")
	}
}

// multipartPost sends a multipart form with one file part.
func (c *client) multipartPost(p string, fields map[string]string, file string, content []byte) map[string]any {
	c.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	mw.WriteField("f", "json")
	mw.WriteField("token", c.token)
	if file != "" {
		fw, _ := mw.CreateFormFile("file", file)
		fw.Write(content)
	}
	mw.Close()
	resp, err := http.Post(c.url(p), mw.FormDataContentType(), &buf)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return decode(c.t, b)
}

func TestWriteSide(t *testing.T) {
	s := startSim(t, Options{ExportTime: 10 * time.Millisecond})
	pub := signIn(t, s, "publisher")
	name := pub.user("publisher").Username
	content := []byte("%PDF-1.7 restored bytes")
	add := pub.multipartPost("/sharing/rest/content/users/"+name+"/addItem", map[string]string{"title": "Restored plan", "type": "PDF", "tags": "a,b"}, "plan.pdf", content)
	id, _ := add["id"].(string)
	if add["success"] != true || id == "" {
		t.Fatalf("addItem: %v", add)
	}
	_, b := pub.do(http.MethodGet, "/sharing/rest/content/items/"+id+"/data", url.Values{})
	if !bytes.Equal(b, content) {
		t.Errorf("data of the added item: %q", b)
	}
	base := "/sharing/rest/content/users/" + name + "/items/" + id
	steps := []struct {
		op   string
		form url.Values
		file []byte
	}{
		{"update", url.Values{"snippet": {"restored"}}, nil},
		{"addResources", url.Values{"fileName": {"notes.txt"}, "resourcesPrefix": {"docs"}, "text": {"hello"}}, nil},
		{"protect", url.Values{}, nil},
	}
	for _, st := range steps {
		if r := pub.post(base+"/"+st.op, st.form); r["success"] != true {
			t.Fatalf("%s: %v", st.op, r)
		}
	}
	if got := pub.get("/sharing/rest/content/items/" + id)["snippet"]; got != "restored" {
		t.Errorf("snippet after update: %v", got)
	}
	_, res := pub.do(http.MethodGet, "/sharing/rest/content/items/"+id+"/resources/docs/notes.txt", url.Values{})
	if string(res) != "hello" {
		t.Errorf("resource: %q", res)
	}
	if d := pub.post(base+"/delete", url.Values{}); errCode(d) != 400 || !strings.Contains(fmt.Sprint(d), "Delete protection") {
		t.Errorf("delete of a protected item: %v", d)
	}
	grp := s.Org().GroupsOf(name)
	if len(grp) > 0 {
		sh := pub.post(base+"/share", url.Values{"groups": {grp[0].ID}, "org": {"true"}, "confirmItemControl": {"true"}})
		if sh["itemId"] != id || len(sh["notSharedWith"].([]any)) != 0 {
			t.Errorf("share: %v", sh)
		}
		if v := pub.get("/sharing/rest/content/items/" + id); v["access"] != "org" {
			t.Errorf("access after share: %v", v["access"])
		}
	}
	other := firstItem(t, s, func(it *org.Item) bool { return it.Owner == name && it.ID != id })
	if r := pub.post("/sharing/rest/content/users/"+name+"/addRelationship", url.Values{"originItemId": {id}, "destinationItemId": {other.ID}, "relationshipType": {"Item2Attachment"}}); r["success"] != true {
		t.Errorf("addRelationship: %v", r)
	}
	if rel := pub.get("/sharing/rest/content/items/"+id+"/relatedItems", "relationshipType", "Item2Attachment"); num(rel["total"]) != 1 {
		t.Errorf("related after addRelationship: %v", rel)
	}
	pub.post(base+"/unprotect", url.Values{})
	if r := pub.post(base+"/delete", url.Values{}); r["success"] != true {
		t.Errorf("delete: %v", r)
	}

	// createService + addToDefinition + addFeatures, then query.
	cs := pub.post("/sharing/rest/content/users/"+name+"/createService", url.Values{"createParameters": {`{"name":"Restored_Hydrants","capabilities":"Query,Editing"}`}, "outputType": {"featureService"}})
	svcURL := strings.TrimPrefix(cs["serviceurl"].(string), s.Origin())
	admURL := strings.Replace(svcURL, "/rest/services/", "/rest/admin/services/", 1)
	if r := pub.post(admURL+"/addToDefinition", url.Values{"addToDefinition": {`{"layers":[{"id":0,"name":"Hydrants","geometryType":"esriGeometryPoint","fields":[]}]}`}}); r["success"] != true {
		t.Fatalf("addToDefinition: %v", r)
	}
	if r := pub.post(svcURL+"/0/addFeatures", url.Values{"features": {`[{"attributes":{"NAME":"a"},"geometry":{"x":1,"y":2}},{"attributes":{"NAME":"b"},"geometry":{"x":3,"y":4}}]`}}); len(r["addResults"].([]any)) != 2 {
		t.Fatalf("addFeatures: %v", r)
	}
	q := pub.get(svcURL+"/0/query", "where", "1=1", "outFields", "*")
	if feats := q["features"].([]any); len(feats) != 2 || feats[1].(map[string]any)["attributes"].(map[string]any)["NAME"] != "b" {
		t.Errorf("query of restored layer: %v", q)
	}

	// A view created through createService + addToDefinition reads its
	// source's rows and lists it in /sources.
	vs := pub.post("/sharing/rest/content/users/"+name+"/createService", url.Values{"isView": {"true"}, "createParameters": {`{"name":"Restored_View","isView":true,"capabilities":"Query"}`}})
	viewURL := strings.TrimPrefix(vs["serviceurl"].(string), s.Origin())
	srcSvc := firstItem(t, s, func(it *org.Item) bool {
		return it.Service != nil && it.Service.Kind == org.FeatureServer && !it.Service.IsView && it.Service.Layers[0].Rows > 0
	})
	def := fmt.Sprintf(`{"layers":[{"id":0,"name":"V0","adminLayerInfo":{"viewLayerDefinition":{"sourceServiceName":%q,"sourceLayerId":0,"sourceLayerFields":"*"}}}]}`, srcSvc.Service.Name)
	if r := pub.post(strings.Replace(viewURL, "/rest/services/", "/rest/admin/services/", 1)+"/addToDefinition", url.Values{"addToDefinition": {def}}); r["success"] != true {
		t.Fatalf("view addToDefinition: %v", r)
	}
	if c := num(pub.get(viewURL+"/0/query", "where", "1=1", "returnCountOnly", "true")["count"]); c != srcSvc.Service.Layers[0].Rows {
		t.Errorf("view rows %d, want the source's %d", c, srcSvc.Service.Layers[0].Rows)
	}
	if src := pub.get(viewURL + "/sources")["services"].([]any); len(src) != 1 || src[0].(map[string]any)["serviceItemId"] != srcSvc.ID {
		t.Errorf("view sources: %v", src)
	}

	// Publish from an export stand-in: same layers and rows.
	src := firstItem(t, s, func(it *org.Item) bool {
		return it.Owner == name && it.Service != nil && it.Service.Kind == org.FeatureServer && !it.Service.IsView
	})
	exp := pub.post("/sharing/rest/content/users/"+name+"/export", url.Values{"itemId": {src.ID}, "exportFormat": {"File Geodatabase"}})
	time.Sleep(30 * time.Millisecond)
	pr := pub.post("/sharing/rest/content/users/"+name+"/publish", url.Values{"itemid": {exp["exportItemId"].(string)}, "filetype": {"fileGeodatabase"},
		"publishParameters": {`{"name":"Republished","hasStaticData":true,"maxRecordCount":2000,"layerInfo":{"capabilities":"Query"}}`}})
	svcs, _ := pr["services"].([]any)
	if len(svcs) != 1 {
		t.Fatalf("publish: %v", pr)
	}
	pu := strings.TrimPrefix(svcs[0].(map[string]any)["serviceurl"].(string), s.Origin())
	for _, l := range src.Service.Layers {
		c := num(pub.get(pu+"/"+strconv.Itoa(l.ID)+"/query", "where", "1=1", "returnCountOnly", "true")["count"])
		if c != l.Rows {
			t.Errorf("republished layer %d: %d rows, want %d", l.ID, c, l.Rows)
		}
	}
	writes := 0
	for _, r := range s.Requests() {
		if r.Write {
			writes++
		}
	}
	if writes < 12 {
		t.Errorf("request log shows %d writes", writes)
	}
}

func TestScenarioAndTLS(t *testing.T) {
	s := startSim(t, Options{OrgFile: "testdata/scenario.json", TLS: true, Mode: "enterprise"})
	pem, err := os.ReadFile(s.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("CA file holds no certificate")
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	if !strings.HasPrefix(s.PortalURL(), "https://") || !strings.HasSuffix(s.PortalURL(), "/portal") {
		t.Errorf("portal URL %s", s.PortalURL())
	}
	resp, err := hc.PostForm(s.PortalURL()+"/sharing/rest/generateToken", url.Values{"username": {"boss"}, "password": {"boss-password"}, "f": {"json"}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	tok, _ := decode(t, b)["token"].(string)
	if tok == "" {
		t.Fatalf("sign in to the scenario org: %s", b)
	}
	resp, err = hc.Get(s.PortalURL() + "/sharing/rest/search?f=json&q=owner:pat&token=" + tok)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	v := decode(t, b)
	res := v["results"].([]any)
	if len(res) != 1 || !strings.HasPrefix(res[0].(map[string]any)["url"].(string), s.Origin()+"/server/rest/services/Hosted/Roads/FeatureServer") {
		t.Errorf("scenario search: %v", v)
	}
}
