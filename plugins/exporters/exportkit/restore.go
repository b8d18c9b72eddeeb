package exportkit

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/arcgisrest"
	"github.com/agolpipe/agolpipe/sdk/retry"
)

// RestoreSession is one item's restore: the inverse of Session. Reads of the
// portal are retried; writes are sent once (a repeated addItem would create
// a second item), and what a failed restore created is deleted again.
type RestoreSession struct {
	Req   sdk.RestoreRequest
	Host  sdk.RestoreHost
	Retry retry.Policy
	// Warnings are things the restore could not put back, for the report.
	Warnings []string
	// owners are the owners of target items read with TargetItem: an
	// item's operations go to its owner's content path
	// (content/users/<owner>/items/<id>/...), also when an administrator
	// restores another user's item in place.
	owners map[string]string
	// marks are the restore marks (sdk.IsRestoreMark) of target items read
	// with TargetItem: an overwrite in place keeps them, so the restore
	// that created the item can still undo it and a later restore still
	// finds it as the copy of its backup item.
	marks map[string][]string
	// sourceOrg is the orgId of the backup's item.json (LoadItem).
	sourceOrg string
}

// NewRestoreSession starts the restore of req.Item through host.
func NewRestoreSession(host sdk.RestoreHost, req sdk.RestoreRequest, pol retry.Policy) *RestoreSession {
	if pol.Retries == 0 && pol.Base == 0 {
		pol = DefaultRetry
	}
	return &RestoreSession{Req: req, Host: host, Retry: pol}
}

// Warn records a warning and logs it.
func (s *RestoreSession) Warn(ctx context.Context, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	s.Warnings = append(s.Warnings, msg)
	s.Host.Log(ctx, sdk.LogWarn, msg)
}

// Has reports whether the run holds the artifact.
func (s *RestoreSession) Has(name string) bool {
	_, ok := s.Req.Artifact(name)
	return ok
}

