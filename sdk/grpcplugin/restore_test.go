package grpcplugin_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/grpcplugin"
	"github.com/agolpipe/agolpipe/sdk/grpcplugin/grpctest"
)

// restoringExporter restores by reading "data.json" from the host and
// uploading it to the portal through the host, as a real restorer does.
type restoringExporter struct{ grpctest.FakeExporter }

func (e *restoringExporter) RestoreItemTypes() []string { return []string{"Web Map", "PDF"} }

func (e *restoringExporter) Restore(ctx context.Context, req sdk.RestoreRequest, host sdk.RestoreHost) (sdk.RestoreResult, error) {
	a, ok := req.Artifact("data.json")
	if !ok {
		return sdk.RestoreResult{Action: sdk.ActionCannot, Cannot: sdk.CannotMissingArtifact, Reason: "no data.json in the run"}, nil
	}
	if req.PlanOnly {
		return sdk.RestoreResult{Action: sdk.ActionCreate}, nil
	}
	rc, err := host.ReadArtifact(ctx, a.Name)
	if err != nil {
		return sdk.RestoreResult{}, err
	}
	defer rc.Close()
	resp, err := host.Portal(ctx, sdk.PortalRequest{URL: "content/users/" + req.Owner + "/addItem",
		Form: map[string][]string{"title": {req.Item.Title}, "mark": {req.Mark}, "remap": {req.Remap["old"]}},
		File: &sdk.PortalFile{Field: "file", Name: "data.json", ContentType: "application/json", Size: a.Size, Body: rc}})
	if err != nil {
		return sdk.RestoreResult{}, err
	}
	defer resp.Body.Close()
	id, _ := io.ReadAll(resp.Body)
	return sdk.RestoreResult{Action: sdk.ActionCreate, NewItemID: string(id), Remap: map[string]string{req.Item.ID: string(id)}, Warnings: []string{"w"}, Uncompared: true}, nil
}

// restoreHost serves artifacts from memory and records uploads.
type restoreHost struct {
	recordingHost
	artifacts map[string][]byte
	corrupt   string

	mu      sync.Mutex
	uploads []string
}

