package sdk

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseDuration parses a duration as Go's time.ParseDuration does ("90m",
// "1h30m", "500ms") plus the units a backup schedule needs: "d" (24h) and
// "w" (7 days), alone or mixed ("7d", "2w", "1d12h"). Negative durations
// are refused: nothing in a pipeline counts backwards.
//
// It is the one parser of durations written in a pipeline: core's blocks
// (run, retention, export) and every plugin's own attributes (a notifier's
// timeout, the source's modified_within) read them with it, so "7d" means
// the same wherever a user writes it.
func ParseDuration(s string) (time.Duration, error) {
	in := strings.TrimSpace(s)
	if in == "" {
		return 0, fmt.Errorf("empty duration")
	}
	if strings.HasPrefix(in, "-") {
		return 0, fmt.Errorf("duration %q is negative", s)
	}
	in = strings.TrimPrefix(in, "+")
	var total time.Duration
	rest := in
	for rest != "" {
		// Split off one <number><unit> segment.
		i := 0
		for i < len(rest) && (rest[i] == '.' || (rest[i] >= '0' && rest[i] <= '9')) {
			i++
		}
		j := i
		for j < len(rest) && !(rest[j] == '.' || (rest[j] >= '0' && rest[j] <= '9')) {
			j++
		}
		num, unit := rest[:i], rest[i:j]
		if num == "" {
			return 0, fmt.Errorf("duration %q: expected a number before %q", s, unit)
		}
		if unit == "" {
			if in == "0" {
				return 0, nil
			}
			return 0, fmt.Errorf("duration %q: %q has no unit (use s, m, h, d or w, as in \"90m\" or \"7d\")", s, num)
		}
		var seg time.Duration
		switch unit {
		case "d", "w":
			f, err := strconv.ParseFloat(num, 64)
			if err != nil {
				return 0, fmt.Errorf("duration %q: bad number %q", s, num)
			}
			day := 24 * time.Hour
			if unit == "w" {
				day *= 7
			}
			v := f * float64(day)
			if v > float64(1<<63-1) {
				return 0, fmt.Errorf("duration %q is too long", s)
			}
			seg = time.Duration(v)
		default:
			d, err := time.ParseDuration(num + unit)
			if err != nil {
				return 0, fmt.Errorf("duration %q: unknown unit %q (use s, m, h, d or w, as in \"90m\" or \"7d\")", s, unit)
			}
			seg = d
		}
		if total+seg < total {
			return 0, fmt.Errorf("duration %q is too long", s)
		}
		total += seg
		rest = rest[j:]
	}
	return total, nil
}

// FormatDuration writes d the way a pipeline would ("1d", "1d12h", "90m"
// as "1h30m", "45s"), with no zero parts: "24h0m0s" is what Go's String
// gives a day, and not what anyone typed.
func FormatDuration(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	var b strings.Builder
	for _, u := range []struct {
		unit string
		size time.Duration
	}{{"d", 24 * time.Hour}, {"h", time.Hour}, {"m", time.Minute}, {"s", time.Second}} {
		if n := d / u.size; n > 0 {
			fmt.Fprintf(&b, "%d%s", n, u.unit)
			d -= n * u.size
		}
	}
	if d > 0 { // below a second: rare, keep it exact
		b.WriteString(d.String())
	}
	return b.String()
}
