package sim

import (
	"encoding/json"
	"slices"
	"strings"
)

// CSV publishing as ArcGIS does it: a CSV holds no layer definition, so a
// client first calls analyze on the uploaded file and passes the
// publishParameters it answers (location fields, delimiter, the layer's
// fields) back to publish; publish refuses a CSV without them.

// analyzeFileTypes are the file types analyze answers for, by the item
// types they accept.
var analyzeFileTypes = map[string][]string{
	"csv":       {"CSV", "CSV Collection"},
	"excel":     {"Microsoft Excel"},
	"shapefile": {"Shapefile"},
}

// analyze: POST /sharing/rest/content/features/analyze (itemid,
// filetype, analyzeParameters). For the simulator's own export stand-in it
// answers publishParameters describing the file's first layer (a CSV is
// one table) and its first records.
func (s *Server) analyze(c *call) {
	ft := strings.ToLower(c.param("filetype"))
	types, ok := analyzeFileTypes[ft]
	if !ok {
		c.fail(400, "Invalid file type: '"+c.param("filetype")+"'.", "", []string{"analyze supports csv, excel and shapefile here (sim)."})
		return
	}
	id := c.param("itemid")
	if id == "" {
		id = c.param("itemId")
	}
	if id == "" {
		// Posting the file or its text is also allowed by ArcGIS; restore
		// always analyzes the uploaded item.
		c.fail(400, "Unable to analyze: itemid is required (sim: posting the file itself is not modelled).", "", nil)
		return
	}
	s.org.Mu.RLock()
	it := s.visibleItem(c, id)
	typ, name := "", ""
	if it != nil {
		typ, name = it.Type, it.Name
	}
	s.org.Mu.RUnlock()
	if it == nil {
		return
	}
	if !slices.Contains(types, typ) {
		c.fail(400, "Unable to analyze: the item's type '"+typ+"' is not a "+ft+" file.", "", nil)
		return
	}
	body, ok := s.standInBody(c, id)
	if !ok {
		return
	}
	layers, err := readStandIn(body)
	if err != nil || len(layers) == 0 {
		msg := "no layer"
		if err != nil {
			msg = err.Error()
		}
		c.fail(400, "Unable to analyze the file.", "", []string{"The file is not one the simulator can read: " + msg})
		return
	}
	l := layers[0]
	var def map[string]any
	_ = json.Unmarshal(l.Definition, &def)
	fields, _ := def["fields"].([]any)
	if fields == nil {
		fields = []any{}
	}
	li := map[string]any{"name": l.Name, "type": def["type"], "fields": fields, "objectIdField": "OBJECTID"}
	pp := map[string]any{"type": ft, "name": strings.TrimSuffix(strings.TrimSuffix(name, ".zip"), ".csv"), "maxRecordCount": 1000,
		"columnDelimiter": ",", "qualifier": "\"", "sourceSR": map[string]any{"wkid": 4326, "latestWkid": 4326},
		"targetSR": map[string]any{"wkid": 102100, "latestWkid": 3857}, "layerInfo": li}
	if l.Geometry == "esriGeometryPoint" {
		// A point layer's CSV carries its coordinates as x and y (sim:
		// the column names ArcGIS's export writes are assumed).
		pp["locationType"], pp["longitudeFieldName"], pp["latitudeFieldName"] = "coordinates", "x", "y"
		li["geometryType"] = l.Geometry
	} else {
		pp["locationType"] = "none"
	}
	records := []any{}
	for _, raw := range l.Stored {
		if len(records) == 5 {
			break
		}
		var f struct {
			Attributes map[string]any `json:"attributes"`
		}
		if json.Unmarshal(raw, &f) == nil && f.Attributes != nil {
			records = append(records, map[string]any{"attributes": f.Attributes})
		}
	}
	c.value(map[string]any{"publishParameters": pp, "records": records})
}

// csvPublishParameters checks what publish needs for a CSV: the
// publishParameters analyze answers (its location type, and the layer's
// fields). It returns why they do not do, or "".
func csvPublishParameters(raw string) string {
	var pp struct {
		LocationType string `json:"locationType"`
		Lat          string `json:"latitudeFieldName"`
		Lon          string `json:"longitudeFieldName"`
		LayerInfo    *struct {
			Fields []json.RawMessage `json:"fields"`
		} `json:"layerInfo"`
	}
	if json.Unmarshal([]byte(raw), &pp) != nil {
		return "publishParameters is not JSON"
	}
	switch pp.LocationType {
	case "coordinates":
		if pp.Lat == "" || pp.Lon == "" {
			return "locationType coordinates needs latitudeFieldName and longitudeFieldName"
		}
	case "address", "lookup", "none":
	default:
		return "publishParameters for a CSV must say its locationType (coordinates, address, lookup or none): use those content/features/analyze answers"
	}
	if pp.LayerInfo == nil || len(pp.LayerInfo.Fields) == 0 {
		return "publishParameters for a CSV must carry layerInfo with the file's fields: use those content/features/analyze answers"
	}
	return ""
}
