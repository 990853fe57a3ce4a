package node_test

import (
	"bufio"
	"errors"
	"github.com/dandanchat/dandan/api"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dandanchat/dandan/client"
	"github.com/dandanchat/dandan/internal/testnode"
)

func errorsAs(err error, target any) bool { return err != nil && errors.As(err, target) }

func metricValue(t *testing.T, n *testnode.Node, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + n.Config.HTTP + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sum, found := 0.0, false
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, name+" ") || strings.HasPrefix(line, name+"{") {
			f := strings.Fields(line)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			sum, found = sum+v, true
		}
	}
	if !found {
		t.Fatalf("metric %s not exposed", name)
	}
	return sum
}

func TestHealthReadyMetrics(t *testing.T) {
	n := testnode.Start(t)
	for _, p := range []string{"/healthz", "/readyz", "/metrics", "/"} {
		resp, err := http.Get("http://" + n.Config.HTTP + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("GET %s = %d", p, resp.StatusCode)
		}
	}
	alice := signUp(t, n, "alice")
	signUp(t, n, "bob")
	room, _ := alice.CreateDirect(ctx(t), "bob")
	la := live(t, alice, nil)
	if _, err := la.Send(ctx(t), room.ID, "x"); err != nil {
		t.Fatal(err)
	}
	if v := metricValue(t, n, "dandan_events_stored_total"); v < 1 {
		t.Errorf("stored events metric = %v", v)
	}
	if v := metricValue(t, n, "dandan_ws_sessions"); v != 1 {
		t.Errorf("sessions metric = %v, want 1", v)
	}
	if v := metricValue(t, n, "dandan_http_requests_total"); v < 3 {
		t.Errorf("http requests metric = %v", v)
	}
}

// Shutdown closes WebSockets with "going away"; the SDK reconnects when the
// node is back and nothing queued meanwhile is lost.
func TestShutdownDrainsSessions(t *testing.T) {
	n := testnode.Start(t)
	alice, bob := signUp(t, n, "alice"), signUp(t, n, "bob")
	room, _ := alice.CreateDirect(ctx(t), "bob")
	la := live(t, alice, nil)
	lb := live(t, bob, nil)
	waitFor(t, lb, "synced", func(u client.Update) bool { return u.Kind == client.Synced })
	start := time.Now()
	n.Stop(t)
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("shutdown took %v", d)
	}
	waitFor(t, lb, "disconnected", func(u client.Update) bool { return u.Kind == client.Disconnected })
	p := la.SendAsync(room.ID, "queued while down")
	time.Sleep(200 * time.Millisecond)
	n.Restart(t)
	if _, err := p.Wait(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if e := messages(collect(t, lb, room.ID, 1, 20*time.Second)); len(e) != 1 || e[0].Text != "queued while down" {
		t.Fatalf("bob got %+v", e)
	}
}

// TestClusterInfoSingleNode checks /v1/cluster on a single node: it lists
// itself, needs no sign-in, and the SDK's discovery adds nothing else.
func TestClusterInfoSingleNode(t *testing.T) {
	n := testnode.Start(t)
	c := n.Client(t)
	var info *api.Cluster
	var err error
	// The node announces itself just after it is ready.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if info, err = c.Cluster(ctx(t)); err == nil && len(info.Nodes) == 1 {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	want := "http://" + n.Config.HTTP
	if info.Node != "dandan" || len(info.Nodes) != 1 || info.Nodes[0].URL != want || !info.Nodes[0].Up || len(info.Partitions) != 0 {
		t.Fatalf("cluster = %+v, want one node dandan at %s, up", info, want)
	}
	servers, err := c.DiscoverServers(ctx(t))
	if err != nil || len(servers) != 1 || servers[0] != want {
		t.Fatalf("DiscoverServers = %v, %v; want [%s]", servers, err, want)
	}
}
