package sdk

import "testing"

func TestRemapJSON(t *testing.T) {
	remap := map[string]string{
		"aaaa1111aaaa1111aaaa1111aaaa1111":                             "bbbb2222bbbb2222bbbb2222bbbb2222",
		"https://a.example/arcgis/rest/services/Roads/FeatureServer":   "https://b.example/arcgis/rest/services/Roads/FeatureServer",
		"https://a.example/arcgis/rest/services/Roads/FeatureServer/2": "https://b.example/arcgis/rest/services/Roads_1/FeatureServer/0",
	}
	in := `{"operationalLayers":[{"itemId":"aaaa1111aaaa1111aaaa1111aaaa1111","url":"https://a.example/arcgis/rest/services/Roads/FeatureServer/0"},` +
		`{"url":"https://a.example/arcgis/rest/services/Roads/FeatureServer/2"},{"url":"https:\/\/a.example\/arcgis\/rest\/services\/Roads\/FeatureServer\/1"}],"other":"cccc"}`
	want := `{"operationalLayers":[{"itemId":"bbbb2222bbbb2222bbbb2222bbbb2222","url":"https://b.example/arcgis/rest/services/Roads/FeatureServer/0"},` +
		`{"url":"https://b.example/arcgis/rest/services/Roads_1/FeatureServer/0"},{"url":"https:\/\/b.example\/arcgis\/rest\/services\/Roads\/FeatureServer\/1"}],"other":"cccc"}`
	if got := string(RemapJSON([]byte(in), remap)); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}
