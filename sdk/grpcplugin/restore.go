package grpcplugin

import (
	"context"
	"errors"
	"io"
	"sync/atomic"

	pluginv1 "github.com/agolpipe/agolpipe/proto/agolpipe/plugin/v1"
	"github.com/agolpipe/agolpipe/sdk"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// This file is the restore side of the exporter protocol (sdk.Restorer):
// ExporterService.Restore, the host's ReadArtifact, and uploads (a portal
// request carrying a file: HostService.PortalUpload, SourceService.DoUpload).

// RestoreItemTypes are the item types the plugin announced it can restore
// (ExporterFeatures); none for a plugin that predates restore.
func (e *ExporterClient) RestoreItemTypes() []string { return e.restoreTypes }

// RestoreSkippedItemTypes are the item types whose skipped exports the
// plugin announced it restores too (sdk.SkippedRestorer).
func (e *ExporterClient) RestoreSkippedItemTypes() []string { return e.restoreSkipped }

// Restore asks the plugin to restore one item. host is served to the plugin
// over the broker for the length of the call: ReadArtifact streams the
// item's artifacts, Portal (and uploads) reach the target portal.
func (e *ExporterClient) Restore(ctx context.Context, req sdk.RestoreRequest, host sdk.RestoreHost) (sdk.RestoreResult, error) {
	if len(e.restoreTypes) == 0 {
		return sdk.RestoreResult{}, sdk.Permanent("exporter plugin %q cannot restore items (it announces no restore item types)", e.info.Name)
	}
	hostID, callID, stop := e.hostFor(host)
	defer endHost(ctx, stop)
	resp, err := e.c.Restore(ctx, restoreRequestToProto(req, hostID, callID))
	if err != nil {
		return sdk.RestoreResult{}, fromStatus(err)
	}
	return restoreResultFromProto(resp), nil
}

// Restore serves ExporterService.Restore with the implementation's
// sdk.Restorer; a plugin without one answers UNIMPLEMENTED.
func (e *ExporterServer) Restore(ctx context.Context, req *pluginv1.RestoreRequest) (*pluginv1.RestoreResponse, error) {
	r, ok := e.Impl.(sdk.Restorer)
	if !ok {
		return nil, status.Errorf(codes.Unimplemented, "exporter %q cannot restore items", e.Impl.Info().Name)
	}
	host := &restoreHostClient{HostClient: e.hostClient(req.GetHostBrokerId(), req.GetHostCallId()), byName: req.GetHostUploadsArtifacts()}
	defer host.close()
	res, err := r.Restore(ctx, restoreRequestFromProto(req), host)
	if err != nil {
		return nil, toStatus(err)
	}
	return restoreResultToProto(res), nil
}

// exporterFeatures is what Describe announces of e's optional abilities:
// the item types it restores, and that this SDK names its calls in host
// requests (hostcalls.go).
func exporterFeatures(e sdk.Exporter) *pluginv1.ExporterFeatures {
	return &pluginv1.ExporterFeatures{RestoreItemTypes: sdk.RestoreItemTypesOf(e), RestoreSkippedItemTypes: sdk.RestoreSkippedItemTypesOf(e), HostCalls: true}
}

// restoreHostClient is the plugin side of sdk.RestoreHost. byName: the
// host announced it takes uploads by artifact name
// (RestoreRequest.host_uploads_artifacts).
type restoreHostClient struct {
	*HostClient
	byName bool
}

// UploadsArtifacts is sdk.UploadsArtifacts: whether the host announced it.
func (h *restoreHostClient) UploadsArtifacts() bool { return h.byName }

// Portal is HostClient.Portal; an upload by artifact name to a host that
// did not announce it (which would read the file from the absent chunks:
// an empty file) sends the artifact's bytes instead.
func (h *restoreHostClient) Portal(ctx context.Context, req sdk.PortalRequest) (*sdk.PortalResponse, error) {
	if f := req.File; f != nil && f.Body == nil && f.Artifact != "" && !h.byName {
		rc, err := h.ReadArtifact(ctx, f.Artifact)
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		file := *f
		file.Body, file.Artifact = rc, ""
		req.File = &file
	}
	return h.HostClient.Portal(ctx, req)
}

// ReadArtifact streams one of the item's artifacts from the host. The host
// checks it against the manifest as it goes: a mismatch arrives as the
// stream's error (ReasonCorrupt) before the end of the bytes.
func (h *restoreHostClient) ReadArtifact(ctx context.Context, name string) (io.ReadCloser, error) {
	c, err := h.client()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(h.outgoing(ctx))
	stream, err := c.ReadArtifact(ctx, &pluginv1.ReadArtifactRequest{Name: name})
	if err != nil {
		cancel()
		return nil, fromStatus(err)
	}
	first, err := stream.Recv()
	if err != nil {
		cancel()
		if err == io.EOF {
			return nil, sdk.Permanent("host broke the protocol: artifact %s ended before its header", name)
		}
		return nil, fromStatus(err)
	}
	if first.GetHeader() == nil {
		cancel()
		return nil, sdk.Permanent("host broke the protocol: artifact %s did not start with a header", name)
	}
	return &chunkReader{cancel: cancel, recv: func() ([]byte, error) {
		m, err := stream.Recv()
		if err != nil {
			return nil, err
		}
		if _, ok := m.GetMsg().(*pluginv1.ReadArtifactResponse_Chunk); !ok {
			return nil, sdk.Permanent("host broke the protocol: expected a chunk of artifact %s", name)
		}
		return m.GetChunk(), nil
	}}, nil
}

// ReadArtifact serves sdk.RestoreHost.ReadArtifact; only a restore's host
// has artifacts to read.
func (h *HostServer) ReadArtifact(req *pluginv1.ReadArtifactRequest, stream pluginv1.HostService_ReadArtifactServer) error {
	host, ctx, done, err := h.host(stream.Context())
	if err != nil {
		return toStatus(err)
	}
	defer done()
	rh, ok := host.(sdk.RestoreHost)
	if !ok {
		return status.Errorf(codes.Unimplemented, "the host has no artifacts to read outside a restore")
	}
	rc, err := rh.ReadArtifact(ctx, req.GetName())
	if err != nil {
		return toStatus(err)
	}
	defer rc.Close()
	hdr := &pluginv1.ReadArtifactHeader{Size: -1}
	if s, ok := rc.(interface{ Size() int64 }); ok {
		hdr.Size = s.Size()
	}
	if err := stream.Send(&pluginv1.ReadArtifactResponse{Msg: &pluginv1.ReadArtifactResponse_Header{Header: hdr}}); err != nil {
		return err
	}
	_, _, err = sendChunks(rc, nopHash{}, func(b []byte) error {
		return stream.Send(&pluginv1.ReadArtifactResponse{Msg: &pluginv1.ReadArtifactResponse_Chunk{Chunk: b}})
	})
	if errors.Is(err, errSend) {
		return toStatus(sdk.Classify(sdk.KindCanceled, errors.New("the reader of the artifact went away")))
	}
	return toStatus(err)
}

// uploadStream is the sending side of an upload (PortalUpload, DoUpload):
// header, chunks, close; then a streamed response like Portal's.
type uploadStream interface {
	httpStream
	sendHeader(*pluginv1.HttpRequest, *pluginv1.UploadFile) error
	sendChunk([]byte) error
	CloseSend() error
}

// upload sends req (whose File is set) on s and opens the response. When
// the file's body fails, or ends at another size than announced, the stream
// is cancelled before it is closed, so the receiver never takes a partial
// file for a whole one and the portal never gets a complete request.
func upload(s uploadStream, req sdk.PortalRequest, cancel context.CancelFunc) (*sdk.PortalResponse, error) {
	f := req.File
	if f.Body == nil {
		return uploadByName(s, req, cancel)
	}
	err := s.sendHeader(httpRequestToProto(req), uploadFileToProto(f))
	if err == nil {
		var n int64
		n, _, err = sendChunks(f.Body, nopHash{}, s.sendChunk)
		if err == nil && f.Size >= 0 && n != f.Size {
			err = sdk.Permanent("upload of %s: the file ended at %d bytes, %d were announced", f.Name, n, f.Size)
		}
	}
	switch {
	case err == nil:
		if err := s.CloseSend(); err != nil {
			cancel()
			return nil, fromStatus(err)
		}
	case err == io.EOF || errors.Is(err, errSend):
		// The receiver stopped reading early; its answer says why.
	default:
		cancel()
		return nil, err
	}
	return openHTTP(s, cancel)
}

// uploadByName sends the header of an upload whose file the host reads
// itself (PortalUploadHeader.artifact) and no chunks.
func uploadByName(s uploadStream, req sdk.PortalRequest, cancel context.CancelFunc) (*sdk.PortalResponse, error) {
	p, ok := s.(portalUploadClient)
	if !ok || req.File.Artifact == "" {
		cancel()
		return nil, sdk.Permanent("upload of %s: no body", req.File.Name)
	}
	err := p.Send(&pluginv1.PortalUploadRequest{Msg: &pluginv1.PortalUploadRequest_Header{Header: &pluginv1.PortalUploadHeader{
		Request: httpRequestToProto(req), File: uploadFileToProto(req.File), Artifact: req.File.Artifact}}})
	if err == nil {
		err = p.CloseSend()
	}
	if err != nil && err != io.EOF {
		cancel()
		return nil, fromStatus(err)
	}
	return openHTTP(s, cancel)
}

func uploadFileToProto(f *sdk.PortalFile) *pluginv1.UploadFile {
	return &pluginv1.UploadFile{Field: f.Field, FileName: f.Name, ContentType: f.ContentType, Size: f.Size}
}

// uploadFile is the receiving side: the file part whose Body reads the
// stream's chunks. The body ends cleanly only when the sender closed the
// stream after exactly the announced size; otherwise it fails, which makes
// whoever sends it on abort its request.
func uploadFile(p *pluginv1.UploadFile, cancel context.CancelFunc, recv func() ([]byte, error)) *sdk.PortalFile {
	size := p.GetSize()
	if size < 0 {
		size = -1
	}
	return &sdk.PortalFile{Field: p.GetField(), Name: p.GetFileName(), ContentType: p.GetContentType(), Size: size,
		Body: &uploadBody{r: &chunkReader{recv: recv, cancel: cancel}, size: size, name: p.GetFileName()}}
}

type uploadBody struct {
	r    *chunkReader
	n    int64
	size int64
	name string
}

func (b *uploadBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.n += int64(n)
	if b.size >= 0 && b.n > b.size {
		return n, sdk.Permanent("upload of %s: more than the %d bytes announced", b.name, b.size)
	}
	if err == io.EOF && b.size >= 0 && b.n != b.size {
		return n, sdk.Permanent("upload of %s: the file ended at %d bytes, %d were announced", b.name, b.n, b.size)
	}
	return n, err
}

// portalUpload is HostClient.Portal for a request carrying a file.
func (h *HostClient) portalUpload(ctx context.Context, c pluginv1.HostServiceClient, req sdk.PortalRequest) (*sdk.PortalResponse, error) {
	ctx, cancel := context.WithCancel(ctx)
	stream, err := c.PortalUpload(ctx)
	if err != nil {
		cancel()
		return nil, fromStatus(err)
	}
	return upload(portalUploadClient{stream}, req, cancel)
}

type portalUploadClient struct {
	pluginv1.HostService_PortalUploadClient
}

func (p portalUploadClient) sendHeader(r *pluginv1.HttpRequest, f *pluginv1.UploadFile) error {
	return p.Send(&pluginv1.PortalUploadRequest{Msg: &pluginv1.PortalUploadRequest_Header{Header: &pluginv1.PortalUploadHeader{Request: r, File: f}}})
}
func (p portalUploadClient) sendChunk(b []byte) error {
	return p.Send(&pluginv1.PortalUploadRequest{Msg: &pluginv1.PortalUploadRequest_Chunk{Chunk: b}})
}
func (p portalUploadClient) recv() (*pluginv1.HttpResponseHeader, []byte, error) {
	m, err := p.Recv()
	if err != nil {
		return nil, nil, err
	}
	return m.GetHeader(), m.GetChunk(), nil
}

// PortalUpload serves a plugin's upload through the host's Portal.
func (h *HostServer) PortalUpload(stream pluginv1.HostService_PortalUploadServer) error {
	host, ctx, done, err := h.host(stream.Context())
	if err != nil {
		return toStatus(err)
	}
	defer done()
	var byName func(context.Context, string) (io.ReadCloser, error)
	if rh, ok := host.(sdk.RestoreHost); ok {
		byName = rh.ReadArtifact
	}
	return serveUpload(portalUploadServer{stream, ctx, asOldHost.Load()}, "plugin", host.Portal, byName)
}

// portalUploadServer's ctx is the request's, ended with its call. old:
// act as a host before uploads by name (asOldHost).
type portalUploadServer struct {
	pluginv1.HostService_PortalUploadServer
	ctx context.Context
	old bool
}

// asOldHost makes this package's host behave as one before uploads by
// artifact name: it does not announce them and ignores
// PortalUploadHeader.artifact (to an old host an unknown field). Set only
// by tests (ActAsOldHost), to prove a plugin never sends one there.
var asOldHost atomic.Bool

func (p portalUploadServer) Context() context.Context { return p.ctx }

func (p portalUploadServer) recvHeader() (*pluginv1.HttpRequest, *pluginv1.UploadFile, string, error) {
	m, err := p.Recv()
	if p.old {
		return m.GetHeader().GetRequest(), m.GetHeader().GetFile(), "", err
	}
	return m.GetHeader().GetRequest(), m.GetHeader().GetFile(), m.GetHeader().GetArtifact(), err
}
func (p portalUploadServer) recvChunk() ([]byte, bool, error) {
	m, err := p.Recv()
	_, ok := m.GetMsg().(*pluginv1.PortalUploadRequest_Chunk)
	return m.GetChunk(), ok, err
}
func (p portalUploadServer) sendHeader(h *pluginv1.HttpResponseHeader) error {
	return p.Send(&pluginv1.PortalUploadResponse{Msg: &pluginv1.PortalUploadResponse_Header{Header: h}})
}
func (p portalUploadServer) sendChunk(b []byte) error {
	return p.Send(&pluginv1.PortalUploadResponse{Msg: &pluginv1.PortalUploadResponse_Chunk{Chunk: b}})
}

// uploadServer is the serving end of either upload rpc (PortalUpload,
// DoUpload): their messages differ only in their Go types, so one
// serveUpload holds the protocol for both.
type uploadServer interface {
	Context() context.Context
	// recvHeader's string is the artifact an upload names instead of
	// carrying its bytes (PortalUpload only).
	recvHeader() (*pluginv1.HttpRequest, *pluginv1.UploadFile, string, error)
	// recvChunk's bool is false when the message was not a chunk.
	recvChunk() ([]byte, bool, error)
	sendHeader(*pluginv1.HttpResponseHeader) error
	sendChunk([]byte) error
}

// serveUpload reads the header, hands do a request whose File streams the
// chunks that follow, and sends do's answer back. peer names the other
// side in protocol errors ("plugin" or "host"). An upload that names an
// artifact instead gets the file from byName (the restore host's checked
// ReadArtifact, nil where uploads by name are not taken): the artifact
// goes from the sink to do without a round trip through the plugin, and
// a corrupt one fails do's request before its last byte.
func serveUpload(s uploadServer, peer string, do func(context.Context, sdk.PortalRequest) (*sdk.PortalResponse, error), byName func(context.Context, string) (io.ReadCloser, error)) error {
	r, f, artifact, err := s.recvHeader()
	if err != nil {
		return err
	}
	if f == nil {
		return toStatus(sdk.Permanent("%s broke the protocol: an upload did not start with its header", peer))
	}
	ctx, cancel := context.WithCancel(s.Context())
	defer cancel()
	req := httpRequestFromProto(r)
	if artifact != "" {
		if byName == nil {
			return toStatus(sdk.Permanent("%s broke the protocol: an upload named artifact %q where only a restore's host reads artifacts", peer, artifact))
		}
		rc, err := byName(ctx, artifact)
		if err != nil {
			return toStatus(err)
		}
		defer rc.Close()
		size := f.GetSize()
		if sz, ok := rc.(interface{ Size() int64 }); ok {
			size = sz.Size()
		}
		req.File = &sdk.PortalFile{Field: f.GetField(), Name: f.GetFileName(), ContentType: f.GetContentType(), Size: size, Body: rc}
		resp, err := do(ctx, req)
		if err != nil {
			return toStatus(err)
		}
		return sendHTTP(resp, s.sendHeader, s.sendChunk)
	}
	req.File = uploadFile(f, cancel, func() ([]byte, error) {
		b, ok, err := s.recvChunk()
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, sdk.Permanent("%s broke the protocol: expected a chunk of the uploaded file", peer)
		}
		return b, nil
	})
	resp, err := do(ctx, req)
	if err != nil {
		return toStatus(err)
	}
	return sendHTTP(resp, s.sendHeader, s.sendChunk)
}

