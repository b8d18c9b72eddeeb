package restore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/arcgisrest"
)

// Safety copies: before a restore overwrites an item in place, the item's
// current state is exported by the same exporter that restores it (the
// road of a backup: data, definitions, item JSON, thumbnail...) into the
// pipeline's first sink under restores/<restore id>/safety/<item id>/,
// with safety.json listing the artifacts and their sha256. No safety copy,
// no overwrite: a step whose copy cannot be taken fails untouched.
// `agolpipe restore undo` puts these copies back with the same restorer.

// SafetyFile names the record of one safety copy in its folder.
const SafetyFile = "safety.json"

// SafetyFolder is where the safety copy of item id of a restore goes.
func SafetyFolder(restoreID, itemID string) string {
	return Folder(restoreID) + "/safety/" + itemID
}

// safetyExportTimeout bounds the export of one safety copy (portal export
// jobs of big services take long; the restore waits for them, within it).
var safetyExportTimeout = 2 * time.Hour

// SafetyCopy records one item's state as it was before the overwrite.
type SafetyCopy struct {
	ItemID   string `json:"item_id"`
	Title    string `json:"title"`
	Type     string `json:"type"`
	Exporter string `json:"exporter"`
	// Kind is "" for a copy its exporter took (put back by its restorer)
	// or SafetyJSON for a copy of the item's JSON alone that replace took
	// (put back by undo itself: Fields and the data).
	Kind   string   `json:"kind,omitempty"`
	Fields []string `json:"fields,omitempty"`
	// Folder is the copy's folder in the sink (SafetyFolder).
	Folder    string           `json:"folder"`
	Sink      string           `json:"sink"`
	Taken     time.Time        `json:"taken"`
	Status    sdk.ExportStatus `json:"status"`
	Reason    string           `json:"reason,omitempty"`
	Artifacts []SafetyArtifact `json:"artifacts"`
}

// SafetyArtifact is one artifact of a safety copy.
type SafetyArtifact struct {
	Name      string `json:"name"`
	Size      int64  `json:"size"`
	SHA256    string `json:"sha256"`
	Format    string `json:"format,omitempty"`
	MediaType string `json:"media_type,omitempty"`
}

// takeSafetyCopy exports the target's current state of the item st
// overwrites into the safety sink and records it. An error means the item
// must not be overwritten.
func takeSafetyCopy(ctx context.Context, o *Options, st *Step) (*SafetyCopy, error) {
	if o.Safety == nil {
		return nil, fmt.Errorf("no sink to keep a safety copy in: nothing is overwritten without one")
	}
	r := o.Restorers[st.Item.Type]
	ex, ok := r.R.(sdk.Exporter)
	if !ok {
		return nil, fmt.Errorf("restorer %q cannot export the item's current state as a safety copy", r.Name)
	}
	it, err := targetItem(ctx, o.Target, st.TargetItemID)
	if err != nil {
		return nil, fmt.Errorf("reading the item to overwrite: %w", err)
	}
	sc := &SafetyCopy{ItemID: st.TargetItemID, Title: it.Title, Type: it.Type, Exporter: r.Name,
		Folder: SafetyFolder(o.RestoreID, st.TargetItemID), Sink: o.SafetySinkName, Taken: time.Now().UTC()}
	w := &safetyWriter{ctx: ctx, sink: o.Safety, dir: sc.Folder, seen: map[string]bool{}}
	start := time.Now()
	req := sdk.ExportRequest{Item: it, RunID: "restore-" + o.RestoreID, Org: o.TargetOrg, Timeout: safetyExportTimeout}
	res, err := ex.Export(ctx, req, o.host(st), w)
	if err == nil && res.Status == sdk.StatusDeferred {
		// The export job outlived its timeout: collect it now, within what
		// is left of the bound.
		req.Resume, req.Timeout = true, safetyExportTimeout-time.Since(start)
		res, err = ex.Export(ctx, req, o.host(st), w)
	}
	if err != nil {
		return nil, fmt.Errorf("exporting its current state: %w", err)
	}
	switch res.Status {
	case sdk.StatusExported, sdk.StatusPartial:
	case sdk.StatusSkipped:
		// A reference item's export is skipped by design, and what it
		// saved (its description) is all the item is: a safety copy, when
		// the restorer restores such exports.
		if !r.Skipped {
			return nil, fmt.Errorf("exporting its current state ended %s%s", res.Status, suffix(res.Reason))
		}
	default:
		return nil, fmt.Errorf("exporting its current state ended %s%s", res.Status, suffix(res.Reason))
	}
	if len(w.arts) == 0 {
		return nil, fmt.Errorf("exporting its current state wrote nothing")
	}
	sc.Status, sc.Reason, sc.Artifacts = res.Status, res.Reason, w.arts
	b, _ := json.MarshalIndent(sc, "", "  ")
	if _, err := o.Safety.Put(ctx, sdk.PutRequest{Path: sc.Folder + "/" + SafetyFile, MediaType: "application/json", Size: int64(len(b)), Body: bytes.NewReader(b)}); err != nil {
		return nil, fmt.Errorf("storing %s/%s: %w", sc.Folder, SafetyFile, err)
	}
	return sc, nil
}

