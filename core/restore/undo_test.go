package restore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/sinktest"
)

func put(t *testing.T, s sdk.Sink, p string, v any) {
	t.Helper()
	b, _ := json.Marshal(v)
	if _, err := s.Put(context.Background(), sdk.PutRequest{Path: p, Size: int64(len(b)), Body: bytes.NewReader(b)}); err != nil {
		t.Fatal(err)
	}
}

// A restore that stopped before writing restore.json can still be undone:
// its safety copies are found in its folder.
func TestLoadReportWithoutRestoreJSON(t *testing.T) {
	sink := sinktest.NewMemSink()
	sc := SafetyCopy{ItemID: "abc", Title: "Parcels", Type: "Feature Service", Folder: SafetyFolder("r1", "abc")}
	put(t, sink, sc.Folder+"/"+SafetyFile, sc)
	put(t, sink, SafetyFolder("r2", "zzz")+"/"+SafetyFile, SafetyCopy{ItemID: "zzz"}) // another restore's
	rep, err := LoadReport(context.Background(), sink, "r1")
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Safety) != 1 || rep.Safety[0].ItemID != "abc" || len(rep.Warnings) == 0 {
		t.Errorf("rebuilt report: %+v", rep)
	}
	if _, err := LoadReport(context.Background(), sink, "r3"); !errors.Is(err, ErrNoRestore) {
		t.Errorf("unknown restore: %v", err)
	}
	if _, err := LoadReport(context.Background(), sink, "../r1"); err == nil {
		t.Error("a restore id with a path was accepted")
	}
}

// A safety copy artifact that is not as safety.json records fails its
// read at the end, so a restorer never completes a put-back with it.
func TestSafetyHostRefusesChangedCopy(t *testing.T) {
	sink := sinktest.NewMemSink()
	body := []byte(`{"operationalLayers":[]}`)
	sc := &SafetyCopy{ItemID: "m1", Folder: SafetyFolder("r1", "m1"),
		Artifacts: []SafetyArtifact{{Name: "data.json", Size: int64(len(body)), SHA256: strings.Repeat("0", 64)}}}
	if _, err := sink.Put(context.Background(), sdk.PutRequest{Path: sc.Folder + "/data.json", Size: int64(len(body)), Body: bytes.NewReader(body)}); err != nil {
		t.Fatal(err)
	}
	h := &safetyHost{o: &UndoOptions{Sink: sink}, sc: sc}
	rc, err := h.ReadArtifact(context.Background(), "data.json")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := io.ReadAll(rc); err == nil || sdk.KindOf(err) != sdk.KindPermanent {
		t.Errorf("a copy whose sha256 differs read without a permanent error: %v", err)
	}
}
