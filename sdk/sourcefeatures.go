package sdk

import (
	"context"
	"io"
)

// SourceFeatures are the optional abilities a source declares, so the host
// never has to guess whether a plugin has one (a gRPC client adapter always
// has every method; only the declaration says whether the plugin does).
type SourceFeatures struct {
	// OrgMetadata: the source implements OrgMetadataSource.
	OrgMetadata bool
}

// FeatureSource is implemented by a source that declares optional
// abilities. A source that does not implement it has none.
type FeatureSource interface {
	SourceFeatures() SourceFeatures
}

// SourceFeaturesOf returns what src declares; the zero value when nothing.
func SourceFeaturesOf(src Source) SourceFeatures {
	if f, ok := src.(FeatureSource); ok {
		return f.SourceFeatures()
	}
	return SourceFeatures{}
}

// OrgMetadataFormat names the open JSON format of an organization's
// metadata document; the document says it in its "format" field.
const OrgMetadataFormat = "agolpipe-org-metadata/1"

// OrgMetadataSource is the optional ability to describe the organization
// beyond its items: users (never a secret), groups, memberships and each
// listed item's sharing, as one JSON document of OrgMetadataFormat. The
// host stores it as org/metadata.json in every sink of the run.
type OrgMetadataSource interface {
	// OrgMetadata streams the document to w. It is called after
	// ListItems, whose items' sharing it describes.
	OrgMetadata(ctx context.Context, w io.Writer) error
}

// ListWarner is implemented by a source that reports problems its last
// ListItems met without failing (the completeness check: items listed vs
// the organization's total; folders it could not read). The host puts them
// in Results.txt's warnings. Optional: a source without it has none.
type ListWarner interface {
	ListWarnings() []string
}
