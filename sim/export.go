package sim

import (
	"archive/zip"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/agolpipe/agolpipe/sim/org"
)

// job is a sharing-API job (export, publish, createService) keyed by id.
type job = org.Job

// exportTypes maps exportFormat to the type of the result item.
var exportTypes = map[string]string{
	"File Geodatabase": "File Geodatabase", "Shapefile": "Shapefile", "CSV": "CSV Collection",
	"GeoJson": "GeoJson", "Excel": "Microsoft Excel", "KML": "KML", "Feature Collection": "Feature Collection",
	"geoPackage": "GeoPackage", "Scene Package": "Scene Package",
}

// exportParams is the part of exportParameters the simulator reads.
type exportParams struct {
	Layers []struct {
		ID                 int    `json:"id"`
		Where              string `json:"where"`
		IncludeAttachments *bool  `json:"includeAttachments"`
	} `json:"layers"`
	// IncludeAttachments=false leaves attachments out of File Geodatabase
	// and GeoPackage exports (a simulator extension; see ExportAttachmentError).
	IncludeAttachments *bool `json:"includeAttachments"`
}

// export: POST /content/users/<u>/export. The result is a temporary item
// in the caller's content whose bytes are ready after Options.ExportTime.
func (s *Server) export(c *call, username string) {
	if c.user.Username != username {
		c.forbidden()
		return
	}
	format := c.param("exportFormat")
	typ, ok := exportTypes[format]
	if !ok {
		c.fail(400, "Invalid export format.", "", []string{"exportFormat '" + format + "' is not supported."})
		return
	}
	var params exportParams
	if p := c.param("exportParameters"); p != "" {
		if err := json.Unmarshal([]byte(p), &params); err != nil {
			c.invalidParams()
			return
		}
	}
	s.org.Mu.Lock()
	defer s.org.Mu.Unlock()
	src := s.visibleItem(c, c.param("itemId"))
	if src == nil {
		return
	}
	if src.Service == nil || src.Service.Kind != org.FeatureServer {
		c.fail(400, "Export is only supported for hosted feature layers.", "", nil)
		return
	}
	if src.Owner != c.user.Username && !c.isAdmin() && !strings.Contains(src.Service.Capabilities, "Extract") {
		c.forbidden()
		return
	}
	var layers []org.ExportLayer
	attachments := false
	withAtt := format == "File Geodatabase" || format == "geoPackage"
	if params.IncludeAttachments != nil && !*params.IncludeAttachments {
		withAtt = false
	}
	add := func(own *org.Layer, inc *bool) {
		l := s.dataLayer(src, own.ID) // a view's rows are its source's
		el := org.ExportLayer{ID: own.ID, Name: own.Name, IsTable: own.IsTable, Geometry: own.Geometry, Rows: l.RowCount(), HasAttachments: layerHasAttachments(l)}
		if own.IsTable && own.Parent >= 0 {
			p := own.Parent
			el.Parent = &p
		}
		// A geodatabase keeps the field definitions (names, types,
		// aliases, lengths, domains); the other formats keep less, but the
		// stand-in records them for every format.
		if fs, ok := s.layerDef(src, own)["fields"].([]any); ok {
			for _, f := range fs {
				if m, ok := f.(map[string]any); ok {
					el.Fields = append(el.Fields, m)
				}
			}
		}
		if el.HasAttachments && withAtt && (inc == nil || *inc) {
			attachments = true
			for _, oid := range l.ObjectIDs(1, math.MaxInt32) {
				el.Attachments += len(attachmentsOf(l, oid))
			}
		}
		layers = append(layers, el)
	}
	if len(params.Layers) > 0 {
		for _, pl := range params.Layers {
			l := src.Service.FindLayer(pl.ID)
			if l == nil {
				c.fail(400, "Invalid or missing input parameters.", "", []string{fmt.Sprintf("Layer %d does not exist.", pl.ID)})
				return
			}
			add(l, pl.IncludeAttachments)
		}
	} else {
		for _, l := range src.Service.Layers {
			add(l, nil)
		}
	}
	if typ == "CSV Collection" && len(layers) == 1 {
		typ = "CSV"
	}
	now := time.Now()
	id := newID()
	j := &job{ID: newJobID(), Type: "export", Format: format, Source: src.ID, Started: now, Ready: now.Add(s.opt.ExportTime), Layers: layers}
	switch s.opt.ExportFaults[src.ID] {
	case ExportFail, ExportFailUndeletable:
		j.Fail = "Failed to export item."
	case ExportHang:
		j.Hang = true
	case ExportAttachmentError:
		if attachments {
			j.Fail = "Failed to export item. Error exporting attachments: the attachment blob could not be read."
		}
	}
	title := c.param("title")
	if title == "" {
		title = fmt.Sprintf("%s_%s", src.Title, now.UTC().Format("20060102T150405"))
	}
	ext := map[string]string{"CSV": ".csv.zip", "CSV Collection": ".zip", "GeoJson": ".geojson.zip", "Microsoft Excel": ".xlsx.zip"}[typ]
	if ext == "" {
		ext = ".zip"
	}
	it := &org.Item{
		ID: id, Owner: c.user.Username, Title: title, Name: safeName(title) + ext, Type: typ,
		TypeKeywords: []string{"Data", "Export", typ}, Tags: splitTags(c.param("tags")), Snippet: c.param("snippet"),
		Created: now.UnixMilli(), Modified: now.UnixMilli(), Access: org.AccessPrivate, Size: 0,
		Data: org.DataStored, Export: j, Temp: true, Seed: org.Mix(src.Seed ^ uint64(now.UnixNano())),
	}
	it.Protected = s.opt.ExportFaults[src.ID] == ExportUndeletable || s.opt.ExportFaults[src.ID] == ExportFailUndeletable
	s.org.AddItem(it)
	s.mu.Lock()
	s.jobs[j.ID] = j
	s.mu.Unlock()
	s.logf("export %s of %s (%s) started as %s", format, src.ID, src.Title, id)
	c.value(map[string]any{"type": typ, "size": 0, "jobId": j.ID, "exportItemId": id, "serviceItemId": src.ID, "exportFormat": format})
}

