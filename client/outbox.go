package client

import (
	"cmp"
	"container/list"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/dandanchat/dandan/api"
)

// DefaultMaxOutbox bounds the sends of a Live awaiting an answer.
const DefaultMaxOutbox = 10_000

// Pending is a send, edit or deletion of a Live awaiting its answer.
type Pending struct {
	ID   string // the client id
	Room string

	done chan struct{}
	once sync.Once
	ack  *api.Ack
	err  error

	// Written by the outbox (under Live.mu) but read by anyone: own lock.
	mu       sync.Mutex
	attempts int
	last     time.Time
}

func newPending(id, room string) *Pending {
	return &Pending{ID: id, Room: room, done: make(chan struct{})}
}

func failedPending(id, room string, err error) *Pending {
	p := newPending(id, room)
	p.resolve(nil, err)
	return p
}

func (p *Pending) resolve(a *api.Ack, err error) {
	p.once.Do(func() {
		p.ack, p.err = a, err
		close(p.done)
	})
}

// wrote records that the send was handed to a connection at t.
func (p *Pending) wrote(t time.Time) {
	p.mu.Lock()
	p.attempts++
	p.last = t
	p.mu.Unlock()
}

// Attempts reports how many times the send was written to a server and when
// it was last written (zero if never, e.g. when it failed before). It is
// meaningful once Done is closed: last is then the write that got the answer
// (the admitted attempt, for an ack), so the time from last to the answer is
// that attempt's latency. Before that it reports the attempts so far.
func (p *Pending) Attempts() (n int, last time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.attempts, p.last
}

// Done is closed when the send is acknowledged or has definitively failed.
func (p *Pending) Done() <-chan struct{} { return p.done }

