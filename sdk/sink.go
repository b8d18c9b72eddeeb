package sdk

import (
	"context"
	"io"
	"time"

	"github.com/zclconf/go-cty/cty"
)

// Sink stores artifacts. Object paths are slash-separated and relative to the
// sink's configured root (the host builds them, already safe for every OS);
// a sink maps them onto its storage.
//
// Contract (checked by the conformance suite in sdk/sinktest):
//   - Put is atomic: until it returns nil, no reader (Stat, Get, List) sees
//     the object, and when Body fails or ctx is cancelled nothing is left
//     behind. A second Put to the same path replaces the object.
//   - Get of a missing object, Stat of a missing object and Delete of a
//     missing object return an error for which IsNotFound is true.
//   - List yields every object under Prefix exactly once, in no given order.
//   - Errors are classified (see ErrorKind): auth for bad credentials,
//     retryable for transient faults, so the host can retry in one place.
//   - Methods may be called concurrently; Close is idempotent.
type Sink interface {
	Info() Info
	Schema() Schema
	// Configure receives the decoded block; diagnostics point at attributes.
	Configure(ctx context.Context, req ConfigureRequest) (SinkConfigureResponse, Diagnostics)
	// Preflight checks credentials and makes a test write, before any export
	// starts, so a wrong key is found in the first second of a run.
	Preflight(ctx context.Context) error
	Put(ctx context.Context, req PutRequest) (PutResponse, error)
	Stat(ctx context.Context, path string) (ObjectInfo, error)
	// Get streams an object, or the range [Offset, Offset+Length) of it when
	// Length > 0. The caller closes the reader.
	Get(ctx context.Context, req GetRequest) (io.ReadCloser, error)
	// List calls fn for every object under Prefix; an error from fn stops it.
	List(ctx context.Context, req ListRequest, fn func(ObjectInfo) error) error
	Delete(ctx context.Context, path string) error
	Close() error
}

// ConfigureRequest carries a component's decoded configuration block.
type ConfigureRequest struct {
	Config cty.Value
	// Name is the block's name label ("prod" in source "arcgis" "prod") and
	// PipelineFile the pipeline file's path, set by the host so a message
	// can name the command a user runs ("agolpipe login nightly.hcl prod").
	// Sources receive them over the plugin protocol; either may be empty
	// (a component configured outside a pipeline).
	Name         string
	PipelineFile string
	// DryRun is set by the host for `agolpipe plan`: the component must
	// change nothing (the arcgis source reports the leftover temporary
	// items a run would remove instead of removing them). Sources receive
	// it over the plugin protocol.
	DryRun bool
}

// SinkFeatures are optional abilities and limits a sink declares, so the
// host never has to guess.
type SinkFeatures struct {
	// MaxPathLength is the longest object path the sink accepts (for the
	// local sink: 240 minus the length of its root). 0 means no limit.
	MaxPathLength int
	// RangeGet: Get honours Offset/Length without reading the whole object.
	RangeGet bool
	// Location is a human description of where objects go (a folder, a
	// container URL without credentials), for plans and reports.
	Location string
}

// SinkConfigureResponse answers Configure.
type SinkConfigureResponse struct {
	Features SinkFeatures
}

// PutRequest stores Body at Path. Size is the byte count when known, else -1.
// The sink reads Body to EOF; it does not close it.
type PutRequest struct {
	Path      string
	MediaType string
	Size      int64
	Body      io.Reader
}

// PutResponse says what the sink stored.
type PutResponse struct {
	Size int64
}

// ObjectInfo describes a stored object.
type ObjectInfo struct {
	Path     string
	Size     int64
	Modified time.Time
}

// GetRequest reads an object or a range of it.
type GetRequest struct {
	Path   string
	Offset int64
	// Length 0 means to the end.
	Length int64
}

// ListRequest lists objects whose path starts with Prefix.
type ListRequest struct {
	Prefix string
}

// DeleteResult says what a Delete really did to the stored bytes.
type DeleteResult struct {
	// Retained is true when the bytes are still stored after the delete:
	// the store only hid the object (a versioned S3 bucket writes a delete
	// marker and keeps the version), or object lock keeps it.
	Retained bool
	// RetainedBytes counts the bytes still stored (and billed).
	RetainedBytes int64
	// RetainUntil is the object lock's retain-until date (zero if none).
	RetainUntil time.Time
	// LegalHold is true when a legal hold keeps the object, with no date.
	LegalHold bool
	// Reason says why the bytes are retained, for the user.
	Reason string
}

// DeleteReporter is a Sink whose Delete can say what it really did. The
// gRPC adapters implement it for every plugin (a plugin sink that does not
// implement it reports nothing retained); retention uses it so that a
// delete that only wrote a delete marker is never reported as space freed.
type DeleteReporter interface {
	DeleteReport(ctx context.Context, path string) (DeleteResult, error)
}
