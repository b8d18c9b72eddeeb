package engine

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/agolpipe/agolpipe/sdk"
)

// resumingExporter writes data.json whose first download breaks half-way,
// then writes it again in full, as exportkit's Save does when a connection
// is reset mid-body.
type resumingExporter struct{ fakeExporter }

func (r *resumingExporter) Export(ctx context.Context, req sdk.ExportRequest, h sdk.Host, out sdk.ArtifactWriter) (sdk.ExportResult, error) {
	body := content(req.Item.ID, "data.json", 1000)
	a := sdk.Artifact{Name: "data.json", MediaType: "application/json", Size: int64(len(body))}
	broken := io.MultiReader(bytes.NewReader(body[:400]), errReader{sdk.Retryable("connection reset by peer")})
	if err := out.Write(ctx, a, broken); err == nil {
		return sdk.ExportResult{}, errors.New("a broken body was stored")
	}
	if err := out.Write(ctx, a, bytes.NewReader(body)); err != nil {
		return sdk.ExportResult{}, err
	}
	// A second artifact of the same name is still told apart.
	if err := out.Write(ctx, a, bytes.NewReader(body)); err != nil {
		return sdk.ExportResult{}, err
	}
	return sdk.ExportResult{Status: sdk.StatusExported}, nil
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// TestRewrittenArtifactKeepsItsName: an artifact whose first write stored
// nothing keeps its name when written again (it was "<name>_2", so a backup
// with a reset mid-download differed from a clean one).
func TestRewrittenArtifactKeepsItsName(t *testing.T) {
	f := newFixture(t, []sdk.ListedItem{item("w1", "ok", "Web Map")})
	f.opts.Exporters["Web Map"] = Exporter{Name: "fakeexp", Exporter: &resumingExporter{}, Format: "JSON"}
	rep, err := Run(context.Background(), f.opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Items[0].Status != sdk.StatusExported || len(rep.Artifacts) != 2 {
		t.Fatalf("item %+v, artifacts %+v", rep.Items[0], rep.Artifacts)
	}
	first, second := rep.Artifacts[0].Sinks[0].Path, rep.Artifacts[1].Sinks[0].Path
	if strings.Contains(first, "_2") {
		t.Errorf("rewritten artifact stored as %q", first)
	}
	if second == first {
		t.Errorf("two artifacts named data.json share the path %q", first)
	}
	noTempFiles(t, f.dirs...)
}
