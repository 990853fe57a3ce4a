package gateway

import (
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
type workers struct {
	idle   chan func() // unbuffered: taken only by a worker waiting for work
	stop   <-chan struct{}
	linger time.Duration

	started, running atomic.Int64 // goroutines started; alive now
}

func newWorkers(stop <-chan struct{}, linger time.Duration) *workers {
	return &workers{idle: make(chan func()), stop: stop, linger: linger}
}

// run runs f on a waiting worker, or on a new one if none waits.
func (w *workers) run(f func()) {
	select {
	case w.idle <- f:
	default:
		w.started.Add(1)
		w.running.Add(1)
		go w.work(f)
	}
}

// work runs f, then what run hands it, until it has waited linger to 2 ×
// linger for nothing. The timer is not reset after every function (that
// was about 2% of a busy node's CPU in a profile): when it fires, the worker
// ends if it has run nothing since the timer was last set, and sets it again
// if it has.
func (w *workers) work(f func()) {
	defer w.running.Add(-1)
	t := time.NewTimer(w.linger)
	defer t.Stop()
	for {
		f()
		idle := false // the timer fired since this worker last ran a function
		for f = nil; f == nil; {
			select {
			case f = <-w.idle:
			case <-t.C:
				if idle {
					return
				}
				idle = true
				t.Reset(w.linger)
			case <-w.stop:
				return
			}
		}
	}
}
