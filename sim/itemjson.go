package sim

import (
	"github.com/agolpipe/agolpipe/sim/org"
)

// itemView selects the item JSON flavour of an endpoint.
type itemView int

const (
	// itemFull: /content/items/<id> (has protected, ownerFolder).
	itemFull itemView = iota
	// itemSearch: search results (no protected, no ownerFolder, as ArcGIS).
	itemSearch
	// itemUserContent: user content listings (ownerFolder, protected).
	itemUserContent
	// itemGroupContent: group content (protected, groupCategories).
	itemGroupContent
)

// appendItem writes the item JSON the way the sharing API shapes it. The
// caller holds the org lock for reading.
func (s *Server) appendItem(e *enc, c *call, it *org.Item, view itemView) {
	e.open()
	e.ks("id", it.ID)
	e.ks("owner", it.Owner)
	e.ks("orgId", s.org.ID)
	e.ki("created", it.Created)
	e.kb("isOrgItem", true)
	e.ki("modified", it.Modified)
	e.kn("guid")
	e.k("name")
	e.strOrNull(it.Name)
	e.ks("title", it.Title)
	e.ks("type", it.Type)
	e.k("typeKeywords")
	e.strs(it.Keywords())
	e.k("description")
	e.strOrNull(it.Description)
	e.k("tags")
	e.strs(it.Tags)
	e.k("snippet")
	e.strOrNull(it.Snippet)
	e.k("thumbnail")
	e.strOrNull(it.Thumbnail)
	e.kn("documentation")
	e.k("extent")
	e.arr()
	if len(it.Extent) == 4 {
		e.arr()
		e.float(it.Extent[0])
		e.float(it.Extent[1])
		e.end()
		e.arr()
		e.float(it.Extent[2])
		e.float(it.Extent[3])
		e.end()
	}
	e.end()
	e.k("categories")
	e.arr()
	e.end()
	e.kn("spatialReference")
	e.kn("accessInformation")
	e.kn("licenseInfo")
	e.ks("culture", "en-us")
	if it.Properties != nil {
		e.k("properties")
		e.raw(it.Properties)
	} else if it.Service != nil && it.Service.Kind == org.FeatureServer {
		e.k("properties")
		e.open()
		e.ki("sourceLayerCount", int64(len(it.Service.Layers)))
		e.close()
	} else {
		e.kn("properties")
	}
	e.kn("advancedSettings")
	e.k("url")
	if it.URL == "" {
		e.null()
	} else {
		e.str(org.AbsURL(s.origin, it.URL))
	}
	e.kn("proxyFilter")
	e.ks("access", it.Access)
	e.ki("size", it.Size)
	e.ki("subInfo", 0)
	e.k("appCategories")
	e.arr()
	e.end()
	e.k("industries")
	e.arr()
	e.end()
	e.k("languages")
	e.arr()
	e.end()
	e.kn("largeThumbnail")
	e.kn("banner")
	e.k("screenshots")
	e.arr()
	e.end()
	e.kb("listed", false)
	if view == itemFull || view == itemUserContent {
		e.k("ownerFolder")
		e.strOrNull(it.FolderID)
	}
	if view != itemSearch {
		e.kb("protected", it.Protected)
	}
	e.ki("numComments", 0)
	e.ki("numRatings", 0)
	e.ki("avgRating", 0)
	e.ki("numViews", int64(it.NumViews))
	if view == itemGroupContent {
		e.k("groupCategories")
		e.arr()
		e.end()
	}
	if c != nil && c.user != nil && c.canEdit(it) {
		e.ks("itemControl", "admin")
	} else if c != nil && c.user != nil && s.sharedUpdate(c, it) {
		e.ks("itemControl", "update")
	}
	e.ki("scoreCompleteness", 50)
	e.kn("groupDesignations")
	e.ki("lastViewed", it.Modified)
	e.close()
}

// sharedUpdate reports whether the caller can update it through a
// shared-update group.
func (s *Server) sharedUpdate(c *call, it *org.Item) bool {
	for _, gid := range it.Groups {
		g := s.org.Group(gid)
		if g != nil && len(g.Capabilities) > 0 && g.MemberType(c.user.Username) != "none" {
			return true
		}
	}
	return false
}