// ReadAll reads a small artifact (JSON, XML, a thumbnail) whole, checked by
// the host; at most arcgisrest.MaxJSONBytes.
func (s *RestoreSession) ReadAll(ctx context.Context, name string) ([]byte, error) {
	rc, err := s.Host.ReadArtifact(ctx, name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, arcgisrest.MaxJSONBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > arcgisrest.MaxJSONBytes {
		return nil, sdk.Permanent("artifact %s is larger than %d bytes; it cannot be read whole", name, arcgisrest.MaxJSONBytes)
	}
	return b, nil
}

// BackupItem is item.json of the backup, the fields a restore writes back.
type BackupItem struct {
	ID                string          `json:"id"`
	Title             string          `json:"title"`
	Type              string          `json:"type"`
	Name              string          `json:"name"`
	TypeKeywords      []string        `json:"typeKeywords"`
	Tags              []string        `json:"tags"`
	Snippet           string          `json:"snippet"`
	Description       string          `json:"description"`
	AccessInformation string          `json:"accessInformation"`
	LicenseInfo       string          `json:"licenseInfo"`
	Culture           string          `json:"culture"`
	URL               string          `json:"url"`
	Extent            [][]float64     `json:"extent"`
	SpatialReference  json.RawMessage `json:"spatialReference"`
	Properties        json.RawMessage `json:"properties"`
	Categories        []string        `json:"categories"`
	Thumbnail         string          `json:"thumbnail"`
	// OrgID is the organization the item was backed up from.
	OrgID string `json:"orgId"`
}

// LoadItem reads item.json.
func (s *RestoreSession) LoadItem(ctx context.Context) (BackupItem, error) {
	var it BackupItem
	b, err := s.ReadAll(ctx, ItemJSON)
	if err != nil {
		return it, err
	}
	if err := json.Unmarshal(b, &it); err != nil {
		return it, sdk.Permanent("%s of item %s is not the item JSON: %v", ItemJSON, s.Req.Item.ID, err)
	}
	s.sourceOrg = it.OrgID
	return it, nil
}

// MayHaveBackupItems reports whether the target may hold items of the
// backup under their own ids: it is the organization the item was backed
// up from (a restore into its own org, an undo), or that is not known
// (LoadItem not called, or item.json without orgId). Item ids are unique
// across portals, so another org never does, and a restore there need not
// ask.
func (s *RestoreSession) MayHaveBackupItems() bool {
	return s.sourceOrg == "" || s.Req.Target.OrgID == "" || s.sourceOrg == s.Req.Target.OrgID
}

// Form is the addItem/update form of it: every descriptive field, the ids
// and URLs in them remapped. With mark, agolpipe's restore marks replace any
// the backup carries (sdk.RestoreRequest.CreatedKeywords), so `restore
// undo` can find what the restore created and a later restore the copy of
// each backup item; an item overwritten in place never gets them (undo must
// not delete it) and keeps the marks it has (read by TargetItem).
func (s *RestoreSession) Form(it BackupItem, mark bool) url.Values {
	rm := sdk.Remapper(s.Req.Remap)
	f := url.Values{}
	set := func(k, v string) {
		if v != "" {
			f.Set(k, rm.Replace(v))
		}
	}
	set("title", it.Title)
	set("type", it.Type)
	set("snippet", it.Snippet)
	set("description", it.Description)
	set("accessInformation", it.AccessInformation)
	set("licenseInfo", it.LicenseInfo)
	set("culture", it.Culture)
	set("url", it.URL)
	// The marks are not remapped: the source mark names the backup's item
	// id, which the remap table maps to the new one once it exists.
	kw := make([]string, 0, len(it.TypeKeywords)+3)
	for _, k := range it.TypeKeywords {
		kw = append(kw, rm.Replace(k))
	}
	if mark {
		kw = s.Req.CreatedKeywords(kw)
	} else if have, ok := s.marks[s.Req.TargetItemID]; ok && s.Req.TargetItemID != "" {
		kw = kw[:0]
		for _, k := range it.TypeKeywords {
			if !sdk.IsRestoreMark(k) {
				kw = append(kw, rm.Replace(k))
			}
		}
		kw = append(kw, have...)
	}
	if len(kw) > 0 {
		f.Set("typeKeywords", strings.Join(kw, ","))
	}
	f.Set("tags", strings.Join(it.Tags, ","))
	if len(it.Categories) > 0 {
		f.Set("categories", strings.Join(it.Categories, ","))
	}
	if len(it.Extent) == 2 && len(it.Extent[0]) == 2 && len(it.Extent[1]) == 2 {
		f.Set("extent", fmt.Sprintf("%v,%v,%v,%v", it.Extent[0][0], it.Extent[0][1], it.Extent[1][0], it.Extent[1][1]))
	}
	if raw := bytes.TrimSpace(it.SpatialReference); len(raw) > 0 && string(raw) != "null" {
		f.Set("spatialReference", string(raw))
	}
	if raw := bytes.TrimSpace(it.Properties); len(raw) > 0 && string(raw) != "null" {
		f.Set("properties", string(sdk.RemapJSON(raw, s.Req.Remap)))
	}
	return f
}

// userPath is content/users/<owner>[/<folder>]/<op>.
func (s *RestoreSession) userPath(op string, inFolder bool) string {
	p := "content/users/" + url.PathEscape(s.Req.Owner)
	if inFolder && s.Req.FolderID != "" {
		p += "/" + url.PathEscape(s.Req.FolderID)
	}
	return p + "/" + op
}

// ItemOpPath is content/users/<owner>/items/<id>/<op>.
func (s *RestoreSession) ItemOpPath(id, op string) string {
	owner := s.Req.Owner
	if o := s.owners[id]; o != "" {
		owner = o
	}
	return "content/users/" + url.PathEscape(owner) + "/items/" + url.PathEscape(id) + "/" + op
}

type writeAnswer struct {
	Success bool   `json:"success"`
	ID      string `json:"id"`
	ItemID  string `json:"itemId"`
}

// Post sends one write and decodes its answer. It is sent again only when
// the portal turned it away unapplied (arcgisrest.WriteJSON: throttled, or
// its token refused), never after a failure that may have been applied;
// a file is sent again only when its body can be read again from its start
// (an io.Seeker), else once (PostFile opens it afresh for each attempt).
func (s *RestoreSession) Post(ctx context.Context, p string, form url.Values, file *sdk.PortalFile, v any) error {
	if file == nil {
		return s.PostFile(ctx, p, form, nil, v)
	}
	sk, ok := file.Body.(io.Seeker)
	if !ok {
		req := arcgisrest.JSONPost(p, form)
		req.File = file
		if req.Form == nil {
			req.Form = url.Values{}
		}
		return arcgisrest.GetJSON(ctx, s.Host.Portal, req, v)
	}
	return s.PostFile(ctx, p, form, func() (*sdk.PortalFile, io.Closer, error) {
		if _, err := sk.Seek(0, io.SeekStart); err != nil {
			return nil, nil, sdk.Permanent("upload of %s: %v", file.Name, err)
		}
		return file, nil, nil
	}, v)
}

// PostFile is Post with the upload's file opened by open for each attempt
// (nil: no file).
func (s *RestoreSession) PostFile(ctx context.Context, p string, form url.Values, open arcgisrest.OpenFile, v any) error {
	req := arcgisrest.JSONPost(p, form)
	if open != nil && req.Form == nil {
		req.Form = url.Values{}
	}
	return arcgisrest.WriteJSON(ctx, s.Host.Portal, s.Retry, req, open, v)
}

// openArtifact opens the run's artifact a as the upload part field named
// name, for one attempt of a write.
func (s *RestoreSession) openArtifact(ctx context.Context, field string, a sdk.RestoreArtifact, name string) arcgisrest.OpenFile {
	return s.openSource(ctx, field, s.ArtifactSource(a), name)
}

// FileSource is a file a restore uploads as an item's file: Open reads it
// from its start (again for each attempt of a write), Size bytes long;
// What names it in messages. ArtifactSource is a run's artifact as one; a
// restorer may prepare another (a form package with its references
// rewritten, spooled to a temporary file).
type FileSource struct {
	Open func(ctx context.Context) (io.ReadCloser, error)
	Size int64
	What string
	// Artifact names the run's artifact this is, when it is one as it
	// stands: a single-request upload of it then names it and the host
	// streams it from the sink to the portal (sdk.UploadsArtifacts).
	Artifact string
}

// ArtifactSource is the run's artifact a, read through the host (checked
// against the manifest as it streams).
func (s *RestoreSession) ArtifactSource(a sdk.RestoreArtifact) FileSource {
	return FileSource{Size: a.Size, What: "artifact " + a.Name, Artifact: a.Name, Open: func(ctx context.Context) (io.ReadCloser, error) {
		return s.Host.ReadArtifact(ctx, a.Name)
	}}
}

// openSource opens src as the upload part field named name, for one
// attempt of a write (a single request: parts read src.Open themselves).
// A run's artifact goes by name to a host that takes it, which reads it
// afresh from the sink for each attempt; to others its bytes are sent.
func (s *RestoreSession) openSource(ctx context.Context, field string, src FileSource, name string) arcgisrest.OpenFile {
	if src.Artifact != "" && sdk.UploadsArtifacts(s.Host) {
		return func() (*sdk.PortalFile, io.Closer, error) {
			return &sdk.PortalFile{Field: field, Name: name, ContentType: MediaTypeFor(name), Size: src.Size, Artifact: src.Artifact}, nil, nil
		}
	}
	return func() (*sdk.PortalFile, io.Closer, error) {
		rc, err := src.Open(ctx)
		if err != nil {
			return nil, nil, err
		}
		return &sdk.PortalFile{Field: field, Name: name, ContentType: MediaTypeFor(name), Size: src.Size, Body: rc}, rc, nil
	}
}

// AddItem creates the item in the owner's folder and returns its id.
func (s *RestoreSession) AddItem(ctx context.Context, form url.Values, file *sdk.PortalFile) (string, error) {
	var a writeAnswer
	if err := s.Post(ctx, s.userPath("addItem", true), form, file, &a); err != nil {
		return "", err
	}
	return addedID(a)
}

// addItemFile is AddItem with its file opened by open for each attempt.
func (s *RestoreSession) addItemFile(ctx context.Context, form url.Values, open arcgisrest.OpenFile) (string, error) {
	var a writeAnswer
	if err := s.PostFile(ctx, s.userPath("addItem", true), form, open, &a); err != nil {
		return "", err
	}
	return addedID(a)
}

func addedID(a writeAnswer) (string, error) {
	if a.ID == "" {
		return "", sdk.Permanent("addItem answered no item id")
	}
	return a.ID, nil
}

// Update changes an item's fields (and its file when given).
func (s *RestoreSession) Update(ctx context.Context, id string, form url.Values, file *sdk.PortalFile) error {
	var a writeAnswer
	return s.Post(ctx, s.ItemOpPath(id, "update"), form, file, &a)
}

// Delete removes an item this restore created (a failed restore's
// leftover). It runs to its end (within DeleteItem's bound) even when ctx
// is canceled: an interrupted restore fails the items it had in hand, and
// what they had created must not stay behind half made.
func (s *RestoreSession) Delete(ctx context.Context, id string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 4*time.Minute)
	defer cancel()
	err := arcgisrest.DeleteItem(ctx, s.Host.Portal, s.Req.Owner, id, true, arcgisrest.DeleteOptions{})
	if err != nil {
		s.Warn(ctx, "item %s created by this restore could not be deleted after the failure: %v; delete it by hand", id, err)
	}
}

