package arcgisrest

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/retry"
)

// TestWriteJSONResendsOnlyUnapplied: a write turned away throttled or for
// its token is sent again, its file opened afresh each time; a 500 (which
// may have been applied) is not.
func TestWriteJSONResendsOnlyUnapplied(t *testing.T) {
	answers := func(codes ...int) (Portal, *int, *[]string) {
		n := 0
		var bodies []string
		return func(_ context.Context, req sdk.PortalRequest) (*sdk.PortalResponse, error) {
			if req.File != nil {
				b, _ := io.ReadAll(req.File.Body)
				bodies = append(bodies, string(b))
			}
			code := codes[min(n, len(codes)-1)]
			n++
			if code != 200 {
				return nil, Classify(&Error{Code: code, HTTPStatus: 200, Message: "x"}, http.Header{})
			}
			return &sdk.PortalResponse{StatusCode: 200, Body: io.NopCloser(strings.NewReader(`{"success":true}`))}, nil
		}, &n, &bodies
	}
	pol := retry.Policy{Retries: 3, Sleep: func(context.Context, time.Duration) error { return nil }}
	open := func() (*sdk.PortalFile, io.Closer, error) {
		return &sdk.PortalFile{Field: "file", Name: "f", Size: 4, Body: strings.NewReader("data")}, nil, nil
	}
	var v struct{ Success bool }
	p, n, bodies := answers(429, 498, 200)
	if err := WriteJSON(context.Background(), p, pol, JSONPost("x", nil), open, &v); err != nil || !v.Success || *n != 3 {
		t.Errorf("429 then 498 then success: err %v, sent %d times", err, *n)
	}
	if strings.Join(*bodies, ",") != "data,data,data" {
		t.Errorf("the file was not sent whole each time: %q", *bodies)
	}
	p, n, _ = answers(500, 200)
	if err := WriteJSON(context.Background(), p, pol, JSONPost("x", nil), nil, &v); err == nil || *n != 1 {
		t.Errorf("a 500 was sent again (%d times, err %v): it may have been applied", *n, err)
	}
	p, n, _ = answers(429)
	if err := WriteJSON(context.Background(), p, pol, JSONPost("x", nil), nil, &v); sdk.ReasonOf(err) != sdk.ReasonThrottled || *n != 4 {
		t.Errorf("always throttled: sent %d times (want 1 + 3 retries), err %v", *n, err)
	}
	p, n, _ = answers(498)
	if err := WriteJSON(context.Background(), p, pol, JSONPost("x", nil), nil, &v); sdk.KindOf(err) != sdk.KindAuth || *n != 3 {
		t.Errorf("token always refused: sent %d times (want 3), err %v", *n, err)
	}
}
