package restore

import (
	"bytes"
	"strings"
	"testing"
)

// An id and a URL cut by the scan's chunk boundary are still found, and
// a layer's URL (and one with a query) leads to its service.
func TestScanReaderAcrossChunks(t *testing.T) {
	id := "0123456789abcdef0123456789abcdef"
	svc := "https://h.example/o/arcgis/rest/services/Parcels/FeatureServer"
	var doc bytes.Buffer
	doc.WriteString(`{"a":"`)
	// The first read fills deriveOverlap+deriveChunk bytes: the id
	// starts 16 bytes before its end.
	doc.WriteString(strings.Repeat("x", deriveOverlap+deriveChunk-16-len(`{"a":"`)-len(`","itemId":"`)))
	doc.WriteString(`","itemId":"` + id + `","url":"` + strings.ReplaceAll(svc, "/", `\/`) + `\/3?f=json"}`)
	ids, urls := map[string]bool{}, map[string]bool{}
	if err := scanReader(bytes.NewReader(doc.Bytes()), func(tok []byte, isURL bool) {
		if isURL {
			urls[normURL(string(tok))] = true
		} else {
			ids[string(tok)] = true
		}
	}); err != nil {
		t.Fatal(err)
	}
	if !ids[id] || len(ids) != 1 {
		t.Errorf("ids %v, want %s", ids, id)
	}
	byURL := map[string]string{normURL(svc): "svc"}
	hit := false
	for u := range urls {
		hit = hit || urlItem(byURL, u) == "svc"
	}
	if !hit {
		t.Errorf("urls %v: none leads to %s", urls, svc)
	}
	if urlItem(byURL, normURL("https://h.example/o/arcgis/rest/services/Other/FeatureServer/0")) != "" {
		t.Error("another service's layer led to Parcels")
	}
}