func (h *restoreHost) ReadArtifact(_ context.Context, name string) (io.ReadCloser, error) {
	b, ok := h.artifacts[name]
	if !ok {
		return nil, &sdk.Error{Kind: sdk.KindNotFound, Err: fmt.Errorf("no artifact %s", name)}
	}
	if name == h.corrupt {
		// All but the held-back end, then the check's failure.
		return io.NopCloser(io.MultiReader(bytes.NewReader(b[:len(b)-1]), &failReader{sdk.WithReason(sdk.KindPermanent, sdk.ReasonCorrupt, errors.New(name+": sha256 does not match the manifest"))})), nil
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

type failReader struct{ err error }

func (f *failReader) Read([]byte) (int, error) { return 0, f.err }

func (h *restoreHost) Portal(_ context.Context, req sdk.PortalRequest) (*sdk.PortalResponse, error) {
	if req.File == nil {
		return nil, sdk.Permanent("expected an upload")
	}
	b, err := io.ReadAll(req.File.Body)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	h.uploads = append(h.uploads, fmt.Sprintf("%s %s %s %s title=%s mark=%s remap=%s %s", req.URL, req.File.Field, req.File.Name, req.File.ContentType,
		req.Form.Get("title"), req.Form.Get("mark"), req.Form.Get("remap"), b))
	h.mu.Unlock()
	return &sdk.PortalResponse{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("newid123"))}, nil
}

func TestRestoreOverGRPC(t *testing.T) {
	ctx := context.Background()
	e := grpctest.Exporter(t, &restoringExporter{})
	r, ok := e.(sdk.Restorer)
	if !ok {
		t.Fatal("the exporter client adapter does not offer Restore")
	}
	if got := r.RestoreItemTypes(); strings.Join(got, ",") != "Web Map,PDF" {
		t.Fatalf("restore item types announced: %v", got)
	}
	data := bytes.Repeat([]byte(`{"operationalLayers":[]}`), 3*grpcplugin.ChunkSize/20)
	host := &restoreHost{artifacts: map[string][]byte{"data.json": data, "bad.json": []byte("xyz")}}
	req := sdk.RestoreRequest{Item: sdk.Item{ID: "old1", Title: "Roads", Type: "Web Map"}, Owner: "ann", Mark: "agolpipe-restore-r1",
		Mode: sdk.RestoreNew, Remap: map[string]string{"old": "new"},
		Artifacts: []sdk.RestoreArtifact{{Name: "data.json", Size: int64(len(data)), SHA256: "ab"}}}

	plan, err := r.Restore(ctx, sdk.RestoreRequest{Item: req.Item, Artifacts: req.Artifacts, PlanOnly: true}, host)
	if err != nil || plan.Action != sdk.ActionCreate || len(host.uploads) != 0 {
		t.Fatalf("plan: %+v %v (uploads %d)", plan, err, len(host.uploads))
	}
	res, err := r.Restore(ctx, req, host)
	if err != nil {
		t.Fatal(err)
	}
	if res.Action != sdk.ActionCreate || res.NewItemID != "newid123" || res.Remap["old1"] != "newid123" || len(res.Warnings) != 1 || !res.Uncompared {
		t.Fatalf("result: %+v", res)
	}
	want := "content/users/ann/addItem file data.json application/json title=Roads mark=agolpipe-restore-r1 remap=new " + string(data)
	if len(host.uploads) != 1 || host.uploads[0] != want {
		t.Fatalf("the upload did not arrive whole through the host (%d uploads)", len(host.uploads))
	}

	// A cannot is a result, with its typed reason.
	res, err = r.Restore(ctx, sdk.RestoreRequest{Item: req.Item}, host)
	if err != nil || res.Action != sdk.ActionCannot || res.Cannot != sdk.CannotMissingArtifact || res.Reason == "" {
		t.Fatalf("cannot: %+v %v", res, err)
	}

	// A corrupt artifact fails the restore with its reason, and the upload
	// it was streaming into never reaches the portal whole.
	host.corrupt = "data.json"
	_, err = r.Restore(ctx, req, host)
	if sdk.ReasonOf(err) != sdk.ReasonCorrupt {
		t.Fatalf("corrupt artifact: %v (reason %v)", err, sdk.ReasonOf(err))
	}
	if len(host.uploads) != 1 {
		t.Fatal("an upload streamed from a corrupt artifact reached the portal")
	}
}

func TestExporterWithoutRestore(t *testing.T) {
	e := grpctest.Exporter(t, &grpctest.FakeExporter{})
	if got := sdk.RestoreItemTypesOf(e); len(got) != 0 {
		t.Fatalf("an exporter without Restore announced %v", got)
	}
	_, err := e.(sdk.Restorer).Restore(context.Background(), sdk.RestoreRequest{}, &restoreHost{})
	if err == nil {
		t.Fatal("Restore on an exporter that cannot restore succeeded")
	}
}

// uploadSource records what its Do receives as an upload.
type uploadSource struct {
	grpctest.FakeSource
	got     chan string
	bodyErr chan error
}

func (s *uploadSource) Do(_ context.Context, req sdk.PortalRequest) (*sdk.PortalResponse, error) {
	if req.File == nil {
		return nil, sdk.Permanent("expected an upload")
	}
	b, err := io.ReadAll(req.File.Body)
	if err != nil {
		s.bodyErr <- err
		return nil, err
	}
	s.got <- fmt.Sprintf("%s %s %d %s", req.File.Field, req.File.Name, req.File.Size, b)
	return &sdk.PortalResponse{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("ok"))}, nil
}

func TestSourceUploadOverGRPC(t *testing.T) {
	ctx := context.Background()
	impl := &uploadSource{got: make(chan string, 1), bodyErr: make(chan error, 1)}
	src := grpctest.Source(t, impl)
	body := bytes.Repeat([]byte("x"), 2*grpcplugin.ChunkSize+7)
	resp, err := src.Do(ctx, sdk.PortalRequest{URL: "content/users/ann/addItem", Form: map[string][]string{"title": {"T"}},
		File: &sdk.PortalFile{Field: "file", Name: "a.pdf", Size: int64(len(body)), Body: bytes.NewReader(body)}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := <-impl.got; got != fmt.Sprintf("file a.pdf %d %s", len(body), body) {
		t.Fatalf("the source received another file (%d bytes)", len(got))
	}

	// A body shorter than announced never reaches the source as a whole
	// file: the source's read fails.
	_, err = src.Do(ctx, sdk.PortalRequest{URL: "u", Form: map[string][]string{},
		File: &sdk.PortalFile{Field: "file", Name: "b.pdf", Size: int64(len(body)) + 1, Body: bytes.NewReader(body)}})
	if err == nil {
		t.Fatal("a short upload succeeded")
	}
	select {
	case got := <-impl.got:
		t.Fatalf("the source took a short file for a whole one: %.40s", got)
	case <-impl.bodyErr:
	}
}
