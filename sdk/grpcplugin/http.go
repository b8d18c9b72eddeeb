package grpcplugin

import (
	"context"
	"errors"
	"net/http"

	pluginv1 "github.com/agolpipe/agolpipe/proto/agolpipe/plugin/v1"
	"github.com/agolpipe/agolpipe/sdk"
)

// httpStream is the receiving side of a streamed portal response (Source.Do
// and Host.Portal share the shape): a header, then body chunks.
type httpStream interface {
	recv() (hdr *pluginv1.HttpResponseHeader, chunk []byte, err error)
}

// openHTTP reads the header and returns a response whose Body reads the
// chunks; closing Body cancels the stream.
func openHTTP(s httpStream, cancel context.CancelFunc) (*sdk.PortalResponse, error) {
	hdr, _, err := s.recv()
	if err != nil {
		cancel()
		return nil, fromStatus(err)
	}
	if hdr == nil {
		cancel()
		return nil, sdk.Permanent("plugin broke the protocol: portal response did not start with a header")
	}
	body := &chunkReader{recv: func() ([]byte, error) {
		_, b, err := s.recv()
		return b, err
	}, cancel: cancel}
	return &sdk.PortalResponse{StatusCode: int(hdr.GetStatusCode()), Header: http.Header(valuesFromProto(hdr.GetHeader())), Body: body}, nil
}

// sendHTTP streams resp (header then body) with send and closes the body.
func sendHTTP(resp *sdk.PortalResponse, sendHeader func(*pluginv1.HttpResponseHeader) error, sendChunk func([]byte) error) error {
	if resp.Body != nil {
		defer resp.Body.Close()
	}
	if err := sendHeader(&pluginv1.HttpResponseHeader{StatusCode: int32(resp.StatusCode), Header: valuesToProto(resp.Header)}); err != nil {
		return err
	}
	if resp.Body == nil {
		return nil
	}
	_, _, err := sendChunks(resp.Body, nopHash{}, sendChunk)
	if errors.Is(err, errSend) {
		return toStatus(sdk.Classify(sdk.KindCanceled, errors.New("the reader of the portal response went away")))
	}
	return toStatus(err)
}
