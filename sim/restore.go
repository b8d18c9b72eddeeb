package sim

import (
	"bytes"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/agolpipe/agolpipe/sim/org"
)

// The write side a restore of JSON and file items needs, beyond write.go:
// uploaded thumbnails and metadata kept as sent (so a restored item serves
// the backup's bytes), multipart upload (addItem multipart=true, addPart,
// commit, status), and reassign.

// storeDescription keeps an uploaded thumbnail and metadata.xml. The caller
// may or may not hold the org lock: it only sets fields of it, which is
// not yet shared (addItem) or is under the caller's write lock (update).
func (c *call) storeDescription(it *org.Item) {
	if th, name, _ := c.fileParam("thumbnail"); th != nil {
		ext := strings.ToLower(path.Ext(name))
		if ext == "" || len(ext) > 5 {
			ext = ".png"
		}
		it.Thumbnail, it.ThumbnailBody = "thumbnail/thumbnail"+ext, th
	}
	if md, _, _ := c.fileParam("metadata"); md != nil {
		it.HasMetadata, it.MetadataBody = true, md
	}
}

// multipartUploads holds the parts of items created with multipart=true,
// by item id, until commit.
type multipartUploads struct {
	parts map[string]map[int][]byte
}

// uploadOp handles addPart, commit, parts and status of a multipart
// upload; it reports whether op was one of them. The caller holds the org
// lock for writing and has checked that the user may edit it.
func (s *Server) uploadOp(c *call, it *org.Item, op string) bool {
	switch op {
	case "addPart":
		n, err := strconv.Atoi(c.r.URL.Query().Get("partNum"))
		if err != nil || n < 1 || n > 10000 {
			c.fail(400, "Invalid part number.", "", []string{"partNum must be 1..10000, in the query string."})
			return true
		}
		body, _, _ := c.fileParam("file")
		if body == nil {
			c.fail(400, "Unable to add part.", "", []string{"The part was not received (multipart part 'file')."})
			return true
		}
		up := s.uploads()
		if up.parts[it.ID] == nil {
			c.fail(400, "Item is not a multipart upload in progress.", "", nil)
			return true
		}
		up.parts[it.ID][n] = body
		c.value(map[string]any{"success": true, "id": it.ID})
	case "commit":
		up := s.uploads()
		parts := up.parts[it.ID]
		if parts == nil {
			c.fail(400, "Item is not a multipart upload in progress.", "", nil)
			return true
		}
		nums := make([]int, 0, len(parts))
		for n := range parts {
			nums = append(nums, n)
		}
		sort.Ints(nums)
		var b bytes.Buffer
		for _, n := range nums {
			b.Write(parts[n])
		}
		delete(up.parts, it.ID)
		c.applyItemFields(it, false)
		it.Data, it.Body, it.Size = org.DataStored, b.Bytes(), int64(b.Len())
		it.Modified = time.Now().UnixMilli()
		s.org.Version++
		c.value(map[string]any{"success": true, "id": it.ID})
	case "parts":
		nums := []int{}
		for n := range s.uploads().parts[it.ID] {
			nums = append(nums, n)
		}
		sort.Ints(nums)
		c.value(map[string]any{"parts": nums})
	case "reassign":
		to := c.param("targetUsername")
		u := s.org.User(to)
		if u == nil {
			c.fail(400, "User '"+to+"' does not exist.", "", nil)
			return true
		}
		if !c.isAdmin() {
			c.forbidden()
			return true
		}
		folderID := ""
		if f := c.param("targetFolderName"); f != "" && f != "/" {
			fo := u.Folder(f)
			if fo == nil {
				c.fail(400, "Folder not found.", "CONT_0002", nil)
				return true
			}
			folderID = fo.ID
		}
		it.Owner, it.FolderID = to, folderID
		s.org.Index()
		it.Modified = time.Now().UnixMilli()
		s.org.Version++
		c.value(map[string]any{"success": true, "itemId": it.ID})
	default:
		return false
	}
	return true
}

// uploads returns the multipart state (created on first use). Every
// multipart operation runs under the org's write lock, which guards it.
func (s *Server) uploads() *multipartUploads {
	if s.multipart.parts == nil {
		s.multipart.parts = map[string]map[int][]byte{}
	}
	return &s.multipart
}

// startMultipart registers a multipart upload of item id's file (a new
// item, or an update with multipart=true). The caller holds the org lock
// for writing.
func (s *Server) startMultipart(id string) {
	s.uploads().parts[id] = map[int][]byte{}
}

// emptyOrg removes the generated content of o, keeping its users and the
// items of its registered OAuth applications (sign-in needs them).
func emptyOrg(o *org.Org) {
	keep := map[string]bool{}
	for _, a := range o.Apps {
		keep[a.ItemID] = true
	}
	items := o.Items[:0]
	for _, it := range o.Items {
		if keep[it.ID] {
			items = append(items, it)
		}
	}
	o.Items, o.Groups = items, nil
	for _, u := range o.Users {
		u.Folders = nil
	}
	o.Index()
}