// doUpload is SourceClient.Do for a request carrying a file.
func (s *SourceClient) doUpload(ctx context.Context, req sdk.PortalRequest) (*sdk.PortalResponse, error) {
	if req.File.Body == nil {
		return nil, sdk.Permanent("upload of %s: no body (a file named by artifact is read by the host before it reaches the source)", req.File.Name)
	}
	ctx, cancel := context.WithCancel(ctx)
	stream, err := s.c.DoUpload(ctx)
	if err != nil {
		cancel()
		return nil, fromStatus(err)
	}
	return upload(doUploadClient{stream}, req, cancel)
}

type doUploadClient struct {
	pluginv1.SourceService_DoUploadClient
}

func (p doUploadClient) sendHeader(r *pluginv1.HttpRequest, f *pluginv1.UploadFile) error {
	return p.Send(&pluginv1.DoUploadRequest{Msg: &pluginv1.DoUploadRequest_Header{Header: &pluginv1.DoUploadHeader{Request: r, File: f}}})
}
func (p doUploadClient) sendChunk(b []byte) error {
	return p.Send(&pluginv1.DoUploadRequest{Msg: &pluginv1.DoUploadRequest_Chunk{Chunk: b}})
}
func (p doUploadClient) recv() (*pluginv1.HttpResponseHeader, []byte, error) {
	m, err := p.Recv()
	if err != nil {
		return nil, nil, err
	}
	return m.GetHeader(), m.GetChunk(), nil
}

