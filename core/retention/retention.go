// Package retention keeps a sink tidy: it deletes old runs that agolpipe
// wrote, by one policy per sink (`retention { ... }` in the pipeline):
// delete_after, plus grandfather-father-son keeps (keep_daily, keep_weekly,
// keep_monthly), with a dry_run that only says what would go.
//
// Safety rules, in order of importance:
//   - Only runs are ever deleted. A run is a folder holding a manifest.json
//     that agolpipe wrote (schema_version, run_id, start time, and a
//     run_folder equal to the folder's own name). Objects outside such a
//     folder are never touched, whatever their age or name.
//   - Only this pipeline's runs in this sink: the manifest's pipeline_id and
//     sink must be the policy's own (pipeline.Pipeline.ID and the sink
//     block's name). Runs of other pipelines sharing the folder are listed
//     and left alone.
//   - Only direct children of the sink's folder are runs. A manifest deeper
//     down belongs to another sink nested inside this one (or to a copy);
//     it is never pruned from here.
//   - The sink's root is never a run, so it is never deleted.
//   - The newest complete full run (success or partial, not incremental)
//     is always kept, so a policy can never leave a sink without a usable
//     backup; an incremental run holds only the items changed lately and
//     never stands in for it. Every full run a kept incremental run builds
//     on is kept too.
//   - A run still saying status running is kept for IncompleteGrace (it may
//     still be going); after that it is a crashed run's leftovers and goes.
//   - Within a run, manifest.json is deleted last: an interrupted prune
//     leaves a run that is still recognised and pruned next time.
package retention

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/agolpipe/agolpipe/core/pipeline"
	"github.com/agolpipe/agolpipe/sdk"
)

// ManifestName is the file that marks a run folder.
const ManifestName = "manifest.json"

// IncompleteGrace is how long a run folder whose manifest still says
// running is kept: long enough for the longest real run, after which it is
// taken for the leftovers of a run that was killed or lost its machine.
const IncompleteGrace = 48 * time.Hour

// maxManifestSize bounds how much of a manifest is read to recognise a run
// (it is streamed, never held whole; see readManifest).
const maxManifestSize = 1 << 30

// Policy says which runs to keep. A run is deleted when it is older than
// DeleteAfter and no Keep rule keeps it.
type Policy struct {
	// DeleteAfter is the age beyond which a run may be deleted. Zero means
	// age alone never deletes: only runs outside every Keep rule go (and
	// with no Keep rule either, nothing is deleted).
	DeleteAfter time.Duration
	// KeepDaily, KeepWeekly and KeepMonthly keep the newest complete run of
	// each of the last N days, ISO weeks and months that have one.
	KeepDaily   int
	KeepWeekly  int
	KeepMonthly int
	// DryRun reports what would be deleted and deletes nothing.
	DryRun bool
}

// FromPipeline converts a sink's retention block; nil gives the zero Policy.
func FromPipeline(r *pipeline.Retention) Policy {
	if r == nil {
		return Policy{}
	}
	return Policy{DeleteAfter: r.DeleteAfter, KeepDaily: r.KeepDaily, KeepWeekly: r.KeepWeekly, KeepMonthly: r.KeepMonthly, DryRun: r.DryRun}
}

// Empty reports whether the policy can delete nothing.
func (p Policy) Empty() bool {
	return p.DeleteAfter <= 0 && p.KeepDaily <= 0 && p.KeepWeekly <= 0 && p.KeepMonthly <= 0
}

// Manifest is the part of manifest.json retention reads. The full format
// is core/report.Run; only these fields are relied on.
type Manifest struct {
	SchemaVersion   int    `json:"schema_version"`
	AgolpipeVersion string `json:"agolpipe_version"`
	RunID           string `json:"run_id"`
	RunFolder       string `json:"run_folder"`
	PipelineID      string `json:"pipeline_id"`
	Sink            string `json:"sink"`
	// ModifiedSince is set for an incremental run.
	ModifiedSince *time.Time `json:"modified_since"`
	Host          string     `json:"host"`
	PID           int        `json:"pid"`
	Started       time.Time  `json:"started"`
	Status        string     `json:"status"`
}

// Run is one run found in a sink.
type Run struct {
	// Folder is the run's folder path in the sink (no trailing slash).
	Folder   string
	Manifest Manifest
	// Objects and Bytes count what the folder holds.
	Objects int
	Bytes   int64
	// Reason says why the run is kept or deleted.
	Reason string
	// Retained says what the sink kept of a deleted run (see
	// sdk.DeleteResult): objects hidden but still stored, or locked.
	Retained Retained
}

