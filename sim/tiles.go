package sim

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/agolpipe/agolpipe/sim/org"
)

// tileServer routes hosted tile layers: <MapServer|VectorTileServer>,
// exportTiles, estimateExportTilesSize and the GP-style job resources.
func (s *Server) tileServer(c *call, sc *svcCall) {
	r := sc.rest
	switch {
	case len(r) == 0:
		s.do(c, "tileserver", true, func(c *call) { s.tileRoot(c, sc) })
	case len(r) == 1 && (r[0] == "exportTiles" || r[0] == "estimateExportTilesSize"):
		op := r[0]
		s.do(c, op, true, func(c *call) { s.exportTiles(c, sc, op == "estimateExportTilesSize") })
	case len(r) == 1 && sc.kind == org.MapServer && isLayerID(r[0]):
		s.do(c, "tiles/layer", true, func(c *call) { s.tileLayer(c, sc, r[0]) })
	case len(r) >= 2 && (r[0] == "exportTiles" || r[0] == "estimateExportTilesSize") && r[1] == "jobs":
		// The operation-scoped job URL Esri documents beside <service>/jobs
		// (<service>/exportTiles/jobs/<id>/results/<param>): the same jobs.
		s.tileJobRoutes(c, sc, r[1:])
	case len(r) >= 2 && r[0] == "jobs":
		s.tileJobRoutes(c, sc, r)
	case len(r) == 2 && r[0] == "downloads":
		s.do(c, "tiles/output", true, func(c *call) { s.tileOutput(c, sc, r[1]) })
	case len(r) == 3 && r[0] == "downloads":
		s.do(c, "tiles/download", false, func(c *call) { s.tileDownload(c, sc, r[1]) })
	default:
		c.endpoint = "unknown"
		c.fail(400, "Invalid URL", "", []string{"Invalid URL"})
	}
}

// tileJobRoutes serves jobs/<id> and jobs/<id>/results/<param>.
func (s *Server) tileJobRoutes(c *call, sc *svcCall, r []string) {
	switch {
	case len(r) == 2:
		s.do(c, "tiles/job", true, func(c *call) { s.tileJob(c, sc, r[1]) })
	case len(r) == 4 && r[2] == "results":
		s.do(c, "tiles/result", true, func(c *call) { s.tileResult(c, sc, r[1], r[3]) })
	default:
		c.endpoint = "unknown"
		c.fail(400, "Invalid URL", "", []string{"Invalid URL"})
	}
}

func isLayerID(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n >= 0 && strconv.Itoa(n) == s
}

// tileLayer: <MapServer>/<layer id>, the layer the service root lists (a
// hosted tile layer has one raster layer, id 0).
func (s *Server) tileLayer(c *call, sc *svcCall, id string) {
	if !s.lookup(c, sc) {
		return
	}
	defer s.org.Mu.RUnlock()
	if id != "0" {
		c.fail(400, "Invalid or missing input parameters.", "", []string{"Requested layer (" + id + ") not found."})
		return
	}
	it, svc := sc.item, sc.item.Service
	c.value(map[string]any{
		"currentVersion": 11.3, "id": 0, "name": svc.Name, "type": "Raster Layer", "description": it.Description,
		"geometryType": nil, "sourceSpatialReference": sr, "copyrightText": "", "parentLayer": nil, "subLayers": []any{},
		"minScale": 0, "maxScale": 0, "defaultVisibility": true, "extent": mercExtent(it.Extent),
		"hasAttachments": false, "htmlPopupType": "esriServerHTMLPopupTypeNone", "displayField": "", "typeIdField": nil,
		"subtypeFieldName": nil, "subtypeField": nil, "defaultSubtypeCode": nil, "fields": nil, "geometryField": nil,
		"indexes": []any{}, "subtypes": []any{}, "relationships": []any{}, "canModifyLayer": false, "canScaleSymbols": false,
		"hasLabels": false, "capabilities": "Map", "supportsStatistics": false, "supportsAdvancedQueries": false,
		"supportedQueryFormats": "JSON, geoJSON, PBF", "isDataVersioned": false, "ownershipBasedAccessControlForFeatures": map[string]any{"allowOthersToQuery": true},
		"useStandardizedQueries": true, "supportsDatumTransformation": true, "serviceItemId": it.ID,
	})
}

