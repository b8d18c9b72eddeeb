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
		d := editDistance(strings.ToLower(given), strings.ToLower(c))
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

// editDistance is the number of single-rune insertions, deletions,
// substitutions and swaps of two neighbouring runes that turn a into b
// (optimal string alignment). The swap counts as one edit because it is the
// commonest typo ("layuot" for "layout"), which plain Levenshtein counts as
// two and so left without a suggestion.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	// d[i][j] is the distance between ra[:i] and rb[:j].
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}
