package webapp_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/dandanchat/dandan/internal/testnode"
)

// storedOutboxes is a JavaScript expression: every outbox in the page's
// localStorage, key → the client ids it holds (in either format: a tab's
// {inst, beat, entries}, or the bare list of versions before outboxes per
// tab).
const storedOutboxes = `Object.fromEntries(Object.keys(localStorage).filter(k => k.startsWith('dandan.outbox.')).map(k => {
	const v = JSON.parse(localStorage.getItem(k));
	return [k, (Array.isArray(v) ? v : v.entries).map(e => e.id)];
}))`

// TestTwoTabs checks two tabs of one user in one browser, which share one
// localStorage: what each types while offline is kept and sent once.
//   - Each tab keeps an outbox of its own; a reload of a tab (its API and
//     WebSocket cut off, so the message stays unsent) takes its outbox
//     back, under the same key, and sends it once it can.
//   - Both tabs offline, each types messages, in turns (with one outbox
//     for both, the last tab to save would win). One tab is closed; the
//     other adopts its outbox while still offline (it shows and counts
//     those messages as waiting), and with them the outbox of a tab that
//     crashed (a stale heartbeat), but not one of another user.
//   - Back online, every message of both tabs reaches Bob exactly once,
//     in the order each tab typed them, and no outbox but the live tab's
//     own, empty, is left in storage.
func TestTwoTabs(t *testing.T) {
	br := newBrowser(t, 150*time.Second)
	n := testnode.Start(t)
	base := "http://" + n.Config.HTTP
	alice, bob, ids := pair(t, br, base)
	user := eval[string](alice, `JSON.parse(localStorage.getItem('dandan.session')).user.id`)
	bobID := eval[string](bob, `JSON.parse(localStorage.getItem('dandan.session')).user.id`)
	room := alice.roomID("Bob")

	// Alice's second tab, in the same browser context: the same storage.
	tab2, closeTab2 := alice.tab("alice's second tab")
	tab2.open(base)
	tab2.waitConnected()
	tab2.openRoom("Bob")
	tab2.waitMessage(ids[1])
	tab1ID := eval[string](alice, `sessionStorage.getItem('dandan.tab') || ''`)
	tab2ID := eval[string](tab2, `sessionStorage.getItem('dandan.tab') || ''`)
	if tab1ID == "" || tab1ID == tab2ID {
		t.Errorf("the tabs' ids are %q and %q, want two", tab1ID, tab2ID)
	}
	key1, key2 := "dandan.outbox."+user+"."+tab1ID, "dandan.outbox."+user+"."+tab2ID

	// ---- A reload keeps the tab's outbox. The page loads, but its API
	// and WebSocket are cut off (the node restarts to close the open
	// one), so the message stays unsent.
	tab2.cutOff("*://" + n.Config.HTTP + "/v1/*")
	n.Restart(t)
	tab2.wait("the connection lost", `!['connected', 'moved'].includes(document.querySelector('[data-testid=connection]').dataset.state)`, 10*time.Second)
	c1 := tab2.send("typed in the second tab, kept through its reload")
	tab2.waitMessage(c1, "pending")
	inst := eval[string](tab2, fmt.Sprintf(`(JSON.parse(localStorage.getItem(%s)) || {}).inst || ''`, js(key2)))
	tab2.do(chromedp.Reload())
	tab2.wait("the reloaded tab to hold its message", `!document.querySelector('#chat').hidden &&
		document.querySelector('[data-testid=connection] .conn-text').textContent.endsWith(' · 1 waiting to send')`, 10*time.Second)
	if id := eval[string](tab2, `sessionStorage.getItem('dandan.tab') || ''`); id != tab2ID {
		t.Errorf("the reloaded tab's id is %q, was %q", id, tab2ID)
	}
	if got := eval[map[string][]string](tab2, storedOutboxes); !slices.Equal(got[key2], []string{c1}) ||
		eval[string](tab2, fmt.Sprintf(`(JSON.parse(localStorage.getItem(%s)) || {}).inst || ''`, js(key2))) == inst {
		t.Errorf("after the reload the outboxes are %v; want %s to hold %s, written by the new page", got, key2, c1)
	}
	tab2.cutOff("")
	tab2.waitConnected()
	tab2.openRoom("Bob")
	tab2.waitMessage(c1, "sent", "delivered", "read")
	bob.waitMessage(c1)
	ids = append(ids, c1)

	// ---- Both tabs offline (the node restarts to close their sockets,
	// which going offline leaves open); each types, in turns.
	alice.offline(true)
	tab2.offline(true)
	n.Restart(t)
	for _, p := range []*page{alice, tab2} {
		p.wait("offline", `document.querySelector('[data-testid=connection]').dataset.state === 'offline'`, 10*time.Second)
	}
	var typed1, typed2 []string
	for i := range 2 {
		id := alice.send(fmt.Sprintf("first tab, offline %d", i))
		alice.waitMessage(id, "pending")
		typed1 = append(typed1, id)
		id = tab2.send(fmt.Sprintf("second tab, offline %d", i))
		tab2.waitMessage(id, "pending")
		typed2 = append(typed2, id)
	}
	if got := eval[map[string][]string](alice, storedOutboxes); !slices.Equal(got[key1], typed1) || !slices.Equal(got[key2], typed2) {
		t.Errorf("the outboxes in storage are %v; want %s: %v and %s: %v", got, key1, typed1, key2, typed2)
	}
	// A tab that crashed long ago left an outbox (its heartbeat a minute
	// old); so did one of Bob's, in this browser, which is not Alice's to
	// send.
	now := time.Now().UnixMilli()
	crashed := map[string]any{"inst": "gone", "beat": now - 60000, "entries": []map[string]any{
		{"id": "crashed-tab-1", "type": "send", "room": room, "text": "from a tab that crashed", "created": now - 61000, "state": "pending"}}}
	bobs := map[string]any{"inst": "gone", "beat": now - 60000, "entries": []map[string]any{
		{"id": "not-alices-1", "type": "send", "room": room, "text": "Bob's, not Alice's", "created": now - 61000, "state": "pending"}}}
	bobKey := "dandan.outbox." + bobID + ".crashed"
	tab2.run(fmt.Sprintf(`localStorage.setItem(%s, %s); localStorage.setItem(%s, %s)`,
		js("dandan.outbox."+user+".crashed"), js(js(crashed)), js(bobKey), js(js(bobs))))

	// ---- The second tab closes. The first, still offline, adopts its
	// outbox (and the crashed tab's): it shows their messages pending and
	// counts them waiting.
	closed := time.Now()
	closeTab2()
	waiting := append(append([]string{"crashed-tab-1"}, typed2...), typed1...)
	adopted := fmt.Sprintf(`(() => {
		const ms = [...document.querySelectorAll('#messages [data-testid=message]')].filter(m => m.dataset.status === 'pending');
		return %s.every(id => ms.filter(m => m.dataset.clientId === id).length === 1) &&
			document.querySelector('[data-testid=connection] .conn-text').textContent.endsWith(' · 5 waiting to send');
	})()`, js(waiting))
	// An outbox marked closed is adopted 4 s after it closed, told by the
	// storage event; or, should that be missed, at the next periodic look
	// (every 12–15 s).
	if err := alice.poll(adopted, 20*time.Second); err != nil {
		// Chromium gives a closing page's pagehide handler little time, and
		// a busy machine can end the page before it marks its outbox closed,
		// as a crash would. Such an outbox is adopted once its heartbeat is
		// stale (30 s, found within 15 s more).
		unmarked := eval[bool](alice, fmt.Sprintf(`(() => {
			const rec = JSON.parse(localStorage.getItem(%s));
			return !!rec && !rec.closed;
		})()`, js(key2)))
		if !unmarked {
			t.Fatalf("the closed tab's outbox, marked closed, not adopted within 20 s: %v\n%s", err, alice.describe())
		}
		t.Logf("the closing tab did not mark its outbox closed: waiting for its heartbeat to go stale")
		alice.wait("the unmarked closed tab's messages adopted", adopted, 50*time.Second)
	}
	t.Logf("the closed tab's outbox adopted %v after it closed", time.Since(closed).Round(100*time.Millisecond))

	// ---- Back online: everything reaches Bob, once each.
	alice.offline(false)
	alice.waitConnected()
	ids = append(ids, waiting...)
	settle(t, alice, bob, ids, typed1, append([]string{c1}, typed2...))
	for _, p := range []*page{alice, bob} {
		if n := eval[int](p, `document.querySelectorAll('[data-client-id="not-alices-1"]').length`); n != 0 {
			t.Errorf("%s shows another user's orphaned message %d times", p.name, n)
		}
	}
	// What is left in storage: the live tab's outbox, empty, and Bob's
	// orphan, untouched.
	alice.wait("no stale outbox left", fmt.Sprintf(`(() => {
		const o = %s;
		return JSON.stringify(Object.keys(o).sort()) === JSON.stringify([%s, %s].sort()) && o[%s].length === 0;
	})()`, storedOutboxes, js(key1), js(bobKey), js(key1)), 10*time.Second)
	if got := eval[string](alice, fmt.Sprintf(`localStorage.getItem(%s)`, js(bobKey))); got != js(bobs) {
		t.Errorf("bob's orphaned outbox in alice's browser changed: %s", got)
	}
	alice.checkCSP()
}

// tab opens another tab in p's browser context (the same storage); close
// closes it as a user closing the tab does.
func (p *page) tab(name string) (tab *page, close func()) {
	p.t.Helper()
	ctx, cancel := chromedp.NewContext(p.ctx)
	p.t.Cleanup(cancel)
	tab = &page{t: p.t, ctx: ctx, name: name}
	tab.do(chromedp.EmulateViewport(1280, 800))
	return tab, cancel
}

// cutOff makes every request of the page to URLs matching pattern (a
// URLPattern string) fail as if offline, WebSockets too, while the browser
// still thinks itself online; an empty pattern lifts it.
func (p *page) cutOff(pattern string) {
	p.t.Helper()
	rules := []*network.Conditions{}
	if pattern != "" {
		rules = append(rules, &network.Conditions{URLPattern: pattern, Offline: true, DownloadThroughput: -1, UploadThroughput: -1})
	}
	p.do(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if _, err := cdp.Call(ctx, t, network.Enable, network.EnableParams{}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, t, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{MatchedNetworkConditions: rules})
		return err
	}))
}
