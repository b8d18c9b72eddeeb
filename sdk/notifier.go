package sdk

import (
	"context"
	"time"
)

// Notifier tells people how a run went (email, webhook).
type Notifier interface {
	Info() Info
	Schema() Schema
	Configure(ctx context.Context, req ConfigureRequest) Diagnostics
	Notify(ctx context.Context, req NotifyRequest) error
	Close() error
}

// NotifyRequest is the run summary a notifier sends.
type NotifyRequest struct {
	RunID    string
	Pipeline string
	Status   string // "success", "partial", "failed", "canceled"
	ExitCode int
	Started  time.Time
	Finished time.Time
	Counts   map[string]int64 // by ExportStatus
	// Results is the text of Results.txt.
	Results string
	// Locations say where the reports landed, one per sink.
	Locations []string
}
