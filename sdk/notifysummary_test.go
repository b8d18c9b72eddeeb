package sdk

import "testing"

func TestHeadline(t *testing.T) {
	tests := []struct {
		name string
		req  NotifyRequest
		want string
	}{
		{"failed and partial", NotifyRequest{Pipeline: "/etc/agolpipe/nightly.hcl", Status: "failed",
			Counts: map[string]int64{"exported": 2036, "failed": 3, "partial": 2}},
			"FAILED nightly: 3 failed, 2 partial of 2,041 items"},
		{"success", NotifyRequest{Pipeline: "weekly", Status: "success",
			Counts: map[string]int64{"exported": 12, "skipped": 1}},
			"OK weekly: 12 exported of 13 items"},
		{"one item", NotifyRequest{Pipeline: "p.hcl", Status: "partial", Counts: map[string]int64{"partial": 1}},
			"PARTIAL p: 1 partial of 1 item"},
		{"canceled empty", NotifyRequest{Status: "canceled"}, "CANCELED pipeline: 0 exported of 0 items"},
		{"windows path", NotifyRequest{Pipeline: `C:\agolpipe\nightly.hcl`, Status: "failed",
			Counts: map[string]int64{"failed": 1234567}}, "FAILED nightly: 1,234,567 failed of 1,234,567 items"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.req.Headline(); got != tt.want {
				t.Errorf("Headline() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestGroupThousands(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 2041: "2,041", -1234567: "-1,234,567", 100000: "100,000"} {
		if got := GroupThousands(n); got != want {
			t.Errorf("GroupThousands(%d) = %q, want %q", n, got, want)
		}
	}
}