// ThumbnailArtifact is the name of the backup's thumbnail, "" when none.
func (s *RestoreSession) ThumbnailArtifact() string {
	for _, a := range s.Req.Artifacts {
		if strings.HasPrefix(a.Name, "thumbnail.") {
			return a.Name
		}
	}
	return ""
}

// uploadArtifact sends artifact name as the file part field of an update.
func (s *RestoreSession) uploadArtifact(ctx context.Context, id, field, name, fileName string) error {
	a, _ := s.Req.Artifact(name)
	var ans writeAnswer
	return s.PostFile(ctx, s.ItemOpPath(id, "update"), url.Values{}, s.openArtifact(ctx, field, a, fileName), &ans)
}

// RestoreDescription puts back the thumbnail and metadata.xml.
func (s *RestoreSession) RestoreDescription(ctx context.Context, id string) error {
	if t := s.ThumbnailArtifact(); t != "" {
		if err := s.uploadArtifact(ctx, id, "thumbnail", t, t); err != nil {
			return fmt.Errorf("thumbnail: %w", err)
		}
	}
	if s.Has(MetadataXML) {
		if err := s.uploadArtifact(ctx, id, "metadata", MetadataXML, MetadataXML); err != nil {
			return fmt.Errorf("metadata: %w", err)
		}
	}
	return nil
}

