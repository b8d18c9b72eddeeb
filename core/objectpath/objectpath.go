// Package objectpath decides where each artifact of a run lands in a sink:
// the run folder, the layout folders, and file names that are safe on every
// OS whichever OS wrote them, short enough for the sink, and unique.
//
// Object paths are slash-separated and relative to the sink's root, as the
// sdk.Sink contract requires.
package objectpath

import (
	"fmt"
	"path"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/agolpipe/agolpipe/sdk"
)

// DefaultMaxPathLength applies when a sink declares no limit, so that a
// backup written to a bucket can still be restored onto a Windows disk.
const DefaultMaxPathLength = 240

// RunFolderTimeFormat is the timestamp in a run folder's name. It sorts
// lexically in time order and contains no character any OS forbids.
const RunFolderTimeFormat = "2006-01-02_15-04-05"

// RunFolder returns the folder of one run: "<prefix>_<YYYY-MM-DD_HH-MM-SS>",
// with the prefix made safe. An empty prefix gives just the timestamp.
func RunFolder(prefix string, start time.Time) string {
	ts := start.Format(RunFolderTimeFormat)
	if strings.TrimSpace(prefix) == "" {
		return ts
	}
	return SafeName(prefix) + "_" + ts
}

// Layout is how artifacts are grouped inside a run folder.
type Layout string

const (
	LayoutType            Layout = "type"
	LayoutOwnerType       Layout = "owner/type"
	LayoutOwnerFolderType Layout = "owner/folder/type"
)

// RootFolder names the folder of items in an owner's root under the
// owner/folder/type layout. The leading underscore keeps it apart from a
// portal folder of the same title in most listings.
const RootFolder = "_root"

// ParseLayout accepts the layouts a pipeline may name; "" means type.
func ParseLayout(s string) (Layout, error) {
	switch Layout(s) {
	case "", LayoutType:
		return LayoutType, nil
	case LayoutOwnerType, LayoutOwnerFolderType:
		return Layout(s), nil
	}
	return "", fmt.Errorf("unknown layout %q: use %q, %q or %q", s, LayoutType, LayoutOwnerType, LayoutOwnerFolderType)
}

