package statuspage

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dandanchat/dandan/api"
)

var fixtureNow = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

const (
	incidentName    = "Data centre dc1 unreachable"
	maintenanceName = "Storage upgrade in dc2"
	cutOffText      = "This site cannot reach the rest of the cluster: what it shows may be out of date. Try another site."
)

// fixtureComponents are the components of the fixture, with the labels the
// page must show for them.
var fixtureComponents = []struct {
	id, name string
	status   api.ComponentStatus
	label    string
}{
	{"messaging", "Messaging", api.StatusOperational, "Operational"},
	{"signin", "Sign-in", api.StatusDegraded, "Degraded performance"},
	{"history", "History", api.StatusOperational, "Operational"},
	{"dc1", "dc1", api.StatusMajor, "Major outage"},
	{"dc2", "dc2", api.StatusOperational, "Operational"},
	{"dc3", "dc3", api.StatusOperational, "Operational"},
}

// uptimeFixture is 90 days ending on fixtureNow's day, with a few bad days.
func uptimeFixture(bad map[int]api.UptimeDay) []api.UptimeDay {
	days := make([]api.UptimeDay, 90)
	for i := range days {
		d := fixtureNow.AddDate(0, 0, i-89).Format("2006-01-02")
		days[i] = api.UptimeDay{Date: d, Worst: api.StatusOperational}
		if b, ok := bad[i]; ok {
			days[i].Worst, days[i].OutageMinutes = b.Worst, b.OutageMinutes
		}
	}
	return days
}

// fixture is a page in the middle of an incident: dc1 is down.
func fixture() *api.StatusPage {
	ts := func(d time.Duration) string { return fixtureNow.Add(d).Format(time.RFC3339) }
	bad := map[string]map[int]api.UptimeDay{
		"messaging": {40: {Worst: api.StatusPartial, OutageMinutes: 12}},
		"signin":    {10: {Worst: api.StatusDegraded}, 89: {Worst: api.StatusDegraded}},
		"history":   {},
		"dc1":       {5: {Worst: api.StatusMaintenance}, 60: {Worst: api.StatusPartial, OutageMinutes: 45}, 89: {Worst: api.StatusMajor, OutageMinutes: 95}},
		"dc2":       {},
		"dc3":       {72: {Worst: api.StatusMajor, OutageMinutes: 1440}},
	}
	sp := &api.StatusPage{
		Page:   api.StatusPageInfo{Name: "dandan", URL: "https://chat.example.org/status", UpdatedAt: ts(0)},
		Status: api.StatusSummary{Indicator: "critical", Description: "Major outage in one data centre"},
		Node:   api.StatusNode{Name: "node-2", DC: "dc2"},
		Incidents: []api.Incident{{
			ID: "inc-7", Name: incidentName, Status: api.IncidentInvestigating, Severity: api.SEV1,
			Impact: "critical", Automatic: true, Components: []string{"dc1", "messaging"},
			CreatedAt: ts(-95 * time.Minute), UpdatedAt: ts(-20 * time.Minute),
			Updates: []api.IncidentUpdate{
				{Status: api.IncidentInvestigating, Body: "Messages fail over to dc2 and dc3; some clients reconnect.", CreatedAt: ts(-20 * time.Minute)},
				{Status: api.IncidentInvestigating, Body: "We are investigating why dc1 is unreachable.", CreatedAt: ts(-90 * time.Minute)},
			},
			Timeline: []api.TimelineEntry{
				{At: ts(-95 * time.Minute), Kind: "detected", Text: "dc1 stopped answering health probes"},
				{At: ts(-93 * time.Minute), Kind: "failover", Text: "Stream leaders moved to dc2 and dc3"},
				{At: ts(-60 * time.Minute), Kind: "note", Text: "Provider confirms a network fault at dc1"},
			},
		}},
		ScheduledMaintenances: []api.Maintenance{{
			ID: "m-3", Name: maintenanceName, Status: "scheduled",
			ScheduledFor: ts(38 * time.Hour), ScheduledUntil: ts(40 * time.Hour),
			Components: []string{"dc2"}, Body: "Disks are replaced one node at a time; no downtime is expected.",
		}},
	}
	for _, c := range fixtureComponents {
		sp.Components = append(sp.Components, api.Component{
			ID: c.id, Name: c.name, Status: c.status, UpdatedAt: ts(-time.Hour), Uptime: uptimeFixture(bad[c.id]),
		})
	}
	return sp
}

