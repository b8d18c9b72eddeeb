package grpcplugin

import (
	"context"
	"errors"
	"fmt"
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
	return NewExporterClient(ctx, pluginv1.NewExporterServiceClient(c), b)
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
	once      sync.Once
}

// NewExporterClient asks the plugin to describe itself and returns the adapter.
func NewExporterClient(ctx context.Context, c pluginv1.ExporterServiceClient, b *plugin.GRPCBroker) (*ExporterClient, error) {
	d, info, schema, err := describe(ctx, "exporter", c.Describe, &pluginv1.ExporterServiceDescribeRequest{})
	if err != nil {
		return nil, err
	}
	return &ExporterClient{c: c, broker: b, info: info, schema: schema, itemTypes: d.GetItemTypes()}, nil
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
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var hostID uint32
	if host != nil && e.broker != nil {
		hostID = e.broker.NextId()
		stop := serveHost(e.broker, hostID, host)
		defer func() {
			if parent.Err() != nil {
				// Cancelled: the call returns at once, but the plugin is
				// still cleaning up (deleting temporary export items) and
				// needs the host's portal for a moment longer.
				time.AfterFunc(cancelledHostGrace, stop)
				return
			}
			stop()
		}()
	}
	stream, err := e.c.Export(ctx)
	if err != nil {
		return sdk.ExportResult{}, fromStatus(err)
	}
	start := &pluginv1.ExportStart{Item: itemToProto(req.Item), RunId: req.RunID, Org: orgToProto(req.Org), HostBrokerId: hostID,
		Resume: req.Resume, TimeoutMillis: timeoutMillis(req.Timeout), Format: req.Format}
	if p := hostDataPort(); p != nil {
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

// artifactBody is the body of the artifact a just received begin opened:
// its bytes come on the data channel when the next message says so, else
// in chunk messages.
func (e *ExporterClient) artifactBody(ctx context.Context, stream pluginv1.ExporterService_ExportClient, a sdk.Artifact) (artifactBody, error) {
	first, err := stream.Recv()
	if err != nil {
		return nil, fromStatus(err)
	}
	end := func(m *pluginv1.ExportResponse) (*trailer, error) {
		e := m.GetArtifactEnd()
		if e == nil {
			return nil, sdk.Permanent("exporter plugin broke the protocol: expected a chunk or the end of %s", a.Name)
		}
		if e.GetError() != "" {
			return &trailer{err: fromDetail(e.GetError(), e.GetErrorDetail())}, nil
		}
		return &trailer{size: e.GetSize(), sum: e.GetCrc32C()}, nil
	}
	if dc := first.GetDataChannel(); dc != nil {
		p := hostDataPort()
		if p == nil {
			return nil, sdk.Permanent("exporter plugin broke the protocol: it sent %s on a data channel the host did not offer", a.Name)
		}
		conn, err := p.claim(ctx, dc.GetToken(), nil)
		if err != nil {
			return nil, err
		}
		stop := closeOnDone(ctx, conn)
		return &dataReader{bodyEnd: bodyEnd{what: a.Name}, conn: conn, trailer: func() (*trailer, error) {
			stop()
			m, err := stream.Recv()
			if err != nil {
				return nil, err
			}
			return end(m)
		}}, nil
	}
	pending := first
	return &trailerReader{bodyEnd: bodyEnd{what: a.Name}, h: newCRC(), recv: func() ([]byte, *trailer, error) {
		m := pending
		pending = nil
		if m == nil {
			var err error
			if m, err = stream.Recv(); err != nil {
				return nil, nil, err
			}
		}
		if m.GetChunk() != nil {
			return m.GetChunk(), nil, nil
		}
		t, err := end(m)
		return nil, t, err
	}}, nil
}

// artifactBody is an artifact's body as it arrives from the plugin; skip
// discards what the host did not read, so the stream stays in step with
// the plugin, and reports the error that broke the stream, if it did.
type artifactBody interface {
	io.Reader
	skip() error
}

// skip reads the rest of the chunks (the sinks stopped early).
func (r *trailerReader) skip() error {
	if !r.ended && r.err == nil {
		_, _ = io.Copy(io.Discard, r)
	}
	if !r.ended {
		return r.err
	}
	return nil
}

func (e *ExporterClient) Close() error {
	return closeOnce(&e.once, e.c.Close, &pluginv1.ExporterServiceCloseRequest{})
}

// ExporterServer serves any sdk.Exporter as an ExporterService. Broker
// reaches the host's HostService.
type ExporterServer struct {
	pluginv1.UnimplementedExporterServiceServer
	Impl   sdk.Exporter
	Broker *plugin.GRPCBroker
}

func (e *ExporterServer) Describe(context.Context, *pluginv1.ExporterServiceDescribeRequest) (*pluginv1.ExporterServiceDescribeResponse, error) {
	return &pluginv1.ExporterServiceDescribeResponse{Info: infoToProto(e.Impl.Info()), Schema: schemaToProto(e.Impl.Schema()), ItemTypes: e.Impl.ItemTypes()}, nil
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
	host := &HostClient{broker: e.Broker, id: start.GetHostBrokerId()}
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
	return &pluginv1.ExporterServiceCloseResponse{}, toStatus(e.Impl.Close())
}

// artifactWriter is the plugin side of an export's artifacts. Writes are
// serialized: artifacts travel one after the other on the one stream.
type artifactWriter struct {
	mu     sync.Mutex
	stream pluginv1.ExporterService_ExportServer
	broken error
	// dataAddr is the host's data channel, "" when it offers none or this
	// plugin could not reach it.
	dataAddr string
}

func (w *artifactWriter) Write(ctx context.Context, a sdk.Artifact, body io.Reader) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.broken != nil {
		return w.broken
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := w.stream.Send(&pluginv1.ExportResponse{Msg: &pluginv1.ExportResponse_ArtifactBegin{ArtifactBegin: artifactToProto(a)}}); err != nil {
		return w.fail(err)
	}
	n, sum, err := w.sendBody(ctx, a, body)
	end := &pluginv1.ArtifactEnd{Size: n, Crc32C: sum}
	var bodyErr error
	switch {
	case err == errSend:
		return w.fail(err)
	case err != nil:
		// The body failed: tell the host, which aborts the artifact in
		// every sink, then report the body's own error.
		bodyErr = err
		end = &pluginv1.ArtifactEnd{Error: err.Error(), ErrorDetail: errorDetail(err)}
	}
	if err := w.stream.Send(&pluginv1.ExportResponse{Msg: &pluginv1.ExportResponse_ArtifactEnd{ArtifactEnd: end}}); err != nil {
		return w.fail(err)
	}
	m, err := w.stream.Recv()
	if err != nil {
		return w.fail(err)
	}
	ack := m.GetAck()
	if ack == nil {
		return w.fail(sdk.Permanent("host broke the protocol: expected the ack of %s", a.Name))
	}
	if ack.GetError() != "" && (bodyErr == nil || errors.Is(bodyErr, errHostStopped)) {
		return fromDetail(ack.GetError(), ack.GetErrorDetail())
	}
	return bodyErr
}

// errHostStopped: the host closed an artifact's data channel before the
// end, because every sink gave up on it; the ack then carries their error.
var errHostStopped = errors.New("the host stopped reading the artifact")

// sendBody sends the artifact's bytes on the host's data channel when it
// offers one and the artifact is large enough, else as chunk messages. It
// returns the size and, for chunks, the CRC-32C for the trailer; errSend
// when the host went away.
func (w *artifactWriter) sendBody(ctx context.Context, a sdk.Artifact, body io.Reader) (int64, []byte, error) {
	if w.dataAddr != "" && useDataChannel(a.Size) {
		tok := newDataToken()
		// Connect before announcing the token: the host then finds the
		// connection waiting, and a plugin that cannot connect simply
		// sends chunks.
		conn, err := dialData(ctx, w.dataAddr, tok)
		if err != nil {
			w.dataAddr = ""
		} else {
			defer conn.Close()
			defer closeOnDone(ctx, conn)()
			if err := w.stream.Send(&pluginv1.ExportResponse{Msg: &pluginv1.ExportResponse_DataChannel{DataChannel: &pluginv1.DataChannel{Token: tok}}}); err != nil {
				return 0, nil, errSend
			}
			n, _, err := sendData(conn, body, nopHash{})
			if errors.Is(err, errSend) {
				// The host closed the channel: the sinks gave up on this
				// artifact. End it as failed; the ack says why.
				err = sdk.Classify(sdk.KindPermanent, fmt.Errorf("%s: %w", a.Name, errHostStopped))
			}
			conn.Close() // the end of the bytes
			return n, nil, err
		}
	}
	return sendChunks(body, newCRC(), func(b []byte) error {
		return w.stream.Send(&pluginv1.ExportResponse{Msg: &pluginv1.ExportResponse_Chunk{Chunk: b}})
	})
}

// fail remembers that the stream is unusable, so later writes fail at once.
func (w *artifactWriter) fail(err error) error {
	if ctxErr := w.stream.Context().Err(); ctxErr != nil {
		err = ctxErr
	}
	w.broken = sdk.Classify(sdk.KindOf(err), fmt.Errorf("sending artifact to the host: %w", err))
	return w.broken
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
