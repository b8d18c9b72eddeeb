package sdk

import (
	"context"
	"io"
	"time"
)

// Exporter turns one item into artifacts. It reaches the portal only through
// the Host it is given, so it never holds credentials; the host routes those
// requests to the source's authenticated session.
type Exporter interface {
	Info() Info
	Schema() Schema
	// ItemTypes lists the item types ("Feature Service", "Web Map", ...)
	// this exporter handles when the pipeline does not map types itself.
	ItemTypes() []string
	Configure(ctx context.Context, req ConfigureRequest) Diagnostics
	// Export writes the item's artifacts to out, one after the other, and
	// returns the outcome. An error means the item failed; a degraded but
	// usable export is StatusPartial with a Reason, not an error.
	Export(ctx context.Context, req ExportRequest, host Host, out ArtifactWriter) (ExportResult, error)
	Close() error
}

// ExportRequest names the item and the run it belongs to.
type ExportRequest struct {
	Item Item
	// RunID is unique per run; temporary items an exporter creates in the
	// portal carry it in their title and in agolpipe's mark
	// (TempExportMark), which is what lets a later run remove leftovers.
	RunID string
	// Org describes the organization (mode, signed-in user, admin or not).
	Org OrgInfo
	// Resume is set when the host comes back for an item whose previous
	// Export returned StatusDeferred; the exporter collects the job it left
	// running instead of starting a new one.
	Resume bool
	// Timeout is how long the export may wait for its portal job before it
	// is deferred (pipeline `timeout`, default 120 minutes); zero means no
	// limit. The timeout only stops the waiting: a deferred job keeps
	// running and is never started again for the same item.
	//
	// On Resume it is the time left to collect the job. When it passes the
	// exporter gives the job up (deleting its temporary portal items) and
	// returns StatusFailed with a reason; it never defers again. A negative
	// Timeout on Resume means no time is left (the run is stopping): give
	// the job up at once, without waiting or writing anything.
	Timeout time.Duration
	// Format is the preferred export format from the pipeline ("File
	// Geodatabase"); empty means the exporter's default.
	Format string
}

// ArtifactWriter receives an exporter's artifacts. Write streams body to
// every sink of the run and returns when they have all finished with it; the
// exporter keeps ownership of body (closing it is its job).
type ArtifactWriter interface {
	Write(ctx context.Context, a Artifact, body io.Reader) error
}

// ExportResult is the outcome of one export.
type ExportResult struct {
	Status ExportStatus
	// Reason explains a partial, skipped or excluded result in words a GIS
	// administrator understands.
	Reason   string
	Warnings []string
	// Format is the format the item's data was saved in ("File
	// Geodatabase", "GeoJSON", "Tile Package"...), after any fallback, for
	// the manifest; empty lets the host name the first artifact's format
	// (which for most exporters is a description such as service.json).
	Format string
}

// Host is what the agolpipe host offers a running exporter.
type Host interface {
	// Portal performs an authenticated portal request through the source.
	Portal(ctx context.Context, req PortalRequest) (*PortalResponse, error)
	// Progress reports how far an item is (for the live display).
	Progress(ctx context.Context, p Progress)
	// Log writes one line to run.log, attributed to the plugin and item.
	Log(ctx context.Context, level LogLevel, msg string)
}

// Progress of one item's export.
type Progress struct {
	ItemID  string
	Stage   string
	Percent float64
}

// LogLevel of a plugin log line.
type LogLevel string

const (
	LogDebug LogLevel = "debug"
	LogInfo  LogLevel = "info"
	LogWarn  LogLevel = "warn"
	LogError LogLevel = "error"
)
