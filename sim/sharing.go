package sim

import (
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/agolpipe/agolpipe/sim/org"
)

// userOps are operations under /content/users/<u>[/<folder>]/.
var userOps = map[string]bool{
	"export": true, "addItem": true, "createService": true, "publish": true, "addRelationship": true,
	"deleteRelationship": true, "createFolder": true, "deleteItems": true, "shareItems": true, "delete": true,
}

// sharing routes /sharing/rest/<rest>.
func (s *Server) sharing(c *call, rest string) {
	segs := strings.Split(strings.Trim(rest, "/"), "/")
	head := segs[0]
	switch head {
	case "":
		// The sharing API root: only the portal's version (clients such as
		// the ArcGIS API for Python read it before anything else).
		s.do(c, "root", true, s.sharingRoot)
		return
	case "generateToken":
		s.do(c, "generateToken", false, s.generateToken)
		return
	case "info":
		s.do(c, "info", false, s.sharingInfo)
		return
	case "oauth2":
		if len(segs) == 2 {
			switch segs[1] {
			case "authorize":
				s.do(c, "authorize", false, s.authorize)
				return
			case "token":
				s.do(c, "oauth2/token", false, s.token)
				return
			case "revokeToken":
				s.do(c, "revokeToken", false, s.revokeToken)
				return
			}
		}
	case "portals":
		if len(segs) >= 2 && (segs[1] == "self" || segs[1] == s.org.ID) {
			switch {
			case len(segs) == 2:
				s.do(c, "portals/self", true, s.portalSelf)
				return
			case len(segs) == 3 && segs[2] == "users":
				s.do(c, "portals/users", true, func(c *call) { s.portalUsers(c, "users") })
				return
			case len(segs) == 4 && segs[2] == "users" && segs[3] == "search":
				s.do(c, "portals/users/search", true, func(c *call) { s.portalUsers(c, "results") })
				return
			case len(segs) == 3 && segs[2] == "isServiceNameAvailable":
				s.do(c, "isServiceNameAvailable", true, s.serviceNameAvailable)
				return
			}
		}
	case "community":
		switch {
		case len(segs) == 2 && segs[1] == "self":
			s.do(c, "community/self", true, s.communitySelf)
			return
		case len(segs) == 2 && segs[1] == "users":
			s.do(c, "community/users", true, func(c *call) { s.portalUsers(c, "results") })
			return
		case len(segs) == 3 && segs[1] == "users":
			s.do(c, "community/user", true, func(c *call) { s.communityUser(c, segs[2]) })
			return
		case len(segs) == 2 && segs[1] == "groups":
			s.do(c, "community/groups", true, s.groupSearch)
			return
		case len(segs) == 2 && segs[1] == "createGroup":
			s.doWrite(c, "createGroup", s.createGroup)
			return
		case len(segs) == 3 && segs[1] == "groups":
			s.do(c, "group", true, func(c *call) { s.groupGet(c, segs[2]) })
			return
		case len(segs) == 4 && segs[1] == "groups" && segs[3] == "users":
			s.do(c, "group/users", true, func(c *call) { s.groupUsers(c, segs[2]) })
			return
		case len(segs) == 4 && segs[1] == "groups" && (segs[3] == "addUsers" || segs[3] == "update" || segs[3] == "protect" || segs[3] == "unprotect" || segs[3] == "delete"):
			s.doWrite(c, "group/"+segs[3], func(c *call) { s.groupWrite(c, segs[2], segs[3]) })
			return
		}
	case "search":
		if len(segs) == 1 {
			s.do(c, "search", true, s.search)
			return
		}
	case "content":
		if s.content(c, segs[1:]) {
			return
		}
	}
	c.endpoint = "unknown"
	c.fail(400, "Unable to process request: "+rest, "", nil)
}