// Wait returns the acknowledgement, or the error that failed the send: an
// *api.Error from the server, ErrOutboxFull, ErrClosed (wrapping the cause),
// or ctx's error. A ctx ending does not cancel the send: it stays in the outbox.
func (p *Pending) Wait(ctx context.Context) (*api.Ack, error) {
	select {
	case <-p.done:
		return p.ack, p.err
	default:
	}
	select {
	case <-p.done:
		return p.ack, p.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// entry is one outbox item. All fields are guarded by Live.mu.
type entry struct {
	n       uint64 // insertion order
	frame   api.ClientFrame
	p       *Pending
	elem    *list.Element
	gen     uint64    // the session it was last written on
	sentAt  time.Time // when it was last written
	retryAt time.Time // non-zero: delayed after a retryable error
	queued  bool      // in unsent
	wire    bool      // written and unanswered (counted in outbox.onWire)
	removed bool
}

// outbox holds every unanswered send, in order, keyed by client id.
//
// It is also the client's half of admission control. When the server
// refuses a send for load (overloaded, rate_limited), the whole outbox is
// held until the retry_after has passed, and then at most window sends are
// written before their answers come back: one at first, doubling with each
// acknowledgement (like TCP's slow start), until the limit is lifted. So a
// device with many queued messages does not answer one refusal with a
// flood of resends that are refused in turn, which would spend the busy
// server's time on refusals.
type outbox struct {
	max     int
	n       uint64
	byID    map[string]*entry
	order   *list.List
	unsent  []*entry            // to write on the current (or next) connection
	delayed map[*entry]struct{} // waiting for their retryAt

	holdUntil time.Time // no send is written before this
	window    int       // most sends written and unanswered at once; 0: no limit
	onWire    int       // sends written and unanswered
}

// maxWindow is the window above which the limit is lifted.
const maxWindow = 256

func newOutbox(max int) *outbox {
	return &outbox{max: max, byID: map[string]*entry{}, order: list.New(), delayed: map[*entry]struct{}{}}
}

func (o *outbox) len() int { return len(o.byID) }

func (o *outbox) add(f api.ClientFrame) *entry {
	o.n++
	e := &entry{n: o.n, frame: f, p: newPending(f.ID, f.Room), queued: true}
	e.elem = o.order.PushBack(e)
	o.byID[f.ID] = e
	o.unsent = append(o.unsent, e)
	return e
}

func (o *outbox) remove(e *entry) {
	if e.removed {
		return
	}
	o.unwire(e)
	e.removed = true
	o.order.Remove(e.elem)
	delete(o.byID, e.frame.ID)
	delete(o.delayed, e)
}

// unwire notes that e is no longer written and unanswered.
func (o *outbox) unwire(e *entry) {
	if e.wire {
		e.wire = false
		o.onWire--
	}
}

// delay keeps e for a resend at t.
func (o *outbox) delay(e *entry, t time.Time) {
	if e.removed || e.queued {
		return
	}
	o.unwire(e)
	e.retryAt = t
	o.delayed[e] = struct{}{}
}

// backOff holds every send until t and restarts the window at one: the
// server refused a send for load.
func (o *outbox) backOff(t time.Time) {
	if t.After(o.holdUntil) {
		o.holdUntil = t
	}
	o.window = 1
}

// acked widens the window after an acknowledgement.
func (o *outbox) acked() {
	if o.window > 0 {
		o.window *= 2
		if o.window > maxWindow {
			o.window = 0
		}
	}
}

// waiting reports whether sends wait to be written.
func (o *outbox) waiting() bool { return len(o.unsent) > 0 }

// requeueAll schedules every entry for writing on a new connection, in
// order, except those still delayed.
func (o *outbox) requeueAll(now time.Time) {
	o.unsent = o.unsent[:0]
	o.onWire = 0
	for el := o.order.Front(); el != nil; el = el.Next() {
		e := el.Value.(*entry)
		e.wire = false
		if !e.retryAt.IsZero() {
			if e.retryAt.After(now) {
				continue
			}
			e.retryAt = time.Time{}
			delete(o.delayed, e)
		}
		e.queued = true
		o.unsent = append(o.unsent, e)
	}
}

// take returns the frames to write now on session gen, in the order they
// were added, marking them sent, and the time at which more may be due
// (zero if none): a delayed resend, or the end of a hold.
func (o *outbox) take(gen uint64, now time.Time) ([]api.ClientFrame, time.Time) {
	var next time.Time
	if o.holdUntil.After(now) {
		return nil, o.holdUntil
	}
	var due []*entry
	// A room's sends are written in the order they were added: one still
	// delayed holds back the later ones of its room (the server stores a
	// connection's sends to a room in the order it reads them, and a
	// storage failure answers a room's queued sends all at once, each then
	// delayed with its own jitter).
	var held map[string]uint64 // room → the first of its entries still delayed
	for e := range o.delayed {
		if e.retryAt.After(now) {
			if next.IsZero() || e.retryAt.Before(next) {
				next = e.retryAt
			}
			if h, ok := held[e.frame.Room]; !ok || e.n < h {
				if held == nil {
					held = map[string]uint64{}
				}
				held[e.frame.Room] = e.n
			}
			continue
		}
		delete(o.delayed, e)
		e.retryAt = time.Time{}
		e.queued = true
		due = append(due, e)
	}
	todo := o.unsent
	if len(due) > 0 {
		todo = append(due, o.unsent...)
		slices.SortFunc(todo, func(a, b *entry) int { return cmp.Compare(a.n, b.n) })
	}
	var frames []api.ClientFrame
	rest := todo[:0:0]
	for i, e := range todo {
		if e.removed {
			continue
		}
		if o.window > 0 && o.onWire >= o.window {
			rest = append(rest, todo[i:]...) // their turn comes with the acks
			break
		}
		if h, ok := held[e.frame.Room]; ok && e.n > h {
			rest = append(rest, e) // after the delayed one
			continue
		}
		e.queued, e.gen, e.sentAt, e.wire = false, gen, now, true
		o.onWire++
		e.p.wrote(now)
		frames = append(frames, e.frame)
	}
	clear(o.unsent)
	o.unsent = append(o.unsent[:0], rest...)
	return frames, next
}

// overdue reports whether an entry written on session gen has waited for its
// answer longer than timeout since the later of its writing and since.
func (o *outbox) overdue(gen uint64, now, since time.Time, timeout time.Duration) bool {
	for el := o.order.Front(); el != nil; el = el.Next() {
		e := el.Value.(*entry)
		if e.gen != gen || e.queued || !e.retryAt.IsZero() {
			continue
		}
		t := e.sentAt
		if since.After(t) {
			t = since
		}
		if now.Sub(t) > timeout {
			return true
		}
	}
	return false
}

// drain removes and returns every entry.
func (o *outbox) drain() []*entry {
	var es []*entry
	for el := o.order.Front(); el != nil; el = el.Next() {
		es = append(es, el.Value.(*entry))
	}
	for _, e := range es {
		o.remove(e)
	}
	o.unsent = nil
	return es
}
