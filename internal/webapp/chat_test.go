package webapp_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/dandanchat/dandan/api"
	"github.com/dandanchat/dandan/client"
	"github.com/dandanchat/dandan/internal/testnode"
)

// TestChat is a whole conversation between two people in two browsers: sign
// up, a direct chat both ways with typing, receipts, unread counts, a
// reply, an edit and a deletion; a group created, joined by invitation and
// used both ways; a reload that keeps everything; and a new browser that
// signs in and sees the whole history.
func TestChat(t *testing.T) {
	br := newBrowser(t, 150*time.Second)
	n := testnode.Start(t)
	base := "http://" + n.Config.HTTP

	alice := br.page("alice")
	bob := br.page("bob")
	bob.open(base)
	bob.viewport(375, 760)
	bob.screenshot("web-signin-375.png", 375)
	bob.viewport(1280, 800)
	alice.signUp(base, "alice", "Alice Martin")
	bob.signUp(base, "bob", "Bob Chen")
	// The page learnt the node's name from /v1/cluster.
	alice.wait("the site's name", `document.querySelector('[data-testid=connection]').dataset.site !== ''`, 15*time.Second)

	// A third member for the group, through the Go SDK.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	carol := n.Client(t)
	if _, err := carol.SignUp(ctx, api.SignUpRequest{Handle: "carol", Password: password, DisplayName: "Carol Diaz"}); err != nil {
		t.Fatal(err)
	}

	// ---- A direct chat, started by handle.
	alice.startDirect("bob", "Bob Chen")
	a1 := alice.send("Hi Bob! Are we still on for the hike on Saturday?")
	alice.waitMessage(a1, "sent", "delivered", "read")

	// Bob's list shows the room with one unread message and its preview.
	bob.wait("alice's room with 1 unread", `(() => {
		const b = document.querySelector('[data-testid=room-item][data-room-name="Alice Martin"]');
		return b && b.querySelector('[data-testid=unread]')?.textContent === '1' &&
			b.querySelector('[data-testid=room-preview]').textContent.includes('Are we still on');
	})()`, 15*time.Second)
	// Bob's page got the message live and said so: delivered, not read.
	alice.waitMessage(a1, "delivered")

	bob.openRoom("Alice Martin")
	bob.waitMessage(a1)
	bob.wait("the unread count to clear", `!document.querySelector('[data-testid=room-item][data-room-name="Alice Martin"] [data-testid=unread]')`, 15*time.Second)
	alice.waitMessage(a1, "read")
	alice.wait("Read spelled out", fmt.Sprintf(`document.querySelector('[data-client-id=%s] [data-testid=message-status]')?.textContent === 'Read'`, js(a1)), 15*time.Second)

	// Typing shows on the other side, then the answer.
	bob.fill(`[data-testid=composer]`, "Yes!")
	alice.wait("bob typing", `document.querySelector('[data-testid=typing]').textContent === 'Bob Chen is typing…'`, 15*time.Second)
	b1 := bob.send("Yes! 9:30 at the trailhead. The route: https://example.com/trails/ridge-loop")
	alice.waitMessage(b1)
	// A screen reader hears the new message once, from a live region of
	// its own: the conversation, rebuilt as ticks change, is not one.
	alice.wait("the message announced", `document.querySelector('[data-testid=announce]').textContent ===
		'Bob Chen: Yes! 9:30 at the trailhead. The route: https://example.com/trails/ridge-loop' &&
		document.querySelector('[data-testid=messages]').getAttribute('aria-live') === 'off'`, 10*time.Second)
	alice.wait("typing to stop with the message", `document.querySelector('[data-testid=typing]').textContent === ''`, 3*time.Second)
	// The link is a link, and a safe one.
	link := eval[[]string](alice, fmt.Sprintf(`(() => { const a = document.querySelector('[data-client-id=%s] a');
		return a ? [a.href, a.rel, a.target, a.textContent] : []; })()`, js(b1)))
	if len(link) != 4 || link[0] != "https://example.com/trails/ridge-loop" || link[1] != "noopener noreferrer nofollow" || link[2] != "_blank" {
		t.Errorf("the link shows as %q", link)
	}

	// A reply (Alice) and an edit and a deletion (Bob).
	alice.click(fmt.Sprintf(`[data-client-id=%s] [data-testid=reply]`, js(b1)))
	alice.wait("the reply context", `!document.querySelector('[data-testid=composer-context]').hidden`, 15*time.Second)
	a2 := alice.send("Perfect, I will bring coffee and the map.")
	bob.waitMessage(a2)
	bob.wait("the quote", fmt.Sprintf(`document.querySelector('[data-client-id=%s] [data-testid=reply-quote]')?.textContent.includes('9:30 at the trailhead')`, js(a2)), 15*time.Second)

	b2 := bob.send("Can you pick me up at 9?")
	bob.click(fmt.Sprintf(`[data-client-id=%s] [data-testid=edit]`, js(b2)))
	bob.wait("the edit context", `document.querySelector('[data-testid=composer]').value === 'Can you pick me up at 9?'`, 15*time.Second)
	bob.fill(`[data-testid=composer]`, "Can you pick me up at 8:45?")
	bob.run(`document.querySelector('[data-testid=send]').click()`)
	b3 := bob.send("Oops, wrong chat")
	bob.click(fmt.Sprintf(`[data-client-id=%s] [data-testid=delete]`, js(b3)))
	bob.click(fmt.Sprintf(`[data-client-id=%s] [data-testid=confirm-delete]`, js(b3)))
	alice.wait("the edit", fmt.Sprintf(`(() => { const m = document.querySelector('[data-client-id=%s]');
		return m && m.querySelector('[data-testid=message-text]').textContent === 'Can you pick me up at 8:45?' && !!m.querySelector('[data-testid=edited]'); })()`, js(b2)), 10*time.Second)
	alice.wait("the deletion", fmt.Sprintf(`document.querySelector('[data-client-id=%s] [data-testid=message-deleted]')?.textContent === 'Message deleted'`, js(b3)), 10*time.Second)
	a3 := alice.send("Sure, see you at 8:45!")
	bob.waitMessage(a3)
	alice.waitMessage(a3, "read")
	direct := []string{a1, b1, a2, b2, b3, a3}
	alice.checkOnce(direct)
	bob.checkOnce(direct)
	// A direct room has no name to change.
	alice.click(`[data-testid=room-info]`)
	alice.wait("the direct room's details", `document.querySelector('#room-dialog').open &&
		document.querySelector('#room-dialog-sub').textContent === 'Direct conversation'`, 15*time.Second)
	if eval[bool](alice, `!document.querySelector('#rename-form').hidden`) {
		t.Error("the details of a direct room offer to rename it")
	}
	alice.run(`document.querySelector('#room-dialog').close()`)

	// ---- A group: created with Carol, Bob invited, messages all ways.
	alice.click(`[data-testid=new-chat]`)
	alice.fill(`[data-testid=group-name]`, "Saturday hike")
	alice.fill(`[data-testid=group-members]`, "carol")
	alice.click(`[data-testid=group-submit]`)
	alice.waitTitle("Saturday hike")
	alice.click(`[data-testid=room-info]`)
	alice.wait("the members", `[...document.querySelectorAll('[data-testid=member]')].map(m => m.dataset.handle).sort().join() === 'alice,carol'`, 15*time.Second)
	alice.fill(`[data-testid=invite-handle]`, "bob")
	alice.click(`[data-testid=invite-submit]`)
	alice.wait("bob a member", `[...document.querySelectorAll('[data-testid=member]')].map(m => m.dataset.handle).sort().join() === 'alice,bob,carol'`, 15*time.Second)
	alice.run(`document.querySelector('#room-dialog').close()`)
	g1 := alice.send("Welcome to the hike group! Weather looks great.")
	bob.wait("the group in the list", `!!document.querySelector('[data-testid=room-item][data-room-name="Saturday hike"]')`, 10*time.Second)
	bob.openRoom("Saturday hike")
	bob.waitMessage(g1)
	gb := bob.send("Thanks for adding me!")
	alice.waitMessage(gb)
	rooms, err := carol.Rooms(ctx)
	if err != nil || len(rooms) != 1 {
		t.Fatalf("carol's rooms: %v %v", rooms, err)
	}
	if _, err := carol.Send(ctx, rooms[0].ID, "I'll bring snacks.", client.WithID("carol-1")); err != nil {
		t.Fatal(err)
	}
	alice.waitMessage("carol-1")
	bob.waitMessage("carol-1")
	// Bob has read it all (the room is open): "Seen by 1" on Alice's side
	// until Carol reads too.
	alice.wait("seen by bob", fmt.Sprintf(`document.querySelector('[data-client-id=%s]')?.dataset.status === 'read'`, js(g1)), 10*time.Second)
	if _, err := carol.MarkReceipt(ctx, rooms[0].ID, api.ReceiptRequest{Read: 100}); err != nil {
		t.Fatal(err)
	}
	group := []string{g1, gb, "carol-1"}
	alice.checkOnce(group)
	bob.checkOnce(group)

	// Alice renames the group from its details, with the keyboard: Bob's
	// list, header and conversation follow live.
	const renamed = "Saturday hike & picnic"
	alice.click(`[data-testid=room-info]`)
	alice.wait("the rename field", `!document.querySelector('#rename-form').hidden &&
		document.querySelector('[data-testid=rename-input]').value === 'Saturday hike' &&
		document.querySelector('label[for=rename-input]').textContent === 'Group name'`, 15*time.Second)
	for _, c := range []struct{ name, err string }{
		{"   ", "Give the group a name."},
		{strings.Repeat("한", 43), "That name is too long: 128 bytes at most."}, // 129 bytes
	} {
		alice.fill(`[data-testid=rename-input]`, c.name)
		alice.do(pressEnter(false))
		alice.wait("the error "+c.err, fmt.Sprintf(`document.querySelector('[data-testid=rename-error]').textContent === %s &&
			document.activeElement === document.querySelector('[data-testid=rename-input]')`, js(c.err)), 15*time.Second)
	}
	alice.fill(`[data-testid=rename-input]`, renamed)
	alice.do(pressEnter(false))
	alice.wait("the rename", fmt.Sprintf(`document.querySelector('[data-testid=rename-status]').textContent === %s &&
		document.querySelector('[data-testid=rename-error]').textContent === '' &&
		document.querySelector('#room-dialog-title').textContent === %s`, js("Renamed to “"+renamed+"”."), js(renamed)), 10*time.Second)
	alice.run(`document.querySelector('#room-dialog').close()`)
	bob.waitTitle(renamed)
	bob.wait("the new name in the list", fmt.Sprintf(`!!document.querySelector('[data-testid=room-item][data-room-name=%s]') &&
		!document.querySelector('[data-testid=room-item][data-room-name="Saturday hike"]')`, js(renamed)), 15*time.Second)
	for _, c := range []struct {
		p    *page
		text string
	}{{bob, "Alice Martin renamed the group to “" + renamed + "”"}, {alice, "You renamed the group to “" + renamed + "”"}} {
		c.p.wait("the rename in the conversation", fmt.Sprintf(`[...document.querySelectorAll('[data-testid=system-event]')].some(e => e.textContent === %s)`, js(c.text)), 10*time.Second)
	}
	alice.waitTitle(renamed)
	alice.run(`document.activeElement && document.activeElement.blur()`)
	alice.screenshot("web-group-1280.png", 1280)

	// Bob leaves the group: it goes from his list, Alice sees him leave.
	bob.click(`[data-testid=room-info]`)
	bob.click(`[data-testid=leave]`)
	bob.wait("the group gone", fmt.Sprintf(`!document.querySelector('[data-testid=room-item][data-room-name=%s]') && document.querySelector('#conv').hidden`, js(renamed)), 10*time.Second)
	alice.wait("bob's leaving", `[...document.querySelectorAll('[data-testid=system-event]')].some(e => e.textContent === 'Bob Chen left')`, 10*time.Second)

	// A longer history than one page, for the new device to page through.
	for i := range 70 {
		id := fmt.Sprintf("carol-more-%d", i)
		if _, err := carol.Send(ctx, rooms[0].ID, fmt.Sprintf("Packing list item %d", i), client.WithID(id)); err != nil {
			t.Fatal(err)
		}
		group = append(group, id)
	}
	alice.waitMessage(group[len(group)-1])
	alice.checkOnce(group)

	// The direct room now has unread messages for Bob when Alice writes.
	alice.openRoom("Bob Chen")
	a4 := alice.send("Also: bring sunscreen!")
	bob.wait("unread in the direct room", `document.querySelector('[data-testid=room-item][data-room-name="Alice Martin"] [data-testid=unread]')?.textContent === '1'`, 10*time.Second)
	direct = append(direct, a4)

	// ---- Bob reloads: still signed in, everything there.
	bob.do(chromedp.Reload())
	bob.waitConnected()
	bob.openRoom("Alice Martin")
	// The room's last message may show at once (from its summary), the
	// rest once its history is loaded.
	bob.wait("history after reload", fmt.Sprintf(`!!document.querySelector('[data-client-id=%s]') && !!document.querySelector('[data-client-id=%s]')`, js(direct[0]), js(a4)), 15*time.Second)
	bob.checkOnce(direct)
	bob.wait("unread cleared after reload", `!document.querySelector('[data-testid=room-item][data-room-name="Alice Martin"] [data-testid=unread]')`, 15*time.Second)

	// ---- A brand-new browser signs in as Alice and sees the whole history.
	alice2 := br.page("alice on a new device")
	alice2.signIn(base, "alice")
	alice2.openRoom("Bob Chen")
	alice2.wait("the whole history", fmt.Sprintf(`!!document.querySelector('[data-client-id=%s]') && !!document.querySelector('[data-client-id=%s]')`, js(direct[0]), js(a4)), 15*time.Second)
	alice2.checkOnce(direct)
	alice2.openRoom(renamed)
	// Scrolling up pages back over HTTP until the beginning.
	alice2.wait("the newest page", fmt.Sprintf(`!!document.querySelector('[data-client-id=%s]')`, js(group[len(group)-1])), 15*time.Second)
	if n := len(alice2.messages()); n >= len(group) {
		t.Errorf("the new device shows %d of %d messages before scrolling: the first page is not a page", n, len(group))
	}
	alice2.wait("the whole group history, scrolling up", `(() => {
		const box = document.querySelector('#messages');
		box.scrollTop = 0;
		box.dispatchEvent(new Event('scroll'));
		return !!document.querySelector('#messages .conv-start') && !!document.querySelector('[data-client-id="carol-1"]');
	})()`, 20*time.Second)
	alice2.checkOnce(group)
	// The new device is listed in Alice's settings, and can be revoked.
	alice2.click(`[data-testid=settings]`)
	alice2.wait("two devices", `document.querySelectorAll('[data-testid=device]').length === 2`, 15*time.Second)
	alice2.click(`[data-testid=revoke]`)
	alice2.wait("one device", `document.querySelectorAll('[data-testid=device]').length === 1`, 15*time.Second)
	// The revoked device (the first page) is signed out.
	alice.wait("the revoked page to sign out", `!document.querySelector('#auth').hidden`, 20*time.Second)
	alice2.click(`[data-testid=sign-out]`)
	alice2.wait("signed out", `!document.querySelector('#auth').hidden && !localStorage.getItem('dandan.session')`, 15*time.Second)

	// ---- Screenshots: Bob's conversation on a desktop and on a phone.
	bob.openRoom("Alice Martin")
	bob.run(`document.activeElement && document.activeElement.blur()`)
	bob.screenshot("web-chat-1280.png", 1280)
	bob.dark(true)
	bob.screenshot("web-chat-dark-1280.png", 1280)
	bob.dark(false)
	bob.checkCSP()
	bob.viewport(375, 760)
	bob.noOverflow(375)
	bob.screenshot("web-chat-375.png", 375)
	// On a phone the list and the conversation take turns; focus goes with
	// them instead of being lost with the hidden one.
	focusOn := func(sel string) string {
		return fmt.Sprintf(`document.activeElement === document.querySelector(%s) && document.activeElement.offsetParent !== null`, js(sel))
	}
	bob.click(`[data-testid=back]`)
	bob.wait("the room list, focus on the room left", focusOn(`[data-testid=room-item][data-room-name="Alice Martin"]`), 10*time.Second)
	bob.click(`[data-testid=room-item][data-room-name="Alice Martin"]`)
	bob.wait("the conversation, focus on its title", focusOn(`[data-testid=conv-title]`), 10*time.Second)
	bob.click(`[data-testid=back]`)
	bob.wait("the room list", `!document.querySelector('.sidebar').offsetParent === false`, 10*time.Second)
	bob.run(`document.activeElement && document.activeElement.blur()`)
	bob.noOverflow(375)
	bob.screenshot("web-rooms-375.png", 375)
}
