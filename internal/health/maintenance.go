package health

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/dandanchat/dandan/api"
	"github.com/dandanchat/dandan/internal/auth"
	"github.com/nats-io/nats.go/jetstream"
)

// Maintenance window states.
const (
	maintScheduled  = "scheduled"
	maintInProgress = "in_progress"
	maintCompleted  = "completed"
)

// MaintenanceRequest schedules a window (POST /v1/admin/maintenance) or
// ends one (PATCH /v1/admin/maintenance/{id} with status "completed").
type MaintenanceRequest struct {
	Name       string   `json:"name,omitempty"`
	From       string   `json:"scheduled_for,omitempty"`   // RFC 3339
	Until      string   `json:"scheduled_until,omitempty"` // RFC 3339
	Components []string `json:"components,omitempty"`
	Body       string   `json:"body,omitempty"`
	Status     string   `json:"status,omitempty"`
}

// Maintenances returns every maintenance window, soonest first.
func (m *Monitor) Maintenances(ctx context.Context) ([]api.Maintenance, error) {
	b, err := m.read(ctx)
	return b.windows, err
}

// windowState is where a window stands at now.
func windowState(w api.Maintenance, now time.Time) string {
	switch {
	case w.Status == maintCompleted:
		return maintCompleted
	case now.Before(parse(w.ScheduledFor)):
		return maintScheduled
	}
	return maintInProgress
}

// Schedule stores a new maintenance window.
func (m *Monitor) Schedule(ctx context.Context, req MaintenanceRequest) (*api.Maintenance, error) {
	from, err1 := time.Parse(time.RFC3339, req.From)
	until, err2 := time.Parse(time.RFC3339, req.Until)
	switch {
	case strings.TrimSpace(req.Name) == "" || len(req.Name) > 200:
		return nil, api.Errorf(api.CodeInvalid, "a maintenance window needs a name of 1-200 characters")
	case err1 != nil || err2 != nil || !until.After(from):
		return nil, api.Errorf(api.CodeInvalid, "scheduled_for and scheduled_until are RFC 3339 times, the first before the second")
	case len(req.Body) > 10_000 || len(req.Components) > 100:
		return nil, api.Errorf(api.CodeTooLarge, "the window's description is too long")
	}
	w := &api.Maintenance{ID: auth.NewID('w'), Name: req.Name, Status: maintScheduled,
		ScheduledFor: stamp(from), ScheduledUntil: stamp(until), Components: req.Components, Body: req.Body}
	if w.Components == nil {
		w.Components = []string{}
	}
	b, err := json.Marshal(w)
	if err != nil {
		return nil, err
	}
	if _, err := m.cfg.Store.Status.Create(ctx, "maintenance."+w.ID, b); err != nil {
		return nil, api.Errorf(api.CodeUnavailable, "the window could not be stored; retry")
	}
	return w, nil
}

// Complete ends a maintenance window.
func (m *Monitor) Complete(ctx context.Context, id string) (*api.Maintenance, error) {
	e, err := m.cfg.Store.Status.Get(ctx, "maintenance."+id)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrInvalidKey) {
		return nil, api.Errorf(api.CodeNotFound, "no maintenance window %q", id)
	}
	if err != nil {
		return nil, api.Errorf(api.CodeUnavailable, "the window cannot be read now; retry")
	}
	var w api.Maintenance
	if err := json.Unmarshal(e.Value(), &w); err != nil {
		return nil, api.Errorf(api.CodeInternal, "the window is unreadable")
	}
	w.Status = maintCompleted
	b, _ := json.Marshal(w)
	if _, err := m.cfg.Store.Status.Update(ctx, "maintenance."+id, b, e.Revision()); err != nil {
		return nil, api.Errorf(api.CodeUnavailable, "the window could not be updated; retry")
	}
	return &w, nil
}

// watchOverruns opens an incident for every window still open after its
// scheduled end (the payment service whose 01:00–07:00 maintenance ran five
// hours over), and resolves it when the window is completed.
func (m *Monitor) watchOverruns(ctx context.Context, windows []api.Maintenance, now time.Time) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	kv := m.cfg.Store.Status
	for _, w := range windows {
		key := "open.maint_" + w.ID
		over := windowState(w, now) == maintInProgress && now.After(parse(w.ScheduledUntil))
		switch {
		case over:
			id := auth.NewID('i')
			if _, err := kv.Create(ctx, key, []byte(id)); err != nil {
				continue // opened already (or storage is busy: next time)
			}
			until := parse(w.ScheduledUntil)
			inc := api.Incident{ID: id, Name: fmt.Sprintf("Maintenance %q overran its window", w.Name),
				Status: api.IncidentInvestigating, Severity: api.SEV3, Impact: "minor", Automatic: true,
				Components: w.Components, CreatedAt: stamp(now), UpdatedAt: stamp(now),
				Updates: []api.IncidentUpdate{{Status: api.IncidentInvestigating, CreatedAt: stamp(now),
					Body: fmt.Sprintf("The maintenance planned until %s is still in progress.", until.UTC().Format("2006-01-02 15:04 UTC"))}},
				Timeline: []api.TimelineEntry{
					{At: w.ScheduledFor, Kind: "maintenance", Text: "maintenance window began"},
					{At: w.ScheduledUntil, Kind: "detected", Text: "the window's scheduled end passed with the work still in progress"},
					{At: stamp(now), Kind: "opened", Text: "incident opened automatically"}}}
			if err := m.put(ctx, &inc, 0); err == nil {
				m.log.Warn("maintenance overran: incident opened", "window", w.ID, "incident", id)
			}
		case w.Status == maintCompleted:
			e, err := kv.Get(ctx, key)
			if err != nil {
				continue
			}
			m.update(ctx, string(e.Value()), func(inc *api.Incident) bool {
				if inc.Status == api.IncidentResolved {
					return false
				}
				inc.Status, inc.ResolvedAt = api.IncidentResolved, stamp(now)
				inc.Timeline = append(inc.Timeline, api.TimelineEntry{At: stamp(now), Kind: "resolved", Text: "maintenance completed"})
				inc.Updates = append([]api.IncidentUpdate{{Status: api.IncidentResolved, CreatedAt: stamp(now),
					Body: "The maintenance is complete."}}, inc.Updates...)
				return true
			})
			_ = kv.Delete(ctx, key, jetstream.LastRevision(e.Revision()))
		}
	}
}

// maintenanceRoutes adds the maintenance routes of the operators' API.
func (m *Monitor) maintenanceRoutes(mux *http.ServeMux) {
	mux.Handle("GET /v1/admin/maintenance", answer(http.StatusOK, func(r *http.Request) (any, error) {
		ws, err := m.Maintenances(r.Context())
		if err != nil {
			return nil, api.Errorf(api.CodeUnavailable, "maintenance windows cannot be read now; retry")
		}
		now := m.cfg.Now()
		for i := range ws {
			ws[i].Status = windowState(ws[i], now)
		}
		return ws, nil
	}))
	mux.Handle("POST /v1/admin/maintenance", taking(http.StatusCreated, func(r *http.Request, req MaintenanceRequest) (any, error) {
		return m.Schedule(r.Context(), req)
	}))
	mux.Handle("PATCH /v1/admin/maintenance/{id}", taking(http.StatusOK, func(r *http.Request, req MaintenanceRequest) (any, error) {
		if req.Status != maintCompleted {
			return nil, api.Errorf(api.CodeInvalid, `a window can only be set to "completed"`)
		}
		return m.Complete(r.Context(), r.PathValue("id"))
	}))
}
