package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/agolpipe/agolpipe/core/report"
	"github.com/agolpipe/agolpipe/core/retention"
	"github.com/agolpipe/agolpipe/sdk"
)

// maxFolderSuffix bounds the search for a free run folder name.
const maxFolderSuffix = 99

// folderCheckTimeout bounds the look for a free run folder name.
const folderCheckTimeout = 30 * time.Second

// errFolderTaken stops a listing at its first object.
var errFolderTaken = errors.New("taken")

// uniqueFolder makes the run folder's name one no sink holds yet: a run
// started in the same second as another run writing there (another
// pipeline with the same prefix, or a run on another machine) gets
// "<prefix>_<time>_2" and so on, never the other run's folder. A sink that
// cannot be listed is not held against a name: its preflight says why.
func (e *engine) uniqueFolder(ctx context.Context, base string) string {
	// Before preflight a sink may be unreachable: never wait long for it.
	ctx, cancel := context.WithTimeout(ctx, folderCheckTimeout)
	defer cancel()
	taken := func(folder string) bool {
		for _, s := range e.o.Sinks {
			err := s.Sink.List(ctx, sdk.ListRequest{Prefix: folder + "/"}, func(sdk.ObjectInfo) error { return errFolderTaken })
			if errors.Is(err, errFolderTaken) {
				return true
			}
		}
		return false
	}
	folder := base
	for n := 2; taken(folder) && n <= maxFolderSuffix; n++ {
		folder = fmt.Sprintf("%s_%d", base, n)
	}
	if folder != base {
		e.log.Warn("run folder name already in use in a sink; using another", "wanted", base, "run", folder)
	}
	return folder
}

// markRunning stores this run's manifest.json with status running in
// every sink that passed preflight, before anything else of the run: a run
// that dies (kill -9, power cut) leaves a folder that says whose it is and
// that it never finished, which the next run reports and retention cleans
// after retention.IncompleteGrace. The final manifest replaces it.
func (e *engine) markRunning(ctx context.Context) {
	for _, s := range e.sinks {
		if !s.alive {
			continue
		}
		var m bytes.Buffer
		e.mu.Lock()
		r := e.rep.ForSink(s.name)
		e.mu.Unlock()
		r.Status = report.StatusRunning
		r.ExitCode = -1
		if err := report.WriteManifest(&m, r); err != nil {
			e.log.Error("writing the running marker", "sink", s.name, "error", err)
			continue
		}
		err := e.policy.Do(ctx, func(ctx context.Context, _ int) error {
			_, err := s.inner.Put(ctx, sdk.PutRequest{Path: e.rep.RunFolder + "/" + report.ManifestFile, MediaType: "application/json", Size: int64(m.Len()), Body: bytes.NewReader(m.Bytes())})
			return err
		})
		if err != nil {
			// Only run.log: a sink refusing this small write refuses the
			// artifacts too, and the run's warnings say that already.
			e.log.Warn("could not mark the run as unfinished in the sink; if the run dies, the next run will not recognise its folder", "sink", s.name, "error", err)
		}
	}
}

// scanUnfinished looks, while the run goes on, for folders earlier runs of
// this pipeline left unfinished in each sink, and says so in the run's
// warnings (so in Results.txt and the summary): the run that died, when,
// on which machine, and what happens to its folder.
func (e *engine) scanUnfinished(ctx context.Context) {
	for _, s := range e.sinks {
		if !s.alive {
			continue
		}
		e.scan.Go(func() {
			// The reports wait for this look: a sink whose listing hangs must
			// not hold the run (nothing in a run waits without a bound).
			sctx, cancel := bounded(ctx, e.scanTimeout, "the look for unfinished runs", SinkScanTimeoutEnv)
			defer cancel()
			found, err := retention.Find(sctx, s.inner, retention.Options{PipelineID: e.rep.PipelineID, Sink: s.name, RunPrefix: e.p.Run.Prefix})
			if err = boundErr(ctx, sctx, err); err != nil {
				if ctx.Err() == nil {
					e.log.Warn("could not look for unfinished runs", "sink", s.name, "error", err)
				}
				return
			}
			now := e.now()
			for _, r := range found.Runs {
				if !r.Unfinished() || r.Folder == e.rep.RunFolder {
					continue
				}
				m := r.Manifest
				age := now.Sub(m.Started)
				fate := fmt.Sprintf("retention deletes it once it is older than %s", retention.IncompleteGrace)
				if age > retention.IncompleteGrace {
					fate = "retention deletes it at its next pass (older than " + retention.IncompleteGrace.String() + ")"
				}
				if age < retention.IncompleteGrace {
					fate += "; if that run is in fact still going elsewhere, two runs overlap"
				}
				e.warn(fmt.Sprintf("sink %q: run %s of this pipeline never finished (started %s by pid %d on host %s, %s ago; killed, or its machine stopped): its folder holds %d object(s) and no complete backup; %s",
					s.name, r.Folder, m.Started.UTC().Format("2006-01-02 15:04:05 MST"), m.PID, m.Host, age.Round(time.Minute), r.Objects, fate))
			}
			for _, f := range found.Strays {
				if f == e.rep.RunFolder {
					continue
				}
				e.warn(fmt.Sprintf("sink %q: folder %s is named like a run of this pipeline but holds no manifest.json: a run killed before agolpipe marked unfinished runs; it holds no complete backup and retention never deletes it; check it and delete it by hand", s.name, f))
			}
		})
	}
}
