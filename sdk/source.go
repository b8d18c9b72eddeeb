package sdk

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"time"
)

// Source connects to an ArcGIS organization (ArcGIS Online or Portal for
// ArcGIS), lists the items to back up and performs authenticated portal
// requests on behalf of exporters, which never see credentials.
type Source interface {
	Info() Info
	Schema() Schema
	Configure(ctx context.Context, req ConfigureRequest) Diagnostics
	// Connect signs in and describes the organization; called once before
	// any listing, and it is the preflight of the source.
	Connect(ctx context.Context) (OrgInfo, error)
	// ListItems calls fn for every item the run covers, after the source's
	// own filters. Items it leaves out on purpose are reported with fn too,
	// with Excluded set, so Inventory.csv can say why.
	ListItems(ctx context.Context, req ListItemsRequest, fn func(ListedItem) error) error
	// Do performs one authenticated portal request. The caller closes the
	// response body. Errors from the portal (HTTP >= 400 or a JSON error
	// body) are returned classified, with the portal's message.
	Do(ctx context.Context, req PortalRequest) (*PortalResponse, error)
	Close() error
}

// OrgInfo describes the organization and the signed-in user.
type OrgInfo struct {
	PortalURL string
	OrgID     string
	OrgName   string
	// Mode is "online" or "enterprise".
	Mode     string
	Username string
	IsAdmin  bool
	// ItemCount is the organization's item total as the portal reports it,
	// for the completeness check; -1 when unknown.
	ItemCount int64
	Warnings  []string
}

// ListItemsRequest narrows a listing. Since, when non-zero, asks only for
// items changed since then (incremental runs).
type ListItemsRequest struct {
	Since time.Time
	// Retry are ids of items a previous run of the pipeline did not back
	// up (failed, or never finished). With Since set, a source lists them
	// as changed whatever their dates, so the next incremental run exports
	// them again; its filters still apply.
	Retry []string
}

// ListedItem is an item, or an item left out with the reason.
type ListedItem struct {
	Item     Item
	Excluded bool
	Reason   string
}

// PortalRequest is one request to the portal or to a service it hosts. URL
// is absolute, or relative to the portal's sharing/rest root
// ("content/items/<id>/data"). The source adds the token and f=json only
// when asked to (F) so file downloads stay raw.
type PortalRequest struct {
	Method string
	URL    string
	Query  url.Values
	// Form is sent as application/x-www-form-urlencoded on POST.
	Form   url.Values
	Header http.Header
	// Offset asks for the body from this byte on (HTTP Range), to resume an
	// interrupted download.
	Offset int64
	// File, when set, makes the request a POST of multipart/form-data: the
	// Form's fields, then this file as one part. Its body is streamed once,
	// so an upload is never retried by whoever sends it (not even on an
	// expired token); the caller decides, and re-opens the body to retry.
	File *PortalFile
}

// PortalFile is the file part of an upload (addItem, update, addPart,
// addResources).
type PortalFile struct {
	// Field is the form field name ("file", "thumbnail", "metadata").
	Field       string
	Name        string
	ContentType string
	// Size is the body's length, -1 when unknown. When known, a body that
	// ends at another length fails the request before it is complete.
	Size int64
	Body io.Reader
	// Artifact, with a nil Body, names one of the restored item's
	// artifacts for the host to send as the file: the host reads it from
	// the run's sink, checked as RestoreHost.ReadArtifact checks it, and
	// its bytes never pass through the restorer. Only for a host that
	// takes it (UploadsArtifacts); Size is then the artifact's.
	Artifact string
}

// PortalResponse is the portal's answer; Body streams and must be closed.
type PortalResponse struct {
	StatusCode int
	Header     http.Header
	Body       io.ReadCloser
}
