package grpcplugin

import (
	"context"
	"hash"
	"hash/crc32"
	"strconv"
	"sync"

	pluginv1 "github.com/agolpipe/agolpipe/proto/agolpipe/plugin/v1"
	"github.com/agolpipe/agolpipe/sdk"
	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// newCRC is the CRC-32C (Castagnoli) that checks one hop of a chunk stream:
// an exporter's artifact on its way to the host, and a Put on its way to a
// sink whose sender announced it (PutHeader.trailer_crc32c).
func newCRC() hash.Hash { return crc32.New(castagnoli) }

// serveHost serves srv as a HostService on broker id and returns the
// function that stops it.
func serveHost(b *plugin.GRPCBroker, id uint32, srv *HostServer) (stop func()) {
	var (
		mu      sync.Mutex
		gs      *grpc.Server
		stopped bool
	)
	go b.AcceptAndServe(id, func(opts []grpc.ServerOption) *grpc.Server {
		s := grpc.NewServer(opts...)
		pluginv1.RegisterHostServiceServer(s, srv)
		mu.Lock()
		defer mu.Unlock()
		gs = s
		if stopped {
			go s.Stop()
		}
		return s
	})
	return func() {
		mu.Lock()
		defer mu.Unlock()
		stopped = true
		if gs != nil {
			gs.Stop()
		}
	}
}

// HostClient is the plugin side of sdk.Host: it dials the host over the
// go-plugin broker on first use, so exports that never call the host cost
// no connection. With a call id (a shared host service, hostcalls.go) the
// connection is the plugin's one to that service, and every request names
// the call.
type HostClient struct {
	broker *plugin.GRPCBroker
	id     uint32
	call   uint64
	shared *hostConns

	once sync.Once
	conn *grpc.ClientConn
	c    pluginv1.HostServiceClient
	err  error
}

func (h *HostClient) client() (pluginv1.HostServiceClient, error) {
	h.once.Do(func() {
		if h.broker == nil || h.id == 0 {
			h.err = sdk.Permanent("the host offers no portal access to this export")
			return
		}
		var conn *grpc.ClientConn
		if h.call != 0 && h.shared != nil {
			conn, h.err = h.shared.dial(h.broker, h.id)
		} else {
			hostDials.Add(1)
			conn, h.err = h.broker.Dial(h.id)
			h.conn = conn
		}
		if h.err != nil {
			h.err = sdk.Classify(sdk.KindRetryable, h.err)
			return
		}
		h.c = pluginv1.NewHostServiceClient(conn)
	})
	return h.c, h.err
}

// close closes the call's own connection; a shared one stays open.
func (h *HostClient) close() {
	if h.conn != nil {
		_ = h.conn.Close()
	}
}

// outgoing names the call in a request's metadata on a shared service.
func (h *HostClient) outgoing(ctx context.Context) context.Context {
	if h.call == 0 {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, hostCallKey, strconv.FormatUint(h.call, 10))
}

type portalStream struct {
	s pluginv1.HostService_PortalClient
}

func (p portalStream) recv() (*pluginv1.HttpResponseHeader, []byte, error) {
	m, err := p.s.Recv()
	if err != nil {
		return nil, nil, err
	}
	return m.GetHeader(), m.GetChunk(), nil
}

// Portal performs an authenticated portal request through the host's source.
func (h *HostClient) Portal(ctx context.Context, req sdk.PortalRequest) (*sdk.PortalResponse, error) {
	c, err := h.client()
	if err != nil {
		return nil, err
	}
	ctx = h.outgoing(ctx)
	if req.File != nil {
		return h.portalUpload(ctx, c, req)
	}
	ctx, cancel := context.WithCancel(ctx)
	stream, err := c.Portal(ctx, &pluginv1.PortalRequest{Request: httpRequestToProto(req)})
	if err != nil {
		cancel()
		return nil, fromStatus(err)
	}
	return openHTTP(portalStream{stream}, cancel)
}

// Progress is best effort: a lost progress line must not fail an export.
func (h *HostClient) Progress(ctx context.Context, p sdk.Progress) {
	if c, err := h.client(); err == nil {
		_, _ = c.Progress(h.outgoing(ctx), &pluginv1.ProgressRequest{ItemId: p.ItemID, Stage: p.Stage, Percent: p.Percent})
	}
}

// Log is best effort, like Progress.
func (h *HostClient) Log(ctx context.Context, level sdk.LogLevel, msg string) {
	if c, err := h.client(); err == nil {
		_, _ = c.Log(h.outgoing(ctx), &pluginv1.LogRequest{Level: string(level), Message: msg})
	}
}

// HostServer serves an sdk.Host to a plugin: Impl, or on a plugin's
// shared host service (calls set) the host of the call each request names.
type HostServer struct {
	pluginv1.UnimplementedHostServiceServer
	Impl  sdk.Host
	calls *hostCalls
}

func (h *HostServer) Portal(req *pluginv1.PortalRequest, stream pluginv1.HostService_PortalServer) error {
	host, ctx, done, err := h.host(stream.Context())
	if err != nil {
		return toStatus(err)
	}
	defer done()
	resp, err := host.Portal(ctx, httpRequestFromProto(req.GetRequest()))
	if err != nil {
		return toStatus(err)
	}
	return sendHTTP(resp, func(hdr *pluginv1.HttpResponseHeader) error {
		return stream.Send(&pluginv1.PortalResponse{Msg: &pluginv1.PortalResponse_Header{Header: hdr}})
	}, func(b []byte) error {
		return stream.Send(&pluginv1.PortalResponse{Msg: &pluginv1.PortalResponse_Chunk{Chunk: b}})
	})
}

func (h *HostServer) Progress(ctx context.Context, req *pluginv1.ProgressRequest) (*pluginv1.ProgressResponse, error) {
	host, ctx, done, err := h.host(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	defer done()
	host.Progress(ctx, sdk.Progress{ItemID: req.GetItemId(), Stage: req.GetStage(), Percent: req.GetPercent()})
	return &pluginv1.ProgressResponse{}, nil
}

func (h *HostServer) Log(ctx context.Context, req *pluginv1.LogRequest) (*pluginv1.LogResponse, error) {
	host, ctx, done, err := h.host(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	defer done()
	host.Log(ctx, sdk.LogLevel(req.GetLevel()), req.GetMessage())
	return &pluginv1.LogResponse{}, nil
}