// DoUpload serves an upload through the source's Do.
func (s *SourceServer) DoUpload(stream pluginv1.SourceService_DoUploadServer) error {
	return serveUpload(doUploadServer{stream}, "host", s.Impl.Do, nil)
}

type doUploadServer struct {
	pluginv1.SourceService_DoUploadServer
}

func (p doUploadServer) recvHeader() (*pluginv1.HttpRequest, *pluginv1.UploadFile, string, error) {
	m, err := p.Recv()
	return m.GetHeader().GetRequest(), m.GetHeader().GetFile(), "", err
}
func (p doUploadServer) recvChunk() ([]byte, bool, error) {
	m, err := p.Recv()
	_, ok := m.GetMsg().(*pluginv1.DoUploadRequest_Chunk)
	return m.GetChunk(), ok, err
}
func (p doUploadServer) sendHeader(h *pluginv1.HttpResponseHeader) error {
	return p.Send(&pluginv1.DoUploadResponse{Msg: &pluginv1.DoUploadResponse_Header{Header: h}})
}
func (p doUploadServer) sendChunk(b []byte) error {
	return p.Send(&pluginv1.DoUploadResponse{Msg: &pluginv1.DoUploadResponse_Chunk{Chunk: b}})
}

var restoreModeProto = map[sdk.RestoreMode]pluginv1.RestoreMode{
	sdk.RestoreNew:       pluginv1.RestoreMode_RESTORE_MODE_NEW,
	sdk.RestoreOverwrite: pluginv1.RestoreMode_RESTORE_MODE_OVERWRITE,
}

