package email

import (
	"context"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/grpcplugin/grpctest"
	"github.com/agolpipe/agolpipe/sdk/notifytest"
)

// TestDeliverOverGRPC sends through the gRPC adapters to a real Mailpit and
// checks that an auth failure keeps its kind on the way back.
func TestDeliverOverGRPC(t *testing.T) {
	mp := startMailpit(t, "--smtp-auth-file", authFile(t, testUser, testPassword), "--smtp-auth-allow-insecure")
	send := func(attrs map[string]cty.Value) error {
		n := grpctest.Notifier(t, New())
		if diags := n.Configure(context.Background(), sdk.ConfigureRequest{Config: notifytest.Config(t, schema, attrs)}); diags.HasErrors() {
			t.Fatal(diags.Err())
		}
		return n.Notify(context.Background(), notifytest.SampleRequest())
	}
	good := with(validAttrs("127.0.0.1", mp.smtpPort), "tls", cty.StringVal("none"))
	if err := send(good); err != nil {
		t.Fatalf("Notify over gRPC: %v", err)
	}
	if list := mp.messages(t); len(list) != 1 || !strings.Contains(list[0].Subject, "3 failed, 2 partial of 2,041 items") {
		t.Errorf("Mailpit holds %+v", list)
	}
	err := send(with(good, "password", cty.StringVal("wrong")))
	notifytest.ErrKind(t, err, sdk.KindAuth)
}
