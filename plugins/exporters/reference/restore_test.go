package reference_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/agolpipe/agolpipe/plugins/exporters/reference"
	"github.com/agolpipe/agolpipe/sdk"
)

// itemHost serves one item.json and nothing else (a plan of a new item
// reads no more).
type itemHost struct {
	sdk.RestoreHost
	item []byte
}

func (h itemHost) ReadArtifact(_ context.Context, name string) (io.ReadCloser, error) {
	if name != "item.json" {
		return nil, sdk.NotFound("no artifact %s", name)
	}
	return io.NopCloser(bytes.NewReader(h.item)), nil
}

// TestRestoreCannotSaysWhy: a reference item whose run holds nothing (its
// export skipped before saving, no export block for the type) says the
// export's reason; a hosted scene layer's description does not make a new
// layer, and the plan says what to do.
func TestRestoreCannotSaysWhy(t *testing.T) {
	ex := reference.New().(*reference.Exporter)
	rec, _ := json.Marshal(map[string]string{"status": "skipped", "reason": `no exporter handles item type "WMS"; add an export "WMS" block naming one`})
	res, err := ex.Restore(context.Background(), sdk.RestoreRequest{Item: sdk.Item{ID: "a1", Type: "WMS"}, ManifestRecord: rec, Mode: sdk.RestoreNew, PlanOnly: true}, itemHost{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Action != sdk.ActionCannot || !strings.Contains(res.Reason, "no exporter handles item type") {
		t.Errorf("no artifacts: %s %q, want cannot with the export's reason", res.Action, res.Reason)
	}
	item := []byte(`{"id":"s1","title":"City 3D","type":"Scene Service","typeKeywords":["Hosted Service","Scene Service"],"url":"https://tiles.arcgis.com/x/SceneServer"}`)
	req := sdk.RestoreRequest{Item: sdk.Item{ID: "s1", Type: "Scene Service"}, Mode: sdk.RestoreNew, PlanOnly: true,
		Artifacts: []sdk.RestoreArtifact{{Name: "item.json", Size: int64(len(item))}}}
	res, err = ex.Restore(context.Background(), req, itemHost{item: item})
	if err != nil {
		t.Fatal(err)
	}
	if res.Action != sdk.ActionCannot || res.Cannot != sdk.CannotNotRestorable || !strings.Contains(res.Reason, "publish it again") {
		t.Errorf("hosted scene layer as new: %s %q, want cannot saying to publish it again", res.Action, res.Reason)
	}
}
