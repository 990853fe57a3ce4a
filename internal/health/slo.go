package health

import (
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dandanchat/dandan/api"
)

// Error-rate objectives: over the last minute of a component's requests on
// this node (at least sloMinRequests of them), a share of server-side
// failures (5xx: internal errors, storage unavailable, refusals for load)
// above sloDegraded degrades it, above sloPartial is a partial outage.
const (
	sloWindow      = 60 // seconds
	sloMinRequests = 20
	sloDegraded    = 0.05
	sloPartial     = 0.5
)

// outcomes counts requests and failures per component in one-second
// buckets over the last sloWindow seconds.
type outcomes struct {
	mu      sync.Mutex
	buckets map[string]*[sloWindow]bucket
	counted *prometheus.CounterVec // the same, as a metric
}

type bucket struct {
	sec           int64 // unix second the counts belong to
	total, failed uint64
}

// componentOf is the component a request of the HTTP API belongs to (""
// for none that is judged this way).
func componentOf(route string) string {
	switch route {
	case "signin", "signup":
		return SignIn
	case "history", "rooms", "room", "members", "receipts":
		return History
	case "send", "edit", "delete":
		return Messaging
	}
	return ""
}

// Observe records the outcome of a request of the HTTP API (its route
// name and status), or of a send, edit or delete over a WebSocket (its
// frame type, named as the HTTP route, and the status its answer maps to);
// it is cheap and safe for concurrent use.
func (m *Monitor) Observe(route string, status int) {
	c := componentOf(route)
	if c == "" {
		return
	}
	failed := status >= http.StatusInternalServerError
	result := "ok"
	if failed {
		result = "failed"
	}
	m.outcomes.counted.WithLabelValues(c, result).Inc()
	sec := m.cfg.Now().Unix()
	o := &m.outcomes
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.buckets == nil {
		o.buckets = map[string]*[sloWindow]bucket{}
	}
	bs := o.buckets[c]
	if bs == nil {
		bs = new([sloWindow]bucket)
		o.buckets[c] = bs
	}
	b := &bs[sec%sloWindow]
	if b.sec != sec {
		*b = bucket{sec: sec}
	}
	b.total++
	if failed {
		b.failed++
	}
}

// errorRates returns, per component, its requests and failures over the
// last sloWindow seconds.
func (m *Monitor) errorRates(now time.Time) map[string][2]uint64 {
	o := &m.outcomes
	o.mu.Lock()
	defer o.mu.Unlock()
	out := map[string][2]uint64{}
	for c, bs := range o.buckets {
		var total, failed uint64
		for _, b := range bs {
			if now.Unix()-b.sec < sloWindow {
				total += b.total
				failed += b.failed
			}
		}
		out[c] = [2]uint64{total, failed}
	}
	return out
}

// sloState is a component's state from its error rate.
func sloState(total, failed uint64) api.ComponentStatus {
	if total < sloMinRequests {
		return api.StatusOperational
	}
	switch r := float64(failed) / float64(total); {
	case r > sloPartial:
		return api.StatusPartial
	case r > sloDegraded:
		return api.StatusDegraded
	}
	return api.StatusOperational
}
