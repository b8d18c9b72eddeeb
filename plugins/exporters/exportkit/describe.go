package exportkit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"

	"github.com/agolpipe/agolpipe/sdk"
)

func asSDK(err error, target **sdk.Error) bool { return errors.As(err, target) }

// Artifact names every exporter uses for the same thing, so a restore tool
// finds them without knowing which exporter ran.
const (
	ItemJSON          = "item.json"
	DataJSON          = "data.json"
	MetadataXML       = "metadata.xml"
	ResourcesZip      = "resources.zip"
	RelationshipsJSON = "relationships.json"
)

// itemFields is the part of the item JSON the kit reads.
type itemFields struct {
	Thumbnail string `json:"thumbnail"`
}

// Describe saves the item's description: item.json (the full item JSON as
// the portal has it now, not the listing's abridged copy), the thumbnail
// and metadata.xml when the item has them. A missing thumbnail or metadata
// is not an error; other failures are returned.
func (s *Session) Describe(ctx context.Context) error {
	it := s.Req.Item
	if err := s.Save(ctx, sdk.Artifact{Name: ItemJSON, MediaType: "application/json", Format: "JSON"},
		jsonReq(ItemPath(it.ID))); err != nil {
		return err
	}
	var f itemFields
	if len(it.Raw) > 0 {
		_ = json.Unmarshal(it.Raw, &f)
	}
	if f.Thumbnail != "" {
		name := "thumbnail" + ext(f.Thumbnail, ".png")
		err := s.Save(ctx, sdk.Artifact{Name: name, Format: "Thumbnail"}, Raw(ItemPath(it.ID, "info", escapePath(f.Thumbnail)), nil))
		if sdk.IsNotFound(err) {
			s.Warn(ctx, "item %s (%s): thumbnail %s is listed but missing on the portal", it.ID, it.Title, f.Thumbnail)
		} else if err != nil {
			if sdk.KindOf(err) == sdk.KindCanceled {
				return err
			}
			// A lost thumbnail must not lose the item: partial, with why.
			s.Partial = append(s.Partial, fmt.Sprintf("thumbnail not saved: %v", err))
		}
	}
	err := s.Save(ctx, sdk.Artifact{Name: MetadataXML, MediaType: "application/xml", Format: "Metadata"},
		Raw(ItemPath(it.ID, "info", "metadata", "metadata.xml"), nil))
	if err != nil && !sdk.IsNotFound(err) {
		if sdk.KindOf(err) == sdk.KindCanceled {
			return err
		}
		s.Partial = append(s.Partial, fmt.Sprintf("metadata.xml not saved: %v", err))
	}
	return nil
}

func jsonReq(path string) sdk.PortalRequest {
	r := Raw(path, url.Values{"f": {"json"}})
	r.Header = map[string][]string{"Accept": {"application/json"}}
	return r
}

// JSONRequest is a GET of a JSON document that is saved as it comes
// (streamed, f=json set so the source adds nothing else).
func JSONRequest(path string) sdk.PortalRequest { return jsonReq(path) }

func ext(p, def string) string {
	i := strings.LastIndexByte(p, '.')
	if i < 0 || strings.ContainsRune(p[i:], '/') || len(p)-i > 6 {
		return def
	}
	return strings.ToLower(p[i:])
}

// escapePath escapes each segment of a relative path.
func escapePath(p string) string {
	parts := strings.Split(p, "/")
	for i, x := range parts {
		parts[i] = url.PathEscape(x)
	}
	return strings.Join(parts, "/")
}

// RelationshipTypes are the item relationship types the portal knows; a
// relatedItems request must name them.
var RelationshipTypes = []string{"APIKey2Item", "Area2CustomPackage", "Area2Package", "Item2Attachment", "Item2Report",
	"Listed2Provisioned", "Map2AppConfig", "Map2Area", "Map2FeatureCollection", "Map2Service", "MobileApp2Code",
	"Service2Data", "Service2Layer", "Service2Route", "Service2Service", "Service2Style", "Solution2Item", "Style2Style",
	"Survey2Data", "Survey2Service", "SurveyAddIn2Data", "Theme2Story", "TrackView2Map", "WebStyle2DesktopStyle",
	"WMA2Code", "WorkforceMap2FeatureService"}

// Related is one relationship of the item.
type Related struct {
	Type      string `json:"type"`
	Direction string `json:"direction"` // forward: this item -> other; reverse: other -> this item
	ItemID    string `json:"itemId"`
	Title     string `json:"title,omitempty"`
	ItemType  string `json:"itemType,omitempty"`
}

