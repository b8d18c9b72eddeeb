package grpcplugin

import (
	"bufio"
	"context"
	"io"
	"sync"
	"time"

	pluginv1 "github.com/agolpipe/agolpipe/proto/agolpipe/plugin/v1"
	"github.com/agolpipe/agolpipe/sdk"
	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

// GRPCServer registers the source server adapter.
func (p *SourcePlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	pluginv1.RegisterSourceServiceServer(s, &SourceServer{Impl: p.Impl})
	return nil
}

// GRPCClient returns an sdk.Source that calls the plugin.
func (p *SourcePlugin) GRPCClient(ctx context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return NewSourceClient(ctx, pluginv1.NewSourceServiceClient(c))
}

// SourceClient implements sdk.Source by calling a SourceService.
type SourceClient struct {
	c        pluginv1.SourceServiceClient
	info     sdk.Info
	schema   sdk.Schema
	features sdk.SourceFeatures
	once     sync.Once

	mu       sync.Mutex
	warnings []string // from the last ListItems
}

// NewSourceClient asks the plugin to describe itself and returns the adapter.
func NewSourceClient(ctx context.Context, c pluginv1.SourceServiceClient) (*SourceClient, error) {
	d, info, schema, err := describe(ctx, "source", c.Describe, &pluginv1.SourceServiceDescribeRequest{})
	if err != nil {
		return nil, err
	}
	return &SourceClient{c: c, info: info, schema: schema,
		features: sdk.SourceFeatures{OrgMetadata: d.GetFeatures().GetOrgMetadata()}}, nil
}

// SourceFeatures is what the plugin declared in Describe.
func (s *SourceClient) SourceFeatures() sdk.SourceFeatures { return s.features }

func (s *SourceClient) Info() sdk.Info     { return s.info }
func (s *SourceClient) Schema() sdk.Schema { return s.schema }

func (s *SourceClient) Configure(ctx context.Context, req sdk.ConfigureRequest) sdk.Diagnostics {
	cfg, err := encodeConfig(req.Config, s.schema)
	if err != nil {
		return diagsFromError("Invalid source configuration", err)
	}
	resp, err := s.c.Configure(ctx, &pluginv1.SourceServiceConfigureRequest{Config: cfg, ComponentName: req.Name, PipelineFile: req.PipelineFile, DryRun: req.DryRun})
	if err != nil {
		return diagsFromError("Source plugin failed to configure", fromStatus(err))
	}
	return diagsFromProto(resp.GetDiagnostics())
}

func (s *SourceClient) Connect(ctx context.Context) (sdk.OrgInfo, error) {
	resp, err := s.c.Connect(ctx, &pluginv1.ConnectRequest{})
	if err != nil {
		return sdk.OrgInfo{}, fromStatus(err)
	}
	return orgFromProto(resp.GetOrg()), nil
}

func (s *SourceClient) ListItems(ctx context.Context, req sdk.ListItemsRequest, fn func(sdk.ListedItem) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.mu.Lock()
	s.warnings = nil
	s.mu.Unlock()
	stream, err := s.c.ListItems(ctx, &pluginv1.ListItemsRequest{SinceUnixMillis: millis(req.Since), RetryIds: req.Retry})
	if err != nil {
		return fromStatus(err)
	}
	for {
		m, err := stream.Recv()
		if err == io.EOF {
			// The plugin may have sent the last batch before the caller
			// cancelled; a cancelled listing still says so, as it does in
			// process, so a stopped run never takes it for complete.
			if err := ctx.Err(); err != nil {
				return sdk.Classify(sdk.KindCanceled, err)
			}
			return nil
		}
		if err != nil {
			return fromStatus(err)
		}
		if w := m.GetWarnings(); len(w) > 0 {
			s.mu.Lock()
			s.warnings = append(s.warnings, w...)
			s.mu.Unlock()
		}
		for _, it := range m.GetItems() {
			// A batch holds many items: stop between them once cancelled.
			if err := ctx.Err(); err != nil {
				return sdk.Classify(sdk.KindCanceled, err)
			}
			if err := fn(sdk.ListedItem{Item: itemFromProto(it.GetItem()), Excluded: it.GetExcluded(), Reason: it.GetReason()}); err != nil {
				return err
			}
		}
	}
}

type doStream struct {
	s pluginv1.SourceService_DoClient
}

func (d doStream) recv() (*pluginv1.HttpResponseHeader, []byte, error) {
	m, err := d.s.Recv()
	if err != nil {
		return nil, nil, err
	}
	return m.GetHeader(), m.GetChunk(), nil
}

func (s *SourceClient) Do(ctx context.Context, req sdk.PortalRequest) (*sdk.PortalResponse, error) {
	if req.File != nil {
		return s.doUpload(ctx, req)
	}
	ctx, cancel := context.WithCancel(ctx)
	stream, err := s.c.Do(ctx, &pluginv1.DoRequest{Request: httpRequestToProto(req)})
	if err != nil {
		cancel()
		return nil, fromStatus(err)
	}
	return openHTTP(doStream{stream}, cancel)
}

// ListWarnings returns the warnings the plugin sent with its last listing
// (none from a plugin that does not report any).
func (s *SourceClient) ListWarnings() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.warnings...)
}

// OrgMetadata streams the plugin's organization metadata into w. It fails
// as not supported when the plugin did not declare the feature.
func (s *SourceClient) OrgMetadata(ctx context.Context, w io.Writer) error {
	if !s.features.OrgMetadata {
		return sdk.Permanent("source plugin %q does not declare org metadata", s.info.Name)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := s.c.OrgMetadata(ctx, &pluginv1.OrgMetadataRequest{})
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
		if _, err := w.Write(m.GetChunk()); err != nil {
			return err
		}
	}
}

