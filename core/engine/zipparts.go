package engine

import (
	"context"
	"fmt"
	"strings"

	"github.com/agolpipe/agolpipe/core/report"
	"github.com/agolpipe/agolpipe/sdk"
)

// A zipped sink whose plugin crashed loses the archive part it was
// writing (see ziprun's Parts): the artifacts stored in it before the
// crash are gone, and the run goes on in a new part. The engine then
// settles the record against what the archives really hold (settleZips)
// and exports the items that lost artifacts again, into the sinks that
// lost them only (restoreLost), so the run ends with the backup whole and
// its counts true.

// settleZips checks every artifact recorded as stored in a zipped sink
// against the archive that really holds it: a stored outcome names its
// part (SinkOutcome.Archive), and one whose part was lost becomes missed.
// It also records the sink's parts in its report. It returns, by item id,
// the sinks (indexes) in which the item lost artifacts.
func (e *engine) settleZips() map[string]map[int]bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	lost := map[string]map[int]bool{}
	byName := map[string]*sinkState{}
	for _, s := range e.sinks {
		if s.zip != nil {
			byName[s.name] = s
		}
	}
	if len(byName) == 0 {
		return lost
	}
	for i := range e.rep.Artifacts {
		a := &e.rep.Artifacts[i]
		for k := range a.Sinks {
			o := &a.Sinks[k]
			s := byName[o.Sink]
			if s == nil || o.Status != report.Stored {
				continue
			}
			if arch, ok := s.zip.Locate(e.rep.RunFolder + "/" + o.Path); ok {
				o.Archive = arch
				continue
			}
			o.Status, o.Archive = report.Missed, ""
			o.Error = fmt.Sprintf("lost with an archive part of sink %q that could not be finished (see the sink's warnings)", s.name)
			if lost[a.ItemID] == nil {
				lost[a.ItemID] = map[int]bool{}
			}
			lost[a.ItemID][s.idx] = true
		}
	}
	for _, s := range byName {
		e.recordParts(s)
	}
	return lost
}

