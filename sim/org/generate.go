package org

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// RefTime is the simulated "now" of generated orgs (2026-06-01 UTC): all
// generated dates lie before it, so an org is the same whatever the clock
// says. Writes through the API use the real clock.
var RefTime = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

// GenOptions parameterise Generate.
type GenOptions struct {
	// Items is the number of items to generate (at least 1).
	Items int
	Seed  uint64
	// Mode is "online" or "enterprise"; it decides hosted service paths.
	Mode string
	// LargeFileSize is the size of the large generated files (default
	// 96 MiB); set it small in tests that download everything.
	LargeFileSize int64
}

// Family names the kinds of items the generator makes.
type Family string

// Families, in the order their items are generated (dependencies first).
const (
	FamFeatureService Family = "feature-service"
	FamSurveyService  Family = "survey-service"
	FamTileLayer      Family = "tile-layer"
	FamVectorTile     Family = "vector-tile-layer"
	FamView           Family = "view"
	FamWebMap         Family = "web-map"
	FamWebApp         Family = "web-app"
	FamDashboard      Family = "dashboard"
	FamExperience     Family = "experience"
	FamStoryMap       Family = "storymap"
	FamForm           Family = "survey-form"
	FamPDF            Family = "pdf"
	FamCSV            Family = "csv"
	FamShapefile      Family = "shapefile"
	FamFGDB           Family = "file-geodatabase"
	FamGeoJSON        Family = "geojson"
	FamExcel          Family = "excel"
	FamNotebook       Family = "notebook"
	FamSD             Family = "service-definition"
	FamWMS            Family = "wms"
	FamMapImage       Family = "map-image-layer"
	FamDocLink        Family = "document-link"
	FamAPIKey         Family = "api-key"
	FamOAuthApp       Family = "oauth-app"
)

// weights are per-mille shares of an org's items.
var weights = []struct {
	f Family
	w int
}{
	{FamFeatureService, 160}, {FamSurveyService, 30}, {FamTileLayer, 30}, {FamVectorTile, 30},
	{FamView, 40}, {FamWebMap, 140}, {FamWebApp, 50}, {FamDashboard, 40}, {FamExperience, 30},
	{FamStoryMap, 30}, {FamForm, 30}, {FamPDF, 60}, {FamCSV, 60}, {FamShapefile, 40}, {FamFGDB, 30},
	{FamGeoJSON, 20}, {FamExcel, 20}, {FamNotebook, 20}, {FamSD, 20}, {FamWMS, 20}, {FamMapImage, 20},
	{FamDocLink, 20}, {FamAPIKey, 10}, {FamOAuthApp, 10},
}

// HostileTitles are titles that break naive file naming; the generator gives
// them to some items (and to at least one of each kind when the org has
// enough items).
var HostileTitles = []string{
	"Parcels / Zoning 2024",
	"CON",
	"NUL",
	"aux.txt",
	"Water\\Sewer: mains?",
	"🌊 Flood zones 🚒",
	"Draft...",
	"Trailing space ",
	"..",
	"Ünïcödé Straße – résumé",
	strings.Repeat("Long title ", 22) + "end of the 250 chars", // 250 characters
	"<script>alert(1)</script>",
	"tab\there",
	"Duplicate title",
	"Duplicate title",
}

var (
	firstNames = []string{"ana", "ben", "chloe", "dev", "emma", "farid", "gina", "hugo", "ines", "jon", "kim", "leo", "maya", "nils", "olga", "pia", "raj", "sara", "tom", "uma", "vic", "wen", "yara", "zoe"}
	lastNames  = []string{"lee", "garcia", "smith", "nguyen", "muller", "rossi", "khan", "silva", "kowalski", "dubois", "tanaka", "obi"}
	topics     = []string{"Parcels", "Hydrants", "Street Trees", "Zoning", "Bike Lanes", "Storm Drains", "Sidewalks", "Parks", "Schools", "Permits", "Crashes", "Bus Stops", "Water Mains", "Sewer Lines", "Address Points", "Land Use", "Flood Zones", "Streetlights", "Code Cases", "Inspections"}
	tagPool    = []string{"public works", "planning", "utilities", "transportation", "parks", "environment", "public safety", "open data", "internal", "2024", "2025", "draft", "authoritative"}
	geomTypes  = []string{"esriGeometryPoint", "esriGeometryPolyline", "esriGeometryPolygon"}
)

const day = int64(24 * time.Hour / time.Millisecond)

type gen struct {
	r     *rand.Rand
	o     *Org
	opt   GenOptions
	now   int64
	n     int
	names map[string]int
	// by family, for references
	fam     map[Family][]*Item
	owners  []*User
	hostile int
	large   int
	hosted  string // path prefix of hosted services
}

