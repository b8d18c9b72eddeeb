package sim

import (
	"bytes"
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

// serverREST routes <server>/rest/<rest>: hosted feature and tile services
// and their admin API. prefix is the server root path ("/<orgId>/arcgis"
// online, "/server" in enterprise mode).
func (s *Server) serverREST(c *call, rest, prefix string) {
	segs := strings.Split(strings.Trim(rest, "/"), "/")
	if len(segs) == 1 && segs[0] == "info" {
		s.do(c, "rest/info", false, s.serverInfo)
		return
	}
	admin := false
	if segs[0] == "admin" {
		admin = true
		segs = segs[1:]
	}
	if len(segs) < 2 || segs[0] != "services" {
		c.endpoint = "unknown"
		c.fail(400, "Invalid URL", "", []string{"Invalid URL"})
		return
	}
	segs = segs[1:]
	if s.opt.Mode == "enterprise" {
		if segs[0] != "Hosted" || len(segs) < 2 {
			c.endpoint = "unknown"
			c.fail(400, "Invalid URL", "", []string{"Invalid URL"})
			return
		}
		segs = segs[1:]
	}
	// <name>/<Kind>/... or, in the admin API, <name>.<Kind>/...
	name, kind := segs[0], ""
	rest2 := segs[1:]
	if n, k, ok := strings.Cut(segs[0], "."); ok {
		name, kind = n, k
	} else if len(segs) > 1 {
		kind, rest2 = segs[1], segs[2:]
	}
	base := s.origin + prefix + "/rest/services/"
	if s.opt.Mode == "enterprise" {
		base += "Hosted/"
	}
	base += name + "/" + kind
	sc := &svcCall{name: name, kind: kind, base: base, rest: rest2}
	switch {
	case admin && kind == org.FeatureServer:
		s.adminService(c, sc)
	case kind == org.FeatureServer:
		s.featureServer(c, sc)
	case kind == org.MapServer || kind == org.VectorTileServer:
		s.tileServer(c, sc)
	default:
		c.endpoint = "unknown"
		c.fail(400, "Invalid URL", "", []string{"Invalid URL"})
	}
}

type svcCall struct {
	name, kind, base string
	rest             []string
	item             *org.Item
}

// lookup authenticates the caller and finds the service item it may see.
// The caller holds nothing; lookup takes and keeps the read lock when it
// returns true (release with s.org.Mu.RUnlock).
func (s *Server) lookup(c *call, sc *svcCall) bool {
	s.org.Mu.RLock()
	it := s.serviceItem(sc.name, sc.kind)
	if it == nil {
		s.org.Mu.RUnlock()
		c.fail(400, "Invalid URL", "", []string{"Invalid URL"})
		return false
	}
	if !c.canView(it) {
		s.org.Mu.RUnlock()
		if c.user == nil && c.sess == nil {
			c.tokenRequired()
		} else {
			c.forbidden()
		}
		return false
	}
	sc.item = it
	return true
}

func (s *Server) featureServer(c *call, sc *svcCall) {
	r := sc.rest
	var ep string
	var h func(*call)
	switch {
	case len(r) == 0:
		ep, h = "featureserver", func(c *call) { s.fsRoot(c, sc, false) }
	case len(r) == 1 && r[0] == "layers":
		ep, h = "featureserver/layers", func(c *call) { s.fsLayers(c, sc) }
	case len(r) == 1 && r[0] == "sources":
		ep, h = "featureserver/sources", func(c *call) { s.fsSources(c, sc) }
	case len(r) == 1 && r[0] == "createReplica":
		ep, h = "createReplica", func(c *call) { s.createReplica(c, sc) }
	case len(r) == 2 && r[0] == "jobs":
		ep, h = "replica/status", func(c *call) { s.replicaStatus(c, sc, r[1]) }
	case len(r) == 2 && r[0] == "replicafiles":
		ep, h = "replica/download", func(c *call) { s.replicaDownload(c, sc, strings.TrimSuffix(r[1], ".zip")) }
	default:
		lid, err := strconv.Atoi(r[0])
		if err != nil {
			c.endpoint = "unknown"
			c.fail(400, "Invalid URL", "", []string{"Invalid URL"})
			return
		}
		switch {
		case len(r) == 1:
			ep, h = "layer", func(c *call) { s.fsLayer(c, sc, lid, false) }
		case len(r) == 2 && r[1] == "query":
			ep, h = "query", func(c *call) { s.query(c, sc, lid) }
		case len(r) == 2 && r[1] == "queryAttachments":
			ep, h = "queryAttachments", func(c *call) { s.queryAttachments(c, sc, lid) }
		case len(r) == 2 && (r[1] == "addFeatures" || r[1] == "applyEdits" || r[1] == "updateFeatures" || r[1] == "deleteFeatures"):
			c.write = true
			ep, h = r[1], func(c *call) { s.editFeatures(c, sc, lid, r[1]) }
		case len(r) == 2 && r[1] == "append":
			c.write = true
			ep, h = "append", func(c *call) { s.appendData(c, sc, lid) }
		case len(r) == 4 && r[1] == "append" && r[2] == "jobs":
			ep, h = "append/status", func(c *call) { s.appendStatus(c, sc, r[3]) }
		case len(r) == 3 && r[2] == "addAttachment":
			c.write = true
			oid, _ := strconv.Atoi(r[1])
			ep, h = "addAttachment", func(c *call) { s.addAttachment(c, sc, lid, oid) }
		case len(r) == 3 && r[2] == "attachments":
			oid, _ := strconv.Atoi(r[1])
			ep, h = "attachments", func(c *call) { s.attachments(c, sc, lid, oid) }
		case len(r) == 4 && r[2] == "attachments":
			oid, _ := strconv.Atoi(r[1])
			aid, _ := strconv.Atoi(r[3])
			ep, h = "attachment", func(c *call) { s.attachment(c, sc, lid, oid, aid) }
		default:
			c.endpoint = "unknown"
			c.fail(400, "Invalid URL", "", []string{"Invalid URL"})
			return
		}
	}
	jsonOnly := ep != "attachment" && ep != "replica/download"
	s.do(c, ep, jsonOnly, h)
}

var wgs84toMercator = func(lon, lat float64) (x, y float64) {
	x = lon * 20037508.34 / 180
	y = math.Log(math.Tan((90+lat)*math.Pi/360)) / (math.Pi / 180) * 20037508.34 / 180
	return
}

// mercatorToWGS84 is the inverse of wgs84toMercator.
func mercatorToWGS84(x, y float64) (lon, lat float64) {
	lon = x * 180 / 20037508.34
	lat = math.Atan(math.Exp(y*math.Pi/20037508.34))*360/math.Pi - 90
	return
}

// parseOutSR reads a query's outSR: a wkid ("4326") or a spatial reference
// JSON ({"wkid":4326}, {"latestWkid":3857}). The simulator's data is in Web
// Mercator and it projects to WGS84 (4326) only: wgs is true for 4326,
// false for the data's own Web Mercator (102100, 3857 and their older
// names, or no outSR); ok is false for any other reference.
func parseOutSR(v string) (wgs, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return false, true
	}
	wkid, err := strconv.Atoi(v)
	if err != nil {
		var ref struct {
			WKID       int `json:"wkid"`
			LatestWKID int `json:"latestWkid"`
		}
		if json.Unmarshal([]byte(v), &ref) != nil {
			return false, false
		}
		wkid = ref.WKID
		if wkid == 0 {
			wkid = ref.LatestWKID
		}
	}
	switch wkid {
	case 4326:
		return true, true
	case 102100, 3857, 102113, 900913:
		return false, true
	}
	return false, false
}

