package sim

import (
	"regexp"
	"slices"

	"github.com/agolpipe/agolpipe/sim/org"
)

// itemIDPattern finds item ids in data JSON written through the API.
var itemIDPattern = regexp.MustCompile(`\b[0-9a-f]{32}\b`)

// dependsOn lists the ids of the items it refers to through its data: the
// generator's references (web map -> layers, app -> map) and, for data
// written through the API, the ids of existing items found in it. The
// caller holds the org lock for reading.
func (s *Server) dependsOn(it *org.Item) []string {
	out := append([]string(nil), it.Refs...)
	var text []byte
	switch {
	case it.Body != nil:
		text = it.Body
	case it.Text != "":
		text = []byte(it.Text)
	}
	for _, m := range itemIDPattern.FindAll(text, -1) {
		id := string(m)
		if id != it.ID && s.org.Item(id) != nil && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// itemDependencies: GET /content/items/<id>/dependencies (what the item
// depends on) and /content/items/<id>/dependencies/listDependentsTo (what
// depends on it) — Portal for ArcGIS resources (ArcGIS Online has neither).
// The list is paged like other sharing API lists; each entry is
// {"dependencyType":"id","id":...}. Only items the caller can see are listed.
func (s *Server) itemDependencies(c *call, id string, reverse bool) {
	s.org.Mu.RLock()
	defer s.org.Mu.RUnlock()
	it := s.visibleItem(c, id)
	if it == nil {
		return
	}
	var ids []string
	if !reverse {
		for _, d := range s.dependsOn(it) {
			if t := s.org.Item(d); t != nil && !t.Deleted && c.canView(t) {
				ids = append(ids, d)
			}
		}
	} else {
		for _, o := range s.org.Items {
			if o.Deleted || o.ID == id || !c.canView(o) || (len(o.Refs) == 0 && o.Body == nil && o.Text == "") {
				continue
			}
			if slices.Contains(s.dependsOn(o), id) {
				ids = append(ids, o.ID)
			}
		}
	}
	start, num, next := paging(c, len(ids), 10)
	list := []map[string]any{}
	for _, d := range window(ids, start, num) {
		list = append(list, map[string]any{"dependencyType": "id", "id": d})
	}
	c.value(map[string]any{"total": len(ids), "start": start, "num": len(list), "nextStart": next, "list": list})
}
