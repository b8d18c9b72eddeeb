package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/agolpipe/agolpipe/core/engine"
	"github.com/agolpipe/agolpipe/core/report"
)

// progress shows how a run goes: on a terminal one status line redrawn
// twice a second (items done/total, bytes, active exports, ETA); otherwise
// a plain line per finished item and a status line every 30 seconds, which
// is what log collectors and schedulers want.
type progress struct {
	w    io.Writer
	live bool
	now  func() time.Time

	mu       sync.Mutex
	total    int
	listed   bool // total is final; before, it counts items listed so far
	done     int
	bytes    int64
	byStatus map[string]int
	active   map[string]string // item id -> title
	started  time.Time
	lastLine time.Time
	width    int

	quit chan struct{}
	wg   sync.WaitGroup
}

func newProgress(w io.Writer, live bool) *progress {
	return &progress{w: w, live: live, now: time.Now, byStatus: map[string]int{}, active: map[string]string{}, quit: make(chan struct{})}
}

func (p *progress) start() {
	p.started = p.now()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		every := 500 * time.Millisecond
		if !p.live {
			every = 30 * time.Second
		}
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-p.quit:
				return
			case <-t.C:
				p.mu.Lock()
				p.draw()
				p.mu.Unlock()
			}
		}
	}()
}

func (p *progress) stop() {
	close(p.quit)
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.live && p.width > 0 {
		fmt.Fprintf(p.w, "\r%s\r", strings.Repeat(" ", p.width))
	}
}

// event is the engine's Progress callback; safe for concurrent use.
func (p *progress) event(ev engine.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch ev.Type {
	case engine.EventQueued:
		// Items export while the listing goes on: the total grows until
		// EventListed.
		if !p.listed {
			p.total = ev.Total
		}
	case engine.EventListed:
		p.total, p.listed = ev.Total, true
		p.line(fmt.Sprintf("%d items to export", ev.Total))
	case engine.EventItemStarted:
		p.active[ev.Item.ID] = ev.Item.Title
	case engine.EventItemFinished:
		delete(p.active, ev.Item.ID)
		p.done++
		p.byStatus[string(ev.Status)]++
		if !p.live || ev.Status != "exported" {
			total := fmt.Sprint(p.total)
			if !p.listed {
				total += "+"
			}
			p.line(fmt.Sprintf("[%d/%s] %-8s %s %q (%s)", p.done, total, ev.Status, ev.Item.ID, ev.Item.Title, ev.Item.Type))
		}
	case engine.EventBytes:
		p.bytes += ev.Bytes
	case engine.EventReports:
		p.line("writing reports")
	case engine.EventThrottled:
		p.line(ev.Stage)
	}
}

// line prints a permanent line, keeping the live status line below it.
func (p *progress) line(s string) {
	if p.live && p.width > 0 {
		fmt.Fprintf(p.w, "\r%s\r", strings.Repeat(" ", p.width))
		p.width = 0
	}
	fmt.Fprintln(p.w, s)
	if p.live {
		p.draw()
	}
}

// status is the one-line summary; ETA assumes the remaining items take as
// long on average as the finished ones.
func (p *progress) status() string {
	el := p.now().Sub(p.started)
	total := fmt.Sprint(p.total)
	if !p.listed {
		total += " listed so far (listing…)"
	}
	s := fmt.Sprintf("%d/%s items, %s, %d active", p.done, total, report.Bytes(p.bytes), len(p.active))
	if fails := p.byStatus["failed"]; fails > 0 {
		s += fmt.Sprintf(", %d failed", fails)
	}
	if p.listed && p.done > 0 && p.total > p.done {
		eta := time.Duration(float64(el) / float64(p.done) * float64(p.total-p.done))
		s += ", ETA " + eta.Round(time.Second).String()
	}
	if p.live && len(p.active) > 0 {
		titles := make([]string, 0, len(p.active))
		for _, t := range p.active {
			titles = append(titles, t)
		}
		sort.Strings(titles)
		s += " — " + strings.Join(titles, ", ")
	}
	return s
}

func (p *progress) draw() {
	s := p.status()
	if !p.live {
		if p.now().Sub(p.lastLine) >= 30*time.Second {
			p.lastLine = p.now()
			fmt.Fprintln(p.w, s)
		}
		return
	}
	const max = 110
	if r := []rune(s); len(r) > max {
		s = string(r[:max-1]) + "…"
	}
	pad := ""
	if n := len([]rune(s)); n < p.width {
		pad = strings.Repeat(" ", p.width-n)
	}
	fmt.Fprintf(p.w, "\r%s%s", s, pad)
	p.width = len([]rune(s))
}
