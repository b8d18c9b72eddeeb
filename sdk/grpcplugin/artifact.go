package grpcplugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	pluginv1 "github.com/agolpipe/agolpipe/proto/agolpipe/plugin/v1"
	"github.com/agolpipe/agolpipe/sdk"
)

// The exporter hop of the byte road, both ends: the plugin's
// artifactWriter sends each artifact on the host's data channel or in
// chunk messages and waits for the host's ack; the host's ExporterClient
// receives it as an artifactBody, a reader the engine hands to the sinks.

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
		p := e.data.listener()
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
	if w.dataAddr != "" && worthDataChannel(a.Size) {
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
