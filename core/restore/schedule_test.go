package restore

import (
	"math/rand"
	"sync"
	"testing"
	"time"
)

// TestInOrder: the walk that planning and applying share starts a step
// only after every step it depends on has finished, never runs more than
// par at once, does run steps side by side when they are independent, and
// reports every step done exactly once.
func TestInOrder(t *testing.T) {
	const n, par = 40, 3
	rng := rand.New(rand.NewSource(7))
	deps := make([][]int, n)
	for i := 1; i < n; i++ {
		for j := 0; j < i; j++ {
			if rng.Intn(8) == 0 {
				deps[i] = append(deps[i], j)
			}
		}
	}
	var mu sync.Mutex
	finished := make([]bool, n)
	running, most := 0, 0
	doneCount := make([]int, n)
	work := func(i int) {
		mu.Lock()
		for _, d := range deps[i] {
			if !finished[d] {
				t.Errorf("step %d started before its dependency %d finished", i, d)
			}
		}
		running++
		if running > most {
			most = running
		}
		mu.Unlock()
		time.Sleep(5 * time.Millisecond)
		mu.Lock()
		running--
		finished[i] = true
		mu.Unlock()
	}
	quick := func(i int) bool {
		if i%5 != 0 {
			return false
		}
		mu.Lock()
		finished[i] = true
		mu.Unlock()
		return true
	}
	inOrder(n, par, deps, quick, work, func(i int) { doneCount[i]++ })
	for i, c := range doneCount {
		if c != 1 {
			t.Errorf("step %d reported done %d times, want 1", i, c)
		}
	}
	if most > par {
		t.Errorf("%d steps ran at once, the bound is %d", most, par)
	}
	if most < 2 {
		t.Errorf("independent steps never ran side by side (at most %d at once)", most)
	}
}
