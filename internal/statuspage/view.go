package statuspage

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/dandanchat/dandan/api"
)

// uptimeDays is how many days of history the page shows per component.
const uptimeDays = 90

// displayTime is how the page shows every time: UTC, to the minute, so that
// readers in different zones quote the same times to each other.
const displayTime = "2006-01-02 15:04 UTC"

// The view is what the template renders: every decision (classes, labels,
// formatting, filtering, order) is taken here in Go, and the template only
// lays it out.
type pageView struct {
	Title        string
	Indicator    string // CSS class: none, minor, major, critical, maintenance or unknown
	Description  string
	CutOff       bool
	Components   []componentView
	Incidents    []incidentView
	Maintenances []maintenanceView
	NodeName     string
	NodeDC       string
	UpdatedAt    string
	JSONPath     string
	FeedPath     string
}

type componentView struct {
	Name        string
	Description string
	State       string // CSS class, from the api.ComponentStatus
	Label       string
	Days        []dayView
	DaysLabel   string // "90 days ago"
	Uptime      string // "99.98%", empty without history
	UptimeLabel string // for screen readers, in place of the bars
}

type dayView struct {
	State string
	Tip   string
}

type incidentView struct {
	Name       string
	Severity   string
	Status     string
	Impact     string // CSS class
	Components string
	Started    string
	Updates    []updateView
	Timeline   []timelineView
}

type updateView struct {
	Status string
	Body   string
	At     string
}

type timelineView struct {
	Kind string
	At   string
	Text string
}

type maintenanceView struct {
	Name       string
	Status     string
	State      string // CSS class
	Window     string
	Components string
	Body       string
}

func (h *Handler) view(sp *api.StatusPage, base string) pageView {
	v := pageView{
		Title:       h.title,
		Indicator:   indicatorClass(sp.Status.Indicator),
		Description: sp.Status.Description,
		CutOff:      sp.Node.CutOff,
		NodeName:    sp.Node.Name,
		NodeDC:      sp.Node.DC,
		UpdatedAt:   showTime(sp.Page.UpdatedAt),
		JSONPath:    base + ".json",
		FeedPath:    base + "/feed.atom",
	}
	if v.Description == "" {
		v.Description = defaultDescription(v.Indicator)
	}
	if v.UpdatedAt == "" {
		v.UpdatedAt = h.now().UTC().Format(displayTime)
	}
	names := make(map[string]string, len(sp.Components))
	for _, c := range sp.Components {
		names[c.ID] = c.Name
		v.Components = append(v.Components, componentOf(c))
	}
	for _, in := range sp.Incidents {
		if in.Status == api.IncidentResolved {
			continue // the feed keeps those; the page shows what is going on
		}
		v.Incidents = append(v.Incidents, incidentOf(in, names))
	}
	for _, m := range sp.ScheduledMaintenances {
		v.Maintenances = append(v.Maintenances, maintenanceView{
			Name:       m.Name,
			Status:     maintenanceStatus(m.Status),
			State:      stateClass(api.StatusMaintenance),
			Window:     window(m.ScheduledFor, m.ScheduledUntil),
			Components: componentNames(m.Components, names),
			Body:       m.Body,
		})
	}
	return v
}

func componentOf(c api.Component) componentView {
	days := c.Uptime
	if len(days) > uptimeDays {
		days = days[len(days)-uptimeDays:]
	}
	cv := componentView{
		Name:        c.Name,
		Description: c.Description,
		State:       stateClass(c.Status),
		Label:       c.Status.Label(),
		Uptime:      uptimePercent(days),
	}
	for _, d := range days {
		cv.Days = append(cv.Days, dayView{State: stateClass(d.Worst), Tip: dayTip(d)})
	}
	if n := len(days); n > 0 {
		cv.DaysLabel = plural(n, "day") + " ago"
		cv.UptimeLabel = fmt.Sprintf("%s uptime over the last %s", cv.Uptime, plural(n, "day"))
	}
	return cv
}

// uptimePercent is the share of the days' minutes without outage, truncated
// (not rounded) to two decimals so that any outage at all shows below
// 100.00%. It computes in integers, so that truncation has no float error.
func uptimePercent(days []api.UptimeDay) string {
	if len(days) == 0 {
		return ""
	}
	total := int64(len(days)) * 1440
	var out int64
	for _, d := range days {
		out += int64(min(max(d.OutageMinutes, 0), 1440))
	}
	hundredths := (total - out) * 10000 / total // of a percent
	return fmt.Sprintf("%d.%02d%%", hundredths/100, hundredths%100)
}

