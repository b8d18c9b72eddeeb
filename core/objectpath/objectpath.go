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

// MaxNameLength is the longest file name (one path segment, in bytes) a
// path gets: NAME_MAX of ext4, XFS, APFS and NTFS (in UTF-16 units there,
// never more than bytes), whatever the sink's path limit.
const MaxNameLength = 255

// minNameStem is what a long artifact name keeps of its stem before the
// title is cut: both say what the file is; the title is cut first below
// that.
const minNameStem = 48

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
// ".zip"; any other name gives "_<name>" ("_resources.zip"). To fit the
// limit (and MaxNameLength), a long name's stem is cut first to
// minNameStem bytes, then the title, then the name's stem further; its
// extension and the item id are never cut. The manifest keeps the
// artifact's whole original name beside the path. occurrence counts
// earlier artifacts of the same name in the same export attempt (0 for the
// first), so a retried export gets back the same paths while a second
// artifact of the same name gets a new one.
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
	stem, ext := artifactSuffix(name)
	for n := 1; ; n++ {
		uniq := ""
		if n > 1 {
			uniq = fmt.Sprintf("_%d", n)
		}
		p, err := b.fit(folders, SafeName(item.Title), id+uniq, stem, ext)
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

// fit assembles <title>_<id>[_<stem>]<ext>, cutting the name's stem to
// minNameStem, then the title, then the stem further (then, for absurdly
// deep roots, the layout folders) until the path fits the limit and the
// file name fits MaxNameLength.
func (b *Builder) fit(folders []string, title, id, stem, ext string) (string, error) {
	build := func(folders []string, title, stem string) (string, int) {
		file := id
		if stem != "" {
			file += "_" + stem
		}
		file += ext
		if title != "" {
			file = title + "_" + file
		}
		p := path.Join(append(append([]string{b.run}, folders...), file)...)
		return p, max(len(p)-b.max, len(file)-MaxNameLength)
	}
	p, over := build(folders, title, stem)
	if over <= 0 {
		return p, nil
	}
	if len(stem) > minNameStem {
		stem = cutStem(stem, max(minNameStem, len(stem)-over))
		if p, over = build(folders, title, stem); over <= 0 {
			return p, nil
		}
	}
	if cut := Truncate(title, len(title)-over); cut != "" {
		p, _ := build(folders, cut, stem)
		return p, nil
	}
	if p, over = build(folders, "", stem); over <= 0 {
		return p, nil
	}
	if stem != "" {
		if p, over = build(folders, "", cutStem(stem, len(stem)-over)); over <= 0 {
			return p, nil
		}
	}
	// No room for a title or a name: shorten the folders to 16 bytes
	// each, then add back what still fits of the name, then the title
	// (every byte added lengthens the path and the file name alike).
	short := make([]string, len(folders))
	for i, f := range folders {
		short[i] = Truncate(f, 16)
		if short[i] == "" {
			short[i] = "_"
		}
	}
	p, over = build(short, "", "")
	if over > 0 {
		return "", sdk.Permanent("no file name fits the sink's path limit of %d characters (shortest is %q); choose a shorter sink path or run prefix", b.max, p)
	}
	kept := ""
	if cut := cutStem(stem, -over-1); cut != "" {
		kept = cut
		p, over = build(short, "", kept)
	}
	if cut := Truncate(title, -over-1); cut != "" {
		p, _ = build(short, cut, kept)
	}
	return p, nil
}

// cutStem is Truncate for a name's stem; it may cut to "".
func cutStem(stem string, n int) string { return Truncate(stem, n) }

// artifactSuffix splits an artifact name into the stem and extension its
// file name ends with: a name whose stem is empty or "data" ("data.zip",
// ".json") is the item's main file and gives only its extension; any other
// gives its safe stem and extension. An "extension" longer than 16 bytes
// is not one: it stays in the stem.
func artifactSuffix(name string) (stem, ext string) {
	ext = path.Ext(name)
	st := strings.TrimSuffix(name, ext)
	if strings.TrimSpace(st) == "" || strings.EqualFold(st, "data") {
		if e := SafeName(strings.TrimPrefix(ext, ".")); e != "" {
			return "", "." + e
		}
		return "", ""
	}
	n := SafeName(name)
	if n == "" {
		return "", ""
	}
	e := path.Ext(n)
	if len(e) > 16 || e == n {
		return n, ""
	}
	return strings.TrimSuffix(n, e), e
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
