package engine

import (
	"context"
	"errors"

	"github.com/agolpipe/agolpipe/core/report"
	"github.com/agolpipe/agolpipe/core/ziprun"
	"github.com/agolpipe/agolpipe/sdk"
)

// zipSink wraps a sink with zip = true for this run. Results.txt is kept
// beside the archive as well as manifest.json, so a person browsing the
// share reads how the run went without unzipping, and the retention outcome
// (decided after the archive is sealed) has somewhere to go.
func (e *engine) zipSink(inner sdk.Sink) *ziprun.Sink {
	return ziprun.New(inner, e.rep.RunFolder, ziprun.Options{Beside: []string{report.ManifestFile, report.ResultsFile}})
}

// finishZip seals a zipped sink's archive after its reports went in. When
// that fails, the copies stored beside the archive are removed, so no
// manifest.json claims a run whose archive does not exist (retention and
// verify recognise runs by it).
func (e *engine) finishZip(ctx context.Context, s *sinkState) error {
	if _, err := s.zip.Finish(ctx); err != nil {
		e.removeBeside(ctx, s)
		return err
	}
	e.log.Info("archive written", "sink", s.name, "archive", s.zip.ArchivePath())
	return nil
}

// removeBeside deletes the reports stored beside a zipped sink's archive
// that will not be finished.
func (e *engine) removeBeside(ctx context.Context, s *sinkState) {
	for _, name := range []string{report.ManifestFile, report.ResultsFile} {
		if derr := s.inner.Delete(ctx, e.rep.RunFolder+"/"+name); derr != nil && !sdk.IsNotFound(derr) {
			e.log.Error("could not remove a report stored beside a failed archive", "sink", s.name, "file", name, "error", derr)
		}
	}
}

// abortZips drops every archive that was not finished (a run that stopped
// before its reports): nothing becomes visible in those sinks.
func (e *engine) abortZips(cause error) {
	if cause == nil {
		cause = errors.New("the run ended before the archive was finished")
	}
	for _, s := range e.sinks {
		if s.zip != nil {
			s.zip.Abort(cause)
		}
	}
}
