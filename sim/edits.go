package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/agolpipe/agolpipe/sim/org"
)

// The data write side of hosted feature layers: applyEdits (adds, updates,
// deletes), addFeatures / updateFeatures / deleteFeatures, addAttachment,
// the admin truncate and the layer append from an uploaded File
// Geodatabase stand-in. What a restore needs to put a layer's rows back.
//
// A generated layer (rows drawn from its seed) becomes a stored one on its
// first data write (materialize): its definition, rows and attachments
// are copied out once, so every layer can be edited like a real one.

// mergeInto replaces the top-level keys of m by those of raw (a JSON
// object; nothing when empty or not an object).
func mergeInto(m map[string]any, raw json.RawMessage) {
	if len(raw) == 0 {
		return
	}
	var o map[string]any
	if json.Unmarshal(raw, &o) != nil {
		return
	}
	for k, v := range o {
		m[k] = v
	}
}

// materialize turns a generated layer into a stored one (definition, rows,
// attachments as they are served now). The caller holds the org lock for
// writing.
func (s *Server) materialize(it *org.Item, l *org.Layer) {
	if l.Definition != nil {
		if l.OIDs == nil {
			l.OIDs = make([]int, len(l.Stored))
			for i := range l.OIDs {
				l.OIDs[i] = i + 1
			}
			l.NextOID = len(l.Stored) + 1
		}
		if l.NextOID == 0 {
			l.NextOID = 1
		}
		return
	}
	e := getEnc()
	l.Stored = make([]json.RawMessage, 0, l.Rows)
	l.OIDs = make([]int, 0, l.Rows)
	l.Attachments = map[int][]org.Attachment{}
	for i := 0; i < l.Rows; i++ {
		e.b, e.comma = e.b[:0], false
		appendFeature(e, l, i, true, nil, false)
		l.Stored = append(l.Stored, append(json.RawMessage(nil), e.b...))
		l.OIDs = append(l.OIDs, i+1)
		for _, a := range attachmentsOf(l, i+1) {
			l.Attachments[i+1] = append(l.Attachments[i+1], org.Attachment{ID: a.id, GlobalID: guid(a.seed), ParentGlobalID: guid(rowHash(l, i)),
				Name: a.name, ContentType: a.ctype, Size: a.size, Seed: a.seed, Magic: []byte(attachmentBlob(a).Magic)})
			l.NextAttachmentID = max(l.NextAttachmentID, a.id+1)
		}
	}
	putEnc(e)
	l.NextOID = l.Rows + 1
	// Its definition stays the generated one (layerDef's template) and its
	// overrides: the stored definition adds nothing.
	l.Definition = json.RawMessage(`{}`)
}

// newGlobalID is a fresh GlobalID in ArcGIS's braced upper-case form.
func newGlobalID() string {
	t := strings.ToUpper(randomToken(16))
	return "{" + t[:8] + "-" + t[8:12] + "-" + t[12:16] + "-" + t[16:20] + "-" + t[20:32] + "}"
}

// editableLayer finds the layer of a service the caller may edit and
// materializes it, or answers the error. The caller holds the org lock for
// writing.
func (s *Server) editableLayer(c *call, sc *svcCall, lid int) (*org.Item, *org.Layer) {
	it := s.editableService(c, sc)
	if it == nil {
		return nil, nil
	}
	l := it.Service.FindLayer(lid)
	if l == nil {
		c.fail(400, "Invalid or missing input parameters.", "", []string{"Layer " + strconv.Itoa(lid) + " does not exist."})
		return nil, nil
	}
	if it.Service.IsView {
		c.fail(400, "Requested operation is not supported by this service.", "", []string{"The view is not updatable; edit its source layer."})
		return nil, nil
	}
	s.materialize(it, l)
	return it, l
}

// attrs returns a feature's attributes object, creating it.
func attrs(f map[string]any) map[string]any {
	a, _ := f["attributes"].(map[string]any)
	if a == nil {
		a = map[string]any{}
		f["attributes"] = a
	}
	return a
}

