package org

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
)

// LoadFile reads a hand-written scenario (see Load).
func LoadFile(path string) (*Org, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	o, err := Load(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return o, nil
}

// Load reads an organization from JSON: the same shape Org marshals to
// (id, name, users, groups, items...). Missing ids, seeds, dates, passwords
// and data kinds are filled in deterministically, so a scenario only says
// what matters to it. Item urls starting with "/" are served by the
// simulator (hosted services); others are external references. Services
// without a url get their hosted path when a server starts (it depends on
// the mode).
func Load(r io.Reader) (*Org, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	o := &Org{}
	if err := dec.Decode(o); err != nil {
		return nil, fmt.Errorf("decode scenario: %w", err)
	}
	h := Mix(o.Seed ^ 0x5eed)
	next := func() uint64 { h = Mix(h + 1); return h }
	hexID := func() string { return fmt.Sprintf("%016x%016x", next(), next()) }
	if o.ID == "" {
		o.ID = fmt.Sprintf("%016x", next())[:16]
	}
	if o.Name == "" {
		o.Name = "Scenario org"
	}
	if o.URLKey == "" {
		o.URLKey = "scenario"
	}
	now := RefTime.UnixMilli()
	if o.Created == 0 {
		o.Created = now - 365*day
	}
	seen := map[string]bool{}
	for i, u := range o.Users {
		if u.Username == "" {
			return nil, fmt.Errorf("users[%d]: username is required", i)
		}
		if seen[u.Username] {
			return nil, fmt.Errorf("users[%d]: duplicate username %q", i, u.Username)
		}
		seen[u.Username] = true
		if u.Role == "" {
			u.Role = RoleUser
		}
		if u.Kind == "" {
			u.Kind = map[string]string{RoleAdmin: "admin", RolePublisher: "publisher", RoleUser: "viewer"}[u.Role]
		}
		if u.Password == "" {
			u.Password = "sim-" + u.Username
		}
		if u.Privileges == nil {
			switch u.Kind {
			case "admin":
				u.Privileges = adminPrivileges
			case "custom_admin":
				u.Privileges = customAdminPrivileges
			case "publisher":
				u.Privileges = publisherPrivileges
			default:
				u.Privileges = viewerPrivileges
			}
		}
		if u.Created == 0 {
			u.Created = o.Created
		}
		if u.Modified == 0 {
			u.Modified = u.Created
		}
		for _, f := range u.Folders {
			if f.ID == "" {
				f.ID = hexID()
			}
			f.Owner = u.Username
			if f.Created == 0 {
				f.Created = u.Created
			}
		}
	}
	for i, g := range o.Groups {
		if g.ID == "" {
			g.ID = hexID()
		}
		if !seen[g.Owner] {
			return nil, fmt.Errorf("groups[%d] %q: owner %q is not a user", i, g.Title, g.Owner)
		}
		if g.Access == "" {
			g.Access = AccessOrg
		}
		if g.Capabilities == nil {
			g.Capabilities = []string{}
		}
		if g.Created == 0 {
			g.Created = o.Created
		}
		if g.Modified == 0 {
			g.Modified = g.Created
		}
	}
	o.Index()
	for i, it := range o.Items {
		if it.ID == "" {
			it.ID = hexID()
		}
		if it.Seed == 0 {
			it.Seed = next()
		}
		u := o.User(it.Owner)
		if u == nil {
			return nil, fmt.Errorf("items[%d] %q: owner %q is not a user", i, it.Title, it.Owner)
		}
		if it.Title == "" || it.Type == "" {
			return nil, fmt.Errorf("items[%d]: title and type are required", i)
		}
		if it.FolderID != "" {
			f := u.Folder(it.FolderID)
			if f == nil {
				return nil, fmt.Errorf("items[%d] %q: folder %q is not a folder of %s", i, it.Title, it.FolderID, it.Owner)
			}
			it.FolderID = f.ID
		}
		if it.Access == "" {
			it.Access = AccessPrivate
		}
		if it.Created == 0 {
			it.Created = now - 30*day
		}
		if it.Modified == 0 {
			it.Modified = it.Created
		}
		if it.Tags == nil {
			it.Tags = []string{}
		}
		if it.TypeKeywords == nil {
			it.TypeKeywords = []string{}
		}
		if it.Data == DataNone {
			switch {
			case it.Text != "":
				it.Data = DataJSON
			case it.Size > 0 && it.Service == nil && it.URL == "":
				it.Data = DataFile
			}
		}
		if it.Service != nil {
			if it.Service.Kind == "" {
				it.Service.Kind = FeatureServer
			}
			if it.Service.MaxRecordCount == 0 {
				it.Service.MaxRecordCount = 1000
			}
			if it.Service.Capabilities == "" {
				it.Service.Capabilities = "Query,Extract"
			}
			if it.Service.Name == "" {
				it.Service.Name = strings.ReplaceAll(it.Title, " ", "_")
			}
			for _, l := range it.Service.Layers {
				if l.Seed == 0 {
					l.Seed = next()
				}
				if !l.IsTable && l.Geometry == "" {
					l.Geometry = "esriGeometryPoint"
				}
				if l.LastEdit == 0 {
					l.LastEdit = it.Modified
				}
				if l.SchemaEdit == 0 {
					l.SchemaEdit = it.Created
				}
			}
		}
	}
	o.Index()
	return o, nil
}
