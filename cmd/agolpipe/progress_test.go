package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/agolpipe/agolpipe/core/engine"
	"github.com/agolpipe/agolpipe/sdk"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func newTestProgress(live bool) (*progress, *bytes.Buffer, *fakeClock) {
	var out bytes.Buffer
	clock := &fakeClock{t: time.Date(2026, 12, 4, 2, 0, 0, 0, time.UTC)}
	p := newProgress(&out, live)
	p.now = clock.now
	p.started = clock.now() // what start() does, without its ticker
	return p, &out, clock
}

func finished(id, title string, status sdk.ExportStatus) engine.Event {
	return engine.Event{Type: engine.EventItemFinished, Item: sdk.Item{ID: id, Title: title, Type: "Web Map"}, Status: status}
}

// TestProgressPlainLines: without a terminal every finished item is one
// line, the total is marked as growing while the listing goes on, and the
// status line comes at most every 30 seconds.
func TestProgressPlainLines(t *testing.T) {
	p, out, clock := newTestProgress(false)
	p.event(engine.Event{Type: engine.EventQueued, Total: 3})
	p.event(engine.Event{Type: engine.EventItemStarted, Item: sdk.Item{ID: "a1", Title: "Parcels"}})
	p.event(finished("a1", "Parcels", sdk.StatusExported))
	p.event(engine.Event{Type: engine.EventListed, Total: 4})
	p.event(finished("b2", "Hydrants", sdk.StatusFailed))
	lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	want := []string{
		`[1/3+] exported a1 "Parcels" (Web Map)`,
		`4 items to export`,
		`[2/4] failed   b2 "Hydrants" (Web Map)`,
	}
	if len(lines) != len(want) {
		t.Fatalf("got lines:\n%s\nwant:\n%s", out.String(), strings.Join(want, "\n"))
	}
	for i := range want {
		if lines[i] != want[i] {
			t.Errorf("line %d: %q, want %q", i, lines[i], want[i])
		}
	}
	out.Reset()
	clock.t = clock.t.Add(40 * time.Second)
	p.draw()
	p.draw() // within 30 s of the last: nothing
	if got := strings.Count(out.String(), "\n"); got != 1 {
		t.Fatalf("status printed %d times, want once: %q", got, out.String())
	}
	if !strings.Contains(out.String(), "2/4 items") || !strings.Contains(out.String(), "1 failed") {
		t.Fatalf("status line: %q", out.String())
	}
}

// TestProgressStatusETAAndBytes: the ETA assumes the remaining items take
// as long on average as the finished ones; bytes add up.
func TestProgressStatusETAAndBytes(t *testing.T) {
	p, _, clock := newTestProgress(false)
	p.event(engine.Event{Type: engine.EventListed, Total: 10})
	for _, id := range []string{"a", "b"} {
		p.event(finished(id, id, sdk.StatusExported))
	}
	p.event(engine.Event{Type: engine.EventBytes, Bytes: 3 << 20})
	p.event(engine.Event{Type: engine.EventBytes, Bytes: 1 << 20})
	clock.t = clock.t.Add(20 * time.Second) // 10 s per item, 8 to go
	s := p.status()
	if !strings.Contains(s, "2/10 items") || !strings.Contains(s, "ETA 1m20s") {
		t.Fatalf("status %q lacks the count or the ETA of 1m20s", s)
	}
	if !strings.Contains(s, ", 4.0 MiB,") {
		t.Fatalf("status %q lacks the 4.0 MiB sent", s)
	}
	// Before the listing ends there is no ETA: the total is not known.
	q, _, _ := newTestProgress(false)
	q.event(engine.Event{Type: engine.EventQueued, Total: 5})
	q.event(finished("a", "a", sdk.StatusExported))
	if s := q.status(); strings.Contains(s, "ETA") || !strings.Contains(s, "listing") {
		t.Fatalf("status while listing: %q", s)
	}
}

// TestProgressLive: on a terminal the status line is redrawn in place,
// names the active exports, is cut to fit a line, and exported items do not
// scroll (failures do); stop leaves a clean line.
func TestProgressLive(t *testing.T) {
	p, out, _ := newTestProgress(true)
	p.event(engine.Event{Type: engine.EventListed, Total: 2})
	long := strings.Repeat("Stormwater ", 20)
	p.event(engine.Event{Type: engine.EventItemStarted, Item: sdk.Item{ID: "a", Title: long}})
	out.Reset()
	p.draw()
	s := out.String()
	if !strings.HasPrefix(s, "\r") || strings.Contains(s, "\n") {
		t.Fatalf("live status is not redrawn in place: %q", s)
	}
	if n := len([]rune(strings.TrimLeft(s, "\r"))); n != 110 || !strings.HasSuffix(s, "…") {
		t.Fatalf("live status is %d runes (%q), want cut to 110 with an ellipsis", n, s)
	}
	out.Reset()
	p.event(finished("a", long, sdk.StatusExported))
	if strings.Contains(out.String(), "\n") {
		t.Fatalf("an exported item scrolled a line on a terminal: %q", out.String())
	}
	p.event(finished("b", "Hydrants", sdk.StatusFailed))
	if !strings.Contains(out.String(), `failed   b "Hydrants"`+" (Web Map)\n") {
		t.Fatalf("a failure was not printed as a line: %q", out.String())
	}
	p.start()
	out.Reset()
	p.stop()
	if s := out.String(); strings.TrimSpace(s) != "" || !strings.HasPrefix(s, "\r") {
		t.Fatalf("stop did not clear the status line: %q", s)
	}
}