func oidOf(a map[string]any) (int, bool) {
	switch v := a["OBJECTID"].(type) {
	case float64:
		return int(v), true
	case json.Number:
		n, err := v.Int64()
		return int(n), err == nil
	}
	return 0, false
}

// insertRow appends feature f to stored layer l with a new object id (and
// a new GlobalID unless keepGlobalID and it has one); it returns the new
// object id and GlobalID. The caller holds the org lock for writing.
func insertRow(l *org.Layer, f map[string]any, keepGlobalID bool) (int, string) {
	a := attrs(f)
	oid := l.NextOID
	l.NextOID++
	a["OBJECTID"] = oid
	gid, _ := a["GlobalID"].(string)
	if !keepGlobalID || gid == "" {
		gid = newGlobalID()
		a["GlobalID"] = gid
	}
	raw, _ := json.Marshal(f)
	l.Stored = append(l.Stored, raw)
	l.OIDs = append(l.OIDs, oid)
	return oid, gid
}

func deleteRow(l *org.Layer, oid int) bool {
	i := l.Index(oid)
	if i < 0 {
		return false
	}
	l.Stored = append(l.Stored[:i:i], l.Stored[i+1:]...)
	l.OIDs = append(l.OIDs[:i:i], l.OIDs[i+1:]...)
	delete(l.Attachments, oid)
	return true
}

// updateRow merges the attributes (and replaces the geometry) of feature f
// into the stored row with f's OBJECTID.
func updateRow(l *org.Layer, f map[string]any) (int, bool) {
	oid, ok := oidOf(attrs(f))
	i := l.Index(oid)
	if !ok || i < 0 {
		return oid, false
	}
	var cur map[string]any
	if json.Unmarshal(l.Stored[i], &cur) != nil {
		return oid, false
	}
	ca := attrs(cur)
	for k, v := range attrs(f) {
		if k != "OBJECTID" && k != "GlobalID" {
			ca[k] = v
		}
	}
	if g, ok := f["geometry"]; ok {
		cur["geometry"] = g
	}
	raw, _ := json.Marshal(cur)
	l.Stored[i] = raw
	return oid, true
}

// editError is a per-feature failure of an edit operation, as ArcGIS
// reports it inside the results (the request itself succeeds).
func editError(oid int, code int, desc string) map[string]any {
	return map[string]any{"objectId": oid, "success": false, "error": map[string]any{"code": code, "description": desc}}
}

// parseIDs reads object ids given as "1,2,3" or as a JSON array.
func parseIDs(v string) ([]int, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil, true
	}
	if strings.HasPrefix(v, "[") {
		var ids []int
		return ids, json.Unmarshal([]byte(v), &ids) == nil
	}
	var ids []int
	for _, p := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil {
			return nil, false
		}
		ids = append(ids, n)
	}
	return ids, true
}