var restoreActionProto = map[sdk.RestoreAction]pluginv1.RestoreAction{
	sdk.ActionCreate:    pluginv1.RestoreAction_RESTORE_ACTION_CREATE,
	sdk.ActionOverwrite: pluginv1.RestoreAction_RESTORE_ACTION_OVERWRITE,
	sdk.ActionSkip:      pluginv1.RestoreAction_RESTORE_ACTION_SKIP,
	sdk.ActionCannot:    pluginv1.RestoreAction_RESTORE_ACTION_CANNOT,
}

var cannotProto = map[sdk.CannotReason]pluginv1.CannotReason{
	sdk.CannotUnspecified:     pluginv1.CannotReason_CANNOT_REASON_UNSPECIFIED,
	sdk.CannotNotRestorable:   pluginv1.CannotReason_CANNOT_REASON_NOT_RESTORABLE,
	sdk.CannotMissingArtifact: pluginv1.CannotReason_CANNOT_REASON_MISSING_ARTIFACT,
	sdk.CannotExists:          pluginv1.CannotReason_CANNOT_REASON_EXISTS,
	sdk.CannotTargetRefuses:   pluginv1.CannotReason_CANNOT_REASON_TARGET_REFUSES,
}

// reverse inverts one of the enum maps above.
func reverse[K comparable, V comparable](m map[K]V) map[V]K {
	r := make(map[V]K, len(m))
	for k, v := range m {
		r[v] = k
	}
	return r
}

