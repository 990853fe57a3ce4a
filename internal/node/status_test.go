package node_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dandanchat/dandan/api"
	"github.com/dandanchat/dandan/client"
	"github.com/dandanchat/dandan/internal/config"
	"github.com/dandanchat/dandan/internal/testnode"
	"github.com/gorilla/websocket"
)

// statusOf reads a node's /status.json; ok is false if it did not answer 200.
func statusOf(n *testnode.Node) (*api.StatusPage, bool) {
	c := &http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get("http://" + n.Config.HTTP + "/status.json")
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

func componentState(p *api.StatusPage, id string) api.ComponentStatus {
	for _, c := range p.Components {
		if c.ID == id {
			return c.Status
		}
	}
	return ""
}

func incidentFor(p *api.StatusPage, component string) *api.Incident {
	for i := range p.Incidents {
		if slices.Contains(p.Incidents[i].Components, component) {
			return &p.Incidents[i]
		}
	}
	return nil
}

func kinds(inc *api.Incident) []string {
	var out []string
	for _, e := range inc.Timeline {
		out = append(out, e.Kind)
	}
	return out
}

// TestStatusFollowsADataCentre stops a data centre of a 3-DC cluster: the
// surviving nodes' status pages answer throughout, show the data centre
// down, and an incident opens by itself within 10 s, once; when the data
// centre is back, the incident resolves by itself with its whole timeline.
func TestStatusFollowsADataCentre(t *testing.T) {
	const token = "operator-token-0123456789abcdef"
	nodes := testnode.StartCluster(t, 3, func(c *config.Config) { c.AdminToken = token })
	survivors := []*testnode.Node{nodes[0], nodes[2]}
	// A webhook subscriber: every node announces what it sees, and it
	// must hear of each change once.
	var (
		mu     sync.Mutex
		events []string
	)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var note api.Notification
		_ = json.NewDecoder(r.Body).Decode(&note)
		mu.Lock()
		events = append(events, note.Event+" "+string(note.Incident.Status))
		mu.Unlock()
	}))
	defer hook.Close()
	if st := adminCaller(t, "http://"+nodes[2].Config.HTTP, token)("POST", "/v1/admin/subscribers",
		`{"webhook":"`+hook.URL+`","components":["dc:dc2"]}`, nil); st != http.StatusCreated {
		t.Fatalf("subscribe: %d", st)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		p, ok := statusOf(nodes[0])
		if ok && componentState(p, "dc:dc2") == api.StatusOperational && componentState(p, "dc:dc3") == api.StatusOperational {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dc1's status never showed the three data centres operational: %+v", p)
		}
		time.Sleep(200 * time.Millisecond)
	}

	nodes[1].Stop(t)
	stopped := time.Now()
	var opened time.Time
	var inc *api.Incident
	for opened.IsZero() {
		for _, n := range survivors {
			p, ok := statusOf(n)
			if !ok {
				t.Fatalf("%s's status page did not answer %.1f s after dc2 stopped", n.Config.Node, time.Since(stopped).Seconds())
			}
			if i := incidentFor(p, "dc:dc2"); i != nil && i.Status != api.IncidentResolved && opened.IsZero() {
				opened, inc = time.Now(), i
				if componentState(p, "dc:dc2") != api.StatusMajor {
					t.Errorf("dc2 is %q on %s's page, want major_outage", componentState(p, "dc:dc2"), n.Config.Node)
				}
			}
		}
		if time.Since(stopped) > 20*time.Second {
			t.Fatal("no incident opened for dc2 within 20 s")
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("incident %q opened %.1f s after dc2 stopped", inc.Name, opened.Sub(stopped).Seconds())
	if d := opened.Sub(stopped); d > 10*time.Second {
		t.Errorf("the incident opened %v after the data centre stopped, want within 10 s", d)
	}
	if inc.Severity != api.SEV1 || !inc.Automatic || !slices.Contains(kinds(inc), "detected") {
		t.Errorf("incident %+v: want an automatic SEV1 with a detected entry", inc)
	}
	// Both survivors show the same incident: it was opened once.
	for _, n := range survivors {
		deadline := time.Now().Add(5 * time.Second)
		for {
			p, _ := statusOf(n)
			var ids []string
			for _, i := range p.Incidents {
				if slices.Contains(i.Components, "dc:dc2") {
					ids = append(ids, i.ID)
				}
			}
			if len(ids) == 1 && ids[0] == inc.ID {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s shows incidents %v for dc2, want exactly %s", n.Config.Node, ids, inc.ID)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	nodes[1].Restart(t)
	restarted := time.Now()
	for {
		p, ok := statusOf(nodes[0])
		if ok {
			if i := incidentFor(p, "dc:dc2"); i != nil && i.Status == api.IncidentResolved {
				t.Logf("resolved %.1f s after dc2 came back; timeline %v", time.Since(restarted).Seconds(), kinds(i))
				for _, k := range []string{"detected", "opened", "failover", "recovered", "resolved"} {
					if !slices.Contains(kinds(i), k) {
						t.Errorf("the timeline %v lacks %q", kinds(i), k)
					}
				}
				if componentState(p, "dc:dc2") != api.StatusOperational {
					t.Errorf("dc2 is %q after recovery", componentState(p, "dc:dc2"))
				}
				checkAnnounced(t, func() []string { mu.Lock(); defer mu.Unlock(); return slices.Clone(events) })
				return
			}
		}
		if time.Since(restarted) > 45*time.Second {
			t.Fatal("the incident did not resolve within 45 s of dc2's return")
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// checkAnnounced waits for the subscriber to hear of the resolution and
// checks it heard of every change of the data centre's incident once:
// opened, the failover (an update), resolved.
func checkAnnounced(t *testing.T, events func() []string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !slices.Contains(events(), "incident.resolved resolved") && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(time.Second) // a duplicate would come now
	want := []string{"incident.opened investigating", "incident.updated identified", "incident.resolved resolved"}
	if got := events(); !slices.Equal(got, want) {
		t.Errorf("the webhook heard %q, want %q", got, want)
	}
}

// TestOperatorIncidents: an operator opens an incident, updates it through
// its states, writes its postmortem and exports its journal; the status
// page shows it while open; the API refuses a wrong token.
func TestOperatorIncidents(t *testing.T) {
	const token = "operator-token-0123456789abcdef"
	n := testnode.Start(t, func(c *config.Config) { c.AdminToken = token })
	base := "http://" + n.Config.HTTP
	call := func(method, path, tok, body string, out any) int {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if out != nil {
			if s, ok := out.(*string); ok {
				b, _ := io.ReadAll(resp.Body)
				*s = string(b)
			} else {
				_ = json.NewDecoder(resp.Body).Decode(out)
			}
		}
		return resp.StatusCode
	}
	if st := call("GET", "/v1/admin/incidents", "wrong-token", "", nil); st != http.StatusUnauthorized {
		t.Fatalf("a wrong token got %d", st)
	}
	var inc api.Incident
	if st := call("POST", "/v1/admin/incidents", token,
		`{"name":"Slow sign-in","severity":"SEV2","components":["signin"],"body":"Sign-in is slow; we are looking into it."}`, &inc); st != http.StatusCreated {
		t.Fatalf("create: %d", st)
	}
	if inc.Status != api.IncidentInvestigating || inc.Severity != api.SEV2 || inc.Automatic {
		t.Errorf("created %+v", inc)
	}
	if st := call("POST", "/v1/admin/incidents", token, `{"name":"x","severity":"SEV9"}`, nil); st != http.StatusBadRequest {
		t.Errorf("a bad severity got %d", st)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		p, ok := statusOf(n)
		if ok && incidentFor(p, "signin") != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the operator's incident is not on the status page")
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, step := range []string{
		`{"status":"identified","body":"A slow disk on one node."}`,
		`{"status":"monitoring","body":"The node was replaced."}`,
		`{"status":"resolved","body":"Sign-in is fast again.","postmortem":{"summary":"A failing disk slowed password checks.","root_cause":"Disk wear.","action_items":["Alert on disk latency"]}}`,
	} {
		if st := call("PATCH", "/v1/admin/incidents/"+inc.ID, token, step, &inc); st != http.StatusOK {
			t.Fatalf("update %s: %d", step, st)
		}
	}
	if inc.Status != api.IncidentResolved || inc.ResolvedAt == "" || len(inc.Updates) != 4 || inc.Updates[0].Body != "Sign-in is fast again." {
		t.Errorf("after the updates: %+v", inc)
	}
	if st := call("PATCH", "/v1/admin/incidents/i-none", token, `{"status":"resolved"}`, nil); st != http.StatusNotFound {
		t.Errorf("updating a missing incident got %d", st)
	}
	var md string
	if st := call("GET", "/v1/admin/incidents/"+inc.ID+"/export", token, "", &md); st != http.StatusOK {
		t.Fatalf("export: %d", st)
	}
	for _, want := range []string{"# Slow sign-in", "SEV2", "| identified |", "| monitoring |", "| resolved |",
		"A failing disk slowed password checks.", "- Alert on disk latency", "### Lessons learned"} {
		if !strings.Contains(md, want) {
			t.Errorf("the export lacks %q:\n%s", want, md)
		}
	}
}

// TestMaintenanceWindow: a scheduled window shows on the page and puts its
// components under maintenance; when it runs past its end an incident opens
// by itself, and completing the window resolves it.
func TestMaintenanceWindow(t *testing.T) {
	const token = "operator-token-0123456789abcdef"
	n := testnode.Start(t, func(c *config.Config) { c.AdminToken = token })
	base := "http://" + n.Config.HTTP
	call := adminCaller(t, base, token)
	now := time.Now().UTC()
	var w api.Maintenance
	body := fmt.Sprintf(`{"name":"Storage upgrade","scheduled_for":%q,"scheduled_until":%q,"components":["signin"],"body":"One node at a time."}`,
		now.Add(-time.Second).Format(time.RFC3339), now.Add(3*time.Second).Format(time.RFC3339))
	if st := call("POST", "/v1/admin/maintenance", body, &w); st != http.StatusCreated {
		t.Fatalf("schedule: %d", st)
	}
	if st := call("POST", "/v1/admin/maintenance", `{"name":"x","scheduled_for":"tomorrow","scheduled_until":"later"}`, nil); st != http.StatusBadRequest {
		t.Errorf("a window with bad times got %d", st)
	}
	waitPage := func(what string, ok func(*api.StatusPage) bool) *api.StatusPage {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			if p, got := statusOf(n); got && ok(p) {
				return p
			}
			if time.Now().After(deadline) {
				p, _ := statusOf(n)
				t.Fatalf("no page with %s: %+v", what, p)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitPage("the window in progress", func(p *api.StatusPage) bool {
		return len(p.ScheduledMaintenances) == 1 && p.ScheduledMaintenances[0].Status == "in_progress" &&
			componentState(p, "signin") == api.StatusMaintenance
	})
	p := waitPage("an overrun incident", func(p *api.StatusPage) bool {
		i := incidentFor(p, "signin")
		return i != nil && i.Status != api.IncidentResolved
	})
	if i := incidentFor(p, "signin"); !strings.Contains(i.Name, "Storage upgrade") || !i.Automatic {
		t.Errorf("overrun incident %+v", i)
	}
	if st := call("PATCH", "/v1/admin/maintenance/"+w.ID, `{"status":"completed"}`, nil); st != http.StatusOK {
		t.Fatalf("complete: %d", st)
	}
	waitPage("the overrun resolved and the window gone", func(p *api.StatusPage) bool {
		i := incidentFor(p, "signin")
		return len(p.ScheduledMaintenances) == 0 && i != nil && i.Status == api.IncidentResolved &&
			componentState(p, "signin") == api.StatusOperational
	})
}

// TestDrain makes one node of a cluster a lame duck: its clients move to
// another node and go on sending, it refuses new sessions and says it is
// not ready.
func TestDrain(t *testing.T) {
	const token = "operator-token-0123456789abcdef"
	nodes := testnode.StartCluster(t, 3, func(c *config.Config) { c.AdminToken = token })
	alice, bob := signUp(t, nodes[0], "alice"), signUp(t, nodes[0], "bob")
	room, err := alice.CreateDirect(ctx(t), bob.ID)
	if err != nil {
		t.Fatal(err)
	}
	// Alice's client knows every node, dc1 first.
	var urls []string
	for _, n := range nodes {
		urls = append(urls, "http://"+n.Config.HTTP)
	}
	ac, err := client.New(client.Options{Servers: urls, Token: alice.Token()})
	if err != nil {
		t.Fatal(err)
	}
	l, err := ac.Live(ctx(t), client.LiveOptions{MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	drain(l)
	if _, err := l.Send(ctx(t), room.ID, "before"); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", urls[0]+"/v1/admin/drain", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("drain: %v %v", resp, err)
	}
	resp.Body.Close()
	if _, err := l.Send(ctx(t), room.ID, "after"); err != nil {
		t.Fatalf("send after the drain: %v", err)
	}
	if r, err := http.Get(urls[0] + "/readyz"); err != nil || r.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("a draining node's /readyz: %v %v, want 503", r, err)
	} else {
		r.Body.Close()
	}
	if _, _, err := websocket.DefaultDialer.Dial("ws://"+nodes[0].Config.HTTP+"/v1/ws", nil); err == nil {
		t.Error("a draining node accepted a WebSocket")
	}
	// Read through another node; its read model learns of a message stored
	// through a third one within moments.
	other, err := client.New(client.Options{Servers: urls[1:], Token: alice.Token()})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		p, err := other.History(ctx(t), room.ID, client.HistoryQuery{Limit: 50})
		if err == nil && len(messages(p.Events)) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("history: %v, %v; want both messages", p, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