// editFeatures: POST <layer>/applyEdits (adds, updates, deletes),
// addFeatures (features), updateFeatures (features), deleteFeatures
// (objectIds or where).
func (s *Server) editFeatures(c *call, sc *svcCall, lid int, op string) {
	if c.r.Method != http.MethodPost {
		c.fail(400, "This operation requires POST.", "", nil)
		return
	}
	if !c.needUser() {
		return
	}
	var adds, updates []map[string]any
	var deletes []int
	where := ""
	parse := func(name string, dst *[]map[string]any) bool {
		v := c.param(name)
		return v == "" || json.Unmarshal([]byte(v), dst) == nil
	}
	ok := true
	switch op {
	case "applyEdits":
		ok = parse("adds", &adds) && parse("updates", &updates)
		if ok {
			deletes, ok = parseIDs(c.param("deletes"))
		}
	case "addFeatures":
		ok = parse("features", &adds)
	case "updateFeatures":
		ok = parse("features", &updates)
	case "deleteFeatures":
		deletes, ok = parseIDs(c.param("objectIds"))
		where = c.param("where")
		if ok && len(deletes) == 0 && where == "" {
			ok = false
		}
	}
	if !ok {
		c.invalidParams()
		return
	}
	keepGlobalIDs := c.boolParam("useGlobalIds")
	rollback := c.param("rollbackOnFailure") != "false"
	s.org.Mu.Lock()
	defer s.org.Mu.Unlock()
	_, l := s.editableLayer(c, sc, lid)
	if l == nil {
		return
	}
	if where != "" {
		wf, ok := parseWhere(where)
		if !ok {
			c.invalidParams()
			return
		}
		deletes = append(deletes, l.ObjectIDs(wf.lo, wf.hi)...)
	}
	// rollbackOnFailure (the default): one failed edit fails them all,
	// nothing is applied. Check first, then apply.
	if rollback {
		for _, f := range updates {
			if oid, ok := oidOf(attrs(f)); !ok || l.Index(oid) < 0 {
				c.fail(400, "Unable to complete operation.", "", []string{fmt.Sprintf("Update for the object was not attempted. Object may not exist (OBJECTID %d).", oid)})
				return
			}
		}
		for _, oid := range deletes {
			if l.Index(oid) < 0 {
				c.fail(400, "Unable to complete operation.", "", []string{fmt.Sprintf("Delete for the object was not attempted. Object may not exist (OBJECTID %d).", oid)})
				return
			}
		}
	}
	addRes, updRes, delRes := []any{}, []any{}, []any{}
	for _, f := range adds {
		oid, gid := insertRow(l, f, keepGlobalIDs)
		addRes = append(addRes, map[string]any{"objectId": oid, "globalId": gid, "success": true})
	}
	for _, f := range updates {
		if oid, ok := updateRow(l, f); ok {
			updRes = append(updRes, map[string]any{"objectId": oid, "success": true})
		} else {
			updRes = append(updRes, editError(oid, 1019, "Update for the object was not attempted. Object may not exist."))
		}
	}
	for _, oid := range deletes {
		if deleteRow(l, oid) {
			delRes = append(delRes, map[string]any{"objectId": oid, "success": true})
		} else {
			delRes = append(delRes, editError(oid, 1019, "Delete for the object was not attempted. Object may not exist."))
		}
	}
	l.LastEdit = time.Now().UnixMilli()
	s.org.Version++
	switch op {
	case "addFeatures":
		c.value(map[string]any{"addResults": addRes})
	case "updateFeatures":
		c.value(map[string]any{"updateResults": updRes})
	case "deleteFeatures":
		c.value(map[string]any{"deleteResults": delRes})
	default:
		c.value(map[string]any{"addResults": addRes, "updateResults": updRes, "deleteResults": delRes})
	}
}

// addAttachment: POST <layer>/<oid>/addAttachment, multipart with the file
// in `attachment` (and optional `keywords`).
func (s *Server) addAttachment(c *call, sc *svcCall, lid, oid int) {
	if c.r.Method != http.MethodPost {
		c.fail(400, "This operation requires POST.", "", nil)
		return
	}
	if !c.needUser() {
		return
	}
	body, name, err := c.fileParam("attachment")
	if err != nil || body == nil {
		c.fail(400, "Unable to add attachment.", "", []string{"The attachment file was not received (multipart part 'attachment')."})
		return
	}
	ctype := "application/octet-stream"
	if c.r.MultipartForm != nil && len(c.r.MultipartForm.File["attachment"]) > 0 {
		if ct := c.r.MultipartForm.File["attachment"][0].Header.Get("Content-Type"); ct != "" {
			ctype = ct
		}
	}
	s.org.Mu.Lock()
	defer s.org.Mu.Unlock()
	_, l := s.editableLayer(c, sc, lid)
	if l == nil {
		return
	}
	if !layerHasAttachments(l) {
		c.fail(400, "Requested operation is not supported by this service.", "", []string{"The layer does not have attachments enabled."})
		return
	}
	i := l.Index(oid)
	if i < 0 {
		c.value(map[string]any{"addAttachmentResult": editError(oid, 1018, "Failed to add the attachment: the feature does not exist.")})
		return
	}
	var row struct {
		Attributes struct {
			GlobalID string `json:"GlobalID"`
		} `json:"attributes"`
	}
	_ = json.Unmarshal(l.Stored[i], &row)
	if l.Attachments == nil {
		l.Attachments = map[int][]org.Attachment{}
	}
	l.NextAttachmentID = max(l.NextAttachmentID, 1)
	a := org.Attachment{ID: l.NextAttachmentID, GlobalID: newGlobalID(), ParentGlobalID: row.Attributes.GlobalID, Name: name,
		ContentType: ctype, Size: int64(len(body)), Keywords: c.param("keywords"), Body: body}
	l.NextAttachmentID++
	l.Attachments[oid] = append(l.Attachments[oid], a)
	l.LastEdit = time.Now().UnixMilli()
	s.org.Version++
	c.value(map[string]any{"addAttachmentResult": map[string]any{"objectId": a.ID, "globalId": a.GlobalID, "success": true}})
}

