package sim

import (
	"sort"
	"strings"

	"github.com/agolpipe/agolpipe/sim/org"
	"github.com/agolpipe/agolpipe/sim/query"
)

// portalVersion is the sharing API's release: ArcGIS Online's numbering,
// which Portal for ArcGIS shares (Enterprise 11.3 answers "2024.1" and
// names its own version in enterpriseVersion).
const portalVersion = "2024.1"

// sharingRoot: GET /sharing/rest?f=json, the portal's version; Enterprise
// (11.3 and later) adds its version and build.
func (s *Server) sharingRoot(c *call) {
	v := map[string]any{"currentVersion": portalVersion}
	if s.opt.Mode == "enterprise" {
		v["enterpriseVersion"] = "11.3.0"
		v["enterpriseBuild"] = "51526"
	}
	c.value(v)
}

// portalSelf: GET /sharing/rest/portals/self.
func (s *Server) portalSelf(c *call) {
	o := s.org
	o.Mu.RLock()
	defer o.Mu.RUnlock()
	online := s.opt.Mode == "online"
	host := strings.TrimPrefix(strings.TrimPrefix(s.origin, "https://"), "http://")
	v := map[string]any{
		"access": "private", "allSSL": s.opt.TLS, "allowedRedirectUris": []string{}, "analysisLayersGroupQuery": "",
		"authorizedCrossOriginDomains": []string{}, "availableCredits": 9584.193, "basemapGalleryGroupQuery": "",
		"canListApps": false, "canListData": false, "canListPreProvisionedItems": false, "canProvisionDirectPurchase": false,
		"canSearchPublic": true, "canShareBingPublic": false, "canSharePublic": true, "canSignInArcGIS": true, "canSignInIDP": true,
		"colorSetsGroupQuery": "", "commentsEnabled": true, "created": o.Created, "creditAssignments": "enabled", "culture": "en",
		"customBaseUrl": "maps.arcgis.com", "databaseQuota": -1, "databaseUsage": -1, "defaultBasemap": map[string]any{},
		"defaultExtent":               map[string]any{"type": "extent", "xmin": -13655000.0, "ymin": 4510000.0, "xmax": -13580000.0, "ymax": 4570000.0, "spatialReference": map[string]any{"wkid": 102100}},
		"defaultUserCreditAssignment": 100, "defaultVectorBasemap": map[string]any{"baseMapLayers": []any{}, "title": "Topographic"},
		"description": "A simulated organization served by agolpipe sim.", "eueiEnabled": false, "featuredGroups": []any{}, "featuredGroupsId": "",
		"featuredItemsGroupQuery": "", "galleryTemplatesGroupQuery": "", "hasCategorySchema": false, "helpBase": "https://doc.arcgis.com/en/arcgis-online/",
		"helpMap": map[string]any{}, "helperServices": map[string]any{}, "homePageFeaturedContent": "", "homePageFeaturedContentCount": 12,
		"id": o.ID, "isPortal": !online, "layerTemplatesGroupQuery": "", "livingAtlasGroupQuery": "", "maxTokenExpirationMinutes": -1,
		"metadataEditable": true, "metadataFormats": []string{"iso19139"}, "modified": o.Created, "name": o.Name, "notificationsEnabled": false,
		"portalHostname": host, "portalMode": "multitenant", "portalName": "ArcGIS Online", "portalProperties": map[string]any{},
		"portalThumbnail": nil, "region": "WO", "rotatorPanels": []any{}, "showHomePageDescription": false, "staticImagesUrl": "",
		"storageQuota": int64(2199023255552), "storageUsage": int64(17622609523), "stylesGroupQuery": "", "supportsHostedServices": true,
		"symbolSetsGroupQuery": "", "templatesGroupQuery": "", "thumbnail": nil, "units": "english", "updateUserProfileDisabled": false,
		"urlKey": o.URLKey, "useStandardizedQuery": true, "useVectorBasemaps": true, "vectorBasemapGalleryGroupQuery": "",
		"subscriptionInfo": map[string]any{"id": o.ID, "type": "Organization", "state": "active", "maxUsers": 500},
		"isHubEnabled":     false, "ipCntryCode": "US", "httpPort": 80, "httpsPort": 443, "supportsOAuth": true,
		"currentVersion": portalVersion, "allowedOrigins": []string{}, "mfaAdmins": []string{}, "contacts": []string{o.Users[0].Username},
		"mfaEnabled": false, "user": map[string]any{}, "appInfo": map[string]any{},
	}
	if !online {
		v["portalMode"] = "singletenant"
		v["portalName"] = "ArcGIS Enterprise"
		v["currentVersion"] = portalVersion
		v["urlKey"] = nil
		v["customBaseUrl"] = nil
	}
	if c.user != nil {
		v["user"] = s.userMap(c.user, true, c.user)
	}
	c.value(v)
}

