package webapp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dandanchat/dandan/api"
	"github.com/dandanchat/dandan/internal/localcluster"
	"github.com/dandanchat/dandan/internal/testnode"
)

// pair signs up two users on base and opens a direct room between them,
// with one message each way; it returns the pages and the client ids.
func pair(t *testing.T, br *browser, base string) (alice, bob *page, ids []string) {
	t.Helper()
	alice = br.page("alice")
	bob = br.page("bob")
	alice.signUp(base, "alice", "Alice")
	bob.signUp(base, "bob", "Bob")
	alice.startDirect("bob", "Bob")
	a := alice.send("hello before the trouble")
	bob.wait("alice's room", `!!document.querySelector('[data-testid=room-item][data-room-name="Alice"]')`, 10*time.Second)
	bob.openRoom("Alice")
	bob.waitMessage(a)
	b := bob.send("hello back")
	alice.waitMessage(b)
	return alice, bob, []string{a, b}
}

// settle waits until both pages show every id in ids, none pending, and
// the same conversation; then it checks each shows every id exactly once,
// in the order of the room (the same on both sides), and that each
// sender's messages kept the order they were typed in.
func settle(t *testing.T, alice, bob *page, ids []string, typed ...[]string) {
	settleWithin(t, 45*time.Second, alice, bob, ids, typed...)
}

// settleWithin is settle with a deadline of d for the messages to be
// stored.
func settleWithin(t *testing.T, d time.Duration, alice, bob *page, ids []string, typed ...[]string) {
	t.Helper()
	cond := fmt.Sprintf(`(() => {
		const want = %s;
		const ms = [...document.querySelectorAll('#messages [data-testid=message]')];
		const got = new Set(ms.map(m => m.dataset.clientId));
		return want.every(id => got.has(id)) && ms.every(m => m.dataset.seq !== '' && !['pending', 'failed'].includes(m.dataset.status || ''));
	})()`, js(ids))
	alice.wait("every message, stored", cond, d)
	bob.wait("every message, stored", cond, d)
	order := alice.clientIDs()
	if len(order) != len(ids) {
		t.Errorf("alice shows %d messages, want %d: %v", len(order), len(ids), order)
	}
	alice.checkOnce(order)
	bob.checkOnce(order)
	for _, seq := range typed {
		var got []string
		for _, id := range order {
			if slices.Contains(seq, id) {
				got = append(got, id)
			}
		}
		if !slices.Equal(got, seq) {
			t.Errorf("messages typed as %v show as %v", seq, got)
		}
	}
}

// TestNodeRestart continues a conversation through a node's restart:
// messages typed while it is down show pending, kept in the outbox, then
// are delivered once it is back, none lost or doubled.
func TestNodeRestart(t *testing.T) {
	br := newBrowser(t, 120*time.Second)
	n := testnode.Start(t)
	base := "http://" + n.Config.HTTP
	alice, bob, ids := pair(t, br, base)

	n.Stop(t)
	for _, p := range []*page{alice, bob} {
		p.wait("the indicator to show the loss", `['reconnecting', 'connecting', 'offline'].includes(document.querySelector('[data-testid=connection]').dataset.state)`, 10*time.Second)
	}
	var typedA, typedB []string
	for i := range 3 {
		id := alice.send(fmt.Sprintf("alice while down %d", i))
		alice.waitMessage(id, "pending")
		typedA = append(typedA, id)
	}
	for i := range 2 {
		id := bob.send(fmt.Sprintf("bob while down %d", i))
		bob.waitMessage(id, "pending")
		typedB = append(typedB, id)
	}
	// The outbox is in localStorage, with the client ids.
	var stored []string
	for _, list := range eval[map[string][]string](alice, storedOutboxes) {
		stored = append(stored, list...)
	}
	for _, id := range typedA {
		if !slices.Contains(stored, id) {
			t.Errorf("the outbox in localStorage lacks %s: %v", id, stored)
		}
	}
	alice.wait("the banner", `!document.querySelector('[data-testid=conv-banner]').hidden`, 15*time.Second)

	// The node comes back busy: one send per second per device. The
	// pages' resends are refused (rate_limited, retry_after_ms) and must
	// back off, say so, and get through once each.
	alice.run(`window.__states = []; new MutationObserver(() => {
		const c = document.querySelector('[data-testid=connection]');
		window.__states.push(c.dataset.state + ' ' + c.querySelector('.conn-text').textContent);
		window.__said = window.__said || [];
		const said = c.querySelector('.conn-sr').textContent;
		if (window.__said[window.__said.length - 1] !== said) window.__said.push(said);
	}).observe(document.querySelector('[data-testid=connection]'), {attributes: true, childList: true, subtree: true, characterData: true})`)
	n.Config.SendRate, n.Config.SendBurst = 1, 1
	n.Restart(t)
	ids = append(append(ids, typedA...), typedB...)
	settle(t, alice, bob, ids, typedA, typedB)
	states := eval[[]string](alice, `window.__states`)
	busy := regexp.MustCompile(`^refused Server busy · retrying in [0-9]+ s`)
	if !slices.ContainsFunc(states, busy.MatchString) {
		t.Errorf("the indicator never said the server was busy: %q", states)
	}
	// Its live region says so without the countdown, which a screen
	// reader would read out every second.
	said := eval[[]string](alice, `window.__said`)
	if !slices.ContainsFunc(said, func(s string) bool { return strings.HasPrefix(s, "Server busy · retrying shortly") }) || slices.ContainsFunc(said, regexp.MustCompile(`[0-9]+ s\b`).MatchString) {
		t.Errorf("the connection's live region said %q", said)
	}
	for _, p := range []*page{alice, bob} {
		p.wait("connected again", `document.querySelector('[data-testid=connection]').dataset.state === 'connected'`, 10*time.Second)
	}
	if left := eval[map[string][]string](alice, storedOutboxes); len(slices.Concat(slices.Collect(maps.Values(left))...)) != 0 {
		t.Errorf("messages left in alice's outbox: %v", left)
	}

	// And the conversation goes on.
	a := alice.send("and after")
	bob.waitMessage(a)
	settle(t, alice, bob, append(ids, a))
}

