package drill

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/dandanchat/dandan/api"
)

// StatusResult is what the status pages of the data centres that stayed
// said during the drill.
type StatusResult struct {
	Polls    int `json:"polls"`    // /status.json requests to those nodes after the failure
	Failures int `json:"failures"` // of which not answered with a page
	// IncidentOpenedMS is how long after the failure an unresolved
	// incident for the failed data centre was first on a page; -1: never.
	IncidentOpenedMS float64  `json:"incident_opened_ms"`
	Incident         string   `json:"incident,omitempty"` // its name
	Resolved         bool     `json:"resolved"`           // it resolved itself after recovery
	ResolvedMS       float64  `json:"resolved_ms"`        // how long after the data centre came back; -1: not
	Timeline         []string `json:"timeline,omitempty"` // its timeline: each entry's kind and time from the failure, in order
	// Others names the other incidents opened during the drill: the
	// failure should show as one incident, not several.
	Others []string `json:"other_incidents,omitempty"`
}

// statusWatch polls every node's /status.json four times a second.
type statusWatch struct {
	r      *run
	mu     sync.Mutex
	res    StatusResult
	failAt time.Time // zero until the failure
	victim string
	healAt time.Time
	seen   time.Time // UpdatedAt of the newest version of the incident seen
	done   bool
}

func (w *statusWatch) failed(at time.Time, victim string) {
	w.mu.Lock()
	w.failAt, w.victim = at, victim
	w.mu.Unlock()
}
func (w *statusWatch) healed(at time.Time) { w.mu.Lock(); w.healAt = at; w.mu.Unlock() }

func (w *statusWatch) run(ctx context.Context) {
	w.res.IncidentOpenedMS, w.res.ResolvedMS = -1, -1
	hc := &http.Client{Timeout: 2 * time.Second}
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		w.mu.Lock()
		failAt, victim := w.failAt, w.victim
		w.mu.Unlock()
		if failAt.IsZero() {
			continue
		}
		for _, n := range w.r.c.Nodes() {
			if n.DC == victim {
				continue
			}
			p, ok := fetchStatus(ctx, hc, n.URL)
			w.observe(p, ok, victim)
		}
	}
}

func fetchStatus(ctx context.Context, hc *http.Client, base string) (*api.StatusPage, bool) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/status.json", nil)
	if err != nil {
		return nil, false
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, false
	}
	defer resp.Body.Close()
	var p api.StatusPage
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&p) != nil {
		return nil, false
	}
	return &p, true
}

func (w *statusWatch) observe(p *api.StatusPage, ok bool, victim string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if ctxDone := w.done; ctxDone {
		return
	}
	w.res.Polls++
	if !ok {
		w.res.Failures++
		return
	}
	for _, inc := range p.Incidents {
		if parse(inc.CreatedAt).Before(w.failAt.Add(-time.Second)) {
			continue
		}
		if !slices.Contains(inc.Components, "dc:"+victim) {
			if name := inc.Name + " (" + string(inc.Severity) + ")"; !slices.Contains(w.res.Others, name) {
				w.res.Others = append(w.res.Others, name)
			}
			continue
		}
		if w.res.IncidentOpenedMS < 0 && inc.Status != api.IncidentResolved {
			w.res.IncidentOpenedMS = float64(time.Since(w.failAt).Microseconds()) / 1000
			w.res.Incident = inc.Name
		}
		// Nodes refresh their incidents at their own pace: keep the
		// newest version seen.
		at := parse(inc.UpdatedAt)
		if at.Before(w.seen) {
			continue
		}
		w.seen = at
		w.res.Timeline = w.res.Timeline[:0]
		for _, e := range inc.Timeline {
			w.res.Timeline = append(w.res.Timeline, fmt.Sprintf("%s %+.1fs", e.Kind, parse(e.At).Sub(w.failAt).Seconds()))
		}
		if inc.Status == api.IncidentResolved && !w.res.Resolved {
			w.res.Resolved = true
			if !w.healAt.IsZero() {
				w.res.ResolvedMS = float64(time.Since(w.healAt).Microseconds()) / 1000
			}
		}
	}
}

// awaitResolved waits up to d for the incident to be resolved, then stops
// the watch and returns what it saw.
func (w *statusWatch) awaitResolved(ctx context.Context, d time.Duration) StatusResult {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		w.mu.Lock()
		resolved := w.res.Resolved
		w.mu.Unlock()
		if resolved {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.done = true
	return w.res
}

func parse(s string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}
