package arcgis

import (
	"strings"
	"testing"
)

// TestCompletenessWarning checks that the completeness warning's advice
// fits the scan that ran: "try scan = deep" only after a quick or search
// scan, never after a deep one, and no "may be missing" when the listing
// found more than the count.
func TestCompletenessWarning(t *testing.T) {
	for _, c := range []struct {
		name                string
		listed, temp, count int64
		scan                string
		want, notWant       []string
	}{
		{"agree", 10, 0, 10, "quick", nil, nil},
		{"temp items make up the difference", 8, 2, 10, "deep", nil, nil},
		{"unknown count", 8, 0, -1, "quick", nil, nil},
		{"quick scan short", 8, 0, 10, "quick", []string{"found 8 items but the portal counts 10", `set scan = "deep"`}, nil},
		{"deep scan short", 8, 0, 10, "deep", []string{"found 8 items but the portal counts 10", "already walked every folder"}, []string{`scan = "deep"`}},
		{"own content short", 8, 0, 10, "own content", []string{"may be missing"}, []string{`scan = "deep"`}},
		{"more than the count", 12, 0, 10, "quick", []string{"more than the 10", "nothing is missing"}, []string{"may be missing", `scan = "deep"`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := completenessWarning(c.listed, c.temp, c.count, c.scan, "gis_admin")
			if len(c.want) == 0 && got != "" {
				t.Fatalf("warning %q, want none", got)
			}
			for _, w := range c.want {
				if !strings.Contains(got, w) {
					t.Errorf("warning %q lacks %q", got, w)
				}
			}
			for _, w := range c.notWant {
				if strings.Contains(got, w) {
					t.Errorf("warning %q says %q", got, w)
				}
			}
		})
	}
}
