// Package org is the simulated ArcGIS organization: its users, folders,
// groups and items, generated deterministically from a seed or loaded from a
// JSON scenario file. It holds no HTTP code; package sim serves it.
//
// Everything an item's JSON, data or feature rows need is derived on demand
// from compact fields and a per-item seed, so a 100,000-item org stays small
// in memory and starts in well under a second.
//
// An Org is safe for concurrent use: readers take RLock, writers Lock (see
// Org.Mu). Slices and maps reachable from an Org must not be modified
// without holding Mu for writing.
package org

import (
	"encoding/json"
	"sort"
	"sync"
	"time"
)

// Roles as ArcGIS reports them in a user's `role` field.
const (
	RoleAdmin     = "org_admin"
	RolePublisher = "org_publisher"
	RoleUser      = "org_user"
)

// Access values of items and groups.
const (
	AccessPrivate = "private"
	AccessShared  = "shared"
	AccessOrg     = "org"
	AccessPublic  = "public"
)

// Org is a simulated organization.
type Org struct {
	// Mu guards every field below and everything reachable from it.
	Mu sync.RWMutex `json:"-"`

	ID     string `json:"id"`
	Name   string `json:"name"`
	URLKey string `json:"urlKey"`
	Seed   uint64 `json:"seed"`
	// Created is the org's creation time in epoch milliseconds.
	Created int64 `json:"created"`

	Users  []*User  `json:"users"`
	Groups []*Group `json:"groups"`
	Items  []*Item  `json:"items"`
	// Apps are the registered OAuth applications (also present as items of
	// type "Application").
	Apps []*App `json:"apps,omitempty"`

	// Version increases on every write, so caches of derived data (search
	// results) know when they are stale.
	Version uint64 `json:"-"`

	items   map[string]*Item
	byOwner map[string][]*Item
	users   map[string]*User
	groups  map[string]*Group
}

// User is a member of the org. Password is the simulator's own fake test
// password; it exists so tests and the CLI can sign in.
type User struct {
	Username   string   `json:"username"`
	Password   string   `json:"password"`
	FullName   string   `json:"fullName"`
	Email      string   `json:"email"`
	Role       string   `json:"role"`
	RoleID     string   `json:"roleId,omitempty"`
	Privileges []string `json:"privileges"`
	// LicenseType is the userLicenseTypeId (creatorUT, viewerUT...).
	LicenseType string    `json:"userLicenseTypeId"`
	Created     int64     `json:"created"`
	Modified    int64     `json:"modified"`
	LastLogin   int64     `json:"lastLogin"`
	Disabled    bool      `json:"disabled,omitempty"`
	Folders     []*Folder `json:"folders,omitempty"`
	// Kind is how the generator thinks of the user ("admin", "custom_admin",
	// "publisher", "viewer"); sim.User.Role reports it.
	Kind string `json:"kind"`
}

// Folder is one of a user's folders (ArcGIS folders are one level deep).
type Folder struct {
	ID      string `json:"id"`
	Title   string `json:"title"`
	Owner   string `json:"username"`
	Created int64  `json:"created"`
}

// Group is a group of users that items are shared with.
type Group struct {
	ID          string   `json:"id"`
	Title       string   `json:"title"`
	Owner       string   `json:"owner"`
	Snippet     string   `json:"snippet"`
	Description string   `json:"description"`
	Tags        []string `json:"tags"`
	Access      string   `json:"access"`
	// Capabilities is ["updateitemcontrol"] for shared-update groups.
	Capabilities     []string `json:"capabilities"`
	IsInvitationOnly bool     `json:"isInvitationOnly"`
	IsViewOnly       bool     `json:"isViewOnly"`
	Protected        bool     `json:"protected"`
	Created          int64    `json:"created"`
	Modified         int64    `json:"modified"`
	// Admins and Members are usernames; the owner is in neither.
	Admins  []string `json:"admins"`
	Members []string `json:"members"`
}

// MemberType returns owner, admin, member or none for username.
func (g *Group) MemberType(username string) string {
	if username == "" {
		return "none"
	}
	if g.Owner == username {
		return "owner"
	}
	for _, a := range g.Admins {
		if a == username {
			return "admin"
		}
	}
	for _, m := range g.Members {
		if m == username {
			return "member"
		}
	}
	return "none"
}

// App is a registered OAuth 2.0 application.
type App struct {
	ItemID       string   `json:"itemId"`
	ClientID     string   `json:"client_id"`
	ClientSecret string   `json:"client_secret"`
	RedirectURIs []string `json:"redirect_uris"`
}

// Resource is one file in an item's resources.
type Resource struct {
	Path    string `json:"resource"`
	Size    int64  `json:"size"`
	Created int64  `json:"created"`
	Access  string `json:"access"`
	// Body holds bytes of resources written through the API; generated
	// resources have none and are derived from the item seed.
	Body []byte `json:"-"`
}