// userMap is the user JSON; full adds private fields (email, privileges,
// groups) for the user themself and admins.
func (s *Server) userMap(u *org.User, full bool, viewer *org.User) map[string]any {
	first, last, _ := strings.Cut(u.FullName, " ")
	m := map[string]any{
		"username": u.Username, "fullName": u.FullName, "firstName": first, "lastName": last, "description": nil,
		"tags": []string{}, "culture": "en", "region": "US", "units": "english", "thumbnail": nil,
		"created": u.Created, "modified": u.Modified, "provider": "arcgis", "orgId": s.org.ID, "role": u.Role,
		"level": "2", "disabled": u.Disabled, "access": "org", "userLicenseTypeId": u.LicenseType,
		"idpUsername": nil, "favGroupId": nil, "lastLogin": u.LastLogin, "mfaEnabled": false,
		"storageUsage": 583650, "storageQuota": int64(2147483648), "availableCredits": -1, "assignedCredits": -1, "preferredView": nil,
		"groups": []any{},
	}
	if u.RoleID != "" {
		m["roleId"] = u.RoleID
	}
	if full {
		m["email"] = u.Email
		m["privileges"] = u.Privileges
		var gs []any
		for _, g := range s.org.GroupsOf(u.Username) {
			gs = append(gs, s.groupMap(g, u.Username, true))
		}
		if gs != nil {
			m["groups"] = gs
		}
	}
	return m
}

// communitySelf: GET /sharing/rest/community/self.
func (s *Server) communitySelf(c *call) {
	if !c.needUser() {
		return
	}
	s.org.Mu.RLock()
	defer s.org.Mu.RUnlock()
	c.value(s.userMap(c.user, true, c.user))
}

// communityUser: GET /sharing/rest/community/users/<username>.
func (s *Server) communityUser(c *call, name string) {
	s.org.Mu.RLock()
	defer s.org.Mu.RUnlock()
	u := s.org.User(name)
	if u == nil || c.user == nil {
		if c.user == nil && u != nil {
			c.tokenRequired()
			return
		}
		c.fail(400, "User not found.", "COM_0024", nil)
		return
	}
	full := c.user.Username == u.Username || c.isAdmin()
	m := s.userMap(u, full, c.user)
	if !full {
		delete(m, "groups")
	}
	c.value(m)
}

type userDoc struct{ u *org.User }

func (d userDoc) Values(f string) ([]string, bool) {
	switch f {
	case "username":
		return []string{d.u.Username}, true
	case "role":
		return []string{d.u.Role}, true
	case "fullname":
		return []string{d.u.FullName}, true
	case "email":
		return []string{d.u.Email}, true
	case "orgid", "accountid":
		return nil, true
	case "*":
		return []string{d.u.Username, d.u.FullName}, true
	}
	return nil, false
}

// paging clamps start/num like the sharing API: num default 10, max 100.
func paging(c *call, total, defNum int) (start, num, next int) {
	start = c.intParam("start", 1)
	if start < 1 {
		start = 1
	}
	num = c.intParam("num", defNum)
	if num < 0 {
		num = defNum
	}
	if num > 100 {
		num = 100
	}
	next = start + num
	if num == 0 || next > total {
		next = -1
	}
	return
}