func newHandler(sp *api.StatusPage) *Handler {
	return New(func(context.Context) (*api.StatusPage, error) { return sp, nil }, Options{Now: func() time.Time { return fixtureNow }})
}

func get(t *testing.T, h http.Handler, method, path string) (*http.Response, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	res := rec.Result()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(b)
}

func getPage(t *testing.T, sp *api.StatusPage) string {
	t.Helper()
	res, body := get(t, newHandler(sp), http.MethodGet, "/status")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /status: %d %s", res.StatusCode, body)
	}
	return body
}

func TestPageContent(t *testing.T) {
	res, body := get(t, newHandler(fixture()), http.MethodGet, "/status")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d", res.StatusCode)
	}
	for k, want := range map[string]string{
		"Content-Type":            "text/html; charset=utf-8",
		"Cache-Control":           "no-store",
		"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
	} {
		if got := res.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	// Each component's row holds its name and its label, in that order.
	for _, c := range fixtureComponents {
		row := regexp.MustCompile(`<span class="name">` + regexp.QuoteMeta(c.name) + `</span>\s*<span class="state ` + string(c.status) + `">.*?<span class="label">` + regexp.QuoteMeta(c.label) + `</span>`)
		if !row.MatchString(body) {
			t.Errorf("no row for %s with label %q", c.name, c.label)
		}
	}
	for _, want := range []string{
		"<title>dandan status</title>",
		"Major outage in one data centre",
		`class="notice banner critical"`,
		incidentName,
		"SEV1",
		"Investigating",
		"Affects: dc1, Messaging",
		"Stream leaders moved to dc2 and dc3",
		"<summary>Timeline</summary>",
		maintenanceName,
		"2026-11-22 02:00 UTC – 2026-11-22 04:00 UTC",
		"Affects: dc2",
		"Answered by node <strong>node-2</strong> in data centre <strong>dc2</strong>",
		"Updated 2026-11-20 12:00 UTC",
		`<html lang="en">`,
		`<meta name="viewport" content="width=device-width, initial-scale=1">`,
		`<meta http-equiv="refresh" content="30">`,
		`href="/status.json"`,
		`href="/status/feed.atom"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(body, cutOffText) {
		t.Error("cut-off banner shown while the node is not cut off")
	}
}

func TestPageOrder(t *testing.T) {
	body := getPage(t, fixture())
	before := func(a, b string) {
		t.Helper()
		i, j := strings.Index(body, a), strings.Index(body, b)
		if i < 0 || j < 0 || i > j {
			t.Errorf("%q (at %d) should come before %q (at %d)", a, i, b, j)
		}
	}
	// Updates newest first, the timeline oldest first: shuffle both to show
	// that the page orders them itself.
	sp := fixture()
	in := &sp.Incidents[0]
	in.Updates[0], in.Updates[1] = in.Updates[1], in.Updates[0]
	in.Timeline[0], in.Timeline[2] = in.Timeline[2], in.Timeline[0]
	for _, b := range []string{body, getPage(t, sp)} {
		body = b
		before("Messages fail over to dc2 and dc3", "We are investigating why dc1")
		before("dc1 stopped answering health probes", "Stream leaders moved")
		before("Stream leaders moved", "Provider confirms")
		before(`id="components"`, `id="incidents"`)
		before(`id="incidents"`, `id="maintenance"`)
	}
}

func TestCutOffBanner(t *testing.T) {
	sp := fixture()
	sp.Node.CutOff = true
	body := getPage(t, sp)
	i := strings.Index(body, cutOffText)
	if i < 0 {
		t.Fatal("no cut-off banner on a cut-off node")
	}
	if j := strings.Index(body, `id="components"`); i > j {
		t.Error("the cut-off banner is below the components")
	}
}

func TestUptimeBars(t *testing.T) {
	body := getPage(t, fixture())
	if n := strings.Count(body, `<span class="bar `); n != 6*90 {
		t.Errorf("%d uptime bars, want %d", n, 6*90)
	}
	for _, want := range []string{
		`<span class="bar partial_outage" title="2026-10-02: 12 minutes of outage">`,
		`<span class="bar major_outage" title="2026-11-20: 95 minutes of outage">`,
		`<span class="bar degraded_performance" title="2026-09-02: Degraded performance, no outage">`,
		`<span class="bar operational" title="2026-08-23: no outage">`,
		"99.99% uptime", // messaging: 12 minutes in 90 days
		"98.88% uptime", // dc3: one whole day out of 90 (98.888…, truncated)
		"100.00% uptime",
		`aria-label="99.99% uptime over the last 90 days"`,
		"90 days ago",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// The oldest day is on the left.
	if i, j := strings.Index(body, `title="2026-08-23: `), strings.Index(body, `title="2026-11-20: `); i > j {
		t.Error("uptime bars are not oldest first")
	}

	// Fewer days than 90: render what is given; more: the last 90.
	sp := fixture()
	sp.Components = sp.Components[:2]
	sp.Components[0].Uptime = sp.Components[0].Uptime[87:]
	sp.Components[1].Uptime = append(uptimeFixture(nil), uptimeFixture(nil)...)
	body = getPage(t, sp)
	if n := strings.Count(body, `<span class="bar `); n != 3+90 {
		t.Errorf("%d uptime bars, want %d", n, 3+90)
	}
	if !strings.Contains(body, "3 days ago") {
		t.Error("a 3-day history is not labelled as such")
	}
}

func TestUptimePercent(t *testing.T) {
	days := func(minutes ...int) []api.UptimeDay {
		var d []api.UptimeDay
		for _, m := range minutes {
			d = append(d, api.UptimeDay{OutageMinutes: m})
		}
		return d
	}
	ninety := func(m int) []api.UptimeDay {
		d := make([]api.UptimeDay, 90)
		d[0].OutageMinutes = m
		return d
	}
	for _, tc := range []struct {
		days []api.UptimeDay
		want string
	}{
		{nil, ""},
		{days(0), "100.00%"},
		{days(1440), "0.00%"},
		{days(720), "50.00%"},
		{days(720, 0), "75.00%"},
		{days(1440, 1440, 0), "33.33%"},
		{days(1440, 0, 0), "66.66%"}, // 66.666…: truncated, never rounded up
		{ninety(12), "99.99%"},       // 100 − 12/129600 = 99.9907…
		{ninety(1), "99.99%"},        // any outage shows below 100.00%
		{ninety(1296), "99.00%"},     // exactly 1%
		{ninety(0), "100.00%"},
		{days(-5, 3000), "50.00%"}, // nonsense is clamped to a day
	} {
		if got := uptimePercent(tc.days); got != tc.want {
			t.Errorf("uptimePercent(%v) = %q, want %q", tc.days, got, tc.want)
		}
	}
}

func TestPageEscapes(t *testing.T) {
	sp := fixture()
	sp.Incidents[0].Name = "<script>alert(1)</script>"
	sp.Incidents[0].Updates[0].Body = `"><img src=x onerror=alert(2)>`
	sp.Components[0].Name = "<b>Messaging</b>"
	sp.Status.Description = "<i>bad</i>"
	body := getPage(t, sp)
	for _, bad := range []string{"<script", "<img", "<b>Messaging", "<i>bad"} {
		if strings.Contains(body, bad) {
			t.Errorf("page contains unescaped %q", bad)
		}
	}
	for _, want := range []string{"&lt;script&gt;alert(1)&lt;/script&gt;", "&lt;img src=x onerror=alert(2)&gt;", "&lt;b&gt;Messaging&lt;/b&gt;"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks escaped %q", want)
		}
	}
}