var (
	restoreModeSDK   = reverse(restoreModeProto)
	restoreActionSDK = reverse(restoreActionProto)
	cannotSDK        = reverse(cannotProto)
)

func remapToProto(m map[string]string) []*pluginv1.RemapEntry {
	out := make([]*pluginv1.RemapEntry, 0, len(m))
	for k, v := range m {
		out = append(out, &pluginv1.RemapEntry{From: k, To: v})
	}
	return out
}

func remapFromProto(es []*pluginv1.RemapEntry) map[string]string {
	if len(es) == 0 {
		return nil
	}
	m := make(map[string]string, len(es))
	for _, e := range es {
		m[e.GetFrom()] = e.GetTo()
	}
	return m
}

func restoreRequestToProto(r sdk.RestoreRequest, hostID uint32, callID uint64) *pluginv1.RestoreRequest {
	p := &pluginv1.RestoreRequest{Item: itemToProto(r.Item), ManifestRecord: r.ManifestRecord, RunId: r.RunID,
		RestoreId: r.RestoreID, Mark: r.Mark, Target: orgToProto(r.Target), TargetOwner: r.Owner,
		TargetFolderId: r.FolderID, TargetFolderTitle: r.FolderTitle, Mode: restoreModeProto[r.Mode],
		TargetItemId: r.TargetItemID, Remap: remapToProto(r.Remap), PlanOnly: r.PlanOnly, HostBrokerId: hostID, HostCallId: callID,
		// This host's HostServer.PortalUpload reads an artifact named
		// instead of sent (serveUpload).
		HostUploadsArtifacts: !asOldHost.Load()}
	for _, a := range r.Artifacts {
		p.Artifacts = append(p.Artifacts, &pluginv1.RestoreArtifact{Name: a.Name, Size: a.Size, Sha256: a.SHA256, Format: a.Format, MediaType: a.MediaType})
	}
	return p
}

