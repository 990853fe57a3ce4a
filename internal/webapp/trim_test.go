package webapp_test

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/dandanchat/dandan/internal/testnode"
)

// TestBusyRoom checks the memory a long-open tab gives a busy room: it lets
// the oldest events of a room go, whether they arrive live or in a catch-up
// after being offline, with the room not on screen (its unread count still
// counts every message) or on screen with the view at the bottom (which
// stays there); the room then shows its newest messages, and scrolling back
// loads the others again, in order and once each.
func TestBusyRoom(t *testing.T) {
	br := newBrowser(t, 120*time.Second)
	n := testnode.Start(t)
	base := "http://" + n.Config.HTTP
	alice, bob, ids := pair(t, br, base)
	room := alice.roomID("Bob")
	token := eval[string](bob, `JSON.parse(localStorage.getItem('dandan.session')).token`)
	alice.run(`document.querySelector('#back-btn').click()`)
	alice.wait("the room closed", `location.hash === ''`, 5*time.Second)

	// Bob sends 450 messages three times: while Alice's tab shows no room,
	// live; the same, but while it is offline, so that it catches up on
	// them; and while it shows the room, scrolled to the bottom.
	const sent = 450
	send := func(i int) {
		id := fmt.Sprintf("bulk-%03d", i)
		apiCall(t, base, token, http.MethodPost, "/v1/rooms/"+room+"/messages", map[string]string{"id": id, "text": "bulk message " + strconv.Itoa(i)}, nil)
		ids = append(ids, id)
	}
	for round, how := range []string{"closed", "offline", "open"} {
		offline := how == "offline"
		if how == "open" {
			// On screen, scrolled to the bottom.
			alice.run(`(() => { const b = document.querySelector('#messages'); b.scrollTop = b.scrollHeight; b.dispatchEvent(new Event('scroll')); })()`)
		} else {
			alice.run(`document.querySelector('#back-btn').click()`)
			alice.wait("the room closed", `location.hash === ''`, 5*time.Second)
		}
		if offline {
			alice.offline(true)
			n.Restart(t) // closes the socket going offline leaves open
			alice.wait("offline", `document.querySelector('[data-testid=connection]').dataset.state === 'offline'`, 10*time.Second)
		}
		for i := range sent {
			send(round*sent + i)
		}
		if offline {
			alice.offline(false)
			alice.waitConnected()
		}
		if how != "open" {
			alice.wait("every message counted unread", fmt.Sprintf(`(() => {
				const r = document.querySelector('[data-testid=room-item][data-room-name="Bob"]');
				return r && r.dataset.unread === '%d';
			})()`, sent), 20*time.Second)
			alice.openRoom("Bob")
		}
		// The room shows its newest messages, not all it received.
		alice.waitMessage(ids[len(ids)-1])
		shown := len(alice.clientIDs())
		if shown >= sent || shown < 300 {
			t.Errorf("round %d (%s): the room shows %d of %d messages; want its newest 300 to 400", round, how, shown, len(ids))
		}
		if how == "open" && !eval[bool](alice, `(() => { const b = document.querySelector('#messages'); return b.scrollHeight - b.scrollTop - b.clientHeight < 60; })()`) {
			t.Errorf("the open room's view left the bottom as its oldest messages went")
		}
		// Scrolling back brings the rest, in order, once each.
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if eval[bool](alice, `!document.querySelector('[data-testid=load-older]')`) {
				break
			}
			alice.run(`(() => { const b = document.querySelector('[data-testid=load-older]'); if (b && !b.disabled) b.click(); })()`)
		}
		alice.wait("the whole history", fmt.Sprintf(`document.querySelectorAll('#messages [data-testid=message]').length === %d`, len(ids)), 10*time.Second)
		if got := alice.clientIDs(); !slices.Equal(got, ids) {
			t.Errorf("round %d (%s): after scrolling back the room shows %d messages, want the %d sent in order; first differences: %v", round, how, len(got), len(ids), firstDiff(got, ids))
		}
		alice.checkOnce(alice.clientIDs())
	}
	// Scrolled up to the first message, the reader keeps every message
	// while more arrive.
	alice.run(`(() => { const b = document.querySelector('#messages'); b.scrollTop = 0; b.dispatchEvent(new Event('scroll')); })()`)
	for i := range 50 {
		send(3*sent + i)
	}
	alice.waitMessage(ids[len(ids)-1])
	if got := alice.clientIDs(); !slices.Equal(got, ids) {
		t.Errorf("scrolled up, the room shows %d messages, want all %d in order; first differences: %v", len(got), len(ids), firstDiff(got, ids))
	}
}

// firstDiff describes where a and b first differ.
func firstDiff(a, b []string) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return fmt.Sprintf("at %d: %q against %q", i, a[i], b[i])
		}
	}
	return fmt.Sprintf("lengths %d and %d", len(a), len(b))
}
