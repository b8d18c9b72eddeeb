package engine

import (
	"context"
	"fmt"
	"slices"

	"github.com/agolpipe/agolpipe/core/pipeline"
	"github.com/agolpipe/agolpipe/core/report"
	"github.com/agolpipe/agolpipe/sdk"
)

// notify tells every notifier whose `on` list includes the run's status.
func (e *engine) notify(ctx context.Context) {
	if len(e.o.Notifiers) == 0 {
		return
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	c := e.rep.Counts
	req := sdk.NotifyRequest{
		RunID: e.rep.RunID, Pipeline: e.p.Filename, Status: e.rep.Status, ExitCode: e.rep.ExitCode,
		Started: e.rep.Started, Finished: e.rep.Finished, Results: e.results,
		Counts: map[string]int64{
			string(sdk.StatusExported): int64(c.Exported), string(sdk.StatusPartial): int64(c.Partial),
			string(sdk.StatusFailed): int64(c.Failed), string(sdk.StatusSkipped): int64(c.Skipped),
			string(sdk.StatusExcluded): int64(c.Excluded), string(report.ItemCanceled): int64(c.Canceled),
		},
	}
	if req.Results == "" && e.rep.Error != "" {
		req.Results = e.rep.Error
	}
	for _, s := range e.rep.Sinks {
		if s.Reports {
			req.Locations = append(req.Locations, s.RunPath)
		}
	}
	for _, n := range e.o.Notifiers {
		if !fires(n.Block, e.rep.Status) {
			continue
		}
		err := e.policy.Do(cctx, func(ctx context.Context, _ int) error { return n.Notifier.Notify(ctx, req) })
		if err != nil {
			e.warn(fmt.Sprintf("notifier %q (%s) failed: %v", n.Block.Name, n.Block.Type, err))
		} else {
			e.log.Info("notified", "notifier", n.Block.Name, "status", e.rep.Status)
		}
	}
}

// fires applies a notifier's `on` list; the default is every status but
// success, so a quiet night stays quiet.
func fires(b *pipeline.NotifierBlock, status string) bool {
	if b == nil || len(b.On) == 0 {
		return status != report.StatusSuccess
	}
	return slices.Contains(b.On, status)
}