// projectGeometry rewrites an Esri JSON geometry's coordinates from Web
// Mercator to WGS84 (stored features, which are kept as written).
func projectGeometry(g map[string]any) {
	pt := func(p []any) {
		if len(p) >= 2 {
			x, _ := p[0].(float64)
			y, _ := p[1].(float64)
			p[0], p[1] = mercatorToWGS84(x, y)
		}
	}
	if x, ok := g["x"].(float64); ok {
		y, _ := g["y"].(float64)
		g["x"], g["y"] = mercatorToWGS84(x, y)
	}
	for _, k := range []string{"paths", "rings"} {
		parts, _ := g[k].([]any)
		for _, part := range parts {
			pts, _ := part.([]any)
			for _, p := range pts {
				q, _ := p.([]any)
				pt(q)
			}
		}
	}
	if pts, ok := g["points"].([]any); ok {
		for _, p := range pts {
			q, _ := p.([]any)
			pt(q)
		}
	}
	g["spatialReference"] = map[string]any{"wkid": 4326, "latestWkid": 4326}
}

func mercExtent(ext []float64) map[string]any {
	if len(ext) != 4 {
		ext = []float64{-122.6, 37.5, -122.1, 37.9}
	}
	x0, y0 := wgs84toMercator(ext[0], ext[1])
	x1, y1 := wgs84toMercator(ext[2], ext[3])
	return map[string]any{"xmin": x0, "ymin": y0, "xmax": x1, "ymax": y1, "spatialReference": sr}
}

var sr = map[string]any{"wkid": 102100, "latestWkid": 3857}

