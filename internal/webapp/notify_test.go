package webapp_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/dandanchat/dandan/api"
	"github.com/dandanchat/dandan/client"
	"github.com/dandanchat/dandan/internal/testnode"
)

// TestNotifications checks the client's notifications in a real headless
// Chromium. Alice turns them on in Settings, which asks the browser's
// permission on that click; the test answers the prompt as a user would,
// by granting "notifications" to the page's origin in her browser context
// through CDP. Then, with her tab visible and the room open, a message from
// Bob shows no notification; with the tab hidden (its window minimised),
// it shows exactly one, with Bob's name and the message's text, and one of
// her own (from her other device) shows none. A message stored while she
// is offline is notified after her reconnection's catch-up. Clicking the
// notification opens the room.
func TestNotifications(t *testing.T) {
	br := newBrowser(t, 90*time.Second)
	n := testnode.Start(t)
	base := "http://" + n.Config.HTTP
	alice, bob, _ := pair(t, br, base)
	room := alice.roomID("Bob")

	// Alice's other device, through the Go SDK.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	phone := n.Client(t)
	if _, err := phone.SignIn(ctx, api.SignInRequest{Handle: "alice", Password: password, DeviceName: "Alice's phone"}); err != nil {
		t.Fatal(err)
	}

	alice.recordNotifications()

	// ---- Turning notifications on asks the browser's permission.
	alice.click(`[data-testid=settings]`)
	alice.wait("notifications off, not yet allowed", `(() => {
		const b = document.querySelector('[data-testid=notify-toggle]');
		return b.getAttribute('aria-pressed') === 'false' && b.textContent === 'Turn on' && !b.disabled &&
			Notification.permission === 'default';
	})()`, 15*time.Second)
	alice.click(`[data-testid=notify-toggle]`)
	alice.wait("the permission asked on the click", `window.__asked === 1`, 15*time.Second)
	if on := eval[bool](alice, `localStorage.getItem('dandan.notify') === '1'`); on {
		t.Error("notifications are on before the browser's permission")
	}
	alice.grantNotifications(base)
	alice.run(`window.__answer()`)
	alice.wait("notifications on", `(() => {
		const b = document.querySelector('[data-testid=notify-toggle]');
		return b.getAttribute('aria-pressed') === 'true' && b.textContent === 'Turn off' &&
			localStorage.getItem('dandan.notify') === '1';
	})()`, 15*time.Second)
	alice.run(`document.querySelector('#settings-dialog').close()`)

	// ---- Visible, with the room open: the message shows, no notification.
	v1 := bob.send("Can you see this one? You are looking at it.")
	alice.waitMessage(v1)
	if notes := alice.notifications(); len(notes) != 0 {
		t.Errorf("notifications while the tab is visible and the room open: %+v", notes)
	}

	// ---- Hidden, with the room closed: one notification per message from
	// someone else, none for her own.
	alice.run(`document.querySelector('[data-testid=back]').click()`)
	alice.wait("the room closed", `document.querySelector('#conv').hidden`, 15*time.Second)
	alice.hide()
	const h1 = "Dinner at 8? I booked the place on the corner."
	bob.send(h1)
	alice.wait("a notification", `window.__notes.length > 0 && window.__notes.every(n => n.shown)`, 15*time.Second)
	// A second notification of the one event would come at once.
	time.Sleep(300 * time.Millisecond)
	want := []note{{Title: "Bob", Body: h1, Tag: room, Shown: true}}
	alice.checkNotifications(want)

	// Her own message, from her phone, then another of Bob's: the room's
	// events arrive in order, so once Bob's shows, hers was handled.
	if _, err := phone.Send(ctx, room, "On my way (sent from my phone)", client.WithID("alice-phone-1")); err != nil {
		t.Fatal(err)
	}
	const h2 = "Great, see you there."
	bob.send(h2)
	alice.wait("a second notification", `window.__notes.length > 1 && window.__notes.every(n => n.shown)`, 15*time.Second)
	time.Sleep(300 * time.Millisecond)
	want = append(want, note{Title: "Bob", Body: h2, Tag: room, Shown: true})
	alice.checkNotifications(want)

	// A message stored while her connection is down (the node restarts
	// while her network is out) comes in the catch-up after she
	// reconnects: it is new to her, and notified too.
	alice.offline(true)
	n.Restart(t)
	alice.wait("the connection lost", `document.querySelector('[data-testid=connection]').dataset.state === 'offline'`, 10*time.Second)
	bob.waitConnected()
	const h3 = "Are you there? I wrote while you were offline."
	bob.waitMessage(bob.send(h3), "sent", "delivered", "read")
	if state := eval[string](alice, `document.querySelector('[data-testid=connection]').dataset.state`); state == "connected" {
		t.Fatal("alice reconnected while offline: the message would not come in a catch-up")
	}
	alice.offline(false)
	alice.waitConnected()
	alice.wait("a notification after the catch-up", `window.__notes.length > 2 && window.__notes.every(n => n.shown)`, 15*time.Second)
	time.Sleep(300 * time.Millisecond)
	want = append(want, note{Title: "Bob", Body: h3, Tag: room, Shown: true})
	alice.checkNotifications(want)

	// Clicking the last notification opens the room, where everything is.
	alice.run(`window.__notifications[window.__notifications.length - 1].dispatchEvent(new Event('click'))`)
	alice.show()
	alice.waitTitle("Bob")
	alice.waitMessage("alice-phone-1")
	if closed := eval[bool](alice, `window.__notes[window.__notes.length - 1].closed`); !closed {
		t.Error("the notification clicked stays open")
	}

	// ---- Visible again: no more notifications.
	v2 := bob.send("And this one shows in the open room.")
	alice.waitMessage(v2)
	alice.checkNotifications(want)
	alice.checkCSP()
}