// Generate builds a deterministic organization: the same options give the
// same org, byte for byte.
func Generate(opt GenOptions) *Org {
	if opt.Items < 1 {
		opt.Items = 1
	}
	if opt.LargeFileSize <= 0 {
		opt.LargeFileSize = 96 << 20
	}
	g := &gen{
		r:     rand.New(rand.NewPCG(opt.Seed, 0x61676f6c70697065)),
		opt:   opt,
		now:   RefTime.UnixMilli(),
		names: map[string]int{},
		fam:   map[Family][]*Item{},
	}
	o := &Org{Seed: opt.Seed}
	g.o = o
	o.ID = g.token(16)
	o.URLKey = "simcity" + strings.ToLower(o.ID[:4])
	o.Name = "Simulated City " + o.ID[:4]
	o.Created = g.now - 6*365*day
	if opt.Mode == "enterprise" {
		g.hosted = "/server/rest/services/Hosted/"
	} else {
		g.hosted = "/" + o.ID + "/arcgis/rest/services/"
	}
	g.users()
	g.groups()
	g.items()
	o.Index()
	return o
}

const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

func (g *gen) token(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alnum[g.r.IntN(len(alnum))]
	}
	return string(b)
}

// ID returns a new 32-hex id.
func (g *gen) id() string { return fmt.Sprintf("%016x%016x", g.r.Uint64(), g.r.Uint64()) }

func (g *gen) pick(list []string) string { return list[g.r.IntN(len(list))] }

// between returns a time uniformly in [a, b].
func (g *gen) between(a, b int64) int64 {
	if b <= a {
		return a
	}
	return a + g.r.Int64N(b-a+1)
}

var (
	adminPrivileges = []string{
		"portal:admin:viewUsers", "portal:admin:updateUsers", "portal:admin:viewItems", "portal:admin:updateItems",
		"portal:admin:deleteItems", "portal:admin:reassignItems", "portal:admin:viewGroups", "portal:admin:updateGroups",
		"portal:admin:shareToGroup", "portal:admin:shareToOrg", "portal:admin:shareToPublic",
		"portal:publisher:publishFeatures", "portal:publisher:publishTiles", "portal:publisher:publishVectorTiles",
		"portal:user:createGroup", "portal:user:createItem", "portal:user:joinGroup", "portal:user:shareToGroup",
		"portal:user:shareToOrg", "portal:user:shareToPublic", "premium:user:featurereport",
	}
	customAdminPrivileges = []string{
		"portal:admin:viewUsers", "portal:admin:viewItems", "portal:admin:viewGroups", "portal:admin:updateItems",
		"portal:admin:deleteItems", "portal:admin:shareToGroup", "portal:publisher:publishFeatures",
		"portal:user:createItem", "portal:user:joinGroup", "portal:user:shareToGroup",
	}
	publisherPrivileges = []string{
		"portal:publisher:publishFeatures", "portal:publisher:publishTiles", "portal:publisher:publishVectorTiles",
		"portal:user:createGroup", "portal:user:createItem", "portal:user:joinGroup", "portal:user:shareToGroup",
		"portal:user:shareToOrg", "portal:user:shareToPublic",
	}
	viewerPrivileges = []string{"portal:user:joinGroup", "portal:user:viewOrgGroups", "portal:user:viewOrgItems", "portal:user:viewOrgUsers"}
)

func (g *gen) password(username string) string {
	h := g.opt.Seed
	for i := 0; i < len(username); i++ {
		h = Mix(h ^ uint64(username[i]))
	}
	return fmt.Sprintf("sim-%s-%04x", username, h&0xffff)
}

func (g *gen) user(username, kind, role, roleID, lic string, privs []string) *User {
	created := g.between(g.o.Created, g.now-400*day)
	fn := strings.ReplaceAll(username, "_", " ")
	u := &User{
		Username: username, Password: g.password(username), FullName: titleCase(fn),
		Email: username + "@simcity.example", Role: role, RoleID: roleID, Privileges: privs, LicenseType: lic,
		Created: created, Modified: g.between(created, g.now), LastLogin: g.between(g.now-30*day, g.now), Kind: kind,
	}
	g.o.Users = append(g.o.Users, u)
	return u
}