// fsRoot: GET <FeatureServer>; admin adds adminServiceInfo.
func (s *Server) fsRoot(c *call, sc *svcCall, admin bool) {
	if !s.lookup(c, sc) {
		return
	}
	defer s.org.Mu.RUnlock()
	it, svc := sc.item, sc.item.Service
	layers, tables := []any{}, []any{}
	var rels []any
	for _, l := range svc.Layers {
		if l.IsTable {
			tables = append(tables, map[string]any{"id": l.ID, "name": l.Name, "parentLayerId": -1, "defaultVisibility": true, "minScale": 0, "maxScale": 0})
			if l.Parent >= 0 {
				rels = append(rels, map[string]any{"id": len(rels), "name": fmt.Sprintf("%d_to_%d", l.Parent, l.ID), "originLayerId": l.Parent,
					"destinationLayerId": l.ID, "cardinality": "esriRelCardinalityOneToMany", "originPrimaryKey": "GlobalID", "originForeignKey": "PARENTGUID",
					"composite": false, "attributed": false, "forwardPathLabel": "inspections", "backwardPathLabel": "feature", "rules": []any{}})
			}
			continue
		}
		layers = append(layers, map[string]any{"id": l.ID, "name": l.Name, "parentLayerId": -1, "defaultVisibility": true, "minScale": 0, "maxScale": 0, "geometryType": l.Geometry})
	}
	if rels == nil {
		rels = []any{}
	}
	v := map[string]any{
		"currentVersion": 11.3, "serviceItemId": it.ID, "serviceDescription": "", "hasVersionedData": false,
		"supportsDisconnectedEditing": false, "supportsReturnDeleteResults": true, "supportsRelationshipsResource": true,
		"syncEnabled": svc.SyncEnabled, "hasStaticData": !strings.Contains(svc.Capabilities, "Editing"),
		"maxRecordCount": svc.MaxRecordCount, "supportedQueryFormats": "JSON, geoJSON, PBF", "capabilities": svc.Capabilities,
		"description": "", "copyrightText": "", "advancedEditingCapabilities": map[string]any{"supportsSplit": false},
		"spatialReference": sr, "initialExtent": mercExtent(it.Extent), "fullExtent": mercExtent(it.Extent),
		"allowGeometryUpdates": true, "units": "esriMeters", "validationSystemLayers": map[string]any{},
		"extractChangesCapabilities": map[string]any{"supportsReturnIdsOnly": true, "supportsReturnExtentOnly": false, "supportsReturnAttachments": false,
			"supportsLayerQueries": false, "supportsSpatialFilter": false, "supportsReturnFeature": false},
		"syncCapabilities": map[string]any{"supportsASync": true, "supportsRegisteringExistingData": true, "supportsSyncDirectionControl": true,
			"supportsPerLayerSync": true, "supportsPerReplicaSync": true, "supportsRollbackOnFailure": false, "supportedSyncDataOptions": 3},
		"editorTrackingInfo": map[string]any{"enableEditorTracking": true, "enableOwnershipAccessControl": false, "allowOthersToUpdate": true, "allowOthersToDelete": true},
		"layers":             layers, "tables": tables, "relationships": rels,
		"isLocationTrackingService": false, "isLocationTrackingView": false, "isView": svc.IsView,
		"editingInfo": map[string]any{"lastEditDate": svc.LastEdit()},
	}
	if svc.IsView {
		v["isUpdatableView"] = false
		v["sourceSchemaChangesAllowed"] = true
	}
	mergeInto(v, svc.Overrides)
	if admin {
		v["adminServiceInfo"] = map[string]any{"name": svc.Name, "type": "FeatureServer", "cacheMaxAge": 0, "status": "Started", "database": map[string]any{"datasource": map[string]any{"name": "hosted"}}}
	}
	c.value(v)
}

func fieldJSON(f org.Field) map[string]any {
	m := map[string]any{"name": f.Name, "type": f.Type, "alias": f.Alias, "sqlType": "sqlTypeOther", "domain": nil, "defaultValue": nil,
		"nullable": f.Nullable, "editable": f.Editable}
	if f.Length > 0 {
		m["length"] = f.Length
	}
	if f.Domain == "Status" {
		cv := []any{}
		for _, v := range org.StatusDomain {
			cv = append(cv, map[string]any{"name": v.Name, "code": v.Code})
		}
		m["domain"] = map[string]any{"type": "codedValue", "name": "Status", "codedValues": cv, "mergePolicy": "esriMPTDefaultValue", "splitPolicy": "esriSPTDefaultValue"}
	}
	return m
}

// layerDef is the layer definition JSON.
func (s *Server) layerDef(it *org.Item, l *org.Layer) map[string]any {
	svc := it.Service
	fields := []any{}
	for _, f := range l.Fields() {
		fields = append(fields, fieldJSON(f))
	}
	typ := "Feature Layer"
	if l.IsTable {
		typ = "Table"
	}
	rels := []any{}
	for _, o := range svc.Layers {
		if o.IsTable && o.Parent == l.ID {
			rels = append(rels, map[string]any{"id": o.ID, "name": o.Name, "relatedTableId": o.ID, "cardinality": "esriRelCardinalityOneToMany",
				"role": "esriRelRoleOrigin", "keyField": "GlobalID", "composite": false})
		}
		if l.IsTable && l.Parent == o.ID && !o.IsTable {
			rels = append(rels, map[string]any{"id": l.ID, "name": o.Name, "relatedTableId": o.ID, "cardinality": "esriRelCardinalityOneToMany",
				"role": "esriRelRoleDestination", "keyField": "PARENTGUID", "composite": false})
		}
	}
	m := map[string]any{
		"currentVersion": 11.3, "id": l.ID, "name": l.Name, "parentLayerId": -1, "defaultVisibility": true, "minScale": 0, "maxScale": 0,
		"type": typ, "description": "", "copyrightText": "", "definitionExpression": "", "editFieldsInfo": map[string]any{"creationDateField": "CreationDate", "creatorField": "Creator", "editDateField": "EditDate", "editorField": "Editor"},
		"ownershipBasedAccessControlForFeatures": nil, "syncCanReturnChanges": svc.SyncEnabled, "relationships": rels,
		"isDataVersioned": false, "supportsRollbackOnFailureParameter": true,
		"archivingInfo":      map[string]any{"supportsQueryWithHistoricMoment": false, "startArchivingMoment": -1},
		"supportsStatistics": true, "supportsAdvancedQueries": true, "supportsValidateSQL": true, "supportsCalculate": true,
		"advancedQueryCapabilities": map[string]any{"supportsPagination": true, "supportsTrueCurve": true, "supportsQueryWithDistance": true,
			"supportsReturningQueryExtent": true, "supportsStatistics": true, "supportsOrderBy": true, "supportsDistinct": true, "supportsSqlExpression": true},
		"editingInfo": map[string]any{"lastEditDate": max(l.LastEdit, l.SchemaEdit), "schemaLastEditDate": l.SchemaEdit, "dataLastEditDate": l.LastEdit},
		"hasM":        false, "hasZ": false, "allowGeometryUpdates": true, "allowTrueCurvesUpdates": false, "onlyAllowTrueCurveUpdatesByTrueCurveClients": true,
		"hasAttachments": layerHasAttachments(l), "supportsAttachmentsByUploadId": true, "supportsApplyEditsWithGlobalIds": true,
		"supportsQueryAttachments": true, "htmlPopupType": "esriServerHTMLPopupTypeAsHTMLText",
		"objectIdField": "OBJECTID", "globalIdField": "GlobalID", "displayField": "NAME", "typeIdField": "", "subtypeField": "",
		"fields": fields, "indexes": []any{map[string]any{"name": "PK__OBJECTID", "fields": "OBJECTID", "isAscending": true, "isUnique": true, "description": ""}},
		"dateFieldsTimeReference": map[string]any{"timeZone": "UTC", "respectsDaylightSaving": false},
		"types":                   []any{}, "templates": []any{}, "maxRecordCount": svc.MaxRecordCount, "supportedQueryFormats": "JSON, geoJSON, PBF",
		"capabilities": svc.Capabilities, "useStandardizedQueries": true, "serviceItemId": it.ID,
		"supportsTruncate": !svc.IsView && !svc.SyncEnabled, "supportsAppend": true,
		"supportedAppendFormats": "shapefile,filegdb,csv",
	}
	if !l.IsTable {
		m["geometryType"] = l.Geometry
		m["extent"] = mercExtent(it.Extent)
		m["drawingInfo"] = map[string]any{"renderer": map[string]any{"type": "simple"}, "transparency": 0, "labelingInfo": nil}
		m["timeInfo"] = map[string]any{"startTimeField": "CreationDate", "endTimeField": nil, "trackIdField": nil,
			"timeExtent": []any{l.SchemaEdit, l.LastEdit}, "timeReference": nil, "timeInterval": 0, "timeIntervalUnits": "esriTimeUnitsUnknown"}
	} else {
		m["displayField"] = "NOTE"
		delete(m, "hasZ")
		delete(m, "hasM")
	}
	if l.Definition != nil {
		// A layer defined through the API (addToDefinition, publish, or a
		// generated layer once edited): what the server computes is there
		// as for any layer; the stored definition's keys replace it.
		mergeInto(m, l.Definition)
		m["id"], m["name"] = l.ID, l.Name
		m["serviceItemId"] = it.ID
		m["hasAttachments"] = layerHasAttachments(l)
	}
	mergeInto(m, l.Overrides)
	return m
}

