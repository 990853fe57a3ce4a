package admit

import (
	"context"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/dandanchat/dandan/api"
	"github.com/prometheus/client_golang/prometheus"
)

// Lane runs one kind of costly work (password hashing, token checks,
// catch-ups) with a budget of its own: at most size at once. A caller waits
// at most wait for a slot, and at most 8×size callers wait at once; beyond
// either the work is refused with retry_after. So the lane's queue is
// bounded, nobody waits long, and a storm of this kind of work can use only
// its own budget. A nil *Lane admits everything.
type Lane struct {
	name     string
	slots    chan struct{}
	waiting  atomic.Int64
	maxWait  int64
	wait     time.Duration
	retry    time.Duration
	admitted prometheus.Counter
	shed     prometheus.Counter
}

func newLane(c *Controller, name string, size int, wait, retry time.Duration) *Lane {
	return &Lane{name: name, slots: make(chan struct{}, size), maxWait: 8 * int64(size), wait: wait, retry: retry,
		admitted: c.admittedVec.WithLabelValues(name), shed: c.shedVec.WithLabelValues(name)}
}

// Name is the lane's name in metrics: signin, connect or catchup.
func (l *Lane) Name() string {
	if l == nil {
		return ""
	}
	return l.name
}

// Acquire takes a slot, waiting a little if none is free, and returns the
// function that gives it back; or refuses with an overloaded error.
func (l *Lane) Acquire(ctx context.Context) (release func(), err *api.Error) {
	if l == nil {
		return func() {}, nil
	}
	select {
	case l.slots <- struct{}{}:
		l.admitted.Inc()
		return l.release, nil
	default:
	}
	if l.waiting.Add(1) > l.maxWait {
		l.waiting.Add(-1)
		return nil, l.Refuse()
	}
	defer l.waiting.Add(-1)
	t := time.NewTimer(l.wait)
	defer t.Stop()
	select {
	case l.slots <- struct{}{}:
		l.admitted.Inc()
		return l.release, nil
	case <-t.C:
	case <-ctx.Done():
	}
	return nil, l.Refuse()
}

func (l *Lane) release() { <-l.slots }

// Busy reports whether a caller would have to wait behind a full queue, so
// that a connection can be refused before the costlier WebSocket upgrade.
func (l *Lane) Busy() bool {
	return l != nil && len(l.slots) == cap(l.slots) && l.waiting.Load() >= l.maxWait
}

// Refuse counts a shed of the lane's work and returns the refusal, with a
// jittered retry_after; for work refused before it reached Acquire.
func (l *Lane) Refuse() *api.Error {
	if l == nil {
		return &api.Error{Code: api.CodeOverloaded, Message: "the server is busy; retry shortly", RetryAfterMS: 1000}
	}
	l.shed.Inc()
	d := l.retry + rand.N(l.retry/2+1)
	return &api.Error{Code: api.CodeOverloaded, Message: "the server is busy; retry shortly", RetryAfterMS: d.Milliseconds()}
}
