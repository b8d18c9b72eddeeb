package arcgis

import (
	"strings"
	"testing"

	"github.com/agolpipe/agolpipe/sdk"
)

func TestFilterJudge(t *testing.T) {
	item := sdk.Item{ID: "a1", Type: "Web Map", Owner: "Jdoe", Tags: []string{"Parks", "public"}, FolderID: "f1", FolderTitle: "Maps", Groups: []string{"g1"}}
	tests := []struct {
		name string
		f    filters
		it   sdk.Item
		want string // substring of the reason; "" = included
	}{
		{"no filters", filters{}, item, ""},
		{"api key never", filters{}, sdk.Item{ID: "k", Type: "API Key"}, "credentials"},
		{"oauth app never", filters{}, sdk.Item{ID: "k", Type: "Application"}, "OAuth"},
		{"map area package", filters{}, sdk.Item{ID: "k", Type: "Vector Tile Package", TypeKeywords: []string{"Map Area"}}, "map-area"},
		{"exclude id", filters{ExcludeIDs: []string{"A1"}}, item, "exclude_ids"},
		{"types in", filters{Types: []string{"web map"}}, item, ""},
		{"types out", filters{Types: []string{"Feature Service"}}, item, "not in types"},
		{"exclude types", filters{ExcludeTypes: []string{"WEB MAP"}}, item, "exclude_types"},
		{"owners case-sensitive", filters{Owners: []string{"jdoe"}}, item, "not in owners"},
		{"owners", filters{Owners: []string{"Jdoe"}}, item, ""},
		{"exclude owners", filters{ExcludeOwners: []string{"Jdoe"}}, item, "exclude_owners"},
		{"tags any, case-insensitive", filters{Tags: []string{"parks", "x"}}, item, ""},
		{"tags none", filters{Tags: []string{"roads"}}, item, "none of the tags"},
		{"exclude tags", filters{ExcludeTags: []string{"PUBLIC"}}, item, "exclude_tags"},
		{"folder by title", filters{Folders: []string{"maps"}}, item, ""},
		{"folder by id", filters{Folders: []string{"f1"}}, item, ""},
		{"folder root only", filters{Folders: []string{"/"}}, item, "not in folders"},
		{"root item in root", filters{Folders: []string{"/"}}, sdk.Item{ID: "r", Type: "PDF"}, ""},
		{"exclude folder", filters{ExcludeFolders: []string{"Maps"}}, item, "exclude_folders"},
		{"groups", filters{groupIDs: map[string]bool{"g1": true}}, item, ""},
		{"groups miss", filters{groupIDs: map[string]bool{"g2": true}}, item, "not shared"},
		{"exclude groups", filters{excludeGroupIDs: map[string]bool{"g1": true}}, item, "exclude_groups"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.f.judge(&tc.it)
			if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
				t.Fatalf("judge = %q, want %q", got, tc.want)
			}
		})
	}
}