func restoreRequestFromProto(p *pluginv1.RestoreRequest) sdk.RestoreRequest {
	r := sdk.RestoreRequest{Item: itemFromProto(p.GetItem()), ManifestRecord: p.GetManifestRecord(), RunID: p.GetRunId(),
		RestoreID: p.GetRestoreId(), Mark: p.GetMark(), Target: orgFromProto(p.GetTarget()), Owner: p.GetTargetOwner(),
		FolderID: p.GetTargetFolderId(), FolderTitle: p.GetTargetFolderTitle(), Mode: restoreModeSDK[p.GetMode()],
		TargetItemID: p.GetTargetItemId(), Remap: remapFromProto(p.GetRemap()), PlanOnly: p.GetPlanOnly()}
	for _, a := range p.GetArtifacts() {
		r.Artifacts = append(r.Artifacts, sdk.RestoreArtifact{Name: a.GetName(), Size: a.GetSize(), SHA256: a.GetSha256(), Format: a.GetFormat(), MediaType: a.GetMediaType()})
	}
	return r
}

func restoreResultToProto(r sdk.RestoreResult) *pluginv1.RestoreResponse {
	return &pluginv1.RestoreResponse{Action: restoreActionProto[r.Action], Reason: r.Reason, CannotReason: cannotProto[r.Cannot],
		NewItemId: r.NewItemID, Remap: remapToProto(r.Remap), Warnings: r.Warnings, Uncompared: r.Uncompared}
}

func restoreResultFromProto(p *pluginv1.RestoreResponse) sdk.RestoreResult {
	return sdk.RestoreResult{Action: restoreActionSDK[p.GetAction()], Reason: p.GetReason(), Cannot: cannotSDK[p.GetCannotReason()],
		NewItemID: p.GetNewItemId(), Remap: remapFromProto(p.GetRemap()), Warnings: p.GetWarnings(), Uncompared: p.GetUncompared()}
}
