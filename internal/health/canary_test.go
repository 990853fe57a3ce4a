package health

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dandanchat/dandan/api"
	"github.com/dandanchat/dandan/internal/broker"
	"github.com/dandanchat/dandan/internal/store"
)

func openStore(t *testing.T) *store.Store {
	t.Helper()
	b, err := broker.Start(broker.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Shutdown)
	st, err := store.Open(context.Background(), b.JetStream(), b.Conn(), store.Options{Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestCanariesJudgeMessaging: a failing canary puts messaging in partial
// outage and opens an incident whose timeline says why; a slow one
// degrades it; a fast one again resolves it. Another node's canary, read
// from the status bucket, counts the same; a stale one does not.
func TestCanariesJudgeMessaging(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	var (
		mu  sync.Mutex
		own api.Probe
	)
	set := func(p api.Probe) { mu.Lock(); own = p; mu.Unlock() }
	failures := 0
	probe := func(ok bool, sendMS, deliverMS float64, err string) api.Probe {
		if ok {
			failures = 0
		} else {
			failures++
		}
		return api.Probe{Node: "n1", At: stamp(time.Now()), EverySec: 30, OK: ok, Failures: failures,
			SendMS: sendMS, DeliverMS: deliverMS, Error: err}
	}
	m := New(Config{Node: "n1", Store: st, OpenAfter: 50 * time.Millisecond, ResolveAfter: 100 * time.Millisecond,
		Probe: func() api.Probe { mu.Lock(); defer mu.Unlock(); return own }})
	state := func() api.ComponentStatus {
		m.Evaluate(ctx)
		m.mu.Lock()
		defer m.mu.Unlock()
		return m.current[Messaging]
	}
	messagingIncident := func() *api.Incident {
		incs, err := m.Incidents(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for i := range incs {
			if len(incs[i].Components) == 1 && incs[i].Components[0] == Messaging {
				return &incs[i]
			}
		}
		return nil
	}

	if s := state(); s != api.StatusOperational {
		t.Fatalf("no canary yet: messaging %q", s)
	}
	set(probe(true, 8, 12, ""))
	if s := state(); s != api.StatusOperational {
		t.Fatalf("a fast canary: messaging %q", s)
	}
	set(probe(false, 5000, 0, "send: stream unavailable"))
	if s := state(); s != api.StatusOperational {
		t.Fatalf("one failed canary, not yet retried: messaging %q, want operational", s)
	}
	set(probe(false, 5000, 0, "send: stream unavailable"))
	if s := state(); s != api.StatusPartial {
		t.Fatalf("a canary failing twice in a row: messaging %q, want partial_outage", s)
	}
	time.Sleep(60 * time.Millisecond)
	state()
	inc := messagingIncident()
	if inc == nil {
		t.Fatal("no incident for messaging after the canary failed")
	}
	if inc.Severity != api.SEV2 || !strings.Contains(inc.Timeline[0].Text, "the canary from n1 failed: send: stream unavailable") ||
		inc.Timeline[0].Metrics["canary_send_ms"] != 5000 {
		t.Errorf("incident %s %q, first entry %+v", inc.Severity, inc.Name, inc.Timeline[0])
	}
	set(probe(true, 1500, 1600, ""))
	if s := state(); s != api.StatusDegraded {
		t.Fatalf("a slow canary: messaging %q, want degraded", s)
	}
	if inc = messagingIncident(); inc == nil || inc.Timeline[len(inc.Timeline)-1].State != api.StatusDegraded {
		t.Errorf("the incident's timeline does not record the change to degraded: %+v", inc)
	}
	set(probe(true, 9, 14, ""))
	state()
	time.Sleep(110 * time.Millisecond)
	state()
	if inc = messagingIncident(); inc == nil || inc.Status != api.IncidentResolved {
		t.Fatalf("the incident did not resolve once the canary was fast again: %+v", inc)
	}

	// Another node's failing canary, from the bucket, counts; once stale,
	// it no longer does.
	other := api.Probe{Node: "n2", At: stamp(time.Now()), EverySec: 30, OK: false, Failures: 3, Error: "not delivered"}
	if err := store.PutJSON(ctx, st.Status, "probe.n2", other); err != nil {
		t.Fatal(err)
	}
	m.refreshOnce(ctx)
	if s := state(); s != api.StatusPartial {
		t.Fatalf("another node's failing canary: messaging %q, want partial_outage", s)
	}
	other.At = stamp(time.Now().Add(-5 * time.Minute))
	if err := store.PutJSON(ctx, st.Status, "probe.n2", other); err != nil {
		t.Fatal(err)
	}
	m.refreshOnce(ctx)
	if s := state(); s != api.StatusOperational {
		t.Fatalf("a stale failing canary: messaging %q, want operational", s)
	}
}

// fakeAnnouncer records what would be queued; it fails while failing is set.
type fakeAnnouncer struct {
	failing bool
	queued  []string
}

func (f *fakeAnnouncer) Enqueue(_ context.Context, _ []api.Subscriber, event string, inc api.Incident) error {
	if f.failing {
		return context.DeadlineExceeded
	}
	f.queued = append(f.queued, event+" "+changeKey(inc))
	return nil
}

func (f *fakeAnnouncer) EmailEnabled() bool { return false }

// TestAnnounce: changes are named the same way whichever node sees them;
// a change that could not be queued (the queue electing a leader) is
// queued later, before the changes that followed it.
func TestAnnounce(t *testing.T) {
	ctx := context.Background()
	f := &fakeAnnouncer{}
	m := New(Config{Node: "n1", Announce: f})
	subs := []api.Subscriber{{ID: "s1"}}
	old := api.Incident{ID: "i0", Status: api.IncidentResolved}
	m.announce(ctx, []api.Incident{old}, subs) // the baseline: nothing announced
	inc := api.Incident{ID: "i1", Status: api.IncidentInvestigating, Updates: []api.IncidentUpdate{{Status: api.IncidentInvestigating}},
		Timeline: []api.TimelineEntry{{Kind: "detected"}, {Kind: "opened"}}}
	f.failing = true
	m.announce(ctx, []api.Incident{inc, old}, subs)
	f.failing = false
	inc.Status, inc.Updates = api.IncidentIdentified, append([]api.IncidentUpdate{{Status: api.IncidentIdentified}}, inc.Updates...)
	inc.Timeline = append(inc.Timeline, api.TimelineEntry{Kind: "failover"})
	m.announce(ctx, []api.Incident{inc, old}, subs)
	m.announce(ctx, []api.Incident{inc, old}, subs) // nothing new
	inc.Status, inc.Updates = api.IncidentResolved, append([]api.IncidentUpdate{{Status: api.IncidentResolved}}, inc.Updates...)
	m.announce(ctx, []api.Incident{inc, old}, subs)
	// The opening, which could not be queued at first, is queued before
	// the update: subscribers hear every change, in order.
	want := []string{"incident.opened investigating/1", "incident.updated identified/2", "incident.resolved resolved/3"}
	if !slices.Equal(f.queued, want) {
		t.Errorf("queued %q, want %q", f.queued, want)
	}
	// A node that first sees a recent incident already moved on (another
	// node recorded the failover before any node read it as opened)
	// announces its opening too, as it was then, and the same way as a
	// node that saw it; an old one (the opening announced long ago, past
	// the queue's deduplication) only the change. A fresh one is opened.
	m2 := New(Config{Node: "n2", Announce: f})
	f.queued = nil
	m2.announce(ctx, nil, subs)
	fresh := api.Incident{ID: "i2", Status: api.IncidentInvestigating, Updates: []api.IncidentUpdate{{Status: api.IncidentInvestigating}}}
	inc.Status, inc.Updates = api.IncidentIdentified, inc.Updates[1:]
	inc.CreatedAt = stamp(time.Now().Add(-10 * time.Second))
	stale := inc
	stale.ID, stale.CreatedAt = "i3", stamp(time.Now().Add(-time.Hour))
	m2.announce(ctx, []api.Incident{inc, fresh, stale}, subs)
	want = []string{"incident.opened investigating/1", "incident.updated identified/2", "incident.opened investigating/1", "incident.updated identified/2"}
	if !slices.Equal(f.queued, want) {
		t.Errorf("queued %q, want %q", f.queued, want)
	}
	// One opened and resolved between two readings: both are announced.
	f.queued = nil
	short := fresh
	short.ID, short.CreatedAt = "i4", stamp(time.Now())
	short.Status, short.Updates = api.IncidentResolved, append([]api.IncidentUpdate{{Status: api.IncidentResolved}}, short.Updates...)
	m2.announce(ctx, []api.Incident{inc, fresh, stale, short}, subs)
	if want := []string{"incident.opened investigating/1", "incident.resolved resolved/2"}; !slices.Equal(f.queued, want) {
		t.Errorf("queued %q, want %q", f.queued, want)
	}
	if o := asOpened(inc); len(o.Timeline) != 2 || o.Timeline[1].Kind != "opened" || o.Status != api.IncidentInvestigating {
		t.Errorf("as opened: %+v", o)
	}
}

// TestErrorRateObjectives: server-side failures of a component's requests
// over the last minute degrade it (over 5%) or make it a partial outage
// (over 50%), open an incident that says how many failed, and resolve it
// once the minute has passed without them. Client errors do not count.
func TestErrorRateObjectives(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	m := New(Config{Node: "n1", Store: openStore(t), Now: clock})
	state := func(c string) api.ComponentStatus {
		m.Evaluate(ctx)
		m.mu.Lock()
		defer m.mu.Unlock()
		return m.current[c]
	}
	for i := range 40 {
		status := 200
		switch {
		case i < 4:
			status = 503
		case i < 10:
			status = 401 // wrong passwords are not the service's failures
		}
		m.Observe("signin", status)
	}
	m.Observe("me", 500) // not a judged route
	if s := state(SignIn); s != api.StatusDegraded {
		t.Fatalf("4 of 40 sign-ins failed: %q, want degraded", s)
	}
	advance(4 * time.Second)
	if s := state(SignIn); s != api.StatusDegraded {
		t.Fatalf("sign-in %q", s)
	}
	incs, err := m.Incidents(ctx)
	if err != nil || len(incs) != 1 || incs[0].Components[0] != SignIn || incs[0].Severity != api.SEV3 ||
		!strings.Contains(incs[0].Timeline[0].Text, "4 of 40 requests failed on n1 in the last minute") {
		t.Fatalf("incidents %+v (%v): want one SEV3 for sign-in saying 4 of 40 failed", incs, err)
	}
	for range 60 {
		m.Observe("history", 503)
	}
	if s := state(History); s != api.StatusPartial {
		t.Fatalf("every history request failing: %q, want partial_outage", s)
	}
	if s := state(Messaging); s != api.StatusOperational {
		t.Fatalf("messaging %q with no failure of its own", s)
	}
	advance(61 * time.Second)
	if s := state(SignIn); s != api.StatusOperational {
		t.Fatalf("a minute later: sign-in %q", s)
	}
	advance(11 * time.Second)
	state(SignIn)
	incs, _ = m.Incidents(ctx)
	for _, inc := range incs {
		if inc.Status != api.IncidentResolved {
			t.Errorf("incident %q still %s a minute after the failures stopped", inc.Name, inc.Status)
		}
	}
}

// TestOneIncidentForADataCentre: while a data centre is down, and for the
// minute its failures stay in the error rates, the failed requests it
// caused open no incident of their own: the data centre's explains them.
func TestOneIncidentForADataCentre(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	if err := store.PutJSON(ctx, st.Nodes, "n2", store.NodeRecord{Name: "n2", DC: "dc2"}); err != nil {
		t.Fatal(err)
	}
	var (
		mu   sync.Mutex
		now  = time.Now()
		up   = false // is n2 reached?
		open = func() map[string]bool { mu.Lock(); defer mu.Unlock(); return map[string]bool{"n2": up} }
	)
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	m := New(Config{Node: "n1", DC: "dc1", Store: st, Reached: open,
		Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }})
	components := func() []string {
		incs, err := m.Incidents(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, inc := range incs {
			out = append(out, inc.Components...)
		}
		slices.Sort(out)
		return out
	}
	for range 40 {
		m.Observe("history", 503) // requests into rooms led from dc2, pausing
	}
	for range 5 {
		m.Evaluate(ctx)
		advance(time.Second)
	}
	if got := components(); !slices.Equal(got, []string{"dc:dc2"}) {
		t.Fatalf("incidents for %v while dc2 is down, want only dc:dc2", got)
	}
	mu.Lock()
	up = true
	mu.Unlock()
	for range 20 { // dc2 is back; the failures are still in the minute's rates
		m.Evaluate(ctx)
		advance(time.Second)
	}
	if got := components(); !slices.Equal(got, []string{"dc:dc2"}) {
		t.Fatalf("incidents for %v after dc2 came back, want only dc:dc2", got)
	}
	// Failures long after the data centre's return are the component's own.
	advance(time.Minute)
	for range 40 {
		m.Observe("history", 503)
	}
	for range 5 {
		m.Evaluate(ctx)
		advance(time.Second)
	}
	if got := components(); !slices.Equal(got, []string{"dc:dc2", History}) {
		t.Fatalf("incidents for %v, want dc:dc2 and history", got)
	}
}