func window[T any](list []T, start, num int) []T {
	lo := start - 1
	if lo > len(list) {
		lo = len(list)
	}
	hi := lo + num
	if hi > len(list) {
		hi = len(list)
	}
	return list[lo:hi]
}

// portalUsers: /portals/self/users (key "users") and the user searches
// /portals/self/users/search and /community/users (key "results").
func (s *Server) portalUsers(c *call, key string) {
	if !c.needUser() {
		return
	}
	q, err := query.Parse(strings.ReplaceAll(c.param("q"), "orgid:"+s.org.ID, "*"))
	if err != nil {
		c.fail(400, "Invalid query.", "", []string{err.Error()})
		return
	}
	s.org.Mu.RLock()
	defer s.org.Mu.RUnlock()
	if key == "users" && !c.isAdmin() && !c.user.HasPrivilege("portal:user:viewOrgUsers") && c.user.Role == org.RoleUser {
		c.forbidden()
		return
	}
	var list []*org.User
	for _, u := range s.org.Users {
		if q.MatchDoc(userDoc{u}) {
			list = append(list, u)
		}
	}
	switch c.param("sortField") {
	case "fullname", "fullName":
		sort.SliceStable(list, func(i, j int) bool { return list[i].FullName < list[j].FullName })
	case "created":
		sort.SliceStable(list, func(i, j int) bool { return list[i].Created < list[j].Created })
	default:
		sort.SliceStable(list, func(i, j int) bool { return list[i].Username < list[j].Username })
	}
	if strings.EqualFold(c.param("sortOrder"), "desc") {
		for i, j := 0, len(list)-1; i < j; i, j = i+1, j-1 {
			list[i], list[j] = list[j], list[i]
		}
	}
	start, num, next := paging(c, len(list), 10)
	out := []any{}
	for _, u := range window(list, start, num) {
		m := s.userMap(u, c.isAdmin(), c.user)
		m["groups"] = []any{}
		out = append(out, m)
	}
	resp := map[string]any{"total": len(list), "start": start, "num": num, "nextStart": next, key: out}
	if key == "results" {
		resp["query"] = c.param("q")
	}
	c.value(resp)
}

// groupMap is the group JSON; withMembership adds userMembership and
// collaborationInfo (group and item-groups responses).
func (s *Server) groupMap(g *org.Group, viewer string, withMembership bool) map[string]any {
	m := map[string]any{
		"id": g.ID, "title": g.Title, "isInvitationOnly": g.IsInvitationOnly, "owner": g.Owner, "description": g.Description,
		"snippet": g.Snippet, "tags": g.Tags, "phone": nil, "sortField": "title", "sortOrder": "asc", "isViewOnly": g.IsViewOnly,
		"isFav": false, "isOpenData": false, "thumbnail": nil, "created": g.Created, "modified": g.Modified, "provider": nil,
		"providerGroupName": nil, "isReadOnly": false, "access": g.Access, "capabilities": g.Capabilities, "protected": g.Protected,
		"autoJoin": false, "notificationsEnabled": false,
	}
	if withMembership {
		mt := g.MemberType(viewer)
		m["userMembership"] = map[string]any{"username": viewer, "memberType": mt, "applications": 0}
		m["collaborationInfo"] = map[string]any{}
	}
	return m
}

// canSeeGroup: public groups to all, org groups to members of the org,
// private groups to their members and admins.
func (c *call) canSeeGroup(g *org.Group) bool {
	switch {
	case g.Access == org.AccessPublic:
		return true
	case c.user == nil:
		return false
	case g.Access == org.AccessOrg || c.isAdmin():
		return true
	}
	return g.MemberType(c.user.Username) != "none"
}

type groupDoc struct {
	g     *org.Group
	orgID string
}

func (d groupDoc) Values(f string) ([]string, bool) {
	switch f {
	case "id":
		return []string{d.g.ID}, true
	case "title":
		return []string{d.g.Title}, true
	case "owner":
		return []string{d.g.Owner}, true
	case "tags":
		return d.g.Tags, true
	case "access":
		return []string{d.g.Access}, true
	case "orgid", "accountid":
		return []string{d.orgID}, true
	case "*":
		return append([]string{d.g.Title, d.g.Snippet}, d.g.Tags...), true
	}
	return nil, false
}

