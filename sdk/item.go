package sdk

import (
	"encoding/json"
	"time"
)

// Item is one item of an ArcGIS organization as a source lists it. The fields
// are those every part of agolpipe needs; Raw keeps the portal's whole item
// JSON so exporters and restore lose nothing the portal said.
type Item struct {
	ID           string
	Title        string
	Type         string
	TypeKeywords []string
	Owner        string
	// FolderID and FolderTitle are empty for items in the owner's root.
	FolderID    string
	FolderTitle string
	Created     time.Time
	Modified    time.Time
	// Access is private, shared, org or public.
	Access string
	// Groups are the ids of the groups the item is shared with.
	Groups []string
	// Size in bytes as the portal reports it; -1 when unknown.
	Size int64
	URL  string
	Tags []string
	// Protected is delete protection.
	Protected bool
	// Dependencies are ids of items this item refers to (web map -> layers,
	// app -> map), as found by the source.
	Dependencies []string
	// DataModified is the last data or schema edit of a feature service (its
	// layers' editingInfo), zero when unknown; incremental runs take a
	// service as changed when this or Modified falls in the window.
	DataModified time.Time
	Raw          json.RawMessage
}

// Artifact describes one file an exporter produces for an item.
type Artifact struct {
	// Name is the file name relative to the item's place in the run, for
	// example "data.zip" or "resources.zip". The host makes it safe and
	// unique; it never contains a path separator.
	Name      string
	MediaType string
	// Size in bytes when known in advance, else -1.
	Size int64
	// Format is the export format ("File Geodatabase", "JSON", ...), for the
	// manifest and Results.txt.
	Format string
}

// ExportStatus is the outcome of exporting one item.
type ExportStatus string

const (
	StatusExported ExportStatus = "exported"
	// StatusPartial: something usable was saved but not everything (a
	// fallback format, no attachments, a missing resource). Reason says what.
	StatusPartial ExportStatus = "partial"
	StatusFailed  ExportStatus = "failed"
	// StatusSkipped: nothing to export by design (reference-only, above a
	// limit); Reason says why.
	StatusSkipped ExportStatus = "skipped"
	// StatusExcluded: left out by a filter or because the type is never
	// backed up (API keys, OAuth apps); Reason says which.
	StatusExcluded ExportStatus = "excluded"
	// StatusDeferred: the portal job outlived the export's timeout and keeps
	// running there. The run moves on; before it ends the host calls Export
	// again for the item with ExportRequest.Resume set, and the exporter
	// collects the job it left running, or gives it up when the time left
	// (ExportRequest.Timeout) runs out. Never a final status.
	StatusDeferred ExportStatus = "deferred"
)
