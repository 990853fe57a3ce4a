package gateway

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// workers runs functions on goroutines that wait a while for another
// function after finishing one. A session starts a goroutine for each burst
// of sends to a room and for each burst of writes; under steady traffic that
// meant a new goroutine per message, each growing its stack again through
// the same deep calls (a store round trip, a socket write), a few percent
// of a node's CPU. A kept goroutine keeps its grown stack. Idle ones end
// after one to two lingers, so an idle node holds none.
//
// A waiting worker blocks on a channel of its own, not in a select over a
// channel shared by all waiting workers, a stop channel and a timer: that
// select was about 6% of a node's CPU under a fan-out load. A timer every
// linger, kept only while some worker waits, ends the ones that waited
// through a whole linger.
type workers struct {
	linger time.Duration

	mu      sync.Mutex
	idle    []*worker // waiting, in the order they began to (oldest first)
	lingers uint64    // lingers passed while some worker waited
	reaping bool      // a reap is scheduled
	stopped bool

	started, running atomic.Int64 // goroutines started; alive now
}

// worker is one waiting goroutine's hand.
type worker struct {
	next  chan func() // one slot: a function to run, or nil to end
	since uint64      // workers.lingers when it began to wait
}

func newWorkers(linger time.Duration) *workers { return &workers{linger: linger} }

// run runs f on a waiting worker, or on a new one if none waits.
func (w *workers) run(f func()) {
	if w.handOff(f) {
		return
	}
	w.started.Add(1)
	w.running.Add(1)
	go w.work(&worker{next: make(chan func(), 1)}, f)
}

// handOff gives f to the worker that began to wait last (its stack is the
// warmest, and the oldest are left to end), if any waits.
func (w *workers) handOff(f func()) bool {
	w.mu.Lock()
	n := len(w.idle)
	if n == 0 {
		w.mu.Unlock()
		return false
	}
	wk := w.idle[n-1]
	w.idle[n-1] = nil
	w.idle = w.idle[:n-1]
	w.mu.Unlock()
	wk.next <- f
	return true
}

// work runs f, then what run hands it, until reap or stop ends it.
func (w *workers) work(wk *worker, f func()) {
	defer w.running.Add(-1)
	for f != nil {
		f()
		w.mu.Lock()
		if w.stopped {
			w.mu.Unlock()
			return
		}
		wk.since = w.lingers
		w.idle = append(w.idle, wk)
		if !w.reaping {
			w.reaping = true
			time.AfterFunc(w.linger, w.reap)
		}
		w.mu.Unlock()
		f = <-wk.next
	}
}

// reap ends the workers that have waited since before the previous reap,
// so one to two lingers, and schedules the next reap while any waits.
func (w *workers) reap() {
	w.mu.Lock()
	w.lingers++
	k := 0
	for k < len(w.idle) && w.idle[k].since+1 < w.lingers {
		k++
	}
	ended := slices.Clone(w.idle[:k])
	w.idle = slices.Delete(w.idle, 0, k)
	w.reaping = len(w.idle) > 0 && !w.stopped
	if w.reaping {
		time.AfterFunc(w.linger, w.reap)
	}
	w.mu.Unlock()
	for _, wk := range ended {
		wk.next <- nil
	}
}

// stop ends the waiting workers now and the others when their function
// returns.
func (w *workers) stop() {
	w.mu.Lock()
	w.stopped = true
	ended := w.idle
	w.idle = nil
	w.mu.Unlock()
	for _, wk := range ended {
		wk.next <- nil
	}
}
