package health

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/dandanchat/dandan/api"
	"github.com/dandanchat/dandan/internal/auth"
	"github.com/nats-io/nats.go/jetstream"
)

// IncidentRequest creates an incident (POST /v1/admin/incidents) or updates
// one (PATCH /v1/admin/incidents/{id}); on an update, empty fields change
// nothing.
type IncidentRequest struct {
	Name       string             `json:"name,omitempty"`
	Severity   api.Severity       `json:"severity,omitempty"`
	Status     api.IncidentStatus `json:"status,omitempty"`
	Components []string           `json:"components,omitempty"`
	Body       string             `json:"body,omitempty"` // a public update
	Postmortem *api.Postmortem    `json:"postmortem,omitempty"`
}

// AdminHandler serves the operators' incident API under /v1/admin/, for
// callers presenting token as a bearer token:
//
//	GET   /v1/admin/incidents               every incident, newest first
//	POST  /v1/admin/incidents               open one (IncidentRequest)
//	GET   /v1/admin/incidents/{id}          one
//	PATCH /v1/admin/incidents/{id}          update it: status, public update, severity, postmortem
//	GET   /v1/admin/incidents/{id}/export   its journal as Markdown
//	GET   /v1/admin/maintenance             maintenance windows
//	POST  /v1/admin/maintenance             schedule one (MaintenanceRequest)
//	PATCH /v1/admin/maintenance/{id}        {"status":"completed"} ends it
//	POST  /v1/admin/drain                   make this node a lame duck (Config.Drain)
//	GET   /v1/admin/subscribers             who is notified of incidents (Config.Announce)
//	POST  /v1/admin/subscribers             add a webhook or email (SubscriberRequest)
//	DELETE /v1/admin/subscribers/{id}       remove one
//	POST  /v1/admin/subscribers/{id}/test   send it a test notification
func (m *Monitor) AdminHandler(token string) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /v1/admin/incidents", answer(http.StatusOK, func(r *http.Request) (any, error) {
		incs, err := m.Incidents(r.Context())
		if err != nil {
			return nil, api.Errorf(api.CodeUnavailable, "incidents cannot be read now; retry")
		}
		return incs, nil
	}))
	mux.Handle("POST /v1/admin/incidents", taking(http.StatusCreated, func(r *http.Request, req IncidentRequest) (any, error) {
		return m.Open(r, req)
	}))
	mux.Handle("GET /v1/admin/incidents/{id}", answer(http.StatusOK, func(r *http.Request) (any, error) {
		return m.incident(r, r.PathValue("id"))
	}))
	mux.Handle("PATCH /v1/admin/incidents/{id}", taking(http.StatusOK, func(r *http.Request, req IncidentRequest) (any, error) {
		return m.Change(r, r.PathValue("id"), req)
	}))
	mux.HandleFunc("GET /v1/admin/incidents/{id}/export", func(w http.ResponseWriter, r *http.Request) {
		inc, err := m.incident(r, r.PathValue("id"))
		if err != nil {
			writeErr(w, err)
			return
		}
		w.Header().Set("Content-Type", "text/markdown; charset=utf-8")
		_, _ = io.WriteString(w, Markdown(inc, m.cfg.Now()))
	})
	m.maintenanceRoutes(mux)
	if m.cfg.Announce != nil {
		m.subscriberRoutes(mux)
	}
	if m.cfg.Drain != nil {
		mux.Handle("POST /v1/admin/drain", answer(http.StatusOK, func(r *http.Request) (any, error) {
			handed := m.cfg.Drain(r.Context())
			return map[string]any{"node": m.cfg.Node, "draining": true, "streams_handed": handed}, nil
		}))
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if token == "" || !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
			writeErr(w, api.Errorf(api.CodeUnauthorized, "the operators' API needs the admin token"))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		mux.ServeHTTP(w, r)
	})
}