// Retained totals what deletions left stored.
type Retained struct {
	Objects int
	Bytes   int64
	// Until is the latest object lock retain-until date met.
	Until time.Time
	// LegalHolds counts objects under a legal hold.
	LegalHolds int
	// Reason is the sink's reason for the first retained object.
	Reason string
}

func (r *Retained) add(d sdk.DeleteResult) {
	if !d.Retained {
		return
	}
	r.Objects++
	r.Bytes += d.RetainedBytes
	if d.RetainUntil.After(r.Until) {
		r.Until = d.RetainUntil
	}
	if d.LegalHold {
		r.LegalHolds++
	}
	if r.Reason == "" {
		r.Reason = d.Reason
	}
}

func (r *Retained) merge(o Retained) {
	r.Objects += o.Objects
	r.Bytes += o.Bytes
	if o.Until.After(r.Until) {
		r.Until = o.Until
	}
	r.LegalHolds += o.LegalHolds
	if r.Reason == "" {
		r.Reason = o.Reason
	}
}

// Complete reports whether the run produced a usable backup.
func (r Run) Complete() bool {
	return r.Manifest.Status == "success" || r.Manifest.Status == "partial"
}

// Full reports whether the run backed up every item (not incremental).
func (r Run) Full() bool { return r.Manifest.ModifiedSince == nil }

// Unfinished reports whether the run never wrote its final manifest: it is
// still going, or it died.
func (r Run) Unfinished() bool { return r.Manifest.Status == "running" }

// Kind says "full" or "incremental" for reports.
func (r Run) Kind() string {
	if r.Full() {
		return "full"
	}
	return "incremental"
}

// Result is what Apply did (or, with DryRun, would do).
type Result struct {
	DryRun  bool
	Kept    []Run
	Deleted []Run
	// Ignored lists manifest.json files that are not agolpipe's, with why;
	// their folders are left alone.
	Ignored []string
	// Others are runs of other pipelines or sinks in the same folder: never
	// considered, never touched.
	Others []Run
	// DeletedObjects and DeletedBytes total the deletions that really
	// removed bytes; Retained what the sink kept stored although deleted
	// (versioned or object-locked buckets).
	DeletedObjects int
	DeletedBytes   int64
	Retained       Retained
}

// Options for Apply.
type Options struct {
	// Now is the reference time (a fixed clock in tests); zero means now.
	Now time.Time
	// Location decides where days, weeks and months begin for the keep
	// rules; nil means the local time zone.
	Location *time.Location
	// PipelineID and Sink are the policy's own identity: only runs whose
	// manifest names both are considered (see the package comment).
	PipelineID string
	Sink       string
	// RunPrefix, when set, makes Find also report folders named like this
	// pipeline's run folders ("<prefix>_<date>_<time>") that hold no
	// manifest.json: runs killed before agolpipe marked unfinished runs.
	// They are never deleted (nothing proves whose they are).
	RunPrefix string
}

// Found is what Find found in a sink.
type Found struct {
	// Runs are this pipeline's runs in this sink, newest first.
	Runs []Run
	// Objects holds each run's objects, by folder.
	Objects map[string][]sdk.ObjectInfo
	// Others are runs of other pipelines or sinks, newest first.
	Others []Run
	// Ignored lists manifests that are not agolpipe's or lie deeper than
	// a direct child of the sink's folder, with why.
	Ignored []string
	// Strays are folders named like this pipeline's runs without any
	// manifest.json (see Options.RunPrefix).
	Strays []string
}