// fsLayer: GET <FeatureServer>/<id>; admin adds adminLayerInfo.
func (s *Server) fsLayer(c *call, sc *svcCall, id int, admin bool) {
	if !s.lookup(c, sc) {
		return
	}
	defer s.org.Mu.RUnlock()
	l := sc.item.Service.FindLayer(id)
	if l == nil {
		c.fail(400, "Invalid or missing input parameters.", "", []string{"Layer " + strconv.Itoa(id) + " does not exist."})
		return
	}
	m := s.layerDef(sc.item, l)
	if admin {
		info := map[string]any{"geometryField": map[string]any{"name": "Shape"}, "tableName": l.Name}
		if sc.item.Service.IsView {
			src := s.org.Item(sc.item.Service.SourceItemID)
			if src != nil && src.Service != nil {
				sid := l.ID
				if l.SourceLayer != nil {
					sid = *l.SourceLayer
				}
				info["viewLayerDefinition"] = map[string]any{"sourceServiceName": src.Service.Name, "sourceLayerId": sid, "sourceLayerFields": "*"}
			}
		}
		m["adminLayerInfo"] = info
	}
	c.value(m)
}

// fsLayers: GET <FeatureServer>/layers: every layer and table definition.
func (s *Server) fsLayers(c *call, sc *svcCall) {
	if !s.lookup(c, sc) {
		return
	}
	defer s.org.Mu.RUnlock()
	layers, tables := []any{}, []any{}
	for _, l := range sc.item.Service.Layers {
		if l.IsTable {
			tables = append(tables, s.layerDef(sc.item, l))
		} else {
			layers = append(layers, s.layerDef(sc.item, l))
		}
	}
	c.value(map[string]any{"layers": layers, "tables": tables})
}

// fsSources: GET <view FeatureServer>/sources.
func (s *Server) fsSources(c *call, sc *svcCall) {
	if !s.lookup(c, sc) {
		return
	}
	defer s.org.Mu.RUnlock()
	svcs := []any{}
	if sc.item.Service.IsView {
		if src := s.org.Item(sc.item.Service.SourceItemID); src != nil && src.Service != nil {
			svcs = append(svcs, map[string]any{"serviceItemId": src.ID, "name": src.Service.Name, "type": "FeatureServer",
				"url": org.AbsURL(s.origin, src.URL)})
		}
	}
	c.value(map[string]any{"currentVersion": 11.3, "services": svcs})
}

// Feature generation.

func guid(h uint64) string {
	var buf [38]byte
	return string(appendGUID(buf[:0], h))
}

const upperHex = "0123456789ABCDEF"

// appendGUID appends a {XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX} GUID derived
// from h.
func appendGUID(b []byte, h uint64) []byte {
	a, c := org.Mix(h), org.Mix(h^0xabcdef)
	b = append(b, '{')
	put := func(v uint64, digits int) {
		for i := digits - 1; i >= 0; i-- {
			b = append(b, upperHex[v>>(uint(i)*4)&0xf])
		}
	}
	put(a>>32, 8)
	b = append(b, '-')
	put(a>>16&0xffff, 4)
	b = append(b, '-')
	put(a&0xffff, 4)
	b = append(b, '-')
	put(c>>48, 4)
	b = append(b, '-')
	put(c&0xffffffffffff, 12)
	return append(b, '}')
}

