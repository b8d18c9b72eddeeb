package sim

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/agolpipe/agolpipe/sim/org"
)

// fileParam returns an uploaded file part (multipart) or nil.
func (c *call) fileParam(name string) ([]byte, string, error) {
	c.parse()
	if c.r.MultipartForm == nil || c.r.MultipartForm.File[name] == nil {
		return nil, "", nil
	}
	fh := c.r.MultipartForm.File[name][0]
	f, err := fh.Open()
	if err != nil {
		return nil, "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 2<<30))
	return b, fh.Filename, err
}

// applyItemFields copies item fields of addItem/update from the form.
func (c *call) applyItemFields(it *org.Item, clearEmpty bool) {
	set := func(name string, dst *string) {
		if v, ok := c.form[name]; ok && (v[0] != "" || clearEmpty) {
			*dst = v[0]
		}
	}
	set("title", &it.Title)
	set("type", &it.Type)
	set("snippet", &it.Snippet)
	set("description", &it.Description)
	set("url", &it.URL)
	if v, ok := c.form["tags"]; ok {
		it.Tags = splitTags(v[0])
	}
	if v, ok := c.form["typeKeywords"]; ok {
		it.TypeKeywords = splitTags(v[0])
	}
	// properties: a JSON object kept as given and answered back in the
	// item's JSON, as ArcGIS does; "" (with clearEmptyFields) or null
	// removes it. Text that is no JSON object is left out.
	if v, ok := c.form["properties"]; ok {
		raw := strings.TrimSpace(v[0])
		var obj map[string]any
		switch {
		case raw == "null" || (raw == "" && clearEmpty):
			it.Properties = nil
		case raw != "" && json.Unmarshal([]byte(raw), &obj) == nil && obj != nil:
			var b bytes.Buffer
			if json.Compact(&b, []byte(raw)) == nil {
				it.Properties = json.RawMessage(b.Bytes())
			}
		}
	}
	if v := c.form.Get("extent"); v != "" {
		var ext []float64
		for _, p := range strings.Split(v, ",") {
			f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
			if err == nil {
				ext = append(ext, f)
			}
		}
		if len(ext) == 4 {
			it.Extent = ext
		}
	}
}

// userOp handles operations on /content/users/<u>[/<folder>]/<op>. An
// administrator may act on another user's content, folders included (the
// ArcGIS API for Python's create_folder takes an owner), but never adds an
// item as them.
func (s *Server) userOp(c *call, username, folder, op string) {
	if c.user.Username != username && !(c.isAdmin() && op != "addItem") {
		c.forbidden()
		return
	}
	c.parse()
	switch op {
	case "addItem":
		s.addItem(c, username, folder)
	case "createFolder":
		s.org.Mu.Lock()
		defer s.org.Mu.Unlock()
		u := s.org.User(username)
		title := c.param("title")
		if title == "" || u.Folder(title) != nil {
			c.fail(400, "Unable to create folder.", "", []string{"Folder title '" + title + "' is empty or not available."})
			return
		}
		f := &org.Folder{ID: newID(), Title: title, Owner: username, Created: time.Now().UnixMilli()}
		u.Folders = append(u.Folders, f)
		s.org.Version++
		c.value(map[string]any{"success": true, "folder": map[string]any{"username": username, "id": f.ID, "title": f.Title}})
	case "delete":
		s.org.Mu.Lock()
		defer s.org.Mu.Unlock()
		u := s.org.User(username)
		f := u.Folder(folder)
		if f == nil {
			c.fail(400, "Folder not found.", "CONT_0002", nil)
			return
		}
		for _, it := range s.org.ItemsOf(username, f.ID) {
			it.Deleted = true
		}
		for i, x := range u.Folders {
			if x == f {
				u.Folders = append(u.Folders[:i:i], u.Folders[i+1:]...)
				break
			}
		}
		s.org.Version++
		c.value(map[string]any{"success": true, "folder": map[string]any{"username": username, "id": f.ID, "title": f.Title}})
	case "addRelationship", "deleteRelationship":
		s.org.Mu.Lock()
		defer s.org.Mu.Unlock()
		from, to, typ := s.org.Item(c.param("originItemId")), s.org.Item(c.param("destinationItemId")), c.param("relationshipType")
		if from == nil || to == nil || typ == "" {
			c.itemNotFound()
			return
		}
		if !c.canEdit(from) {
			c.forbidden()
			return
		}
		rel := org.Relationship{Type: typ, To: to.ID}
		if op == "addRelationship" {
			for _, r := range from.Related {
				if r == rel {
					c.fail(400, "Relationship already exists.", "", nil)
					return
				}
			}
			from.Related = append(from.Related, rel)
		} else {
			keep := from.Related[:0]
			for _, r := range from.Related {
				if r != rel {
					keep = append(keep, r)
				}
			}
			from.Related = keep
		}
		s.org.Version++
		c.value(map[string]any{"success": true})
	case "deleteItems":
		results := []any{}
		for _, id := range splitTags(c.param("items")) {
			s.org.Mu.Lock()
			it := s.org.Item(id)
			res := map[string]any{"itemId": id, "success": false}
			switch {
			case it == nil || it.Deleted:
				res["error"] = map[string]any{"code": 400, "message": "Item does not exist or is inaccessible."}
			case !c.canEdit(it):
				res["error"] = map[string]any{"code": 403, "message": "You do not have permissions to access this resource or perform this operation."}
			case it.Protected:
				res["error"] = map[string]any{"code": 400, "message": "Unable to delete item " + id + ". Delete protection is turned on."}
			default:
				s.deleteItem(it, c.boolParam("permanentDelete"))
				res["success"] = true
			}
			s.org.Mu.Unlock()
			results = append(results, res)
		}
		c.value(map[string]any{"results": results})
	case "shareItems":
		var notShared []string
		for _, id := range splitTags(c.param("items")) {
			s.org.Mu.Lock()
			it := s.org.Item(id)
			if it == nil || !c.canEdit(it) {
				notShared = append(notShared, id)
			} else {
				s.applyShare(c, it, false)
			}
			s.org.Mu.Unlock()
		}
		c.value(map[string]any{"results": []any{}, "notSharedWith": nonNil(notShared)})
	case "createService":
		s.createService(c, username, folder)
	case "publish":
		s.publish(c, username, folder)
	default:
		c.fail(400, "Unsupported operation "+op+".", "", nil)
	}
}

// deleteItem removes it: permanently on online with permanentDelete=true,
// else into the recycle bin. The caller holds the org lock for writing.
func (s *Server) deleteItem(it *org.Item, permanent bool) {
	it.Deleted = true
	if permanent && s.opt.Mode == "online" {
		for i, x := range s.org.Items {
			if x == it {
				s.org.Items = append(s.org.Items[:i:i], s.org.Items[i+1:]...)
				break
			}
		}
		s.org.Index()
	}
	s.org.Version++
}

func (s *Server) addItem(c *call, username, folder string) {
	title, typ := c.param("title"), c.param("type")
	if title == "" || typ == "" {
		c.fail(400, "'type' and 'title' property required.", "", nil)
		return
	}
	file, filename, err := c.fileParam("file")
	if err != nil {
		c.fail(400, "Unable to read the uploaded file.", "", []string{err.Error()})
		return
	}
	now := time.Now().UnixMilli()
	it := &org.Item{ID: newID(), Owner: username, Access: org.AccessPrivate, Created: now, Modified: now, Tags: []string{}, TypeKeywords: []string{}, Size: -1}
	c.applyItemFields(it, false)
	if id := c.param("itemIdToCreate"); id != "" {
		it.ID = id
	}
	if n := c.param("filename"); n != "" {
		filename = n
	} else if n := c.param("fileName"); n != "" {
		filename = n
	}
	switch {
	case file != nil:
		it.Data, it.Body, it.Name, it.Size = org.DataStored, file, filename, int64(len(file))
	case c.param("text") != "":
		it.Data, it.Body = org.DataJSON, []byte(c.param("text"))
		it.Size = int64(len(it.Body))
	}
	c.storeDescription(it)
	s.org.Mu.Lock()
	defer s.org.Mu.Unlock()
	if s.org.Item(it.ID) != nil {
		c.fail(400, "Item with id "+it.ID+" already exists.", "", nil)
		return
	}
	u := s.org.User(username)
	if folder != "" {
		f := u.Folder(folder)
		if f == nil {
			c.fail(400, "Folder not found.", "CONT_0002", nil)
			return
		}
		it.FolderID = f.ID
	}
	it.Seed = org.Mix(uint64(now) ^ uint64(len(s.org.Items)))
	s.org.AddItem(it)
	if c.boolParam("multipart") {
		it.Name = filename // the file comes in parts; its name now
		s.startMultipart(it.ID)
	}
	var folderID any
	if it.FolderID != "" {
		folderID = it.FolderID
	}
	c.value(map[string]any{"success": true, "id": it.ID, "folder": folderID})
}

// itemWrite handles /content/users/<u>/items/<id>/<op>.
func (s *Server) itemWrite(c *call, username, id, op string) {
	c.parse()
	s.org.Mu.Lock()
	defer s.org.Mu.Unlock()
	it := s.editableItem(c, id)
	if it == nil {
		return
	}
	done := func() {
		it.Modified = time.Now().UnixMilli()
		s.org.Version++
	}
	if s.uploadOp(c, it, op) {
		return
	}
	switch op {
	case "update":
		c.applyItemFields(it, c.boolParam("clearEmptyFields"))
		if c.boolParam("multipart") {
			// The new file comes in parts (addPart, commit); the item
			// keeps its current one until the commit.
			s.startMultipart(it.ID)
			if n := c.param("filename"); n != "" {
				it.Name = n
			}
		}
		if file, name, _ := c.fileParam("file"); file != nil {
			it.Data, it.Body, it.Size = org.DataStored, file, int64(len(file))
			if name != "" {
				it.Name = name
			}
		} else if t, ok := c.form["text"]; ok {
			it.Data, it.Body = org.DataJSON, []byte(t[0])
		}
		c.storeDescription(it)
		done()
		c.value(map[string]any{"success": true, "id": it.ID})
	case "delete":
		if it.Protected {
			c.fail(400, "Unable to delete item "+id+". Delete protection is turned on.", "", nil)
			return
		}
		if it.Service != nil && !it.Service.IsView {
			for _, r := range it.Related {
				if r.Type == "Service2Service" {
					if v := s.org.Item(r.To); v != nil && !v.Deleted {
						c.fail(400, "Unable to delete item. This service item has a related Service item", "", nil)
						return
					}
				}
			}
		}
		s.deleteItem(it, c.boolParam("permanentDelete"))
		c.value(map[string]any{"success": true, "itemId": id})
	case "protect", "unprotect":
		it.Protected = op == "protect"
		s.org.Version++
		c.value(map[string]any{"success": true})
	case "share", "unshare":
		s.applyShareLocked(c, it, op == "unshare")
	case "move":
		dest := c.param("folder")
		u := s.org.User(it.Owner)
		if dest == "" || dest == "/" {
			it.FolderID = ""
		} else if f := u.Folder(dest); f != nil {
			it.FolderID = f.ID
		} else {
			c.fail(400, "Folder not found.", "CONT_0002", nil)
			return
		}
		done()
		c.value(map[string]any{"success": true, "itemId": id, "owner": it.Owner, "folder": it.FolderID})
	case "addResources", "updateResources":
		body, name, _ := c.fileParam("file")
		if body == nil {
			body = []byte(c.param("text"))
		}
		if n := c.param("fileName"); n != "" {
			name = n
		}
		if name == "" {
			c.invalidParams()
			return
		}
		if p := strings.Trim(c.param("resourcesPrefix"), "/"); p != "" {
			name = p + "/" + name
		}
		access := c.param("access")
		if access == "" {
			access = "inherit"
		}
		r := org.Resource{Path: name, Size: int64(len(body)), Created: time.Now().UnixMilli(), Access: access, Body: body}
		replaced := false
		for i := range it.Resources {
			if it.Resources[i].Path == name {
				it.Resources[i], replaced = r, true
			}
		}
		if !replaced {
			if op == "updateResources" {
				c.fail(400, "Resource does not exist.", "", nil)
				return
			}
			it.Resources = append(it.Resources, r)
		}
		done()
		c.value(map[string]any{"success": true, "itemId": id, "owner": it.Owner, "folder": nilIfEmpty(it.FolderID)})
	case "removeResources":
		if c.boolParam("deleteAll") {
			it.Resources = nil
		} else {
			name := c.param("resource")
			keep := it.Resources[:0]
			found := false
			for _, r := range it.Resources {
				if r.Path == name {
					found = true
					continue
				}
				keep = append(keep, r)
			}
			if !found {
				c.fail(400, "Resource does not exist.", "", nil)
				return
			}
			it.Resources = keep
		}
		done()
		c.value(map[string]any{"success": true})
	default:
		c.fail(400, "Unsupported operation "+op+".", "", nil)
	}
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// share: POST /content/items/<id>/share (non-owner path).
func (s *Server) share(c *call, id string, unshare bool) {
	c.parse()
	s.org.Mu.Lock()
	defer s.org.Mu.Unlock()
	it := s.editableItem(c, id)
	if it == nil {
		return
	}
	s.applyShareLocked(c, it, unshare)
}

func (s *Server) applyShareLocked(c *call, it *org.Item, unshare bool) {
	notShared := s.applyShare(c, it, unshare)
	c.value(map[string]any{"notSharedWith": nonNil(notShared), "itemId": it.ID})
}

// applyShare applies everyone/org/groups; it returns the groups it could
// not share with. The caller holds the org lock for writing.
func (s *Server) applyShare(c *call, it *org.Item, unshare bool) []string {
	var notShared []string
	groups := splitTags(c.param("groups"))
	if unshare {
		keep := it.Groups[:0]
		for _, g := range it.Groups {
			if !containsStr(groups, g) {
				keep = append(keep, g)
			}
		}
		it.Groups = keep
	} else {
		for _, gid := range groups {
			g := s.org.Group(gid)
			if g == nil || (g.MemberType(c.user.Username) == "none" && !c.isAdmin()) {
				notShared = append(notShared, gid)
				continue
			}
			if len(g.Capabilities) > 0 && !c.boolParam("confirmItemControl") {
				notShared = append(notShared, gid)
				continue
			}
			if !containsStr(it.Groups, gid) {
				it.Groups = append(it.Groups, gid)
			}
		}
		everyone, hasEveryone := c.form["everyone"]
		orgv, hasOrg := c.form["org"]
		if !hasOrg {
			orgv, hasOrg = c.form["account"]
		}
		switch {
		case hasEveryone && everyone[0] == "true":
			it.Access = org.AccessPublic
		case hasOrg && orgv[0] == "true":
			it.Access = org.AccessOrg
		case hasEveryone || hasOrg:
			it.Access = org.AccessPrivate
		}
	}
	if it.Access == org.AccessPrivate && len(it.Groups) > 0 {
		it.Access = org.AccessShared
	}
	if it.Access == org.AccessShared && len(it.Groups) == 0 {
		it.Access = org.AccessPrivate
	}
	s.org.Version++
	return notShared
}

// createGroup: POST /community/createGroup.
func (s *Server) createGroup(c *call) {
	title := c.param("title")
	if title == "" {
		c.fail(400, "'title' property required.", "", nil)
		return
	}
	now := time.Now().UnixMilli()
	g := &org.Group{ID: newID(), Title: title, Owner: c.user.Username, Snippet: c.param("snippet"), Description: c.param("description"),
		Tags: splitTags(c.param("tags")), Access: c.param("access"), Capabilities: splitTags(c.param("capabilities")),
		IsInvitationOnly: c.boolParam("isInvitationOnly"), IsViewOnly: c.boolParam("isViewOnly"), Created: now, Modified: now}
	if g.Access == "" {
		g.Access = org.AccessPrivate
	}
	s.org.Mu.Lock()
	defer s.org.Mu.Unlock()
	s.org.AddGroup(g)
	c.value(map[string]any{"success": true, "group": s.groupMap(g, c.user.Username, false)})
}

// groupWrite: /community/groups/<id>/{addUsers,update,protect,unprotect,delete}.
func (s *Server) groupWrite(c *call, id, op string) {
	s.org.Mu.Lock()
	defer s.org.Mu.Unlock()
	g := s.org.Group(id)
	if g == nil {
		c.fail(400, "Group does not exist or is inaccessible.", "COM_0003", nil)
		return
	}
	mt := g.MemberType(c.user.Username)
	if mt != "owner" && mt != "admin" && !c.isAdmin() {
		c.forbidden()
		return
	}
	switch op {
	case "addUsers":
		var notAdded []string
		for _, u := range splitTags(c.param("users")) {
			if s.org.User(u) == nil {
				notAdded = append(notAdded, u)
			} else if g.MemberType(u) == "none" {
				g.Members = append(g.Members, u)
			}
		}
		for _, u := range splitTags(c.param("admins")) {
			if s.org.User(u) == nil {
				notAdded = append(notAdded, u)
			} else if g.MemberType(u) == "none" {
				g.Admins = append(g.Admins, u)
			}
		}
		s.org.Version++
		c.value(map[string]any{"notAdded": nonNil(notAdded)})
	case "update":
		if v := c.param("title"); v != "" {
			g.Title = v
		}
		if v, ok := c.form["snippet"]; ok {
			g.Snippet = v[0]
		}
		if v := c.param("access"); v != "" {
			g.Access = v
		}
		g.Modified = time.Now().UnixMilli()
		s.org.Version++
		c.value(map[string]any{"success": true, "groupId": g.ID})
	case "protect", "unprotect":
		g.Protected = op == "protect"
		c.value(map[string]any{"success": true})
	case "delete":
		if g.Protected {
			c.fail(400, "Unable to delete group. Delete protection is turned on.", "", nil)
			return
		}
		for i, x := range s.org.Groups {
			if x == g {
				s.org.Groups = append(s.org.Groups[:i:i], s.org.Groups[i+1:]...)
				break
			}
		}
		for _, it := range s.org.Items {
			keep := it.Groups[:0]
			for _, gid := range it.Groups {
				if gid != g.ID {
					keep = append(keep, gid)
				}
			}
			it.Groups = keep
		}
		s.org.Index()
		s.org.Version++
		c.value(map[string]any{"success": true, "groupId": g.ID})
	}
}

// createParameters is the part of createService's createParameters the
// simulator reads.
type createParameters struct {
	Name             string `json:"name"`
	MaxRecordCount   int    `json:"maxRecordCount"`
	Capabilities     string `json:"capabilities"`
	IsView           bool   `json:"isView"`
	SyncEnabled      bool   `json:"syncEnabled"`
	ServiceItemIDSrc string `json:"sourceItemId"`
}

// createService: POST /content/users/<u>[/<f>]/createService.
func (s *Server) createService(c *call, username, folder string) {
	raw := c.param("createParameters")
	var cp createParameters
	if err := json.Unmarshal([]byte(raw), &cp); err != nil || cp.Name == "" {
		c.fail(400, "Unable to create service.", "", []string{"createParameters must be JSON with a name."})
		return
	}
	if cp.MaxRecordCount <= 0 {
		cp.MaxRecordCount = 2000
	}
	if cp.Capabilities == "" {
		cp.Capabilities = "Query"
	}
	isView := cp.IsView || c.boolParam("isView")
	s.org.Mu.Lock()
	defer s.org.Mu.Unlock()
	if s.serviceItem(cp.Name, org.FeatureServer) != nil {
		c.fail(400, "Service name '"+cp.Name+"' already exists for '"+s.org.ID+"'", "", nil)
		return
	}
	now := time.Now().UnixMilli()
	it := &org.Item{ID: newID(), Owner: username, Title: cp.Name, Name: cp.Name, Type: "Feature Service",
		TypeKeywords: append([]string(nil), "ArcGIS Server", "Data", "Feature Access", "Feature Service", "Service", "Hosted Service"),
		Tags:         splitTags(c.param("tags")), Snippet: c.param("snippet"), Created: now, Modified: now, Access: org.AccessPrivate, Size: -1,
		URL:     s.hostedPath(cp.Name) + "/FeatureServer",
		Service: &org.Service{Name: cp.Name, Kind: org.FeatureServer, MaxRecordCount: cp.MaxRecordCount, Capabilities: cp.Capabilities, IsView: isView, SyncEnabled: cp.SyncEnabled, Definition: json.RawMessage(raw)},
	}
	if isView {
		it.TypeKeywords = append(it.TypeKeywords, "View Service")
	}
	if id := c.param("itemIdToCreate"); id != "" {
		if s.org.Item(id) != nil {
			c.fail(400, "Item with id "+id+" already exists.", "", nil)
			return
		}
		it.ID = id
	}
	if folder != "" {
		if f := s.org.User(username).Folder(folder); f != nil {
			it.FolderID = f.ID
		}
	}
	it.Seed = org.Mix(uint64(now))
	s.org.AddItem(it)
	url := org.AbsURL(s.origin, it.URL)
	c.value(map[string]any{"encodedServiceURL": url, "isView": isView, "itemId": it.ID, "name": cp.Name, "serviceItemId": it.ID,
		"serviceurl": url, "size": -1, "success": true, "type": "Feature Service"})
}

func (s *Server) hostedPath(name string) string {
	if s.opt.Mode == "enterprise" {
		return "/server/rest/services/Hosted/" + name
	}
	return "/" + s.org.ID + "/arcgis/rest/services/" + name
}

// adminService routes the admin API of a hosted feature service.
func (s *Server) adminService(c *call, sc *svcCall) {
	r := sc.rest
	switch {
	case len(r) == 0:
		s.do(c, "admin/featureserver", true, func(c *call) { s.fsRoot(c, sc, true) })
	case len(r) == 1 && (r[0] == "addToDefinition" || r[0] == "updateDefinition" || r[0] == "deleteFromDefinition"):
		op := r[0]
		s.doWrite(c, op, func(c *call) { s.changeDefinition(c, sc, op) })
	case len(r) == 1:
		id, err := strconv.Atoi(r[0])
		if err != nil {
			c.endpoint = "unknown"
			c.fail(400, "Invalid URL", "", []string{"Invalid URL"})
			return
		}
		s.do(c, "admin/layer", true, func(c *call) { s.fsLayer(c, sc, id, true) })
	case len(r) == 2 && (r[1] == "truncate" || r[1] == "updateDefinition"):
		id, err := strconv.Atoi(r[0])
		if err != nil {
			c.endpoint = "unknown"
			c.fail(400, "Invalid URL", "", []string{"Invalid URL"})
			return
		}
		if r[1] == "truncate" {
			s.doWrite(c, "truncate", func(c *call) { s.truncate(c, sc, id) })
		} else {
			s.doWrite(c, "layer/updateDefinition", func(c *call) { s.updateLayerDefinition(c, sc, id) })
		}
	default:
		c.endpoint = "unknown"
		c.fail(400, "Invalid URL", "", []string{"Invalid URL"})
	}
}

// editableItem finds the item the caller may change, or answers the error
// (not found, or forbidden). The caller holds the org lock for writing.
func (s *Server) editableItem(c *call, id string) *org.Item {
	it := s.org.Item(id)
	if it == nil || it.Deleted {
		c.itemNotFound()
		return nil
	}
	if !c.canEdit(it) {
		c.forbidden()
		return nil
	}
	return it
}

// editableService finds the service item the caller may change, or
// answers the error. The caller holds the org lock for writing.
func (s *Server) editableService(c *call, sc *svcCall) *org.Item {
	it := s.serviceItem(sc.name, sc.kind)
	if it == nil {
		c.fail(400, "Invalid URL", "", []string{"Invalid URL"})
		return nil
	}
	if !c.canEdit(it) {
		c.forbidden()
		return nil
	}
	return it
}

// changeDefinition: addToDefinition / updateDefinition / deleteFromDefinition.
func (s *Server) changeDefinition(c *call, sc *svcCall, op string) {
	var def struct {
		Layers []json.RawMessage `json:"layers"`
		Tables []json.RawMessage `json:"tables"`
	}
	if err := json.Unmarshal([]byte(c.param(op)), &def); err != nil {
		c.fail(400, "Unable to add feature service definition.", "", []string{"Object reference not set to an instance of an object."})
		return
	}
	s.org.Mu.Lock()
	defer s.org.Mu.Unlock()
	it := s.editableService(c, sc)
	if it == nil {
		return
	}
	svc := it.Service
	now := time.Now().UnixMilli()
	out := map[string][]any{"layers": {}, "tables": {}}
	apply := func(list []json.RawMessage, table bool, key string) bool {
		for _, raw := range list {
			var head struct {
				ID           *int   `json:"id"`
				Name         string `json:"name"`
				GeometryType string `json:"geometryType"`
			}
			if json.Unmarshal(raw, &head) != nil {
				return false
			}
			switch op {
			case "addToDefinition":
				id := len(svc.Layers)
				if head.ID != nil {
					id = *head.ID
				}
				if svc.FindLayer(id) != nil {
					return false
				}
				if head.Name == "" {
					head.Name = fmt.Sprintf("Layer_%d", id)
				}
				if svc.IsView {
					// A view layer reads its source layer's rows.
					srcItem, srcLayer := s.viewSource(raw)
					if srcLayer == nil {
						return false
					}
					cp := org.Layer{ID: id, Name: head.Name, IsTable: srcLayer.IsTable, Geometry: srcLayer.Geometry, Rows: srcLayer.Rows,
						HasAttachments: srcLayer.HasAttachments, LastEdit: srcLayer.LastEdit, SchemaEdit: srcLayer.SchemaEdit, Parent: srcLayer.Parent,
						Seed: srcLayer.Seed, Definition: srcLayer.Definition, Stored: srcLayer.Stored, OIDs: srcLayer.OIDs, SourceLayer: &srcLayer.ID}
					// The view's own properties (viewDefinitionQuery, its
					// field list, drawing info) over the source's.
					var own map[string]any
					if json.Unmarshal(raw, &own) == nil {
						for _, k := range []string{"id", "name", "adminLayerInfo"} {
							delete(own, k)
						}
						cp.Overrides, _ = json.Marshal(own)
					}
					svc.Layers = append(svc.Layers, &cp)
					if svc.SourceItemID == "" {
						svc.SourceItemID = srcItem.ID
						srcItem.Related = append(srcItem.Related, org.Relationship{Type: "Service2Service", To: it.ID})
					}
				} else {
					svc.Layers = append(svc.Layers, &org.Layer{ID: id, Name: head.Name, IsTable: table, Geometry: head.GeometryType, Parent: -1,
						Definition: append(json.RawMessage(nil), raw...), Stored: []json.RawMessage{}, LastEdit: now, SchemaEdit: now})
				}
				out[key] = append(out[key], map[string]any{"name": head.Name, "id": strconv.Itoa(id)})
			case "updateDefinition":
				if head.ID == nil || svc.FindLayer(*head.ID) == nil {
					return false
				}
				s.applyLayerUpdate(it, svc.FindLayer(*head.ID), raw)
			case "deleteFromDefinition":
				if head.ID == nil {
					return false
				}
				keep := svc.Layers[:0]
				for _, l := range svc.Layers {
					if l.ID != *head.ID {
						keep = append(keep, l)
					}
				}
				svc.Layers = keep
			}
		}
		return true
	}
	if !apply(def.Layers, false, "layers") || !apply(def.Tables, true, "tables") {
		c.fail(400, "Unable to add feature service definition.", "", []string{"Object reference not set to an instance of an object."})
		return
	}
	if op == "updateDefinition" {
		applyServiceUpdate(svc, []byte(c.param(op)))
	}
	it.Modified = now
	s.org.Version++
	if op == "addToDefinition" {
		c.value(map[string]any{"layers": out["layers"], "tables": out["tables"], "success": true})
		return
	}
	c.value(map[string]any{"success": true})
}

// viewSource finds the source of a view layer definition through
// adminLayerInfo.viewLayerDefinition (sourceServiceName + sourceLayerId),
// as ArcGIS clients send it. The caller holds the org lock.
func (s *Server) viewSource(raw json.RawMessage) (*org.Item, *org.Layer) {
	var v struct {
		AdminLayerInfo struct {
			ViewLayerDefinition struct {
				SourceServiceName string `json:"sourceServiceName"`
				SourceLayerID     int    `json:"sourceLayerId"`
				Table             *struct {
					SourceServiceName string `json:"sourceServiceName"`
					SourceLayerID     int    `json:"sourceLayerId"`
				} `json:"table"`
			} `json:"viewLayerDefinition"`
		} `json:"adminLayerInfo"`
	}
	if json.Unmarshal(raw, &v) != nil {
		return nil, nil
	}
	d := v.AdminLayerInfo.ViewLayerDefinition
	name, id := d.SourceServiceName, d.SourceLayerID
	if d.Table != nil {
		name, id = d.Table.SourceServiceName, d.Table.SourceLayerID
	}
	src := s.serviceItem(name, org.FeatureServer)
	if src == nil {
		return nil, nil
	}
	return src, src.Service.FindLayer(id)
}

func mergeJSON(a, b json.RawMessage) json.RawMessage {
	var ma, mb map[string]any
	_ = json.Unmarshal(a, &ma)
	_ = json.Unmarshal(b, &mb)
	if ma == nil {
		ma = map[string]any{}
	}
	for k, v := range mb {
		ma[k] = v
	}
	out, _ := json.Marshal(ma)
	return out
}

// publish: POST /content/users/<u>[/<f>]/publish from a File Geodatabase
// item. The simulator understands its own export stand-in (manifest.json
// plus <id>.jsonl rows); the new service's layers and rows are those the
// file recorded. Other files publish an empty single-layer service.
func (s *Server) publish(c *call, username, folder string) {
	if ft := c.param("filetype"); tileFileTypes[strings.ToLower(ft)] != nil {
		s.publishTiles(c, username, folder, ft)
		return
	}
	var pp struct {
		Name           string `json:"name"`
		MaxRecordCount int    `json:"maxRecordCount"`
	}
	if err := json.Unmarshal([]byte(c.param("publishParameters")), &pp); err != nil || pp.Name == "" {
		c.fail(400, "Invalid publishParameters.", "", []string{"publishParameters must be JSON with a name."})
		return
	}
	if pp.MaxRecordCount <= 0 {
		pp.MaxRecordCount = 2000
	}
	if strings.EqualFold(c.param("filetype"), "csv") {
		// A CSV is published with what analyze made of it (analyze.go).
		if why := csvPublishParameters(c.param("publishParameters")); why != "" {
			c.fail(400, "Unable to publish item.", "", []string{why})
			return
		}
	}
	srcID := c.param("itemid")
	body, ok := s.standInBody(c, srcID)
	if !ok {
		return
	}
	layers, err := readStandIn(body)
	if err != nil {
		c.fail(400, "Unable to publish item.", "", []string{"The file is not a geodatabase the simulator can read: " + err.Error()})
		return
	}
	now := time.Now()
	s.org.Mu.Lock()
	defer s.org.Mu.Unlock()
	if s.serviceItem(pp.Name, org.FeatureServer) != nil {
		c.fail(400, "Service name '"+pp.Name+"' already exists for '"+s.org.ID+"'", "", nil)
		return
	}
	svc := &org.Service{Name: pp.Name, Kind: org.FeatureServer, MaxRecordCount: pp.MaxRecordCount, Capabilities: "Query"}
	svc.Layers = append(svc.Layers, layers...)
	it := &org.Item{ID: newID(), Owner: username, Title: pp.Name, Name: pp.Name, Type: "Feature Service",
		TypeKeywords: []string{"ArcGIS Server", "Data", "Feature Access", "Feature Service", "Service", "Hosted Service"},
		Tags:         []string{}, Created: now.UnixMilli(), Modified: now.UnixMilli(), Access: org.AccessPrivate, Size: -1,
		URL: s.hostedPath(pp.Name) + "/FeatureServer", Service: svc, Seed: org.Mix(uint64(now.UnixNano())),
		Export: &job{ID: newJobID(), Type: "publish", Started: now, Ready: now.Add(s.opt.ExportTime)}}
	if id := c.param("itemIdToCreate"); id != "" && s.org.Item(id) == nil {
		it.ID = id
	}
	if folder != "" {
		if f := s.org.User(username).Folder(folder); f != nil {
			it.FolderID = f.ID
		}
	}
	it.Related = append(it.Related, org.Relationship{Type: "Service2Data", To: srcID})
	s.org.AddItem(it)
	url := org.AbsURL(s.origin, it.URL)
	c.value(map[string]any{"services": []any{map[string]any{"type": "Feature Service", "serviceurl": url, "encodedServiceURL": url,
		"size": -1, "jobId": it.Export.ID, "serviceItemId": it.ID}}})
}

// readStandIn reads layers, rows and attachments from an export stand-in
// zip. Rows keep the object ids the file recorded (renumbered from 1 when
// a file has none or they are not ascending); attachments are linked to
// their rows by the rows' GlobalIDs, as a geodatabase's attachment table
// is.
func readStandIn(body []byte) ([]*org.Layer, error) {
	zr, err := zip.NewReader(bytes.NewReader(body), int64(len(body)))
	if err != nil {
		return nil, err
	}
	var m exportManifest
	files := map[string]*zip.File{}
	for _, f := range zr.File {
		files[f.Name] = f
	}
	read := func(name string) ([]byte, error) {
		f := files[name]
		if f == nil {
			return nil, nil
		}
		rc, err := f.Open()
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		return io.ReadAll(io.LimitReader(rc, 2<<30))
	}
	mb, err := read("manifest.json")
	if err != nil {
		return nil, err
	}
	if mb == nil {
		return nil, fmt.Errorf("no manifest.json")
	}
	if err := json.Unmarshal(mb, &m); err != nil {
		return nil, err
	}
	now := time.Now().UnixMilli()
	var out []*org.Layer
	for _, el := range m.Layers {
		d := map[string]any{"name": el.Name, "type": map[bool]string{true: "Table", false: "Feature Layer"}[el.IsTable],
			"objectIdField": "OBJECTID", "globalIdField": "GlobalID", "hasAttachments": el.HasAttachments}
		if !el.IsTable {
			d["geometryType"] = el.Geometry
		}
		if len(el.Fields) > 0 {
			d["fields"] = el.Fields
		}
		def, _ := json.Marshal(d)
		l := &org.Layer{ID: el.ID, Name: el.Name, IsTable: el.IsTable, Geometry: el.Geometry, Parent: -1, Definition: def,
			Stored: []json.RawMessage{}, OIDs: []int{}, Attachments: map[int][]org.Attachment{}, NextOID: 1, NextAttachmentID: 1,
			LastEdit: now, SchemaEdit: now, HasAttachments: el.HasAttachments}
		if el.Parent != nil {
			l.Parent = *el.Parent
		}
		data, err := read(strconv.Itoa(el.ID) + ".jsonl")
		if err != nil {
			return nil, err
		}
		byGID := map[string]int{}
		ascending := true
		for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
			if len(line) == 0 {
				continue
			}
			var r struct {
				A struct {
					OID int    `json:"OBJECTID"`
					GID string `json:"GlobalID"`
				} `json:"attributes"`
			}
			_ = json.Unmarshal(line, &r)
			if r.A.OID <= 0 || (len(l.OIDs) > 0 && r.A.OID <= l.OIDs[len(l.OIDs)-1]) {
				ascending = false
			}
			l.Stored = append(l.Stored, append(json.RawMessage(nil), line...))
			l.OIDs = append(l.OIDs, r.A.OID)
			if r.A.GID != "" {
				byGID[r.A.GID] = len(l.OIDs) - 1
			}
		}
		if !ascending {
			for i := range l.Stored {
				var f map[string]any
				_ = json.Unmarshal(l.Stored[i], &f)
				attrs(f)["OBJECTID"] = i + 1
				l.Stored[i], _ = json.Marshal(f)
				l.OIDs[i] = i + 1
			}
		}
		if n := len(l.OIDs); n > 0 {
			l.NextOID = l.OIDs[n-1] + 1
		}
		adata, err := read(strconv.Itoa(el.ID) + ".attachments.jsonl")
		if err != nil {
			return nil, err
		}
		for _, line := range bytes.Split(bytes.TrimSpace(adata), []byte("\n")) {
			if len(line) == 0 {
				continue
			}
			var a org.Attachment
			if err := json.Unmarshal(line, &a); err != nil {
				return nil, fmt.Errorf("layer %d attachments: %v", el.ID, err)
			}
			i, ok := byGID[a.ParentGlobalID]
			if !ok {
				return nil, fmt.Errorf("layer %d: attachment %d belongs to no row (parentGlobalId %s)", el.ID, a.ID, a.ParentGlobalID)
			}
			if a.Seed == 0 {
				if a.Body, err = read(attachmentEntry(el.ID, a.ID)); err != nil {
					return nil, err
				}
				if a.Body == nil || int64(len(a.Body)) != a.Size {
					return nil, fmt.Errorf("layer %d: attachment %d: %s missing or not %d bytes", el.ID, a.ID, attachmentEntry(el.ID, a.ID), a.Size)
				}
			}
			oid := l.OIDs[i]
			l.Attachments[oid] = append(l.Attachments[oid], a)
			l.NextAttachmentID = max(l.NextAttachmentID, a.ID+1)
		}
		out = append(out, l)
	}
	return out, nil
}

// attachmentEntry names the zip entry holding an uploaded attachment's
// bytes in an export stand-in.
func attachmentEntry(lid, aid int) string { return fmt.Sprintf("attachments/%d/%d", lid, aid) }
