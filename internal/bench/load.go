package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dandanchat/dandan/api"
	"github.com/dandanchat/dandan/client"
)

// counters are what the senders and receivers of a run record. The window
// fields count only messages whose send started in [winStart, winEnd); the
// *All fields count everything, for the progress lines.
type counters struct {
	winStart, winEnd atomic.Int64 // unix ns; zero until the load starts

	sentAll, ackedAll, errAll, delivAll atomic.Uint64

	sent, acked, delivered, expected atomic.Uint64
	reconnects                       atomic.Uint64
	cpu                              time.Duration // process CPU used during the window
	targetCPU                        time.Duration // the targets' CPU in the window; 0 if unknown
	stealPct                         float64       // the machine's CPU time stolen in the window, %
	ack, e2e                         Histogram
	// e2e split at the event's server time (milliseconds, so each part is
	// off by up to 1 ms): send → stored and stored → received. Meaningful
	// only when node and load generator share a clock.
	toStore, fromStore Histogram

	mu     sync.Mutex
	errors map[string]uint64
}

func (c *counters) inWindow(ts int64) bool {
	s := c.winStart.Load()
	return s != 0 && ts >= s && ts < c.winEnd.Load()
}

func (c *counters) addError(code string) {
	c.mu.Lock()
	if c.errors == nil {
		c.errors = map[string]uint64{}
	}
	c.errors[code]++
	c.mu.Unlock()
}

// errCode names what failed a send: the server's code, or the SDK's reason.
func errCode(err error) string {
	var e *api.Error
	switch {
	case errors.As(err, &e):
		return string(e.Code)
	case errors.Is(err, client.ErrOutboxFull):
		return "outbox_full"
	case errors.Is(err, client.ErrClosed):
		return "closed"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "canceled"
	}
	return "other"
}

// texts builds message texts: the send time in unix ns, a space, padding.
type texts struct{ size int }

func (t texts) make(ts int64) string {
	var b strings.Builder
	b.Grow(max(t.size, 24))
	b.WriteString(strconv.FormatInt(ts, 10))
	b.WriteByte(' ')
	for b.Len() < t.size {
		b.WriteByte('x')
	}
	return b.String()
}

// sendTime extracts the send time from a text made by texts.make.
func sendTime(text string) (int64, bool) {
	head, _, ok := strings.Cut(text, " ")
	if !ok {
		return 0, false
	}
	ts, err := strconv.ParseInt(head, 10, 64)
	return ts, err == nil
}

// sender is one (user, room) pair that sends.
type sender struct {
	live *client.Live
	room string
	size int // members of the room
}

// send sends one message whose send is taken to start at start (now in a
// closed loop, the scheduled time in an open loop) and records its outcome
// when it is answered.
func (c *counters) send(s sender, t texts, start time.Time) {
	ts := start.UnixNano()
	in := c.inWindow(ts)
	c.sentAll.Add(1)
	if in {
		c.sent.Add(1)
	}
	p := s.live.SendAsync(s.room, t.make(ts))
	<-p.Done()
	_, err := p.Wait(context.Background())
	lat := time.Since(start)
	if err != nil {
		c.errAll.Add(1)
		if in {
			c.addError(errCode(err))
		}
		return
	}
	c.ackedAll.Add(1)
	if in {
		c.acked.Add(1)
		c.expected.Add(uint64(s.size - 1))
		c.ack.Record(lat)
	}
}

// handler returns the LiveOptions.Handler of one user's live connection:
// it signals synced on the first Synced and records every message event
// from another member.
func (c *counters) handler(self string, synced chan<- struct{}) func(client.Update) {
	first := true // calls never overlap
	return func(u client.Update) {
		switch u.Kind {
		case client.Synced:
			if first {
				first = false
				synced <- struct{}{} // buffered for every user
			}
		case client.Disconnected:
			c.reconnects.Add(1)
		case client.EventUpdate:
			c.received(u.Event, self)
		}
	}
}

// received records a message event from another member.
func (c *counters) received(ev *api.Event, self string) {
	if ev.Type != api.EventMessage || ev.Sender == self {
		return
	}
	ts, ok := sendTime(ev.Text)
	if !ok {
		return
	}
	now := time.Now().UnixNano()
	c.delivAll.Add(1)
	if c.inWindow(ts) {
		c.delivered.Add(1)
		c.e2e.Record(time.Duration(now - ts))
		stored := ev.Time * int64(time.Millisecond)
		c.toStore.Record(time.Duration(max(stored-ts, 0)))
		c.fromStore.Record(time.Duration(max(now-stored, 0)))
	}
}

// drive runs the senders from t0 until the window ends: closed loop with
// cfg.Inflight sends outstanding per sender, or open loop at cfg.Rate. wg
// tracks every send still waiting for its answer.
func (c *counters) drive(cfg Config, senders []sender, t0, end time.Time, stop <-chan struct{}, wg *sync.WaitGroup) {
	t := texts{size: cfg.TextSize}
	if cfg.Rate <= 0 {
		for _, s := range senders {
			for range cfg.Inflight {
				wg.Go(func() {
					for {
						now := time.Now()
						if !now.Before(end) || closed(stop) {
							return
						}
						c.send(s, t, now)
					}
				})
			}
		}
		return
	}
	interval := max(time.Duration(float64(len(senders))/cfg.Rate*float64(time.Second)), time.Microsecond)
	for i, s := range senders {
		offset := interval * time.Duration(i) / time.Duration(len(senders)) // stagger evenly
		wg.Go(func() {
			timer := time.NewTimer(time.Hour)
			defer timer.Stop()
			for next := t0.Add(offset); next.Before(end); next = next.Add(interval) {
				if d := time.Until(next); d > 0 {
					timer.Reset(d)
					select {
					case <-timer.C:
					case <-stop:
						return
					}
				} else if closed(stop) {
					return
				}
				wg.Go(func() { c.send(s, t, next) })
			}
		})
	}
}

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// progress writes one line a second until stop is closed.
func (c *counters) progress(w io.Writer, start time.Time, stop <-chan struct{}) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var lastAck, lastDel, lastErr uint64
	last := time.Now()
	for {
		select {
		case <-stop:
			return
		case now := <-tick.C:
			a, d, e := c.ackedAll.Load(), c.delivAll.Load(), c.errAll.Load()
			secs := now.Sub(last).Seconds()
			phase := "run"
			switch ns := now.UnixNano(); {
			case ns < c.winStart.Load():
				phase = "warm-up"
			case ns >= c.winEnd.Load():
				phase = "drain"
			}
			fmt.Fprintf(w, "bench: %3.0fs %-7s acked/s %8.0f  delivered/s %8.0f  errors %d\n",
				now.Sub(start).Seconds(), phase, float64(a-lastAck)/secs, float64(d-lastDel)/secs, e-lastErr)
			lastAck, lastDel, lastErr, last = a, d, e, now
		}
	}
}
