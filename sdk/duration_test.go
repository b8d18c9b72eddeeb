package sdk

import (
	"testing"
	"time"
)

func TestDurations(t *testing.T) {
	day := 24 * time.Hour
	tests := []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{"120m", 120 * time.Minute, false},
		{"36h", 36 * time.Hour, false},
		{"7d", 7 * day, false},
		{"90d", 90 * day, false},
		{"2w", 14 * day, false},
		{"1d12h", 36 * time.Hour, false},
		{"1.5d", 36 * time.Hour, false},
		{"1w2d3h", 9*day + 3*time.Hour, false},
		{"500ms", 500 * time.Millisecond, false},
		{"0", 0, false},
		{"", 0, true},
		{"90", 0, true},
		{"7x", 0, true},
		{"-3d", 0, true},
		{"2 hours", 0, true},
		{"d", 0, true},
		{"99999999999w", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}