// TestPageSelfContained checks that the page loads nothing: no script, no
// stylesheet, font or image from anywhere, and no absolute URL at all (the
// fixture's data holds none on the page).
func TestPageSelfContained(t *testing.T) {
	body := strings.ToLower(getPage(t, fixture()))
	for _, bad := range []string{"<script", "<link", "<img", "<iframe", "<object", "<embed", "<source", "<svg", "@import", "url(", "src=", "http://", "https://", "//fonts", "@font-face"} {
		if strings.Contains(body, bad) {
			t.Errorf("page contains %q", bad)
		}
	}
}

func TestResolvedIncidentsOnlyInFeed(t *testing.T) {
	sp := fixture()
	sp.Incidents = append(sp.Incidents, api.Incident{
		ID: "inc-6", Name: "Slow sign-in last week", Status: api.IncidentResolved, Severity: api.SEV3,
		Updates: []api.IncidentUpdate{
			{Status: api.IncidentResolved, Body: "Fixed.", CreatedAt: "2026-11-13T10:00:00Z"},
			{Status: api.IncidentMonitoring, Body: "A fix is out.", CreatedAt: "2026-11-13T09:30:00Z"},
			{Status: api.IncidentInvestigating, Body: "Sign-in is slow.", CreatedAt: "2026-11-13T09:00:00Z"},
		},
	})
	if body := getPage(t, sp); strings.Contains(body, "Slow sign-in last week") {
		t.Error("a resolved incident is listed under current incidents")
	}
	f := getFeed(t, sp)
	if len(f.Entries) != 2+3 {
		t.Fatalf("%d feed entries, want 5", len(f.Entries))
	}
	var found bool
	for _, e := range f.Entries {
		if e.ID == "tag:dandan,2026:incident/inc-6/3" {
			found = true
			if e.Title != "Slow sign-in last week: Resolved" || e.Content.Body != "Fixed." || e.Updated != "2026-11-13T10:00:00Z" {
				t.Errorf("entry %+v", e)
			}
		}
	}
	if !found {
		t.Error("the resolved incident's last update is not in the feed")
	}
}

