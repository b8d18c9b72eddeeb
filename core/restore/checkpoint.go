package restore

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"sort"
	"sync"
	"time"

	"github.com/agolpipe/agolpipe/sdk"
)

// While a restore runs, restore.json in the first sink is kept current:
// rewritten (marked incomplete) as items that changed the target finish,
// at most every checkpointEvery (and less often as it grows).
// A restore that is killed (SIGKILL, a crash, the machine going down)
// writes no final report; without this, what it created could be found
// again only by the marks, through the portal's search, which indexes new
// items seconds to minutes late: running the restore again at once made
// duplicates, and its undo found nothing to delete. With it, a later
// restore finds those copies in the report (copies.go) and undo deletes
// them; only the items in hand when the process died, or finished since
// the last write (a fraction of a second), can be missing.

// checkpointTimeout bounds one write of the running report.
const checkpointTimeout = 30 * time.Second

// checkpointEvery spaces the writes, plus checkpointPerItem for each item
// the report holds: items that finish meanwhile go into one write, and a
// report that grows is written less often, so rewriting it costs about
// the same bytes a second (some 250 KB) at 10 items as at 500, not one
// write per item.
const (
	checkpointEvery   = 200 * time.Millisecond
	checkpointPerItem = 4 * time.Millisecond
)

// checkpointer writes the running report, one write at a time: items that
// finish while a write is under way are in the next one.
type checkpointer struct {
	a    *applier
	at   map[*Step]int // plan index
	mu   sync.Mutex    // done, dirty, running, warned
	done map[int]Entry
	// dirty: done changed since the last write began.
	dirty, running, warned bool
	wg                     sync.WaitGroup
	stop                   chan struct{} // closed by wait: no further write
}

func newCheckpointer(a *applier, p *Plan) *checkpointer {
	c := &checkpointer{a: a, at: make(map[*Step]int, len(p.Steps)), done: map[int]Entry{}, stop: make(chan struct{})}
	for i, st := range p.Steps {
		c.at[st] = i
	}
	return c
}

// stepDone records a finished step (called by the goroutine that applied
// it) and starts a write when it changed the target.
func (c *checkpointer) stepDone(st *Step) {
	if c.a.o.Safety == nil {
		return
	}
	switch st.Outcome {
	case Restored, Overwritten, Failed:
	default:
		return // nothing in the target to find again or undo
	}
	c.mu.Lock()
	c.done[c.at[st]] = Entry{ID: st.Item.ID, Title: st.Item.Title, Type: st.Item.Type, Step: *st}
	c.dirty = true
	start := !c.running
	if start {
		c.running = true
		c.wg.Add(1)
	}
	c.mu.Unlock()
	if start {
		go c.flush()
	}
}

// flush writes until nothing new is left to write.
func (c *checkpointer) flush() {
	defer c.wg.Done()
	for {
		select {
		case <-c.stop:
			c.mu.Lock()
			c.running = false
			c.mu.Unlock()
			return
		default:
		}
		c.mu.Lock()
		if !c.dirty {
			c.running = false
			c.mu.Unlock()
			return
		}
		c.dirty = false
		idx := make([]int, 0, len(c.done))
		for i := range c.done {
			idx = append(idx, i)
		}
		sort.Ints(idx)
		items := make([]Entry, 0, len(idx))
		for _, i := range idx {
			items = append(items, c.done[i])
		}
		c.mu.Unlock()

		a := c.a
		a.mu.Lock()
		rep := *a.rep
		rep.Remap = maps.Clone(a.rep.Remap)
		rep.Safety = append([]SafetyCopy(nil), a.rep.Safety...)
		rep.Left = maps.Clone(a.rep.Left)
		a.mu.Unlock()
		rep.Groups = nil // the group mapper's, under its own lock; not needed to find or undo items
		rep.Items, rep.Incomplete = items, true
		began := time.Now()
		b, err := json.Marshal(&rep)
		if err == nil {
			// Not the restore's context: an interrupted restore still
			// records what it did.
			ctx, cancel := context.WithTimeout(context.Background(), checkpointTimeout)
			_, err = a.o.Safety.Put(ctx, sdk.PutRequest{Path: Folder(rep.RestoreID) + "/restore.json", MediaType: "application/json", Size: int64(len(b)), Body: bytes.NewReader(b)})
			cancel()
		}
		if err != nil {
			c.mu.Lock()
			warned := c.warned
			c.warned = true
			c.mu.Unlock()
			if !warned {
				a.o.Log.Warn("the running restore report could not be written (a restore killed now could not be found again by its report)", "sink", a.o.SafetySinkName, "error", err.Error())
			}
		}
		select {
		case <-c.stop:
		case <-time.After(checkpointEvery + time.Duration(len(items))*checkpointPerItem - time.Since(began)):
		}
	}
}

// wait stops the writes and waits for the one under way, so that none
// lands after the final report (which the caller stores).
func (c *checkpointer) wait() {
	close(c.stop)
	c.wg.Wait()
}