// Find lists the runs of the policy's own pipeline and sink (opts), newest
// first, with their objects. Runs of other pipelines or sinks come back in
// others; manifests that are not agolpipe's, or that lie deeper than a
// direct child of the sink's folder, in ignored.
func Find(ctx context.Context, sink sdk.Sink, opts Options) (Found, error) {
	var (
		all     []sdk.ObjectInfo
		runs    []Run
		objects map[string][]sdk.ObjectInfo
		others  []Run
		ignored []string
	)
	if err := sink.List(ctx, sdk.ListRequest{}, func(o sdk.ObjectInfo) error {
		all = append(all, o)
		return nil
	}); err != nil {
		return Found{}, fmt.Errorf("listing the sink: %w", err)
	}
	// Runs are the direct children of the sink's folder that hold a
	// manifest.json. A manifest deeper down is another sink's run (a sink
	// nested inside this one), a copy, or an artifact: never a run here.
	var folders []string
	for _, o := range all {
		if path.Base(o.Path) != ManifestName {
			continue
		}
		dir := path.Dir(o.Path)
		if dir == "." || dir == "/" || dir == "" {
			continue // a manifest at the sink root: the root is never a run
		}
		if strings.Contains(dir, "/") {
			continue
		}
		folders = append(folders, dir)
	}
	sort.Strings(folders)
	objects = map[string][]sdk.ObjectInfo{}
	isRun := make(map[string]bool, len(folders))
	for _, f := range folders {
		isRun[f] = true
	}
	for _, o := range all {
		top, _, ok := strings.Cut(o.Path, "/")
		if ok && isRun[top] {
			objects[top] = append(objects[top], o)
		}
	}
	// Manifests deeper down outside every run here (an artifact of a run
	// may be named manifest.json too) are said once, not one by one: a
	// nested sink holds hundreds.
	nested, example := 0, ""
	for _, o := range all {
		top, _, _ := strings.Cut(o.Path, "/")
		if path.Base(o.Path) == ManifestName && strings.Count(o.Path, "/") > 1 && !isRun[top] {
			if nested == 0 {
				example = o.Path
			}
			nested++
		}
	}
	if nested > 0 {
		ignored = append(ignored, fmt.Sprintf("%d manifest.json file(s) in subfolders, such as %s: only direct children of the sink's folder are its runs (is another sink's path inside this one? give each sink its own folder)", nested, example))
	}
	for _, f := range folders {
		m, err := readManifest(ctx, sink, f+"/"+ManifestName)
		if err == nil {
			err = m.check(f)
		}
		if err != nil {
			if sdk.KindOf(err) == sdk.KindCanceled || sdk.KindOf(err) == sdk.KindAuth {
				return Found{}, err
			}
			ignored = append(ignored, fmt.Sprintf("%s/%s: %v", f, ManifestName, err))
			delete(objects, f)
			continue
		}
		r := Run{Folder: f, Manifest: m}
		for _, o := range objects[f] {
			r.Objects++
			r.Bytes += o.Size
		}
		if m.PipelineID != opts.PipelineID || m.Sink != opts.Sink {
			r.Reason = "left alone: " + ownerText(m)
			others = append(others, r)
			delete(objects, f)
			continue
		}
		runs = append(runs, r)
	}
	newestFirst := func(rs []Run) {
		sort.SliceStable(rs, func(i, j int) bool { return rs[i].Manifest.Started.After(rs[j].Manifest.Started) })
	}
	newestFirst(runs)
	newestFirst(others)
	var strays []string
	if opts.RunPrefix != "" {
		seen := map[string]bool{}
		for _, o := range all {
			top, _, ok := strings.Cut(o.Path, "/")
			if !ok || isRun[top] || seen[top] || !looksLikeRunFolder(top, opts.RunPrefix) {
				continue
			}
			seen[top] = true
			strays = append(strays, top)
		}
		sort.Strings(strays)
	}
	return Found{Runs: runs, Objects: objects, Others: others, Ignored: ignored, Strays: strays}, nil
}

// looksLikeRunFolder reports whether name is "<prefix>_YYYY-MM-DD_HH-MM-SS",
// optionally with a "_N" suffix (a second run in the same second).
func looksLikeRunFolder(name, prefix string) bool {
	rest, ok := strings.CutPrefix(name, prefix+"_")
	if !ok || len(rest) < len("2006-01-02_15-04-05") {
		return false
	}
	if _, err := time.Parse("2006-01-02_15-04-05", rest[:19]); err != nil {
		return false
	}
	tail := rest[19:]
	if tail == "" {
		return true
	}
	if len(tail) < 2 || tail[0] != '_' {
		return false
	}
	for _, c := range tail[1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// ownerText names whose run a manifest records, for the runs retention
// leaves alone.
func ownerText(m Manifest) string {
	if m.PipelineID == "" {
		return "a run with no pipeline_id (written by an older agolpipe, or copied); retention never deletes it — remove it by hand when it is no longer needed"
	}
	return fmt.Sprintf("a run of pipeline %q, sink %q, not this one", m.PipelineID, m.Sink)
}

// readManifest reads the few fields retention needs from a manifest.json.
// A manifest of a large organization lists every item and can be hundreds
// of megabytes, so it is read as a stream of tokens and reading stops once
// the fields are found (they come first in manifests agolpipe writes);
// other values are skipped without being kept.
func readManifest(ctx context.Context, sink sdk.Sink, p string) (Manifest, error) {
	var m Manifest
	rc, err := sink.Get(ctx, sdk.GetRequest{Path: p})
	if err != nil {
		return m, err
	}
	defer rc.Close()
	dec := json.NewDecoder(io.LimitReader(rc, maxManifestSize))
	bad := func(err error) (Manifest, error) { return m, fmt.Errorf("not an agolpipe manifest (%v)", err) }
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return bad(fmt.Errorf("not a JSON object"))
	}
	want := map[string]any{
		"schema_version": &m.SchemaVersion, "agolpipe_version": &m.AgolpipeVersion, "run_id": &m.RunID,
		"run_folder": &m.RunFolder, "started": &m.Started, "status": &m.Status,
		"pipeline_id": &m.PipelineID, "sink": &m.Sink, "modified_since": &m.ModifiedSince,
		"host": &m.Host, "pid": &m.PID,
	}
	for dec.More() && len(want) > 0 {
		tok, err := dec.Token()
		if err != nil {
			return bad(err)
		}
		key, _ := tok.(string)
		if key == "items" && !slices.ContainsFunc(requiredFields, func(f string) bool { _, missing := want[f]; return missing }) {
			// Optional fields an older manifest lacks are not searched for
			// through the item list (the long part); agolpipe writes them
			// all before it. A manifest with its keys reordered (by another
			// tool) is still read in full for the required ones.
			break
		}
		if target, ok := want[key]; ok {
			if err := dec.Decode(target); err != nil {
				return bad(fmt.Errorf("%s: %v", key, err))
			}
			delete(want, key)
			continue
		}
		if err := skipValue(dec); err != nil {
			return bad(err)
		}
	}
	return m, nil
}

// requiredFields are the manifest fields every agolpipe manifest has.
var requiredFields = []string{"schema_version", "run_id", "run_folder", "started", "status"}

// skipValue consumes one JSON value token by token.
func skipValue(dec *json.Decoder) error {
	depth := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if depth == 0 {
			return nil
		}
	}
}

