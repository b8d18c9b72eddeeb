package pipeline

import (
	"sort"
	"strings"
)

// suggest returns the candidate closest to given, or "" when none is close
// enough to be a likely typo. Case differences count as close so that
// "feature service" suggests "Feature Service".
func suggest(given string, candidates []string) string {
	best, bestDist := "", -1
	for _, c := range candidates {
		if strings.EqualFold(c, given) {
			return c
		}
		d := levenshtein(strings.ToLower(given), strings.ToLower(c))
		// Allow roughly one edit per four characters, at least one.
		limit := max(1, len(c)/4)
		if d <= limit && (bestDist < 0 || d < bestDist) {
			best, bestDist = c, d
		}
	}
	return best
}

// didYouMean is suggest rendered as a sentence to append to a Detail,
// including the leading space, or "" when there is no suggestion.
func didYouMean(given string, candidates []string) string {
	if s := suggest(given, candidates); s != "" {
		return " Did you mean \"" + s + "\"?"
	}
	return ""
}

// quotedList renders names as `"a", "b" and "c"`, sorted, for Details that
// list the valid choices.
func quotedList(names []string) string {
	s := append([]string(nil), names...)
	sort.Strings(s)
	for i := range s {
		s[i] = `"` + s[i] + `"`
	}
	switch len(s) {
	case 0:
		return "(none)"
	case 1:
		return s[0]
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}

// levenshtein is the edit distance between a and b, in runes.
func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