// kGUID writes key: "<GUID of h>".
func (e *enc) kGUID(k string, h uint64) {
	e.k(k)
	e.b = append(e.b, '"')
	e.b = appendGUID(e.b, h)
	e.b = append(e.b, '"')
	e.comma = true
}

// kNumbered writes key: "<prefix><v in base>" without allocating.
func (e *enc) kNumbered(k, prefix string, v uint64, base int) {
	e.k(k)
	e.b = append(e.b, '"')
	e.b = append(e.b, prefix...)
	e.b = strconv.AppendUint(e.b, v, base)
	e.b = append(e.b, '"')
	e.comma = true
}

// appendCoord appends an "[x,y]" pair of Web Mercator metres rounded to
// centimetres, or with wgs projected to WGS84 degrees (1e-8, about a
// millimetre).
func appendCoord(b []byte, x, y float64, wgs bool) []byte {
	b = append(b, '[')
	b = appendNum(b, x, y, wgs, 0)
	b = append(b, ',')
	b = appendNum(b, x, y, wgs, 1)
	return append(b, ']')
}

// appendNum appends coordinate k (0 = x, 1 = y) of a Web Mercator point.
func appendNum(b []byte, x, y float64, wgs bool, k int) []byte {
	v, scale := [2]float64{x, y}[k], 100.0
	if wgs {
		lon, lat := mercatorToWGS84(x, y)
		v, scale = [2]float64{lon, lat}[k], 1e8
	}
	return strconv.AppendFloat(b, math.Round(v*scale)/scale, 'f', -1, 64)
}

func rowHash(l *org.Layer, i int) uint64 { return org.Mix(l.Seed ^ uint64(i)*0x9e3779b97f4a7c15) }

// appendFeature writes feature i (0-based) of l as Esri JSON; fields nil
// means all; wgs projects the geometry to WGS84 (outSR 4326).
func appendFeature(e *enc, l *org.Layer, i int, geometry bool, fields map[string]bool, wgs bool) {
	if l.Definition != nil {
		if !wgs || !geometry {
			e.raw(l.Stored[i])
			return
		}
		var f map[string]any
		if json.Unmarshal(l.Stored[i], &f) == nil {
			if g, ok := f["geometry"].(map[string]any); ok {
				projectGeometry(g)
			}
			if b, err := json.Marshal(f); err == nil {
				e.raw(b)
				return
			}
		}
		e.raw(l.Stored[i])
		return
	}
	h := rowHash(l, i)
	want := func(n string) bool { return fields == nil || fields[n] }
	e.open()
	e.k("attributes")
	e.open()
	if want("OBJECTID") {
		e.ki("OBJECTID", int64(i+1))
	}
	if want("GlobalID") {
		e.kGUID("GlobalID", h)
	}
	edit := l.LastEdit - int64(h%uint64(200*24*3600*1000))
	if l.IsTable {
		if want("PARENTGUID") {
			e.kGUID("PARENTGUID", org.Mix(uint64(i)))
		}
		if want("NOTE") {
			e.kNumbered("NOTE", "Reading ", h&0xffff, 10)
		}
		if want("READING") {
			e.ki("READING", int64(h>>20&0x3ff))
		}
		if want("READ_AT") {
			e.ki("READ_AT", edit)
		}
	} else {
		if want("NAME") {
			e.kNumbered("NAME", "Site ", h&0xffffff, 16)
		}
		if want("STATUS") {
			e.ks("STATUS", org.StatusDomain[h>>60&3].Code)
		}
		if want("VALUE") {
			e.k("VALUE")
			e.float(float64(h>>40&0xfffff) / 100)
		}
		if want("INSPECTED") {
			if h&7 == 0 {
				e.kn("INSPECTED")
			} else {
				e.ki("INSPECTED", edit-86400000)
			}
		}
	}
	if want("CreationDate") && !l.IsTable {
		e.ki("CreationDate", edit-int64(h>>32&0xfffffff))
	}
	if want("Creator") && !l.IsTable {
		e.ks("Creator", "field_crew")
	}
	if want("EditDate") && !l.IsTable {
		e.ki("EditDate", edit)
	}
	if want("Editor") && !l.IsTable {
		e.ks("Editor", "field_crew")
	}
	e.close()
	if geometry && !l.IsTable {
		lon, lat := -122.6+float64(h&0xffff)/65536*0.5, 37.5+float64(h>>16&0xffff)/65536*0.4
		x, y := wgs84toMercator(lon, lat)
		e.k("geometry")
		e.open()
		switch l.Geometry {
		case "esriGeometryPolyline":
			e.k("paths")
			e.b = append(e.b, "[["...)
			e.b = appendCoord(e.b, x, y, wgs)
			e.b = append(e.b, ',')
			e.b = appendCoord(e.b, x+40, y+25, wgs)
			e.b = append(e.b, ',')
			e.b = appendCoord(e.b, x+90, y+10, wgs)
			e.b = append(e.b, "]]"...)
			e.comma = true
		case "esriGeometryPolygon":
			e.k("rings")
			e.b = append(e.b, "[["...)
			for k, d := range [5][2]float64{{0, 0}, {0, 50}, {50, 50}, {50, 0}, {0, 0}} {
				if k > 0 {
					e.b = append(e.b, ',')
				}
				e.b = appendCoord(e.b, x+d[0], y+d[1], wgs)
			}
			e.b = append(e.b, "]]"...)
			e.comma = true
		default:
			e.k("x")
			e.b = appendNum(e.b, x, y, wgs, 0)
			e.comma = true
			e.k("y")
			e.b = appendNum(e.b, x, y, wgs, 1)
			e.comma = true
		}
		e.close()
	}
	e.close()
}

