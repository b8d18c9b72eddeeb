package sdk

import (
	"sort"
	"strings"
)

// RemapJSON rewrites every id and URL of the backup that remap knows (old ->
// new) wherever it appears in a JSON document: web map layers' itemId and
// url, an app's map id, a dashboard's data sources, a StoryMap's
// references. Longer keys go first, so a layer URL with its own entry wins
// over its service's URL (a prefix of it); a service URL without per-layer
// entries still rewrites its layers' URLs by prefix. Keys are matched as
// written and with JSON's escaped slashes ("\/"), which some writers use.
func RemapJSON(doc []byte, remap map[string]string) []byte {
	if len(remap) == 0 || len(doc) == 0 {
		return doc
	}
	return []byte(Remapper(remap).Replace(string(doc)))
}

// Remapper is the replacer RemapJSON uses, for rewriting many documents with
// the same table.
func Remapper(remap map[string]string) *strings.Replacer {
	keys := make([]string, 0, len(remap))
	for k := range remap {
		if k != "" && k != remap[k] {
			keys = append(keys, k)
		}
	}
	// Longest first: strings.Replacer tries its pairs in argument order at
	// each position.
	sort.Slice(keys, func(i, j int) bool {
		if len(keys[i]) != len(keys[j]) {
			return len(keys[i]) > len(keys[j])
		}
		return keys[i] < keys[j]
	})
	pairs := make([]string, 0, 4*len(keys))
	for _, k := range keys {
		pairs = append(pairs, k, remap[k])
		if strings.Contains(k, "/") {
			pairs = append(pairs, strings.ReplaceAll(k, "/", `\/`), strings.ReplaceAll(remap[k], "/", `\/`))
		}
	}
	return strings.NewReplacer(pairs...)
}
