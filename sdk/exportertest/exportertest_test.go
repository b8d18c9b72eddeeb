package exportertest_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/exportertest"
)

// fakeHost answers every portal request with a small JSON body.
type fakeHost struct{}

func (fakeHost) Portal(ctx context.Context, req sdk.PortalRequest) (*sdk.PortalResponse, error) {
	if err := ctx.Err(); err != nil {
		return nil, sdk.Classify(sdk.KindCanceled, err)
	}
	return &sdk.PortalResponse{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(`{"url":"` + req.URL + `"}`))}, nil
}
func (fakeHost) Progress(context.Context, sdk.Progress)    {}
func (fakeHost) Log(context.Context, sdk.LogLevel, string) {}

// fakeExporter fetches item.json and data, writes them, and misbehaves in
// one way chosen by mode, so the tests below can prove the suite notices.
type fakeExporter struct{ mode string }

func (e *fakeExporter) Info() sdk.Info {
	return sdk.Info{Kind: sdk.KindExporter, Name: "fake", Version: "1", Description: "test exporter"}
}
func (e *fakeExporter) Schema() sdk.Schema                                              { return sdk.Schema{} }
func (e *fakeExporter) ItemTypes() []string                                             { return []string{"Web Map"} }
func (e *fakeExporter) Configure(context.Context, sdk.ConfigureRequest) sdk.Diagnostics { return nil }
func (e *fakeExporter) Close() error                                                    { return nil }

func (e *fakeExporter) Export(ctx context.Context, req sdk.ExportRequest, host sdk.Host, out sdk.ArtifactWriter) (sdk.ExportResult, error) {
	if e.mode == "ignores-cancel" {
		ctx = context.Background()
	}
	names := []string{"item.json", "data.json"}
	if e.mode == "duplicate-names" {
		names = []string{"item.json", "item.json"}
	}
	for _, name := range names {
		resp, err := host.Portal(ctx, sdk.PortalRequest{URL: "content/items/" + req.Item.ID + "/" + name})
		if err != nil {
			return sdk.ExportResult{}, err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err := out.Write(ctx, sdk.Artifact{Name: name, MediaType: "application/json", Size: int64(len(body))}, strings.NewReader(string(body))); err != nil {
			if e.mode == "cancel-is-success" {
				return sdk.ExportResult{Status: sdk.StatusExported}, nil
			}
			return sdk.ExportResult{}, err
		}
	}
	switch e.mode {
	case "partial-without-reason":
		return sdk.ExportResult{Status: sdk.StatusPartial}, nil
	case "writes-after-return":
		go func() {
			time.Sleep(20 * time.Millisecond)
			_ = out.Write(context.Background(), sdk.Artifact{Name: "late.json", Size: 2}, strings.NewReader("{}"))
		}()
	}
	return sdk.ExportResult{Status: sdk.StatusExported}, nil
}

func options() exportertest.Options {
	return exportertest.Options{
		Host:      fakeHost{},
		Requests:  []sdk.ExportRequest{{Item: sdk.Item{ID: "abc", Title: "Parks", Type: "Web Map"}, RunID: "run1"}},
		HangLimit: 2 * time.Second,
	}
}

// A well-behaved exporter passes the whole suite.
func TestGoodExporterPasses(t *testing.T) {
	exportertest.Run(t, func() sdk.Exporter { return &fakeExporter{} }, options())
}

// TestHelperBrokenExporter is run in a child process by TestSuiteCatches;
// on its own it does nothing.
func TestHelperBrokenExporter(t *testing.T) {
	mode := os.Getenv("EXPORTERTEST_BROKEN_MODE")
	if mode == "" {
		t.Skip("helper for TestSuiteCatches")
	}
	exportertest.Run(t, func() sdk.Exporter { return &fakeExporter{mode: mode} }, options())
}

func TestSuiteCatches(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the suite in child processes")
	}
	// A broken rule of the exporter's own output fails its check on both
	// roads.
	both := func(check, says string) []string {
		return []string{"--- FAIL: TestHelperBrokenExporter/in-process/" + check, "--- FAIL: TestHelperBrokenExporter/grpc/" + check, says}
	}
	// Over gRPC the client adapter itself returns when the context ends
	// and no write reaches the host once Export returned, so a broken
	// handling of cancellation or of late writes shows in process.
	inProcess := func(check, says string) []string {
		return []string{"--- FAIL: TestHelperBrokenExporter/in-process/" + check, "--- PASS: TestHelperBrokenExporter/grpc/" + check, says}
	}
	cases := []struct {
		mode string
		want []string
	}{
		{"duplicate-names", both("Export", `artifact name "item.json" written twice`)},
		{"partial-without-reason", both("Export", "status partial without a Reason")},
		{"writes-after-return", inProcess("Export", "Write call(s) after Export returned")},
		{"cancel-is-success", inProcess("CanceledWhileWriting", "context cancelled, yet Export returned no error")},
		{"ignores-cancel", inProcess("CanceledWhilePortalHangs", "Export did not return within")},
	}
	for _, c := range cases {
		t.Run(c.mode, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperBrokenExporter$", "-test.v")
			cmd.Env = append(os.Environ(), "EXPORTERTEST_BROKEN_MODE="+c.mode)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Errorf("the suite passed an exporter that is %s; output:\n%s", c.mode, out)
			}
			for _, w := range c.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}
