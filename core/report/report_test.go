package report

import (
	"bytes"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agolpipe/agolpipe/sdk"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// sampleRun is a deterministic run with one item of every result.
func sampleRun() *Run {
	t0 := time.Date(2025, 3, 7, 4, 5, 6, 0, time.UTC)
	item := func(id, title, typ string, st sdk.ExportStatus, reason, kind string) Item {
		return Item{ID: id, Title: title, Type: typ, Owner: "gis_admin", Folder: "Public Works", Created: t0.AddDate(-1, 0, 0),
			Modified: t0.AddDate(0, -1, 0), Access: "org", Size: 2048, Status: st, Reason: reason, ErrorKind: kind, Exporter: "arcgis"}
	}
	r := &Run{SchemaVersion: SchemaVersion, AgolpipeVersion: "1.2.3", RunID: "r1", RunFolder: "PROD_2025-03-07_04-05-06",
		Pipeline: Pipeline{File: "nightly.hcl", SHA256: "abc123"},
		Source:   Source{Type: "arcgis", Name: "prod", PortalURL: "https://example.maps.arcgis.com", OrgName: "City of Example", ItemCount: 6, Admin: true},
		Started:  t0, Finished: t0.Add(83 * time.Minute), Status: StatusPartial, ExitCode: 1,
		Counts: Counts{Discovered: 6, Exported: 2, Partial: 1, Failed: 2, Excluded: 1, Artifacts: 4, Bytes: 3 << 20},
		Sinks: []Sink{
			{Name: "nas", Type: "local", Location: "/mnt/gis", Required: true, Layout: "type", Outcome: "ok", Stored: 4, Bytes: 3 << 20, Reports: true, RunPath: "/mnt/gis/PROD_2025-03-07_04-05-06"},
			{Name: "cloud", Type: "s3", Location: "s3://bucket/backups", Layout: "type", Outcome: "incomplete", Stored: 3, Missed: 1, Bytes: 2 << 20, Error: "503 Slow Down", RunPath: "s3://bucket/backups/PROD_2025-03-07_04-05-06"},
		},
		Warnings: []string{`sink "cloud" (optional) missed 1 artifact`},
	}
	r.Sinks[0].Retention = &Retention{Kept: 3, Objects: 12, Bytes: 5 << 20, Deleted: []PrunedRun{
		{Folder: "PROD_2024-11-30_04-05-06", Started: t0.AddDate(0, -3, -7), Status: StatusSuccess, Reason: "older than delete_after (90d) and not kept by a keep rule"}}}
	r.Sinks[1].Retention = &Retention{Skipped: "this sink missed artifacts of the run, so it does not hold a complete backup"}
	a := item("a1", "Parks", "Feature Service", sdk.StatusExported, "", "")
	a.Dependencies = []string{"d1", "d2"}
	a.UsedBy = []string{"w1"}
	w := item("w1", "=Formula Map", "Web Map", sdk.StatusExported, "", "")
	w.Warnings = []string{"layer 3 refers to a deleted service"}
	p := item("p1", "Trails", "Feature Service", sdk.StatusPartial, "exported as Shapefile; File Geodatabase export is turned off for this layer", "")
	f1 := item("f1", "Hydrants", "Feature Service", sdk.StatusFailed, "503 Service Unavailable (after 4 attempts)", "retryable")
	f2 := item("f2", "Old Map", "Web Map", sdk.StatusFailed, "item not found", "not found")
	x := item("k1", "App key", "API Key", sdk.StatusExcluded, "API keys are never backed up", "")
	x.Size, x.Folder = -1, ""
	r.Items = []Item{a, w, p, f1, f2, x}
	r.Artifacts = []Artifact{{Name: "data.zip", ItemID: "a1", ItemType: "Feature Service", Exporter: "arcgis", Size: 10, SHA256: "00",
		Sinks: []SinkOutcome{{Sink: "nas", Path: "Feature Service/Parks_a1.zip", Status: Stored}, {Sink: "cloud", Path: "Feature Service/Parks_a1.zip", Status: Missed, Error: "503"}}}}
	return r
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from golden file (run go test -update to accept):\n%s", name, got)
	}
}

func TestResultsGolden(t *testing.T) {
	var b bytes.Buffer
	if err := WriteResults(&b, sampleRun()); err != nil {
		t.Fatal(err)
	}
	golden(t, "Results.txt", b.Bytes())
	// Structure checks that hold whatever the golden file says.
	s := b.String()
	for _, want := range []string{"PARTIAL (exit code 1)", "Transient errors after every retry (1)", HintFor("retryable"), "Item or file not found (1)", "API keys are never backed up", "cloud (s3, optional): INCOMPLETE", "Retention: deleted 1 run(s), 12 object(s), 5.0 MiB; kept 3 run(s)", "PROD_2024-11-30_04-05-06", "Retention: not applied: this sink missed"} {
		if !strings.Contains(s, want) {
			t.Errorf("Results.txt lacks %q", want)
		}
	}
}

func TestInventoryGolden(t *testing.T) {
	var b bytes.Buffer
	if err := WriteInventory(&b, sampleRun()); err != nil {
		t.Fatal(err)
	}
	golden(t, "Inventory.csv", b.Bytes())
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 1+6 {
		t.Fatalf("%d rows, want header + 6 items", len(lines))
	}
	if !strings.Contains(b.String(), "'=Formula Map") {
		t.Error("formula title not defused")
	}
}

func TestManifestRoundTripAndForSink(t *testing.T) {
	r := sampleRun()
	var b bytes.Buffer
	if err := WriteManifest(&b, r.ForSink("nas")); err != nil {
		t.Fatal(err)
	}
	back, err := ReadManifest(&b)
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Artifacts) != 1 || back.Artifacts[0].Path != "Feature Service/Parks_a1.zip" || back.Status != StatusPartial || len(back.Items) != 6 {
		t.Fatalf("round trip lost data: %+v", back)
	}
	if got := r.ForSink("cloud").Artifacts; len(got) != 0 {
		t.Errorf("cloud manifest lists an artifact it does not hold: %+v", got)
	}
	if _, err := ReadManifest(strings.NewReader(`{"schema_version": 99}`)); err == nil || !strings.Contains(err.Error(), "newer agolpipe") {
		t.Errorf("future schema accepted: %v", err)
	}
}

func TestLogRedacts(t *testing.T) {
	secrets := []string{`pa"ss\word`, "tok3n-abcdef", "tok3n"}
	for _, format := range []string{"text", "json"} {
		l, err := NewLog(format, secrets, nil)
		if err != nil {
			t.Fatal(err)
		}
		l.Logger().Info("signing in", "password", `pa"ss\word`, "url", "https://x/?token=tok3n-abcdef")
		l.Writer().Write([]byte("plugin said tok3n\n"))
		rd, n, err := l.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rd)
		if int64(len(b)) != n || n == 0 {
			t.Fatalf("snapshot %d bytes, size %d", len(b), n)
		}
		s := string(b)
		if strings.Contains(s, "tok3n") || strings.Contains(s, "ss\\") || strings.Contains(s, "ss\\\\word") {
			t.Errorf("%s log leaks a secret:\n%s", format, s)
		}
		if strings.Count(s, Redacted) < 3 {
			t.Errorf("%s log: expected 3 redactions:\n%s", format, s)
		}
		if err := l.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := l.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
	}
	if _, err := NewLog("xml", nil, nil); err == nil {
		t.Error("unknown format accepted")
	}
}

func TestBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 3 << 20: "3.0 MiB", 1536 << 20: "1.5 GiB"} {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
}
