package node_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/dandanchat/dandan/api"
	"github.com/dandanchat/dandan/client"
	"github.com/dandanchat/dandan/internal/testnode"
)

// TestClusterServesAnyRoomFromAnyNode runs three nodes in three data
// centres: users signed up through different nodes share a room, send to
// it concurrently through their own nodes (appends are forwarded to the
// node leading the room's stream), and every node then serves the same
// gap-free history. Every node lists all three and the stream leaders.
func TestClusterServesAnyRoomFromAnyNode(t *testing.T) {
	nodes := testnode.StartCluster(t, 3)
	var users []*user
	for i, n := range nodes {
		users = append(users, signUp(t, n, fmt.Sprintf("user%d", i)))
	}
	room, err := users[0].CreateGroup(ctx(t), "three sites", []string{"user1", "user2"})
	if err != nil {
		t.Fatal(err)
	}
	const each = 30
	var wg sync.WaitGroup
	for i, u := range users {
		l := live(t, u, nil)
		wg.Add(1)
		go func() {
			defer wg.Done()
			var ps []*client.Pending
			for k := range each {
				ps = append(ps, l.SendAsync(room.ID, fmt.Sprintf("m %d from %d", k, i)))
			}
			for _, p := range ps {
				if _, err := p.Wait(ctx(t)); err != nil {
					t.Errorf("user%d: send: %v", i, err)
				}
			}
		}()
	}
	wg.Wait()
	var first []api.Event
	for i, n := range nodes {
		c := n.Client(t)
		c.SetToken(users[i].Token())
		// A node serves its own acknowledgements at once, and the others'
		// as soon as its read model has consumed them: milliseconds.
		var pg *api.Page
		msgs := 0
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			var err error
			if pg, err = c.History(ctx(t), room.ID, client.HistoryQuery{Limit: 500}); err != nil {
				t.Fatalf("history through node %d: %v", i, err)
			}
			msgs = 0
			for j, ev := range pg.Events {
				if ev.Seq != uint64(j+1) {
					t.Fatalf("node %d: event %d has seq %d", i, j, ev.Seq)
				}
				if ev.Type == api.EventMessage {
					msgs++
				}
			}
			if msgs == 3*each || time.Now().After(deadline) {
				break
			}
		}
		if msgs != 3*each {
			t.Errorf("node %d: %d messages, want %d", i, msgs, 3*each)
		}
		if i == 0 {
			first = pg.Events
		} else if len(pg.Events) != len(first) || pg.Events[len(first)-1].ClientID != first[len(first)-1].ClientID {
			t.Errorf("node %d serves another history than node 0", i)
		}
	}

	resp, err := http.Get("http://" + nodes[2].Config.HTTP + "/v1/cluster?leaders=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var info api.Cluster
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		t.Fatal(err)
	}
	if info.Node != "dc3" || len(info.Nodes) != 3 || len(info.Partitions) != nodes[0].Config.Partitions {
		t.Fatalf("cluster info = %+v", info)
	}
	for _, p := range info.Partitions {
		if p.Leader == "" {
			t.Errorf("stream %s has no leader", p.Stream)
		}
	}
}
