package sim

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/agolpipe/agolpipe/sim/org"
)

// visibleItem finds an item the caller may see, or answers the error the
// sharing API gives: 400 CONT_0001 when missing, 499 for anonymous callers
// and 403 GWM_0003 for signed-in callers without access. The caller holds
// the org lock for reading.
func (s *Server) visibleItem(c *call, id string) *org.Item {
	it := s.org.Item(id)
	if it == nil || it.Deleted {
		c.itemNotFound()
		return nil
	}
	if !c.canView(it) {
		if c.user == nil && c.sess == nil {
			c.tokenRequired()
		} else {
			c.fail(403, "You do not have permissions to access this resource or perform this operation.", "GWM_0003", nil)
		}
		return nil
	}
	return it
}

// itemJSON: GET /sharing/rest/content/items/<id>.
func (s *Server) itemJSON(c *call, id string) {
	s.org.Mu.RLock()
	defer s.org.Mu.RUnlock()
	it := s.visibleItem(c, id)
	if it == nil {
		return
	}
	e := getEnc()
	s.appendItem(e, c, it, itemFull)
	c.enc(e)
}

// ownerItem: GET /content/users/<u>/items/<id>: the item and its sharing.
func (s *Server) ownerItem(c *call, user, id string) {
	if !c.needUser() {
		return
	}
	s.org.Mu.RLock()
	defer s.org.Mu.RUnlock()
	it := s.visibleItem(c, id)
	if it == nil {
		return
	}
	if it.Owner != user || !(c.user.Username == user || c.isAdmin()) {
		c.forbidden()
		return
	}
	e := getEnc()
	e.open()
	e.k("item")
	s.appendItem(e, c, it, itemFull)
	e.k("sharing")
	e.open()
	e.ks("access", it.Access)
	e.k("groups")
	e.strs(nonNil(it.Groups))
	e.close()
	e.close()
	c.enc(e)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// mediaType guesses a file's Content-Type from its name.
func mediaType(name string) string {
	switch strings.ToLower(path.Ext(name)) {
	case ".zip", ".sd":
		return "application/zip"
	case ".csv":
		return "text/csv"
	case ".geojson":
		return "application/geo+json"
	case ".json", ".ipynb":
		return "application/json"
	case ".xlsx":
		return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
	}
	if t := mime.TypeByExtension(path.Ext(name)); t != "" {
		return t
	}
	return "application/octet-stream"
}

// itemData: GET /sharing/rest/content/items/<id>/data. File bytes are
// streamed (with Range support), JSON documents sent as text, and items
// without data answer an empty body.
func (s *Server) itemData(c *call, id string) {
	s.org.Mu.RLock()
	it := s.visibleItem(c, id)
	if it == nil {
		s.org.Mu.RUnlock()
		return
	}
	if it.Export != nil && jobState(it.Export) != "completed" {
		s.org.Mu.RUnlock()
		c.fail(500, "Item does not have a file.", "", nil)
		return
	}
	kind, name, modified := it.Data, it.Name, time.UnixMilli(it.Modified)
	switch kind {
	case org.DataJSON:
		body := s.org.DataJSON(it, s.origin)
		s.org.Mu.RUnlock()
		c.w.Header().Set("Content-Type", "application/json; charset=utf-8")
		http.ServeContent(c.w, c.r, "", modified, bytes.NewReader(body))
	case org.DataFile:
		// A generated form is a real form package (a zip naming its
		// service), of the item's size; other files are their blob.
		var body io.ReadSeeker = it.FileBlob().Reader()
		if pkg := s.org.FormPackage(it, s.origin); pkg != nil {
			body = bytes.NewReader(pkg)
		}
		s.org.Mu.RUnlock()
		c.rw.sized = true // the item's size is its file's
		c.w.Header().Set("Content-Type", mediaType(name))
		c.w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", name))
		http.ServeContent(c.w, c.r, "", modified, body)
	case org.DataStored:
		body := it.Body
		exp := it.Export
		s.org.Mu.RUnlock()
		if exp != nil && body == nil {
			s.serveExport(c, exp, name, modified)
			return
		}
		if body == nil {
			c.fail(500, "Item does not have a file.", "", nil)
			return
		}
		c.w.Header().Set("Content-Type", mediaType(name))
		c.w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", name))
		http.ServeContent(c.w, c.r, "", modified, bytes.NewReader(body))
	default:
		s.org.Mu.RUnlock()
		// ArcGIS answers an empty body for items without data.
		c.w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		c.w.Header().Set("Content-Length", "0")
	}
}

// onePixelPNG is a valid 1x1 PNG used as every item's thumbnail.
var onePixelPNG = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00\x00\x00\x00IEND\xaeB`\x82")

// itemInfo: /content/items/<id>/info/<file>: thumbnail, metadata.xml,
// iteminfo.xml.
func (s *Server) itemInfo(c *call, id, file string) {
	s.org.Mu.RLock()
	it := s.visibleItem(c, id)
	if it == nil {
		s.org.Mu.RUnlock()
		return
	}
	title, typ, owner, modified, thumb, hasMeta := it.Title, it.Type, it.Owner, time.UnixMilli(it.Modified), it.Thumbnail, it.HasMetadata
	thumbBody, metaBody := it.ThumbnailBody, it.MetadataBody
	s.org.Mu.RUnlock()
	switch {
	case file == "metadata/metadata.xml" && metaBody != nil:
		c.w.Header().Set("Content-Type", "application/xml")
		_, _ = c.w.Write(metaBody)
	case thumb != "" && file == thumb && thumbBody != nil:
		c.w.Header().Set("Content-Type", mime.TypeByExtension(path.Ext(thumb)))
		http.ServeContent(c.w, c.r, "", modified, bytes.NewReader(thumbBody))
	case file == "metadata/metadata.xml":
		if !hasMeta {
			// Open question 8 of the reference: we answer HTTP 404 with a
			// JSON error, which any client must treat as "no metadata".
			c.failStatus(http.StatusNotFound, 404, "File not found.", "", nil)
			return
		}
		c.w.Header().Set("Content-Type", "application/xml")
		fmt.Fprintf(c.w, `<?xml version="1.0" encoding="UTF-8"?><metadata xml:lang="en"><Esri><CreaDate>%s</CreaDate><ArcGISFormat>1.0</ArcGISFormat></Esri><dataIdInfo><idCitation><resTitle>%s</resTitle></idCitation><idAbs>Simulated metadata for item %s (%s).</idAbs></dataIdInfo></metadata>`,
			modified.Format("20060102"), xmlEscape(title), id, xmlEscape(typ))
	case file == "iteminfo.xml":
		c.w.Header().Set("Content-Type", "application/xml")
		fmt.Fprintf(c.w, `<?xml version="1.0" encoding="UTF-8"?><ESRI_ItemInformation Culture="en-US"><name>%s</name><title>%s</title><type>%s</type><owner>%s</owner></ESRI_ItemInformation>`,
			xmlEscape(title), xmlEscape(title), xmlEscape(typ), xmlEscape(owner))
	case thumb != "" && file == thumb:
		c.w.Header().Set("Content-Type", "image/png")
		http.ServeContent(c.w, c.r, "", modified, bytes.NewReader(onePixelPNG))
	default:
		c.failStatus(http.StatusNotFound, 404, "File not found.", "", nil)
	}
}

func xmlEscape(s string) string {
	var b bytes.Buffer
	for _, r := range s {
		switch r {
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '&':
			b.WriteString("&amp;")
		case '"':
			b.WriteString("&quot;")
		default:
			if r < 0x20 && r != '\t' && r != '\n' {
				continue
			}
			b.WriteRune(r)
		}
	}
	return b.String()
}

// resourceList: GET /content/items/<id>/resources.
func (s *Server) resourceList(c *call, id string) {
	s.org.Mu.RLock()
	defer s.org.Mu.RUnlock()
	it := s.visibleItem(c, id)
	if it == nil {
		return
	}
	res := it.Resources
	start := c.intParam("start", 1)
	if start < 1 {
		start = 1
	}
	num := c.intParam("num", 1000)
	if num > 1000 || num < 0 {
		num = 1000
	}
	next := start + num
	if next > len(res) {
		next = -1
	}
	showAccess := c.canEdit(it)
	e := getEnc()
	e.open()
	e.ki("total", int64(len(res)))
	e.ki("start", int64(start))
	e.ki("num", int64(len(window(res, start, num))))
	e.ki("nextStart", int64(next))
	e.k("resources")
	e.arr()
	for _, r := range window(res, start, num) {
		e.open()
		e.ks("resource", r.Path)
		e.ki("created", r.Created)
		e.ki("size", r.Size)
		if showAccess {
			e.ks("access", r.Access)
		}
		e.close()
	}
	e.end()
	e.close()
	c.enc(e)
}

// resourceGet: GET /content/items/<id>/resources/<path>.
func (s *Server) resourceGet(c *call, id, p string) {
	s.org.Mu.RLock()
	it := s.visibleItem(c, id)
	if it == nil {
		s.org.Mu.RUnlock()
		return
	}
	var r *org.Resource
	for i := range it.Resources {
		if it.Resources[i].Path == p {
			r = &it.Resources[i]
		}
	}
	if r == nil || (r.Access == "private" && !c.canEdit(it)) {
		s.org.Mu.RUnlock()
		c.failStatus(http.StatusNotFound, 404, "Resource does not exist or is inaccessible.", "", nil)
		return
	}
	modified := time.UnixMilli(r.Created)
	c.w.Header().Set("Content-Type", mediaType(p))
	if r.Body != nil {
		body := r.Body
		c.rw.sized = int64(len(body)) == r.Size // as the listing says
		s.org.Mu.RUnlock()
		http.ServeContent(c.w, c.r, "", modified, bytes.NewReader(body))
		return
	}
	if j := it.ResourceJSON(r); j != nil {
		c.rw.sized = int64(len(j)) == r.Size
		s.org.Mu.RUnlock()
		http.ServeContent(c.w, c.r, "", modified, bytes.NewReader(j))
		return
	}
	blob := it.ResourceBlob(r)
	s.org.Mu.RUnlock()
	c.rw.sized = true // the listing's size is the blob's
	http.ServeContent(c.w, c.r, "", modified, blob.Reader())
}

// relatedItems: GET /content/items/<id>/relatedItems.
func (s *Server) relatedItems(c *call, id string) {
	types := c.param("relationshipType")
	if types == "" {
		types = c.param("relationshipTypes")
	}
	if types == "" {
		c.fail(400, "Invalid or missing relationshipType.", "", []string{"'relationshipType' must be specified."})
		return
	}
	want := strings.Split(types, ",")
	reverse := strings.EqualFold(c.param("direction"), "reverse")
	s.org.Mu.RLock()
	defer s.org.Mu.RUnlock()
	it := s.visibleItem(c, id)
	if it == nil {
		return
	}
	var out []*org.Item
	if !reverse {
		for _, r := range it.Related {
			if containsStr(want, r.Type) {
				if t := s.org.Item(r.To); t != nil && !t.Deleted && c.canView(t) {
					out = append(out, t)
				}
			}
		}
	} else {
		for _, o := range s.org.Items {
			for _, r := range o.Related {
				if r.To == id && containsStr(want, r.Type) && !o.Deleted && c.canView(o) {
					out = append(out, o)
					break
				}
			}
		}
	}
	e := getEnc()
	e.open()
	e.ki("total", int64(len(out)))
	e.k("relatedItems")
	e.arr()
	for _, t := range out {
		s.appendItem(e, c, t, itemFull)
	}
	e.end()
	e.close()
	c.enc(e)
}

// itemGroups: GET /content/items/<id>/groups, relative to the caller.
func (s *Server) itemGroups(c *call, id string) {
	s.org.Mu.RLock()
	defer s.org.Mu.RUnlock()
	it := s.visibleItem(c, id)
	if it == nil {
		return
	}
	viewer := ""
	if c.user != nil {
		viewer = c.user.Username
	}
	admin, member, other := []any{}, []any{}, []any{}
	for _, gid := range it.Groups {
		g := s.org.Group(gid)
		if g == nil || !c.canSeeGroup(g) {
			continue
		}
		m := s.groupMap(g, viewer, true)
		delete(m, "collaborationInfo")
		switch g.MemberType(viewer) {
		case "owner", "admin":
			admin = append(admin, m)
		case "member":
			member = append(member, m)
		default:
			other = append(other, m)
		}
	}
	c.value(map[string]any{"admin": admin, "member": member, "other": other})
}

// userContent: GET /content/users/<u>[/<folderId>]: the owner or an admin
// lists the user's items, including private ones.
func (s *Server) userContent(c *call, username, folder string) {
	if !c.needUser() {
		return
	}
	s.org.Mu.RLock()
	defer s.org.Mu.RUnlock()
	u := s.org.User(username)
	if u == nil {
		c.fail(400, "User not found.", "COM_0024", nil)
		return
	}
	if c.user.Username != username && !c.isAdmin() {
		c.forbidden()
		return
	}
	var cur *org.Folder
	if folder != "" && folder != "/" {
		cur = u.Folder(folder)
		if cur == nil {
			c.fail(400, "Folder not found.", "CONT_0002", nil)
			return
		}
		folder = cur.ID
	} else {
		folder = ""
	}
	list := s.org.ItemsOf(username, folder)
	start, num, next := paging(c, len(list), 10)
	e := getEnc()
	e.open()
	e.ks("username", username)
	e.ki("total", int64(len(list)))
	e.ki("start", int64(start))
	e.ki("num", int64(num))
	e.ki("nextStart", int64(next))
	e.k("currentFolder")
	if cur == nil {
		e.null()
	} else {
		appendFolder(e, cur)
	}
	e.k("items")
	e.arr()
	for _, it := range window(list, start, num) {
		s.appendItem(e, c, it, itemUserContent)
	}
	e.end()
	e.k("folders")
	e.arr()
	for _, f := range u.Folders {
		appendFolder(e, f)
	}
	e.end()
	e.close()
	c.enc(e)
}

func appendFolder(e *enc, f *org.Folder) {
	e.open()
	e.ks("username", f.Owner)
	e.ks("id", f.ID)
	e.ks("title", f.Title)
	e.ki("created", f.Created)
	e.close()
}

// serviceIndex maps lower(name)/kind to hosted service items.
type serviceIndex struct {
	mu      sync.Mutex
	version uint64
	m       map[string]*org.Item
}

// serviceItem returns the item of the hosted service name of kind, or nil.
// The caller holds the org lock for reading.
func (s *Server) serviceItem(name, kind string) *org.Item {
	si := &s.svcIdx
	si.mu.Lock()
	defer si.mu.Unlock()
	if si.m == nil || si.version != s.org.Version {
		si.m = make(map[string]*org.Item)
		for _, it := range s.org.Items {
			if it.Service != nil && !it.Deleted && strings.HasPrefix(it.URL, "/") {
				si.m[strings.ToLower(it.Service.Name)+"/"+it.Service.Kind] = it
			}
		}
		si.version = s.org.Version
	}
	return si.m[strings.ToLower(name)+"/"+kind]
}