// safetyWriter stores an exporter's artifacts in the safety folder,
// hashing them on the way.
type safetyWriter struct {
	ctx  context.Context
	sink sdk.Sink
	dir  string
	seen map[string]bool
	arts []SafetyArtifact
}

func (w *safetyWriter) Write(ctx context.Context, a sdk.Artifact, body io.Reader) error {
	name := path.Base(strings.ReplaceAll(a.Name, "\\", "/"))
	if name == "." || name == ".." || name == "/" || name == "" || name == SafetyFile {
		name = "artifact"
	}
	for base, i := name, 2; w.seen[name]; i++ {
		name = fmt.Sprintf("%d-%s", i, base)
	}
	w.seen[name] = true
	h := sha256.New()
	cr := &countReader{r: io.TeeReader(body, h)}
	if _, err := w.sink.Put(ctx, sdk.PutRequest{Path: w.dir + "/" + name, MediaType: a.MediaType, Size: a.Size, Body: cr}); err != nil {
		return err
	}
	w.arts = append(w.arts, SafetyArtifact{Name: name, Size: cr.n, SHA256: hex.EncodeToString(h.Sum(nil)), Format: a.Format, MediaType: a.MediaType})
	return nil
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// portalItem is the part of a portal item's JSON an sdk.Item needs.
type portalItem struct {
	ID           string   `json:"id"`
	Title        string   `json:"title"`
	Type         string   `json:"type"`
	TypeKeywords []string `json:"typeKeywords"`
	Tags         []string `json:"tags"`
	Owner        string   `json:"owner"`
	OwnerFolder  string   `json:"ownerFolder"`
	Access       string   `json:"access"`
	Size         int64    `json:"size"`
	URL          string   `json:"url"`
	Created      int64    `json:"created"`
	Modified     int64    `json:"modified"`
	Protected    bool     `json:"protected"`
}

// targetItem reads an item of the target as the exporters get items from
// a listing (Raw is the whole item JSON).
func targetItem(ctx context.Context, src sdk.Source, id string) (sdk.Item, error) {
	var raw json.RawMessage
	if err := readJSON(ctx, src.Do, arcgisrest.JSON("content/items/"+url.PathEscape(id), nil), &raw); err != nil {
		return sdk.Item{}, err
	}
	var p portalItem
	if err := json.Unmarshal(raw, &p); err != nil || p.ID == "" {
		return sdk.Item{}, fmt.Errorf("item %s: the portal's answer is not an item (%v)", id, err)
	}
	return sdk.Item{ID: p.ID, Title: p.Title, Type: p.Type, TypeKeywords: p.TypeKeywords, Tags: p.Tags, Owner: p.Owner, FolderID: p.OwnerFolder,
		Access: p.Access, Size: p.Size, URL: p.URL, Protected: p.Protected, Created: time.UnixMilli(p.Created), Modified: time.UnixMilli(p.Modified), Raw: raw}, nil
}
