package health

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"net/url"
	"slices"
	"time"

	"github.com/dandanchat/dandan/api"
	"github.com/dandanchat/dandan/internal/auth"
	"github.com/dandanchat/dandan/internal/store"
)

// Announcer queues notifications of incident changes for subscribers
// (package notify).
type Announcer interface {
	Enqueue(ctx context.Context, subs []api.Subscriber, event string, inc api.Incident) error
	EmailEnabled() bool
}

// SubscriberRequest adds a subscriber (POST /v1/admin/subscribers): a
// webhook URL or an email address, optionally only for some components.
type SubscriberRequest struct {
	Webhook    string   `json:"webhook,omitempty"`
	Email      string   `json:"email,omitempty"`
	Components []string `json:"components,omitempty"`
}

// announce tells subscribers what changed in the incidents since the last
// reading: a new status or public update is an update, or the resolution;
// an incident seen for the first time was opened. The first reading after
// start only sets the baseline. Every node does this; the queue keeps one
// notification per change, whichever node queued it first, so every node
// must name a change the same way (see notify's changeOf). An incident
// may move on before any node reads it as opened (another node records
// the failover within a second): a node that first sees a recent
// incident already moved on announces its opening too, as it was then.
// A change that cannot be queued yet (the queue's stream may be electing
// a leader, lost with a data centre) waits, in order, and is tried again
// at the next reading: subscribers hear of every change, in the order it
// happened.
func (m *Monitor) announce(ctx context.Context, incs []api.Incident, subs []api.Subscriber) {
	now := m.cfg.Now()
	m.mu.Lock()
	primed := m.noted != nil
	if !primed {
		m.noted = map[string]string{}
	}
	for _, inc := range incs {
		key := changeKey(inc)
		before, seen := m.noted[inc.ID]
		m.noted[inc.ID] = key
		if !primed || before == key || len(subs) == 0 {
			continue
		}
		if !seen {
			opened := asOpened(inc)
			if changeKey(opened) == key {
				m.unsent = append(m.unsent, change{api.NotifyOpened, inc})
				continue
			}
			if now.Sub(parse(inc.CreatedAt)) < reopenWithin {
				m.unsent = append(m.unsent, change{api.NotifyOpened, opened})
			}
		}
		event := api.NotifyUpdated
		if inc.Status == api.IncidentResolved {
			event = api.NotifyResolved
		}
		m.unsent = append(m.unsent, change{event, inc})
	}
	if over := len(m.unsent) - maxUnsent; over > 0 {
		m.log.Warn("notifications dropped: the queue has been unavailable too long", "dropped", over)
		m.unsent = m.unsent[over:]
	}
	unsent := slices.Clone(m.unsent)
	m.mu.Unlock()
	sent := 0
	for _, c := range unsent {
		if err := m.cfg.Announce.Enqueue(ctx, subs, c.event, c.inc); err != nil {
			m.log.Debug("queue notifications", "incident", c.inc.ID, "err", err)
			break // the next reading tries again, from this one
		}
		sent++
	}
	m.mu.Lock()
	m.unsent = m.unsent[sent:]
	m.mu.Unlock()
}

// change is one change of an incident to announce.
type change struct {
	event string
	inc   api.Incident
}

// maxUnsent bounds the changes a node keeps while the queue is unavailable.
const maxUnsent = 1000

// reopenWithin bounds how old an incident may be for a node that first
// sees it moved on to announce its opening: well inside the queue's
// deduplication window (10 minutes), so a node that could not read the
// status for long does not announce an opening others announced.
const reopenWithin = 3 * time.Minute

// asOpened returns inc as it was when opened: its first public update and
// its timeline up to the opening.
func asOpened(inc api.Incident) api.Incident {
	if len(inc.Updates) < 2 {
		return inc // every change adds an update: this is the opening
	}
	first := inc.Updates[len(inc.Updates)-1] // newest first
	o := inc
	o.Status, o.Updates, o.ResolvedAt, o.UpdatedAt = first.Status, []api.IncidentUpdate{first}, "", inc.CreatedAt
	o.Postmortem = nil
	o.Timeline = nil
	for i, e := range inc.Timeline {
		if e.Kind == "opened" {
			o.Timeline = slices.Clone(inc.Timeline[:i+1])
			return o
		}
	}
	if len(inc.Timeline) > 0 { // opened by an operator: its first entry
		o.Timeline = slices.Clone(inc.Timeline[:1])
	}
	return o
}