// Relationships is the relationships.json artifact (format agolpipe-relationships/1).
type Relationships struct {
	Format  string    `json:"format"`
	ItemID  string    `json:"itemId"`
	Related []Related `json:"relationships"`
	// DataReferences are item ids found in the item's data JSON (web map ->
	// layers, app -> map), which no relationship records.
	DataReferences []string `json:"dataReferences"`
	// SourceDependencies are the dependencies the source found while listing.
	SourceDependencies []string `json:"sourceDependencies,omitempty"`
}

type relatedAnswer struct {
	Total        int `json:"total"`
	RelatedItems []struct {
		ID    string `json:"id"`
		Title string `json:"title"`
		Type  string `json:"type"`
	} `json:"relatedItems"`
}

// FindRelated asks relatedItems for every known type in both directions.
// One request per direction with every type finds whether there is
// anything; only then is the type list split in halves, each half asked
// on its own and split again only while it still answers something, down
// to single types: the combined answer does not say which relationship an
// item is, and asking all 26 types one by one cost 26 requests per
// direction for an item with a single relationship (about 10 this way).
func (s *Session) FindRelated(ctx context.Context) ([]Related, error) {
	var out []Related
	id := s.Req.Item.ID
	for _, dir := range []string{"forward", "reverse"} {
		var ask func(types []string, all bool) error
		ask = func(types []string, all bool) error {
			var ans relatedAnswer
			key := "relationshipTypes"
			if len(types) == 1 {
				key = "relationshipType"
			}
			q := url.Values{key: {strings.Join(types, ",")}, "direction": {dir}}
			if err := s.GetJSON(ctx, jsonGet(ItemPath(id, "relatedItems"), q), &ans); err != nil {
				return err
			}
			if len(ans.RelatedItems) == 0 {
				return nil
			}
			if len(types) == 1 && !all {
				for _, r := range ans.RelatedItems {
					out = append(out, Related{Type: types[0], Direction: dir, ItemID: r.ID, Title: r.Title, ItemType: r.Type})
				}
				return nil
			}
			half := len(types) / 2
			if err := ask(types[:half], false); err != nil {
				return err
			}
			return ask(types[half:], false)
		}
		if err := ask(RelationshipTypes, true); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func jsonGet(path string, q url.Values) sdk.PortalRequest {
	r := Raw(path, q)
	r.Header = map[string][]string{"Accept": {"application/json"}}
	return r
}

// SaveRelationships writes relationships.json from the relationships found
// and the item ids referenced by the data JSON.
func (s *Session) SaveRelationships(ctx context.Context, rel []Related, dataRefs []string) error {
	refs := make([]string, 0, len(dataRefs))
	for _, r := range dataRefs {
		if r != s.Req.Item.ID {
			refs = append(refs, r)
		}
	}
	sort.Strings(refs)
	if rel == nil {
		rel = []Related{}
	}
	doc := Relationships{Format: "agolpipe-relationships/1", ItemID: s.Req.Item.ID, Related: rel, DataReferences: refs,
		SourceDependencies: s.Req.Item.Dependencies}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	return s.SaveBytes(ctx, sdk.Artifact{Name: RelationshipsJSON, MediaType: "application/json", Format: "JSON"}, b.Bytes())
}

// IDScanner collects the distinct 32-hex item ids in a stream written to
// it, across chunk boundaries, without keeping the stream.
type IDScanner struct {
	tail []byte
	seen map[string]bool
}

var idPattern = regexp.MustCompile(`[0-9a-f]{32}`)

// Write scans p; it never fails.
func (sc *IDScanner) Write(p []byte) (int, error) {
	if sc.seen == nil {
		sc.seen = map[string]bool{}
	}
	buf := append(sc.tail, p...)
	for _, loc := range idPattern.FindAllIndex(buf, -1) {
		// An id must stand alone: not part of a longer hex run.
		if loc[0] > 0 && isHex(buf[loc[0]-1]) || loc[1] < len(buf) && isHex(buf[loc[1]]) {
			continue
		}
		if loc[1] == len(buf) {
			continue // may continue in the next chunk; the tail keeps it
		}
		sc.seen[string(buf[loc[0]:loc[1]])] = true
	}
	keep := 33
	if len(buf) < keep {
		keep = len(buf)
	}
	sc.tail = append([]byte(nil), buf[len(buf)-keep:]...)
	return len(p), nil
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

// IDs returns the ids found, sorted, including one that ended the stream.
func (sc *IDScanner) IDs() []string {
	if m := idPattern.FindIndex(sc.tail); m != nil && m[1] == len(sc.tail) && (m[0] == 0 || !isHex(sc.tail[m[0]-1])) {
		if sc.seen == nil {
			sc.seen = map[string]bool{}
		}
		sc.seen[string(sc.tail[m[0]:m[1]])] = true
	}
	out := make([]string, 0, len(sc.seen))
	for id := range sc.seen {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}
