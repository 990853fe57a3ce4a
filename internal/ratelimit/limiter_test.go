package ratelimit

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dandanchat/dandan/api"
	"golang.org/x/time/rate"
)

// clock is a fake time source, safe for concurrent use.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestBurstThenRefuse(t *testing.T) {
	tests := []struct {
		name      string
		rate      rate.Limit
		burst     int
		wantRetry time.Duration
	}{
		{"1/s", 1, 3, time.Second},
		{"10/s", 10, 5, 100 * time.Millisecond},
		{"0.5/s", 0.5, 1, 2 * time.Second},
		{"2000/s rounds up to 1ms", 2000, 2, time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClock()
			l := New(tt.rate, tt.burst, 100, time.Minute, WithClock(c.Now))
			for i := range tt.burst {
				if ok, retry := l.Allow("k"); !ok {
					t.Fatalf("Allow #%d = false, %v; want true within the burst", i+1, retry)
				}
			}
			ok, retry := l.Allow("k")
			if ok {
				t.Fatalf("Allow after burst = true, want false")
			}
			if retry != tt.wantRetry {
				t.Errorf("retryAfter = %v, want %v", retry, tt.wantRetry)
			}
			if ok, _ := l.Allow("other"); !ok {
				t.Errorf("Allow(other) = false, want true: keys must not share a bucket")
			}
		})
	}
}

func TestRetryAfterShrinks(t *testing.T) {
	c := newClock()
	l := New(1, 1, 10, time.Minute, WithClock(c.Now))
	l.Allow("k")
	c.Advance(300 * time.Millisecond)
	if ok, retry := l.Allow("k"); ok || retry != 700*time.Millisecond {
		t.Errorf("Allow after 300ms = %v, %v; want false, 700ms", ok, retry)
	}
	c.Advance(700 * time.Millisecond)
	if ok, retry := l.Allow("k"); !ok {
		t.Errorf("Allow after retryAfter = false, %v; want true", retry)
	}
}

func TestRefill(t *testing.T) {
	c := newClock()
	l := New(10, 5, 100, time.Hour, WithClock(c.Now))
	drain := func() int {
		n := 0
		for {
			if ok, _ := l.Allow("k"); !ok {
				return n
			}
			n++
		}
	}
	steps := []struct {
		advance time.Duration
		want    int
	}{
		{0, 5},
		{100 * time.Millisecond, 1},
		{250 * time.Millisecond, 2}, // the half token is kept
		{50 * time.Millisecond, 1},
		{time.Hour, 5}, // never more than the burst
	}
	for i, s := range steps {
		c.Advance(s.advance)
		if got := drain(); got != s.want {
			t.Errorf("step %d: after %v allowed %d, want %d", i, s.advance, got, s.want)
		}
	}
}

func TestUnlimited(t *testing.T) {
	for _, r := range []rate.Limit{0, rate.Inf, -1} {
		l := New(r, 1, 1, time.Second)
		for i := range 1000 {
			if ok, retry := l.Allow(fmt.Sprint(i % 3)); !ok || retry != 0 {
				t.Fatalf("rate %v: Allow #%d = %v, %v; want true, 0", r, i, ok, retry)
			}
		}
		if got := l.Len(); got != 0 {
			t.Errorf("rate %v: Len = %d, want 0", r, got)
		}
	}
}

func TestIdleEviction(t *testing.T) {
	c := newClock()
	l := New(1, 2, 1000, time.Minute, WithClock(c.Now))
	for i := range 100 {
		l.Allow(fmt.Sprint("old", i))
	}
	c.Advance(30 * time.Second)
	l.Allow("fresh")
	if got, want := l.Len(), 101; got != want {
		t.Fatalf("Len before idle = %d, want %d", got, want)
	}
	c.Advance(31 * time.Second)
	if got, want := l.Len(), 1; got != want {
		t.Errorf("Len after idle = %d, want %d (only the fresh key)", got, want)
	}
}