func (s *Server) tileRoot(c *call, sc *svcCall) {
	if !s.lookup(c, sc) {
		return
	}
	defer s.org.Mu.RUnlock()
	it, svc := sc.item, sc.item.Service
	lods := []any{}
	for l := 0; l <= svc.Levels; l++ {
		res := 156543.03392800014 / math.Pow(2, float64(l))
		lods = append(lods, map[string]any{"level": l, "resolution": res, "scale": res * 96 / 0.0254})
	}
	tileInfo := map[string]any{"rows": 256, "cols": 256, "dpi": 96, "format": "PNG32", "origin": map[string]any{"x": -20037508.342787, "y": 20037508.342787},
		"spatialReference": sr, "lods": lods}
	v := map[string]any{
		"currentVersion": 11.3, "serviceItemId": it.ID, "name": svc.Name, "capabilities": svc.Capabilities,
		"exportTilesAllowed": true, "maxExportTilesCount": svc.MaxExportTiles, "tileInfo": tileInfo,
		"initialExtent": mercExtent(it.Extent), "fullExtent": mercExtent(it.Extent), "spatialReference": sr,
		"minLOD": 0, "maxLOD": svc.Levels, "singleFusedMapCache": true,
	}
	if svc.Kind == org.VectorTileServer {
		v["type"] = "indexedVector"
		v["defaultStyles"] = "resources/styles"
		v["tiles"] = []string{"tile/{z}/{y}/{x}.pbf"}
	} else {
		v["mapName"] = "Layers"
		v["layers"] = []any{map[string]any{"id": 0, "name": svc.Name, "parentLayerId": -1, "defaultVisibility": true, "minScale": 0, "maxScale": 0}}
	}
	c.value(v)
}

// tileCount estimates the tiles of levels over a city-sized extent.
func tileCount(levels []int) int64 {
	var n int64
	for _, l := range levels {
		t := int64(math.Pow(4, float64(l)) * 2e-5)
		if t < 1 {
			t = 1
		}
		n += t
	}
	return n
}

// parseLevels reads "0-5", "1,2,3" or "0-3,7".
func parseLevels(spec string, max int) ([]int, bool) {
	if spec == "" {
		out := make([]int, 0, max+1)
		for l := 0; l <= max; l++ {
			out = append(out, l)
		}
		return out, true
	}
	var out []int
	for _, part := range strings.Split(spec, ",") {
		a, b, isRange := strings.Cut(strings.TrimSpace(part), "-")
		lo, err := strconv.Atoi(a)
		if err != nil {
			return nil, false
		}
		hi := lo
		if isRange {
			if hi, err = strconv.Atoi(b); err != nil || hi < lo {
				return nil, false
			}
		}
		for l := lo; l <= hi; l++ {
			if l > max {
				return nil, false
			}
			out = append(out, l)
		}
	}
	return out, true
}

// exportTiles: submit a GP-style job, refused above maxExportTilesCount.
func (s *Server) exportTiles(c *call, sc *svcCall, estimate bool) {
	if !c.needUser() {
		return
	}
	if !s.lookup(c, sc) {
		return
	}
	it := sc.item
	levels, ok := parseLevels(c.param("levels"), it.Service.Levels)
	max := it.Service.MaxExportTiles
	id := it.ID
	s.org.Mu.RUnlock()
	if !ok {
		c.fail(400, "Invalid or missing input parameters.", "", []string{"levels: invalid level list"})
		return
	}
	n := tileCount(levels)
	now := time.Now()
	j := &job{ID: "j" + randomToken(16), Type: "exportTiles", Source: id, Started: now, Ready: now.Add(s.opt.ExportTime)}
	if n > int64(max) {
		j.Fail = fmt.Sprintf("ERROR 001564: Requested tile count(%d) exceeds the maximum allowed number of tiles(%d) to be exported for service %s.", n, max, sc.name)
	}
	switch s.opt.ExportFaults[id] {
	case ExportFail:
		j.Fail = "Export tiles failed."
	case ExportHang:
		j.Hang = true
	}
	j.Layers = []org.ExportLayer{{ID: 0, Name: sc.name, Rows: int(n)}}
	j.TileLevels = levels
	if estimate {
		j.Ready = now
	}
	s.mu.Lock()
	s.jobs[j.ID] = j
	s.mu.Unlock()
	c.value(map[string]any{"jobId": j.ID, "jobStatus": "esriJobSubmitted"})
}