// TestDataCentreLoss loads both users' pages from dc1 of a three-site
// cluster of real processes and kills dc1: the pages say they moved to
// another site, and the conversation goes on there, nothing lost or
// doubled.
func TestDataCentreLoss(t *testing.T) {
	br := newBrowser(t, 240*time.Second)
	exe, env := testnode.Exe(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	c, err := localcluster.Start(ctx, localcluster.Options{DCs: 3, Dir: t.TempDir(), Exe: exe, Env: env,
		Flags: []string{"--password-hash=fast"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop(context.Background())
	dc1 := c.InDC("dc1")[0].URL
	// Every node has announced itself before the pages load: a page
	// learns the sites when it connects.
	waitSites(t, dc1, 3)

	alice, bob, ids := pair(t, br, dc1)
	for _, p := range []*page{alice, bob} {
		p.wait("connected to dc1, knowing every site", `(() => {
			const c = document.querySelector('[data-testid=connection]');
			const s = JSON.parse(localStorage.getItem('dandan.sites') || '{}');
			return c.dataset.state === 'connected' && c.dataset.site === 'dc1' && (s.list || []).length === 3;
		})()`, 20*time.Second)
	}

	c.Kill("dc1")
	a1 := alice.send("alice after dc1 died")
	b1 := bob.send("bob after dc1 died")
	for _, p := range []*page{alice, bob} {
		p.wait("the move to another site", `(() => {
			const c = document.querySelector('[data-testid=connection]');
			return c.dataset.state === 'moved' && ['dc2', 'dc3'].includes(c.dataset.site) && c.querySelector('.conn-text').textContent.includes('moved to dc');
		})()`, 30*time.Second)
	}
	ids = append(ids, a1, b1)
	// The rooms led from dc1 pause for an election (4-9 s in the drills,
	// which measure it). On a CI machine running other clusters and
	// Chromium on two cores, a message sent at the kill once stayed
	// pending over 45 s, cause unknown: a failure now prints the saved
	// outboxes too, to tell a client that never resent from a server
	// that never stored.
	settleWithin(t, 90*time.Second, alice, bob, ids)

	a2 := alice.send("still here?")
	b2 := bob.send("still here.")
	ids = append(ids, a2, b2)
	settle(t, alice, bob, ids, []string{ids[0], a1, a2}, []string{ids[1], b1, b2})
	alice.screenshot("web-moved-1280.png", 1280)
}

// waitSites waits until base's /v1/cluster lists n nodes, all up.
func waitSites(t *testing.T, base string, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var cl api.Cluster
		resp, err := http.Get(base + "/v1/cluster")
		if err == nil {
			err = json.NewDecoder(resp.Body).Decode(&cl)
			resp.Body.Close()
		}
		up := 0
		for _, node := range cl.Nodes {
			if node.Up {
				up++
			}
		}
		if err == nil && up == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s/v1/cluster lists %d nodes up after 30 s, want %d (%v)", base, up, n, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
