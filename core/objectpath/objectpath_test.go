package objectpath

import (
	"fmt"
	"path"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/agolpipe/agolpipe/sdk"
)

func TestSafeName(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Parks", "Parks"},
		{"Parks and Trails", "Parks and Trails"},
		{"a/b\\c:d*e?f\"g<h>i|j", "a_b_c_d_e_f_g_h_i_j"},
		{"a//\\\\b", "a_b"},
		{"tab\there\nnewline\x00nul\x7f", "tab_here_newline_nul_"},
		{"CON", "_CON"},
		{"con", "_con"},
		{"Con.txt", "_Con.txt"},
		{"NUL.tar.gz", "_NUL.tar.gz"},
		{"com1", "_com1"},
		{"LPT9.zip", "_LPT9.zip"},
		{"COM1 .zip", "_COM1 .zip"},
		{"COM10", "COM10"},
		{"CONSOLE", "CONSOLE"},
		{"LPT", "LPT"},
		{"COM²", "_COM²"},
		{"trailing dots...", "trailing dots"},
		{"trailing spaces   ", "trailing spaces"},
		{"   leading spaces", "leading spaces"},
		{"..", ""},
		{".", ""},
		{".hidden", "hidden"},
		{"", ""},
		{"   ", ""},
		{"Straßen 🚲 Radwege", "Straßen 🚲 Radwege"},
		{"日本語の地図", "日本語の地図"},
		{"bad \xff\xfe utf8", "bad _ utf8"},
		{"real \uFFFD kept", "real \uFFFD kept"},
		{"c1\u0085control", "c1_control"},
	} {
		if got := SafeName(tc.in); got != tc.want {
			t.Errorf("SafeName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestTruncate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"abcdef", 3, "abc"},
		{"abcdef", 10, "abcdef"},
		{"abcdef", 0, ""},
		{"ab 🚲", 6, "ab"},      // 🚲 is 4 bytes; cutting mid-rune drops it, then the space
		{"ab🚲cd", 6, "ab🚲"},    // exactly fits the emoji
		{"ab🚲cd", 5, "ab"},     // never half an emoji
		{"héllo", 2, "h"},      // é is 2 bytes
		{"abc. def", 4, "abc"}, // cut exposes a trailing dot
		{"CONSOLE", 3, ""},     // "CON" + "_" would not fit in 3
		{"CON X", 4, "_CON"},
	} {
		got := Truncate(tc.in, tc.n)
		if got != tc.want {
			t.Errorf("Truncate(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
		if !utf8.ValidString(got) || len(got) > max(tc.n, 0) {
			t.Errorf("Truncate(%q, %d) = %q: invalid or too long", tc.in, tc.n, got)
		}
	}
}

func TestRunFolder(t *testing.T) {
	ts := time.Date(2025, 3, 7, 4, 5, 6, 0, time.UTC)
	for _, tc := range []struct{ prefix, want string }{
		{"PROD", "PROD_2025-03-07_04-05-06"},
		{"", "2025-03-07_04-05-06"},
		{"a/b", "a_b_2025-03-07_04-05-06"},
	} {
		if got := RunFolder(tc.prefix, ts); got != tc.want {
			t.Errorf("RunFolder(%q) = %q, want %q", tc.prefix, got, tc.want)
		}
	}
}

func TestParseLayout(t *testing.T) {
	for in, want := range map[string]Layout{"": LayoutType, "type": LayoutType, "owner/type": LayoutOwnerType, "owner/folder/type": LayoutOwnerFolderType} {
		if got, err := ParseLayout(in); err != nil || got != want {
			t.Errorf("ParseLayout(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseLayout("folder"); err == nil || !strings.Contains(err.Error(), "owner/folder/type") {
		t.Errorf("bad layout error: %v", err)
	}
}

var parks = sdk.Item{ID: "0123456789abcdef0123456789abcdef", Title: "Parks: 2024/25", Type: "Feature Service", Owner: "gis_admin", FolderTitle: "Public Works"}

func TestArtifactLayouts(t *testing.T) {
	root := parks
	root.FolderTitle = ""
	for _, tc := range []struct {
		layout Layout
		item   sdk.Item
		name   string
		want   string
	}{
		{LayoutType, parks, "data.zip", "RUN/Feature Service/Parks_ 2024_25_0123456789abcdef0123456789abcdef.zip"},
		{LayoutType, parks, ".json", "RUN/Feature Service/Parks_ 2024_25_0123456789abcdef0123456789abcdef.json"},
		{LayoutType, parks, "resources.zip", "RUN/Feature Service/Parks_ 2024_25_0123456789abcdef0123456789abcdef_resources.zip"},
		{LayoutType, parks, "item.json", "RUN/Feature Service/Parks_ 2024_25_0123456789abcdef0123456789abcdef_item.json"},
		{LayoutOwnerType, parks, "data.zip", "RUN/gis_admin/Feature Service/Parks_ 2024_25_0123456789abcdef0123456789abcdef.zip"},
		{LayoutOwnerFolderType, parks, "data.zip", "RUN/gis_admin/Public Works/Feature Service/Parks_ 2024_25_0123456789abcdef0123456789abcdef.zip"},
		{LayoutOwnerFolderType, root, "data.zip", "RUN/gis_admin/_root/Feature Service/Parks_ 2024_25_0123456789abcdef0123456789abcdef.zip"},
		{LayoutType, sdk.Item{ID: "abc", Title: "...", Type: "Web Map"}, "data.json", "RUN/Web Map/abc.json"},
		{LayoutType, sdk.Item{ID: "abc", Title: "CON", Type: "Web Map"}, "data.json", "RUN/Web Map/_CON_abc.json"},
	} {
		b := NewBuilder("RUN", tc.layout, 0)
		got, err := b.Artifact(tc.item, tc.name, 0)
		if err != nil || got != tc.want {
			t.Errorf("%s %q: got %q, %v\nwant %q", tc.layout, tc.name, got, err, tc.want)
		}
	}
}

func TestArtifactCutToLimit(t *testing.T) {
	item := sdk.Item{ID: "0123456789abcdef0123456789abcdef", Title: strings.Repeat("Straßen 🚲 ", 40), Type: "Web Map"}
	for _, limit := range []int{240, 120, 80, 72} {
		b := NewBuilder("PROD_2025-03-07_04-05-06", LayoutType, limit)
		p, err := b.Artifact(item, "data.json", 0)
		if err != nil {
			t.Fatalf("limit %d: %v", limit, err)
		}
		if len(p) > limit || !utf8.ValidString(p) || !strings.HasSuffix(p, "_"+item.ID+".json") && !strings.HasSuffix(p, "/"+item.ID+".json") {
			t.Errorf("limit %d: %q (%d bytes)", limit, p, len(p))
		}
	}
	// So deep that even folders must shrink; the id still survives whole.
	b := NewBuilder("PROD_2025-03-07_04-05-06", LayoutOwnerFolderType, 110)
	deep := item
	deep.Owner, deep.FolderTitle = strings.Repeat("o", 50), strings.Repeat("f", 50)
	p, err := b.Artifact(deep, "data.json", 0)
	if err != nil || len(p) > 110 || !strings.Contains(p, item.ID) {
		t.Errorf("deep: %q, %v", p, err)
	}
	// Impossible: an error that says what to change, not a cut id.
	b = NewBuilder(strings.Repeat("R", 60), LayoutType, 70)
	if _, err := b.Artifact(item, "data.json", 0); err == nil || !strings.Contains(err.Error(), "shorter") || !strings.Contains(err.Error(), item.ID) {
		t.Errorf("impossible limit: %v", err)
	}
}

func TestArtifactUnique(t *testing.T) {
	b := NewBuilder("RUN", LayoutType, 0)
	item := sdk.Item{ID: "abc", Title: "Parks", Type: "Web Map"}
	p1, _ := b.Artifact(item, "data.json", 0)
	p2, _ := b.Artifact(item, "data.json", 1)    // a second artifact of the same name
	p3, _ := b.Artifact(item, "DATA.json", 0)    // collides case-insensitively
	again, _ := b.Artifact(item, "data.json", 0) // a retry gets the same path
	want := []string{"RUN/Web Map/Parks_abc.json", "RUN/Web Map/Parks_abc_2.json", "RUN/Web Map/Parks_abc_3.json", "RUN/Web Map/Parks_abc.json"}
	if got := []string{p1, p2, p3, again}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
	if _, err := b.Artifact(sdk.Item{ID: "../x", Type: "Web Map"}, "data.json", 0); err == nil {
		t.Error("unsafe item id accepted")
	}
}

func TestArtifactConcurrentUnique(t *testing.T) {
	b := NewBuilder("RUN", LayoutType, 0)
	var mu sync.Mutex
	seen := map[string]bool{}
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := b.Artifact(sdk.Item{ID: "abc", Title: "Same", Type: "Web Map"}, "data.json", i)
			mu.Lock()
			defer mu.Unlock()
			if err != nil || seen[strings.ToLower(p)] {
				t.Errorf("duplicate or error: %q %v", p, err)
			}
			seen[strings.ToLower(p)] = true
		}()
	}
	wg.Wait()
}

// checkSafe asserts what SafeName promises about a segment.
func checkSafe(t *testing.T, in, s string) {
	t.Helper()
	if !utf8.ValidString(s) {
		t.Fatalf("SafeName(%q) = %q: invalid UTF-8", in, s)
	}
	if strings.ContainsAny(s, forbidden) {
		t.Fatalf("SafeName(%q) = %q: forbidden character", in, s)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			t.Fatalf("SafeName(%q) = %q: control character", in, s)
		}
	}
	if s != "" && (strings.HasSuffix(s, ".") || strings.HasSuffix(s, " ") || strings.HasPrefix(s, " ")) {
		t.Fatalf("SafeName(%q) = %q: bad ends", in, s)
	}
	if isReserved(s) {
		t.Fatalf("SafeName(%q) = %q: reserved", in, s)
	}
}

func FuzzSafeName(f *testing.F) {
	for _, s := range []string{"Parks", "CON.txt", "a/b", "🚲🚲", "\xff", " . ", "nul ", "LPT1.", "x\x00y"} {
		f.Add(s, 10)
	}
	f.Fuzz(func(t *testing.T, in string, n int) {
		s := SafeName(in)
		checkSafe(t, in, s)
		if SafeName(s) != s {
			t.Fatalf("SafeName not idempotent on %q: %q -> %q", in, s, SafeName(s))
		}
		c := Truncate(s, n)
		checkSafe(t, s, c)
		if len(c) > max(n, 0) {
			t.Fatalf("Truncate(%q, %d) = %q too long", s, n, c)
		}
	})
}

func FuzzArtifact(f *testing.F) {
	f.Add("Parks: 2024", "Web Map", "owner", "folder", "data.json", 240)
	f.Add("🚲🚲🚲🚲🚲🚲🚲🚲🚲🚲🚲🚲🚲🚲🚲🚲🚲🚲🚲🚲", "Feature Service", "a/b", "", "resources.zip", 80)
	f.Fuzz(func(t *testing.T, title, typ, owner, folder, name string, limit int) {
		b := NewBuilder("PROD_2025-03-07_04-05-06", LayoutOwnerFolderType, limit)
		item := sdk.Item{ID: "0123456789abcdef0123456789abcdef", Title: title, Type: typ, Owner: owner, FolderTitle: folder}
		p, err := b.Artifact(item, name, 0)
		if err != nil {
			return // only when nothing fits; checked by TestArtifactCutToLimit
		}
		if len(p) > b.MaxPathLength() || !strings.Contains(p, item.ID) {
			t.Fatalf("%q: too long or id lost", p)
		}
		segs := strings.Split(p, "/")
		for _, seg := range segs {
			if seg == "" {
				t.Fatalf("%q: empty segment", p)
			}
			checkSafe(t, p, seg)
		}
	})
}

// TestArtifactLongOriginalName: an item's own file name of 250 characters
// is shortened like the title, keeping its extension and the item id,
// and no file name ever exceeds MaxNameLength, even under a long limit.
func TestArtifactLongOriginalName(t *testing.T) {
	item := sdk.Item{ID: "0123456789abcdef0123456789abcdef", Title: "Quarterly budget", Type: "PDF"}
	long := strings.Repeat("Quarterly budget report ", 11)[:246] + ".pdf"
	for _, limit := range []int{222, 120, 90, 1024} {
		b := NewBuilder("RUN_2025-03-07_04-05-06", LayoutType, limit)
		p, err := b.Artifact(item, long, 0)
		if err != nil {
			t.Fatalf("limit %d: %v", limit, err)
		}
		file := path.Base(p)
		if len(p) > limit || len(file) > MaxNameLength || !strings.HasSuffix(file, ".pdf") || !strings.Contains(file, item.ID) || !utf8.ValidString(p) {
			t.Errorf("limit %d: %q (%d bytes, file name %d)", limit, p, len(p), len(file))
		}
		if !strings.Contains(file, "_Quarterly budget") {
			t.Errorf("limit %d: %q keeps nothing of the name", limit, p)
		}
		// A second artifact with the same long name stays distinct.
		q, err := b.Artifact(item, long, 1)
		if err != nil || q == p || len(q) > limit {
			t.Errorf("limit %d: second artifact %q (%v), first %q", limit, q, err, p)
		}
	}
	// A short name is left whole.
	b := NewBuilder("RUN", LayoutType, 0)
	if p, _ := b.Artifact(item, "budget.pdf", 0); p != "RUN/PDF/Quarterly budget_0123456789abcdef0123456789abcdef_budget.pdf" {
		t.Errorf("short name: %q", p)
	}
}
