package survey

import (
	"archive/zip"
	"bytes"
	"hash/crc32"
	"io"
	"strings"
	"testing"

	"github.com/agolpipe/agolpipe/sdk"
)

// rewriteZip rewrites the text of a form package (nested spreadsheet
// included) and nothing else: binary entries and entries it cannot read
// are copied byte for byte, the latter reported; the result is the same
// bytes every time, and a package naming nothing to rewrite is unchanged.
func TestRewriteZip(t *testing.T) {
	const oldID, newID = "0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"
	oldURL, newURL := "https://a.example/arcgis/rest/services/S/FeatureServer", "https://b.example/arcgis/rest/services/S_1/FeatureServer"
	var xlsx bytes.Buffer
	xw := zip.NewWriter(&xlsx)
	w, _ := xw.Create("xl/sharedStrings.xml")
	io.WriteString(w, "<sst><si><t>"+oldURL+"</t></si></sst>")
	xw.Close()
	bin := []byte("\x89PNG " + oldID) // binary: never rewritten
	odd := []byte(`{"serviceInfo":{"itemId":"` + oldID + `"}}`)
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, e := range []struct {
		name string
		body []byte
	}{{"esriinfo/s.info", []byte(`{"serviceInfo":{"itemId":"` + oldID + `","url":"` + oldURL + `"}}`)}, {"esriinfo/s.xlsx", xlsx.Bytes()}, {"esriinfo/media/a.png", bin}} {
		w, _ := zw.CreateHeader(&zip.FileHeader{Name: e.name, Method: zip.Deflate})
		w.Write(e.body)
	}
	// An entry in a compression method Go cannot read (99, AES in WinZip).
	rw, _ := zw.CreateRaw(&zip.FileHeader{Name: "esriinfo/odd.json", Method: 99, CRC32: crc32.ChecksumIEEE(odd),
		CompressedSize64: uint64(len(odd)), UncompressedSize64: uint64(len(odd))})
	rw.Write(odd)
	zw.Close()
	in := b.Bytes()

	rewrite := func(remap map[string]string) ([]byte, bool, []string) {
		zr, err := zip.NewReader(bytes.NewReader(in), int64(len(in)))
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		var kept []string
		changed, err := rewriteZip(zr, &out, sdk.Remapper(remap), "", &kept)
		if err != nil {
			t.Fatal(err)
		}
		return out.Bytes(), changed, kept
	}
	remap := map[string]string{oldID: newID, oldURL: newURL}
	out, changed, kept := rewrite(remap)
	again, _, _ := rewrite(remap)
	if !changed || !bytes.Equal(out, again) {
		t.Fatalf("changed %v, same bytes twice %v", changed, bytes.Equal(out, again))
	}
	if strings.Join(kept, ",") != "esriinfo/odd.json" {
		t.Errorf("kept %v, want the entry in method 99", kept)
	}
	zr, err := zip.NewReader(bytes.NewReader(out), int64(len(out)))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]byte{}
	for _, f := range zr.File {
		if f.Method == 99 {
			r, _ := f.OpenRaw()
			got[f.Name], _ = io.ReadAll(r)
			continue
		}
		r, err := f.Open()
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		got[f.Name], _ = io.ReadAll(r)
		r.Close()
	}
	if s := string(got["esriinfo/s.info"]); !strings.Contains(s, newID) || !strings.Contains(s, newURL) || strings.Contains(s, oldID) {
		t.Errorf(".info not rewritten: %s", s)
	}
	inner, err := zip.NewReader(bytes.NewReader(got["esriinfo/s.xlsx"]), int64(len(got["esriinfo/s.xlsx"])))
	if err != nil {
		t.Fatal(err)
	}
	r, _ := inner.File[0].Open()
	if s, _ := io.ReadAll(r); !strings.Contains(string(s), newURL) {
		t.Errorf("the spreadsheet's strings not rewritten: %s", s)
	}
	if !bytes.Equal(got["esriinfo/media/a.png"], bin) || !bytes.Equal(got["esriinfo/odd.json"], odd) {
		t.Errorf("binary or unreadable entries changed")
	}
	if _, changed, _ := rewrite(map[string]string{"ffffffffffffffffffffffffffffffff": newID}); changed {
		t.Error("a package naming nothing of the remap table changed")
	}
}
