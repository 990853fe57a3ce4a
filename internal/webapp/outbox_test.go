package webapp_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/dandanchat/dandan/internal/testnode"
)

// TestOutbox checks the outbox where it meets the protocol's limits:
//   - six long Korean messages typed at once (each 15,000 bytes, under the
//     16 KiB limit) are written in WebSocket messages under the server's
//     64 KiB, and all arrive once, in order;
//   - a send, an edit and a deletion that the server refuses for good
//     (too_large, forbidden) show failed, with Retry and Discard; they are
//     not sent again by themselves, not even after a reconnection; Retry
//     sends the same id once more, Discard forgets them;
//   - signing out leaves nothing of the user in localStorage, and the next
//     user on the same page sees only their own rooms.
func TestOutbox(t *testing.T) {
	br := newBrowser(t, 120*time.Second)
	n := testnode.Start(t)
	base := "http://" + n.Config.HTTP
	alice, bob, ids := pair(t, br, base)

	// ---- Long messages, queued together (one task: one flush).
	long := strings.Repeat("가", 5000)
	before := alice.clientIDs()
	alice.run(fmt.Sprintf(`(() => {
		const input = document.querySelector('[data-testid=composer]');
		const form = document.querySelector('#composer');
		for (let i = 0; i < 6; i++) { input.value = %s + ' ' + i; form.requestSubmit(); }
	})()`, js(long)))
	var typed []string
	for _, id := range alice.clientIDs() {
		if !slices.Contains(before, id) {
			typed = append(typed, id)
		}
	}
	if len(typed) != 6 {
		t.Fatalf("6 long messages typed, %d show: %v", len(typed), typed)
	}
	ids = append(ids, typed...)
	settle(t, alice, bob, ids, typed)

	// ---- Refused for good. The page records every frame it writes and
	// every socket it opens, from its next load on.
	alice.onEveryLoad(`(() => {
		window.__frames = [];
		window.__sockets = [];
		const send = WebSocket.prototype.send;
		WebSocket.prototype.send = function (data) {
			for (const line of String(data).split('\n')) { try { window.__frames.push(JSON.parse(line)); } catch {} }
			if (!window.__sockets.includes(this)) window.__sockets.push(this);
			return send.call(this, data);
		};
	})()`)
	b2 := bob.send("Edit or delete this, if you can.")
	alice.waitMessage(b2)
	seqOf := func(p *page, id string) int {
		return eval[int](p, fmt.Sprintf(`+document.querySelector('#messages [data-client-id=%s]').dataset.seq`, js(id)))
	}
	room := alice.roomID("Bob")
	// An outbox as versions before outboxes per tab saved it (one list per
	// user), which the page adopts when it loads: a message too long for
	// the server (typed in an older version, say), an edit and a deletion
	// of Bob's messages (only their sender may).
	forged := []map[string]any{
		{"id": "big-1", "type": "send", "room": room, "text": strings.Repeat("x", 17000), "created": time.Now().UnixMilli(), "state": "pending"},
		{"id": "edit-1", "type": "edit", "room": room, "target": seqOf(alice, ids[1]), "text": "not yours", "created": time.Now().UnixMilli(), "state": "pending"},
		{"id": "del-1", "type": "delete", "room": room, "target": seqOf(alice, b2), "created": time.Now().UnixMilli(), "state": "pending"},
	}
	alice.run(fmt.Sprintf(`(() => {
		const me = JSON.parse(localStorage.getItem('dandan.session')).user.id;
		localStorage.setItem('dandan.outbox.' + me, JSON.stringify(%s));
	})()`, js(forged)))
	alice.do(chromedp.Reload())
	alice.waitConnected()
	alice.openRoom("Bob")
	alice.wait("the refusals to show", fmt.Sprintf(`(() => {
		const big = document.querySelector('[data-testid=message][data-client-id="big-1"]');
		const ed = document.querySelector('[data-client-id=%s] [data-testid=op-failed][data-op=edit]');
		const del = document.querySelector('[data-client-id=%s] [data-testid=op-failed][data-op=delete]');
		return big && big.dataset.status === 'failed' &&
			big.querySelector('[data-testid=message-status]').textContent.startsWith('Not sent: text is longer') &&
			!!big.querySelector('[data-testid=retry]') && !!big.querySelector('[data-testid=discard]') &&
			ed && ed.textContent.startsWith('Edit not saved') && !!ed.querySelector('[data-testid=retry]') &&
			del && del.textContent.startsWith('Not deleted') && !!del.querySelector('[data-testid=discard]');
	})()`, js(ids[1]), js(b2)), 20*time.Second)
	// The refused edit and deletion change nothing on screen.
	if got := eval[[]any](alice, fmt.Sprintf(`(() => {
		const m = document.querySelector('[data-client-id=%s]');
		return [m.querySelector('[data-testid=message-text]')?.textContent, !!m.querySelector('[data-testid=edited]'),
			!!document.querySelector('[data-client-id=%s] [data-testid=message-deleted]')];
	})()`, js(ids[1]), js(b2))); len(got) != 3 || got[0] != "hello back" || got[1] != false || got[2] != false {
		t.Errorf("after a refused edit and deletion the messages show [text, edited, deleted] = %v", got)
	}
	sent := func(id string) int {
		return eval[int](alice, fmt.Sprintf(`window.__frames.filter(f => f.id === %s).length`, js(id)))
	}
	// A new connection resends what is unacknowledged, but not what failed:
	// once a message sent on it is stored, the resends would have gone.
	sockets := eval[int](alice, `window.__sockets.length`)
	alice.run(`window.__sockets[window.__sockets.length - 1].close()`)
	alice.wait("a new connection", fmt.Sprintf(`window.__sockets.length > %d && window.__frames.filter(f => f.type === 'sync').length >= 2`, sockets), 20*time.Second)
	alice.waitConnected()
	a3 := alice.send("after the refusals")
	alice.waitMessage(a3, "sent", "delivered", "read")
	for _, id := range []string{"big-1", "edit-1", "del-1"} {
		if n := sent(id); n != 1 {
			t.Errorf("%s, refused for good, was sent %d times, want 1", id, n)
		}
	}
	// Retry sends it again, with the same id; it fails again.
	alice.click(`[data-testid=message][data-client-id="big-1"] [data-testid=retry]`)
	alice.wait("the retry refused", `window.__frames.filter(f => f.id === 'big-1').length === 2 &&
		document.querySelector('[data-testid=message][data-client-id="big-1"]')?.dataset.status === 'failed'`, 20*time.Second)
	// Discard forgets each, on screen and in localStorage.
	alice.click(`[data-testid=message][data-client-id="big-1"] [data-testid=discard]`)
	alice.click(`[data-testid=op-failed][data-op=edit] [data-testid=discard]`)
	alice.click(`[data-testid=op-failed][data-op=delete] [data-testid=discard]`)
	alice.wait("the outbox empty", fmt.Sprintf(`!document.querySelector('[data-client-id="big-1"]') && !document.querySelector('[data-testid=op-failed]') &&
		Object.values(%s).every(ids => ids.length === 0)`, storedOutboxes), 10*time.Second)
	bob.waitMessage(a3)
	if n := eval[int](bob, `document.querySelectorAll('[data-client-id="big-1"], [data-client-id="edit-1"], [data-client-id="del-1"]').length`); n != 0 {
		t.Errorf("bob shows %d of the refused messages", n)
	}

	// ---- Signing out leaves nothing of Alice's; Bob, next on her page,
	// sees his own rooms only.
	alice.run(`localStorage.setItem('dandan.notify', '1')`)
	alice.click(`[data-testid=settings]`)
	alice.click(`[data-testid=sign-out]`)
	alice.wait("signed out, nothing left", `!document.querySelector('#auth').hidden &&
		Object.keys(localStorage).filter(k => k !== 'dandan.sites').length === 0 &&
		document.querySelectorAll('[data-testid=room-item], #messages [data-testid=message]').length === 0`, 15*time.Second)
	alice.fill(`[data-testid=signin-handle]`, "bob")
	alice.fill(`[data-testid=signin-password]`, password)
	alice.click(`[data-testid=signin-submit]`)
	alice.waitConnected()
	alice.openRoom("Alice")
	alice.waitMessage(a3)
	if rooms := eval[[]string](alice, `[...document.querySelectorAll('[data-testid=room-item]')].map(r => r.dataset.roomName)`); !slices.Equal(rooms, []string{"Alice"}) {
		t.Errorf("bob, signed in after alice on her page, has the rooms %q", rooms)
	}
	alice.checkCSP()
}
