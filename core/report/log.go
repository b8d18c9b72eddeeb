package report

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"

	"github.com/agolpipe/agolpipe/sdk"
)

// Redacted replaces a secret in run.log.
const Redacted = "[redacted]"

// Log is run.log while a run writes it: a temporary file on local disk
// (logs of large organizations do not fit in memory comfortably) that is
// copied into every sink at the end. Every byte passes a redactor first, so
// no sensitive value of the pipeline ever reaches the file.
type Log struct {
	mu     sync.Mutex
	f      *os.File
	w      io.Writer
	logger *slog.Logger
}

// NewLog starts a run.log in format "text" or "json", redacting the given
// secrets (pipeline.Pipeline.Sensitive). tee, when not nil, also receives
// every (redacted) line, for --verbose output. Close removes the file.
func NewLog(format string, sensitive []string, tee io.Writer) (*Log, error) {
	// The pid in the name lets a later run remove the file of a process
	// that was killed before its Close (see TempFilePatterns).
	f, err := os.CreateTemp("", fmt.Sprintf("agolpipe-run-%d-*.log", os.Getpid()))
	if err != nil {
		return nil, fmt.Errorf("create run.log: %w", err)
	}
	l := &Log{f: f}
	var out io.Writer = f
	if tee != nil {
		out = io.MultiWriter(f, tee)
	}
	l.w = &redactWriter{mu: &l.mu, w: out, r: newRedactor(sensitive)}
	opts := &slog.HandlerOptions{Level: slog.LevelDebug}
	switch format {
	case "", "text":
		l.logger = slog.New(slog.NewTextHandler(l.w, opts))
	case "json":
		l.logger = slog.New(slog.NewJSONHandler(l.w, opts))
	default:
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("unknown log format %q: use text or json", format)
	}
	return l, nil
}

// Logger returns the run's logger. Safe for concurrent use.
func (l *Log) Logger() *slog.Logger { return l.logger }

// Writer returns a writer into run.log that redacts, for loggers of other
// libraries (the plugin host's hclog). Each Write should be whole lines.
func (l *Log) Writer() io.Writer { return l.w }

// Snapshot returns a reader of everything logged so far and its size.
// Lines logged later are not included, so one snapshot can be copied into
// several sinks.
func (l *Log) Snapshot() (io.Reader, int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fi, err := l.f.Stat()
	if err != nil {
		return nil, 0, err
	}
	return io.NewSectionReader(l.f, 0, fi.Size()), fi.Size(), nil
}

// Close removes the temporary file. It is idempotent.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	l.f.Close()
	err := os.Remove(l.f.Name())
	l.f = nil
	return err
}

type redactWriter struct {
	mu *sync.Mutex
	w  io.Writer
	r  *sdk.Redactor
}

func (rw *redactWriter) Write(p []byte) (int, error) {
	s := rw.r.Replace(string(p))
	rw.mu.Lock()
	defer rw.mu.Unlock()
	if _, err := io.WriteString(rw.w, s); err != nil {
		return 0, err
	}
	return len(p), nil
}

// newRedactor hides each secret (see sdk.Redactor: whole values when they
// are short, every occurrence from sdk.MinSubstringSecret characters on).
func newRedactor(sensitive []string) *sdk.Redactor {
	return sdk.NewRedactor(sensitive, Redacted)
}
