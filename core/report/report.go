// Package report holds the record of one run and writes it as the files a
// run leaves at the root of its run folder in every sink:
//
//   - manifest.json: the machine-readable record (Manifest), the stable
//     input of verify and restore; SchemaVersion says how to read it.
//   - Inventory.csv: one row per item discovered, excluded ones included.
//   - Results.txt: what a GIS administrator reads the morning after.
//   - run.log: the full log, secrets redacted (see Log).
package report

import (
	"time"

	"github.com/agolpipe/agolpipe/sdk"
)

// SchemaVersion of manifest.json. It changes only when a reader written for
// the old version would misread the new one; adding fields does not change it.
const SchemaVersion = 1

// File names of the reports at the run folder's root.
const (
	ManifestFile  = "manifest.json"
	InventoryFile = "Inventory.csv"
	ResultsFile   = "Results.txt"
	LogFile       = "run.log"
)

// Run statuses, as notifiers and pipeline `on` lists name them.
const (
	StatusSuccess  = "success"
	StatusPartial  = "partial"
	StatusFailed   = "failed"
	StatusCanceled = "canceled"
	// StatusRunning is the status of the manifest.json a run stores in
	// each sink when it starts; the final manifest replaces it. A run
	// folder still saying running was left by a run that is still going
	// or that died (kill -9, power cut): retention lists it as incomplete.
	StatusRunning = "running"
)

// ItemCanceled is the result of an item the run did not finish because it
// was cancelled; it is not an sdk.ExportStatus because no exporter says it.
const ItemCanceled sdk.ExportStatus = "canceled"

// Run is the record of one run, marshalled as manifest.json. Times are UTC.
type Run struct {
	SchemaVersion   int    `json:"schema_version"`
	AgolpipeVersion string `json:"agolpipe_version"`
	RunID           string `json:"run_id"`
	RunFolder       string `json:"run_folder"`
	// PipelineID and Sink say whose run this is: retention deletes only
	// runs of its own pipeline and sink (see pipeline.Pipeline.ID). They
	// come early so retention finds them without reading the item lists.
	PipelineID string `json:"pipeline_id,omitempty"`
	Sink       string `json:"sink,omitempty"`
	// ModifiedSince is set for an incremental run (modified_within): it
	// holds only items changed since then, so it is no full backup.
	ModifiedSince *time.Time `json:"modified_since,omitempty"`
	// Host and PID name the process that ran it, so a run that never
	// finished (status running) can be traced.
	Host     string    `json:"host,omitempty"`
	PID      int       `json:"pid,omitempty"`
	Pipeline Pipeline  `json:"pipeline"`
	Source   Source    `json:"source"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	// Status is success, partial, failed or canceled; ExitCode is the
	// process exit code agolpipe returned for it.
	Status   string `json:"status"`
	ExitCode int    `json:"exit_code"`
	// Error is the reason a run stopped before exporting (a sink failed its
	// preflight, the source could not sign in).
	Error    string   `json:"error,omitempty"`
	Counts   Counts   `json:"counts"`
	Sinks    []Sink   `json:"sinks"`
	Items    []Item   `json:"items"`
	Warnings []string `json:"warnings,omitempty"`
	// Artifacts lists every artifact stored in at least one sink.
	Artifacts []Artifact `json:"artifacts"`
}

// Pipeline identifies the pipeline file a run came from.
type Pipeline struct {
	File   string `json:"file"`
	SHA256 string `json:"sha256"`
}

// Source describes the organization that was backed up.
type Source struct {
	Type      string `json:"type"`
	Name      string `json:"name"`
	PortalURL string `json:"portal_url"`
	OrgID     string `json:"org_id,omitempty"`
	OrgName   string `json:"org_name,omitempty"`
	Mode      string `json:"mode,omitempty"`
	Username  string `json:"username,omitempty"`
	// ItemCount is the portal's own total, for the completeness check; -1
	// when unknown. It counts the organization only when Admin; otherwise
	// what the signed-in user (or API key) can reach.
	ItemCount int64 `json:"item_count"`
	// Admin says the sign-in could see every member's items.
	Admin bool `json:"admin"`
}

// Counts of items by result, and of what was stored.
type Counts struct {
	Discovered int   `json:"discovered"`
	Exported   int   `json:"exported"`
	Partial    int   `json:"partial"`
	Failed     int   `json:"failed"`
	Skipped    int   `json:"skipped"`
	Excluded   int   `json:"excluded"`
	Canceled   int   `json:"canceled"`
	Artifacts  int   `json:"artifacts"`
	Bytes      int64 `json:"bytes"`
}

// Sink is one sink of the run and how it fared.
type Sink struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	Location string `json:"location"`
	Required bool   `json:"required"`
	Layout   string `json:"layout"`
	// Outcome is "ok", "incomplete" (some artifacts missed) or "failed"
	// (preflight failed or nothing was stored).
	Outcome  string   `json:"outcome"`
	Stored   int      `json:"artifacts_stored"`
	Missed   int      `json:"artifacts_missed"`
	Bytes    int64    `json:"bytes_stored"`
	Error    string   `json:"error,omitempty"`
	Reports  bool     `json:"reports_written"`
	RunPath  string   `json:"run_path"`
	MaxPath  int      `json:"max_path_length,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
	// Archive is the run's zip archive, relative to the sink's root, when
	// the sink has zip = true; RunPath then names the archive too. It is
	// the archive that holds the reports (the last part).
	Archive string `json:"archive,omitempty"`
	// Archives lists, when the run needed more than one archive (the sink
	// restarted and the part being written was lost), every part in the
	// order written, lost ones included; each artifact's SinkOutcome names
	// the part holding it, and Warnings say which parts were lost.
	Archives []string `json:"archives,omitempty"`
	// ReportsKept is the local folder that holds this sink's reports when
	// they could not be stored in the sink (it was full).
	ReportsKept string `json:"reports_kept_locally,omitempty"`
	// Verified is the read-back of the run's copy in this sink after the
	// run (run { verify = true }); nil when not asked.
	Verified *Verified `json:"verified,omitempty"`
	// Retention is what the sink's retention block did after the run. It
	// is decided after manifest.json is written, so it appears in
	// Results.txt, run.log and the record Run returns, not in the manifest.
	Retention *Retention `json:"retention,omitempty"`
}

