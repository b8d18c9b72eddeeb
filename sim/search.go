package sim

import (
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/agolpipe/agolpipe/sim/org"
	"github.com/agolpipe/agolpipe/sim/query"
)

// searchCap is the real service's hard cap: results past it are not
// reachable; pages past it repeat the last reachable page.
const searchCap = 10000

// searchCache keeps recent result lists so paging through a large result
// set does not rescan the org for every page.
type searchCache struct {
	mu      sync.Mutex
	version uint64
	m       map[string][]*org.Item
}

func (sc *searchCache) get(key string, version uint64) ([]*org.Item, bool) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.version != version {
		return nil, false
	}
	l, ok := sc.m[key]
	return l, ok
}

func (sc *searchCache) put(key string, version uint64, l []*org.Item) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.version != version || sc.m == nil || len(sc.m) > 256 {
		sc.m = map[string][]*org.Item{}
		sc.version = version
	}
	sc.m[key] = l
}

// search: GET /sharing/rest/search.
func (s *Server) search(c *call) {
	qs := c.param("q")
	q, err := query.Parse(qs)
	if err != nil {
		c.fail(400, "Unable to parse the search query.", "", []string{err.Error()})
		return
	}
	sortField, sortOrder := strings.ToLower(c.param("sortField")), strings.ToLower(c.param("sortOrder"))
	viewer := ""
	if c.user != nil {
		viewer = c.user.Username
		if c.sess.apiKey {
			viewer = "apikey:" + viewer
		}
	}
	s.org.Mu.RLock()
	defer s.org.Mu.RUnlock()
	key := viewer + "\x00" + sortField + "\x00" + sortOrder + "\x00" + qs
	list, ok := s.searches.get(key, s.org.Version)
	if !ok {
		list = make([]*org.Item, 0, 64)
		for _, it := range s.org.Items {
			if !it.Deleted && c.canView(it) && q.Match(it, s.org.ID) {
				list = append(list, it)
			}
		}
		sortItems(list, sortField, sortOrder == "desc")
		s.searches.put(key, s.org.Version, list)
	}
	if s.opt.SearchLag > 0 {
		list = indexed(list, time.Now().Add(-s.opt.SearchLag).UnixMilli())
	}
	total := len(list)
	start, num, next := paging(c, total, 10)
	// Past the cap the real service repeats the last reachable page.
	eff := start
	if eff+num-1 > searchCap {
		eff = searchCap - num + 1
	}
	e := getEnc()
	e.open()
	e.ks("query", qs)
	e.ki("total", int64(total))
	e.ki("start", int64(start))
	e.ki("num", int64(num))
	e.ki("nextStart", int64(next))
	e.k("results")
	e.arr()
	for _, it := range window(list, eff, num) {
		s.appendItem(e, c, it, itemSearch)
	}
	e.end()
	e.close()
	c.enc(e)
}

// indexed leaves out the items created after cutoff (ms): those the
// search index does not hold yet (Options.SearchLag). The cached list is
// not changed.
func indexed(list []*org.Item, cutoff int64) []*org.Item {
	out := make([]*org.Item, 0, len(list))
	for _, it := range list {
		if it.Created <= cutoff {
			out = append(out, it)
		}
	}
	return out
}

func sortItems(list []*org.Item, field string, desc bool) {
	var less func(a, b *org.Item) bool
	switch field {
	case "title":
		less = func(a, b *org.Item) bool { return strings.ToLower(a.Title) < strings.ToLower(b.Title) }
	case "created":
		less = func(a, b *org.Item) bool { return a.Created < b.Created }
	case "modified":
		less = func(a, b *org.Item) bool { return a.Modified < b.Modified }
	case "type":
		less = func(a, b *org.Item) bool { return a.Type < b.Type }
	case "owner":
		less = func(a, b *org.Item) bool { return a.Owner < b.Owner }
	case "numviews":
		less = func(a, b *org.Item) bool { return a.NumViews < b.NumViews }
	default:
		// Relevance has no meaning here; keep the org's order.
		return
	}
	if desc {
		sort.SliceStable(list, func(i, j int) bool { return less(list[j], list[i]) })
	} else {
		sort.SliceStable(list, func(i, j int) bool { return less(list[i], list[j]) })
	}
}
