package restore

import (
	"encoding/json"
	"testing"
)

// rewriteJSON changes exactly the string values holding the text: every
// other byte stays, escaped forms are matched on their value, keys are
// reported and left, paths name where each change is.
func TestRewriteJSON(t *testing.T) {
	in := "{\"a\": [1, \"X/1\", {\"b\\u0020c\": \"pre X\\/y X\"}],\n \"X\": {\"k\":\"no\"}, \"n\": 0.50, \"u\": \"caf\\u00e9 X\"}"
	out, changes, keys, err := rewriteJSON([]byte(in), "X", "Y&Z")
	if err != nil {
		t.Fatal(err)
	}
	want := "{\"a\": [1, \"Y&Z/1\", {\"b\\u0020c\": \"pre Y&Z/y Y&Z\"}],\n \"X\": {\"k\":\"no\"}, \"n\": 0.50, \"u\": \"café Y&Z\"}"
	if string(out) != want {
		t.Fatalf("got\n%s\nwant\n%s", out, want)
	}
	if !json.Valid(out) {
		t.Fatal("output is not JSON")
	}
	wantPaths := []struct {
		path  string
		count int
	}{{"a[1]", 1}, {`a[2]["b c"]`, 2}, {"u", 1}}
	if len(changes) != len(wantPaths) {
		t.Fatalf("changes: %+v", changes)
	}
	for i, w := range wantPaths {
		if changes[i].Path != w.path || changes[i].Count != w.count || changes[i].Where != "data" {
			t.Errorf("change %d: %+v, want %s x%d", i, changes[i], w.path, w.count)
		}
	}
	if len(keys) != 1 || keys[0] != "X" {
		t.Errorf("keys: %v", keys)
	}
	// A root string, no match, broken JSON.
	if out, ch, _, _ := rewriteJSON([]byte(` "aXb" `), "X", "_"); string(out) != ` "a_b" ` || ch[0].Path != "$" {
		t.Errorf("root string: %q %+v", out, ch)
	}
	if out, ch, _, _ := rewriteJSON([]byte(in), "nothing", "_"); string(out) != in || len(ch) != 0 {
		t.Error("no match changed the document")
	}
	if _, _, _, err := rewriteJSON([]byte(`{"a": "X"`), "X", "_"); err == nil {
		t.Error("broken JSON: no error")
	}
}