func (g *gen) users() {
	n := g.opt.Items / 100
	if n < 6 {
		n = 6
	}
	if n > 500 {
		n = 500
	}
	admin := g.user("sim_admin", "admin", RoleAdmin, "", "creatorUT", adminPrivileges)
	backup := g.user("sim_backup", "custom_admin", RoleAdmin, g.token(16), "creatorUT", customAdminPrivileges)
	g.owners = append(g.owners, admin, admin, backup)
	used := map[string]bool{}
	for i := 2; i < n; i++ {
		var name string
		for {
			name = g.pick(firstNames) + "_" + g.pick(lastNames)
			if i > 50 {
				name += fmt.Sprint(i)
			}
			if !used[name] {
				used[name] = true
				break
			}
		}
		if i%4 == 3 {
			g.user("viewer_"+name, "viewer", RoleUser, "iAAAAAAAAAAAAAAA", "viewerUT", viewerPrivileges)
			continue
		}
		u := g.user(name, "publisher", RolePublisher, "", "creatorUT", publisherPrivileges)
		g.owners = append(g.owners, u)
	}
	// Folders: owners get a few, some with hostile names.
	for _, u := range g.owners[2:] {
		nf := g.r.IntN(4)
		for j := 0; j < nf; j++ {
			title := g.pick(topics) + " " + fmt.Sprint(2022+g.r.IntN(4))
			if j == 2 {
				title = "Projects / Archive"
			}
			if u.Folder(title) != nil {
				continue
			}
			u.Folders = append(u.Folders, &Folder{ID: g.id(), Title: title, Owner: u.Username, Created: g.between(u.Created, g.now)})
		}
	}
	if admin.Folder("Projects / Archive") == nil {
		admin.Folders = append(admin.Folders, &Folder{ID: g.id(), Title: "Projects / Archive", Owner: admin.Username, Created: admin.Created + day})
	}
}

func (g *gen) groups() {
	n := g.opt.Items / 40
	if n < 3 {
		n = 3
	}
	if n > 2000 {
		n = 2000
	}
	all := g.o.Users
	for i := 0; i < n; i++ {
		owner := g.owners[g.r.IntN(len(g.owners))]
		created := g.between(g.o.Created, g.now-10*day)
		grp := &Group{
			ID: g.id(), Title: fmt.Sprintf("%s team %d", g.pick(topics), i+1), Owner: owner.Username,
			Snippet: "Simulated group", Tags: []string{g.pick(tagPool)}, Access: []string{"private", "org", "org", "public"}[g.r.IntN(4)],
			Capabilities: []string{}, Created: created, Modified: g.between(created, g.now),
			IsInvitationOnly: g.r.IntN(2) == 0, Protected: g.r.IntN(10) == 0,
		}
		if i == 0 {
			grp.Title = "Shared update: field crews"
			grp.Capabilities = []string{"updateitemcontrol"}
			grp.Access = AccessOrg
		}
		if i == 1 {
			grp.Title = "Viewers / read only"
			grp.IsViewOnly = true
		}
		members := 2 + g.r.IntN(8)
		for j := 0; j < members; j++ {
			u := all[g.r.IntN(len(all))]
			if grp.MemberType(u.Username) != "none" {
				continue
			}
			if j == 0 && u.Kind != "viewer" {
				grp.Admins = append(grp.Admins, u.Username)
			} else {
				grp.Members = append(grp.Members, u.Username)
			}
		}
		g.o.Groups = append(g.o.Groups, grp)
	}
	// The backup account and the org admin belong to groups, so their
	// community/self responses carry group memberships.
	if g0 := g.o.Groups[0]; g0.MemberType("sim_backup") == "none" {
		g0.Members = append(g0.Members, "sim_backup")
	}
	if g1 := g.o.Groups[1]; g1.MemberType("sim_admin") == "none" {
		g1.Admins = append(g1.Admins, "sim_admin")
	}
}

// plan returns how many items of each family to make.
func (g *gen) plan() map[Family]int {
	n := g.opt.Items
	counts := map[Family]int{}
	left := n
	if n >= len(weights)+2 {
		for _, w := range weights {
			counts[w.f] = 1
			left--
		}
		// A survey form needs its service: they come in pairs.
		for _, w := range weights {
			c := (n*w.w)/1000 - 1
			if c > 0 && c <= left {
				counts[w.f] += c
				left -= c
			}
		}
	} else {
		// Tiny orgs: services and maps first.
		order := []Family{FamFeatureService, FamWebMap, FamPDF, FamWebApp, FamCSV, FamView, FamFGDB, FamDocLink}
		for i := 0; left > 0; i++ {
			counts[order[i%len(order)]]++
			left--
		}
	}
	counts[FamFeatureService] += left / 2
	counts[FamWebMap] += left - left/2
	if counts[FamForm] > counts[FamSurveyService] {
		counts[FamForm] = counts[FamSurveyService]
	}
	return counts
}