func newID() string { return randomToken(16) }

func newJobID() string {
	t := randomToken(16)
	return t[:8] + "-" + t[8:12] + "-" + t[12:16] + "-" + t[16:20] + "-" + t[20:]
}

func safeName(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r < 0x20 || strings.ContainsRune(`/\:*?"<>|`, r) {
			b.WriteByte('_')
		} else {
			b.WriteRune(r)
		}
	}
	return strings.TrimSpace(b.String())
}

func splitTags(s string) []string {
	out := []string{}
	for _, t := range strings.Split(s, ",") {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, t)
		}
	}
	return out
}

// jobState is the sharing-API status of a job now.
func jobState(j *job) string {
	switch {
	case j == nil:
		return "completed"
	case j.Hang || time.Now().Before(j.Ready):
		return "processing"
	case j.Fail != "":
		return "failed"
	}
	return "completed"
}

// status: GET /content/users/<u>/items/<id>/status.
func (s *Server) status(c *call, username, id string) {
	if !c.needUser() {
		return
	}
	s.org.Mu.RLock()
	it := s.org.Item(id)
	if it == nil || it.Deleted {
		s.org.Mu.RUnlock()
		c.itemNotFound()
		return
	}
	if it.Owner != username || (c.user.Username != username && !c.isAdmin()) {
		s.org.Mu.RUnlock()
		c.forbidden()
		return
	}
	j := it.Export
	sizeKnown := it.Size != 0
	s.org.Mu.RUnlock()
	if jid := c.param("jobId"); jid != "" && (j == nil || j.ID != jid) {
		c.fail(400, "Job not found.", "", []string{"jobId " + jid + " does not belong to item " + id + "."})
		return
	}
	st := jobState(j)
	msg := st
	if st == "failed" {
		msg = j.Fail
	}
	if st == "completed" && j != nil && j.Type == "export" && !sizeKnown {
		// The result's size is known once it is "written": measure it.
		var cw countWriter
		if err := s.writeExport(&cw, it, j); err == nil {
			s.org.Mu.Lock()
			it.Size = cw.n
			s.org.Mu.Unlock()
		}
	}
	resp := map[string]any{"status": st, "statusMessage": msg, "itemId": id}
	if j != nil {
		resp["jobId"] = j.ID
		resp["jobType"] = j.Type
	}
	c.value(resp)
}

