package ratelimit

import (
	"container/list"
	"hash/maphash"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// maxShards bounds the number of independently locked parts of the table.
const maxShards = 64

// epsilon absorbs float rounding in refills, in tokens.
const epsilon = 1e-9

// Limiter is a set of token buckets, one per key. It is safe for concurrent
// use. The zero value is not usable; call New.
type Limiter struct {
	rate      float64 // tokens per second; 0 means unlimited
	burst     float64
	idle      time.Duration
	now       func() time.Time
	seed      maphash.Seed
	shards    []shard
	unlimited bool
}

type shard struct {
	mu   sync.Mutex
	max  int
	keys map[string]*list.Element // of *bucket
	lru  list.List                // front is the most recently used
}

type bucket struct {
	key    string
	tokens float64
	last   time.Time // last refill and last use
}

// Option configures a Limiter.
type Option func(*Limiter)

// WithClock makes the Limiter read the time from now instead of time.Now;
// tests use it to move time without sleeping.
func WithClock(now func() time.Time) Option {
	return func(l *Limiter) { l.now = now }
}

// New returns a Limiter that allows each key burst events at once and r
// events per second on average. An r of 0 (or less) or rate.Inf means
// unlimited: Allow always succeeds and nothing is stored. A burst below 1 is
// taken as 1 and a maxKeys below 1 as 1.
//
// Keys unused for longer than idle are forgotten. idle is raised to the time
// an empty bucket takes to refill, so that forgetting a key never grants it
// more than it would have had anyway. At most maxKeys keys are tracked
// (slightly fewer: the bound is split evenly between up to 64 shards).
func New(r rate.Limit, burst, maxKeys int, idle time.Duration, opts ...Option) *Limiter {
	l := &Limiter{now: time.Now, seed: maphash.MakeSeed()}
	for _, o := range opts {
		o(l)
	}
	if r <= 0 || r == rate.Inf {
		l.unlimited = true
		return l
	}
	burst = max(burst, 1)
	maxKeys = max(maxKeys, 1)
	l.rate = float64(r)
	l.burst = float64(burst)
	l.idle = max(idle, seconds(l.burst/l.rate))
	n := min(maxShards, maxKeys)
	l.shards = make([]shard, n)
	for i := range l.shards {
		l.shards[i].max = maxKeys / n
		l.shards[i].keys = make(map[string]*list.Element)
	}
	return l
}

// Allow takes one token from key's bucket. If the bucket is empty it returns
// false and how long until a token is available (at least 1 ms).
func (l *Limiter) Allow(key string) (ok bool, retryAfter time.Duration) {
	if l.unlimited {
		return true, 0
	}
	s := &l.shards[maphash.String(l.seed, key)%uint64(len(l.shards))]
	s.mu.Lock()
	defer s.mu.Unlock()
	now := l.now()
	s.expire(now, l.idle)

	var b *bucket
	if e, found := s.keys[key]; found {
		b = e.Value.(*bucket)
		s.lru.MoveToFront(e)
		if elapsed := now.Sub(b.last); elapsed > 0 {
			b.tokens = min(l.burst, b.tokens+elapsed.Seconds()*l.rate)
		}
	} else {
		if len(s.keys) >= s.max {
			s.remove(s.lru.Back())
		}
		b = &bucket{key: key, tokens: l.burst}
		s.keys[key] = s.lru.PushFront(b)
	}
	if now.After(b.last) {
		b.last = now
	}
	if b.tokens >= 1-epsilon { // tolerate float rounding of the refill
		b.tokens = max(b.tokens-1, 0)
		return true, 0
	}
	return false, max(seconds((1-b.tokens)/l.rate), time.Millisecond)
}

// seconds converts s to a Duration, rounding up and saturating.
func seconds(s float64) time.Duration {
	ns := math.Ceil(s * float64(time.Second))
	if ns >= math.MaxInt64 {
		return math.MaxInt64
	}
	return time.Duration(ns)
}

// Len returns the number of keys currently tracked, after forgetting the idle
// ones. Idle keys are otherwise forgotten lazily, by the next Allow that
// lands on their shard.
func (l *Limiter) Len() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		s.expire(l.now(), l.idle)
		n += len(s.keys)
		s.mu.Unlock()
	}
	return n
}

// expire forgets the least recently used keys idle for longer than idle.
// Each call removes what it finds, so the cost is amortised over the calls
// that created the keys.
func (s *shard) expire(now time.Time, idle time.Duration) {
	for e := s.lru.Back(); e != nil; e = s.lru.Back() {
		if now.Sub(e.Value.(*bucket).last) <= idle {
			return
		}
		s.remove(e)
	}
}

func (s *shard) remove(e *list.Element) {
	delete(s.keys, e.Value.(*bucket).key)
	s.lru.Remove(e)
}