// check tells whether m describes the run in folder.
func (m Manifest) check(folder string) error {
	switch {
	case m.SchemaVersion < 1:
		return errors.New("not an agolpipe manifest (no schema_version)")
	case m.RunID == "":
		return errors.New("not an agolpipe manifest (no run_id)")
	case m.Started.IsZero():
		return errors.New("not an agolpipe manifest (no start time)")
	case m.RunFolder != path.Base(folder):
		return fmt.Errorf("manifest is for run folder %q, not %q (copied or moved?)", m.RunFolder, path.Base(folder))
	}
	return nil
}

// Select splits runs (newest first, all of one pipeline and sink) into
// those to keep and those to delete, each with its reason. It is pure, so
// the rules are tested with a fixed clock.
func Select(runs []Run, p Policy, now time.Time, loc *time.Location) (keep, del []Run) {
	if loc == nil {
		loc = time.Local
	}
	if p.Empty() {
		for _, r := range runs {
			r.Reason = "kept: the policy deletes nothing"
			keep = append(keep, r)
		}
		return keep, nil
	}
	reasons := make([]string, len(runs))
	add := func(i int, why string) {
		if reasons[i] == "" {
			reasons[i] = why
		} else {
			reasons[i] += ", " + why
		}
	}
	newest := func(ok func(Run) bool) int {
		for i, r := range runs {
			if ok(r) {
				return i
			}
		}
		return -1
	}
	if i := newest(func(r Run) bool { return r.Complete() && r.Full() }); i >= 0 {
		add(i, "newest complete full run")
	}
	if i := newest(Run.Complete); i >= 0 && !runs[i].Full() {
		add(i, "newest complete run (incremental)")
	}
	for i, r := range runs {
		age := now.Sub(r.Manifest.Started)
		switch {
		case r.Unfinished():
			// Never finished: may still be going (another host, a long
			// run) until the grace period has passed.
			if age <= IncompleteGrace {
				add(i, fmt.Sprintf("unfinished (status running) and %s: may still be going; deleted once older than %s if it never finishes", formatAge(age), formatAge(IncompleteGrace)))
			}
		case p.DeleteAfter > 0 && age <= p.DeleteAfter:
			add(i, "younger than delete_after")
		}
	}
	// Each keep slot goes to the newest complete full run of its day, week
	// or month; an incremental run takes a slot only in a period without
	// any full run (a pipeline that only runs incrementally).
	bucket := func(name string, n int, key func(time.Time) string) {
		if n <= 0 {
			return
		}
		var order []string
		pick := map[string]int{}
		for i, r := range runs {
			if !r.Complete() {
				continue // a failed run never takes a keep slot
			}
			k := key(r.Manifest.Started.In(loc))
			j, seen := pick[k]
			if !seen {
				order = append(order, k)
				pick[k] = i
				continue
			}
			if !runs[j].Full() && r.Full() {
				pick[k] = i
			}
		}
		for c, k := range order {
			if c >= n {
				break
			}
			add(pick[k], name+" "+k)
		}
	}
	bucket("daily", p.KeepDaily, func(t time.Time) string { return t.Format("2006-01-02") })
	bucket("weekly", p.KeepWeekly, func(t time.Time) string {
		y, w := t.ISOWeek()
		return fmt.Sprintf("%d-W%02d", y, w)
	})
	bucket("monthly", p.KeepMonthly, func(t time.Time) string { return t.Format("2006-01") })
	// An incremental run is restored on top of the full run before it: keep
	// that one for as long as any incremental run after it is kept.
	for i, r := range runs {
		if reasons[i] == "" || r.Full() || !r.Complete() {
			continue
		}
		for j := i + 1; j < len(runs); j++ {
			if runs[j].Full() && runs[j].Complete() {
				add(j, "full run that kept incremental run "+r.Folder+" builds on")
				break
			}
		}
	}
	for i, r := range runs {
		if reasons[i] != "" {
			r.Reason = "kept: " + reasons[i]
			keep = append(keep, r)
			continue
		}
		age := now.Sub(r.Manifest.Started)
		switch {
		case r.Unfinished():
			r.Reason = fmt.Sprintf("deleted: unfinished (status running) and %s: the leftovers of a run that was killed or lost its machine", formatAge(age))
		case p.DeleteAfter > 0:
			r.Reason = fmt.Sprintf("deleted: older than delete_after (%s) and kept by no keep rule", formatAge(age))
		default:
			r.Reason = "deleted: kept by no keep rule"
		}
		del = append(del, r)
	}
	return keep, del
}

