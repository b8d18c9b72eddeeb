package engine

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/agolpipe/agolpipe/sdk"
)

// retryingExporter fails each item's first attempt after writing into the
// sinks, in the ways a real retry leaves things behind:
//
//	"same*"  data.json and only-first.json, then a retryable error; the
//	         retry writes data.json again (other bytes)
//	"cut*"   a data.json body that ends early (the sink's Put fails midway)
//	"ok*"    data.json, once
type retryingExporter struct {
	mu       sync.Mutex
	attempts map[string]int
}

func (x *retryingExporter) Info() sdk.Info      { return sdk.Info{Kind: sdk.KindExporter, Name: "retrying"} }
func (x *retryingExporter) Schema() sdk.Schema  { return sdk.Schema{} }
func (x *retryingExporter) ItemTypes() []string { return []string{"Web Map"} }
func (x *retryingExporter) Close() error        { return nil }
func (x *retryingExporter) Configure(context.Context, sdk.ConfigureRequest) sdk.Diagnostics {
	return nil
}

func (x *retryingExporter) Export(ctx context.Context, req sdk.ExportRequest, _ sdk.Host, out sdk.ArtifactWriter) (sdk.ExportResult, error) {
	x.mu.Lock()
	x.attempts[req.Item.ID]++
	n := x.attempts[req.Item.ID]
	x.mu.Unlock()
	write := func(name string, body []byte, size int) error {
		return out.Write(ctx, sdk.Artifact{Name: name, MediaType: "application/json", Size: int64(size), Format: "JSON"}, bytes.NewReader(body))
	}
	data := content(req.Item.ID, fmt.Sprintf("data.json attempt %d", n), 5000)
	switch t := req.Item.Title; {
	case strings.HasPrefix(t, "same") && n == 1:
		if err := write("data.json", data, len(data)); err != nil {
			return sdk.ExportResult{}, err
		}
		if err := write("only-first.json", []byte(`{"attempt":1}`), 13); err != nil {
			return sdk.ExportResult{}, err
		}
		return sdk.ExportResult{}, sdk.Retryable("504 Gateway Timeout")
	case strings.HasPrefix(t, "cut") && n == 1:
		return sdk.ExportResult{}, write("data.json", data[:700], len(data))
	}
	if err := write("data.json", data, len(data)); err != nil {
		return sdk.ExportResult{}, err
	}
	return sdk.ExportResult{Status: sdk.StatusExported}, nil
}

// TestZipSinkRetriedItems: what a failed attempt wrote into a zipped sink
// is left out of the archive's listing, so the archive lists exactly what
// the plain sink beside it holds, each entry the bytes the manifest's
// sha256 names, no name twice, and `unzip -t` passes without a warning.
func TestZipSinkRetriedItems(t *testing.T) {
	items := []sdk.ListedItem{item("s1", "same one", "Web Map"), item("c1", "cut one", "Web Map"), item("o1", "ok one", "Web Map")}
	f := newFixture(t, items)
	x := &retryingExporter{attempts: map[string]int{}}
	f.opts.Exporters["Web Map"] = Exporter{Name: "retrying", Exporter: x, Format: "JSON"}
	zs, zdir := zipSinkFor(t, "zipped")
	f.opts.Sinks = append(f.opts.Sinks, zs)
	rep, err := Run(context.Background(), f.opts)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if rep.ExitCode != ExitOK {
		t.Fatalf("exit %d (%s), want 0: every item succeeds on its retry", rep.ExitCode, rep.Status)
	}
	for _, it := range rep.Items {
		if want := map[string]int{"s1": 2, "c1": 2, "o1": 1}[it.ID]; it.Attempts != want {
			t.Errorf("item %s: %d attempts, want %d", it.ID, it.Attempts, want)
		}
	}
	run := rep.RunFolder
	archive := filepath.Join(zdir, run, run+".zip")
	entries, comment := archiveEntries(t, archive)
	// The plain sink "nas" got the same run as files.
	plain := listFiles(t, filepath.Join(f.dirs[0], run))
	names := make([]string, 0, len(entries))
	for n := range entries {
		names = append(names, n)
	}
	sort.Strings(names)
	if !slices.Equal(names, plain) {
		t.Errorf("archive lists %v\nthe plain sink holds %v", names, plain)
	}
	m := readManifest(t, zdir, run)
	if len(m.Artifacts) != 3 {
		t.Errorf("manifest lists %d artifacts, want 3 (one data.json per item)", len(m.Artifacts))
	}
	for _, a := range m.Artifacts {
		if got := entries[a.Path]; got != a.SHA256 {
			t.Errorf("artifact %s: archive sha256 %q, manifest %s", a.Path, got, a.SHA256)
		}
		if want := sha(content(a.ItemID, fmt.Sprintf("data.json attempt %d", map[string]int{"s1": 2, "c1": 2, "o1": 1}[a.ItemID]), 5000)); a.SHA256 != want {
			t.Errorf("artifact %s is not the last attempt's bytes", a.Path)
		}
	}
	// s1's first data.json (replaced) and only-first.json (deleted), c1's
	// cut data.json (failed).
	if !strings.Contains(comment, "; 3 replaced, deleted or failed entries") {
		t.Errorf("archive comment %q; want it to own up to 3 unlisted entries", comment)
	}
	if bin, err := exec.LookPath("unzip"); err == nil {
		out, err := exec.Command(bin, "-t", archive).CombinedOutput()
		if err != nil || strings.Contains(string(out), "warning") {
			t.Errorf("unzip -t: %v\n%s", err, out)
		}
	} else {
		t.Log("unzip is not installed; archive/zip's reading stands alone")
	}
	if rep.Sinks[2].Outcome != "ok" {
		t.Errorf("zipped sink outcome %q, want ok", rep.Sinks[2].Outcome)
	}
}

// archiveEntries reads a zip archive and returns the sha256 of each listed
// entry, failing on a name listed twice, and the archive's comment.
func archiveEntries(t *testing.T, archive string) (map[string]string, string) {
	t.Helper()
	zr, err := zip.OpenReader(archive)
	if err != nil {
		t.Fatalf("archive: %v", err)
	}
	defer zr.Close()
	entries := map[string]string{}
	for _, fh := range zr.File {
		if strings.HasSuffix(fh.Name, "/") {
			continue // the folder entry ziprun starts an archive with
		}
		if _, dup := entries[fh.Name]; dup {
			t.Errorf("entry %s is listed twice", fh.Name)
		}
		rc, err := fh.Open()
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		if _, err := io.Copy(h, rc); err != nil {
			t.Fatalf("entry %s: %v", fh.Name, err)
		}
		rc.Close()
		entries[fh.Name] = hex.EncodeToString(h.Sum(nil))
	}
	return entries, zr.Comment
}
