package grpcplugin_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/grpcplugin/grpctest"
	"github.com/zclconf/go-cty/cty"
)

// metaSource declares org metadata and reports listing warnings; it also
// records what Configure was told about its block.
type metaSource struct {
	grpctest.FakeSource
	doc      string
	name     string
	pipeline string
}

func (s *metaSource) Configure(ctx context.Context, req sdk.ConfigureRequest) sdk.Diagnostics {
	s.name, s.pipeline = req.Name, req.PipelineFile
	return s.FakeSource.Configure(ctx, req)
}
func (s *metaSource) SourceFeatures() sdk.SourceFeatures {
	return sdk.SourceFeatures{OrgMetadata: true}
}
func (s *metaSource) OrgMetadata(ctx context.Context, w io.Writer) error {
	_, err := io.WriteString(w, s.doc)
	return err
}
func (s *metaSource) ListWarnings() []string {
	return []string{"listed 2 of 3 items", "folder Archive of jdoe could not be read"}
}

// declaresOnly claims the feature without the method: the server must not
// pass the claim on.
type declaresOnly struct{ grpctest.FakeSource }

func (s *declaresOnly) SourceFeatures() sdk.SourceFeatures {
	return sdk.SourceFeatures{OrgMetadata: true}
}

func TestSourceFeaturesOverGRPC(t *testing.T) {
	ctx := context.Background()
	// A document several messages long, not a multiple of the chunk size.
	var doc strings.Builder
	doc.WriteString(`{"format":"` + sdk.OrgMetadataFormat + `","users":[`)
	for i := range 20000 {
		fmt.Fprintf(&doc, `{"username":"user%05d"},`, i)
	}
	doc.WriteString(`{}]}`)
	impl := &metaSource{doc: doc.String()}
	s := grpctest.Source(t, impl)
	if !sdk.SourceFeaturesOf(s).OrgMetadata {
		t.Fatal("the client adapter does not pass on the declared org metadata feature")
	}
	if d := s.Configure(ctx, sdk.ConfigureRequest{Config: sourceConfig(), Name: "prod", PipelineFile: "nightly.hcl"}); d.HasErrors() {
		t.Fatal(d.Err())
	}
	if impl.name != "prod" || impl.pipeline != "nightly.hcl" {
		t.Errorf("Configure got name %q pipeline %q over the wire", impl.name, impl.pipeline)
	}
	var n int
	if err := s.ListItems(ctx, sdk.ListItemsRequest{}, func(sdk.ListedItem) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	lw, ok := s.(sdk.ListWarner)
	if !ok {
		t.Fatal("client adapter is not a ListWarner")
	}
	if w := lw.ListWarnings(); n != 3 || len(w) != 2 || w[1] != "folder Archive of jdoe could not be read" {
		t.Errorf("listed %d items, warnings %q", n, w)
	}
	var got bytes.Buffer
	if err := s.(sdk.OrgMetadataSource).OrgMetadata(ctx, &got); err != nil {
		t.Fatal(err)
	}
	if got.String() != doc.String() {
		t.Errorf("org metadata: got %d bytes, want %d identical", got.Len(), doc.Len())
	}

	plain := grpctest.Source(t, &grpctest.FakeSource{})
	if sdk.SourceFeaturesOf(plain).OrgMetadata {
		t.Error("a source without the feature declares it over gRPC")
	}
	if err := plain.(sdk.OrgMetadataSource).OrgMetadata(ctx, io.Discard); err == nil || sdk.KindOf(err) != sdk.KindPermanent {
		t.Errorf("org metadata from a source without it: %v, want a permanent error", err)
	}
	if err := plain.ListItems(ctx, sdk.ListItemsRequest{}, func(sdk.ListedItem) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if w := plain.(sdk.ListWarner).ListWarnings(); len(w) != 0 {
		t.Errorf("a source without warnings reported %q", w)
	}
	if sdk.SourceFeaturesOf(grpctest.Source(t, &declaresOnly{})).OrgMetadata {
		t.Error("a declaration without the OrgMetadata method reached the host")
	}
}

func sourceConfig() cty.Value {
	return cty.ObjectVal(map[string]cty.Value{"items": cty.NumberIntVal(3), "password": cty.NullVal(cty.String)})
}
