package grpcplugin_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/grpcplugin"
	"github.com/agolpipe/agolpipe/sdk/grpcplugin/grpctest"
)

// byNameExporter uploads artifact "pkg.zip" as a real restorer's
// single-request upload does: by name (no body) when the host takes it,
// and, to prove the SDK's fallback, by name to any host when always is
// set. It records what the host announced.
type byNameExporter struct {
	grpctest.FakeExporter
	always bool

	mu        sync.Mutex
	announced []bool
}

func (e *byNameExporter) RestoreItemTypes() []string { return []string{"Code Attachment"} }

func (e *byNameExporter) Restore(ctx context.Context, req sdk.RestoreRequest, host sdk.RestoreHost) (sdk.RestoreResult, error) {
	a, _ := req.Artifact("pkg.zip")
	byName := sdk.UploadsArtifacts(host)
	e.mu.Lock()
	e.announced = append(e.announced, byName)
	e.mu.Unlock()
	f := &sdk.PortalFile{Field: "file", Name: "pkg.zip", ContentType: "application/zip", Size: a.Size}
	if byName || e.always {
		f.Artifact = a.Name
	} else {
		rc, err := host.ReadArtifact(ctx, a.Name)
		if err != nil {
			return sdk.RestoreResult{}, err
		}
		defer rc.Close()
		f.Body = rc
	}
	resp, err := host.Portal(ctx, sdk.PortalRequest{URL: "content/users/ann/addItem", Form: map[string][]string{"title": {"P"}}, File: f})
	if err != nil {
		return sdk.RestoreResult{}, err
	}
	defer resp.Body.Close()
	id, _ := io.ReadAll(resp.Body)
	return sdk.RestoreResult{Action: sdk.ActionCreate, NewItemID: string(id)}, nil
}

// forwardingHost is the host of a restore as core/restore's is: portal
// requests go to the target's source plugin (over gRPC here too), and
// artifacts come from "the sink" (memory) checked, the last byte held back
// until the check passes (a corrupt one fails just before its end).
type forwardingHost struct {
	recordingHost
	target    sdk.Source
	artifacts map[string][]byte
	corrupt   bool
	reads     int
}

func (h *forwardingHost) Portal(ctx context.Context, req sdk.PortalRequest) (*sdk.PortalResponse, error) {
	return h.target.Do(ctx, req)
}

func (h *forwardingHost) ReadArtifact(_ context.Context, name string) (io.ReadCloser, error) {
	b := h.artifacts[name]
	h.reads++
	if h.corrupt {
		return io.NopCloser(io.MultiReader(bytes.NewReader(b[:len(b)-1]),
			&failReader{sdk.WithReason(sdk.KindPermanent, sdk.ReasonCorrupt, io.ErrUnexpectedEOF)})), nil
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

// countingSource reads an upload's body and records what it got: the
// bytes and whether the body ended cleanly.
type countingSource struct {
	grpctest.FakeSource
	mu   sync.Mutex
	got  []byte
	err  error
	done chan struct{}
}

func (s *countingSource) Do(_ context.Context, req sdk.PortalRequest) (*sdk.PortalResponse, error) {
	defer func() { s.done <- struct{}{} }()
	if req.File == nil || req.File.Body == nil {
		return nil, sdk.Permanent("expected an upload with a body")
	}
	b, err := io.ReadAll(req.File.Body)
	s.mu.Lock()
	s.got, s.err = b, err
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if int64(len(b)) != req.File.Size {
		return nil, sdk.Permanent("got %d bytes, %d announced", len(b), req.File.Size)
	}
	return &sdk.PortalResponse{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("new1"))}, nil
}

// TestUploadArtifactByName: a restorer names the artifact, the host reads
// it and streams it straight into the source's DoUpload (plugin -> host ->
// source, the bytes never through the plugin); a corrupt artifact fails as
// REASON_CORRUPT before the source has its last byte; a host before this
// (announcing nothing, ignoring the field) gets the bytes.
func TestUploadArtifactByName(t *testing.T) {
	ctx := context.Background()
	data := bytes.Repeat([]byte("0123456789abcdef"), (2*grpcplugin.ChunkSize+5)/16)
	src := &countingSource{done: make(chan struct{}, 1)}
	target := grpctest.Source(t, src)
	req := sdk.RestoreRequest{Item: sdk.Item{ID: "old1", Title: "P", Type: "Code Attachment"}, Owner: "ann", Mode: sdk.RestoreNew,
		Artifacts: []sdk.RestoreArtifact{{Name: "pkg.zip", Size: int64(len(data))}}}
	restore := func(t *testing.T, impl *byNameExporter, corrupt bool) (*forwardingHost, error) {
		t.Helper()
		host := &forwardingHost{target: target, artifacts: map[string][]byte{"pkg.zip": data}, corrupt: corrupt}
		_, err := grpctest.Exporter(t, impl).(sdk.Restorer).Restore(ctx, req, host)
		select {
		case <-src.done:
		case <-time.After(10 * time.Second):
			// The upload never reached the source's Do.
			src.got, src.err = nil, errors.New("the source was not called")
		}
		return host, err
	}

	t.Run("whole", func(t *testing.T) {
		impl := &byNameExporter{}
		host, err := restore(t, impl, false)
		if err != nil {
			t.Fatal(err)
		}
		if len(impl.announced) != 1 || !impl.announced[0] {
			t.Fatalf("the host did not announce uploads by name: %v", impl.announced)
		}
		if !bytes.Equal(src.got, data) || src.err != nil || host.reads != 1 {
			t.Fatalf("the source got %d of %d bytes (%v), %d reads of the artifact", len(src.got), len(data), src.err, host.reads)
		}
	})

	t.Run("corrupt", func(t *testing.T) {
		_, err := restore(t, &byNameExporter{}, true)
		if sdk.ReasonOf(err) != sdk.ReasonCorrupt {
			t.Fatalf("a corrupt artifact uploaded by name: %v (reason %v), want REASON_CORRUPT", err, sdk.ReasonOf(err))
		}
		if src.err == nil || len(src.got) >= len(data) {
			t.Fatalf("the source read %d of %d bytes and its body ended with %v: it must never get the last byte", len(src.got), len(data), src.err)
		}
	})

	t.Run("old host", func(t *testing.T) {
		defer grpcplugin.ActAsOldHost()()
		impl := &byNameExporter{always: true}
		_, err := restore(t, impl, false)
		if err != nil {
			t.Fatal(err)
		}
		if len(impl.announced) != 1 || impl.announced[0] {
			t.Fatalf("a host before uploads by name announced them: %v", impl.announced)
		}
		if !bytes.Equal(src.got, data) || src.err != nil {
			t.Fatalf("an old host's source got %d of %d bytes (%v)", len(src.got), len(data), src.err)
		}
	})
}