// Verified is what reading a sink's copy of the run back found.
type Verified struct {
	// OK is true when the sink holds every artifact of the run unchanged.
	OK bool `json:"ok"`
	// Checked counts the artifacts read back, Bytes the bytes read.
	Checked int   `json:"artifacts_checked"`
	Bytes   int64 `json:"bytes_read"`
	// Problems lists what is wrong (missing, truncated, corrupt, extra),
	// each with its path and item; at most MaxVerifyProblems of them,
	// ProblemCount says how many there were.
	Problems     []string `json:"problems,omitempty"`
	ProblemCount int      `json:"problem_count"`
	// Error is why the copy could not be read back at all.
	Error string `json:"error,omitempty"`
}

// MaxVerifyProblems bounds the problems a Verified lists.
const MaxVerifyProblems = 100

// Retention is the outcome of a sink's retention policy after a run.
type Retention struct {
	// Skipped says why the policy was not applied (the run or this sink
	// did not hold a complete backup); empty when it was.
	Skipped string `json:"skipped,omitempty"`
	DryRun  bool   `json:"dry_run,omitempty"`
	Kept    int    `json:"kept"`
	// KeptRuns lists the runs kept and why, when the caller wants them
	// shown (`agolpipe prune` does; Results.txt keeps to the count).
	KeptRuns []PrunedRun `json:"kept_runs,omitempty"`
	// Deleted lists the runs deleted, or with DryRun those that would be.
	Deleted []PrunedRun `json:"deleted,omitempty"`
	// Objects and Bytes count what deletions really removed.
	Objects int   `json:"objects_deleted"`
	Bytes   int64 `json:"bytes_deleted"`
	// Retained is what the sink kept stored although asked to delete it
	// (a versioned or object-locked bucket only writes delete markers).
	Retained *Retained `json:"retained,omitempty"`
	// Ignored lists manifest.json files retention did not recognise.
	Ignored []string `json:"ignored,omitempty"`
	// Others are runs of other pipelines or sinks found in the sink's
	// folder: never considered, never touched (their Reason says whose).
	Others []PrunedRun `json:"others,omitempty"`
	Error  string      `json:"error,omitempty"`
}