// recordParts puts a zipped sink's archive parts into its report: the part
// that holds the reports is Archive (and RunPath), every part is listed
// when there is more than one, and each lost part gets a warning. The
// caller holds e.mu.
func (e *engine) recordParts(s *sinkState) {
	rs := &e.rep.Sinks[s.idx]
	parts := s.zip.Parts()
	last := parts[len(parts)-1].Path
	rs.Archive, rs.RunPath = last, joinLocation(s.Features.Location, last)
	if len(parts) < 2 {
		return
	}
	rs.Archives = rs.Archives[:0]
	for _, p := range parts {
		rs.Archives = append(rs.Archives, p.Path)
		if !p.Lost {
			continue
		}
		w := fmt.Sprintf("archive %s was lost: its upload broke before it was finished (%s); the %d entries written into it were stored again in the next part or are counted as missed",
			p.Path, p.Cause, p.Entries)
		if !contains(rs.Warnings, w) {
			rs.Warnings = append(rs.Warnings, w)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// restoreLost exports again the items whose artifacts were lost with an
// archive part, into the sinks that lost them only; the other sinks keep
// what they hold. It runs after every item was tried (and deferred exports
// collected), at most twice, for parts lost while it ran. An item that
// cannot be stored again keeps its record, its lost copies counted as
// missed.
func (e *engine) restoreLost(ctx context.Context) {
	for round := 0; round < 2 && ctx.Err() == nil; round++ {
		lost := e.settleZips()
		// A full sink gets nothing more: its lost artifacts stay missed.
		for id, sinks := range lost {
			for k := range sinks {
				if e.downErr(e.sinks[k]) != nil {
					delete(sinks, k)
				}
			}
			if len(sinks) == 0 {
				delete(lost, id)
			}
		}
		if len(lost) == 0 {
			return
		}
		// The records of the items to restore: their lost outcomes go (the
		// new export records them again); kept aside in case it fails.
		e.mu.Lock()
		old := map[string][]report.Artifact{}
		var keep []report.Artifact
		for _, a := range e.rep.Artifacts {
			sinks := lost[a.ItemID]
			if sinks == nil {
				keep = append(keep, a)
				continue
			}
			old[a.ItemID] = append(old[a.ItemID], cloneArtifact(a))
			var outs []report.SinkOutcome
			for _, o := range a.Sinks {
				if sinks[e.sinkIndex(o.Sink)] {
					// The item is exported into this sink again, whole: what
					// the sink still holds of it (in a part that was not
					// lost) is replaced by the new export's copy, whose
					// bytes may differ (counts.json records when it
					// counted), so its old outcome no longer describes the
					// sink. The new export records it again.
					continue
				}
				outs = append(outs, o)
			}
			if len(outs) > 0 {
				a.Sinks = outs
				keep = append(keep, a)
			}
		}
		e.rep.Artifacts = keep
		base := len(keep) // the restored exports' records come after
		var idx []int
		prev := map[int]report.Item{}
		for i, it := range e.rep.Items {
			if lost[it.ID] != nil {
				idx = append(idx, i)
				prev[i] = it
			}
		}
		e.only = lost
		e.mu.Unlock()
		names := map[string]bool{}
		for _, sinks := range lost {
			for k := range sinks {
				names[e.sinks[k].name] = true
			}
		}
		var list []string
		for n := range names {
			list = append(list, fmt.Sprintf("%q", n))
		}
		e.log.Warn("items lost with an archive part are exported again", "items", len(idx), "sinks", strings.Join(list, ", "))
		// The display counts these exports on top of the run's.
		e.mu.Lock()
		total := len(idx)
		for _, it := range e.rep.Items {
			if it.Exporter != "" {
				total++
			}
		}
		e.mu.Unlock()
		e.emit(Event{Type: EventListed, Total: total})

		ch := make(chan int, len(idx))
		for _, i := range idx {
			ch <- i
		}
		close(ch)
		e.collectDeferred(ctx, e.exportWorkers(ctx, ch, false))

		e.mu.Lock()
		e.only = nil
		e.rep.Artifacts = mergeSame(e.rep.Artifacts, base)
		for _, i := range idx {
			it := &e.rep.Items[i]
			if it.Status != sdk.StatusFailed && it.Status != report.ItemCanceled {
				continue // stored again (an item skipped with its description too)
			}
			// Not stored again: the earlier record stands, with the lost
			// copies missed; copies in other sinks still count.
			why := it.Reason
			was := prev[i]
			*it = was
			it.Reason = joinReasons(it.Reason, fmt.Sprintf("its artifacts were lost with an archive part and storing them again failed: %s", why))
			e.rep.Artifacts = removeItem(e.rep.Artifacts, it.ID)
			// What the lost sinks held of the item may have been replaced
			// or deleted by the export that failed: never claim it stored.
			for _, a := range old[it.ID] {
				for k := range a.Sinks {
					o := &a.Sinks[k]
					if lost[it.ID][e.sinkIndex(o.Sink)] && o.Status == report.Stored {
						o.Status, o.Archive = report.Missed, ""
						o.Error = "exported again after an archive part was lost, and that export failed"
					}
				}
			}
			held := false
			for _, a := range old[it.ID] {
				for _, o := range a.Sinks {
					held = held || o.Status == report.Stored
				}
			}
			if held {
				// Still stored in another sink: listed, the lost copies missed.
				it.Status = sdk.StatusPartial
				e.rep.Artifacts = append(e.rep.Artifacts, old[it.ID]...)
			} else {
				it.Status, it.ErrorKind = sdk.StatusFailed, "sink"
			}
		}
		e.mu.Unlock()
	}
	e.settleZips()
}

// mergeSame folds each record from index base on (a restored export's, for
// the sinks that lost it) into an earlier record of the same artifact with
// the same bytes (sha256), so an artifact held in several sinks stays one
// record. A re-export with other bytes (a new export job) stays a record of
// its own: each sink's manifest lists the bytes it holds.
func mergeSame(as []report.Artifact, base int) []report.Artifact {
	out := as[:base]
	for _, n := range as[base:] {
		merged := false
		for k := range out[:base] {
			o := &out[k]
			if o.ItemID == n.ItemID && o.Name == n.Name && o.SHA256 == n.SHA256 && o.Size == n.Size && !sharesSink(*o, n) {
				o.Sinks = append(o.Sinks, n.Sinks...)
				merged = true
				break
			}
		}
		if !merged {
			out = append(out, n)
		}
	}
	return out
}

func sharesSink(a, b report.Artifact) bool {
	for _, x := range a.Sinks {
		for _, y := range b.Sinks {
			if x.Sink == y.Sink {
				return true
			}
		}
	}
	return false
}

func cloneArtifact(a report.Artifact) report.Artifact {
	a.Sinks = append([]report.SinkOutcome(nil), a.Sinks...)
	return a
}

func removeItem(as []report.Artifact, id string) []report.Artifact {
	out := as[:0]
	for _, a := range as {
		if a.ItemID != id {
			out = append(out, a)
		}
	}
	return out
}

// targetsOnly says whether an export of item may write to sink k: always,
// except while lost artifacts are restored (only the sinks that lost them).
func (e *engine) targetsOnly(item string, k int) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.only == nil {
		return true
	}
	return e.only[item][k]
}
