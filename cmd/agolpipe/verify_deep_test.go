package main

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/agolpipe/agolpipe/core/report"
	"github.com/agolpipe/agolpipe/sim"
)

// rewriteArtifact replaces an artifact of the run in a local sink and
// records the new bytes in that sink's manifest.json, as if the backup
// itself had stored them: what --deep must catch, since size and sha256
// then match.
func rewriteArtifact(t *testing.T, runDir string, a report.Artifact, body []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(runDir, filepath.FromSlash(a.Path)), body, 0o644); err != nil {
		t.Fatal(err)
	}
	mf := filepath.Join(runDir, report.ManifestFile)
	b, err := os.ReadFile(mf)
	if err != nil {
		t.Fatal(err)
	}
	m, err := report.ReadManifest(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	found := false
	for i := range m.Artifacts {
		if m.Artifacts[i].Path == a.Path {
			m.Artifacts[i].Size, m.Artifacts[i].SHA256 = int64(len(body)), hex.EncodeToString(sum[:])
			found = true
		}
	}
	if !found {
		t.Fatalf("%s not in %s", a.Path, mf)
	}
	var out bytes.Buffer
	if err := report.WriteManifest(&out, m); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(mf, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// dropLastRow returns the stand-in zip b with the last line of the rows of
// layer file name (e.g. "0.jsonl") removed.
func dropLastRow(t *testing.T, b []byte, name string) []byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if f.Name == name {
			lines := strings.SplitAfter(strings.TrimSuffix(string(data), "\n"), "\n")
			data = []byte(strings.Join(lines[:len(lines)-1], ""))
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: f.Name, Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// TestVerifyDeep backs up a simulated org into a plain and a zipped local
// sink and runs `agolpipe verify --deep` through the plugins: on the intact
// run every feature service export holds the rows and attachments counted
// at export time (counts.json), read inside the zipped sink's archive too,
// and the live counts are shown beside them; rows deleted in the live
// service since are shown as drift, not a problem. Then an export that
// lost a row, a JSON document that does not parse and a zip whose entry
// fails its CRC, each recorded with matching size and sha256 (so only a
// deep check can see them), are each reported with exit 1.
func TestVerifyDeep(t *testing.T) {
	if testing.Short() {
		t.Skip("starts plugin processes")
	}
	srv, admin := startSim(t, sim.Options{Items: 12, Seed: 7, LargeFileSize: 64 << 10})
	dir := t.TempDir()
	file := twoSinkPipeline(t, srv, admin, dir, "")
	m := backup(t, file, dir)
	runDir := filepath.Join(dir, "nas", m.RunFolder)

	code, out := runCLI(t, "verify", file, "--deep")
	t.Logf("verify --deep said:\n%s", out)
	if code != exitOK {
		t.Fatalf("verify --deep of an intact run: exit %d\n%s", code, out)
	}
	// Every feature service export whose counts were recorded: matched in
	// both sinks, and its live counts shown.
	var exports []report.Artifact
	counted := map[string]bool{}
	for _, a := range m.Artifacts {
		if a.Name == "counts.json" {
			counted[a.ItemID] = true
		}
	}
	for _, a := range m.Artifacts {
		if a.ItemType == "Feature Service" && strings.HasSuffix(a.Path, ".zip") && counted[a.ItemID] {
			exports = append(exports, a)
		}
	}
	if len(exports) == 0 {
		t.Fatal("the run has no feature service export with counts.json")
	}
	for _, a := range exports {
		if n := strings.Count(out, "note: "+a.Path+": rows and attachments match the counts at export time"); n != 2 {
			t.Errorf("%s: matched in %d sinks, want 2 (nas, zipped)", a.Path, n)
		}
		if !regexp.MustCompile(`(?m)^  - item ` + a.ItemID + ` ".*" \(counted [^)]*\): layer 0 \([^)]*\): (\d+) rows at export, (\d+) now`).MatchString(out) {
			t.Errorf("no live counts for %s", a.ItemID)
		}
	}

	// Drift: the live service loses rows; the backup is still whole.
	target := exports[0]
	o := srv.Org()
	o.Mu.Lock()
	layer := o.Item(target.ItemID).Service.Layers[0]
	before := layer.RowCount()
	if layer.Definition != nil {
		o.Mu.Unlock()
		t.Skip("the layer is API-defined; drift is made on generated layers")
	}
	layer.Rows -= 3
	o.Mu.Unlock()
	code, out = runCLI(t, "verify", file, "--deep", "--sink", "nas")
	if code != exitOK {
		t.Fatalf("verify --deep after live edits: exit %d\n%s", code, out)
	}
	if !strings.Contains(out, fmt.Sprintf("%d rows at export, %d now", before, before-3)) {
		t.Errorf("the live drift of %s is not shown (%d then %d rows):\n%s", target.ItemID, before, before-3, out)
	}

	// Damage only a deep check sees.
	nb, err := os.ReadFile(filepath.Join(runDir, filepath.FromSlash(target.Path)))
	if err != nil {
		t.Fatal(err)
	}
	rewriteArtifact(t, runDir, target, dropLastRow(t, nb, "0.jsonl"))
	var js, zipArt report.Artifact
	for _, a := range m.Artifacts {
		if js.Path == "" && a.Name == "item.json" && a.ItemID != target.ItemID {
			js = a
		}
		if zipArt.Path == "" && strings.HasSuffix(a.Path, ".zip") && a.ItemID != target.ItemID && a.Exporter != "file" {
			zipArt = a
		}
	}
	if js.Path == "" || zipArt.Path == "" {
		t.Fatal("the run lacks another item.json or export zip to damage")
	}
	rewriteArtifact(t, runDir, js, []byte(`{"id": "x", "title": `))
	zb, err := os.ReadFile(filepath.Join(runDir, filepath.FromSlash(zipArt.Path)))
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(zb, []byte("\n{")) // inside a stored .jsonl entry
	if i < 0 {
		t.Fatalf("%s holds no row", zipArt.Path)
	}
	zb[i+2] ^= 0x01
	rewriteArtifact(t, runDir, zipArt, zb)

	code, out = runCLI(t, "verify", file, "--deep", "--sink", "nas", "--no-live")
	t.Logf("verify --deep of the damaged run said:\n%s", out)
	if code != exitPartial {
		t.Fatalf("verify --deep of a damaged run: exit %d, want %d\n%s", code, exitPartial, out)
	}
	for _, w := range []string{
		"3 PROBLEM(S)",
		"  - count mismatch: " + m.RunFolder + "/" + target.Path + "\n      item " + target.ItemID,
		"rows at export time, ",
		"  - invalid: " + m.RunFolder + "/" + js.Path + "\n      item " + js.ItemID,
		"JSON does not parse",
		"  - invalid: " + m.RunFolder + "/" + zipArt.Path + "\n      item " + zipArt.ItemID,
		"zip entry 0.jsonl fails its CRC-32",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("verify --deep lacks %q", w)
		}
	}
	if strings.Contains(out, "Live feature services now") {
		t.Errorf("--no-live still showed live counts:\n%s", out)
	}
}