// whereFilter is the subset of SQL where clauses the simulator evaluates:
// 1=1, and OBJECTID comparisons joined with AND. Other clauses select
// everything (they are logged as unsupported by no one: keep queries simple).
type whereFilter struct{ lo, hi int }

func parseWhere(w string) (whereFilter, bool) {
	f := whereFilter{lo: 1, hi: math.MaxInt32}
	w = strings.TrimSpace(w)
	if w == "" || w == "1=1" || w == "1 = 1" {
		return f, true
	}
	for _, part := range strings.Split(strings.ReplaceAll(w, " and ", " AND "), " AND ") {
		p := strings.ReplaceAll(strings.TrimSpace(part), " ", "")
		if p == "1=1" {
			continue
		}
		up := strings.ToUpper(p)
		if !strings.HasPrefix(up, "OBJECTID") {
			continue
		}
		rest := p[len("OBJECTID"):]
		for _, op := range []string{">=", "<=", "<>", ">", "<", "="} {
			if v, ok := strings.CutPrefix(rest, op); ok {
				n, err := strconv.Atoi(v)
				if err != nil {
					return f, false
				}
				switch op {
				case ">=":
					f.lo = max(f.lo, n)
				case ">":
					f.lo = max(f.lo, n+1)
				case "<=":
					f.hi = min(f.hi, n)
				case "<":
					f.hi = min(f.hi, n-1)
				case "=":
					f.lo, f.hi = max(f.lo, n), min(f.hi, n)
				}
				break
			}
		}
	}
	return f, true
}

// query: <FeatureServer>/<id>/query.
func (s *Server) query(c *call, sc *svcCall, id int) {
	if s.queryThrottled() {
		c.rw.fault = "429"
		c.failStatus(http.StatusTooManyRequests, 429, "Too many requests. Please try again later.", "", nil)
		return
	}
	if !s.lookup(c, sc) {
		return
	}
	defer s.org.Mu.RUnlock()
	svc := sc.item.Service
	l := s.dataLayer(sc.item, id)
	if l == nil {
		c.invalidParams()
		return
	}
	wf, ok := parseWhere(c.param("where"))
	if !ok {
		c.invalidParams()
		return
	}
	// Matching object ids are those in [lo, hi] (1-based) unless objectIds
	// is given.
	var ids []int
	if oids := c.param("objectIds"); oids != "" {
		for _, x := range strings.Split(oids, ",") {
			v, err := strconv.Atoi(strings.TrimSpace(x))
			if err != nil {
				c.invalidParams()
				return
			}
			if v >= wf.lo && v <= wf.hi && l.HasRow(v) {
				ids = append(ids, v)
			}
		}
	} else {
		ids = l.ObjectIDs(wf.lo, wf.hi)
	}
	if c.boolParam("returnCountOnly") {
		c.value(map[string]any{"count": len(ids)})
		return
	}
	if c.boolParam("returnIdsOnly") {
		e := getEnc()
		e.open()
		e.ks("objectIdFieldName", "OBJECTID")
		e.k("objectIds")
		e.arr()
		for _, v := range ids {
			e.int(int64(v))
		}
		e.end()
		e.close()
		c.enc(e)
		return
	}
	offset := c.intParam("resultOffset", 0)
	count := c.intParam("resultRecordCount", svc.MaxRecordCount)
	if count <= 0 || count > svc.MaxRecordCount {
		count = svc.MaxRecordCount
	}
	if offset > len(ids) {
		offset = len(ids)
	}
	page := ids[offset:min(offset+count, len(ids))]
	exceeded := offset+len(page) < len(ids)
	var fields map[string]bool
	if of := c.param("outFields"); of != "" && of != "*" {
		fields = map[string]bool{}
		for _, f := range strings.Split(of, ",") {
			fields[strings.TrimSpace(f)] = true
		}
	}
	geom := c.param("returnGeometry") != "false"
	wgs, ok := parseOutSR(c.param("outSR"))
	if !ok {
		c.fail(400, "Invalid or missing input parameters.", "", []string{"outSR: the simulator projects to 4326 (WGS84) and 102100/3857 (Web Mercator, the data's own) only"})
		return
	}
	if c.param("f") == "geojson" {
		// GeoJSON is WGS84 unless outSR asks otherwise (RFC 7946; ArcGIS
		// does the same).
		if c.param("outSR") == "" {
			wgs = true
		}
		s.queryGeoJSON(c, l, page, exceeded, fields, geom, wgs)
		return
	}
	e := getEnc()
	e.open()
	e.ks("objectIdFieldName", "OBJECTID")
	e.k("uniqueIdField")
	e.open()
	e.ks("name", "OBJECTID")
	e.kb("isSystemMaintained", true)
	e.close()
	e.ks("globalIdFieldName", "GlobalID")
	if !l.IsTable {
		e.ks("geometryType", l.Geometry)
		e.k("spatialReference")
		e.open()
		if wgs {
			e.ki("wkid", 4326)
			e.ki("latestWkid", 4326)
		} else {
			e.ki("wkid", 102100)
			e.ki("latestWkid", 3857)
		}
		e.close()
	}
	e.k("fields")
	e.arr()
	if l.Definition == nil {
		for _, f := range l.Fields() {
			if fields != nil && !fields[f.Name] {
				continue
			}
			e.open()
			e.ks("name", f.Name)
			e.ks("type", f.Type)
			e.ks("alias", f.Alias)
			e.ks("sqlType", "sqlTypeOther")
			if f.Length > 0 {
				e.ki("length", int64(f.Length))
			}
			e.kn("domain")
			e.kn("defaultValue")
			if f.Type == "esriFieldTypeOID" {
				e.kb("required", true)
			}
			e.close()
		}
	}
	e.end()
	if exceeded {
		e.kb("exceededTransferLimit", true)
	}
	e.k("features")
	e.arr()
	for _, oid := range page {
		appendFeature(e, l, rowIndex(l, oid), geom, fields, wgs)
	}
	e.end()
	e.close()
	c.enc(e)
}