func TestNoIncidents(t *testing.T) {
	sp := fixture()
	sp.Incidents, sp.ScheduledMaintenances = nil, nil
	sp.Status = api.StatusSummary{Indicator: "none"}
	body := getPage(t, sp)
	for _, want := range []string{"No current incidents.", "No maintenance is scheduled.", "All systems operational", `class="notice banner none"`} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

func TestTimesInUTC(t *testing.T) {
	sp := fixture()
	sp.Page.UpdatedAt = "2026-11-20T14:30:00+02:00"
	if body := getPage(t, sp); !strings.Contains(body, "Updated 2026-11-20 12:30 UTC") {
		t.Error("times are not shown in UTC")
	}
}

func TestJSON(t *testing.T) {
	want := fixture()
	res, body := get(t, newHandler(want), http.MethodGet, "/status.json")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d", res.StatusCode)
	}
	for k, v := range map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store", "Access-Control-Allow-Origin": "*"} {
		if got := res.Header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	var got api.StatusPage
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&got, want) {
		t.Errorf("JSON round trip differs:\n got %+v\nwant %+v", got, *want)
	}
}

// feedDoc is the feed as a reader sees it, independent of the package's own
// types.
type feedDoc struct {
	XMLName xml.Name `xml:"http://www.w3.org/2005/Atom feed"`
	ID      string   `xml:"id"`
	Title   string   `xml:"title"`
	Updated string   `xml:"updated"`
	Author  string   `xml:"author>name"`
	Links   []struct {
		Rel  string `xml:"rel,attr"`
		Href string `xml:"href,attr"`
	} `xml:"link"`
	Entries []struct {
		ID      string `xml:"id"`
		Title   string `xml:"title"`
		Updated string `xml:"updated"`
		Content struct {
			Type string `xml:"type,attr"`
			Body string `xml:",chardata"`
		} `xml:"content"`
	} `xml:"entry"`
}

func getFeed(t *testing.T, sp *api.StatusPage) feedDoc {
	t.Helper()
	res, body := get(t, newHandler(sp), http.MethodGet, "/status/feed.atom")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d", res.StatusCode)
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/atom+xml; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	var f feedDoc
	if err := xml.Unmarshal([]byte(body), &f); err != nil {
		t.Fatalf("feed does not parse: %v\n%s", err, body)
	}
	return f
}