// subscriberRoutes adds the subscriber routes of the operators' API.
func (m *Monitor) subscriberRoutes(mux *http.ServeMux) {
	mux.Handle("GET /v1/admin/subscribers", answer(http.StatusOK, func(r *http.Request) (any, error) {
		b, err := m.read(r.Context())
		if err != nil {
			return nil, api.Errorf(api.CodeUnavailable, "subscribers cannot be read now; retry")
		}
		subs := b.subscribers
		for i := range subs {
			subs[i].Secret = "" // shown once, at creation
		}
		return subs, nil
	}))
	mux.Handle("POST /v1/admin/subscribers", taking(http.StatusCreated, func(r *http.Request, req SubscriberRequest) (any, error) {
		return m.Subscribe(r.Context(), req)
	}))
	mux.Handle("DELETE /v1/admin/subscribers/{id}", answer(http.StatusOK, func(r *http.Request) (any, error) {
		id := r.PathValue("id")
		if _, err := m.subscriber(r.Context(), id); err != nil {
			return nil, err
		}
		if err := m.cfg.Store.Status.Delete(r.Context(), "subscriber."+id); err != nil {
			return nil, api.Errorf(api.CodeUnavailable, "the subscriber could not be removed; retry")
		}
		return map[string]string{"removed": id}, nil
	}))
	mux.Handle("POST /v1/admin/subscribers/{id}/test", answer(http.StatusAccepted, func(r *http.Request) (any, error) {
		s, err := m.subscriber(r.Context(), r.PathValue("id"))
		if err != nil {
			return nil, err
		}
		now := stamp(m.cfg.Now())
		test := api.Incident{ID: "test", Name: "Test notification", Status: api.IncidentResolved, Severity: api.SEV4,
			Impact: "none", Components: []string{}, CreatedAt: now, UpdatedAt: now, ResolvedAt: now}
		if err := m.cfg.Announce.Enqueue(r.Context(), []api.Subscriber{s}, api.NotifyTest, test); err != nil {
			return nil, api.Errorf(api.CodeUnavailable, "the test could not be queued; retry")
		}
		return map[string]string{"queued": s.ID}, nil
	}))
}

func (m *Monitor) subscriber(ctx context.Context, id string) (api.Subscriber, error) {
	var s api.Subscriber
	if !api.ValidID(id) { // before it is used as a key
		return s, api.Errorf(api.CodeNotFound, "no subscriber %q", id)
	}
	_, err := store.GetJSON(ctx, m.cfg.Store.Status, "subscriber."+id, &s)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return s, api.Errorf(api.CodeNotFound, "no subscriber %q", id)
	case err != nil:
		return s, api.Errorf(api.CodeUnavailable, "subscribers cannot be read now; retry")
	}
	return s, nil
}

// Subscribe adds a subscriber. A webhook gets a new secret, returned this
// once, which signs its deliveries.
func (m *Monitor) Subscribe(ctx context.Context, req SubscriberRequest) (*api.Subscriber, error) {
	if (req.Webhook == "") == (req.Email == "") {
		return nil, api.Errorf(api.CodeInvalid, "a subscriber is either a webhook or an email address")
	}
	if len(req.Components) > 32 {
		return nil, api.Errorf(api.CodeTooLarge, "at most 32 components")
	}
	for _, c := range req.Components {
		if c == "" || len(c) > 64 {
			return nil, api.Errorf(api.CodeInvalid, "a component id is 1-64 characters")
		}
	}
	s := &api.Subscriber{ID: auth.NewID('s'), Components: req.Components, CreatedAt: stamp(m.cfg.Now())}
	if req.Webhook != "" {
		u, err := url.Parse(req.Webhook)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || len(req.Webhook) > 2048 {
			return nil, api.Errorf(api.CodeInvalid, "the webhook must be an http or https URL")
		}
		secret := make([]byte, 24)
		_, _ = rand.Read(secret)
		s.Webhook, s.Secret = u.String(), base64.RawURLEncoding.EncodeToString(secret)
	} else {
		a, err := mail.ParseAddress(req.Email)
		if err != nil || len(a.Address) > 254 {
			return nil, api.Errorf(api.CodeInvalid, "not an email address")
		}
		if !m.cfg.Announce.EmailEnabled() {
			return nil, api.Errorf(api.CodeInvalid, "this node sends no email: start it with --smtp-addr and --smtp-from")
		}
		s.Email = a.Address
	}
	b, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	if _, err := m.cfg.Store.Status.Create(ctx, "subscriber."+s.ID, b); err != nil {
		return nil, api.Errorf(api.CodeUnavailable, "the subscriber could not be stored; retry")
	}
	return s, nil
}

// changeKey names the state of an incident that subscribers hear about.
func changeKey(inc api.Incident) string { return fmt.Sprintf("%s/%d", inc.Status, len(inc.Updates)) }
