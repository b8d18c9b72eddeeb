package arcgis

import (
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/sourcetest"
	"github.com/agolpipe/agolpipe/sim"
)

// TestContract runs sdk/sourcetest, the source contract suite, against the
// simulated org, in process and over gRPC.
func TestContract(t *testing.T) {
	srv, err := sim.Start(sim.Options{Items: 60, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	admin := srv.Users()[0]
	attrs := func(password string) map[string]cty.Value {
		return map[string]cty.Value{
			"url": cty.StringVal(srv.PortalURL()),
			"auth": cty.ObjectVal(map[string]cty.Value{
				"username": cty.StringVal(admin.Username),
				"password": cty.StringVal(password),
			}),
		}
	}
	sourcetest.Run(t, func() sdk.Source { return New() }, sourcetest.Options{
		Valid:    attrs(admin.Password),
		Refused:  attrs("not-" + admin.Password),
		MinItems: 60,
	})
}
