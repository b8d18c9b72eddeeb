package sdk

import (
	"context"
	"encoding/json"
	"io"
	"strings"
)

// Restorer is the optional restore side of an Exporter: the inverse of its
// Export, living beside it, so an outside exporter author can add restore
// for the item types they export. The host plans, orders and remaps; the
// Restorer puts one item back. It reads the item's artifacts from the host
// (RestoreHost.ReadArtifact: streamed, checked against the manifest) and
// writes to the portal through the host (Host.Portal, with PortalRequest.File
// for uploads), so it never holds credentials.
type Restorer interface {
	// RestoreItemTypes are the item types Restore can put back; the host
	// asks for nothing else. Empty: none (the exporter cannot restore).
	RestoreItemTypes() []string
	// Restore restores one item, or with req.PlanOnly only decides what it
	// would do. An item that cannot be restored is a result (ActionCannot
	// with a reason), not an error; an error means the attempt failed.
	Restore(ctx context.Context, req RestoreRequest, host RestoreHost) (RestoreResult, error)
}

// RestoreItemTypesOf returns the item types e can restore: none when it does
// not implement Restorer.
func RestoreItemTypesOf(e Exporter) []string {
	if r, ok := e.(Restorer); ok {
		return r.RestoreItemTypes()
	}
	return nil
}

// SkippedRestorer is optionally implemented by a Restorer whose exporter
// reports some items skipped by design yet saves what restores them: a
// reference to a service outside the organization is skipped (its data is
// not the organization's), and its description is all the item is. The
// host asks Restore about a skipped item only when its type is in
// RestoreSkippedItemTypes; any other skipped item it plans as cannot, with
// the export's reason. The restorer finds the export's status and reason in
// RestoreRequest.ManifestRecord (RestoreRequest.ExportStatusOf).
type SkippedRestorer interface {
	RestoreSkippedItemTypes() []string
}

// RestoreSkippedItemTypesOf returns the item types whose skipped exports e
// restores: none when it does not implement SkippedRestorer.
func RestoreSkippedItemTypesOf(e Exporter) []string {
	if r, ok := e.(SkippedRestorer); ok {
		return r.RestoreSkippedItemTypes()
	}
	return nil
}

// ExportStatusOf reads the item's export status and reason from its
// manifest record (RestoreRequest.ManifestRecord).
func (r RestoreRequest) ExportStatusOf() (ExportStatus, string) {
	var rec struct {
		Status ExportStatus `json:"status"`
		Reason string       `json:"reason"`
	}
	_ = json.Unmarshal(r.ManifestRecord, &rec)
	return rec.Status, rec.Reason
}

// RestoreHost is what the host offers a running restore.
type RestoreHost interface {
	Host
	// ReadArtifact streams one of the item's artifacts (by the name in
	// RestoreRequest.Artifacts) from the run's sink. Its bytes are checked
	// against the manifest's size and sha256 as they pass, and the last of
	// them is held back until the check passes: a corrupt or truncated
	// artifact fails with ReasonCorrupt before it has been read whole. The
	// caller closes it.
	ReadArtifact(ctx context.Context, name string) (io.ReadCloser, error)
}

// UploadsArtifacts reports whether h takes an upload whose file names an
// artifact instead of carrying its bytes (PortalFile.Artifact): a plugin's
// host that announced it (a host predating it gets the bytes). It spares
// the artifact's round trip through the restorer; a host in the same
// process has no such trip and need not offer it.
func UploadsArtifacts(h Host) bool {
	u, ok := h.(interface{ UploadsArtifacts() bool })
	return ok && u.UploadsArtifacts()
}

// RestoreMode says what to do with an item that exists in the target.
type RestoreMode string

const (
	// RestoreNew creates a new item.
	RestoreNew RestoreMode = "new"
	// RestoreOverwrite replaces RestoreRequest.TargetItemID's content in
	// place: it keeps its id and URL, so what refers to it keeps working.
	RestoreOverwrite RestoreMode = "overwrite"
)

// RestoreRequest is one item to restore.
type RestoreRequest struct {
	// Item is the item as the run's manifest records it (Raw is empty: the
	// item's own JSON is its item.json artifact).
	Item Item
	// Artifacts are the item's artifacts in the run.
	Artifacts []RestoreArtifact
	// ManifestRecord is the item's record in manifest.json, for what the
	// fields here do not name.
	ManifestRecord json.RawMessage
	RunID          string
	// RestoreID names this restore; Mark is the type keyword to add to
	// every item the restore creates, so `restore undo` can recognise them.
	RestoreID string
	Mark      string
	// Target is the portal written to and the user signed in there.
	Target OrgInfo
	// Owner is the owner the item gets in the target (the owner mapping
	// applied); FolderID and FolderTitle its folder, which the host has
	// created when missing (both empty for the owner's root).
	Owner       string
	FolderID    string
	FolderTitle string
	Mode        RestoreMode
	// TargetItemID is, with RestoreOverwrite, the item to overwrite.
	TargetItemID string
	// Remap maps every id and service/layer URL of the backup restored so
	// far (dependencies come first) to its counterpart in the target; the
	// restorer rewrites them in every JSON it writes (RemapJSON). While
	// planning, the items planned to be restored before this one map to
	// Planned(id): a restorer takes them as there.
	Remap map[string]string
	// PlanOnly: decide and report the action; change nothing.
	PlanOnly bool
}