func (s *SourceClient) Close() error {
	return closeOnce(&s.once, s.c.Close, &pluginv1.SourceServiceCloseRequest{})
}

// SourceServer serves any sdk.Source as a SourceService.
type SourceServer struct {
	pluginv1.UnimplementedSourceServiceServer
	Impl sdk.Source
}

func (s *SourceServer) Describe(context.Context, *pluginv1.SourceServiceDescribeRequest) (*pluginv1.SourceServiceDescribeResponse, error) {
	f := s.features()
	return &pluginv1.SourceServiceDescribeResponse{Info: infoToProto(s.Impl.Info()), Schema: schemaToProto(s.Impl.Schema()),
		Features: &pluginv1.SourceFeatures{OrgMetadata: f.OrgMetadata}}, nil
}

// features is what Impl declares, limited to what it implements, so a
// declaration without the method is never sent to the host.
func (s *SourceServer) features() sdk.SourceFeatures {
	f := sdk.SourceFeaturesOf(s.Impl)
	if _, ok := s.Impl.(sdk.OrgMetadataSource); !ok {
		f.OrgMetadata = false
	}
	return f
}

func (s *SourceServer) Configure(ctx context.Context, req *pluginv1.SourceServiceConfigureRequest) (*pluginv1.SourceServiceConfigureResponse, error) {
	v, err := decodeConfig(req.GetConfig(), s.Impl.Schema())
	if err != nil {
		return &pluginv1.SourceServiceConfigureResponse{Diagnostics: diagsToProto(diagsFromError("Invalid source configuration", err))}, nil
	}
	creq := sdk.ConfigureRequest{Config: v, Name: req.GetComponentName(), PipelineFile: req.GetPipelineFile(), DryRun: req.GetDryRun()}
	return &pluginv1.SourceServiceConfigureResponse{Diagnostics: diagsToProto(s.Impl.Configure(ctx, creq))}, nil
}

func (s *SourceServer) Connect(ctx context.Context, _ *pluginv1.ConnectRequest) (*pluginv1.ConnectResponse, error) {
	org, err := s.Impl.Connect(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pluginv1.ConnectResponse{Org: orgToProto(org)}, nil
}

// itemBatch is how many items travel in one ListItems message.
const itemBatch = 100

func (s *SourceServer) ListItems(req *pluginv1.ListItemsRequest, stream pluginv1.SourceService_ListItemsServer) error {
	var batch []*pluginv1.ListedItem
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := stream.Send(&pluginv1.ListItemsResponse{Items: batch})
		batch = nil
		return err
	}
	var since time.Time
	if ms := req.GetSinceUnixMillis(); ms != 0 {
		since = time.UnixMilli(ms)
	}
	err := s.Impl.ListItems(stream.Context(), sdk.ListItemsRequest{Since: since, Retry: req.GetRetryIds()}, func(it sdk.ListedItem) error {
		batch = append(batch, &pluginv1.ListedItem{Item: itemToProto(it.Item), Excluded: it.Excluded, Reason: it.Reason})
		if len(batch) >= itemBatch {
			return flush()
		}
		return nil
	})
	if err != nil {
		return toStatus(err)
	}
	if lw, ok := s.Impl.(sdk.ListWarner); ok {
		if w := lw.ListWarnings(); len(w) > 0 {
			if err := flush(); err != nil {
				return toStatus(err)
			}
			return toStatus(stream.Send(&pluginv1.ListItemsResponse{Warnings: w}))
		}
	}
	return toStatus(flush())
}

// metadataChunk is the size of one OrgMetadata message.
const metadataChunk = 64 << 10

// OrgMetadata streams Impl's organization metadata in chunks.
func (s *SourceServer) OrgMetadata(_ *pluginv1.OrgMetadataRequest, stream pluginv1.SourceService_OrgMetadataServer) error {
	m, ok := s.Impl.(sdk.OrgMetadataSource)
	if !ok || !s.features().OrgMetadata {
		return toStatus(sdk.Permanent("source %q does not provide org metadata", s.Impl.Info().Name))
	}
	bw := bufio.NewWriterSize(messageWriter(func(b []byte) error {
		return stream.Send(&pluginv1.OrgMetadataResponse{Chunk: b})
	}), metadataChunk)
	if err := m.OrgMetadata(stream.Context(), bw); err != nil {
		return toStatus(err)
	}
	return toStatus(bw.Flush())
}

// messageWriter is an io.Writer that sends each write as one message; Send
// marshals before it returns, so the caller may reuse b.
type messageWriter func(b []byte) error

func (c messageWriter) Write(b []byte) (int, error) {
	for rest := b; len(rest) > 0; {
		n := min(len(rest), metadataChunk)
		if err := c(rest[:n]); err != nil {
			return len(b) - len(rest), err
		}
		rest = rest[n:]
	}
	return len(b), nil
}

func (s *SourceServer) Do(req *pluginv1.DoRequest, stream pluginv1.SourceService_DoServer) error {
	resp, err := s.Impl.Do(stream.Context(), httpRequestFromProto(req.GetRequest()))
	if err != nil {
		return toStatus(err)
	}
	return sendHTTP(resp, func(h *pluginv1.HttpResponseHeader) error {
		return stream.Send(&pluginv1.DoResponse{Msg: &pluginv1.DoResponse_Header{Header: h}})
	}, func(b []byte) error {
		return stream.Send(&pluginv1.DoResponse{Msg: &pluginv1.DoResponse_Chunk{Chunk: b}})
	})
}

func (s *SourceServer) Close(context.Context, *pluginv1.SourceServiceCloseRequest) (*pluginv1.SourceServiceCloseResponse, error) {
	return &pluginv1.SourceServiceCloseResponse{}, toStatus(s.Impl.Close())
}
