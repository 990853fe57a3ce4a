package client

import (
	"context"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/dandanchat/dandan/api"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testLogger logs to stderr when DANDAN_TEST_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("DANDAN_TEST_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func newTestClient(t *testing.T, token string, servers ...string) *Client {
	t.Helper()
	c, err := New(Options{Servers: servers, Token: token, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// fastLive are options that make failures and recoveries quick.
func fastLive() LiveOptions {
	return LiveOptions{MinBackoff: 2 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, AckTimeout: 2 * time.Second}
}

func startLive(t *testing.T, c *Client, opts LiveOptions) (*Live, *recorder) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	l, err := c.Live(ctx, opts)
	if err != nil {
		t.Fatalf("Live: %v", err)
	}
	r := record(l)
	t.Cleanup(func() {
		_ = l.Close()
		<-r.stopped
	})
	return l, r
}

// recorder drains a Live's Updates and remembers them.
type recorder struct {
	mu      sync.Mutex
	cond    *sync.Cond
	updates []Update
	closed  bool
	stopped chan struct{}
}

func record(l *Live) *recorder {
	r := &recorder{stopped: make(chan struct{})}
	r.cond = sync.NewCond(&r.mu)
	go func() {
		defer close(r.stopped)
		for u := range l.Updates() {
			r.mu.Lock()
			r.updates = append(r.updates, u)
			r.cond.Broadcast()
			r.mu.Unlock()
		}
		r.mu.Lock()
		r.closed = true
		r.cond.Broadcast()
		r.mu.Unlock()
	}()
	return r
}

// waitFor waits until ok holds for the updates so far, or fails the test.
func (r *recorder) waitFor(t *testing.T, what string, d time.Duration, ok func([]Update) bool) {
	t.Helper()
	timer := time.AfterFunc(d, func() {
		r.mu.Lock()
		r.cond.Broadcast()
		r.mu.Unlock()
	})
	defer timer.Stop()
	deadline := time.Now().Add(d)
	r.mu.Lock()
	defer r.mu.Unlock()
	for !ok(r.updates) {
		if time.Now().After(deadline) || r.closed {
			t.Fatalf("timed out waiting for %s (closed=%v, %d updates)", what, r.closed, len(r.updates))
		}
		r.cond.Wait()
	}
}

func (r *recorder) events(room string) []api.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var evs []api.Event
	for _, u := range r.updates {
		if u.Kind == EventUpdate && u.Event.Room == room {
			evs = append(evs, *u.Event)
		}
	}
	return evs
}

// find returns the first update for which ok holds (the zero Update if none).
func (r *recorder) find(ok func(Update) bool) Update {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, u := range r.updates {
		if ok(u) {
			return u
		}
	}
	return Update{}
}

func (r *recorder) count(k UpdateKind) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, u := range r.updates {
		if u.Kind == k {
			n++
		}
	}
	return n
}

func (r *recorder) waitSeq(t *testing.T, room string, seq uint64, d time.Duration) {
	t.Helper()
	r.waitFor(t, "event "+room+"/"+strconv.FormatUint(seq, 10), d, func(us []Update) bool {
		for _, u := range us {
			if u.Kind == EventUpdate && u.Event.Room == room && u.Event.Seq >= seq {
				return true
			}
		}
		return false
	})
}

func (r *recorder) waitKind(t *testing.T, k UpdateKind, n int, d time.Duration) {
	t.Helper()
	r.waitFor(t, k.String(), d, func(us []Update) bool {
		c := 0
		for _, u := range us {
			if u.Kind == k {
				c++
			}
		}
		return c >= n
	})
}

// checkSeqs fails unless evs have exactly the seqs from..to, in order.
func checkSeqs(t *testing.T, who string, evs []api.Event, from, to uint64) {
	t.Helper()
	if len(evs) != int(to-from+1) {
		t.Fatalf("%s: got %d events, want %d (seqs %d..%d)", who, len(evs), to-from+1, from, to)
	}
	for i, e := range evs {
		if e.Seq != from+uint64(i) {
			t.Fatalf("%s: event %d has seq %d, want %d", who, i, e.Seq, from+uint64(i))
		}
	}
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
