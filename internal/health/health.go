// Package health tells the truth about the service, from every node: each
// node evaluates, every second, the state of the components users see
// (messaging, sign-in, history and, in a cluster, each data centre), opens
// an incident by itself when a component stays unhealthy for a few
// seconds, keeps its timeline, and resolves it once the component has been
// healthy for a while. Incidents live in the replicated status bucket, so
// any surviving site shows them; opening one is a create on a key per
// component, so several nodes noticing the same failure open it once.
//
//	m := health.New(health.Config{Node: "dc1", DC: "dc1", Store: st, Reached: b.Reached, CutOff: b.CutOff})
//	go m.Run(ctx)
//	page, err := m.Page(ctx) // for the status page
package health

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dandanchat/dandan/api"
	"github.com/dandanchat/dandan/internal/auth"
	"github.com/dandanchat/dandan/internal/store"
	"github.com/nats-io/nats.go/jetstream"
)

// Component ids of the service as a whole; data centres are "dc:<name>".
const (
	Messaging = "messaging"
	SignIn    = "signin"
	History   = "history"
)

// Config configures a Monitor. Zero durations mean the defaults.
type Config struct {
	Node, DC string
	Store    *store.Store
	// Reached returns the other nodes this node has a route to now (nil
	// on a single node); CutOff whether it is cut off from the majority.
	Reached func() map[string]bool
	CutOff  func() bool
	// Leaders returns, per message stream, the node leading it (empty
	// while it elects one); nil skips the failover entries of timelines.
	Leaders func(ctx context.Context) []string
	// Drain makes this node a lame duck (POST /v1/admin/drain) and returns
	// how many streams it handed over; nil: not offered.
	Drain func(ctx context.Context) int
	// Announce queues notifications to subscribers; nil: no subscribers.
	Announce Announcer
	// Probe returns this node's latest canary (package canary); nil: no
	// canaries. Other nodes' canaries are read from the status bucket.
	Probe func() api.Probe
	// SendSLO and DeliverSLO are the canary latencies above which
	// messaging is degraded; defaults 1 s and 2 s.
	SendSLO, DeliverSLO time.Duration

	Every        time.Duration // evaluation period; default 1s
	OpenAfter    time.Duration // unhealthy this long opens an incident; default 3s
	ResolveAfter time.Duration // healthy this long resolves it; default 10s
	Now          func() time.Time
	Logger       *slog.Logger
	Registry     prometheus.Registerer // for dandan_slo_requests_total; nil = none
}

// Monitor evaluates health and keeps incidents. It is safe for concurrent
// use.
type Monitor struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	current map[string]api.ComponentStatus // component → state now
	since   map[string]time.Time           // component → when its state (healthy or not) began
	order   []string                       // components in display order
	names   map[string]string
	updated time.Time
	cache   []api.Incident    // the incidents as last read
	windows []api.Maintenance // the maintenance windows as last read
	// leadersAsked is when the streams' leaders were last asked for.
	leadersAsked time.Time
	nodeDC       map[string]string // every node ever seen → its data centre
	noted        map[string]string // incident → its state last seen (changeKey); nil until the first reading
	unsent       []change          // changes seen but not yet queued for subscribers, oldest first
	probes       []api.Probe       // every node's latest canary, as last read
	dcDownAt     time.Time         // when a data centre was last seen down

	outcomes outcomes // this node's requests and failures, for the error-rate objectives
}

// New returns a Monitor; call Run to start evaluating.
func New(cfg Config) *Monitor {
	if cfg.Every <= 0 {
		cfg.Every = time.Second
	}
	if cfg.OpenAfter <= 0 {
		cfg.OpenAfter = 3 * time.Second
	}
	if cfg.ResolveAfter <= 0 {
		cfg.ResolveAfter = 10 * time.Second
	}
	if cfg.SendSLO <= 0 {
		cfg.SendSLO = time.Second
	}
	if cfg.DeliverSLO <= 0 {
		cfg.DeliverSLO = 2 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Reached == nil {
		cfg.Reached = func() map[string]bool { return nil }
	}
	if cfg.CutOff == nil {
		cfg.CutOff = func() bool { return false }
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	m := &Monitor{cfg: cfg, log: cfg.Logger.With("component", "health"),
		current: map[string]api.ComponentStatus{}, since: map[string]time.Time{}, names: map[string]string{}}
	m.outcomes.counted = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dandan_slo_requests_total",
		Help: "Requests judged by the error-rate objectives (HTTP, and sends, edits and deletes over WebSockets), by component and result (ok, or failed: answered with a 5xx or its WebSocket equivalent)."},
		[]string{"component", "result"})
	if cfg.Registry != nil {
		cfg.Registry.MustRegister(m.outcomes.counted)
	}
	return m
}