func (s *Server) tileJob(c *call, sc *svcCall, id string) {
	if !s.lookup(c, sc) {
		return
	}
	s.org.Mu.RUnlock()
	j := s.job(id)
	if j == nil || j.Type != "exportTiles" {
		c.fail(400, "Invalid job id.", "", nil)
		return
	}
	resp := map[string]any{"jobId": j.ID, "inputs": map[string]any{}, "messages": []any{}, "results": map[string]any{}}
	switch jobState(j) {
	case "processing":
		resp["jobStatus"] = "esriJobExecuting"
	case "failed":
		resp["jobStatus"] = "esriJobFailed"
		resp["messages"] = []any{map[string]any{"type": "esriJobMessageTypeError", "description": j.Fail}}
	default:
		resp["jobStatus"] = "esriJobSucceeded"
		resp["results"] = map[string]any{"out_service_url": map[string]any{"paramUrl": "results/out_service_url"}}
	}
	c.value(resp)
}

func (s *Server) tileResult(c *call, sc *svcCall, id, param string) {
	if !s.lookup(c, sc) {
		return
	}
	s.org.Mu.RUnlock()
	j := s.job(id)
	if j == nil || jobState(j) != "completed" || param != "out_service_url" {
		c.fail(400, "Invalid job id or result parameter.", "", nil)
		return
	}
	// As ArcGIS documents it: a GPString naming the job's output folder,
	// whose JSON lists the package file(s) to download.
	c.value(map[string]any{"paramName": "out_service_url", "dataType": "GPString",
		"value": sc.base + "/downloads/" + j.ID})
}

// tilePackageName is the file name of a job's tile package.
func tilePackageName(sc *svcCall) string {
	if sc.kind == org.VectorTileServer {
		return sc.name + ".vtpk"
	}
	return sc.name + ".tpkx"
}

// tilePackageSize is the size of a finished job's package.
func tilePackageSize(j *job) int64 {
	size := int64(j.Layers[0].Rows) * 12 << 10
	if size > 256<<20 {
		size = 256 << 20
	}
	return size
}

// tileOutput: the output folder a finished job's result names, listing
// its files ({"files":[{"name","url","size"}],"folders":[]}).
func (s *Server) tileOutput(c *call, sc *svcCall, id string) {
	if !s.lookup(c, sc) {
		return
	}
	s.org.Mu.RUnlock()
	j := s.job(id)
	if j == nil || j.Type != "exportTiles" || jobState(j) != "completed" || len(j.Layers) == 0 {
		c.failStatus(http.StatusNotFound, 404, "Folder not found.", "", nil)
		return
	}
	name := tilePackageName(sc)
	c.value(map[string]any{"folders": []any{}, "files": []any{map[string]any{
		"name": name, "url": sc.base + "/downloads/" + j.ID + "/" + name, "size": tilePackageSize(j)}}})
}

func (s *Server) tileDownload(c *call, sc *svcCall, id string) {
	if !s.lookup(c, sc) {
		return
	}
	mod := time.UnixMilli(sc.item.Modified)
	kind, ext := sc.item.Service.Kind, sc.item.Extent
	// The bytes follow the tiles exported (the item and its last change),
	// not the job, so exporting unchanged tiles twice gives the same
	// package, as tests comparing two backups of one org need.
	seed := uint64(sc.item.Modified)
	for _, b := range []byte(sc.item.ID) {
		seed = org.Mix(seed ^ uint64(b))
	}
	s.org.Mu.RUnlock()
	j := s.job(id)
	if j == nil || jobState(j) != "completed" || len(j.Layers) == 0 {
		c.failStatus(http.StatusNotFound, 404, "File not found.", "", nil)
		return
	}
	size := tilePackageSize(j)
	c.w.Header().Set("Content-Type", "application/octet-stream")
	magic := tilePackageHead(kind, sc.name, j.TileLevels, ext)
	http.ServeContent(c.w, c.r, "", mod, org.Blob{Seed: seed, Size: size, Magic: magic}.Reader())
}