// content routes /sharing/rest/content/...; false means no route.
func (s *Server) content(c *call, segs []string) bool {
	if len(segs) < 2 {
		return false
	}
	switch segs[0] {
	case "items":
		id := segs[1]
		rest := segs[2:]
		if len(rest) == 0 {
			s.do(c, "item", true, func(c *call) { s.itemJSON(c, id) })
			return true
		}
		switch rest[0] {
		case "data":
			s.do(c, "data", false, func(c *call) { s.itemData(c, id) })
		case "info":
			s.do(c, "item/info", false, func(c *call) { s.itemInfo(c, id, strings.Join(rest[1:], "/")) })
		case "resources":
			if len(rest) == 1 {
				s.do(c, "resources", true, func(c *call) { s.resourceList(c, id) })
			} else {
				s.do(c, "resource", false, func(c *call) { s.resourceGet(c, id, strings.Join(rest[1:], "/")) })
			}
		case "relatedItems":
			s.do(c, "relatedItems", true, func(c *call) { s.relatedItems(c, id) })
		case "groups":
			s.do(c, "item/groups", true, func(c *call) { s.itemGroups(c, id) })
		case "dependencies":
			if s.opt.Mode != "enterprise" || len(rest) > 2 || (len(rest) == 2 && rest[1] != "listDependentsTo") {
				// Item dependencies are a Portal for ArcGIS resource;
				// ArcGIS Online does not have it.
				return false
			}
			reverse := len(rest) == 2
			s.do(c, "item/dependencies", true, func(c *call) { s.itemDependencies(c, id, reverse) })
		case "share", "unshare":
			op := rest[0]
			s.doWrite(c, op, func(c *call) { s.share(c, id, op == "unshare") })
		default:
			return false
		}
		return true
	case "features":
		if len(segs) == 2 && segs[1] == "analyze" {
			s.do(c, "analyze", true, s.analyze)
			return true
		}
	case "groups":
		if len(segs) == 2 || (len(segs) == 3 && segs[2] == "search") {
			s.do(c, "group/content", true, func(c *call) { s.groupContent(c, segs[1]) })
			return true
		}
	case "users":
		user := segs[1]
		rest := segs[2:]
		folder := ""
		if len(rest) > 0 && rest[0] != "items" && !userOps[rest[0]] {
			folder, rest = rest[0], rest[1:]
		}
		switch {
		case len(rest) == 0:
			s.do(c, "user/content", true, func(c *call) { s.userContent(c, user, folder) })
		case rest[0] == "items" && len(rest) >= 2:
			id := rest[1]
			op := ""
			if len(rest) > 2 {
				op = strings.Join(rest[2:], "/")
			}
			s.userItem(c, user, folder, id, op)
		case len(rest) == 1 && userOps[rest[0]]:
			op := rest[0]
			if op == "export" {
				s.doWrite(c, "export", func(c *call) { s.export(c, user) })
			} else {
				s.doWrite(c, op, func(c *call) { s.userOp(c, user, folder, op) })
			}
		default:
			return false
		}
		return true
	}
	return false
}

// userItem routes /content/users/<u>[/<f>]/items/<id>[/<op>].
func (s *Server) userItem(c *call, user, folder, id, op string) {
	switch op {
	case "":
		s.do(c, "user/item", true, func(c *call) { s.ownerItem(c, user, id) })
	case "status":
		s.do(c, "status", true, func(c *call) { s.status(c, user, id) })
	case "resources":
		s.do(c, "resources", true, func(c *call) { s.resourceList(c, id) })
	case "data":
		s.do(c, "data", false, func(c *call) { s.itemData(c, id) })
	default:
		if strings.HasPrefix(op, "resources/") {
			s.do(c, "resource", false, func(c *call) { s.resourceGet(c, id, strings.TrimPrefix(op, "resources/")) })
			return
		}
		s.doWrite(c, op, func(c *call) { s.itemWrite(c, user, id, op) })
	}
}

// do runs a handler for a named endpoint: authentication, the f=json
// check, throttling and fault injection happen here, once.
func (s *Server) do(c *call, endpoint string, jsonOnly bool, h func(*call)) {
	c.endpoint = endpoint
	scripted, hit := s.scriptedFault(c)
	if hit && scripted == Fault498 {
		c.rw.fault = "script:" + string(scripted)
		s.expireToken(c)
	}
	switch endpoint {
	case "generateToken", "authorize", "oauth2/token", "oauth2/signin", "revokeToken", "info":
	default:
		if !c.authenticate() {
			return
		}
	}
	if jsonOnly && !c.wantsJSON() {
		c.html()
		return
	}
	if hit && scripted != Fault498 {
		c.answerFault(scripted)
		return
	}
	if s.inject(c) {
		return
	}
	h(c)
}

// doWrite is do for operations that change the org: POST only, signed in,
// and subject to the write-burst throttle.
func (s *Server) doWrite(c *call, endpoint string, h func(*call)) {
	c.write = true
	s.do(c, endpoint, false, func(c *call) {
		if c.r.Method != http.MethodPost {
			c.fail(400, "This operation requires POST.", "", nil)
			return
		}
		if !c.needUser() {
			return
		}
		if c.sess != nil && c.sess.apiKey {
			c.forbidden()
			return
		}
		if s.writeThrottled() {
			c.rw.fault = "403-burst"
			c.w.Header().Set("Content-Type", "text/html")
			c.w.WriteHeader(http.StatusForbidden)
			c.w.Write([]byte("<html><body><h1>403 Forbidden</h1></body></html>")) //nolint:errcheck
			return
		}
		h(c)
	})
}