func (s *Server) queryGeoJSON(c *call, l *org.Layer, page []int, exceeded bool, fields map[string]bool, geom, wgs bool) {
	// GeoJSON is built from the Esri JSON of each feature: the simulator's
	// geometries are simple enough to translate directly.
	out := map[string]any{"type": "FeatureCollection"}
	feats := []any{}
	for _, oid := range page {
		e := getEnc()
		appendFeature(e, l, rowIndex(l, oid), geom, fields, wgs)
		var f struct {
			Attributes map[string]any `json:"attributes"`
			Geometry   map[string]any `json:"geometry"`
		}
		_ = json.Unmarshal(e.b, &f)
		putEnc(e)
		gf := map[string]any{"type": "Feature", "id": oid, "properties": f.Attributes, "geometry": nil}
		if x, ok := f.Geometry["x"]; ok {
			gf["geometry"] = map[string]any{"type": "Point", "coordinates": []any{x, f.Geometry["y"]}}
		} else if p, ok := f.Geometry["paths"]; ok {
			gf["geometry"] = map[string]any{"type": "MultiLineString", "coordinates": p}
		} else if r, ok := f.Geometry["rings"]; ok {
			gf["geometry"] = map[string]any{"type": "Polygon", "coordinates": r}
		}
		feats = append(feats, gf)
	}
	out["features"] = feats
	if exceeded {
		out["properties"] = map[string]any{"exceededTransferLimit": true}
	}
	c.value(out)
}

// Attachments: feature oid of an attachment layer has 0-2 attachments with
// ids oid*10+k, their bytes generated from the layer seed.

type attachment struct {
	id          int
	name, ctype string
	size        int64
	seed        uint64
	// stored is set for the attachments of a stored layer (see
	// org.Layer.Attachments); the fields above are then copied from it.
	stored *org.Attachment
}

// dataLayer is the layer whose rows and attachments layer lid of it
// serves: its own, or for a view the source layer, read live (a view's
// viewDefinitionQuery is not applied). The caller holds the org lock.
func (s *Server) dataLayer(it *org.Item, lid int) *org.Layer {
	l := it.Service.FindLayer(lid)
	if l == nil || !it.Service.IsView {
		return l
	}
	src := s.org.Item(it.Service.SourceItemID)
	if src == nil || src.Service == nil {
		return l
	}
	sid := l.ID
	if l.SourceLayer != nil {
		sid = *l.SourceLayer
	}
	if sl := src.Service.FindLayer(sid); sl != nil {
		return sl
	}
	return l
}

// rowIndex is the index appendFeature takes for object id oid: the row
// number of a generated layer, the position in Stored of a stored one.
func rowIndex(l *org.Layer, oid int) int {
	if l.Definition == nil {
		return oid - 1
	}
	return l.Index(oid)
}

func attachmentsOf(l *org.Layer, oid int) []attachment {
	if l.Definition != nil {
		var out []attachment
		for i := range l.Attachments[oid] {
			a := &l.Attachments[oid][i]
			out = append(out, attachment{id: a.ID, name: a.Name, ctype: a.ContentType, size: a.Size, seed: a.Seed, stored: a})
		}
		return out
	}
	if !l.HasAttachments || oid < 1 || oid > l.RowCount() {
		return nil
	}
	h := org.Mix(l.Seed ^ uint64(oid)*0x51ed27)
	n := int(h % 3)
	out := make([]attachment, 0, n)
	for k := 0; k < n; k++ {
		hk := org.Mix(h + uint64(k))
		a := attachment{id: oid*10 + k, seed: hk, size: 1024 + int64(hk%(300<<10))}
		if hk&1 == 0 {
			a.name, a.ctype = fmt.Sprintf("photo_%d_%d.jpg", oid, k), "image/jpeg"
		} else {
			a.name, a.ctype = fmt.Sprintf("permit_%d_%d.pdf", oid, k), "application/pdf"
		}
		out = append(out, a)
	}
	return out
}

func appendAttachment(e *enc, l *org.Layer, oid int, a attachment) {
	e.open()
	e.ki("id", int64(a.id))
	if a.stored != nil {
		e.ks("globalId", a.stored.GlobalID)
		e.ks("parentGlobalId", a.stored.ParentGlobalID)
	} else {
		e.ks("globalId", guid(a.seed))
		e.ks("parentGlobalId", guid(rowHash(l, oid-1)))
	}
	e.ks("name", a.name)
	e.ks("contentType", a.ctype)
	e.ki("size", a.size)
	if a.stored != nil {
		e.ks("keywords", a.stored.Keywords)
	} else {
		e.ks("keywords", "")
	}
	e.kn("exifInfo")
	e.close()
}