func formatAge(d time.Duration) string {
	days := int(d.Hours() / 24)
	if days >= 1 {
		return fmt.Sprintf("%d days old", days)
	}
	return d.Round(time.Minute).String() + " old"
}

// Apply finds the runs in sink and deletes those the policy does not keep
// (none with DryRun). It stops at the first failed deletion and returns
// what it did so far together with the error.
func Apply(ctx context.Context, sink sdk.Sink, p Policy, opts Options) (Result, error) {
	res := Result{DryRun: p.DryRun}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	found, err := Find(ctx, sink, opts)
	if err != nil {
		return res, err
	}
	res.Ignored, res.Others = found.Ignored, found.Others
	for _, f := range found.Strays {
		res.Ignored = append(res.Ignored, fmt.Sprintf("%s: named like a run of this pipeline but holds no manifest.json (a run killed before agolpipe marked unfinished runs?); never deleted by retention, delete it by hand once you have checked it", f))
	}
	objects := found.Objects
	keep, del := Select(found.Runs, p, now, opts.Location)
	res.Kept = keep
	if p.DryRun {
		res.Deleted = del
		for _, r := range del {
			res.DeletedObjects += r.Objects
			res.DeletedBytes += r.Bytes
		}
		return res, nil
	}
	for _, r := range del {
		kept, err := deleteRun(ctx, sink, r, objects[r.Folder])
		r.Retained = kept
		if err != nil {
			return res, fmt.Errorf("deleting run %s: %w", r.Folder, err)
		}
		res.Deleted = append(res.Deleted, r)
		res.DeletedObjects += r.Objects - kept.Objects
		res.DeletedBytes += r.Bytes - kept.Bytes
		res.Retained.merge(kept)
	}
	return res, nil
}

// deleteRun deletes a run's objects, manifest.json last. An object already
// gone (a concurrent prune) is not an error. It returns what the sink kept
// stored of what it was asked to delete (sdk.DeleteReporter).
func deleteRun(ctx context.Context, sink sdk.Sink, r Run, objs []sdk.ObjectInfo) (Retained, error) {
	var kept Retained
	if r.Folder == "" || r.Folder == "." || r.Folder == "/" {
		return kept, sdk.Permanent("retention: refusing to delete the sink root")
	}
	del := func(p string) error {
		if dr, ok := sink.(sdk.DeleteReporter); ok {
			res, err := dr.DeleteReport(ctx, p)
			if err == nil {
				kept.add(res)
			}
			return err
		}
		return sink.Delete(ctx, p)
	}
	manifest := r.Folder + "/" + ManifestName
	for _, o := range objs {
		if o.Path == manifest {
			continue
		}
		if !strings.HasPrefix(o.Path, r.Folder+"/") {
			return kept, sdk.Permanent("retention: %q is outside run %q; not deleting", o.Path, r.Folder)
		}
		if err := del(o.Path); err != nil && !sdk.IsNotFound(err) {
			return kept, err
		}
	}
	if err := del(manifest); err != nil && !sdk.IsNotFound(err) {
		return kept, err
	}
	return kept, nil
}