// truncate: POST <admin layer>/truncate. Deletes every feature (or, with
// attachmentOnly=true, every attachment) and resets the object ids to 1.
// Refused on views and sync-enabled services (supportsTruncate false).
func (s *Server) truncate(c *call, sc *svcCall, lid int) {
	s.org.Mu.Lock()
	defer s.org.Mu.Unlock()
	it := s.editableService(c, sc)
	if it == nil {
		return
	}
	if it.Service.IsView || it.Service.SyncEnabled {
		c.fail(400, "Unable to truncate layer data.", "", []string{"Truncate is not supported on this layer (supportsTruncate is false: the layer is a view or the service has sync enabled)."})
		return
	}
	_, l := s.editableLayer(c, sc, lid)
	if l == nil {
		return
	}
	if c.boolParam("attachmentOnly") {
		l.Attachments = map[int][]org.Attachment{}
	} else {
		l.Stored, l.OIDs, l.Attachments, l.NextOID = []json.RawMessage{}, []int{}, map[int][]org.Attachment{}, 1
	}
	l.LastEdit = time.Now().UnixMilli()
	s.org.Version++
	c.value(map[string]any{"success": true})
}

// appendData: POST <layer>/append from an item holding an export stand-in
// (appendItemId; appendUploadFormat filegdb, shapefile or csv: they share
// the stand-in layout). sourceTableName names the stand-in layer (by name;
// the only layer when empty). upsert is not modelled (refused). Features
// keep their GlobalIDs with useGlobalIds=true, get new ones otherwise;
// the file's attachments come along (to their rows' new GlobalIDs).
// The rows land at once; the job answers statusUrl and reports Pending
// until Options.ExportTime has passed, then Completed with recordCount.
func (s *Server) appendData(c *call, sc *svcCall, lid int) {
	if c.r.Method != http.MethodPost {
		c.fail(400, "This operation requires POST.", "", nil)
		return
	}
	if !c.needUser() {
		return
	}
	switch strings.ToLower(c.param("appendUploadFormat")) {
	case "filegdb", "shapefile", "csv":
	default:
		c.fail(400, "Invalid or missing input parameters.", "", []string{"appendUploadFormat '" + c.param("appendUploadFormat") + "' is not supported by the simulator (filegdb, shapefile, csv)."})
		return
	}
	if c.boolParam("upsert") {
		c.fail(400, "Invalid or missing input parameters.", "", []string{"upsert=true is not modelled by the simulator."})
		return
	}
	body, ok := s.standInBody(c, c.param("appendItemId"))
	if !ok {
		return
	}
	layers, err := readStandIn(body)
	if err != nil {
		c.fail(400, "Unable to append.", "", []string{"The file is not a geodatabase the simulator can read: " + err.Error()})
		return
	}
	var src *org.Layer
	name := c.param("sourceTableName")
	for _, x := range layers {
		if (name == "" && len(layers) == 1) || strings.EqualFold(x.Name, name) {
			src = x
		}
	}
	if src == nil {
		c.fail(400, "Unable to append.", "", []string{"sourceTableName '" + name + "' is not a table of the file."})
		return
	}
	keep := c.boolParam("useGlobalIds")
	s.org.Mu.Lock()
	_, l := s.editableLayer(c, sc, lid)
	if l == nil {
		s.org.Mu.Unlock()
		return
	}
	if keep {
		have := map[string]bool{}
		for _, raw := range l.Stored {
			var r struct {
				A struct {
					G string `json:"GlobalID"`
				} `json:"attributes"`
			}
			_ = json.Unmarshal(raw, &r)
			have[r.A.G] = true
		}
		for _, raw := range src.Stored {
			var r struct {
				A struct {
					G string `json:"GlobalID"`
				} `json:"attributes"`
			}
			_ = json.Unmarshal(raw, &r)
			if r.A.G != "" && have[r.A.G] {
				s.org.Mu.Unlock()
				c.fail(400, "Unable to append.", "", []string{"useGlobalIds: GlobalID " + r.A.G + " already exists in the layer."})
				return
			}
		}
	}
	withAtt := layerHasAttachments(l)
	if l.Attachments == nil {
		l.Attachments = map[int][]org.Attachment{}
	}
	l.NextAttachmentID = max(l.NextAttachmentID, 1)
	for i, raw := range src.Stored {
		var f map[string]any
		if json.Unmarshal(raw, &f) != nil {
			continue
		}
		oid, gid := insertRow(l, f, keep)
		if !withAtt {
			continue
		}
		for _, a := range src.Attachments[src.OIDs[i]] {
			a.ID, a.ParentGlobalID = l.NextAttachmentID, gid
			l.NextAttachmentID++
			l.Attachments[oid] = append(l.Attachments[oid], a)
		}
	}
	l.LastEdit = time.Now().UnixMilli()
	s.org.Version++
	now := time.Now()
	j := &job{ID: newJobID(), Type: "append", Source: c.param("appendItemId"), Started: now, Ready: now.Add(s.opt.ExportTime),
		Layers: []org.ExportLayer{{ID: l.ID, Rows: len(src.Stored)}}}
	s.org.Mu.Unlock()
	s.mu.Lock()
	s.jobs[j.ID] = j
	s.mu.Unlock()
	c.value(map[string]any{"statusUrl": fmt.Sprintf("%s/%d/append/jobs/%s", sc.base, lid, j.ID)})
}