// throttleState counts recent queries and writes.
type throttleState struct {
	mu         sync.Mutex
	second     int64
	queries    int
	writes     []time.Time
	blockUntil time.Time
}

// queryThrottled reports whether a feature query must get 429.
func (s *Server) queryThrottled() bool {
	if !s.opt.Throttle {
		return false
	}
	t := &s.throttle
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now().Unix()
	if now != t.second {
		t.second, t.queries = now, 0
	}
	t.queries++
	return t.queries > s.opt.ThrottleQPS
}

// writeThrottled reports whether a write must get 403: more than
// ThrottleWrites writes in a minute blocks writes for ThrottleBlock.
func (s *Server) writeThrottled() bool {
	if !s.opt.Throttle {
		return false
	}
	t := &s.throttle
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	if now.Before(t.blockUntil) {
		return true
	}
	cut := now.Add(-time.Minute)
	keep := t.writes[:0]
	for _, w := range t.writes {
		if w.After(cut) {
			keep = append(keep, w)
		}
	}
	t.writes = append(keep, now)
	if len(t.writes) > s.opt.ThrottleWrites {
		t.blockUntil = now.Add(s.opt.ThrottleBlock)
		t.writes = nil
		return true
	}
	return false
}

// inject applies a random fault to the call; true means the response was
// written (or the body is set up to fail) and the handler must not run —
// except for reset and slow faults, which let the handler write through
// the faulty writer.
func (s *Server) inject(c *call) bool {
	s.injectTruncate(c)
	if s.opt.FaultRate <= 0 {
		return false
	}
	if len(s.opt.FaultEndpoints) > 0 {
		hit := false
		for _, e := range s.opt.FaultEndpoints {
			hit = hit || e == c.endpoint
		}
		if !hit {
			return false
		}
	} else {
		switch c.endpoint {
		case "generateToken", "authorize", "oauth2/token", "oauth2/signin", "revokeToken", "info", "rest/info":
			return false
		}
	}
	s.mu.Lock()
	s.faultN++
	n := s.faultN
	s.mu.Unlock()
	h := org.Mix(s.opt.Seed ^ n*0x9e3779b97f4a7c15)
	if float64(h>>11)/float64(1<<53) >= s.opt.FaultRate {
		return false
	}
	switch org.Mix(h) % 4 {
	case 0:
		c.rw.fault = "500"
		c.failStatus(http.StatusInternalServerError, 500, "An error occurred.", "", nil)
		return true
	case 1:
		c.rw.fault = "503"
		c.w.Header().Set("Content-Type", "text/html")
		c.w.WriteHeader(http.StatusServiceUnavailable)
		c.w.Write([]byte("<html><body><h1>503 Service Unavailable</h1></body></html>")) //nolint:errcheck
		return true
	case 2:
		// The fault is logged only if the body is long enough to cut.
		c.rw.resetAfter = 1 + int64(org.Mix(h^1)%32)
		return false
	default:
		c.rw.fault = "slow"
		c.rw.slow = true
		return false
	}
}

// DownloadEndpoints are the endpoints that serve bytes a backup stores
// (item data and export results, resources, thumbnails and metadata,
// attachments, replicas, tile packages): where TruncateRate cuts bodies.
var DownloadEndpoints = []string{"data", "resource", "item/info", "attachment", "replica/download", "tiles/download"}

// injectTruncate marks the response of a download endpoint for
// truncation, with probability TruncateRate (deterministic for the seed
// and the order of requests), and always until the endpoint has had one
// body cut, so that even a short run meets the fault on every download
// endpoint it uses.
func (s *Server) injectTruncate(c *call) {
	if s.opt.TruncateRate <= 0 || !slices.Contains(DownloadEndpoints, c.endpoint) {
		return
	}
	s.mu.Lock()
	s.truncN++
	n := s.truncN
	owed := !s.truncDone[c.endpoint]
	s.mu.Unlock()
	h := org.Mix(s.opt.Seed ^ n*0xc2b2ae3d27d4eb4f ^ 0x7472756e63)
	if !owed && float64(h>>11)/float64(1<<53) >= s.opt.TruncateRate {
		return
	}
	c.rw.truncate, c.rw.truncSeed = "pending", org.Mix(h)
}
