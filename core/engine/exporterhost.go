package engine

import (
	"context"
	"log/slog"

	"github.com/agolpipe/agolpipe/sdk"
)

// host is the sdk.Host an exporter gets for one item: portal requests go
// through the source's authenticated session, so exporters never hold
// credentials.
type host struct {
	e    *engine
	item sdk.Item
	log  *slog.Logger
}

func (h *host) Portal(ctx context.Context, req sdk.PortalRequest) (*sdk.PortalResponse, error) {
	resp, err := h.e.o.Source.Do(ctx, req)
	h.e.throttle.observe(err)
	return resp, err
}

func (h *host) Progress(ctx context.Context, p sdk.Progress) {
	h.e.emit(Event{Type: EventItemProgress, Item: h.item, Stage: p.Stage, Percent: p.Percent})
}

func (h *host) Log(ctx context.Context, level sdk.LogLevel, msg string) {
	l := slog.LevelInfo
	switch level {
	case sdk.LogDebug:
		l = slog.LevelDebug
	case sdk.LogWarn:
		l = slog.LevelWarn
	case sdk.LogError:
		l = slog.LevelError
	}
	h.log.Log(ctx, l, msg, "source", "exporter")
}
