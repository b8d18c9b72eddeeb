package org

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"
)

// A generated form's file is a form package: a valid zip of exactly the
// item's size whose .info and XForm name the form's survey service, the
// same bytes every time.
func TestFormPackageNamesItsService(t *testing.T) {
	o := Generate(GenOptions{Items: 300, Seed: 7})
	forms := 0
	for _, it := range o.Items {
		if it.Type != "Form" {
			continue
		}
		forms++
		svc := o.Item(it.Refs[0])
		pkg := o.FormPackage(it, "https://sim.example")
		if int64(len(pkg)) != it.Size || !bytes.Equal(pkg, o.FormPackage(it, "https://sim.example")) {
			t.Fatalf("form %s: package of %d bytes, item size %d (or not the same twice)", it.ID, len(pkg), it.Size)
		}
		zr, err := zip.NewReader(bytes.NewReader(pkg), int64(len(pkg)))
		if err != nil {
			t.Fatalf("form %s: %v", it.ID, err)
		}
		text := map[string]string{}
		for _, f := range zr.File {
			rc, err := f.Open()
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(rc) // checks the CRC
			rc.Close()
			if err != nil {
				t.Fatalf("form %s entry %s: %v", it.ID, f.Name, err)
			}
			text[f.Name] = string(b)
		}
		name := strings.TrimSuffix(it.Name, ".zip")
		var info struct {
			ServiceInfo struct {
				ItemID string `json:"itemId"`
				URL    string `json:"url"`
			} `json:"serviceInfo"`
		}
		if err := json.Unmarshal([]byte(text["esriinfo/"+name+".info"]), &info); err != nil {
			t.Fatalf("form %s: .info: %v (%v)", it.ID, err, text)
		}
		want := AbsURL("https://sim.example", svc.URL)
		if info.ServiceInfo.ItemID != svc.ID || info.ServiceInfo.URL != want || !strings.Contains(text["esriinfo/"+name+".xml"], `action="`+want+`/0"`) {
			t.Errorf("form %s names service %+v, xform %q; want %s %s", it.ID, info.ServiceInfo, text["esriinfo/"+name+".xml"], svc.ID, want)
		}
	}
	if forms == 0 {
		t.Fatal("no forms generated")
	}
}
