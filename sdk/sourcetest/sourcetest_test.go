package sourcetest_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/sourcetest"
)

// fakeSource is an org of five items behind a password; mode chooses one
// contract violation, so the tests below can prove the suite notices it.
type fakeSource struct {
	mode string
	cfg  struct {
		URL      *string `cty:"url"`
		Password *string `cty:"password"`
	}
}

func (s *fakeSource) Info() sdk.Info {
	return sdk.Info{Kind: sdk.KindSource, Name: "fake", Version: "1", Description: "test org"}
}

func (s *fakeSource) Schema() sdk.Schema {
	return sdk.Schema{Attributes: []sdk.Attribute{
		{Name: "url", Type: sdk.TypeString, Required: true, Description: "portal URL"},
		{Name: "password", Type: sdk.TypeString, Sensitive: true, Description: "the password"},
	}}
}

func (s *fakeSource) Configure(_ context.Context, req sdk.ConfigureRequest) sdk.Diagnostics {
	var d sdk.Diagnostics
	if err := sdk.DecodeConfig(req.Config, &s.cfg); err != nil {
		return d.Errorf(nil, "Invalid configuration", "%v", err)
	}
	if s.cfg.URL == nil {
		d = d.Errorf([]string{"url"}, "Missing url", "set the portal URL")
	}
	return d
}

func (s *fakeSource) Connect(context.Context) (sdk.OrgInfo, error) {
	if s.cfg.Password == nil || *s.cfg.Password != "right-password" {
		if s.mode == "secret-in-error" {
			return sdk.OrgInfo{}, sdk.Auth("password %q refused", *s.cfg.Password)
		}
		return sdk.OrgInfo{}, sdk.Auth("the portal refused the password; check it")
	}
	return sdk.OrgInfo{PortalURL: *s.cfg.URL, Mode: "online", Username: "admin", ItemCount: 5}, nil
}

func (s *fakeSource) ListItems(ctx context.Context, _ sdk.ListItemsRequest, fn func(sdk.ListedItem) error) error {
	for i := range 5 {
		if s.mode != "ignores-cancel" {
			if err := ctx.Err(); err != nil {
				return sdk.Classify(sdk.KindCanceled, err)
			}
		}
		id := fmt.Sprintf("%032d", i)
		if s.mode == "duplicate-items" {
			id = "00000000000000000000000000000001"
		}
		if err := fn(sdk.ListedItem{Item: sdk.Item{ID: id, Type: "Web Map", Title: fmt.Sprint("map ", i)}}); err != nil {
			return err
		}
	}
	return nil
}

func (s *fakeSource) Do(ctx context.Context, req sdk.PortalRequest) (*sdk.PortalResponse, error) {
	if err := ctx.Err(); err != nil {
		return nil, sdk.Classify(sdk.KindCanceled, err)
	}
	if strings.HasPrefix(req.URL, "content/items/") {
		if s.mode == "unclassified-not-found" {
			return nil, errors.New("item does not exist")
		}
		return nil, sdk.NotFound("item does not exist or is inaccessible")
	}
	return &sdk.PortalResponse{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("{}"))}, nil
}

func (s *fakeSource) Close() error { return nil }

func options() sourcetest.Options {
	attrs := func(p string) map[string]cty.Value {
		return map[string]cty.Value{"url": cty.StringVal("https://gis.example.invalid/portal"), "password": cty.StringVal(p)}
	}
	return sourcetest.Options{Valid: attrs("right-password"), Refused: attrs("wrong-password"), MinItems: 5}
}

// A well-behaved source passes the whole suite.
func TestGoodSourcePasses(t *testing.T) {
	sourcetest.Run(t, func() sdk.Source { return &fakeSource{} }, options())
}

// TestHelperBrokenSource is run in a child process by TestSuiteCatches; on
// its own it does nothing.
func TestHelperBrokenSource(t *testing.T) {
	mode := os.Getenv("SOURCETEST_BROKEN_MODE")
	if mode == "" {
		t.Skip("helper for TestSuiteCatches")
	}
	sourcetest.Run(t, func() sdk.Source { return &fakeSource{mode: mode} }, options())
}

func TestSuiteCatches(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the suite in child processes")
	}
	both := func(check, says string) []string {
		return []string{"--- FAIL: TestHelperBrokenSource/in-process/" + check, "--- FAIL: TestHelperBrokenSource/grpc/" + check, says}
	}
	cases := []struct {
		mode string
		want []string
	}{
		{"duplicate-items", both("ListItems", "listed 5 times, want once")},
		// Over gRPC the client adapter itself reports a cancelled listing
		// (the check caught it not doing so), so this shows in process.
		{"ignores-cancel", []string{"--- FAIL: TestHelperBrokenSource/in-process/ListCanceled", "--- PASS: TestHelperBrokenSource/grpc/ListCanceled", "ListItems cancelled mid-way returned nil"}},
		{"unclassified-not-found", both("DoNotFound", "want not found")},
		{"secret-in-error", both("RefusedCredentials", "shows the value of a sensitive attribute")},
	}
	for _, c := range cases {
		t.Run(c.mode, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperBrokenSource$", "-test.v")
			cmd.Env = append(os.Environ(), "SOURCETEST_BROKEN_MODE="+c.mode)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Errorf("the suite passed a source that is %s; output:\n%s", c.mode, out)
			}
			for _, w := range c.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}