func dayTip(d api.UptimeDay) string {
	switch {
	case d.OutageMinutes > 0:
		return fmt.Sprintf("%s: %s of outage", d.Date, plural(d.OutageMinutes, "minute"))
	case d.Worst == "" || d.Worst == api.StatusOperational:
		return d.Date + ": no outage"
	default:
		return d.Date + ": " + d.Worst.Label() + ", no outage"
	}
}

func incidentOf(in api.Incident, names map[string]string) incidentView {
	iv := incidentView{
		Name:       in.Name,
		Severity:   string(in.Severity),
		Status:     incidentStatus(in.Status),
		Impact:     indicatorClass(in.Impact),
		Components: componentNames(in.Components, names),
		Started:    showTime(in.CreatedAt),
	}
	// The api gives updates newest first and the timeline oldest first;
	// sorting (stably) keeps the page right if a producer does not.
	updates := slices.Clone(in.Updates)
	slices.SortStableFunc(updates, func(a, b api.IncidentUpdate) int {
		return parseTime(b.CreatedAt).Compare(parseTime(a.CreatedAt))
	})
	for _, u := range updates {
		iv.Updates = append(iv.Updates, updateView{Status: incidentStatus(u.Status), Body: u.Body, At: showTime(u.CreatedAt)})
	}
	timeline := slices.Clone(in.Timeline)
	slices.SortStableFunc(timeline, func(a, b api.TimelineEntry) int {
		return parseTime(a.At).Compare(parseTime(b.At))
	})
	for _, e := range timeline {
		iv.Timeline = append(iv.Timeline, timelineView{Kind: e.Kind, At: showTime(e.At), Text: e.Text})
	}
	return iv
}

// componentNames names the components by id, in the given order; an id the
// page does not list shows as itself rather than disappearing.
func componentNames(ids []string, names map[string]string) string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		out = append(out, cmp.Or(names[id], id))
	}
	return strings.Join(out, ", ")
}

// stateClass maps a component state to a CSS class. Only known states make
// classes: the data never reaches the stylesheet's vocabulary.
func stateClass(s api.ComponentStatus) string {
	switch s {
	case api.StatusOperational, api.StatusDegraded, api.StatusPartial, api.StatusMajor, api.StatusMaintenance:
		return string(s)
	}
	return "unknown"
}

// indicatorClass maps an overall indicator or an incident's impact to a CSS
// class.
func indicatorClass(s string) string {
	switch s {
	case "none", "minor", "major", "critical", "maintenance":
		return s
	}
	return "unknown"
}

func defaultDescription(indicator string) string {
	switch indicator {
	case "none":
		return "All systems operational"
	case "minor":
		return "Minor service disruption"
	case "major":
		return "Partial system outage"
	case "critical":
		return "Major system outage"
	case "maintenance":
		return "Service under maintenance"
	}
	return "Status unknown"
}

func incidentStatus(s api.IncidentStatus) string {
	switch s {
	case api.IncidentInvestigating:
		return "Investigating"
	case api.IncidentIdentified:
		return "Identified"
	case api.IncidentMonitoring:
		return "Monitoring"
	case api.IncidentResolved:
		return "Resolved"
	}
	return string(s)
}

func maintenanceStatus(s string) string {
	switch s {
	case "scheduled":
		return "Scheduled"
	case "in_progress":
		return "In progress"
	case "completed":
		return "Completed"
	}
	return s
}

// window shows a maintenance window, open-ended if it has no end.
func window(from, until string) string {
	switch {
	case until == "":
		return "From " + showTime(from)
	case from == "":
		return "Until " + showTime(until)
	}
	return showTime(from) + " – " + showTime(until)
}

// parseTime reads an RFC 3339 time; a time it cannot read is the zero time.
func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

// showTime formats an RFC 3339 time for the page; a time it cannot read is
// shown as given rather than hidden.
func showTime(s string) string {
	if s == "" {
		return ""
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return s
	}
	return t.UTC().Format(displayTime)
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}
