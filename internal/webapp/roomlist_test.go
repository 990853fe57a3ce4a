package webapp_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/dandanchat/dandan/internal/testnode"
)

// TestRoomListFromSummaries checks that a page shows each room's last
// message from the room summaries, without reading a page of history per
// room when it loads; that a room's history is read when it is opened; and
// that where the node has no last event at hand (it restarted), the page
// reads the history to show it.
func TestRoomListFromSummaries(t *testing.T) {
	br := newBrowser(t, 90*time.Second)
	n := testnode.Start(t)
	base := "http://" + n.Config.HTTP
	alice, bob, _ := pair(t, br, base)
	token := eval[string](alice, `JSON.parse(localStorage.getItem('dandan.session')).token`)
	call := func(method, path string, body, out any) {
		t.Helper()
		apiCall(t, base, token, method, path, body, out)
	}
	// Alice writes in the direct room and in three groups with Bob.
	direct := alice.roomID("Bob")
	last := map[string]string{"Alice": "the last word in the direct room"}
	call(http.MethodPost, "/v1/rooms/"+direct+"/messages", map[string]string{"id": "direct-last", "text": last["Alice"]}, nil)
	for i := range 3 {
		name := fmt.Sprintf("Group %d", i)
		var room struct{ ID string }
		call(http.MethodPost, "/v1/rooms", map[string]any{"name": name, "members": []string{"bob"}}, &room)
		for j := range 3 {
			last[name] = fmt.Sprintf("message %d in %s", j, name)
			call(http.MethodPost, "/v1/rooms/"+room.ID+"/messages", map[string]string{"id": fmt.Sprintf("g%d-%d", i, j), "text": last[name]}, nil)
		}
	}
	// From its next load on, Bob's page records the history it reads.
	bob.onEveryLoad(`(() => {
		window.__history = [];
		const f = window.fetch;
		window.fetch = function (u, o) {
			if (String(u).includes('/events')) window.__history.push(String(u));
			return f.call(this, u, o);
		};
	})()`)
	// previews maps each room's name to its line in the list.
	const previews = `Object.fromEntries([...document.querySelectorAll('[data-testid=room-item]')].map(r =>
		[r.dataset.roomName, r.querySelector('[data-testid=room-preview]').textContent]))`
	showsLast := fmt.Sprintf(`(() => {
		const want = %s;
		const got = %s;
		return Object.keys(want).length === Object.keys(got).length && Object.entries(want).every(([k, v]) => (got[k] || '').endsWith(v));
	})()`, js(last), previews)
	reload := func() {
		t.Helper()
		bob.run(`document.querySelector('#back-btn').click()`)
		bob.wait("no room open", `location.hash === ''`, 5*time.Second)
		bob.do(chromedp.Reload())
		bob.waitConnected()
	}

	reload()
	bob.wait("every room's last message", showsLast, 15*time.Second)
	time.Sleep(500 * time.Millisecond) // any history read would have started
	if reads := eval[[]string](bob, `window.__history`); len(reads) != 0 {
		t.Errorf("the page read history for its room list: %v (previews %v)", reads, eval[map[string]string](bob, previews))
	}
	// Opened, a room reads its history.
	bob.openRoom("Group 1")
	bob.wait("the room's history", `document.querySelectorAll('#messages [data-testid=message]').length === 3`, 15*time.Second)
	if reads := eval[[]string](bob, `window.__history`); len(reads) != 1 {
		t.Errorf("opening a room read %v, want its newest page", reads)
	}

	// After a restart the node has no last event at hand: the page reads
	// the history of each room to show it.
	n.Restart(t)
	reload()
	bob.wait("every room's last message, from history", showsLast, 20*time.Second)
	if reads := eval[[]string](bob, `window.__history`); len(reads) < len(last) {
		t.Errorf("with no last events in the summaries the page read %v, want a page of each of %d rooms", reads, len(last))
	}
}