// note is a notification the page made, as recordNotifications saw it.
type note struct {
	Title, Body, Tag string
	Shown            bool // the browser showed it (its show event)
}

// recordNotifications wraps the page's Notification constructor (which
// the client looks up when it notifies) to record every notification:
// each is still made by the real constructor, and the browser shows it.
// The static permission is the real one. requestPermission stands for the
// browser's prompt: it counts the times it is asked, and answers once the
// test calls window.__answer(), with the real requestPermission.
func (p *page) recordNotifications() {
	p.t.Helper()
	p.run(`(() => {
		const Real = window.Notification;
		window.__notes = [];
		window.__notifications = [];
		window.__asked = 0;
		class Recorded extends Real {
			constructor(title, options) {
				super(title, options);
				const rec = {title: String(title), body: String((options && options.body) || ''), tag: String((options && options.tag) || ''), shown: false, closed: false};
				this.addEventListener('show', () => { rec.shown = true; });
				const close = this.close.bind(this);
				this.close = () => { rec.closed = true; close(); };
				window.__notes.push(rec);
				window.__notifications.push(this);
			}
		}
		Object.defineProperty(Recorded, 'permission', {get: () => Real.permission});
		Recorded.requestPermission = (...args) => {
			window.__asked++;
			return new Promise((resolve, reject) => {
				window.__answer = () => Real.requestPermission(...args).then(resolve, reject);
			});
		};
		window.Notification = Recorded;
	})()`)
}

func (p *page) notifications() []note {
	p.t.Helper()
	return eval[[]note](p, `window.__notes.map(n => ({Title: n.title, Body: n.body, Tag: n.tag, Shown: n.shown}))`)
}

func (p *page) checkNotifications(want []note) {
	p.t.Helper()
	got := p.notifications()
	if !slices.Equal(got, want) {
		p.t.Errorf("%s: notifications\n  %+v\nwant\n  %+v", p.name, got, want)
	}
}

// offline cuts the page off the network (its WebSocket stays open until
// the server closes it), or connects it again.
func (p *page) offline(on bool) {
	p.t.Helper()
	var rules []*network.Conditions
	if on {
		rules = []*network.Conditions{{Offline: true}}
	} else {
		rules = []*network.Conditions{}
	}
	p.do(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if _, err := cdp.Call(ctx, t, network.Enable, network.EnableParams{}); err != nil {
			return err
		}
		if _, err := cdp.Call(ctx, t, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{MatchedNetworkConditions: rules}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, t, network.OverrideNetworkState, network.OverrideNetworkStateParams{Offline: on, DownloadThroughput: -1, UploadThroughput: -1})
		return err
	}))
	p.wait("navigator.onLine", fmt.Sprintf(`navigator.onLine === %v`, !on), 15*time.Second)
}