// Relationship is an item-to-item relationship (origin -> destination).
type Relationship struct {
	Type string `json:"type"`
	// To is the destination item id.
	To string `json:"to"`
}

// DataKind says what /data of an item returns.
type DataKind uint8

const (
	// DataNone: empty body.
	DataNone DataKind = iota
	// DataJSON: a JSON document derived from the item (web map, app...).
	DataJSON
	// DataFile: file bytes, generated deterministically from the seed.
	DataFile
	// DataStored: bytes written through the API (Item.Body).
	DataStored
)

// Item is one item of the org.
type Item struct {
	ID           string   `json:"id"`
	Owner        string   `json:"owner"`
	FolderID     string   `json:"ownerFolder,omitempty"`
	Title        string   `json:"title"`
	Name         string   `json:"name,omitempty"`
	Type         string   `json:"type"`
	TypeKeywords []string `json:"typeKeywords"`
	Tags         []string `json:"tags"`
	Snippet      string   `json:"snippet,omitempty"`
	Description  string   `json:"description,omitempty"`
	Created      int64    `json:"created"`
	Modified     int64    `json:"modified"`
	Access       string   `json:"access"`
	// Groups are ids of groups the item is shared with.
	Groups    []string `json:"groups,omitempty"`
	Size      int64    `json:"size"`
	URL       string   `json:"url,omitempty"`
	Protected bool     `json:"protected,omitempty"`
	// Thumbnail is the relative path ("thumbnail/thumbnail.png") or "".
	Thumbnail   string `json:"thumbnail,omitempty"`
	HasMetadata bool   `json:"hasMetadata,omitempty"`
	NumViews    int    `json:"numViews"`
	// Extent is [xmin, ymin, xmax, ymax] in WGS84, or nil.
	Extent []float64 `json:"extent,omitempty"`

	Data DataKind `json:"dataKind"`
	// Body is the stored data of DataStored items, and the JSON text of
	// DataJSON items written through the API (nil = derive from the item).
	Body []byte `json:"-"`
	// ThumbnailBody and MetadataBody are a thumbnail and metadata.xml
	// uploaded through the API (nil = the generated ones).
	ThumbnailBody []byte `json:"-"`
	MetadataBody  []byte `json:"-"`
	// Properties is the item's properties JSON object as written through
	// addItem/update (nil: none, or derived, as a feature service's).
	Properties json.RawMessage `json:"properties,omitempty"`
	// Text is JSON data given in a scenario file.
	Text      string         `json:"text,omitempty"`
	Resources []Resource     `json:"resources,omitempty"`
	Related   []Relationship `json:"related,omitempty"`
	// Refs are ids of items this one points at through its data (web map ->
	// services, app -> map). The generator keeps them to build data JSON.
	Refs    []string `json:"refs,omitempty"`
	Service *Service `json:"service,omitempty"`

	// Seed drives all generated bytes and rows of the item.
	Seed uint64 `json:"seed"`

	// Temp marks export results; Deleted items sit in the recycle bin.
	Temp    bool  `json:"-"`
	Deleted bool  `json:"-"`
	Export  *Job  `json:"-"`
	TimeMod int64 `json:"-"`
}

// Job is an asynchronous export or publish job attached to its result item.
type Job struct {
	ID      string
	Type    string // export, publish, createService
	Format  string
	Source  string // source item id
	Started time.Time
	Ready   time.Time
	// Fail makes the job end in "failed" with this message; Hang keeps it
	// processing forever.
	Fail string
	Hang bool
	// Layers are the source layers (and rows) recorded into the result.
	Layers []ExportLayer
	// TileLevels are the cache levels an exportTiles job packs.
	TileLevels []int
}

// ExportLayer is one layer recorded in an export result.
type ExportLayer struct {
	ID       int    `json:"id"`
	Name     string `json:"name"`
	IsTable  bool   `json:"isTable"`
	Geometry string `json:"geometryType,omitempty"`
	Rows     int    `json:"rows"`
	// Fields are the layer's field definitions (a File Geodatabase keeps
	// names, types, aliases, lengths and domains).
	Fields []map[string]any `json:"fields,omitempty"`
	// Attachments is the number of attachments the result carries for the
	// layer; HasAttachments says the layer has an attachment table.
	HasAttachments bool `json:"hasAttachments,omitempty"`
	Attachments    int  `json:"attachments,omitempty"`
	// Parent is, for a related table, the layer it hangs off (the
	// geodatabase's relationship class).
	Parent *int `json:"parentLayerId,omitempty"`
}

// Keywords returns the typeKeywords the portal shows: the stored ones, plus
// "Metadata" when the item has metadata, which ArcGIS adds itself when
// metadata is saved (clients such as the ArcGIS API for Python test it
// before asking for metadata.xml).
func (it *Item) Keywords() []string {
	if !it.HasMetadata {
		return it.TypeKeywords
	}
	for _, k := range it.TypeKeywords {
		if k == "Metadata" {
			return it.TypeKeywords
		}
	}
	return append(append(make([]string, 0, len(it.TypeKeywords)+1), it.TypeKeywords...), "Metadata")
}

