package engine

import (
	"context"
	"fmt"
	"io"

	"github.com/agolpipe/agolpipe/core/report"
	"github.com/agolpipe/agolpipe/sdk"
)

// OrgMetadataPath is where the organization's metadata document lands,
// relative to the run folder, in every sink and whatever the layout.
const OrgMetadataPath = "org/metadata.json"

// listWarnings copies the problems the source's listing met without
// failing (completeness check, unreadable folders) into the run's warnings.
func (e *engine) listWarnings() {
	lw, ok := e.o.Source.(sdk.ListWarner)
	if !ok {
		return
	}
	for _, w := range lw.ListWarnings() {
		e.warn("source: " + w)
	}
}

// orgMetadata streams the source's organization metadata (users without
// secrets, groups, memberships, item sharing) into every live sink as
// org/metadata.json, an artifact of the run like any other. Only a source
// that declares the ability is asked. A failure is a warning: the items'
// backups do not depend on it.
func (e *engine) orgMetadata(ctx context.Context) {
	if !sdk.SourceFeaturesOf(e.o.Source).OrgMetadata {
		e.log.Info("the source does not provide org metadata; org/metadata.json is not written")
		return
	}
	om, ok := e.o.Source.(sdk.OrgMetadataSource)
	if !ok {
		e.warn("the source declares org metadata but does not provide it; org/metadata.json is not written")
		return
	}
	a := sdk.Artifact{Name: "metadata.json", MediaType: "application/json", Size: -1, Format: sdk.OrgMetadataFormat}
	var rec report.Artifact
	err := e.policy.Do(ctx, func(ctx context.Context, _ int) error {
		var targets []target
		rec = report.Artifact{Name: a.Name, ItemType: "Organization", Exporter: e.rep.Source.Type, Format: a.Format, MediaType: a.MediaType}
		for _, s := range e.sinks {
			if s.alive {
				targets = append(targets, target{sink: s.out, path: e.rep.RunFolder + "/" + OrgMetadataPath})
				rec.Sinks = append(rec.Sinks, report.SinkOutcome{Sink: s.name, Path: OrgMetadataPath})
			}
		}
		if len(targets) == 0 {
			return sdk.Permanent("no sink is available")
		}
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(om.OrgMetadata(ctx, pw)) }()
		r := fanout(ctx, &e.pool, e.chunk, e.queue, targets, a, pr, nil)
		pr.CloseWithError(errStopped) // unblocks the writer if fan-out stopped early
		if r.srcErr != nil {
			return r.srcErr
		}
		rec.Size, rec.SHA256 = r.size, r.sha256
		stored := false
		var retry error
		for k, err := range r.errs {
			if err == nil {
				rec.Sinks[k].Status = report.Stored
				stored = true
				continue
			}
			rec.Sinks[k].Status, rec.Sinks[k].Error = report.Missed, err.Error()
			if sdk.KindOf(err) == sdk.KindRetryable && retry == nil {
				retry = err
			}
		}
		if !stored {
			return combine(r.errs)
		}
		if retry != nil {
			// Put replaces, so another attempt overwrites the copies made.
			return retry
		}
		return nil
	})
	stored := false
	for _, o := range rec.Sinks {
		stored = stored || o.Status == report.Stored
	}
	if stored {
		e.mu.Lock()
		e.rep.Artifacts = append(e.rep.Artifacts, rec)
		e.mu.Unlock()
		for _, o := range rec.Sinks {
			if o.Status != report.Stored {
				e.warn(fmt.Sprintf("sink %q: %s not stored: %s", o.Sink, OrgMetadataPath, o.Error))
			}
		}
		e.log.Info("org metadata written", "path", OrgMetadataPath, "bytes", rec.Size)
		return
	}
	if st := e.stopReason(ctx); err != nil && ctx.Err() != nil && !st.canceled {
		e.warn(fmt.Sprintf("the organization's metadata (users, groups, sharing) was not saved: %s before it was written; the items' backups are not affected", st.why))
	} else if err != nil && sdk.KindOf(err) != sdk.KindCanceled {
		e.warn(fmt.Sprintf("the organization's metadata (users, groups, sharing) was not saved: %v; the items' backups are not affected", err))
	}
}

var errStopped = fmt.Errorf("org metadata: fan-out stopped")