// Run evaluates health every period, and reads the incidents for the page
// every second, until ctx ends.
func (m *Monitor) Run(ctx context.Context) {
	go m.refresh(ctx)
	t := time.NewTicker(m.cfg.Every)
	defer t.Stop()
	for {
		m.Evaluate(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Evaluate takes one measurement and opens, updates or resolves incidents.
func (m *Monitor) Evaluate(ctx context.Context) {
	now := m.cfg.Now()
	states, names, order := m.measure(ctx)
	m.mu.Lock()
	for c, s := range states {
		if prev, ok := m.current[c]; !ok || healthy(prev) != healthy(s) {
			m.since[c] = now
		}
		m.current[c] = s
	}
	m.names, m.order, m.updated = names, order, now
	since := make(map[string]time.Time, len(m.since))
	for c, t := range m.since {
		since[c] = t
	}
	m.mu.Unlock()
	if m.cfg.CutOff() {
		return // what this node sees is not the cluster's truth; write nothing
	}
	m.mu.Lock()
	windows := slices.Clone(m.windows)
	m.mu.Unlock()
	m.watchOverruns(ctx, windows, now)
	for _, c := range order {
		if strings.HasPrefix(c, "dc:") && !healthy(states[c]) {
			m.mu.Lock()
			m.dcDownAt = now
			m.mu.Unlock()
		}
	}
	m.mu.Lock()
	// The error rates look a minute back: failures from a data centre's
	// outage are still counted for a minute after it.
	explained := !m.dcDownAt.IsZero() && now.Sub(m.dcDownAt) < sloWindow*time.Second
	m.mu.Unlock()
	for _, c := range order {
		s := states[c]
		switch {
		case !strings.HasPrefix(c, "dc:") && explained && !healthy(s):
			// A lost data centre's incident explains slow or failing
			// canaries and requests (its rooms pause for an election):
			// users see one incident.
		case !healthy(s) && now.Sub(since[c]) >= m.cfg.OpenAfter:
			m.keepOpen(ctx, c, names[c], s, since[c], now)
		case healthy(s) && now.Sub(since[c]) >= m.cfg.ResolveAfter:
			m.resolve(ctx, c, since[c], now)
		}
	}
}

func healthy(s api.ComponentStatus) bool {
	return s == api.StatusOperational || s == api.StatusMaintenance
}

// measure is this node's view of every component now.
func (m *Monitor) measure(ctx context.Context) (map[string]api.ComponentStatus, map[string]string, []string) {
	states := map[string]api.ComponentStatus{Messaging: api.StatusOperational, SignIn: api.StatusOperational, History: api.StatusOperational}
	names := map[string]string{Messaging: "Messaging", SignIn: "Sign-in", History: "History"}
	order := []string{Messaging, SignIn, History}
	if s, _ := m.canaries(); s != api.StatusOperational {
		states[Messaging] = s
	}
	for c, n := range m.errorRates(m.cfg.Now()) {
		if s := sloState(n[0], n[1]); s.Rank() > states[c].Rank() {
			states[c] = s
		}
	}
	reached := m.cfg.Reached()
	if reached == nil {
		return states, names, order // a single node: no data centres to watch
	}
	// Which nodes are in which data centre: from the nodes' announcements,
	// remembered, since a dead node no longer announces itself.
	dcs := m.dcNodes(ctx)
	var dcNames []string
	for dc := range dcs {
		dcNames = append(dcNames, dc)
	}
	slices.Sort(dcNames)
	down := 0
	for _, dc := range dcNames {
		up := 0
		for _, n := range dcs[dc] {
			if n == m.cfg.Node || reached[n] {
				up++
			}
		}
		id := "dc:" + dc
		names[id] = "Data centre " + dc
		order = append(order, id)
		switch {
		case up == len(dcs[dc]):
			states[id] = api.StatusOperational
		case up == 0:
			states[id] = api.StatusMajor
			down++
		default:
			states[id] = api.StatusPartial
		}
	}
	if down > 0 && states[Messaging] == api.StatusOperational {
		// Rooms led from a lost site pause for an election; every other
		// room goes on: messaging is degraded, not down.
		states[Messaging] = api.StatusDegraded
	}
	if m.cfg.CutOff() {
		for _, c := range []string{Messaging, SignIn, History} {
			states[c] = api.StatusMajor // from here, nothing can be written
		}
	}
	return states, names, order
}

// canaries judges messaging from every node's latest canary (this node's
// from memory, the others' as last read): partial outage while any fresh
// canary has failed twice in a row, degraded while any is slower than the
// SLOs. It also
// returns the canary that decided, if any.
func (m *Monitor) canaries() (api.ComponentStatus, *api.Probe) {
	if m.cfg.Probe == nil {
		return api.StatusOperational, nil
	}
	now := m.cfg.Now()
	own := m.cfg.Probe()
	m.mu.Lock()
	probes := append([]api.Probe{own}, m.probes...)
	m.mu.Unlock()
	state, worst := api.StatusOperational, (*api.Probe)(nil)
	for i, p := range probes {
		if p.At == "" || (i > 0 && p.Node == own.Node) {
			continue // none yet, or this node's own (older) record
		}
		// A canary older than two periods is stale: its node is gone (its
		// data centre's state says so) or cut off.
		if now.Sub(parse(p.At)) > time.Duration(2*p.EverySec*float64(time.Second))+10*time.Second {
			continue
		}
		s := api.StatusOperational
		switch {
		case !p.OK && p.Failures >= 2:
			// Confirmed by its retry (5 s later): a single failed canary
			// is not an outage.
			s = api.StatusPartial
		case !p.OK:
			// One failure is judged when its retry answers.
		case p.SendMS > ms(m.cfg.SendSLO) || p.DeliverMS > ms(m.cfg.DeliverSLO):
			s = api.StatusDegraded
		}
		if s.Rank() > state.Rank() {
			state, worst = s, &probes[i]
		}
	}
	return state, worst
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// dcNodes maps every data centre to its nodes' names, from the nodes
// bucket (any replica will do), merged into what the monitor already knew:
// a node that dies is still one of its data centre's, and a bucket that is
// electing a leader must not make a data centre vanish from the page.
func (m *Monitor) dcNodes(ctx context.Context) map[string][]string {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	learned := map[string]string{} // node → dc
	if m.cfg.DC != "" {
		learned[m.cfg.Node] = m.cfg.DC
	}
	if keys, err := listKeys(ctx, m.cfg.Store.Nodes); err == nil {
		for _, k := range keys {
			var rec store.NodeRecord
			if _, err := store.GetJSON(ctx, m.cfg.Store.Nodes, k, &rec); err == nil && rec.DC != "" {
				learned[rec.Name] = rec.DC
			}
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.nodeDC == nil {
		m.nodeDC = map[string]string{}
	}
	for n, dc := range learned {
		m.nodeDC[n] = dc
	}
	out := map[string][]string{}
	for n, dc := range m.nodeDC {
		out[dc] = append(out[dc], n)
	}
	for _, ns := range out {
		slices.Sort(ns)
	}
	return out
}

// keepOpen makes sure an incident is open for component c, unhealthy since
// since: it opens one (once, whichever node gets there first) or adds to
// the open one's timeline what changed.
func (m *Monitor) keepOpen(ctx context.Context, c, name string, s api.ComponentStatus, since, now time.Time) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	kv := m.cfg.Store.Status
	id := auth.NewID('i')
	if _, err := kv.Create(ctx, "open."+key(c), []byte(id)); err == nil {
		inc := newIncident(id, c, name, s, since, now, m.cfg.Node)
		if _, p := m.canaries(); c == Messaging && p != nil {
			why := fmt.Sprintf("the canary from %s took %.0f ms to be stored and %.0f ms to be delivered", p.Node, p.SendMS, p.DeliverMS)
			if !p.OK {
				why = fmt.Sprintf("the canary from %s failed: %s", p.Node, p.Error)
			}
			inc.Timeline[0].Text += "; " + why
			inc.Timeline[0].Metrics = map[string]float64{"canary_send_ms": p.SendMS, "canary_deliver_ms": p.DeliverMS}
		}
		if n := m.errorRates(now)[c]; sloState(n[0], n[1]) != api.StatusOperational {
			inc.Timeline[0].Text += fmt.Sprintf("; %d of %d requests failed on %s in the last minute", n[1], n[0], m.cfg.Node)
			if inc.Timeline[0].Metrics == nil {
				inc.Timeline[0].Metrics = map[string]float64{}
			}
			inc.Timeline[0].Metrics["error_rate"] = float64(n[1]) / float64(n[0])
		}
		if err := m.put(ctx, &inc, 0); err != nil {
			m.log.Warn("open incident", "component", c, "err", err)
			return
		}
		m.log.Warn("incident opened", "id", id, "component", c, "state", s)
		return
	} else if !errors.Is(err, jetstream.ErrKeyExists) {
		return
	}
	// Open already: record a change of state, and the failover.
	e, err := kv.Get(ctx, "open."+key(c))
	if err != nil {
		return
	}
	m.update(ctx, string(e.Value()), func(inc *api.Incident) bool {
		changed := false
		if last := lastState(inc); last != s {
			inc.Timeline = append(inc.Timeline, api.TimelineEntry{At: stamp(now), Kind: "degraded", State: s,
				Text: fmt.Sprintf("%s: %s (seen from %s)", name, s.Label(), m.cfg.Node)})
			changed = true
		}
		// Asking every stream for its leader costs JetStream API calls just
		// when it is busiest (electing): at most every few seconds.
		if strings.HasPrefix(c, "dc:") && !hasKind(inc, "failover") && m.cfg.Leaders != nil && m.leaderCheckDue(now) {
			if nodes := m.dcNodes(context.WithoutCancel(ctx))[strings.TrimPrefix(c, "dc:")]; m.ledElsewhere(ctx, nodes) {
				inc.Timeline = append(inc.Timeline, api.TimelineEntry{At: stamp(now), Kind: "failover",
					Text:    fmt.Sprintf("every message stream is led from the other data centres (%.0f s after detection)", now.Sub(parse(inc.CreatedAt)).Seconds()),
					Metrics: map[string]float64{"seconds_since_detected": now.Sub(parse(inc.CreatedAt)).Seconds()}})
				inc.Status = api.IncidentIdentified
				inc.Updates = append([]api.IncidentUpdate{{Status: api.IncidentIdentified, CreatedAt: stamp(now),
					Body: "Messaging has failed over to the other data centres; conversations continue."}}, inc.Updates...)
				changed = true
			}
		}
		return changed
	})
}

// leaderCheckDue reports whether the streams' leaders may be asked again.
func (m *Monitor) leaderCheckDue(now time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if now.Sub(m.leadersAsked) < 2*time.Second {
		return false
	}
	m.leadersAsked = now
	return true
}

// ledElsewhere reports whether every message stream has a leader outside
// nodes.
func (m *Monitor) ledElsewhere(ctx context.Context, nodes []string) bool {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
	defer cancel()
	leaders := m.cfg.Leaders(ctx)
	if len(leaders) == 0 {
		return false
	}
	for _, l := range leaders {
		if l == "" || slices.Contains(nodes, l) {
			return false
		}
	}
	return true
}

// resolve resolves the open incident of component c, healthy since since.
func (m *Monitor) resolve(ctx context.Context, c string, since, now time.Time) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	kv := m.cfg.Store.Status
	e, err := kv.Get(ctx, "open."+key(c))
	if err != nil {
		return // nothing open (or nothing readable)
	}
	id := string(e.Value())
	resolved := false
	m.update(ctx, id, func(inc *api.Incident) bool {
		// Only a node that saw the component unhealthy, then healthy again,
		// may resolve: a node that was cut off (or the failed data centre's
		// own node, which always sees itself) has been "healthy" all along.
		if inc.Status == api.IncidentResolved || since.Before(parse(inc.CreatedAt)) {
			return false
		}
		resolved = true
		inc.Timeline = append(inc.Timeline,
			api.TimelineEntry{At: stamp(since), Kind: "recovered", State: api.StatusOperational, Text: "healthy again, seen from " + m.cfg.Node},
			api.TimelineEntry{At: stamp(now), Kind: "resolved", Text: fmt.Sprintf("healthy for %.0f s: resolved automatically", now.Sub(since).Seconds()),
				Metrics: map[string]float64{"outage_seconds": since.Sub(parse(inc.CreatedAt)).Seconds()}})
		inc.Status, inc.ResolvedAt = api.IncidentResolved, stamp(now)
		inc.Updates = append([]api.IncidentUpdate{{Status: api.IncidentResolved, CreatedAt: stamp(now),
			Body: "This incident has been resolved."}}, inc.Updates...)
		return true
	})
	if !resolved {
		return
	}
	if err := kv.Delete(ctx, "open."+key(c), jetstream.LastRevision(e.Revision())); err == nil {
		m.log.Warn("incident resolved", "id", id, "component", c)
	}
}

func newIncident(id, c, name string, s api.ComponentStatus, since, now time.Time, node string) api.Incident {
	sev, impact, title := api.SEV3, "minor", name+": "+strings.ToLower(s.Label())
	switch {
	case strings.HasPrefix(c, "dc:") && s == api.StatusMajor:
		sev, impact, title = api.SEV1, "critical", name+" unreachable"
	case s == api.StatusMajor:
		sev, impact = api.SEV1, "critical"
	case s == api.StatusPartial:
		sev, impact = api.SEV2, "major"
	}
	return api.Incident{ID: id, Name: title, Status: api.IncidentInvestigating, Severity: sev, Impact: impact,
		Automatic: true, Components: []string{c}, CreatedAt: stamp(now), UpdatedAt: stamp(now),
		Updates: []api.IncidentUpdate{{Status: api.IncidentInvestigating, CreatedAt: stamp(now),
			Body: fmt.Sprintf("%s is %s. We are investigating; messages already sent are safe.", name, strings.ToLower(s.Label()))}},
		Timeline: []api.TimelineEntry{
			{At: stamp(since), Kind: "detected", State: s, Text: fmt.Sprintf("%s: %s (seen from %s)", name, s.Label(), node)},
			{At: stamp(now), Kind: "opened", Text: fmt.Sprintf("incident opened automatically after %.0f s", now.Sub(since).Seconds()),
				Metrics: map[string]float64{"seconds_to_open": now.Sub(since).Seconds()}},
		}}
}

// put writes inc; rev 0 creates it.
func (m *Monitor) put(ctx context.Context, inc *api.Incident, rev uint64) error {
	b, err := json.Marshal(inc)
	if err != nil {
		return err
	}
	if rev == 0 {
		_, err = m.cfg.Store.Status.Create(ctx, "incident."+inc.ID, b)
	} else {
		_, err = m.cfg.Store.Status.Update(ctx, "incident."+inc.ID, b, rev)
	}
	return err
}

// update applies f to incident id with compare-and-set, retrying when
// another node changed it meanwhile; f returns false to change nothing.
func (m *Monitor) update(ctx context.Context, id string, f func(*api.Incident) bool) {
	for range 5 {
		e, err := m.cfg.Store.Status.Get(ctx, "incident."+id)
		if err != nil {
			return
		}
		var inc api.Incident
		if json.Unmarshal(e.Value(), &inc) != nil || !f(&inc) {
			return
		}
		inc.UpdatedAt = stamp(m.cfg.Now())
		if err := m.put(ctx, &inc, e.Revision()); err == nil || ctx.Err() != nil {
			return
		}
	}
}

// Incidents returns every incident, newest first.
func (m *Monitor) Incidents(ctx context.Context) ([]api.Incident, error) {
	b, err := m.read(ctx)
	return b.incidents, err
}

// statusBucket is what the status bucket holds, as read in one listing.
type statusBucket struct {
	incidents   []api.Incident    // newest first
	windows     []api.Maintenance // soonest first
	subscribers []api.Subscriber  // oldest first
	probes      []api.Probe       // every node's latest canary
}

// read reads the status bucket in one listing.
func (m *Monitor) read(ctx context.Context) (statusBucket, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var b statusBucket
	keys, err := listKeys(ctx, m.cfg.Store.Status)
	if err != nil {
		return b, err
	}
	for _, k := range keys {
		kind, _, _ := strings.Cut(k, ".")
		if kind != "incident" && kind != "maintenance" && kind != "subscriber" && kind != "probe" {
			continue
		}
		e, err := m.cfg.Store.Status.Get(ctx, k)
		if err != nil {
			continue
		}
		switch kind {
		case "incident":
			var inc api.Incident
			if json.Unmarshal(e.Value(), &inc) == nil {
				b.incidents = append(b.incidents, inc)
			}
		case "maintenance":
			var w api.Maintenance
			if json.Unmarshal(e.Value(), &w) == nil {
				b.windows = append(b.windows, w)
			}
		case "subscriber":
			var s api.Subscriber
			if json.Unmarshal(e.Value(), &s) == nil {
				b.subscribers = append(b.subscribers, s)
			}
		case "probe":
			var p api.Probe
			if json.Unmarshal(e.Value(), &p) == nil {
				b.probes = append(b.probes, p)
			}
		}
	}
	slices.SortFunc(b.incidents, func(x, y api.Incident) int { return parse(y.CreatedAt).Compare(parse(x.CreatedAt)) })
	slices.SortFunc(b.windows, func(x, y api.Maintenance) int { return parse(x.ScheduledFor).Compare(parse(y.ScheduledFor)) })
	slices.SortFunc(b.subscribers, func(x, y api.Subscriber) int { return parse(x.CreatedAt).Compare(parse(y.CreatedAt)) })
	return b, nil
}

// refresh reads the incidents for the page in the background: the page
// never waits for storage, which may be electing a leader right when
// people look at it.
func (m *Monitor) refresh(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		m.refreshOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// refreshOnce reads the status bucket for the page, the canaries and the
// subscribers' notifications.
func (m *Monitor) refreshOnce(ctx context.Context) {
	b, err := m.read(ctx)
	if err != nil {
		return // the page keeps what it had
	}
	m.mu.Lock()
	m.cache, m.windows, m.probes = b.incidents, b.windows, b.probes
	m.mu.Unlock()
	if m.cfg.Announce != nil {
		m.announce(ctx, b.incidents, b.subscribers)
	}
}

// Page assembles the status page from what the node knows now, without
// waiting for storage: its view of the components, the incidents of the
// last 90 days as last read (at most a second ago while storage answers),
// and uptime bars derived from them. A node cut off from the
// cluster says so.
func (m *Monitor) Page(ctx context.Context) (*api.StatusPage, error) {
	now := m.cfg.Now()
	m.mu.Lock()
	incs, windows := m.cache, m.windows
	order, names := slices.Clone(m.order), m.names
	current := make(map[string]api.ComponentStatus, len(m.current))
	for c, s := range m.current {
		current[c] = s
	}
	updated := m.updated
	m.mu.Unlock()
	cut := m.cfg.CutOff()
	p := &api.StatusPage{
		Page:       api.StatusPageInfo{Name: "dandan", URL: "/status", UpdatedAt: stamp(updated)},
		Node:       api.StatusNode{Name: m.cfg.Node, DC: m.cfg.DC, CutOff: cut},
		Components: []api.Component{}, Incidents: []api.Incident{}, ScheduledMaintenances: []api.Maintenance{},
	}
	inMaintenance := map[string]bool{}
	for _, w := range windows {
		w.Status = windowState(w, now)
		if w.Status == maintCompleted {
			continue
		}
		p.ScheduledMaintenances = append(p.ScheduledMaintenances, w)
		if w.Status == maintInProgress {
			for _, c := range w.Components {
				inMaintenance[c] = true
			}
		}
	}
	worst := api.StatusOperational
	for _, c := range order {
		s := current[c]
		if s == api.StatusOperational && inMaintenance[c] {
			s = api.StatusMaintenance
		}
		if s.Rank() > worst.Rank() {
			worst = s
		}
		p.Components = append(p.Components, api.Component{ID: c, Name: names[c], Status: s, UpdatedAt: stamp(updated),
			Uptime: uptime(c, incs, now, 90)})
	}
	horizon := now.AddDate(0, 0, -90)
	for _, inc := range incs {
		if inc.Status != api.IncidentResolved || parse(inc.ResolvedAt).After(horizon) {
			p.Incidents = append(p.Incidents, inc)
		}
	}
	p.Status = summary(worst, cut)
	return p, nil
}

func summary(worst api.ComponentStatus, cut bool) api.StatusSummary {
	switch {
	case cut:
		return api.StatusSummary{Indicator: "critical", Description: "This site is cut off from the others"}
	case worst == api.StatusOperational:
		return api.StatusSummary{Indicator: "none", Description: "All systems operational"}
	case worst == api.StatusDegraded || worst == api.StatusMaintenance:
		return api.StatusSummary{Indicator: "minor", Description: "Some systems are degraded"}
	case worst == api.StatusPartial:
		return api.StatusSummary{Indicator: "major", Description: "Partial outage"}
	}
	return api.StatusSummary{Indicator: "critical", Description: "Major outage"}
}

// uptime derives a component's last days from its incidents: the worst
// state each day and the minutes of outage (SEV1 and SEV2 incidents).
func uptime(c string, incs []api.Incident, now time.Time, days int) []api.UptimeDay {
	today := now.UTC().Truncate(24 * time.Hour)
	out := make([]api.UptimeDay, days)
	for i := range out {
		day := today.AddDate(0, 0, i-days+1)
		d := api.UptimeDay{Date: day.Format(time.DateOnly), Worst: api.StatusOperational}
		for _, inc := range incs {
			if !slices.Contains(inc.Components, c) {
				continue
			}
			from, to := parse(inc.CreatedAt), now
			if inc.ResolvedAt != "" {
				to = parse(inc.ResolvedAt)
			}
			start, end := later(from, day), earlier(to, day.Add(24*time.Hour))
			if !start.Before(end) {
				continue
			}
			s := stateOf(inc.Severity)
			if s.Rank() > d.Worst.Rank() {
				d.Worst = s
			}
			if inc.Severity == api.SEV1 || inc.Severity == api.SEV2 {
				d.OutageMinutes += int(end.Sub(start).Round(time.Minute) / time.Minute)
			}
		}
		out[i] = d
	}
	return out
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func stateOf(s api.Severity) api.ComponentStatus {
	switch s {
	case api.SEV1:
		return api.StatusMajor
	case api.SEV2:
		return api.StatusPartial
	case api.SEV3:
		return api.StatusDegraded
	}
	return api.StatusOperational
}

// lastState is the component's state as the incident's timeline last
// recorded it.
func lastState(inc *api.Incident) api.ComponentStatus {
	for i := len(inc.Timeline) - 1; i >= 0; i-- {
		if s := inc.Timeline[i].State; s != "" {
			return s
		}
	}
	return ""
}

func hasKind(inc *api.Incident, kind string) bool {
	return slices.ContainsFunc(inc.Timeline, func(e api.TimelineEntry) bool { return e.Kind == kind })
}

// listKeys lists a bucket's keys within ctx. A bucket's key lister is a
// watcher that can wait without end for a stream that has lost its leader;
// it is stopped when ctx ends, so a health check never hangs.
func listKeys(ctx context.Context, kv jetstream.KeyValue) ([]string, error) {
	l, err := kv.ListKeys(ctx)
	if err != nil {
		return nil, err
	}
	defer l.Stop()
	var keys []string
	for {
		select {
		case k, ok := <-l.Keys():
			if !ok {
				return keys, nil
			}
			keys = append(keys, k)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// key makes a component id a valid key token.
func key(c string) string { return strings.ReplaceAll(c, ":", "_") }

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func parse(s string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}