func TestFeed(t *testing.T) {
	sp := fixture()
	sp.Incidents[0].Name = "dc1 <down> & out"
	f := getFeed(t, sp)
	if f.ID == "" || f.Title != "dandan status" || f.Author == "" || f.Updated != "2026-11-20T12:00:00Z" {
		t.Errorf("feed head: id %q title %q author %q updated %q", f.ID, f.Title, f.Author, f.Updated)
	}
	links := map[string]string{}
	for _, l := range f.Links {
		links[l.Rel] = l.Href
	}
	if links["self"] != "/status/feed.atom" || links["alternate"] != "/status" {
		t.Errorf("links %v", links)
	}
	if len(f.Entries) != 2 {
		t.Fatalf("%d entries, want one per update (2)", len(f.Entries))
	}
	// Newest first; numbered from the oldest update, so ids are stable.
	e := f.Entries[0]
	if e.ID != "tag:dandan,2026:incident/inc-7/2" || e.Title != "dc1 <down> & out: Investigating" ||
		e.Updated != "2026-11-20T11:40:00Z" || e.Content.Type != "text" ||
		e.Content.Body != "Messages fail over to dc2 and dc3; some clients reconnect." {
		t.Errorf("first entry %+v", e)
	}
	if e := f.Entries[1]; e.ID != "tag:dandan,2026:incident/inc-7/1" || e.Updated != "2026-11-20T10:30:00Z" {
		t.Errorf("second entry %+v", e)
	}
}

func TestSourceError(t *testing.T) {
	for name, src := range map[string]Source{
		"error":    func(context.Context) (*api.StatusPage, error) { return nil, errors.New("engine: boom") },
		"nil page": func(context.Context) (*api.StatusPage, error) { return nil, nil },
	} {
		for _, path := range []string{"/status", "/status.json", "/status/feed.atom"} {
			t.Run(fmt.Sprintf("%s %s", name, path), func(t *testing.T) {
				res, body := get(t, New(src, Options{}), http.MethodGet, path)
				if res.StatusCode != http.StatusServiceUnavailable {
					t.Errorf("status %d, want 503", res.StatusCode)
				}
				if !strings.HasPrefix(res.Header.Get("Content-Type"), "text/plain") || strings.Contains(body, "boom") || body == "" {
					t.Errorf("body %q (%s)", body, res.Header.Get("Content-Type"))
				}
			})
		}
	}
}

func TestMethods(t *testing.T) {
	h := newHandler(fixture())
	for _, path := range []string{"/status", "/status/", "/status.json", "/status/feed.atom"} {
		for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
			if res, _ := get(t, h, m, path); res.StatusCode != http.StatusMethodNotAllowed || res.Header.Get("Allow") != "GET, HEAD" {
				t.Errorf("%s %s: %d, Allow %q", m, path, res.StatusCode, res.Header.Get("Allow"))
			}
		}
		if res, _ := get(t, h, http.MethodHead, path); res.StatusCode != http.StatusOK {
			t.Errorf("HEAD %s: %d", path, res.StatusCode)
		}
	}
}

func TestRouting(t *testing.T) {
	h := newHandler(fixture())
	for path, ct := range map[string]string{
		"/status":                  "text/html; charset=utf-8",
		"/status/":                 "text/html; charset=utf-8",
		"/status.json":             "application/json",
		"/status/feed.atom":        "application/atom+xml; charset=utf-8",
		"/public/status":           "text/html; charset=utf-8",
		"/public/status/feed.atom": "application/atom+xml; charset=utf-8",
	} {
		res, _ := get(t, h, http.MethodGet, path)
		if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != ct {
			t.Errorf("GET %s: %d %s, want %s", path, res.StatusCode, res.Header.Get("Content-Type"), ct)
		}
	}
	for _, path := range []string{"/", "/statuses", "/status/other", "/status.xml"} {
		if res, _ := get(t, h, http.MethodGet, path); res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, res.StatusCode)
		}
	}
	// Links follow the mount point, also from /status/.
	_, body := get(t, h, http.MethodGet, "/public/status/")
	if !strings.Contains(body, `href="/public/status.json"`) || !strings.Contains(body, `href="/public/status/feed.atom"`) {
		t.Error("links do not follow the mount point")
	}
}