// exportManifest is manifest.json inside an export result: the documented
// stand-in for a File Geodatabase (which cannot be written here). Every
// export format produces the same zip layout: manifest.json plus one
// <layer id>.jsonl file per layer with one Esri JSON feature per line.
type exportManifest struct {
	Format       string            `json:"format"`
	SourceItemID string            `json:"sourceItemId"`
	Layers       []org.ExportLayer `json:"layers"`
	Note         string            `json:"note"`
}

// writeExport writes the export zip of item it to w.
func (s *Server) writeExport(w io.Writer, it *org.Item, j *job) error {
	s.org.Mu.RLock()
	src := s.org.Item(j.Source)
	var layers []*org.Layer // data layers, beside the ids they are written under
	var ids []int
	// The zip's entry times are those of the data exported, not of the
	// export job: exporting unchanged data twice gives the same bytes, as
	// tests comparing two backups of one org need.
	stamp := it.Created
	if src != nil {
		stamp = src.Modified
		if src.Service != nil {
			stamp = max(stamp, src.Service.LastEdit())
			for _, el := range j.Layers {
				if l := s.dataLayer(src, el.ID); l != nil {
					layers = append(layers, l)
					ids = append(ids, el.ID)
				}
			}
		}
	}
	s.org.Mu.RUnlock()
	mod := time.UnixMilli(stamp).UTC()
	zw := zip.NewWriter(w)
	hdr := &zip.FileHeader{Name: "manifest.json", Method: zip.Store, Modified: mod}
	f, err := zw.CreateHeader(hdr)
	if err != nil {
		return err
	}
	m := exportManifest{Format: j.Format, SourceItemID: j.Source, Layers: j.Layers,
		Note: "agolpipe simulator stand-in for " + j.Format + ": layers and rows as Esri JSON lines"}
	if err := json.NewEncoder(f).Encode(m); err != nil {
		return err
	}
	withAtt := map[int]bool{}
	for _, el := range j.Layers {
		withAtt[el.ID] = el.Attachments > 0
	}
	for k, l := range layers {
		f, err := zw.CreateHeader(&zip.FileHeader{Name: strconv.Itoa(ids[k]) + ".jsonl", Method: zip.Store, Modified: mod})
		if err != nil {
			return err
		}
		e := getEnc()
		s.org.Mu.RLock()
		oids := l.ObjectIDs(1, math.MaxInt32)
		s.org.Mu.RUnlock()
		for _, oid := range oids {
			e.b = e.b[:0]
			e.comma = false
			s.org.Mu.RLock()
			if i := rowIndex(l, oid); i >= 0 {
				appendFeature(e, l, i, true, nil, false)
			}
			s.org.Mu.RUnlock()
			if len(e.b) == 0 {
				continue // deleted meanwhile
			}
			e.b = append(e.b, '\n')
			if _, err := f.Write(e.b); err != nil {
				putEnc(e)
				return err
			}
		}
		putEnc(e)
		if withAtt[ids[k]] {
			if err := s.writeStandInAttachments(zw, ids[k], l, oids, mod); err != nil {
				return err
			}
		}
	}
	return zw.Close()
}

