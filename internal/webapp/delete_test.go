package webapp_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/dandanchat/dandan/internal/testnode"
)

// TestDeleteBeforeEvent asks to delete a message between its ack and its
// event (held back here, as a slow fan-out would): the prompt must stay
// while the message's event lands and changes how the list keys it, and
// confirming deletes the message for both users.
func TestDeleteBeforeEvent(t *testing.T) {
	br := newBrowser(t, 90*time.Second)
	n := testnode.Start(t)
	base := "http://" + n.Config.HTTP
	alice, bob, _ := pair(t, br, base)

	// From its next load on, Alice's page delivers the event lines of a
	// WebSocket message window.__holdEvents ms late (other lines at once).
	alice.onEveryLoad(`(() => {
		const d = Object.getOwnPropertyDescriptor(WebSocket.prototype, 'onmessage');
		Object.defineProperty(WebSocket.prototype, 'onmessage', {
			get() { return d.get.call(this); },
			set(fn) {
				d.set.call(this, (m) => {
					const hold = window.__holdEvents || 0;
					const lines = String(m.data).split('\n');
					const late = lines.filter((l) => hold && l.includes('"type":"event"'));
					const now = lines.filter((l) => !late.includes(l));
					if (now.length) fn({ data: now.join('\n') });
					if (late.length) setTimeout(() => fn({ data: late.join('\n') }), hold);
				});
			},
		});
	})()`)
	alice.do(chromedp.Reload())
	alice.waitConnected()
	alice.openRoom("Bob")
	alice.run(`window.__holdEvents = 2000`)

	id := alice.send("Delete me right away")
	msg := fmt.Sprintf(`[data-client-id=%s]`, js(id))
	// Acknowledged (it has a seq), its event still held back.
	alice.wait("the ack", fmt.Sprintf(`document.querySelector(%s).dataset.seq !== ''`, js("#messages "+msg)), 10*time.Second)
	alice.click(msg + ` [data-testid=delete]`)
	alice.wait("the prompt", fmt.Sprintf(`!!document.querySelector(%s)`, js(msg+` [data-testid=confirm-delete]`)), 2*time.Second)
	bob.waitMessage(id)
	time.Sleep(2500 * time.Millisecond) // the held event lands
	alice.click(msg + ` [data-testid=confirm-delete]`)
	for _, p := range []*page{alice, bob} {
		p.wait("the deletion", fmt.Sprintf(`document.querySelector(%s)?.textContent === 'Message deleted'`, js(msg+` [data-testid=message-deleted]`)), 10*time.Second)
	}
}
