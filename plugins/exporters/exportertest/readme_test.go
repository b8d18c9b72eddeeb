package exportertest_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/agolpipe/agolpipe/plugins/exporters/exportertest"
	"github.com/agolpipe/agolpipe/plugins/exporters/featurequery"
)

// recordingTB collects what ReadmeSamples reports instead of failing.
type recordingTB struct {
	testing.TB
	errs []string
}

func (r *recordingTB) Helper() {}
func (r *recordingTB) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func TestReadmeSamples(t *testing.T) {
	tests := []struct {
		file    string
		checked int
		// want are parts of the reports, one per expected report.
		want []string
	}{
		{"testdata/good.md", 1, nil},
		{"testdata/bad.md", 1, []string{`Unsupported argument; An argument named "pagesize"`, "page_size out of range", "timeout"}},
		{"testdata/none.md", 0, []string{`no sample export block with exporter = "feature_query"`}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			rec := &recordingTB{TB: t}
			n := exportertest.ReadmeSamples(rec, tc.file, "feature_query", featurequery.New)
			if n != tc.checked {
				t.Errorf("checked %d blocks, want %d", n, tc.checked)
			}
			if len(rec.errs) != len(tc.want) {
				t.Errorf("reports %q, want %d", rec.errs, len(tc.want))
			}
			for _, w := range tc.want {
				found := false
				for _, e := range rec.errs {
					found = found || strings.Contains(e, w)
				}
				if !found {
					t.Errorf("no report contains %q: %q", w, rec.errs)
				}
			}
		})
	}
}