// appendStatus: GET <layer>/append/jobs/<id>.
func (s *Server) appendStatus(c *call, sc *svcCall, id string) {
	if !s.lookup(c, sc) {
		return
	}
	s.org.Mu.RUnlock()
	s.mu.Lock()
	j := s.jobs[id]
	s.mu.Unlock()
	if j == nil || j.Type != "append" {
		c.fail(400, "Job not found.", "", []string{"Invalid job id " + id + "."})
		return
	}
	if time.Now().Before(j.Ready) {
		c.value(map[string]any{"status": "Pending", "submissionTime": j.Started.UnixMilli()})
		return
	}
	c.value(map[string]any{"status": "Completed", "submissionTime": j.Started.UnixMilli(), "lastUpdatedTime": j.Ready.UnixMilli(),
		"recordCount": j.Layers[0].Rows, "layerName": "", "layerId": j.Layers[0].ID})
}

// standInBody returns the bytes of the item the caller may see that holds
// an export stand-in (uploaded, or an export result), or answers the error.
func (s *Server) standInBody(c *call, itemID string) ([]byte, bool) {
	s.org.Mu.RLock()
	src := s.visibleItem(c, itemID)
	if src == nil {
		s.org.Mu.RUnlock()
		return nil, false
	}
	var body []byte
	exp := src.Export
	if src.Data == org.DataStored {
		body = src.Body
	}
	s.org.Mu.RUnlock()
	if exp != nil && body == nil {
		var buf bytes.Buffer
		if err := s.writeExport(&buf, src, exp); err != nil {
			c.fail(500, "Unable to read the source file.", "", nil)
			return nil, false
		}
		body = buf.Bytes()
	}
	return body, true
}

