package grpcplugin

import (
	"context"
	"io"
	"sync"
	"time"

	pluginv1 "github.com/agolpipe/agolpipe/proto/agolpipe/plugin/v1"
	"github.com/agolpipe/agolpipe/sdk"
	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

// GRPCServer registers the exporter server adapter.
func (p *ExporterPlugin) GRPCServer(b *plugin.GRPCBroker, s *grpc.Server) error {
	pluginv1.RegisterExporterServiceServer(s, &ExporterServer{Impl: p.Impl, Broker: b})
	return nil
}

// GRPCClient returns an sdk.Exporter that calls the plugin.
func (p *ExporterPlugin) GRPCClient(ctx context.Context, b *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	e, err := NewExporterClient(ctx, pluginv1.NewExporterServiceClient(c), b)
	if err != nil {
		return nil, err
	}
	e.data = p.Data
	return e, nil
}

// ExporterClient implements sdk.Exporter by calling an ExporterService; the
// Host it is given is served to the plugin over broker. Exports may run
// concurrently.
type ExporterClient struct {
	c         pluginv1.ExporterServiceClient
	broker    *plugin.GRPCBroker
	info      sdk.Info
	schema    sdk.Schema
	itemTypes []string
	// restoreTypes are the item types the plugin can restore (features).
	restoreTypes []string
	// restoreSkipped are those whose skipped exports it restores too.
	restoreSkipped []string
	// calls is the plugin's shared host service, nil when the plugin does
	// not name its calls (features.host_calls) and gets one per call.
	calls *hostCalls
	once  sync.Once
	// data is the host's data channel, nil for none.
	data *DataChannel
}

// NewExporterClient asks the plugin to describe itself and returns the adapter.
func NewExporterClient(ctx context.Context, c pluginv1.ExporterServiceClient, b *plugin.GRPCBroker) (*ExporterClient, error) {
	d, info, schema, err := describe(ctx, "exporter", c.Describe, &pluginv1.ExporterServiceDescribeRequest{})
	if err != nil {
		return nil, err
	}
	e := &ExporterClient{c: c, broker: b, info: info, schema: schema, itemTypes: d.GetItemTypes(),
		restoreTypes: d.GetFeatures().GetRestoreItemTypes(), restoreSkipped: d.GetFeatures().GetRestoreSkippedItemTypes()}
	if b != nil && d.GetFeatures().GetHostCalls() {
		e.calls = &hostCalls{broker: b}
	}
	return e, nil
}

// hostFor serves host to the plugin for one call: on the plugin's shared
// host service when it names its calls, else on a service of the call's
// own. It returns the broker id and call id (0: its own service) to send,
// and the function that ends the call (see endHost).
func (e *ExporterClient) hostFor(host sdk.Host) (uint32, uint64, func()) {
	switch {
	case host == nil || e.broker == nil:
		return 0, 0, func() {}
	case e.calls != nil:
		return e.calls.open(host)
	default:
		id := e.broker.NextId()
		return id, 0, serveHost(e.broker, id, &HostServer{Impl: host})
	}
}

func (e *ExporterClient) Info() sdk.Info      { return e.info }
func (e *ExporterClient) Schema() sdk.Schema  { return e.schema }
func (e *ExporterClient) ItemTypes() []string { return e.itemTypes }

func (e *ExporterClient) Configure(ctx context.Context, req sdk.ConfigureRequest) sdk.Diagnostics {
	cfg, err := encodeConfig(req.Config, e.schema)
	if err != nil {
		return diagsFromError("Invalid exporter configuration", err)
	}
	resp, err := e.c.Configure(ctx, &pluginv1.ExporterServiceConfigureRequest{Config: cfg})
	if err != nil {
		return diagsFromError("Exporter plugin failed to configure", fromStatus(err))
	}
	return diagsFromProto(resp.GetDiagnostics())
}

// cancelledHostGrace is how long the host keeps serving a cancelled
// export's plugin.
const cancelledHostGrace = 10 * time.Second

// Export runs one export. Each artifact the plugin streams is handed to
// out.Write as a reader of its chunks; when Write returns, the plugin gets
// an ack carrying Write's error, so the plugin's own Write returns only when
// the host has finished with the artifact.
func (e *ExporterClient) Export(ctx context.Context, req sdk.ExportRequest, host sdk.Host, out sdk.ArtifactWriter) (sdk.ExportResult, error) {
	hostID, callID, stop := e.hostFor(host)
	defer endHost(ctx, stop)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := e.c.Export(ctx)
	if err != nil {
		return sdk.ExportResult{}, fromStatus(err)
	}
	start := &pluginv1.ExportStart{Item: itemToProto(req.Item), RunId: req.RunID, Org: orgToProto(req.Org), HostBrokerId: hostID, HostCallId: callID,
		Resume: req.Resume, TimeoutMillis: timeoutMillis(req.Timeout), Format: req.Format}
	if p := e.data.listener(); p != nil {
		start.DataAddress = p.addr
	}
	if err := stream.Send(&pluginv1.ExportRequest{Msg: &pluginv1.ExportRequest_Start{Start: start}}); err != nil {
		_, err = stream.Recv()
		return sdk.ExportResult{}, fromStatus(err)
	}
	for {
		m, err := stream.Recv()
		if err == io.EOF {
			return sdk.ExportResult{}, sdk.Permanent("exporter plugin ended the export of item %s without a result", req.Item.ID)
		}
		if err != nil {
			return sdk.ExportResult{}, fromStatus(err)
		}
		switch {
		case m.GetResult() != nil:
			r := m.GetResult()
			return sdk.ExportResult{Status: sdk.ExportStatus(r.GetStatus()), Reason: r.GetReason(), Warnings: r.GetWarnings(), Format: r.GetFormat()}, nil
		case m.GetArtifactBegin() != nil:
			a := artifactFromProto(m.GetArtifactBegin())
			body, err := e.artifactBody(ctx, stream, a)
			if err != nil {
				return sdk.ExportResult{}, err
			}
			werr := out.Write(ctx, a, body)
			if err := body.skip(); err != nil {
				// The stream itself broke (the plugin died or went silent).
				return sdk.ExportResult{}, err
			}
			ack := &pluginv1.ArtifactAck{}
			if werr != nil {
				ack.Error, ack.ErrorDetail = werr.Error(), errorDetail(werr)
			}
			if err := stream.Send(&pluginv1.ExportRequest{Msg: &pluginv1.ExportRequest_Ack{Ack: ack}}); err != nil {
				_, err = stream.Recv()
				return sdk.ExportResult{}, fromStatus(err)
			}
		default:
			return sdk.ExportResult{}, sdk.Permanent("exporter plugin broke the protocol: unexpected message during the export of item %s", req.Item.ID)
		}
	}
}

func (e *ExporterClient) Close() error {
	if e.calls != nil {
		defer e.calls.close()
	}
	return closeOnce(&e.once, e.c.Close, &pluginv1.ExporterServiceCloseRequest{})
}

// ExporterServer serves any sdk.Exporter as an ExporterService. Broker
// reaches the host's HostService.
type ExporterServer struct {
	pluginv1.UnimplementedExporterServiceServer
	Impl   sdk.Exporter
	Broker *plugin.GRPCBroker
	// hosts are the connections to the host's shared host service.
	hosts hostConns
}

// hostClient is the host of one call: broker id and, on a shared host
// service, the call's id (hostcalls.go).
func (e *ExporterServer) hostClient(id uint32, call uint64) *HostClient {
	h := &HostClient{broker: e.Broker, id: id, call: call, shared: &e.hosts}
	if call != 0 {
		// Dialed now, not on first use: go-plugin's broker forgets the
		// service's address 5 s after it arrived unless a Dial takes it,
		// and the shared service's arrives once, with the first call,
		// which may not use the host (a plan) while a later one does.
		// An error is kept for the first request that needs the host.
		_, _ = h.client()
	}
	return h
}

func (e *ExporterServer) Describe(context.Context, *pluginv1.ExporterServiceDescribeRequest) (*pluginv1.ExporterServiceDescribeResponse, error) {
	return &pluginv1.ExporterServiceDescribeResponse{Info: infoToProto(e.Impl.Info()), Schema: schemaToProto(e.Impl.Schema()), ItemTypes: e.Impl.ItemTypes(),
		Features: exporterFeatures(e.Impl)}, nil
}

func (e *ExporterServer) Configure(ctx context.Context, req *pluginv1.ExporterServiceConfigureRequest) (*pluginv1.ExporterServiceConfigureResponse, error) {
	v, err := decodeConfig(req.GetConfig(), e.Impl.Schema())
	if err != nil {
		return &pluginv1.ExporterServiceConfigureResponse{Diagnostics: diagsToProto(diagsFromError("Invalid exporter configuration", err))}, nil
	}
	return &pluginv1.ExporterServiceConfigureResponse{Diagnostics: diagsToProto(e.Impl.Configure(ctx, sdk.ConfigureRequest{Config: v}))}, nil
}

func (e *ExporterServer) Export(stream pluginv1.ExporterService_ExportServer) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	start := first.GetStart()
	if start == nil {
		return toStatus(sdk.Permanent("Export stream did not start with ExportStart"))
	}
	host := e.hostClient(start.GetHostBrokerId(), start.GetHostCallId())
	defer host.close()
	w := &artifactWriter{stream: stream, dataAddr: start.GetDataAddress()}
	req := sdk.ExportRequest{Item: itemFromProto(start.GetItem()), RunID: start.GetRunId(), Org: orgFromProto(start.GetOrg()),
		Resume: start.GetResume(), Timeout: time.Duration(start.GetTimeoutMillis()) * time.Millisecond, Format: start.GetFormat()}
	res, err := e.Impl.Export(stream.Context(), req, host, w)
	if err != nil {
		return toStatus(err)
	}
	return stream.Send(&pluginv1.ExportResponse{Msg: &pluginv1.ExportResponse_Result{Result: &pluginv1.ExportResult{Status: string(res.Status), Reason: res.Reason, Warnings: res.Warnings, Format: res.Format}}})
}

func (e *ExporterServer) Close(context.Context, *pluginv1.ExporterServiceCloseRequest) (*pluginv1.ExporterServiceCloseResponse, error) {
	defer e.hosts.close()
	return &pluginv1.ExporterServiceCloseResponse{}, toStatus(e.Impl.Close())
}

// timeoutMillis is an export timeout in the protocol's milliseconds. A
// positive timeout under 1 ms stays positive (0 would mean no limit), and a
// negative one (resume with no time left) stays negative.
func timeoutMillis(d time.Duration) int64 {
	switch ms := d.Milliseconds(); {
	case d > 0 && ms == 0:
		return 1
	case d < 0 && ms == 0:
		return -1
	default:
		return ms
	}
}