// Open opens an incident by hand.
func (m *Monitor) Open(r *http.Request, req IncidentRequest) (*api.Incident, error) {
	if strings.TrimSpace(req.Name) == "" || len(req.Name) > 200 {
		return nil, api.Errorf(api.CodeInvalid, "an incident needs a name of 1-200 characters")
	}
	if req.Severity == "" {
		req.Severity = api.SEV3
	}
	if req.Status == "" {
		req.Status = api.IncidentInvestigating
	}
	if err := check(req); err != nil {
		return nil, err
	}
	now := stamp(m.cfg.Now())
	inc := &api.Incident{ID: auth.NewID('i'), Name: req.Name, Status: req.Status, Severity: req.Severity,
		Impact: impactOf(req.Severity), Components: req.Components, CreatedAt: now, UpdatedAt: now,
		Timeline:   []api.TimelineEntry{{At: now, Kind: "opened", Text: "opened by an operator"}},
		Postmortem: req.Postmortem}
	if inc.Components == nil {
		inc.Components = []string{}
	}
	if req.Body != "" {
		inc.Updates = []api.IncidentUpdate{{Status: req.Status, Body: req.Body, CreatedAt: now}}
	}
	if err := m.put(r.Context(), inc, 0); err != nil {
		return nil, api.Errorf(api.CodeUnavailable, "the incident could not be stored; retry")
	}
	return inc, nil
}

// Change updates an incident by hand: a new status or public update goes
// on its timeline too.
func (m *Monitor) Change(r *http.Request, id string, req IncidentRequest) (*api.Incident, error) {
	if err := check(req); err != nil {
		return nil, err
	}
	var out *api.Incident
	found := false
	m.update(r.Context(), id, func(inc *api.Incident) bool {
		found = true
		now := stamp(m.cfg.Now())
		if req.Name != "" {
			inc.Name = req.Name
		}
		if req.Severity != "" && req.Severity != inc.Severity {
			inc.Timeline = append(inc.Timeline, api.TimelineEntry{At: now, Kind: "note",
				Text: fmt.Sprintf("severity %s → %s", inc.Severity, req.Severity)})
			inc.Severity, inc.Impact = req.Severity, impactOf(req.Severity)
		}
		if req.Components != nil {
			inc.Components = req.Components
		}
		if req.Status != "" && req.Status != inc.Status {
			inc.Timeline = append(inc.Timeline, api.TimelineEntry{At: now, Kind: string(req.Status), Text: "status set by an operator"})
			inc.Status = req.Status
			if req.Status == api.IncidentResolved {
				inc.ResolvedAt = now
			}
		}
		if req.Body != "" {
			inc.Updates = append([]api.IncidentUpdate{{Status: inc.Status, Body: req.Body, CreatedAt: now}}, inc.Updates...)
		}
		if req.Postmortem != nil {
			inc.Postmortem = req.Postmortem
		}
		out = inc
		return true
	})
	if !found {
		return nil, api.Errorf(api.CodeNotFound, "no incident %q", id)
	}
	if out == nil {
		return nil, api.Errorf(api.CodeUnavailable, "the incident could not be updated; retry")
	}
	return out, nil
}

func (m *Monitor) incident(r *http.Request, id string) (*api.Incident, error) {
	e, err := m.cfg.Store.Status.Get(r.Context(), "incident."+id)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrInvalidKey) {
		return nil, api.Errorf(api.CodeNotFound, "no incident %q", id)
	}
	if err != nil {
		return nil, api.Errorf(api.CodeUnavailable, "incidents cannot be read now; retry")
	}
	var inc api.Incident
	if err := json.Unmarshal(e.Value(), &inc); err != nil {
		return nil, api.Errorf(api.CodeInternal, "the incident is unreadable")
	}
	return &inc, nil
}

func check(req IncidentRequest) error {
	if req.Severity != "" && !slices.Contains([]api.Severity{api.SEV1, api.SEV2, api.SEV3, api.SEV4}, req.Severity) {
		return api.Errorf(api.CodeInvalid, "severity is SEV1, SEV2, SEV3 or SEV4")
	}
	if req.Status != "" && !slices.Contains([]api.IncidentStatus{api.IncidentInvestigating, api.IncidentIdentified,
		api.IncidentMonitoring, api.IncidentResolved}, req.Status) {
		return api.Errorf(api.CodeInvalid, "status is investigating, identified, monitoring or resolved")
	}
	if len(req.Body) > 10_000 || len(req.Components) > 100 {
		return api.Errorf(api.CodeTooLarge, "the update is too long")
	}
	return nil
}

