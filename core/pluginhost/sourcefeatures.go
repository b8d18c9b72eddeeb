package pluginhost

import (
	"context"
	"io"

	"github.com/agolpipe/agolpipe/sdk"
)

// The supervised source passes a plugin's optional abilities through, so
// the engine sees what the plugin declared (sdk.SourceFeaturesOf), not the
// wrapper's method set.

// SourceFeatures is what the running plugin declared.
func (x *source) SourceFeatures() sdk.SourceFeatures {
	v, _, _ := x.cur()
	return sdk.SourceFeaturesOf(v)
}

// OrgMetadata streams the plugin's organization metadata into w.
func (x *source) OrgMetadata(ctx context.Context, w io.Writer) error {
	v, p, g := x.cur()
	m, ok := v.(sdk.OrgMetadataSource)
	if !ok || !sdk.SourceFeaturesOf(v).OrgMetadata {
		return sdk.Permanent("source %q does not provide org metadata", x.s.c.Name)
	}
	return x.s.check(m.OrgMetadata(ctx, w), p, g, "writing the org metadata")
}

// ListWarnings returns the warnings of the plugin's last listing.
func (x *source) ListWarnings() []string {
	v, _, _ := x.cur()
	if lw, ok := v.(sdk.ListWarner); ok {
		return lw.ListWarnings()
	}
	return nil
}

var (
	_ sdk.FeatureSource     = (*source)(nil)
	_ sdk.OrgMetadataSource = (*source)(nil)
	_ sdk.ListWarner        = (*source)(nil)
)