// Index rebuilds the lookup maps; call it after changing Items, Users or
// Groups wholesale (Generate and Load do).
func (o *Org) Index() {
	o.items = make(map[string]*Item, len(o.Items))
	o.byOwner = make(map[string][]*Item, len(o.Users))
	for _, it := range o.Items {
		o.items[it.ID] = it
		o.byOwner[it.Owner] = append(o.byOwner[it.Owner], it)
	}
	for _, list := range o.byOwner {
		sort.SliceStable(list, func(i, j int) bool { return list[i].Created < list[j].Created })
	}
	o.users = make(map[string]*User, len(o.Users))
	for _, u := range o.Users {
		o.users[u.Username] = u
	}
	o.groups = make(map[string]*Group, len(o.Groups))
	for _, g := range o.Groups {
		o.groups[g.ID] = g
	}
}

// Item returns the item with id, or nil. Deleted items are returned too;
// callers check Deleted. The caller holds Mu.
func (o *Org) Item(id string) *Item { return o.items[id] }

// User returns the user named username, or nil. The caller holds Mu.
func (o *Org) User(username string) *User { return o.users[username] }

// Group returns the group with id, or nil. The caller holds Mu.
func (o *Org) Group(id string) *Group { return o.groups[id] }

// AddItem appends it and indexes it. The caller holds Mu for writing.
func (o *Org) AddItem(it *Item) {
	o.Items = append(o.Items, it)
	o.items[it.ID] = it
	o.byOwner[it.Owner] = append(o.byOwner[it.Owner], it)
	o.Version++
}

// AddGroup appends g and indexes it. The caller holds Mu for writing.
func (o *Org) AddGroup(g *Group) {
	o.Groups = append(o.Groups, g)
	o.groups[g.ID] = g
	o.Version++
}

// Folder returns the folder of user u with the id or title, or nil.
func (u *User) Folder(idOrTitle string) *Folder {
	for _, f := range u.Folders {
		if f.ID == idOrTitle || f.Title == idOrTitle {
			return f
		}
	}
	return nil
}

// IsAdmin reports whether the user may view and manage everyone's content
// (a full org admin or a custom role holding the admin privileges).
func (u *User) IsAdmin() bool {
	if u == nil {
		return false
	}
	if u.Role == RoleAdmin && u.RoleID == "" {
		return true
	}
	return u.HasPrivilege("portal:admin:viewItems")
}

// HasPrivilege reports whether the user holds privilege p.
func (u *User) HasPrivilege(p string) bool {
	for _, x := range u.Privileges {
		if x == p {
			return true
		}
	}
	return false
}

// GroupsOf returns the groups username belongs to (any member type), in org
// order. The caller holds Mu.
func (o *Org) GroupsOf(username string) []*Group {
	var out []*Group
	for _, g := range o.Groups {
		if g.MemberType(username) != "none" {
			out = append(out, g)
		}
	}
	return out
}

// CanView reports whether u (nil = anonymous) may see the item.
// memberOf is the set of group ids u belongs to (may be nil).
func CanView(u *User, it *Item, memberOf map[string]bool) bool {
	if it.Deleted {
		return false
	}
	if it.Access == AccessPublic {
		return true
	}
	if u == nil {
		return false
	}
	if u.Username == it.Owner || u.IsAdmin() {
		return true
	}
	if it.Access == AccessOrg {
		return true
	}
	for _, g := range it.Groups {
		if memberOf[g] {
			return true
		}
	}
	return false
}

// CanEdit reports whether u may change or delete the item.
func CanEdit(u *User, it *Item) bool {
	return u != nil && (u.Username == it.Owner || (u.IsAdmin() && u.HasPrivilege("portal:admin:updateItems")) || (u.Role == RoleAdmin && u.RoleID == ""))
}

// MemberSet returns the ids of the groups username belongs to.
func (o *Org) MemberSet(username string) map[string]bool {
	if username == "" {
		return nil
	}
	m := map[string]bool{}
	for _, g := range o.Groups {
		if g.MemberType(username) != "none" {
			m[g.ID] = true
		}
	}
	return m
}

// Live returns the items not in the recycle bin, sorted by id for stable
// output. The caller holds Mu.
func (o *Org) Live() []*Item {
	out := make([]*Item, 0, len(o.Items))
	for _, it := range o.Items {
		if !it.Deleted {
			out = append(out, it)
		}
	}
	return out
}

// ItemsOf returns the live items owned by username in folder (""
// = root; "*" = everywhere), in the order they were added. The caller holds
// Mu. After a change of owner, call Index.
func (o *Org) ItemsOf(username, folder string) []*Item {
	var out []*Item
	for _, it := range o.byOwner[username] {
		if it.Deleted || it.Owner != username {
			continue
		}
		if folder == "*" || it.FolderID == folder {
			out = append(out, it)
		}
	}
	return out
}