// idle is raised to the refill time, so forgetting a key cannot reset a
// bucket that is still refilling.
func TestIdleAtLeastRefill(t *testing.T) {
	c := newClock()
	l := New(1, 10, 100, time.Second, WithClock(c.Now))
	for range 10 {
		l.Allow("k")
	}
	c.Advance(5 * time.Second) // idle for longer than 1s, but 5 tokens short
	allowed := 0
	for {
		if ok, _ := l.Allow("k"); !ok {
			break
		}
		allowed++
	}
	if allowed != 5 {
		t.Errorf("allowed %d after 5s, want 5: the key was forgotten too early", allowed)
	}
}

func TestMaxKeys(t *testing.T) {
	tests := []struct{ maxKeys, distinct int }{
		{1, 10},
		{10, 1000},
		{1000, 100_000},
		{100_000, 100_000},
		{4096, 100_000},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.maxKeys), func(t *testing.T) {
			c := newClock()
			l := New(1, 1, tt.maxKeys, time.Hour, WithClock(c.Now))
			for i := range tt.distinct {
				if ok, _ := l.Allow(fmt.Sprint("10.0.", i/256, ".", i%256)); !ok {
					t.Fatalf("new key #%d refused, want allowed (LRU eviction)", i)
				}
			}
			got := l.Len()
			if got > tt.maxKeys {
				t.Errorf("Len = %d after %d distinct keys, want <= %d", got, tt.distinct, tt.maxKeys)
			}
			if lo := min(tt.maxKeys, tt.distinct) * 9 / 10; got < lo {
				t.Errorf("Len = %d, want >= %d: the table is badly under-used", got, lo)
			}
		})
	}
}

// The least recently used key goes first: a key in steady use survives a
// flood of new keys while it keeps being used.
func TestEvictsLeastRecentlyUsed(t *testing.T) {
	c := newClock()
	l := New(1, 1, 1, time.Hour, WithClock(c.Now)) // one shard, one key
	l.Allow("a")
	if ok, _ := l.Allow("a"); ok {
		t.Fatalf("second Allow(a) = true, want false")
	}
	l.Allow("b") // evicts a
	if ok, _ := l.Allow("a"); !ok {
		t.Errorf("Allow(a) after eviction = false, want true (fresh bucket)")
	}
}

func TestConcurrent(t *testing.T) {
	c := newClock()
	const burst = 100
	l := New(1, burst, 1_000_000, time.Hour, WithClock(c.Now))
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 1000 {
				if ok, _ := l.Allow("shared"); ok {
					allowed.Add(1)
				}
				l.Allow(fmt.Sprint(g, "-", i))
				if i%100 == 0 {
					l.Len()
				}
			}
		})
	}
	wg.Wait()
	if got := allowed.Load(); got != burst {
		t.Errorf("allowed %d events on a shared key without time passing, want %d", got, burst)
	}
	if got, want := l.Len(), 16*1000+1; got != want {
		t.Errorf("Len = %d, want %d", got, want)
	}
}

func BenchmarkAllow(b *testing.B) {
	l := New(1e9, 1<<30, 100_000, time.Hour)
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			l.Allow(fmt.Sprint(i % 1000))
			i++
		}
	})
}

func TestCheck(t *testing.T) {
	var none *Limiter
	if e := none.Check("k", "x"); e != nil {
		t.Fatalf("nil limiter refused: %v", e)
	}
	l := New(1, 1, 10, time.Minute)
	if e := l.Check("k", "slow down"); e != nil {
		t.Fatalf("first request refused: %v", e)
	}
	e := l.Check("k", "slow down")
	if e == nil || e.Code != api.CodeRateLimited || e.Message != "slow down" || e.RetryAfterMS < 1 {
		t.Fatalf("second request: %+v, want rate_limited with retry_after", e)
	}
}
