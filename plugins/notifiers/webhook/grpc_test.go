package webhook

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/grpcplugin/grpctest"
	"github.com/agolpipe/agolpipe/sdk/notifytest"
)

// TestClassificationOverGRPC checks that kind and Retry-After survive the
// wire and that the secret URL does not travel in the error.
func TestClassificationOverGRPC(t *testing.T) {
	rec := &recorder{status: http.StatusTooManyRequests, retryAfter: "9", answer: "rate limited $PATH"}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	n := grpctest.Notifier(t, New())
	if diags := n.Configure(context.Background(), sdk.ConfigureRequest{Config: notifytest.Config(t, schema, attrs(srv.URL+secretPath))}); diags.HasErrors() {
		t.Fatal(diags.Err())
	}
	err := n.Notify(context.Background(), notifytest.SampleRequest())
	notifytest.ErrKind(t, err, sdk.KindRetryable)
	if got := sdk.RetryAfterOf(err); got != 9*time.Second {
		t.Errorf("RetryAfter over gRPC = %v, want 9s", got)
	}
	noSecrets(t, err.Error())
	if !strings.Contains(err.Error(), "429") {
		t.Errorf("error %q lacks the status", err)
	}
	rec.mu.Lock()
	rec.status = 0
	rec.mu.Unlock()
	if err := n.Notify(context.Background(), notifytest.SampleRequest()); err != nil {
		t.Fatalf("Notify over gRPC: %v", err)
	}
	if got := string(rec.bodies[len(rec.bodies)-1]); !strings.Contains(got, `"total_items": 2041`) {
		t.Errorf("payload over gRPC lost counts:\n%s", got)
	}
}
