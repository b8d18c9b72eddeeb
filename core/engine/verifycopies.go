package engine

import (
	"context"
	"fmt"

	"github.com/agolpipe/agolpipe/core/catalog"
	"github.com/agolpipe/agolpipe/core/report"
	"github.com/agolpipe/agolpipe/core/verify"
)

// verifyCopies reads every sink's copy of the run back after the reports
// are written, when the pipeline asks (run { verify = true }), the way
// `agolpipe verify` does: a nightly job proves its own backup. Each sink's
// outcome goes into its report (Results.txt and the manifest, rewritten
// after retention); a required sink whose copy does not read back whole
// makes the run partial, and its retention is then not applied (see
// retentionSkip), so no older run is deleted for a backup that cannot be
// read. It runs before retention for that reason.
func (e *engine) verifyCopies(ctx context.Context) {
	if !e.p.Run.Verify || e.o.DryRun || ctx.Err() != nil {
		return
	}
	if e.rep.Status != report.StatusSuccess && e.rep.Status != report.StatusPartial {
		e.log.Info("run verify skipped", "reason", "the run ended "+e.rep.Status)
		return
	}
	var sinks []catalog.Sink
	idx := map[string]int{}
	for i, s := range e.sinks {
		if !s.alive || !e.rep.Sinks[i].Reports {
			continue
		}
		// The configured sink itself: a zipped run is read in place from
		// the sealed archive, as a later `agolpipe verify` reads it.
		sinks = append(sinks, catalog.Sink{Name: s.name, Sink: s.inner, Features: s.Features})
		idx[s.name] = i
	}
	if len(sinks) == 0 {
		return
	}
	e.log.Info("verifying the run's copy in every sink", "sinks", len(sinks))
	cat := catalog.New(e.rep.PipelineID, sinks)
	defer cat.Close()
	res := verify.Run(ctx, cat, e.rep.RunFolder, verify.Options{Parallel: e.p.Run.Concurrency})
	e.mu.Lock()
	defer e.mu.Unlock()
	e.verifyRan = true
	requiredFailed := false
	for _, sr := range res.Sinks {
		i := idx[sr.Sink]
		rs := &e.rep.Sinks[i]
		v := &report.Verified{OK: sr.OK(), Checked: sr.Checked, Bytes: sr.Bytes, ProblemCount: len(sr.Findings), Error: sr.Error}
		for _, f := range sr.Findings {
			if len(v.Problems) == report.MaxVerifyProblems {
				break
			}
			v.Problems = append(v.Problems, findingText(f))
		}
		rs.Verified = v
		if v.OK {
			e.log.Info("sink verified", "sink", sr.Sink, "artifacts", sr.Checked, "bytes", sr.Bytes, "duration", sr.Duration.String())
			continue
		}
		for _, p := range v.Problems {
			e.log.Error("sink copy does not verify", "sink", sr.Sink, "problem", p)
		}
		why := fmt.Sprintf("%d problem(s)", v.ProblemCount)
		if v.Error != "" {
			why = v.Error
		}
		if rs.Required {
			requiredFailed = true
			e.rep.Warnings = append(e.rep.Warnings, fmt.Sprintf("sink %q: the run's copy does not read back whole (%s); this backup cannot be trusted in this sink", sr.Sink, why))
		} else {
			e.rep.Warnings = append(e.rep.Warnings, fmt.Sprintf("sink %q (optional): the run's copy does not read back whole (%s)", sr.Sink, why))
		}
	}
	if requiredFailed && e.rep.Status == report.StatusSuccess {
		e.rep.Status, e.rep.ExitCode = report.StatusPartial, ExitPartial
	}
}

// findingText is one verification problem on one line, for Results.txt.
func findingText(f verify.Finding) string {
	where := f.Path
	if f.Entry != "" {
		where = f.Entry + " in archive " + f.Path
	}
	s := fmt.Sprintf("%s: %s", f.Problem, where)
	if f.ItemID != "" {
		s += fmt.Sprintf(" (item %s %q)", f.ItemID, f.Title)
	}
	return s + ": " + f.Detail
}