// Folders returns the layout folders of an item, each already safe.
func (l Layout) Folders(item sdk.Item) []string {
	typ := SafeName(item.Type)
	switch l {
	case LayoutOwnerType:
		return []string{SafeName(item.Owner), typ}
	case LayoutOwnerFolderType:
		folder := RootFolder
		if item.FolderID != "" || item.FolderTitle != "" {
			folder = SafeName(firstNonEmpty(item.FolderTitle, item.FolderID))
		}
		return []string{SafeName(item.Owner), folder, typ}
	}
	return []string{typ}
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// Builder hands out the object paths of one run in one sink. It remembers
// every path it gave so two artifacts never share one, comparing case-
// insensitively because Windows and macOS disks do. Safe for concurrent use.
type Builder struct {
	run    string
	layout Layout
	max    int

	mu    sync.Mutex
	given map[key]string  // (item, name, occurrence) -> path: retries reuse it
	taken map[string]bool // lower-cased paths in use
}

type key struct {
	itemID, name string
	n            int
}

// NewBuilder returns a Builder for paths under runFolder. maxPathLength is
// the sink's declared limit (sdk.SinkFeatures.MaxPathLength); 0 means
// DefaultMaxPathLength, and a larger limit is capped at it.
func NewBuilder(runFolder string, layout Layout, maxPathLength int) *Builder {
	if maxPathLength <= 0 || maxPathLength > DefaultMaxPathLength {
		maxPathLength = DefaultMaxPathLength
	}
	if layout == "" {
		layout = LayoutType
	}
	return &Builder{run: runFolder, layout: layout, max: maxPathLength,
		given: map[key]string{}, taken: map[string]bool{}}
}

// RunFolder returns the run folder the builder puts paths under.
func (b *Builder) RunFolder() string { return b.run }

// MaxPathLength returns the limit the builder keeps every path under.
func (b *Builder) MaxPathLength() int { return b.max }

// Report returns the path of a run report (manifest.json, Results.txt) at
// the run folder's root.
func (b *Builder) Report(name string) string { return b.run + "/" + name }

// Artifact returns the object path of an artifact:
//
//	<run>/<layout folders>/<title>_<itemid><suffix>
//
// where the suffix comes from the artifact's name: a name whose stem is
// empty or "data" ("data.zip", ".json") is the item's main file and gives
// ".zip"; any other name gives "_<name>" ("_resources.zip"). The title is
// made safe and cut so the whole path fits the limit; the item id is never
// cut. occurrence counts earlier artifacts of the same name in the same
// export attempt (0 for the first), so a retried export gets back the same
// paths while a second artifact of the same name gets a new one.
func (b *Builder) Artifact(item sdk.Item, name string, occurrence int) (string, error) {
	k := key{item.ID, name, occurrence}
	b.mu.Lock()
	defer b.mu.Unlock()
	if p, ok := b.given[k]; ok {
		return p, nil
	}
	id := SafeName(item.ID)
	if id == "" || id != item.ID {
		return "", sdk.Permanent("item id %q cannot be part of a file name", item.ID)
	}
	folders := b.layout.Folders(item)
	suffix := artifactSuffix(name)
	for n := 1; ; n++ {
		uniq := ""
		if n > 1 {
			uniq = fmt.Sprintf("_%d", n)
		}
		p, err := b.fit(folders, SafeName(item.Title), id, uniq+suffix)
		if err != nil {
			return "", fmt.Errorf("item %s (%q), artifact %q: %w", item.ID, item.Title, name, err)
		}
		if !b.taken[strings.ToLower(p)] {
			b.taken[strings.ToLower(p)] = true
			b.given[k] = p
			return p, nil
		}
	}
}

// fit assembles a path, cutting the title (then, for absurdly deep roots,
// the layout folders) until it fits.
func (b *Builder) fit(folders []string, title, id, suffix string) (string, error) {
	build := func(folders []string, title string) string {
		file := id + suffix
		if title != "" {
			file = title + "_" + file
		}
		return path.Join(append(append([]string{b.run}, folders...), file)...)
	}
	p := build(folders, title)
	if len(p) <= b.max {
		return p, nil
	}
	over := len(p) - b.max
	if cut := Truncate(title, len(title)-over); cut != "" {
		return build(folders, cut), nil
	}
	// No room for a title: shorten the folders to 16 bytes each, then try
	// the title again.
	short := make([]string, len(folders))
	for i, f := range folders {
		short[i] = Truncate(f, 16)
		if short[i] == "" {
			short[i] = "_"
		}
	}
	p = build(short, "")
	if len(p) > b.max {
		return "", sdk.Permanent("no file name fits the sink's path limit of %d characters (shortest is %q); choose a shorter sink path or run prefix", b.max, p)
	}
	if cut := Truncate(title, b.max-len(p)-1); cut != "" {
		return build(short, cut), nil
	}
	return p, nil
}

// artifactSuffix maps an artifact name to the end of its file name.
func artifactSuffix(name string) string {
	ext := path.Ext(name)
	stem := strings.TrimSuffix(name, ext)
	if strings.TrimSpace(stem) == "" || strings.EqualFold(stem, "data") {
		if e := SafeName(strings.TrimPrefix(ext, ".")); e != "" {
			return "." + e
		}
		return ""
	}
	if n := SafeName(name); n != "" {
		return "_" + n
	}
	return ""
}

// forbidden are the characters no file name may contain on some OS that
// agolpipe supports (Windows is the strictest; / is the separator on all).
const forbidden = `/\:*?"<>|`

// SafeName turns s into one path segment that is valid on Windows, macOS and
// Linux: forbidden characters and control characters become "_" (runs of
// them collapse), invalid UTF-8 becomes "_", leading spaces and dots and
// trailing spaces and dots go, and a Windows reserved device name (CON,
// PRN, AUX, NUL, COM1-9, LPT1-9, with any extension, in any case) gets a
// leading "_". Other Unicode, emoji included, is kept. The result is ""
// only when s has nothing usable.
func SafeName(s string) string {
	var sb strings.Builder
	lastSub := false
	for i, r := range s {
		bad := r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD")
		if bad || r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || strings.ContainsRune(forbidden, r) {
			if !lastSub {
				sb.WriteByte('_')
			}
			lastSub = true
			continue
		}
		lastSub = false
		sb.WriteRune(r)
	}
	out := trimEnds(sb.String())
	if isReserved(out) {
		out = "_" + out
	}
	return out
}

func trimEnds(s string) string {
	s = strings.TrimLeft(s, " .")
	return strings.TrimRight(s, " .")
}

var reserved = func() map[string]bool {
	m := map[string]bool{"CON": true, "PRN": true, "AUX": true, "NUL": true, "CONIN$": true, "CONOUT$": true}
	for i := '1'; i <= '9'; i++ {
		m["COM"+string(i)] = true
		m["LPT"+string(i)] = true
	}
	// Windows also treats the superscript digits as device numbers.
	for _, d := range []string{"¹", "²", "³"} {
		m["COM"+d] = true
		m["LPT"+d] = true
	}
	return m
}()

// isReserved reports a Windows device name; "nul.txt" and "Com1 .zip" are
// devices too, because Windows ignores the extension and trailing spaces.
func isReserved(s string) bool {
	stem := s
	if i := strings.IndexByte(s, '.'); i >= 0 {
		stem = s[:i]
	}
	return reserved[strings.ToUpper(strings.TrimRight(stem, " "))]
}

// Truncate cuts a safe name to at most n bytes without splitting a UTF-8
// sequence, then drops trailing dots and spaces the cut exposed. A result
// that would be a reserved name is returned with a leading "_" only if that
// still fits; otherwise "".
func Truncate(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if len(s) > n {
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		s = s[:n]
	}
	s = trimEnds(s)
	if isReserved(s) {
		if len(s)+1 > n {
			return ""
		}
		s = "_" + s
	}
	return s
}