func (g *gen) items() {
	counts := g.plan()
	// Families in dependency order.
	order := []Family{
		FamFeatureService, FamSurveyService, FamTileLayer, FamVectorTile, FamView, FamWebMap, FamWebApp,
		FamDashboard, FamExperience, FamStoryMap, FamForm, FamPDF, FamCSV, FamShapefile, FamFGDB,
		FamGeoJSON, FamExcel, FamNotebook, FamSD, FamWMS, FamMapImage, FamDocLink, FamAPIKey, FamOAuthApp,
	}
	total := 0
	for _, c := range counts {
		total += c
	}
	g.n = total
	idx := 0
	for _, f := range order {
		for i := 0; i < counts[f]; i++ {
			it := g.item(f, idx)
			g.fam[f] = append(g.fam[f], it)
			g.o.Items = append(g.o.Items, it)
			idx++
		}
	}
	// Shuffle so search and listings interleave the families, keeping
	// creation dates in dependency order (they were drawn increasing).
	g.r.Shuffle(len(g.o.Items), func(i, j int) { g.o.Items[i], g.o.Items[j] = g.o.Items[j], g.o.Items[i] })
}

func (g *gen) title(f Family, idx int) string {
	// Spread hostile titles: one every ~25 items, cycling through the list.
	if idx%25 == 7 {
		t := HostileTitles[g.hostile%len(HostileTitles)]
		g.hostile++
		return t
	}
	t := g.pick(topics)
	switch f {
	case FamWebMap:
		return t + " map"
	case FamWebApp:
		return t + " viewer"
	case FamDashboard:
		return t + " dashboard"
	case FamExperience:
		return t + " site"
	case FamStoryMap:
		return "The story of " + strings.ToLower(t)
	case FamForm, FamSurveyService:
		return t + " survey"
	case FamView:
		return t + " (public view)"
	case FamTileLayer:
		return t + " tiles"
	case FamVectorTile:
		return t + " vector tiles"
	case FamAPIKey:
		return "Key for " + strings.ToLower(t) + " app"
	case FamOAuthApp:
		return t + " field app"
	}
	return fmt.Sprintf("%s %d", t, 2019+g.r.IntN(7))
}

// serviceName makes a unique hosted service name from a title.
func (g *gen) serviceName(title string) string {
	var b strings.Builder
	for _, r := range title {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == ' ' || r == '_' || r == '-':
			b.WriteByte('_')
		}
	}
	name := strings.Trim(b.String(), "_")
	if len(name) > 60 {
		name = name[:60]
	}
	if name == "" {
		name = "Service"
	}
	g.names[name]++
	if c := g.names[name]; c > 1 {
		name = fmt.Sprintf("%s_%d", name, c)
	}
	return name
}

func (g *gen) tags() []string {
	n := 1 + g.r.IntN(3)
	out := make([]string, 0, n)
	for i := 0; i < n; i++ {
		t := g.pick(tagPool)
		dup := false
		for _, x := range out {
			dup = dup || x == t
		}
		if !dup {
			out = append(out, t)
		}
	}
	return out
}

func (g *gen) ownerFor(f Family) *User {
	if f == FamAPIKey || f == FamOAuthApp {
		return g.owners[0]
	}
	return g.owners[g.r.IntN(len(g.owners))]
}

func (g *gen) item(f Family, idx int) *Item {
	owner := g.ownerFor(f)
	// Creation dates increase with idx (dependencies first) over ~3 years.
	span := 3 * 365 * day
	created := g.now - span + int64(idx)*span/int64(g.n+1) + g.r.Int64N(day)
	modified := g.between(created, g.now)
	if g.r.IntN(3) == 0 {
		// A third of the items changed in the last three months.
		modified = g.between(maxI(created, g.now-90*day), g.now)
	}
	it := &Item{
		ID: g.id(), Owner: owner.Username, Title: g.title(f, idx), Tags: g.tags(), Created: created, Modified: modified,
		Snippet: "Simulated " + string(f), Seed: g.r.Uint64(), NumViews: g.r.IntN(5000),
	}
	if len(owner.Folders) > 0 && g.r.IntN(10) < 6 {
		it.FolderID = owner.Folders[g.r.IntN(len(owner.Folders))].ID
	}
	switch a := g.r.IntN(100); {
	case a < 35:
		it.Access = AccessPrivate
	case a < 60:
		it.Access = AccessShared
	case a < 88:
		it.Access = AccessOrg
	default:
		it.Access = AccessPublic
	}
	if it.Access != AccessPrivate && len(g.o.Groups) > 0 && g.r.IntN(3) > 0 || it.Access == AccessShared {
		ng := 1 + g.r.IntN(3)
		for k := 0; k < ng; k++ {
			gid := g.o.Groups[g.r.IntN(len(g.o.Groups))].ID
			if !contains(it.Groups, gid) {
				it.Groups = append(it.Groups, gid)
			}
		}
	}
	if g.r.IntN(100) < 6 {
		it.Protected = true
	}
	if g.r.IntN(10) > 0 {
		it.Thumbnail = "thumbnail/thumbnail.png"
	}
	it.HasMetadata = g.r.IntN(10) < 3
	g.fill(f, it)
	return it
}

