// Package deadline keeps a connection's read or write deadline a fixed
// time ahead without resetting it for every message: each reset updates a
// runtime timer under the poller's lock, a measurable cost when a socket
// carries tens of thousands of messages a second.
package deadline

import "time"

// Slack is how much shorter than its full length a renewed deadline may
// be: at most a second, and at most a quarter of the length.
const Slack = time.Second

// Renewer renews one deadline of a connection. It is not safe for
// concurrent use: each direction of a connection has one reader or one
// writer at a time, and that goroutine owns its Renewer.
type Renewer struct {
	set   func(time.Time) error // e.g. conn.SetReadDeadline
	d     time.Duration
	slack time.Duration
	at    time.Time // the deadline last set
}

// New returns a Renewer that keeps the deadline set by set about d ahead.
func New(set func(time.Time) error, d time.Duration) *Renewer {
	return &Renewer{set: set, d: d, slack: min(Slack, d/4)}
}

// Renew makes sure the deadline is at least d minus the slack from now
// (and at most d), setting it only when it is not.
func (r *Renewer) Renew() error {
	now := time.Now()
	if r.at.Sub(now) >= r.d-r.slack {
		return nil
	}
	r.at = now.Add(r.d)
	return r.set(r.at)
}

// Reset forgets the deadline last set, after the caller set another one
// directly (the next Renew sets it again).
func (r *Renewer) Reset() { r.at = time.Time{} }