// RestoreResources uploads every entry of resources.zip (paths kept, JSON
// resources remapped). The archive is spooled to a temporary file (a zip is
// read from its end); an entry whose name would leave the item's resources
// is refused.
func (s *RestoreSession) RestoreResources(ctx context.Context, id string) (int, error) {
	if !s.Has(ResourcesZip) {
		return 0, nil
	}
	rc, err := s.Host.ReadArtifact(ctx, ResourcesZip)
	if err != nil {
		return 0, err
	}
	f, err := os.CreateTemp("", "agolpipe-restore-*.zip")
	if err != nil {
		rc.Close()
		return 0, sdk.Permanent("spooling resources.zip: %v", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	n, err := io.Copy(f, rc)
	rc.Close()
	if err != nil {
		return 0, err
	}
	zr, err := zip.NewReader(f, n)
	if err != nil {
		return 0, sdk.Permanent("resources.zip of item %s: %v", s.Req.Item.ID, err)
	}
	count := 0
	for _, e := range zr.File {
		if strings.HasSuffix(e.Name, "/") {
			continue
		}
		clean := path.Clean(e.Name)
		if e.Name == "" || clean != e.Name || strings.HasPrefix(clean, "../") || clean == ".." || path.IsAbs(clean) || strings.ContainsAny(clean, "\\\x00:") {
			s.Warn(ctx, "resource %q of item %s refused: its path would leave the item's resources", e.Name, s.Req.Item.ID)
			continue
		}
		dir, base := path.Split(clean)
		size := int64(e.UncompressedSize64)
		// Each attempt of the upload reads the entry from its start: the
		// spooled archive, or the remapped JSON in memory.
		open := func() (*sdk.PortalFile, io.Closer, error) {
			er, err := e.Open()
			if err != nil {
				return nil, nil, sdk.Permanent("resources.zip entry %s: %v", e.Name, err)
			}
			return &sdk.PortalFile{Field: "file", Name: base, ContentType: MediaTypeFor(base), Size: size, Body: er}, er, nil
		}
		isJSON := strings.HasSuffix(strings.ToLower(base), ".json") && len(s.Req.Remap) > 0
		if isJSON && size > arcgisrest.MaxJSONBytes {
			s.Warn(ctx, "resource %s of item %s is larger than %d bytes: uploaded as it is, its ids and URLs not rewritten", e.Name, s.Req.Item.ID, arcgisrest.MaxJSONBytes)
		}
		if isJSON && size <= arcgisrest.MaxJSONBytes {
			er, err := e.Open()
			if err != nil {
				return count, sdk.Permanent("resources.zip entry %s: %v", e.Name, err)
			}
			b, err := io.ReadAll(er)
			er.Close()
			if err != nil {
				return count, sdk.Permanent("resources.zip entry %s: %v", e.Name, err)
			}
			b = sdk.RemapJSON(b, s.Req.Remap)
			open = func() (*sdk.PortalFile, io.Closer, error) {
				return &sdk.PortalFile{Field: "file", Name: base, ContentType: MediaTypeFor(base), Size: int64(len(b)), Body: bytes.NewReader(b)}, nil, nil
			}
		}
		form := url.Values{"fileName": {base}}
		if dir != "" {
			form.Set("resourcesPrefix", strings.TrimSuffix(dir, "/"))
		}
		var a writeAnswer
		err = s.PostFile(ctx, s.ItemOpPath(id, "addResources"), form, open, &a)
		if err != nil {
			return count, fmt.Errorf("resource %s: %w", e.Name, err)
		}
		count++
	}
	return count, nil
}

// RestoreRelationships re-creates the item's relationships (forward and
// reverse) to the item at their other end in the target: the one restored
// for it (the remap table), or the same item when the target still has it
// (a restore into the item's own org, an undo). A relationship the item
// already has (restored in place) is left as it is.
func (s *RestoreSession) RestoreRelationships(ctx context.Context, id string) error {
	if !s.Has(RelationshipsJSON) {
		return nil
	}
	b, err := s.ReadAll(ctx, RelationshipsJSON)
	if err != nil {
		return err
	}
	var doc Relationships
	if err := json.Unmarshal(b, &doc); err != nil {
		return sdk.Permanent("%s: %v", RelationshipsJSON, err)
	}
	inPlace := id == s.Req.TargetItemID
	for _, r := range doc.Related {
		other, ok := s.Req.Remap[r.ItemID]
		if !ok && !s.MayHaveBackupItems() {
			s.Warn(ctx, "relationship %s (%s) with item %s (%s) not re-created: that item is not restored", r.Type, r.Direction, r.ItemID, r.Title)
			continue
		}
		if !ok {
			has, err := s.TargetHas(ctx, r.ItemID)
			if err != nil {
				s.Warn(ctx, "relationship %s (%s) with item %s not re-created: %v", r.Type, r.Direction, r.ItemID, err)
				continue
			}
			if !has {
				s.Warn(ctx, "relationship %s (%s) with item %s (%s) not re-created: that item is neither restored nor in the target", r.Type, r.Direction, r.ItemID, r.Title)
				continue
			}
			if r.Type == "Service2Service" && r.Direction == "forward" && !inPlace {
				// A view of the original service is the original's: a copy
				// restored beside it is not its source (and the portal
				// would then refuse to delete the copy while the view
				// stands).
				continue
			}
			other = r.ItemID
		}
		if inPlace {
			there, err := s.HasRelationship(ctx, id, r.Type, r.Direction, other)
			if err != nil {
				s.Warn(ctx, "relationship %s with item %s not re-created: %v", r.Type, other, err)
				continue
			}
			if there {
				continue
			}
		}
		from, to := id, other
		if r.Direction == "reverse" {
			from, to = other, id
		}
		var a writeAnswer
		err := s.Post(ctx, "content/users/"+url.PathEscape(s.Req.Owner)+"/addRelationship",
			url.Values{"originItemId": {from}, "destinationItemId": {to}, "relationshipType": {r.Type}}, nil, &a)
		if err != nil {
			s.Warn(ctx, "relationship %s with item %s not re-created: %v", r.Type, other, err)
		}
	}
	return nil
}

// TargetHas reports whether the target holds item id (retried).
func (s *RestoreSession) TargetHas(ctx context.Context, id string) (bool, error) {
	var it struct {
		ID string `json:"id"`
	}
	err := s.Retry.Do(ctx, func(ctx context.Context, _ int) error {
		return arcgisrest.GetJSON(ctx, s.Host.Portal, arcgisrest.JSON(ItemPath(id), nil), &it)
	})
	if sdk.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("looking for item %s in the target: %w", id, err)
	}
	return it.ID != "", nil
}

// RelatedIDs are the items related to item id by relationship type typ in
// direction ("forward": id is the origin; "reverse": the destination).
func (s *RestoreSession) RelatedIDs(ctx context.Context, id, typ, direction string) ([]string, error) {
	var r struct {
		RelatedItems []struct {
			ID string `json:"id"`
		} `json:"relatedItems"`
	}
	err := s.Retry.Do(ctx, func(ctx context.Context, _ int) error {
		return arcgisrest.GetJSON(ctx, s.Host.Portal, arcgisrest.JSON(ItemPath(id, "relatedItems"),
			url.Values{"relationshipType": {typ}, "direction": {direction}}), &r)
	})
	if err != nil {
		return nil, fmt.Errorf("reading the %s relationships (%s) of item %s: %w", typ, direction, id, err)
	}
	out := make([]string, 0, len(r.RelatedItems))
	for _, x := range r.RelatedItems {
		out = append(out, x.ID)
	}
	return out, nil
}

// HasRelationship reports whether item id has the relationship typ in
// direction with item other.
func (s *RestoreSession) HasRelationship(ctx context.Context, id, typ, direction, other string) (bool, error) {
	ids, err := s.RelatedIDs(ctx, id, typ, direction)
	return slices.Contains(ids, other), err
}

// TargetItem reads the target's item JSON; sdk.IsNotFound when it is gone.
func (s *RestoreSession) TargetItem(ctx context.Context, id string) (BackupItem, error) {
	var it struct {
		BackupItem
		Owner string `json:"owner"`
	}
	err := s.Retry.Do(ctx, func(ctx context.Context, _ int) error {
		return arcgisrest.GetJSON(ctx, s.Host.Portal, arcgisrest.JSON(ItemPath(id), nil), &it)
	})
	if err == nil && it.Owner != "" {
		if s.owners == nil {
			s.owners = map[string]string{}
		}
		s.owners[id] = it.Owner
	}
	if err == nil {
		if s.marks == nil {
			s.marks = map[string][]string{}
		}
		s.marks[id] = []string{}
		for _, k := range it.TypeKeywords {
			if sdk.IsRestoreMark(k) {
				s.marks[id] = append(s.marks[id], k)
			}
		}
	}
	return it.BackupItem, err
}

// TargetData reads the target item's data (raw).
func (s *RestoreSession) TargetData(ctx context.Context, id string) ([]byte, error) {
	var b []byte
	err := s.Retry.Do(ctx, func(ctx context.Context, _ int) error {
		resp, err := s.Host.Portal(ctx, Raw(ItemPath(id, "data"), nil))
		if err != nil {
			return err
		}
		b, err = arcgisrest.ReadBody(resp)
		return err
	})
	if sdk.IsNotFound(err) {
		return nil, nil
	}
	return b, err
}

// SameJSON reports whether two JSON documents hold the same values (key
// order and spacing aside).
func SameJSON(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return bytes.Equal(bytes.TrimSpace(a), bytes.TrimSpace(b))
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}

// SameDescription reports whether the target's item has the backup's
// descriptive fields (after remapping).
func (s *RestoreSession) SameDescription(backup, target BackupItem) bool {
	rm := sdk.Remapper(s.Req.Remap)
	return rm.Replace(backup.Title) == target.Title && rm.Replace(backup.Snippet) == target.Snippet &&
		rm.Replace(backup.Description) == target.Description && strings.Join(backup.Tags, ",") == strings.Join(target.Tags, ",")
}

// SinglePartMax is the largest file sent in one addItem request; larger
// files go up in parts of PartSize (ArcGIS takes 1..10000 parts).
const (
	SinglePartMax = 10 << 20
	PartSize      = 8 << 20
)

// UploadItem creates an item with an artifact as its file: in one request
// up to SinglePartMax, else in parts (addItem multipart=true, addPart,
// commit), as ArcGIS requires above its single-request limit. The artifact is read once, as a stream;
// its last bytes arrive only once the host has checked it, so a corrupt
// artifact never completes an upload. A failed upload's item is deleted.
func (s *RestoreSession) UploadItem(ctx context.Context, form url.Values, file sdk.RestoreArtifact, name string) (string, error) {
	return s.UploadItemFrom(ctx, form, s.ArtifactSource(file), name)
}

// UploadItemFrom is UploadItem with the file read from src.
func (s *RestoreSession) UploadItemFrom(ctx context.Context, form url.Values, src FileSource, name string) (string, error) {
	if src.Size <= SinglePartMax {
		return s.addItemFile(ctx, form, s.openSource(ctx, "file", src, name))
	}
	start := url.Values{}
	for k, v := range form {
		start[k] = v
	}
	start.Set("multipart", "true")
	// Until the commit the item has no file: it carries the restore's
	// mark (undo finds it) but not the marks by which a later restore
	// takes it for a finished copy of the backup item (a restore killed
	// mid-upload would leave an empty item that every later restore
	// refuses as "changed since"). The commit's form sets them.
	if kw := form.Get("typeKeywords"); kw != "" {
		var keep []string
		for _, k := range strings.Split(kw, ",") {
			if k != sdk.RestoredKeyword && !strings.HasPrefix(k, sdk.SourceMarkPrefix) {
				keep = append(keep, k)
			}
		}
		start.Set("typeKeywords", strings.Join(keep, ","))
	}
	id, err := s.AddItem(ctx, start, nil)
	if err != nil {
		return "", err
	}
	if err := s.uploadParts(ctx, id, form, src, name); err != nil {
		s.Delete(ctx, id)
		return "", err
	}
	return id, nil
}

// ReplaceFile replaces item id's file in place with the run's artifact
// file (and its fields with form): in one update up to SinglePartMax, else
// as an update with multipart=true, the parts and a commit. The item keeps
// its id; a failed replacement leaves its current file.
func (s *RestoreSession) ReplaceFile(ctx context.Context, id string, form url.Values, file sdk.RestoreArtifact, name string) error {
	return s.ReplaceFileFrom(ctx, id, form, s.ArtifactSource(file), name)
}

// ReplaceFileFrom is ReplaceFile with the file read from src.
func (s *RestoreSession) ReplaceFileFrom(ctx context.Context, id string, form url.Values, src FileSource, name string) error {
	if src.Size <= SinglePartMax {
		var a writeAnswer
		return s.PostFile(ctx, s.ItemOpPath(id, "update"), form, s.openSource(ctx, "file", src, name), &a)
	}
	if err := s.Update(ctx, id, url.Values{"multipart": {"true"}, "filename": {name}}, nil); err != nil {
		return err
	}
	return s.uploadParts(ctx, id, form, src, name)
}

// uploadParts sends the src.Size bytes of the file to item id in
// PartSize parts, read as one stream, makes sure the stream ends there (its
// end is where the host checks the sha256 of all of it), commits with form
// and waits for the commit. A part the portal turned away unapplied
// (throttled, token refused) is sent again from a new stream of the
// artifact, read up to the part, which then serves the parts after it: the
// check at its end covers every byte again.
func (s *RestoreSession) uploadParts(ctx context.Context, id string, form url.Values, src FileSource, name string) error {
	var rc io.ReadCloser
	defer func() {
		if rc != nil {
			rc.Close()
		}
	}()
	left := src.Size
	for part := 1; left > 0; part++ {
		n := min(int64(PartSize), left)
		offset := src.Size - left
		s.Host.Progress(ctx, sdk.Progress{ItemID: s.Req.Item.ID, Stage: fmt.Sprintf("uploading part %d", part), Percent: 100 * float64(offset) / float64(src.Size)})
		sent := false
		open := func() (*sdk.PortalFile, io.Closer, error) {
			if rc == nil || sent {
				if rc != nil {
					rc.Close()
				}
				var err error
				if rc, err = src.Open(ctx); err != nil {
					rc = nil
					return nil, nil, err
				}
				if _, err := io.CopyN(io.Discard, rc, offset); err != nil {
					return nil, nil, fmt.Errorf("reading %s again up to part %d: %w", src.What, part, err)
				}
			}
			sent = true
			return &sdk.PortalFile{Field: "file", Name: name, ContentType: "application/octet-stream", Size: n, Body: io.LimitReader(rc, n)}, nil, nil
		}
		var a struct{}
		req := arcgisrest.JSONPost(s.ItemOpPath(id, "addPart"), url.Values{})
		req.Query = url.Values{"partNum": {strconv.Itoa(part)}}
		if err := arcgisrest.WriteJSON(ctx, s.Host.Portal, s.Retry, req, open, &a); err != nil {
			return fmt.Errorf("part %d: %w", part, err)
		}
		left -= n
	}
	if _, err := rc.Read(make([]byte, 1)); err != io.EOF {
		if err == nil {
			err = sdk.Permanent("%s is longer than the manifest says", src.What)
		}
		return err
	}
	var a struct{}
	if err := s.Post(ctx, s.ItemOpPath(id, "commit"), form, nil, &a); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return waitCommitted(ctx, s, id)
}

// waitCommitted polls the item's status until the commit is done (bounded).
func waitCommitted(ctx context.Context, s *RestoreSession, id string) error {
	deadline := time.Now().Add(30 * time.Minute)
	delay := 500 * time.Millisecond
	for {
		var st struct {
			Status        string `json:"status"`
			StatusMessage string `json:"statusMessage"`
		}
		if err := s.Retry.Do(ctx, func(ctx context.Context, _ int) error {
			return arcgisrest.GetJSON(ctx, s.Host.Portal, arcgisrest.JSON(s.ItemOpPath(id, "status"), nil), &st)
		}); err != nil {
			return fmt.Errorf("status of the upload: %w", err)
		}
		switch st.Status {
		case "completed", "complete", "":
			return nil
		case "failed":
			return sdk.Permanent("the portal failed the upload: %s", st.StatusMessage)
		}
		if time.Now().After(deadline) {
			return sdk.Permanent("the portal had not finished the upload after 30 minutes (status %s)", st.Status)
		}
		select {
		case <-ctx.Done():
			return &sdk.Error{Kind: sdk.KindCanceled, Err: ctx.Err()}
		case <-time.After(delay):
		}
		delay = min(2*delay, 5*time.Second)
	}
}