// groupSearch: GET /sharing/rest/community/groups?q=.
func (s *Server) groupSearch(c *call) {
	q, err := query.Parse(c.param("q"))
	if err != nil {
		c.fail(400, "Invalid query.", "", []string{err.Error()})
		return
	}
	s.org.Mu.RLock()
	defer s.org.Mu.RUnlock()
	var list []*org.Group
	for _, g := range s.org.Groups {
		if c.canSeeGroup(g) && q.MatchDoc(groupDoc{g, s.org.ID}) {
			list = append(list, g)
		}
	}
	sort.SliceStable(list, func(i, j int) bool { return strings.ToLower(list[i].Title) < strings.ToLower(list[j].Title) })
	start, num, next := paging(c, len(list), 10)
	out := []any{}
	for _, g := range window(list, start, num) {
		out = append(out, s.groupMap(g, "", false))
	}
	c.value(map[string]any{"query": c.param("q"), "total": len(list), "start": start, "num": num, "nextStart": next, "results": out})
}

func (s *Server) findGroup(c *call, id string) *org.Group {
	g := s.org.Group(id)
	if g == nil || !c.canSeeGroup(g) {
		if g != nil && c.user == nil {
			c.tokenRequired()
			return nil
		}
		c.fail(400, "Group does not exist or is inaccessible.", "COM_0003", nil)
		return nil
	}
	return g
}

// groupGet: GET /sharing/rest/community/groups/<id>.
func (s *Server) groupGet(c *call, id string) {
	s.org.Mu.RLock()
	defer s.org.Mu.RUnlock()
	g := s.findGroup(c, id)
	if g == nil {
		return
	}
	viewer := ""
	if c.user != nil {
		viewer = c.user.Username
	}
	c.value(s.groupMap(g, viewer, true))
}

// groupUsers: GET /sharing/rest/community/groups/<id>/users.
func (s *Server) groupUsers(c *call, id string) {
	s.org.Mu.RLock()
	defer s.org.Mu.RUnlock()
	g := s.findGroup(c, id)
	if g == nil {
		return
	}
	admins := append([]string{g.Owner}, g.Admins...)
	users := g.Members
	if users == nil {
		users = []string{}
	}
	c.value(map[string]any{"owner": g.Owner, "admins": admins, "users": users})
}

// groupContent: GET /sharing/rest/content/groups/<id>.
func (s *Server) groupContent(c *call, id string) {
	s.org.Mu.RLock()
	defer s.org.Mu.RUnlock()
	g := s.findGroup(c, id)
	if g == nil {
		return
	}
	var list []*org.Item
	for _, it := range s.org.Items {
		if it.Deleted || !containsStr(it.Groups, g.ID) || !c.canView(it) {
			continue
		}
		list = append(list, it)
	}
	start, num, next := paging(c, len(list), 10)
	e := getEnc()
	e.open()
	e.ki("total", int64(len(list)))
	e.ki("start", int64(start))
	e.ki("num", int64(num))
	e.ki("nextStart", int64(next))
	e.k("items")
	e.arr()
	for _, it := range window(list, start, num) {
		s.appendItem(e, c, it, itemGroupContent)
	}
	e.end()
	e.close()
	c.enc(e)
}

func containsStr(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// serviceNameAvailable: GET /portals/self/isServiceNameAvailable.
func (s *Server) serviceNameAvailable(c *call) {
	if !c.needUser() {
		return
	}
	s.org.Mu.RLock()
	defer s.org.Mu.RUnlock()
	name := c.param("name")
	kind := org.FeatureServer
	if strings.Contains(strings.ToLower(c.param("type")), "vector") {
		kind = org.VectorTileServer
	} else if strings.Contains(strings.ToLower(c.param("type")), "map") {
		kind = org.MapServer
	}
	c.value(map[string]any{"available": s.serviceItem(name, kind) == nil})
}
