package exportkit

import (
	"encoding/json"
)

// esriGeometry is the union of Esri JSON geometry shapes.
type esriGeometry struct {
	X      *float64      `json:"x"`
	Y      *float64      `json:"y"`
	Z      *float64      `json:"z"`
	Points [][]float64   `json:"points"`
	Paths  [][][]float64 `json:"paths"`
	Rings  [][][]float64 `json:"rings"`
}

// toGeoJSON converts an Esri JSON geometry to a GeoJSON geometry, or nil
// for a missing or empty one. Polygon rings are grouped the Esri way
// (clockwise outer rings, each followed by its counter-clockwise holes) and
// written with RFC 7946 orientation (outer counter-clockwise).
func toGeoJSON(raw json.RawMessage) any {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var g esriGeometry
	if json.Unmarshal(raw, &g) != nil {
		return nil
	}
	switch {
	case g.X != nil && g.Y != nil:
		c := []float64{*g.X, *g.Y}
		if g.Z != nil {
			c = append(c, *g.Z)
		}
		return map[string]any{"type": "Point", "coordinates": c}
	case len(g.Points) > 0:
		return map[string]any{"type": "MultiPoint", "coordinates": g.Points}
	case len(g.Paths) == 1:
		return map[string]any{"type": "LineString", "coordinates": g.Paths[0]}
	case len(g.Paths) > 1:
		return map[string]any{"type": "MultiLineString", "coordinates": g.Paths}
	case len(g.Rings) > 0:
		var polys [][][][]float64
		for _, r := range g.Rings {
			if len(r) < 4 {
				continue
			}
			a := signedArea(r)
			if a < 0 || len(polys) == 0 {
				// Clockwise (negative here): an Esri outer ring.
				polys = append(polys, [][][]float64{orient(r, a, true)})
				continue
			}
			last := len(polys) - 1
			polys[last] = append(polys[last], orient(r, a, false))
		}
		if len(polys) == 1 {
			return map[string]any{"type": "Polygon", "coordinates": polys[0]}
		}
		if len(polys) > 1 {
			return map[string]any{"type": "MultiPolygon", "coordinates": polys}
		}
	}
	return nil
}

// signedArea is positive for counter-clockwise rings (x right, y up).
func signedArea(r [][]float64) float64 {
	var a float64
	for i := 0; i+1 < len(r); i++ {
		if len(r[i]) < 2 || len(r[i+1]) < 2 {
			continue
		}
		a += r[i][0]*r[i+1][1] - r[i+1][0]*r[i][1]
	}
	return a / 2
}

func reverse(r [][]float64) [][]float64 {
	out := make([][]float64, len(r))
	for i := range r {
		out[len(r)-1-i] = r[i]
	}
	return out
}

// orient returns r counter-clockwise when ccw, else clockwise.
func orient(r [][]float64, area float64, ccw bool) [][]float64 {
	if (area > 0) == ccw {
		return r
	}
	return reverse(r)
}
