package query

import (
	"testing"

	"github.com/agolpipe/agolpipe/sim/org"
)

func TestMatch(t *testing.T) {
	fs := &org.Item{ID: "aaa", Owner: "Pat", Title: "Street Trees 2024", Type: "Feature Service", TypeKeywords: []string{"Hosted Service", "View Service"}, Tags: []string{"parks", "Open Data"}, Access: "org", Created: 100, Modified: 500, Groups: []string{"g1"}}
	app := &org.Item{ID: "bbb", Owner: "sam", Title: "Trees viewer", Type: "Web Mapping Application", Tags: []string{}, Access: "public", Created: 200, Modified: 900}
	wm := &org.Item{ID: "ccc", Owner: "sam", Title: "Trees map", Type: "Web Map", Access: "private", Created: 300, Modified: 300}
	all := []*org.Item{fs, app, wm}
	tests := []struct {
		q    string
		want string // ids of matching items, concatenated
	}{
		{"", "aaabbbccc"},
		{"*", "aaabbbccc"},
		{"orgid:ORG1", "aaabbbccc"},
		{"orgid:other", ""},
		{"accountid:ORG1 AND owner:sam", "bbbccc"},
		{"owner:pat", ""}, // owner is case-sensitive
		{"owner:Pat", "aaa"},
		{`type:"Web Map"`, "bbbccc"}, // the real service's quirk
		{`type:"Web Map" NOT type:"Web Mapping Application"`, "ccc"},
		{`type:"web map" -type:"web mapping application"`, "ccc"},
		{`typekeywords:"View Service"`, "aaa"},
		{"tags:parks", "aaa"},
		{`tags:"open data"`, "aaa"},
		{"title:trees", "aaabbbccc"},
		{"title:tree*", "aaabbbccc"},
		{`title:"street trees"`, "aaa"},
		{"id:bbb OR id:ccc", "bbbccc"},
		{"modified:[300 TO 900]", "aaabbbccc"},
		{"modified:{300 TO 900}", "aaa"},
		{"created:[* TO 150]", "aaa"},
		{"(owner:sam OR owner:Pat) AND access:public", "bbb"},
		{"owner:sam viewer", "bbb"},
		{"NOT access:private", "aaabbb"},
		{"group:g1", "aaa"},
		{"type:(\"web map\" OR \"feature service\") AND NOT title:viewer", "aaaccc"},
	}
	for _, tc := range tests {
		q, err := Parse(tc.q)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.q, err)
			continue
		}
		got := ""
		for _, it := range all {
			if q.Match(it, "ORG1") {
				got += it.ID
			}
		}
		if got != tc.want {
			t.Errorf("%q matched %q, want %q", tc.q, got, tc.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, q := range []string{"(owner:a", "modified:[1 TO", "modified:[a TO 5]", "title:", "owner:a)"} {
		if _, err := Parse(q); err == nil {
			t.Errorf("Parse(%q) succeeded, want a syntax error", q)
		}
	}
}
