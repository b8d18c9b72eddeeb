package engine

import (
	"bytes"
	"context"
	"fmt"
	"sync"

	"github.com/agolpipe/agolpipe/core/report"
	"github.com/agolpipe/agolpipe/sdk"
)

// writeReports puts Inventory.csv, Results.txt, run.log and last
// manifest.json (its presence marks a finished run for verify and
// retention) into every live sink, and seals the archive of a sink with
// zip = true. It reports whether every required sink got all of them.
func (e *engine) writeReports(ctx context.Context) bool {
	e.emit(Event{Type: EventReports})
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	var inv, res bytes.Buffer
	if err := report.WriteInventory(&inv, e.rep); err != nil {
		e.log.Error("writing Inventory.csv", "error", err)
	}
	if err := report.WriteResults(&res, e.rep); err != nil {
		e.log.Error("writing Results.txt", "error", err)
	}
	e.results = res.String()
	ok := true
	var wg sync.WaitGroup
	for i, s := range e.sinks {
		if !s.alive {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			down := e.downErr(s)
			if down != nil {
				// A full sink: its reports are small and may still fit;
				// else they are kept locally.
				err := e.putReports(cctx, s, e.downTarget(s), inv.Bytes(), res.Bytes())
				if err == nil {
					e.mu.Lock()
					e.rep.Sinks[i].Reports = true
					e.mu.Unlock()
					return
				}
				e.log.Error("writing reports", "sink", s.name, "error", err)
				e.keepReports(s, inv.Bytes(), res.Bytes(), err)
				if s.Block.Required {
					e.mu.Lock()
					ok = false
					e.mu.Unlock()
				}
				return
			}
			var parts int
			if s.zip != nil {
				parts = len(s.zip.Parts())
			}
			err := e.putReports(cctx, s, s.out, inv.Bytes(), res.Bytes())
			if s.zip != nil {
				if err == nil && len(s.zip.Parts()) != parts {
					// The reports went into a new part: the one holding
					// the artifacts they describe was lost meanwhile.
					err = fmt.Errorf("the sink restarted while the reports were written, and archive %s with the run's artifacts was lost", s.zip.Parts()[parts-1].Path)
				}
				if err == nil {
					err = e.finishZip(cctx, s)
				} else {
					s.zip.Abort(err)
					e.removeBeside(cctx, s)
				}
			}
			e.mu.Lock()
			defer e.mu.Unlock()
			rs := &e.rep.Sinks[i]
			if err != nil {
				rs.Error = firstNonEmpty(rs.Error, "reports: "+err.Error())
				if s.zip != nil {
					rs.Outcome = "failed" // no archive: none of the run is in this sink
				}
				e.log.Error("writing reports", "sink", s.name, "error", err)
				if s.Block.Required {
					ok = false
				}
				// Whatever the cause (a full disk, a sink that restarted
				// while the archive was sealed), the sink's record of the
				// run is not lost: it is kept locally.
				e.mu.Unlock()
				e.keepReports(s, inv.Bytes(), res.Bytes(), err)
				e.mu.Lock()
				return
			}
			rs.Reports = true
		}()
	}
	wg.Wait()
	// A zipped sink without its archive holds none of the run.
	lostAll := false
	e.mu.Lock()
	for i, s := range e.sinks {
		if s.zip == nil || !s.alive || e.rep.Sinks[i].Reports {
			continue
		}
		for k := range e.rep.Artifacts {
			for j := range e.rep.Artifacts[k].Sinks {
				o := &e.rep.Artifacts[k].Sinks[j]
				if o.Sink == s.name && o.Status == report.Stored {
					o.Status, o.Archive, o.Error = report.Missed, "", "the run's archive could not be finished"
					lostAll = true
				}
			}
		}
	}
	if lostAll {
		e.count()
	}
	e.mu.Unlock()
	return ok
}

func (e *engine) putReports(ctx context.Context, s *sinkState, to sdk.Sink, inv, res []byte) error {
	put := func(name string, body []byte) error {
		return e.policy.Do(ctx, func(ctx context.Context, _ int) error {
			_, err := to.Put(ctx, sdk.PutRequest{Path: e.rep.RunFolder + "/" + name, MediaType: mediaType(name), Size: int64(len(body)), Body: bytes.NewReader(body)})
			return err
		})
	}
	if err := put(report.InventoryFile, inv); err != nil {
		return err
	}
	if err := put(report.ResultsFile, res); err != nil {
		return err
	}
	if err := e.policy.Do(ctx, func(ctx context.Context, _ int) error {
		rd, n, err := e.runLog.Snapshot()
		if err != nil {
			return err
		}
		_, err = to.Put(ctx, sdk.PutRequest{Path: e.rep.RunFolder + "/" + report.LogFile, MediaType: "text/plain", Size: n, Body: rd})
		return err
	}); err != nil {
		return err
	}
	var m bytes.Buffer
	mu := &e.mu
	mu.Lock()
	err := report.WriteManifest(&m, e.rep.ForSink(s.name))
	mu.Unlock()
	if err != nil {
		return err
	}
	return put(report.ManifestFile, m.Bytes())
}

func mediaType(name string) string {
	switch name {
	case report.ManifestFile:
		return "application/json"
	case report.InventoryFile:
		return "text/csv"
	}
	return "text/plain; charset=utf-8"
}
