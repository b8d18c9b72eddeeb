package grpcplugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	pluginv1 "github.com/agolpipe/agolpipe/proto/agolpipe/plugin/v1"
	"github.com/agolpipe/agolpipe/sdk"
	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

// GRPCServer registers the sink server adapter.
func (p *SinkPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	pluginv1.RegisterSinkServiceServer(s, &SinkServer{Impl: p.Impl})
	return nil
}

// GRPCClient returns an sdk.Sink that calls the plugin.
func (p *SinkPlugin) GRPCClient(ctx context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	s, err := NewSinkClient(ctx, pluginv1.NewSinkServiceClient(c))
	if err != nil {
		return nil, err
	}
	s.data = p.Data
	return s, nil
}

// SinkClient implements sdk.Sink by calling a SinkService. It is safe for
// concurrent use.
type SinkClient struct {
	c      pluginv1.SinkServiceClient
	info   sdk.Info
	schema sdk.Schema
	once   sync.Once
	// dataChannel: the server reads objects from the host's data channel
	// (it said so at Configure); noData: it could not reach it, so chunks
	// it is from then on.
	dataChannel, noData atomic.Bool
	// data is the host's data channel, nil for none.
	data *DataChannel
}

// NewSinkClient asks the plugin to describe itself and returns the adapter.
func NewSinkClient(ctx context.Context, c pluginv1.SinkServiceClient) (*SinkClient, error) {
	_, info, schema, err := describe(ctx, "sink", c.Describe, &pluginv1.SinkServiceDescribeRequest{})
	if err != nil {
		return nil, err
	}
	return &SinkClient{c: c, info: info, schema: schema}, nil
}

func (s *SinkClient) Info() sdk.Info     { return s.info }
func (s *SinkClient) Schema() sdk.Schema { return s.schema }

func (s *SinkClient) Configure(ctx context.Context, req sdk.ConfigureRequest) (sdk.SinkConfigureResponse, sdk.Diagnostics) {
	cfg, err := encodeConfig(req.Config, s.schema)
	if err != nil {
		return sdk.SinkConfigureResponse{}, diagsFromError("Invalid sink configuration", err)
	}
	resp, err := s.c.Configure(ctx, &pluginv1.SinkServiceConfigureRequest{Config: cfg})
	if err != nil {
		return sdk.SinkConfigureResponse{}, diagsFromError("Sink plugin failed to configure", fromStatus(err))
	}
	f := resp.GetFeatures()
	s.dataChannel.Store(f.GetDataChannel())
	return sdk.SinkConfigureResponse{Features: sdk.SinkFeatures{MaxPathLength: int(f.GetMaxPathLength()), RangeGet: f.GetRangeGet(), Location: f.GetLocation()}}, diagsFromProto(resp.GetDiagnostics())
}

func (s *SinkClient) Preflight(ctx context.Context) error {
	_, err := s.c.Preflight(ctx, &pluginv1.PreflightRequest{})
	return fromStatus(err)
}

func (s *SinkClient) Stat(ctx context.Context, path string) (sdk.ObjectInfo, error) {
	resp, err := s.c.Stat(ctx, &pluginv1.StatRequest{Path: path})
	if err != nil {
		return sdk.ObjectInfo{}, fromStatus(err)
	}
	return objectFromProto(resp.GetObject()), nil
}

// Get returns once the sink has opened the object, so a missing object is
// an error of Get itself, not of the first Read.
func (s *SinkClient) Get(ctx context.Context, req sdk.GetRequest) (io.ReadCloser, error) {
	ctx, cancel := context.WithCancel(ctx)
	stream, err := s.c.Get(ctx, &pluginv1.GetRequest{Path: req.Path, Offset: req.Offset, Length: req.Length})
	if err != nil {
		cancel()
		return nil, fromStatus(err)
	}
	first, err := stream.Recv()
	if err != nil {
		cancel()
		return nil, fromStatus(err)
	}
	if first.GetOpened() == nil {
		cancel()
		return nil, sdk.Permanent("sink plugin broke the protocol: Get did not start with 'opened'")
	}
	return &chunkReader{recv: func() ([]byte, error) {
		m, err := stream.Recv()
		if err != nil {
			return nil, err
		}
		return m.GetChunk(), nil
	}, cancel: cancel}, nil
}

func (s *SinkClient) List(ctx context.Context, req sdk.ListRequest, fn func(sdk.ObjectInfo) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := s.c.List(ctx, &pluginv1.ListRequest{Prefix: req.Prefix})
	if err != nil {
		return fromStatus(err)
	}
	for {
		m, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fromStatus(err)
		}
		for _, o := range m.GetObjects() {
			if err := fn(objectFromProto(o)); err != nil {
				return err
			}
		}
	}
}

// DeleteReport implements sdk.DeleteReporter: the plugin's answer says
// whether the bytes are really gone (typed fields, not text).
func (s *SinkClient) DeleteReport(ctx context.Context, path string) (sdk.DeleteResult, error) {
	resp, err := s.c.Delete(ctx, &pluginv1.DeleteRequest{Path: path})
	if err != nil {
		return sdk.DeleteResult{}, fromStatus(err)
	}
	r := sdk.DeleteResult{Retained: resp.GetRetained(), RetainedBytes: resp.GetRetainedBytes(), LegalHold: resp.GetLegalHold(), Reason: resp.GetReason()}
	if n := resp.GetRetainUntilUnixNano(); n != 0 {
		r.RetainUntil = time.Unix(0, n).UTC()
	}
	return r, nil
}

