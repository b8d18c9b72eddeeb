package arcgisrest

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/agolpipe/agolpipe/sdk"
)

// TestDeleteItemRetriesWithinBound: a throttled delete is retried until it
// goes through; one throttled for longer than the bound stops at the bound
// with the portal's error; a refused one is not retried; an item already
// gone is deleted.
func TestDeleteItemRetriesWithinBound(t *testing.T) {
	throttled := sdk.Retryable("throttled (HTML 403)")
	portal := func(errs ...error) (Portal, *int) {
		n := 0
		return func(ctx context.Context, req sdk.PortalRequest) (*sdk.PortalResponse, error) {
			n++
			if req.Form.Get("permanentDelete") != "true" || !strings.HasSuffix(req.URL, "/items/abc/delete") {
				t.Errorf("request %s %v", req.URL, req.Form)
			}
			if n <= len(errs) && errs[n-1] != nil {
				return nil, errs[n-1]
			}
			return &sdk.PortalResponse{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(`{"success":true,"itemId":"abc"}`))}, nil
		}, &n
	}
	opt := DeleteOptions{Base: time.Millisecond, Max: 4 * time.Millisecond, Bound: 2 * time.Second}
	p, n := portal(throttled, throttled, throttled)
	if err := DeleteItem(context.Background(), p, "u", "abc", true, opt); err != nil || *n != 4 {
		t.Errorf("throttled 3 times: %v after %d requests, want success after 4", err, *n)
	}
	always := make([]error, 10000)
	for i := range always {
		always[i] = throttled
	}
	p, n = portal(always...)
	start := time.Now()
	err := DeleteItem(context.Background(), p, "u", "abc", true, DeleteOptions{Base: 10 * time.Millisecond, Max: 20 * time.Millisecond, Bound: 300 * time.Millisecond})
	if took := time.Since(start); err == nil || took > time.Second || *n < 5 {
		t.Errorf("always throttled: %v after %d requests in %s, want the error within the 300 ms bound", err, *n, took)
	}
	p, n = portal(sdk.Permanent("Unable to delete item. Delete protection is turned on."))
	if err := DeleteItem(context.Background(), p, "u", "abc", true, opt); err == nil || *n != 1 {
		t.Errorf("refused: %v after %d requests, want the error at once", err, *n)
	}
	p, n = portal(sdk.NotFound("Item does not exist or is inaccessible."))
	if err := DeleteItem(context.Background(), p, "u", "abc", true, opt); err != nil || *n != 1 {
		t.Errorf("already gone: %v after %d requests, want success", err, *n)
	}
}
