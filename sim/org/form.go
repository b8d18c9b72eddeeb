package org

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"time"
)

// FormPackage returns the file of a generated Survey123 form (item type
// Form): a zip as Survey123 Connect publishes it, whose text names the
// feature service the form submits to, as a restore must rewrite it:
//
//	esriinfo/<name>.info   JSON: name, displayInfo, serviceInfo {itemId, url}
//	esriinfo/<name>.xml    the XForm; <submission action="<service url>/0">
//	esriinfo/media/...     stored pseudo-random bytes filling the item's size
//
// The service is the form's first reference (its Survey2Service); base is
// the server origin relative service URLs hang off. The package is exactly
// it.Size bytes, built from the item's seed, so every download is the same
// bytes; nil when the size cannot hold it (a form given in a scenario file
// with a tiny size keeps the generic FileBlob). The caller holds o.Mu for
// reading.
func (o *Org) FormPackage(it *Item, base string) []byte {
	if it.Type != "Form" || it.Data != DataFile {
		return nil
	}
	name := strings.TrimSuffix(it.Name, ".zip")
	if name == "" {
		name = it.ID
	}
	svcID, svcURL := "", ""
	if len(it.Refs) > 0 {
		if svc := o.Item(it.Refs[0]); svc != nil {
			svcID, svcURL = svc.ID, AbsURL(base, svc.URL)
		}
	}
	info, _ := json.Marshal(map[string]any{
		"name":        name,
		"displayInfo": map[string]any{"style": map[string]any{}},
		"serviceInfo": map[string]any{"itemId": svcID, "url": svcURL},
	})
	xform := `<?xml version="1.0"?>` + "\n" +
		`<h:html xmlns="http://www.w3.org/2002/xforms" xmlns:h="http://www.w3.org/1999/xhtml"><h:head><h:title>` + xmlText(it.Title) +
		`</h:title><model><instance><` + "survey" + ` id="` + xmlText(name) + `"/></instance><submission action="` + xmlText(svcURL) +
		`/0" method="post"/></model></h:head><h:body/></h:html>` + "\n"
	build := func(fill int64) []byte {
		var b bytes.Buffer
		zw := zip.NewWriter(&b)
		mod := time.UnixMilli(it.Created).UTC()
		for _, e := range []struct {
			name string
			body []byte
		}{{"esriinfo/" + name + ".info", info}, {"esriinfo/" + name + ".xml", []byte(xform)}} {
			w, _ := zw.CreateHeader(&zip.FileHeader{Name: e.name, Method: zip.Store, Modified: mod})
			_, _ = w.Write(e.body)
		}
		w, _ := zw.CreateHeader(&zip.FileHeader{Name: "esriinfo/media/header.png", Method: zip.Store, Modified: mod})
		_, _ = io.Copy(w, Blob{Seed: it.Seed, Size: fill, Magic: "\x89PNG\r\n\x1a\n"}.Reader())
		_ = zw.Close()
		return b.Bytes()
	}
	// The entries' headers do not depend on the filler's length (stored,
	// below zip64 sizes), so the filler is the item's size less them.
	fill := it.Size - int64(len(build(0)))
	if fill < 0 || it.Size >= 1<<32 {
		return nil
	}
	return build(fill)
}

func xmlText(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '&':
			b.WriteString("&amp;")
		case '"':
			b.WriteString("&quot;")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