// PlannedPrefix starts the stand-in a plan puts in the remap table for an
// item it plans to restore earlier (Planned).
const PlannedPrefix = "planned:"

// Planned is the remap value of an item planned, not yet restored.
func Planned(id string) string { return PlannedPrefix + id }

// IsPlanned reports whether a remap value stands for a planned item.
func IsPlanned(v string) bool { return strings.HasPrefix(v, PlannedPrefix) }

// RestoreArtifact is one artifact of the item in the run, as the manifest
// lists it.
type RestoreArtifact struct {
	Name      string
	Size      int64
	SHA256    string
	Format    string
	MediaType string
}

// Artifact returns the artifact named name, if the run holds it.
func (r RestoreRequest) Artifact(name string) (RestoreArtifact, bool) {
	for _, a := range r.Artifacts {
		if a.Name == name {
			return a, true
		}
	}
	return RestoreArtifact{}, false
}

// RestoreAction is what a restore did or, planning, would do.
type RestoreAction string

const (
	ActionCreate    RestoreAction = "create"
	ActionOverwrite RestoreAction = "overwrite"
	// ActionSkip: the target already holds the same content.
	ActionSkip RestoreAction = "skip"
	// ActionCannot: the item cannot be restored; CannotReason says why.
	ActionCannot RestoreAction = "cannot"
)

// CannotReason says why an item cannot be restored.
type CannotReason string

const (
	CannotUnspecified CannotReason = ""
	// CannotNotRestorable: the backup is not restorable by design (a
	// description only, a failed export, a format the restorer cannot write).
	CannotNotRestorable CannotReason = "not_restorable"
	// CannotMissingArtifact: an artifact the restore needs is not in the run.
	CannotMissingArtifact CannotReason = "missing_artifact"
	// CannotExists: the item exists in the target and differs, and neither
	// a new item nor an overwrite was asked for.
	CannotExists CannotReason = "exists"
	// CannotTargetRefuses: the target portal refuses it (type not allowed,
	// no privilege).
	CannotTargetRefuses CannotReason = "target_refuses"
)

// RestoreResult is the outcome of one item's restore.
type RestoreResult struct {
	Action RestoreAction
	// Reason explains a skip or a cannot in words a GIS administrator
	// understands.
	Reason string
	Cannot CannotReason
	// NewItemID is the restored item's id (with an overwrite, the target
	// item's); empty when planning, skipping or unable.
	NewItemID string
	// Remap are the entries the item adds: its old id and URL, and each
	// old layer URL, to the new ones.
	Remap    map[string]string
	Warnings []string
	// Uncompared, with ActionOverwrite: the restorer cannot tell whether
	// the target already holds the backup's content (a hosted service's
	// rows), so its overwrite may rewrite what is identical. The host
	// then skips a target it knows is as a restore of the same run left
	// it (restore.json).
	Uncompared bool
}

// The marks a restore leaves on every item it creates, as type keywords.
const (
	// RestoreMarkPrefix + restore id is RestoreRequest.Mark: which restore
	// created the item (`restore undo` deletes exactly those).
	RestoreMarkPrefix = "agolpipe-restore-"
	// RestoredKeyword: the item was created by a restore, so a later
	// restore into the same portal finds every such item with one search.
	RestoredKeyword = "agolpipe-restored"
	// SourceMarkPrefix + the backup's item id: which item of the backup the
	// item was created from, so restoring that item again finds it instead
	// of creating a second copy.
	SourceMarkPrefix = "agolpipe-source-"
)

// IsRestoreMark reports whether type keyword k is one of a restore's marks.
func IsRestoreMark(k string) bool {
	return k == RestoredKeyword || strings.HasPrefix(k, RestoreMarkPrefix) || strings.HasPrefix(k, SourceMarkPrefix)
}

// SourceMark is the type keyword naming backup item id as an item's source.
func SourceMark(id string) string { return SourceMarkPrefix + id }

// SourceOf returns the backup item id an item's type keywords name as its
// source, if the item was created by a restore.
func SourceOf(typeKeywords []string) (string, bool) {
	restored := false
	src := ""
	for _, k := range typeKeywords {
		if k == RestoredKeyword {
			restored = true
		} else if id, ok := strings.CutPrefix(k, SourceMarkPrefix); ok && id != "" {
			src = id
		}
	}
	return src, restored && src != ""
}

// CreatedKeywords are the type keywords of an item the request creates:
// kw (the backup's) without any restore mark it carries (the backup of an
// item an earlier restore made: those marks tell another restore's story),
// then this restore's marks (Mark, RestoredKeyword and the source mark).
// Without a Mark (an older host), kw unchanged.
func (r RestoreRequest) CreatedKeywords(kw []string) []string {
	if r.Mark == "" {
		return kw
	}
	out := make([]string, 0, len(kw)+3)
	for _, k := range kw {
		if !IsRestoreMark(k) {
			out = append(out, k)
		}
	}
	return append(out, r.Mark, RestoredKeyword, SourceMark(r.Item.ID))
}
