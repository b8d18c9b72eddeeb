package restore

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"

	"github.com/agolpipe/agolpipe/core/report"
)

// References derived from the items' JSON, for a run that recorded none.
//
// The source records each item's dependencies (report.Item.Dependencies)
// only when asked to: the arcgis source's `dependencies = false` leaves
// every item's list empty. Without them the needs graph has no edges, so
// a parallel restore would start a web map, app or form alongside the
// service it refers to, and its restorer would miss the service's new id
// and URL (the remap) in another org. The references are there in the
// run all the same: the item JSON the restorers read and rewrite (data,
// item properties, relationships, a view's sources) names the ids and URLs
// of the items it refers to. So for such a run the plan reads each item's
// JSON artifacts once, streamed, and takes every id and URL of another
// item of the run found in them as an item it needs: the same edges the
// source would have recorded (its ids in data and relationships), and the
// service URLs as well. Between two services the direction is the JSON's
// (a view's sources.json names its source), not reversed as the
// relationships a source records (needsGraph).

// maxDeriveScan bounds the bytes of one artifact read for references,
// as the source bounds the data it reads for ids.
const maxDeriveScan = 32 << 20

// deriveChunk is how much of an artifact is scanned at once; deriveOverlap
// is kept from the chunk before, so an id or URL cut by a chunk's end is
// found whole in the next.
const (
	deriveChunk   = 256 << 10
	deriveOverlap = 4 << 10
)

var (
	deriveIDPattern  = regexp.MustCompile(`(?i)\b[0-9a-f]{32}\b`)
	deriveURLPattern = regexp.MustCompile(`(?i)https?:(?:\\?/){2}[^\s"'<>]+`)
)

// maxURLsPerItem bounds the distinct URLs kept of one item: memory stays a
// few kilobytes per item whatever an app's JSON holds.
const maxURLsPerItem = 2000

// recordsDependencies reports whether the run recorded its items'
// dependencies: a source that collects them records some for any org
// whose maps, apps or views refer to anything. A run where no item has
// any was made without (or its items refer to nothing, and reading their
// JSON finds nothing either).
func recordsDependencies(m *report.Run) bool {
	for _, it := range m.Items {
		if len(it.Dependencies) > 0 {
			return true
		}
	}
	return false
}