func impactOf(s api.Severity) string {
	switch s {
	case api.SEV1:
		return "critical"
	case api.SEV2:
		return "major"
	case api.SEV3:
		return "minor"
	}
	return "none"
}

// answer serves an operation without a body: f's result as JSON with
// status, or its error.
func answer(status int, f func(r *http.Request) (any, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, err := f(r)
		if err != nil {
			writeErr(w, err)
			return
		}
		writeJSON(w, status, v)
	})
}

// taking serves an operation whose body is a JSON Req, like answer.
func taking[Req any](status int, f func(r *http.Request, req Req) (any, error)) http.Handler {
	return answer(status, func(r *http.Request) (any, error) {
		var req Req
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		return f(r, req)
	})
}

func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return api.Errorf(api.CodeBadRequest, "the body is not the JSON object expected")
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, err error) {
	e := api.AsError(err)
	writeJSON(w, e.Code.HTTPStatus(), api.ErrorBody{Error: e})
}

// Markdown renders an incident's journal: what happened when, the public
// updates, and the postmortem.
func Markdown(inc *api.Incident, now time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n", inc.Name)
	end, state := now, "open"
	if inc.ResolvedAt != "" {
		end, state = parse(inc.ResolvedAt), "resolved "+human(inc.ResolvedAt)
	}
	fmt.Fprintf(&b, "- **Severity:** %s (impact %s)\n- **Status:** %s\n- **Opened:** %s%s\n- **Ended:** %s\n- **Duration:** %s\n- **Components:** %s\n- **Incident id:** `%s`\n\n",
		inc.Severity, inc.Impact, inc.Status, human(inc.CreatedAt), map[bool]string{true: " (automatically)", false: ""}[inc.Automatic],
		state, end.Sub(parse(inc.CreatedAt)).Round(time.Second), strings.Join(inc.Components, ", "), inc.ID)
	b.WriteString("## Timeline\n\n| time (UTC) | event | detail |\n|---|---|---|\n")
	for _, e := range inc.Timeline {
		detail := e.Text
		if len(e.Metrics) > 0 {
			var ms []string
			for k, v := range e.Metrics {
				ms = append(ms, fmt.Sprintf("%s=%.1f", k, v))
			}
			slices.Sort(ms)
			detail += " (" + strings.Join(ms, ", ") + ")"
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", human(e.At), e.Kind, cell(detail))
	}
	if len(inc.Updates) > 0 {
		b.WriteString("\n## Public updates\n\n")
		for i := len(inc.Updates) - 1; i >= 0; i-- {
			u := inc.Updates[i]
			fmt.Fprintf(&b, "- **%s**, %s: %s\n", u.Status, human(u.CreatedAt), u.Body)
		}
	}
	b.WriteString("\n## Postmortem\n\n")
	p := inc.Postmortem
	if p == nil {
		p = &api.Postmortem{}
	}
	field := func(title, v string) {
		if v == "" {
			v = "_to be written_"
		}
		fmt.Fprintf(&b, "### %s\n\n%s\n\n", title, v)
	}
	field("Summary", p.Summary)
	impact := fmt.Sprintf("%d minutes", p.ImpactMinutes)
	if p.ImpactMinutes == 0 {
		impact = fmt.Sprintf("%.0f minutes (opened to resolved)", end.Sub(parse(inc.CreatedAt)).Minutes())
	}
	field("Impact", fmt.Sprintf("%s; %d users and %d messages affected.", impact, p.UsersAffected, p.MessagesAffected))
	field("Root cause", p.RootCause)
	field("Trigger", p.Trigger)
	field("Resolution", p.Resolution)
	field("Detection", p.Detection)
	items := "_none yet_"
	if len(p.ActionItems) > 0 {
		items = "- " + strings.Join(p.ActionItems, "\n- ")
	}
	field("Action items", items)
	field("Lessons learned", p.LessonsLearned)
	return b.String()
}

func human(s string) string {
	if t := parse(s); !t.IsZero() {
		return t.UTC().Format("2006-01-02 15:04:05")
	}
	return s
}

// cell keeps text inside one Markdown table cell.
func cell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}
