package api

// The status page's JSON (GET /status.json) is shaped like the summary of
// the well-known hosted status pages, so that tools that read those read
// dandan's too: page, components, incidents, scheduled_maintenances and an
// overall status indicator.

// ComponentStatus is the state of one component.
type ComponentStatus string

// The component states, best first.
const (
	StatusOperational ComponentStatus = "operational"
	StatusDegraded    ComponentStatus = "degraded_performance"
	StatusPartial     ComponentStatus = "partial_outage"
	StatusMajor       ComponentStatus = "major_outage"
	StatusMaintenance ComponentStatus = "under_maintenance"
)

// Label is the state as people read it.
func (s ComponentStatus) Label() string {
	switch s {
	case StatusOperational:
		return "Operational"
	case StatusDegraded:
		return "Degraded performance"
	case StatusPartial:
		return "Partial outage"
	case StatusMajor:
		return "Major outage"
	case StatusMaintenance:
		return "Under maintenance"
	}
	return "Unknown"
}

// Rank orders states from best (0) to worst; maintenance ranks between
// degraded and partial outage.
func (s ComponentStatus) Rank() int {
	switch s {
	case StatusOperational:
		return 0
	case StatusDegraded:
		return 1
	case StatusMaintenance:
		return 2
	case StatusPartial:
		return 3
	case StatusMajor:
		return 4
	}
	return 5
}

// IncidentStatus is where an incident stands.
type IncidentStatus string

// The incident states, in their usual order.
const (
	IncidentInvestigating IncidentStatus = "investigating"
	IncidentIdentified    IncidentStatus = "identified"
	IncidentMonitoring    IncidentStatus = "monitoring"
	IncidentResolved      IncidentStatus = "resolved"
)

// Severity is an incident's severity, SEV1 (worst) to SEV4.
type Severity string

// The severities.
const (
	SEV1 Severity = "SEV1" // a major outage: messaging or a whole site down
	SEV2 Severity = "SEV2" // a partial outage
	SEV3 Severity = "SEV3" // degraded performance
	SEV4 Severity = "SEV4" // minor, no user impact
)

// StatusPage is the body of GET /status.json.
type StatusPage struct {
	Page                  StatusPageInfo `json:"page"`
	Status                StatusSummary  `json:"status"`
	Components            []Component    `json:"components"`
	Incidents             []Incident     `json:"incidents"`              // unresolved
	ScheduledMaintenances []Maintenance  `json:"scheduled_maintenances"` // upcoming or in progress
	// Node is the node that answered and what it can see: a node cut off
	// from its cluster's majority says so, and its page may be stale.
	Node StatusNode `json:"node"`
}

// StatusPageInfo describes the page.
type StatusPageInfo struct {
	Name      string `json:"name"`
	URL       string `json:"url"`
	UpdatedAt string `json:"updated_at"` // RFC 3339
}

// StatusSummary is the overall state: indicator none, minor, major or
// critical, and a sentence.
type StatusSummary struct {
	Indicator   string `json:"indicator"`
	Description string `json:"description"`
}

// StatusNode is the answering node's own view.
type StatusNode struct {
	Name   string `json:"name"`
	DC     string `json:"dc,omitempty"`
	CutOff bool   `json:"cut_off"` // cannot reach the cluster's majority: what it shows may be out of date
}

// Component is one part of the service as users see it: messaging, sign-in,
// history, or one data centre.
type Component struct {
	ID          string          `json:"id"`
	Name        string          `json:"name"`
	Status      ComponentStatus `json:"status"`
	Description string          `json:"description,omitempty"`
	UpdatedAt   string          `json:"updated_at"`
	// Uptime is the last days' history, oldest first: one entry per day.
	Uptime []UptimeDay `json:"uptime,omitempty"`
}

// UptimeDay is one day of a component's history.
type UptimeDay struct {
	Date          string          `json:"date"`           // YYYY-MM-DD, UTC
	Worst         ComponentStatus `json:"worst"`          // the worst state that day
	OutageMinutes int             `json:"outage_minutes"` // minutes in partial or major outage
}