// updateLayerDefinition: POST <admin layer>/updateDefinition with the
// layer's properties (not wrapped in "layers").
func (s *Server) updateLayerDefinition(c *call, sc *svcCall, lid int) {
	var raw json.RawMessage
	if json.Unmarshal([]byte(c.param("updateDefinition")), &raw) != nil {
		c.fail(400, "Unable to update feature service layer definition.", "", []string{"updateDefinition must be a JSON object."})
		return
	}
	s.org.Mu.Lock()
	defer s.org.Mu.Unlock()
	it := s.editableService(c, sc)
	if it == nil {
		return
	}
	l := it.Service.FindLayer(lid)
	if l == nil {
		c.fail(400, "Invalid or missing input parameters.", "", []string{"Layer " + strconv.Itoa(lid) + " does not exist."})
		return
	}
	s.applyLayerUpdate(it, l, raw)
	it.Modified = time.Now().UnixMilli()
	s.org.Version++
	c.value(map[string]any{"success": true})
}

// applyLayerUpdate merges an updateDefinition into a layer: a stored
// layer's definition, a generated layer's overrides. id, name and the
// editing dates stay the simulator's. fields are merged by name, as
// ArcGIS does: the fields sent change those of the same name (alias,
// domain...), the others stay. The caller holds the org lock for writing.
func (s *Server) applyLayerUpdate(it *org.Item, l *org.Layer, raw json.RawMessage) {
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil {
		return
	}
	for _, k := range []string{"id", "editingInfo", "serviceItemId", "adminLayerInfo"} {
		delete(m, k)
	}
	if upd, ok := m["fields"].([]any); ok {
		cur, _ := s.layerDef(it, l)["fields"].([]any)
		byName := map[string]map[string]any{}
		for _, f := range upd {
			if fm, ok := f.(map[string]any); ok {
				if n, _ := fm["name"].(string); n != "" {
					byName[strings.ToLower(n)] = fm
				}
			}
		}
		merged := make([]any, 0, len(cur))
		for _, f := range cur {
			fm, ok := f.(map[string]any)
			if !ok {
				continue
			}
			n, _ := fm["name"].(string)
			if u := byName[strings.ToLower(n)]; u != nil {
				c := map[string]any{}
				for k, v := range fm {
					c[k] = v
				}
				for k, v := range u {
					c[k] = v
				}
				fm = c
			}
			merged = append(merged, fm)
		}
		m["fields"] = merged
	}
	if n, ok := m["name"].(string); ok && n != "" {
		l.Name = n
	}
	b, _ := json.Marshal(m)
	if l.Definition != nil && l.SourceLayer == nil {
		l.Definition = mergeJSON(l.Definition, b)
	} else {
		// A generated layer, or a view's layer (its own keys over its
		// source's definition).
		l.Overrides = mergeJSON(l.Overrides, b)
	}
	l.SchemaEdit = time.Now().UnixMilli()
}

// applyServiceUpdate merges the service-level keys of an updateDefinition
// (everything but layers and tables) into the service: capabilities,
// syncEnabled and maxRecordCount into the model, the rest (editor
// tracking, extents, description, ...) into its overrides.
func applyServiceUpdate(svc *org.Service, raw []byte) {
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil {
		return
	}
	for _, k := range []string{"layers", "tables", "serviceItemId", "adminServiceInfo", "currentVersion", "isView", "name"} {
		delete(m, k)
	}
	if v, ok := m["capabilities"].(string); ok {
		svc.Capabilities = v
		delete(m, "capabilities")
	}
	if v, ok := m["syncEnabled"].(bool); ok {
		svc.SyncEnabled = v
		delete(m, "syncEnabled")
	}
	if v, ok := m["maxRecordCount"].(float64); ok && v > 0 {
		svc.MaxRecordCount = int(v)
		delete(m, "maxRecordCount")
	}
	if len(m) == 0 {
		return
	}
	b, _ := json.Marshal(m)
	svc.Overrides = mergeJSON(svc.Overrides, b)
}