// grantNotifications grants the notifications permission to origin in the
// page's browser context, as a user allowing the browser's prompt does
// (Browser.setPermission: this cdproto has no Browser.grantPermissions).
func (p *page) grantNotifications(origin string) {
	p.t.Helper()
	_, err := chromedp.CallBrowser(p.ctx, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
		Permission:       &cdpbrowser.PermissionDescriptor{Name: "notifications"},
		Setting:          cdpbrowser.PermissionSettingGranted,
		Origin:           origin,
		BrowserContextID: chromedp.FromContext(p.ctx).BrowserContextID,
	})
	if err != nil {
		p.t.Fatalf("%s: grant notifications: %v", p.name, err)
	}
	p.wait("the permission granted", `Notification.permission === 'granted'`, 15*time.Second)
}

// hide minimises the page's window, which hides the page for real in
// headless Chromium too: document.hidden turns true with a visibilitychange
// event, and animation frames stop, while timers and the WebSocket go on,
// as in a background tab. (No override of document.visibilityState is
// needed.)
func (p *page) hide() {
	p.t.Helper()
	p.run(`window.__visibility = []; document.addEventListener('visibilitychange', () => window.__visibility.push(document.visibilityState))`)
	p.window(cdpbrowser.WindowStateMinimized)
	p.wait("the tab hidden", `document.visibilityState === 'hidden' && document.hidden && window.__visibility.includes('hidden')`, 15*time.Second)
}

// window sets the state of the page's window: minimized, normal, ….
func (p *page) window(state cdpbrowser.WindowState) {
	p.t.Helper()
	c := chromedp.FromContext(p.ctx)
	w, err := chromedp.CallBrowser(p.ctx, cdpbrowser.GetWindowForTarget, cdpbrowser.GetWindowForTargetParams{TargetID: c.Target.TargetID})
	if err != nil {
		p.t.Fatalf("%s: the window: %v", p.name, err)
	}
	if _, err := chromedp.CallBrowser(p.ctx, cdpbrowser.SetWindowBounds, cdpbrowser.SetWindowBoundsParams{WindowID: w.WindowID, Bounds: &cdpbrowser.Bounds{WindowState: state}}); err != nil {
		p.t.Fatalf("%s: window %s: %v", p.name, state, err)
	}
}

// show makes the tab visible and focused again.
func (p *page) show() {
	p.t.Helper()
	p.window(cdpbrowser.WindowStateNormal)
	p.wait("the tab visible", `document.visibilityState === 'visible' && !document.hidden`, 15*time.Second)
}

// TestNotifyFromSummary checks the notification of a message stored while
// the page was offline in a room it knows only by its summary (not opened
// since the page loaded, so no catch-up covers it): the room's summary on
// reconnecting brings the message, which is notified once.
func TestNotifyFromSummary(t *testing.T) {
	br := newBrowser(t, 90*time.Second)
	n := testnode.Start(t)
	base := "http://" + n.Config.HTTP
	alice, bob, _ := pair(t, br, base)
	room := alice.roomID("Bob")
	alice.grantNotifications(base)
	alice.run(`localStorage.setItem('dandan.notify', '1'); document.querySelector('[data-testid=back]').click()`)
	alice.wait("no room open", `location.hash === ''`, 5*time.Second)
	alice.do(chromedp.Reload())
	alice.waitConnected()
	alice.recordNotifications()
	alice.hide()

	alice.offline(true)
	n.Restart(t)
	alice.wait("the connection lost", `document.querySelector('[data-testid=connection]').dataset.state === 'offline'`, 10*time.Second)
	bob.waitConnected()
	const h = "Written while you were away, in a room you had not opened."
	bob.waitMessage(bob.send(h), "sent", "delivered")
	alice.offline(false)
	alice.waitConnected()
	alice.wait("a notification after reconnecting", `window.__notes.length > 0 && window.__notes.every(n => n.shown)`, 15*time.Second)
	time.Sleep(300 * time.Millisecond)
	alice.checkNotifications([]note{{Title: "Bob", Body: h, Tag: room, Shown: true}})
}