func maxI(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

var hostedFSKeywords = []string{"ArcGIS Server", "Data", "Feature Access", "Feature Service", "Service", "Hosted Service"}

func (g *gen) extent() []float64 {
	x, y := -122.6+g.r.Float64()*0.3, 37.5+g.r.Float64()*0.2
	return []float64{x, y, x + 0.2, y + 0.2}
}

// featureService fills a hosted feature service item.
func (g *gen) featureService(it *Item, survey bool) {
	name := g.serviceName(it.Title)
	it.Type = "Feature Service"
	it.Name = name
	it.TypeKeywords = append([]string(nil), hostedFSKeywords...)
	if survey {
		it.TypeKeywords = append(it.TypeKeywords, "Survey123", "Survey123 Hub")
	}
	it.URL = g.hosted + name + "/FeatureServer"
	it.Extent = g.extent()
	svc := &Service{Name: name, Kind: FeatureServer, MaxRecordCount: []int{1000, 2000}[g.r.IntN(2)], Capabilities: "Query,Extract"}
	if g.r.IntN(3) == 0 {
		svc.Capabilities = "Create,Delete,Query,Update,Editing,Sync,Extract"
		svc.SyncEnabled = true
	}
	nl := 1
	switch r := g.r.IntN(4); {
	case r == 2:
		nl = 2
	case r == 3:
		nl = 3 + g.r.IntN(2)
	}
	nt := 0
	if r := g.r.IntN(20); r >= 10 && r < 17 {
		nt = 1
	} else if r >= 17 {
		nt = 2
	}
	if survey {
		nl, nt = 1, 1+g.r.IntN(2)
	}
	id := 0
	var rowsTotal int64
	for i := 0; i < nl; i++ {
		l := &Layer{ID: id, Name: fmt.Sprintf("%s_%d", strings.ReplaceAll(g.pick(topics), " ", "_"), i), Geometry: geomTypes[g.r.IntN(3)],
			Rows: g.rows(), HasAttachments: survey || g.r.IntN(10) < 3, Parent: -1, Seed: g.r.Uint64()}
		l.LastEdit = g.between(it.Created, it.Modified)
		if g.r.IntN(2) == 0 {
			// Data edits spread over the last months, independent of the item.
			l.LastEdit = g.between(maxI(it.Created, g.now-180*day), g.now)
		}
		l.SchemaEdit = g.between(it.Created, l.LastEdit)
		svc.Layers = append(svc.Layers, l)
		rowsTotal += int64(l.Rows)
		id++
	}
	for i := 0; i < nt; i++ {
		l := &Layer{ID: id, Name: fmt.Sprintf("Inspections_%d", i), IsTable: true, Rows: g.rows() * 2, Parent: 0, Seed: g.r.Uint64()}
		l.LastEdit = g.between(it.Created, g.now)
		l.SchemaEdit = g.between(it.Created, l.LastEdit)
		svc.Layers = append(svc.Layers, l)
		rowsTotal += int64(l.Rows)
		id++
	}
	it.Service = svc
	it.Size = rowsTotal*256 + 8192
	it.Data = DataNone
}

// rows draws a layer size: mostly small, some large enough to page.
func (g *gen) rows() int {
	switch r := g.r.IntN(100); {
	case r < 5:
		return 0
	case r < 70:
		return 10 + g.r.IntN(500)
	case r < 95:
		return 500 + g.r.IntN(4500)
	default:
		return 20000 + g.r.IntN(30000)
	}
}

func (g *gen) ref(f Family) *Item {
	list := g.fam[f]
	if len(list) == 0 {
		return nil
	}
	return list[g.r.IntN(len(list))]
}

// mapRefs picks the services a web map shows.
func (g *gen) mapRefs() []string {
	var out []string
	n := 1 + g.r.IntN(3)
	for i := 0; i < n; i++ {
		var s *Item
		switch g.r.IntN(6) {
		case 0:
			s = g.ref(FamView)
		case 1:
			s = g.ref(FamTileLayer)
		default:
			s = g.ref(FamFeatureService)
		}
		if s != nil && !contains(out, s.ID) {
			out = append(out, s.ID)
		}
	}
	return out
}

func (g *gen) appRef(it *Item) {
	if m := g.ref(FamWebMap); m != nil {
		it.Refs = []string{m.ID}
	}
}

func (g *gen) file(it *Item, typ, ext string, kw []string, size int64) {
	it.Type = typ
	it.TypeKeywords = kw
	it.Name = fileName(it.Title, ext)
	it.Data = DataFile
	it.Size = size
}

// fileName makes the item's `name` (its file name) from its title.
func fileName(title, ext string) string {
	var b strings.Builder
	for _, r := range title {
		switch {
		case r == '/' || r == '\\' || r == ':' || r == '?' || r == '<' || r == '>' || r == '\t':
			b.WriteByte('_')
		default:
			b.WriteRune(r)
		}
	}
	s := strings.TrimSpace(b.String())
	if len(s) > 80 {
		s = s[:80]
	}
	return s + ext
}

// logSize draws a file size between lo and hi, log-uniformly.
func (g *gen) logSize(lo, hi int64) int64 {
	for s := lo; ; s *= 2 {
		if s*2 > hi || g.r.IntN(3) == 0 {
			return s + g.r.Int64N(s)
		}
	}
}

func (g *gen) maybeLarge(it *Item, every int) {
	// The first file of a kind in an org of 100+ items is large, then one
	// in `every`; large bytes are generated on the fly, never stored.
	if g.opt.Items >= 100 && (g.large == 0 || g.r.IntN(every) == 0) {
		g.large++
		it.Size = g.opt.LargeFileSize
		it.Tags = append(it.Tags, "large")
	}
}

func (g *gen) fill(f Family, it *Item) {
	switch f {
	case FamFeatureService:
		g.featureService(it, false)
		if g.r.IntN(5) == 0 {
			it.Protected = true
		}
	case FamSurveyService:
		g.featureService(it, true)
	case FamTileLayer:
		name := g.serviceName(it.Title)
		it.Type, it.Name = "Map Service", name
		it.TypeKeywords = []string{"ArcGIS Server", "Data", "Hosted Service", "Map Service", "Service", "Tiled", "Tiled Imagery"}
		it.URL = g.hosted + name + "/MapServer"
		it.Extent = g.extent()
		// Every other tile layer is cached only to a regional scale and fits
		// under maxExportTilesCount; the others are cached to street level
		// and are above it, so an org shows both outcomes of exportTiles.
		// The draw is the same either way: the rest of the org does not move.
		r := g.r.IntN(5)
		levels := 18 + r // street level: well above 100,000 tiles
		if len(g.fam[FamTileLayer])%2 == 0 {
			levels = 11 + min(r, 2) // regional: at most ~1,800 tiles
		}
		it.Service = &Service{Name: name, Kind: MapServer, MaxExportTiles: 100000, Levels: levels, Capabilities: "Map,Tilemap,Query,Data"}
		it.Size = g.logSize(1<<20, 2<<30)
	case FamVectorTile:
		name := g.serviceName(it.Title)
		it.Type, it.Name = "Vector Tile Service", name
		it.TypeKeywords = []string{"Vector Tile Service", "Hosted Service", "ArcGIS Server", "Service"}
		it.URL = g.hosted + name + "/VectorTileServer"
		it.Extent = g.extent()
		// Vector tile layers alternate the other way round from tile layers
		// (the first is above the limit), so even a small org with one of
		// each shows an exported package and a skipped one.
		levels := 16
		if len(g.fam[FamVectorTile])%2 == 1 {
			levels = 12
		}
		it.Service = &Service{Name: name, Kind: VectorTileServer, MaxExportTiles: 100000, Levels: levels, Capabilities: "TilesOnly"}
		it.Size = g.logSize(1<<20, 1<<30)
	case FamView:
		src := g.ref(FamFeatureService)
		if src == nil {
			g.featureService(it, false)
			return
		}
		name := g.serviceName(it.Title)
		it.Type, it.Name = "Feature Service", name
		it.TypeKeywords = append(append([]string(nil), hostedFSKeywords...), "View Service")
		it.URL = g.hosted + name + "/FeatureServer"
		it.Extent = src.Extent
		sv := *src.Service
		sv.Name, sv.IsView, sv.SourceItemID, sv.Capabilities, sv.SyncEnabled = name, true, src.ID, "Query", false
		sv.Layers = nil
		for _, l := range src.Service.Layers {
			cp := *l
			sv.Layers = append(sv.Layers, &cp)
		}
		it.Service = &sv
		it.Size = -1
		src.Related = append(src.Related, Relationship{Type: "Service2Service", To: it.ID})
		if it.Created < src.Created {
			it.Created = src.Created + day
		}
	case FamWebMap:
		it.Type = "Web Map"
		it.TypeKeywords = []string{"ArcGIS Online", "Explorer Web Map", "Map", "Online Map", "Web Map"}
		it.Refs = g.mapRefs()
		it.Extent = g.extent()
		it.Data = DataJSON
	case FamWebApp:
		it.Type = "Web Mapping Application"
		it.TypeKeywords = []string{"JavaScript", "Map", "Mapping Site", "Online Map", "Ready To Use", "WAB2D", "Web AppBuilder", "Web Map"}
		g.appRef(it)
		it.URL = "https://" + g.o.URLKey + ".maps.arcgis.com/apps/webappviewer/index.html?id=" + it.ID
		it.Data = DataJSON
	case FamDashboard:
		it.Type = "Dashboard"
		it.TypeKeywords = []string{"Dashboard", "Operations Dashboard", "ArcGIS Dashboards"}
		g.appRef(it)
		it.Data = DataJSON
		g.resources(it, "images/logo.png")
	case FamExperience:
		it.Type = "Web Experience"
		it.TypeKeywords = []string{"EXB Experience", "JavaScript", "Ready To Use", "Web Experience Template"}
		g.appRef(it)
		it.URL = "https://experience.arcgis.com/experience/" + it.ID
		it.Data = DataJSON
		g.resources(it, "config/config.json", "images/header.png", "images/banner.jpg")
	case FamStoryMap:
		it.Type = "StoryMap"
		it.TypeKeywords = []string{"StoryMap", "Story", "smstatusdraft", "smversiondraft:1.0"}
		g.appRef(it)
		it.URL = "https://storymaps.arcgis.com/stories/" + it.ID
		it.Data = DataJSON
		g.resources(it, "draft.json", "published_data.json", "images/cover.jpg", "images/figure-1.png")
	case FamForm:
		it.Type = "Form"
		it.TypeKeywords = []string{"Form", "Survey123", "Survey123 Connect", "xForm"}
		g.file(it, "Form", ".zip", it.TypeKeywords, g.logSize(20<<10, 2<<20))
		// Each form links its own survey service, in order.
		i := len(g.fam[FamForm])
		if svcs := g.fam[FamSurveyService]; i < len(svcs) {
			it.Related = append(it.Related, Relationship{Type: "Survey2Service", To: svcs[i].ID})
			it.Refs = []string{svcs[i].ID}
		}
		formResources(it) // after Refs: the JSON resources name them
	case FamPDF:
		g.file(it, "PDF", ".pdf", []string{"Data", "Document", "PDF"}, g.logSize(16<<10, 16<<20))
		g.maybeLarge(it, 500)
	case FamCSV:
		g.file(it, "CSV", ".csv", []string{"CSV"}, CSVSize(int64(10+g.r.IntN(20000))))
		if fs := g.ref(FamFeatureService); fs != nil && g.r.IntN(3) == 0 {
			fs.Related = append(fs.Related, Relationship{Type: "Service2Data", To: it.ID})
		}
	case FamShapefile:
		g.file(it, "Shapefile", ".zip", []string{"ArcGIS", "Data", "Esri Shapefile", "Shapefile"}, g.logSize(64<<10, 64<<20))
	case FamFGDB:
		g.file(it, "File Geodatabase", ".gdb.zip", []string{"Data", "File Geodatabase"}, g.logSize(256<<10, 128<<20))
		g.maybeLarge(it, 300)
		if fs := g.ref(FamFeatureService); fs != nil && g.r.IntN(2) == 0 {
			fs.Related = append(fs.Related, Relationship{Type: "Service2Data", To: it.ID})
		}
	case FamGeoJSON:
		g.file(it, "GeoJson", ".geojson", []string{"Coordinates Type", "CRS", "Feature", "FeatureCollection", "GeoJSON", "Geometry", "GeometryCollection"}, GeoJSONSize(int64(5+g.r.IntN(5000))))
	case FamExcel:
		g.file(it, "Microsoft Excel", ".xlsx", []string{"Data", "Document", "Microsoft Excel"}, g.logSize(16<<10, 4<<20))
	case FamNotebook:
		it.Type = "Notebook"
		it.TypeKeywords = []string{"Notebook", "Python"}
		it.Name = fileName(it.Title, ".ipynb")
		it.Data = DataJSON
	case FamSD:
		g.file(it, "Service Definition", ".sd", []string{"Data", "Service Definition", "Sd"}, g.logSize(256<<10, 64<<20))
		if g.r.IntN(1000) == 0 || (g.opt.Items >= 5000 && len(g.fam[FamSD]) == 0) {
			// A file over 2 GiB, to catch 32-bit sizes and whole-file buffering.
			it.Size = 2<<30 + 512<<20
			it.Tags = append(it.Tags, "large")
		}
	case FamWMS:
		it.Type = "WMS"
		it.TypeKeywords = []string{"Data", "Service", "Web Map Service", "OGC"}
		it.URL = "https://maps.example.gov/geoserver/wms?service=WMS&request=GetCapabilities"
		it.Size = -1
	case FamMapImage:
		it.Type = "Map Service"
		it.TypeKeywords = []string{"ArcGIS Server", "Data", "Map Service", "Service"}
		it.URL = "https://gis.example.gov/arcgis/rest/services/Basemap/MapServer"
		it.Size = -1
	case FamDocLink:
		it.Type = "Document Link"
		it.TypeKeywords = []string{"Data", "Document"}
		it.URL = "https://www.example.gov/plans/comprehensive-plan.pdf"
		it.Size = -1
	case FamAPIKey:
		it.Type = "API Key"
		it.TypeKeywords = []string{"API Key"}
		it.Access = AccessPrivate
		it.Groups = nil
		it.Size = -1
	case FamOAuthApp:
		it.Type = "Application"
		it.TypeKeywords = []string{"Application", "Registered App"}
		it.Access = AccessPrivate
		it.Groups = nil
		it.Size = -1
		app := &App{ItemID: it.ID, ClientID: g.token(16), ClientSecret: g.token(32),
			RedirectURIs: []string{"urn:ietf:wg:oauth:2.0:oob", "http://127.0.0.1", "http://localhost"}}
		if len(g.o.Apps) == 0 {
			// The first app is agolpipe's own CLI registration.
			it.Title = "agolpipe CLI"
			app.ClientID = "agolpipe-sim-cli"
		}
		g.o.Apps = append(g.o.Apps, app)
	}
}

func (g *gen) resources(it *Item, paths ...string) {
	for _, p := range paths {
		r := Resource{Path: p, Size: 200 + g.r.Int64N(200<<10), Created: g.between(it.Created, it.Modified), Access: "inherit"}
		if j := it.ResourceJSON(&r); j != nil {
			r.Size = int64(len(j))
		}
		it.Resources = append(it.Resources, r)
	}
}

// formResources gives a Survey123 form the item resources the Survey123
// website keeps beside the form file (form info, the web form's JSON, a
// header image). Sizes and dates come from the item's own seed, not the
// generator's stream, so adding them left every other item unchanged.
func formResources(it *Item) {
	r := rand.New(rand.NewPCG(it.Seed, 0x73757276657931))
	span := it.Modified - it.Created
	for _, p := range []string{"forminfo.json", "form.json", "media/header.png"} {
		res := Resource{Path: p, Size: 200 + r.Int64N(64<<10), Created: it.Created, Access: "inherit"}
		if span > 0 {
			res.Created += r.Int64N(span + 1)
		}
		if j := it.ResourceJSON(&res); j != nil {
			res.Size = int64(len(j))
		}
		it.Resources = append(it.Resources, res)
	}
}

// FileMagic returns the magic header of generated bytes for an item type.
func FileMagic(typ string) string {
	switch typ {
	case "PDF":
		return "%PDF-1.7\n"
	case "Shapefile", "File Geodatabase", "Microsoft Excel", "Service Definition", "Form", "Code Attachment":
		return "PK\x03\x04"
	}
	return ""
}

// FileBlob returns the generated bytes of a DataFile item.
func (it *Item) FileBlob() Blob {
	b := Blob{Seed: it.Seed, Size: it.Size, Magic: FileMagic(it.Type)}
	switch it.Type {
	case "CSV":
		b.Kind = BlobCSV
	case "GeoJson":
		b.Kind = BlobGeoJSON
	}
	return b
}

// titleCase upper-cases each ASCII letter that starts a word (follows
// anything but a letter, digit or underscore), the rule of the deprecated
// strings.Title, which generated org files depend on byte for byte.
// Usernames are ASCII, so the Unicode word boundaries strings.Title gets
// wrong do not arise.
func titleCase(s string) string {
	b := []byte(s)
	prev := byte(' ')
	for i, c := range b {
		inWord := prev == '_' || prev >= '0' && prev <= '9' || prev >= 'a' && prev <= 'z' || prev >= 'A' && prev <= 'Z'
		if !inWord && c >= 'a' && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
		prev = c
	}
	return string(b)
}