func (s *SinkClient) Delete(ctx context.Context, path string) error {
	_, err := s.c.Delete(ctx, &pluginv1.DeleteRequest{Path: path})
	return fromStatus(err)
}

// Close closes the component in the plugin once; the process itself is the
// launcher's to stop.
func (s *SinkClient) Close() error {
	return closeOnce(&s.once, s.c.Close, &pluginv1.SinkServiceCloseRequest{})
}

// SinkServer serves any sdk.Sink as a SinkService.
type SinkServer struct {
	pluginv1.UnimplementedSinkServiceServer
	Impl sdk.Sink
}

func (s *SinkServer) Describe(context.Context, *pluginv1.SinkServiceDescribeRequest) (*pluginv1.SinkServiceDescribeResponse, error) {
	return &pluginv1.SinkServiceDescribeResponse{Info: infoToProto(s.Impl.Info()), Schema: schemaToProto(s.Impl.Schema())}, nil
}

func (s *SinkServer) Configure(ctx context.Context, req *pluginv1.SinkServiceConfigureRequest) (*pluginv1.SinkServiceConfigureResponse, error) {
	v, err := decodeConfig(req.GetConfig(), s.Impl.Schema())
	if err != nil {
		return &pluginv1.SinkServiceConfigureResponse{Diagnostics: diagsToProto(diagsFromError("Invalid sink configuration", err))}, nil
	}
	resp, diags := s.Impl.Configure(ctx, sdk.ConfigureRequest{Config: v})
	f := resp.Features
	return &pluginv1.SinkServiceConfigureResponse{Diagnostics: diagsToProto(diags), Features: &pluginv1.SinkFeatures{MaxPathLength: int64(f.MaxPathLength), RangeGet: f.RangeGet, Location: f.Location,
		DataChannel: true}}, nil
}

func (s *SinkServer) Preflight(ctx context.Context, _ *pluginv1.PreflightRequest) (*pluginv1.PreflightResponse, error) {
	return &pluginv1.PreflightResponse{}, toStatus(s.Impl.Preflight(ctx))
}

func (s *SinkServer) Stat(ctx context.Context, req *pluginv1.StatRequest) (*pluginv1.StatResponse, error) {
	o, err := s.Impl.Stat(ctx, req.GetPath())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pluginv1.StatResponse{Object: objectToProto(o)}, nil
}

func (s *SinkServer) Get(req *pluginv1.GetRequest, stream pluginv1.SinkService_GetServer) error {
	rc, err := s.Impl.Get(stream.Context(), sdk.GetRequest{Path: req.GetPath(), Offset: req.GetOffset(), Length: req.GetLength()})
	if err != nil {
		return toStatus(err)
	}
	defer rc.Close()
	if err := stream.Send(&pluginv1.GetResponse{Msg: &pluginv1.GetResponse_Opened{Opened: &pluginv1.GetOpened{}}}); err != nil {
		return err
	}
	_, _, err = sendChunks(rc, nopHash{}, func(b []byte) error {
		return stream.Send(&pluginv1.GetResponse{Msg: &pluginv1.GetResponse_Chunk{Chunk: b}})
	})
	if errors.Is(err, errSend) {
		// The reader went away; nobody hears this error.
		return toStatus(sdk.Classify(sdk.KindCanceled, fmt.Errorf("reader of %s went away", req.GetPath())))
	}
	return toStatus(err)
}

// listBatch is how many objects travel in one List message.
const listBatch = 256

func (s *SinkServer) List(req *pluginv1.ListRequest, stream pluginv1.SinkService_ListServer) error {
	var batch []*pluginv1.ObjectInfo
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := stream.Send(&pluginv1.ListResponse{Objects: batch})
		batch = nil
		return err
	}
	err := s.Impl.List(stream.Context(), sdk.ListRequest{Prefix: req.GetPrefix()}, func(o sdk.ObjectInfo) error {
		batch = append(batch, objectToProto(o))
		if len(batch) >= listBatch {
			return flush()
		}
		return nil
	})
	if err != nil {
		return toStatus(err)
	}
	return toStatus(flush())
}

func (s *SinkServer) Delete(ctx context.Context, req *pluginv1.DeleteRequest) (*pluginv1.DeleteResponse, error) {
	dr, ok := s.Impl.(sdk.DeleteReporter)
	if !ok {
		return &pluginv1.DeleteResponse{}, toStatus(s.Impl.Delete(ctx, req.GetPath()))
	}
	r, err := dr.DeleteReport(ctx, req.GetPath())
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &pluginv1.DeleteResponse{Retained: r.Retained, RetainedBytes: r.RetainedBytes, LegalHold: r.LegalHold, Reason: r.Reason}
	if !r.RetainUntil.IsZero() {
		resp.RetainUntilUnixNano = r.RetainUntil.UnixNano()
	}
	return resp, nil
}

func (s *SinkServer) Close(context.Context, *pluginv1.SinkServiceCloseRequest) (*pluginv1.SinkServiceCloseResponse, error) {
	return &pluginv1.SinkServiceCloseResponse{}, toStatus(s.Impl.Close())
}