// derivedNeeds reads the JSON artifacts of the run's items (byID) and
// returns, for each item, the other items of the run its JSON names by
// id or URL, and how many items' JSON was read. A JSON artifact that
// cannot be read leaves its item's references out with a warning: the
// item is still ordered by kind (services, views, maps, apps).
func derivedNeeds(ctx context.Context, o *Options, byID map[string]report.Item) (map[string][]string, int, []string) {
	arts := map[string][]report.Artifact{}
	for _, a := range o.Manifest.Artifacts {
		if _, ok := byID[a.ItemID]; ok && strings.HasSuffix(strings.ToLower(a.Name), ".json") {
			arts[a.ItemID] = append(arts[a.ItemID], a)
		}
	}
	type scanned struct {
		url  string          // the item's own URL (item.json)
		ids  map[string]bool // ids of other items of the run
		urls map[string]bool // normalized URLs found
		warn string
	}
	ids := make([]string, 0, len(arts))
	for id := range arts {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	res := make([]scanned, len(ids))
	eachAtOnce(len(ids), reportsParallel, func(i int) {
		if ctx.Err() != nil {
			return // interrupted: the item is ordered by its kind only
		}
		id := ids[i]
		s := scanned{ids: map[string]bool{}, urls: map[string]bool{}}
		for _, a := range arts[id] {
			u, err := scanArtifact(ctx, o, a, func(tok []byte, isURL bool) {
				if isURL {
					if len(s.urls) < maxURLsPerItem {
						s.urls[normURL(string(tok))] = true
					}
					return
				}
				ref := strings.ToLower(string(tok))
				if _, ok := byID[ref]; ok && ref != id {
					s.ids[ref] = true
				}
			})
			if err != nil {
				s.warn = fmt.Sprintf("item %s %q: %s could not be read for the items it refers to (%v): it is ordered by its kind only", id, byID[id].Title, a.Name, err)
				continue
			}
			if u != "" {
				s.url = u
			}
		}
		res[i] = s
	})
	// Items are known by their URL where it is a service's (or layer's):
	// an app's URL is its viewer's, which many apps share.
	byURL := map[string]string{}
	shared := map[string]bool{}
	for i, id := range ids {
		u := normURL(res[i].url)
		if u == "" || !strings.Contains(u, "/rest/services/") {
			continue
		}
		if _, ok := byURL[u]; ok {
			shared[u] = true
		}
		byURL[u] = id
	}
	for u := range shared {
		delete(byURL, u)
	}
	out := map[string][]string{}
	var warns []string
	for i, id := range ids {
		s := res[i]
		if s.warn != "" {
			warns = append(warns, s.warn)
		}
		for u := range s.urls {
			if ref := urlItem(byURL, u); ref != "" && ref != id {
				s.ids[ref] = true
			}
		}
		for ref := range s.ids {
			out[id] = append(out[id], ref)
		}
		sort.Strings(out[id])
	}
	return out, len(ids), warns
}

// scanArtifact streams artifact a and calls found with every item id and
// URL in it (a token cut by a chunk's end is found whole in the next
// chunk; one found twice is harmless). For item.json it returns the
// item's own URL.
func scanArtifact(ctx context.Context, o *Options, a report.Artifact, found func(tok []byte, isURL bool)) (string, error) {
	rc, err := o.Catalog.Open(ctx, o.Run, a)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	r := io.LimitReader(rc, maxDeriveScan)
	var self string
	if a.Name == "item.json" {
		// Item properties are small: read whole for the item's url.
		b, err := io.ReadAll(r)
		if err != nil {
			return "", err
		}
		var it struct {
			URL string `json:"url"`
		}
		if json.Unmarshal(b, &it) == nil {
			self = it.URL
		}
		scanChunk(b, found)
		return self, nil
	}
	return "", scanReader(r, found)
}

// scanReader is scanArtifact's streaming scan: deriveChunk bytes at a
// time, each scanned with the last deriveOverlap bytes before it.
func scanReader(r io.Reader, found func(tok []byte, isURL bool)) error {
	buf := make([]byte, deriveOverlap+deriveChunk)
	keep := 0
	for {
		n, err := io.ReadFull(r, buf[keep:])
		if n > 0 {
			scanChunk(buf[:keep+n], found)
			if k := keep + n; k > deriveOverlap {
				copy(buf, buf[k-deriveOverlap:k])
				keep = deriveOverlap
			} else {
				keep = k
			}
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func scanChunk(b []byte, found func(tok []byte, isURL bool)) {
	for _, m := range deriveIDPattern.FindAll(b, -1) {
		found(m, false)
	}
	for _, m := range deriveURLPattern.FindAll(b, -1) {
		found(bytes.ReplaceAll(m, []byte(`\/`), []byte("/")), true)
	}
}

// normURL is a URL as compared with items' URLs: no scheme, query or
// fragment, no trailing slash, lower case (ArcGIS service URLs are not
// case sensitive).
func normURL(u string) string {
	u = strings.ToLower(strings.TrimSpace(u))
	if i := strings.Index(u, "://"); i >= 0 {
		u = u[i+3:]
	}
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		u = u[:i]
	}
	return strings.TrimRight(u, "/")
}

// urlItem is the item whose URL u is, or is under (a layer of a service:
// .../FeatureServer/0, .../FeatureServer/0/query), "" when none.
func urlItem(byURL map[string]string, u string) string {
	for range 4 {
		if id, ok := byURL[u]; ok {
			return id
		}
		i := strings.LastIndexByte(u, '/')
		if i <= 0 {
			return ""
		}
		u = u[:i]
	}
	return ""
}

// addNeeds adds the derived references to needs (item -> items it needs),
// each once.
func addNeeds(needs, derived map[string][]string) {
	for id, refs := range derived {
		have := map[string]bool{}
		for _, d := range needs[id] {
			have[d] = true
		}
		for _, d := range refs {
			if !have[d] {
				needs[id] = append(needs[id], d)
				have[d] = true
			}
		}
		sort.Strings(needs[id])
	}
}
