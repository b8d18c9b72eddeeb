package arcgis

import (
	"fmt"
	"slices"
	"strings"

	"github.com/agolpipe/agolpipe/sdk"
)

// filters are the user's include/exclude lists. Matching is
// case-insensitive except for owners, whose usernames are case-sensitive in
// ArcGIS. Group and folder entries may be titles or ids; Connect resolves
// group titles to ids and the listing knows folder ids and titles.
type filters struct {
	Tags, ExcludeTags         []string
	Owners, ExcludeOwners     []string
	Groups, ExcludeGroups     []string
	Folders, ExcludeFolders   []string
	Types, ExcludeTypes       []string
	ExcludeIDs                []string
	groupIDs, excludeGroupIDs map[string]bool // resolved in Connect
}

// needGroups reports whether judging an item needs its groups.
func (f *filters) needGroups() bool { return len(f.Groups) > 0 || len(f.ExcludeGroups) > 0 }

// neverBackedUp are item types no backup should copy: restoring them would
// mint live credentials, or they are derived packages the portal rebuilds.
var neverBackedUp = map[string]string{
	"API Key":             "API keys are credentials; they are never backed up",
	"Application":         "OAuth applications hold client secrets; they are never backed up",
	"Code Attachment":     "code attachments are derived from their application and rebuilt by the portal",
	"Map Area":            "offline map areas are rebuilt from their web map",
	"Replication Package": "replication packages are transient sync files",
}

// judge returns why an item is left out, or "" when it is in.
func (f *filters) judge(it *sdk.Item) string {
	if r, ok := neverBackedUp[it.Type]; ok {
		return r
	}
	if slices.Contains(it.TypeKeywords, "Map Area") && strings.HasSuffix(it.Type, "Package") || it.Type == "SQLite Geodatabase" && slices.Contains(it.TypeKeywords, "Map Area") {
		return "offline map-area packages are rebuilt from their web map"
	}
	if containsFold(f.ExcludeIDs, it.ID) {
		return "excluded by exclude_ids"
	}
	if len(f.Types) > 0 && !containsFold(f.Types, it.Type) {
		return fmt.Sprintf("type %q is not in types", it.Type)
	}
	if containsFold(f.ExcludeTypes, it.Type) {
		return fmt.Sprintf("type %q is in exclude_types", it.Type)
	}
	if len(f.Owners) > 0 && !slices.Contains(f.Owners, it.Owner) {
		return fmt.Sprintf("owner %q is not in owners", it.Owner)
	}
	if slices.Contains(f.ExcludeOwners, it.Owner) {
		return fmt.Sprintf("owner %q is in exclude_owners", it.Owner)
	}
	if len(f.Tags) > 0 && !anyFold(f.Tags, it.Tags) {
		return "has none of the tags in tags"
	}
	if t, ok := firstFold(f.ExcludeTags, it.Tags); ok {
		return fmt.Sprintf("tag %q is in exclude_tags", t)
	}
	if len(f.Folders) > 0 && !f.inFolders(f.Folders, it) {
		return "its folder is not in folders"
	}
	if len(f.ExcludeFolders) > 0 && f.inFolders(f.ExcludeFolders, it) {
		return "its folder is in exclude_folders"
	}
	if len(f.groupIDs) > 0 {
		in := false
		for _, g := range it.Groups {
			if f.groupIDs[g] {
				in = true
				break
			}
		}
		if !in {
			return "not shared with any group in groups"
		}
	}
	for _, g := range it.Groups {
		if f.excludeGroupIDs[g] {
			return "shared with a group in exclude_groups"
		}
	}
	return ""
}

func (f *filters) inFolders(list []string, it *sdk.Item) bool {
	for _, x := range list {
		switch {
		case x == "/" && it.FolderID == "":
			return true
		case it.FolderID != "" && (strings.EqualFold(x, it.FolderID) || strings.EqualFold(x, it.FolderTitle)):
			return true
		}
	}
	return false
}

func containsFold(l []string, s string) bool {
	for _, x := range l {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

func anyFold(want, have []string) bool {
	_, ok := firstFold(want, have)
	return ok
}

func firstFold(want, have []string) (string, bool) {
	for _, h := range have {
		if containsFold(want, strings.TrimSpace(h)) {
			return h, true
		}
	}
	return "", false
}