// attachments: GET <layer>/<oid>/attachments.
func (s *Server) attachments(c *call, sc *svcCall, lid, oid int) {
	if !s.lookup(c, sc) {
		return
	}
	defer s.org.Mu.RUnlock()
	l := s.dataLayer(sc.item, lid)
	if l == nil || !layerHasAttachments(l) {
		c.fail(400, "Requested operation is not supported by this service.", "", nil)
		return
	}
	e := getEnc()
	e.open()
	e.k("attachmentInfos")
	e.arr()
	for _, a := range attachmentsOf(l, oid) {
		appendAttachment(e, l, oid, a)
	}
	e.end()
	e.close()
	c.enc(e)
}

// attachment: GET <layer>/<oid>/attachments/<id>: the bytes.
func (s *Server) attachment(c *call, sc *svcCall, lid, oid, aid int) {
	if !s.lookup(c, sc) {
		return
	}
	l := s.dataLayer(sc.item, lid)
	var found *attachment
	if l != nil {
		for _, a := range attachmentsOf(l, oid) {
			if a.id == aid {
				a := a
				found = &a
			}
		}
	}
	mod := time.UnixMilli(sc.item.Modified)
	s.org.Mu.RUnlock()
	if found == nil {
		c.failStatus(http.StatusNotFound, 404, "Attachment not found.", "", nil)
		return
	}
	c.w.Header().Set("Content-Type", found.ctype)
	c.w.Header().Set("Content-Disposition", fmt.Sprintf("inline; filename=%q", found.name))
	c.rw.sized = true // the attachment infos' size is the blob's
	http.ServeContent(c.w, c.r, "", mod, attachmentReader(*found))
}

// queryAttachments: GET <layer>/queryAttachments.
func (s *Server) queryAttachments(c *call, sc *svcCall, lid int) {
	if !s.lookup(c, sc) {
		return
	}
	defer s.org.Mu.RUnlock()
	l := s.dataLayer(sc.item, lid)
	if l == nil || !layerHasAttachments(l) {
		c.fail(400, "Requested operation is not supported by this service.", "", nil)
		return
	}
	wf, ok := parseWhere(c.param("definitionExpression"))
	if !ok {
		c.invalidParams()
		return
	}
	var oids []int
	if s := c.param("objectIds"); s != "" {
		for _, x := range strings.Split(s, ",") {
			if v, err := strconv.Atoi(strings.TrimSpace(x)); err == nil {
				oids = append(oids, v)
			}
		}
	} else {
		oids = l.ObjectIDs(wf.lo, wf.hi)
	}
	if c.boolParam("returnCountOnly") {
		n := 0
		for _, oid := range oids {
			n += len(attachmentsOf(l, oid))
		}
		c.value(map[string]any{"count": n})
		return
	}
	e := getEnc()
	e.open()
	e.k("fields")
	e.arr()
	e.end()
	e.k("attachmentGroups")
	e.arr()
	for _, oid := range oids {
		as := attachmentsOf(l, oid)
		if len(as) == 0 {
			continue
		}
		e.open()
		e.ki("parentObjectId", int64(oid))
		if as[0].stored != nil {
			e.ks("parentGlobalId", as[0].stored.ParentGlobalID)
		} else {
			e.ks("parentGlobalId", guid(rowHash(l, oid-1)))
		}
		e.k("attachmentInfos")
		e.arr()
		for _, a := range as {
			appendAttachment(e, l, oid, a)
		}
		e.end()
		e.close()
	}
	e.end()
	e.close()
	c.enc(e)
}

// Attachment returns the bytes the simulator serves for attachment aid of
// feature oid in layer lid of the hosted feature service item itemID, so a
// test can check what a client stored.
func (s *Server) Attachment(itemID string, lid, oid, aid int) ([]byte, bool) {
	s.org.Mu.RLock()
	defer s.org.Mu.RUnlock()
	var it *org.Item
	for _, x := range s.org.Items {
		if x.ID == itemID {
			it = x
		}
	}
	if it == nil || it.Service == nil {
		return nil, false
	}
	l := s.dataLayer(it, lid)
	if l == nil {
		return nil, false
	}
	for _, a := range attachmentsOf(l, oid) {
		if a.id == aid {
			b, _ := io.ReadAll(attachmentReader(a))
			return b, true
		}
	}
	return nil, false
}

// attachmentReader reads an attachment's bytes: uploaded, or generated.
func attachmentReader(a attachment) io.ReadSeeker {
	if a.stored != nil {
		if a.stored.Body != nil {
			return bytes.NewReader(a.stored.Body)
		}
		return a.stored.Blob().Reader()
	}
	return attachmentBlob(a).Reader()
}

// layerHasAttachments reports whether the layer has an attachment table:
// hasAttachments as updateDefinition or its stored definition set it, else
// the layer's own flag.
func layerHasAttachments(l *org.Layer) bool {
	for _, raw := range []json.RawMessage{l.Overrides, l.Definition} {
		var d struct {
			HasAttachments *bool `json:"hasAttachments"`
		}
		if json.Unmarshal(raw, &d) == nil && d.HasAttachments != nil {
			return *d.HasAttachments
		}
	}
	return l.HasAttachments
}

// attachmentBlob is the generated content of an attachment.
func attachmentBlob(a attachment) org.Blob {
	magic := "\xff\xd8\xff\xe0"
	if a.ctype == "application/pdf" {
		magic = "%PDF-1.7\n"
	}
	return org.Blob{Seed: a.seed, Size: a.size, Magic: magic}
}