// writeStandInAttachments writes a layer's attachments into an export
// stand-in: <layer id>.attachments.jsonl, one attachment per line (its
// parent's GlobalID links it to its row, as a geodatabase's attachment
// table does), and the bytes of uploaded attachments as
// attachments/<layer id>/<attachment id>. Generated attachments are
// recorded by their generator (seed, size, magic) instead of their bytes,
// which keeps a stand-in of a generated org small; the bytes a reader gets
// back are the same.
func (s *Server) writeStandInAttachments(zw *zip.Writer, id int, l *org.Layer, oids []int, mod time.Time) error {
	f, err := zw.CreateHeader(&zip.FileHeader{Name: strconv.Itoa(id) + ".attachments.jsonl", Method: zip.Store, Modified: mod})
	if err != nil {
		return err
	}
	var uploaded []org.Attachment
	for _, oid := range oids {
		s.org.Mu.RLock()
		as := attachmentsOf(l, oid)
		var recs []org.Attachment
		for _, a := range as {
			if a.stored != nil {
				recs = append(recs, *a.stored)
				continue
			}
			recs = append(recs, org.Attachment{ID: a.id, GlobalID: guid(a.seed), ParentGlobalID: guid(rowHash(l, oid-1)), Name: a.name,
				ContentType: a.ctype, Size: a.size, Seed: a.seed, Magic: []byte(attachmentBlob(a).Magic)})
		}
		s.org.Mu.RUnlock()
		for _, r := range recs {
			line, _ := json.Marshal(r)
			if _, err := f.Write(append(line, '\n')); err != nil {
				return err
			}
			if r.Seed == 0 {
				uploaded = append(uploaded, r)
			}
		}
	}
	for _, a := range uploaded {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: attachmentEntry(id, a.ID), Method: zip.Store, Modified: mod})
		if err != nil {
			return err
		}
		if _, err := w.Write(a.Body); err != nil {
			return err
		}
	}
	return nil
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// serveExport streams an export result, honouring a single "bytes=N-" or
// "bytes=N-M" range by generating and skipping.
func (s *Server) serveExport(c *call, j *job, name string, modified time.Time) {
	s.org.Mu.RLock()
	var it *org.Item
	for _, x := range s.org.Items {
		if x.Export == j {
			it = x
		}
	}
	s.org.Mu.RUnlock()
	if it == nil {
		c.itemNotFound()
		return
	}
	var cw countWriter
	if err := s.writeExport(&cw, it, j); err != nil {
		c.fail(500, "Unable to read the export.", "", nil)
		return
	}
	size := cw.n
	h := c.w.Header()
	h.Set("Content-Type", "application/zip")
	h.Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", name))
	h.Set("Accept-Ranges", "bytes")
	h.Set("Last-Modified", modified.UTC().Format(http.TimeFormat))
	lo, hi := int64(0), size-1
	if rg := c.r.Header.Get("Range"); rg != "" {
		var ok bool
		lo, hi, ok = parseRange(rg, size)
		if !ok {
			h.Set("Content-Range", fmt.Sprintf("bytes */%d", size))
			c.w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
			return
		}
		h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", lo, hi, size))
		h.Set("Content-Length", strconv.FormatInt(hi-lo+1, 10))
		c.w.WriteHeader(http.StatusPartialContent)
	} else {
		h.Set("Content-Length", strconv.FormatInt(size, 10))
	}
	if c.r.Method == http.MethodHead {
		return
	}
	_ = s.writeExport(&rangeWriter{w: c.w, skip: lo, left: hi - lo + 1}, it, j)
}

// parseRange parses one "bytes=lo-hi" range against size.
func parseRange(h string, size int64) (lo, hi int64, ok bool) {
	spec, found := strings.CutPrefix(h, "bytes=")
	if !found || strings.Contains(spec, ",") {
		return 0, 0, false
	}
	a, b, _ := strings.Cut(spec, "-")
	var err error
	if a == "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n <= 0 {
			return 0, 0, false
		}
		if n > size {
			n = size
		}
		return size - n, size - 1, true
	}
	if lo, err = strconv.ParseInt(a, 10, 64); err != nil || lo >= size {
		return 0, 0, false
	}
	hi = size - 1
	if b != "" {
		if hi, err = strconv.ParseInt(b, 10, 64); err != nil || hi < lo {
			return 0, 0, false
		}
		if hi >= size {
			hi = size - 1
		}
	}
	return lo, hi, true
}

// rangeWriter drops the first skip bytes and passes on at most left.
type rangeWriter struct {
	w    io.Writer
	skip int64
	left int64
}

func (r *rangeWriter) Write(p []byte) (int, error) {
	n := len(p)
	if r.skip > 0 {
		if int64(len(p)) <= r.skip {
			r.skip -= int64(len(p))
			return n, nil
		}
		p = p[r.skip:]
		r.skip = 0
	}
	if r.left <= 0 {
		return n, nil
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	if _, err := r.w.Write(p); err != nil {
		return 0, err
	}
	r.left -= int64(len(p))
	return n, nil
}