// Incident is an incident, opened automatically or by an operator.
type Incident struct {
	ID         string           `json:"id"`
	Name       string           `json:"name"`
	Status     IncidentStatus   `json:"status"`
	Severity   Severity         `json:"severity"`
	Impact     string           `json:"impact"` // none, minor, major, critical (as hosted status pages say)
	Automatic  bool             `json:"automatic"`
	Components []string         `json:"components"` // component ids
	CreatedAt  string           `json:"created_at"`
	UpdatedAt  string           `json:"updated_at"`
	ResolvedAt string           `json:"resolved_at,omitempty"`
	Updates    []IncidentUpdate `json:"incident_updates"` // newest first
	Timeline   []TimelineEntry  `json:"timeline"`         // oldest first
	Postmortem *Postmortem      `json:"postmortem,omitempty"`
}

// IncidentUpdate is a public update of an incident.
type IncidentUpdate struct {
	Status    IncidentStatus `json:"status"`
	Body      string         `json:"body"`
	CreatedAt string         `json:"created_at"`
}

// TimelineEntry is one step of an incident's journal.
type TimelineEntry struct {
	At      string             `json:"at"`
	Kind    string             `json:"kind"`            // detected, opened, degraded, failover, recovered, resolved, note, or a status set by an operator
	State   ComponentStatus    `json:"state,omitempty"` // the component's state from then on, when the entry changes it
	Text    string             `json:"text"`
	Metrics map[string]float64 `json:"metrics,omitempty"` // a snapshot at that moment
}

// Postmortem is an incident's retrospective.
type Postmortem struct {
	Summary          string   `json:"summary,omitempty"`
	ImpactMinutes    int      `json:"impact_minutes,omitempty"`
	UsersAffected    int      `json:"users_affected,omitempty"`
	MessagesAffected int      `json:"messages_affected,omitempty"`
	RootCause        string   `json:"root_cause,omitempty"`
	Trigger          string   `json:"trigger,omitempty"`
	Resolution       string   `json:"resolution,omitempty"`
	Detection        string   `json:"detection,omitempty"`
	ActionItems      []string `json:"action_items,omitempty"`
	LessonsLearned   string   `json:"lessons_learned,omitempty"`
}

// Maintenance is a scheduled maintenance window.
type Maintenance struct {
	ID             string   `json:"id"`
	Name           string   `json:"name"`
	Status         string   `json:"status"` // scheduled, in_progress, completed
	ScheduledFor   string   `json:"scheduled_for"`
	ScheduledUntil string   `json:"scheduled_until"`
	Components     []string `json:"components"`
	Body           string   `json:"body,omitempty"`
}

// Subscriber is told about every incident opened, updated or resolved: by
// a webhook (a signed JSON POST) or by email. Secret, the key of the
// webhook's signature, is shown only when the subscriber is created.
type Subscriber struct {
	ID         string   `json:"id"`
	Webhook    string   `json:"webhook,omitempty"`
	Email      string   `json:"email,omitempty"`
	Secret     string   `json:"secret,omitempty"`
	Components []string `json:"components,omitempty"` // only incidents touching these; none = every incident
	CreatedAt  string   `json:"created_at"`
}

// Events of a Notification.
const (
	NotifyOpened   = "incident.opened"
	NotifyUpdated  = "incident.updated"
	NotifyResolved = "incident.resolved"
	NotifyTest     = "test" // sent on an operator's request, about nothing
)

// Notification is the body of a webhook delivery (event NotifyOpened,
// NotifyUpdated, NotifyResolved or NotifyTest).
type Notification struct {
	ID       string   `json:"id"` // the same on every retry of one delivery
	Event    string   `json:"event"`
	Incident Incident `json:"incident"`
	PageURL  string   `json:"page_url,omitempty"`
	SentAt   string   `json:"sent_at"`
}

// Probe is the latest canary of one node: a message sent through the real
// send path into the node's own canary room, and seen coming back through
// the live delivery path. Nodes keep theirs in the replicated status
// bucket, so every node judges the service from every site's probes.
type Probe struct {
	Node      string  `json:"node"`
	DC        string  `json:"dc,omitempty"`
	At        string  `json:"at"`
	EverySec  float64 `json:"every_s"` // the canary's period
	OK        bool    `json:"ok"`
	Failures  int     `json:"failures,omitempty"` // consecutive failed canaries, this one included
	SendMS    float64 `json:"send_ms"`            // until the acknowledgement (stored on a quorum)
	DeliverMS float64 `json:"deliver_ms"`         // until the live delivery path saw it
	Error     string  `json:"error,omitempty"`
}
