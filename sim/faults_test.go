package sim

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestParseFault(t *testing.T) {
	for in, want := range map[string]Fault{
		"addPart@2=498":       {Endpoint: "addPart", Nth: 2, Count: 1, Kind: Fault498},
		"update@3x2=429-body": {Endpoint: "update", Nth: 3, Count: 2, Kind: Fault429Body},
		"share=403-html":      {Endpoint: "share", Nth: 1, Count: 1, Kind: Fault403HTML},
	} {
		got, err := ParseFault(in)
		if err != nil || got != want {
			t.Errorf("ParseFault(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"addItem", "=429", "addItem=418", "addItem@0=429", "addItem@2x0=429", "addItem@x=429"} {
		if _, err := ParseFault(bad); err == nil {
			t.Errorf("ParseFault(%q) accepted", bad)
		}
	}
}

// TestScriptedFaults: the scripted requests get the fault, the others not;
// 498 leaves the token dead for the requests after it.
func TestScriptedFaults(t *testing.T) {
	srv, err := Start(Options{Items: 5, Seed: 1, Faults: []Fault{
		{Endpoint: "portals/self", Nth: 2, Kind: Fault429},
		{Endpoint: "portals/self", Nth: 3, Kind: Fault429Body},
		{Endpoint: "search", Nth: 2, Kind: Fault498},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	u := srv.Users()[0]
	resp, err := http.PostForm(srv.PortalURL()+"/sharing/rest/generateToken", url.Values{"username": {u.Username}, "password": {u.Password}, "f": {"json"}, "client": {"requestip"}})
	if err != nil {
		t.Fatal(err)
	}
	var tok struct{ Token string }
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	get := func(path string) (int, int) {
		resp, err := http.Get(srv.PortalURL() + "/sharing/rest/" + path + "?f=json&token=" + tok.Token)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var e struct{ Error *struct{ Code int } }
		_ = json.NewDecoder(resp.Body).Decode(&e)
		if e.Error == nil {
			return resp.StatusCode, 0
		}
		return resp.StatusCode, e.Error.Code
	}
	for i, want := range [][2]int{{200, 0}, {429, 429}, {200, 429}, {200, 0}} {
		if st, code := get("portals/self"); st != want[0] || code != want[1] {
			t.Errorf("portals/self #%d: HTTP %d code %d, want %v", i+1, st, code, want)
		}
	}
	for i, want := range []int{0, 498, 498} {
		if _, code := get("search"); code != want {
			t.Errorf("search #%d: code %d, want %d", i+1, code, want)
		}
	}
	n := 0
	for _, r := range srv.Requests() {
		if strings.HasPrefix(r.Fault, "script:") {
			n++
		}
	}
	if n != 3 {
		t.Errorf("%d requests logged with a scripted fault, want 3", n)
	}
}