// Retained is what a sink kept stored of the objects retention deleted.
type Retained struct {
	Objects int   `json:"objects"`
	Bytes   int64 `json:"bytes"`
	// Until is the latest object lock retain-until date, if any.
	Until      *time.Time `json:"until,omitempty"`
	LegalHolds int        `json:"legal_holds,omitempty"`
	Reason     string     `json:"reason"`
}

// PrunedRun is one run retention deleted (or would delete), or kept; Reason
// says which and why.
type PrunedRun struct {
	Folder  string    `json:"folder"`
	Started time.Time `json:"started"`
	Status  string    `json:"status"`
	// Kind is "full" or "incremental".
	Kind   string `json:"kind,omitempty"`
	Reason string `json:"reason"`
	// Retained is set for a deleted run whose bytes the sink kept.
	Retained *Retained `json:"retained,omitempty"`
}

// Item is one discovered item and its result.
type Item struct {
	ID       string    `json:"id"`
	Title    string    `json:"title"`
	Type     string    `json:"type"`
	Owner    string    `json:"owner"`
	Folder   string    `json:"folder,omitempty"`
	Created  time.Time `json:"created"`
	Modified time.Time `json:"modified"`
	Access   string    `json:"access"`
	Size     int64     `json:"size"`
	// Dependencies are the items this item refers to (forward: a web map
	// -> its layers), as the source found them.
	Dependencies []string `json:"dependencies,omitempty"`
	// UsedBy are the items of this run that refer to this item (reverse:
	// a layer -> the web maps and apps using it), computed by inverting
	// Dependencies across the run's items.
	UsedBy    []string          `json:"used_by,omitempty"`
	Status    sdk.ExportStatus  `json:"status"`
	Reason    string            `json:"reason,omitempty"`
	Exporter  string            `json:"exporter,omitempty"`
	Format    string            `json:"format,omitempty"`
	Attempts  int               `json:"attempts,omitempty"`
	ErrorKind string            `json:"error_kind,omitempty"`
	Hint      string            `json:"hint,omitempty"`
	Warnings  []string          `json:"warnings,omitempty"`
	Duration  time.Duration     `json:"duration_ns,omitempty"`
	Extra     map[string]string `json:"extra,omitempty"`
}

// Artifact is one stored file. Paths are relative to the run folder and
// slash-separated; Path is the path in the sink whose manifest this is
// (layouts differ per sink), and each sink's own path is in Sinks.
type Artifact struct {
	// Path is where the artifact is stored under the run folder; it may be
	// shortened (core/objectpath). Name is the exporter's own name for it,
	// a file item's original file name included, never shortened.
	Path      string        `json:"path"`
	Name      string        `json:"name"`
	ItemID    string        `json:"item_id"`
	ItemType  string        `json:"item_type"`
	Exporter  string        `json:"exporter"`
	Format    string        `json:"format,omitempty"`
	MediaType string        `json:"media_type,omitempty"`
	Size      int64         `json:"size"`
	SHA256    string        `json:"sha256"`
	Sinks     []SinkOutcome `json:"sinks"`
}

// SinkOutcome is what happened to one artifact in one sink.
type SinkOutcome struct {
	Sink string `json:"sink"`
	Path string `json:"path"`
	// Status is "stored" or "failed".
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
	// Archive is, for a sink with zip = true, the archive (relative to the
	// sink's root) whose entry Path is this artifact.
	Archive string `json:"archive,omitempty"`
}

// Outcome statuses of an artifact in a sink.
const (
	Stored = "stored"
	Missed = "failed"
)

// Duration of the run.
func (r *Run) Duration() time.Duration { return r.Finished.Sub(r.Started) }

// ForSink returns a copy of r whose artifacts carry the paths of the named
// sink in Path and lists only the artifacts stored there, so the manifest in
// each sink describes what that sink holds.
func (r *Run) ForSink(name string) *Run {
	c := *r
	c.Sink = name
	c.Artifacts = nil
	for _, a := range r.Artifacts {
		for _, o := range a.Sinks {
			if o.Sink == name && o.Status == Stored {
				a.Path = o.Path
				c.Artifacts = append(c.Artifacts, a)
			}
		}
	}
	if c.Artifacts == nil {
		c.Artifacts = []Artifact{}
	}
	return &c
}
