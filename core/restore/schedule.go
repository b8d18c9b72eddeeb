package restore

import (
	"container/heap"
	"context"
	"sort"
	"sync"

	"github.com/agolpipe/agolpipe/core/report"
	"github.com/agolpipe/agolpipe/sdk"
)

// DefaultParallel is how many items a restore applies at once when
// Options.Parallel is not set: a portal answers each request in tens of
// milliseconds, so items one by one leave the restore waiting on the
// network; a handful at once is what a portal takes without throttling.
const DefaultParallel = 4

// stepDeps gives, for each step of the plan, the earlier steps it must
// wait for: the items it needs (Plan.needs, the edges the plan's order
// was built from) that the plan restores. An edge to a later step (a
// cycle the order broke) is left out: it could never be waited for.
func stepDeps(o *Options, p *Plan) [][]int {
	needs := p.needs
	if needs == nil { // a plan not made by MakePlan
		byID := map[string]report.Item{}
		for _, it := range o.Manifest.Items {
			byID[it.ID] = it
		}
		needs = needsGraph(byID)
	}
	index := make(map[string]int, len(p.Steps))
	for i, st := range p.Steps {
		index[st.Item.ID] = i
	}
	deps := make([][]int, len(p.Steps))
	for i, st := range p.Steps {
		for _, d := range needs[st.Item.ID] {
			if j, ok := index[d]; ok && j < i {
				deps[i] = append(deps[i], j)
			}
		}
		sort.Ints(deps[i])
	}
	return deps
}

// schedule runs do for every step of p, at most o.Parallel (or
// DefaultParallel) at once, each once the steps it depends on (stepDeps)
// have finished; among the steps ready to start, the earliest in the plan
// goes first. Progress is told of the steps in plan order. Once ctx is
// canceled no step starts: those not started are Canceled (and not told
// to Progress); the ones under way run to their end, uncanceled.
func schedule(ctx context.Context, o *Options, p *Plan, do func(context.Context, *Step)) {
	n := len(p.Steps)
	finished := make([]bool, n)
	told := 0
	inOrder(n, o.parallel(), stepDeps(o, p), func(i int) bool {
		st := p.Steps[i]
		switch {
		case ctx.Err() != nil:
			// Interrupted: what was not attempted is in the report
			// as such.
			st.Outcome = Canceled
			return true
		case st.Action == sdk.ActionCannot || st.Action == sdk.ActionSkip:
			do(ctx, st) // nothing to wait for
			return true
		}
		return false
	}, func(i int) {
		// A step under way finishes what it started even once ctx is
		// canceled: a write cut off in flight may have been applied
		// without its answer (an item made that the report does not
		// name, that undo cannot find by id). The caller's way to stop
		// at once is to end the process.
		do(context.WithoutCancel(ctx), p.Steps[i])
	}, func(i int) {
		finished[i] = true
		for told < n && finished[told] {
			st := p.Steps[told]
			told++
			if o.Progress != nil && st.Outcome != Canceled {
				o.Progress(told, n, st)
			}
		}
	})
}

func (o *Options) parallel() int {
	if o.Parallel > 0 {
		return o.Parallel
	}
	return DefaultParallel
}

// inOrder runs the steps 0..n-1 of a plan, each once every step in
// deps[i] (all earlier in the plan) has finished, at most par at once;
// among the steps ready to start, the earliest goes first. quick(i)
// handles a step that needs no waiting and says whether it did; otherwise
// work(i) runs in a goroutine of its own. done(i) is called as each step
// finishes, from the calling goroutine only. Memory is a few words per
// step, whatever the size of the org: no goroutine waits per step.
// Planning and applying both walk the plan this way.
func inOrder(n, par int, deps [][]int, quick func(i int) bool, work func(i int), done func(i int)) {
	waiting := make([]int, n)      // dependencies not finished yet
	dependents := make([][]int, n) // steps waiting for each step
	ready := &intHeap{}
	for i := 0; i < n; i++ {
		waiting[i] = len(deps[i])
		for _, j := range deps[i] {
			dependents[j] = append(dependents[j], i)
		}
		if waiting[i] == 0 {
			*ready = append(*ready, i)
		}
	}
	heap.Init(ready)
	doneCh := make(chan int, par)
	running := 0
	finish := func(i int) {
		for _, d := range dependents[i] {
			if waiting[d]--; waiting[d] == 0 {
				heap.Push(ready, d)
			}
		}
		done(i)
	}
	for {
		for ready.Len() > 0 && running < par {
			i := heap.Pop(ready).(int)
			if quick(i) {
				finish(i)
				continue
			}
			running++
			go func() {
				work(i)
				doneCh <- i
			}()
		}
		if running == 0 {
			if ready.Len() == 0 {
				break
			}
			continue
		}
		i := <-doneCh
		running--
		finish(i)
	}
	// Every step is finished: a step's dependencies are earlier in the
	// plan, so none is left waiting once the ready set is empty.
}

// intHeap is a min-heap of step indexes: the earliest step first.
type intHeap []int

func (h intHeap) Len() int           { return len(h) }
func (h intHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h intHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *intHeap) Push(x any)        { *h = append(*h, x.(int)) }
func (h *intHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// eachAtOnce calls fn(0..n-1), at most par at once, and returns when every
// call has returned. It is for independent reads of the target or the
// sink (restore reports, candidate copies, items' JSON); fn records its
// own result and error by index.
func eachAtOnce(n, par int, fn func(i int)) {
	sem := make(chan struct{}, par)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			fn(i)
		}()
	}
	wg.Wait()
}
