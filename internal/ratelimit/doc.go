// Package ratelimit limits events per key (a device, a client address) with
// token buckets: each key may spend burst events at once, then rate events
// per second.
//
// Memory is bounded: keys idle for longer than the idle duration are
// forgotten, and at most maxKeys keys are tracked. When the table is full the
// least recently used key is evicted, so a flood of distinct keys (spoofed
// addresses, say) can only make the limiter forget old keys, which then start
// again with a full bucket; it never locks out a new, legitimate key.
//
// Example:
//
//	lim := ratelimit.New(5, 20, 100_000, 10*time.Minute) // 5/s, bursts of 20
//	if ok, retry := lim.Allow(clientAddr); !ok {
//		return &api.Error{Code: api.CodeRateLimited, RetryAfterMS: retry.Milliseconds()}
//	}
package ratelimit
