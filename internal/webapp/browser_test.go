package webapp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/dandanchat/dandan/internal/browsertest"
	"github.com/dandanchat/dandan/internal/testnode"
)

// The end-to-end tests drive the client in a real headless Chromium, one
// browser per test and one browser context (its own storage) per user.
// They need Debian's chromium package (or DANDAN_CHROMIUM pointing at a
// Chrome or Chromium binary); DANDAN_SKIP_BROWSER=1 skips them where there
// is no browser, and nothing else does.

func TestMain(m *testing.M) { testnode.Main(m) }

const password = "correct horse battery"

type browser struct {
	t   *testing.T
	ctx context.Context // the browser's first tab; pages are new contexts of it
}

// newBrowser starts Chromium for one test; it stops when the test ends.
func newBrowser(t *testing.T, timeout time.Duration) *browser {
	t.Helper()
	return &browser{t: t, ctx: browsertest.Start(t, timeout)}
}

// page is one user's tab in its own browser context (its own storage).
type page struct {
	t    *testing.T
	ctx  context.Context
	name string
}

func (b *browser) page(name string) *page {
	b.t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	b.t.Cleanup(cancel)
	p := &page{t: b.t, ctx: ctx, name: name}
	p.do(chromedp.EmulateViewport(1280, 800))
	return p
}

func (p *page) do(actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, actions...); err != nil {
		p.t.Fatalf("%s: %v", p.name, err)
	}
}

// eval evaluates js in p and decodes its value.
func eval[T any](p *page, js string) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		p.t.Fatalf("%s: evaluate %.80q: %v", p.name, js, err)
	}
	return v
}

// run evaluates js for its effects.
func (p *page) run(js string) {
	p.t.Helper()
	eval[chromedp.Void](p, js)
}

// wait polls the predicate js every 50 ms until it is true, failing the
// test with what the page shows if it is not within d.
func (p *page) wait(what, js string, d time.Duration) {
	p.t.Helper()
	if err := p.poll(js, d); err != nil {
		p.t.Fatalf("%s: waiting %v for %s: %v\n%s", p.name, d, what, err, p.describe())
	}
}

// poll polls the predicate js every 50 ms until it is true; an error if
// it is not within d.
func (p *page) poll(js string, d time.Duration) error {
	// The context's deadline bounds the poll even where the page has no
	// document to poll in yet.
	ctx, cancel := context.WithTimeout(p.ctx, d+2*time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](js,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(d)))
	return err
}

// describe is what the page shows, for failure messages.
func (p *page) describe() string {
	ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => {
		const q = (s) => document.querySelector(s);
		const conn = q('#conn');
		const msgs = [...document.querySelectorAll('#messages [data-testid=message]')].map(m =>
			'  ' + m.dataset.seq + ' ' + m.dataset.clientId + ' ' + (m.dataset.status || '') + ' ' + JSON.stringify((m.querySelector('.msg-text') || {}).textContent || '').slice(0, 60));
		const rooms = [...document.querySelectorAll('[data-testid=room-item]')].map(r => '  ' + r.dataset.roomName + ' unread=' + r.dataset.unread);
		return 'connection: ' + (conn ? conn.dataset.state + ' ' + conn.querySelector('.conn-text').textContent : '?') +
			'\nauth hidden: ' + q('#auth').hidden + ', chat hidden: ' + q('#chat').hidden +
			'\nerrors: ' + [...document.querySelectorAll('.form-error')].map(e => e.textContent).filter(Boolean).join(' | ') +
			'\nrooms:\n' + rooms.join('\n') + '\nopen: ' + (q('#conv-title') || {}).textContent +
			'\nmessages:\n' + msgs.join('\n') +
			'\nsaved outboxes:\n' + Object.keys(localStorage).filter(k => k.startsWith('dandan.outbox.')).map(k =>
				'  ' + k + ' ' + (localStorage.getItem(k) || '').slice(0, 2000)).join('\n');
	})()`))
	if err != nil {
		return "(page unreadable: " + err.Error() + ")"
	}
	return v
}

// js is v as a JavaScript literal. It keeps < > & as they are (not
// \u003c …), so that the literal means the same inside a CSS selector
// built from it.
func js(v any) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return strings.TrimSuffix(b.String(), "\n")
}

// click clicks the element sel matches.
func (p *page) click(sel string) {
	p.t.Helper()
	p.wait("to click "+sel, fmt.Sprintf(`!!document.querySelector(%s)`, js(sel)), 10*time.Second)
	p.run(fmt.Sprintf(`document.querySelector(%s).click()`, js(sel)))
}

// fill types v into the input sel matches (as one input event).
func (p *page) fill(sel, v string) {
	p.t.Helper()
	p.run(fmt.Sprintf(`(() => { const el = document.querySelector(%s); el.focus(); el.value = %s;
		el.dispatchEvent(new Event('input', {bubbles: true})); })()`, js(sel), js(v)))
}

func (p *page) open(url string) {
	p.t.Helper()
	p.do(chromedp.Navigate(url))
	p.wait("the app to start", `document.querySelector('#boot') && document.querySelector('#boot').hidden`, 15*time.Second)
	p.watchCSP()
}

// watchCSP records the page's Content-Security-Policy violations from now
// on (the client must need none: no inline script or style).
func (p *page) watchCSP() {
	p.t.Helper()
	p.run(`window.__csp = window.__csp || [];
		document.addEventListener('securitypolicyviolation', e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI))`)
}

func (p *page) checkCSP() {
	p.t.Helper()
	if v := eval[[]string](p, `window.__csp || []`); len(v) > 0 {
		p.t.Errorf("%s: Content-Security-Policy violations: %q", p.name, v)
	}
}

// dark switches the page to the dark colour scheme (or back).
func (p *page) dark(on bool) {
	p.t.Helper()
	v := "light"
	if on {
		v = "dark"
	}
	p.do(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: v}}})
		return err
	}))
	p.wait("the colour scheme", fmt.Sprintf(`matchMedia('(prefers-color-scheme: %s)').matches`, v), 15*time.Second)
}

func (p *page) signUp(base, handle, name string) {
	p.t.Helper()
	p.open(base)
	p.click(`[data-testid=tab-signup]`)
	p.fill(`[data-testid=signup-handle]`, handle)
	p.fill(`[data-testid=signup-name]`, name)
	p.fill(`[data-testid=signup-password]`, password)
	p.click(`[data-testid=signup-submit]`)
	p.waitConnected()
}

func (p *page) signIn(base, handle string) {
	p.t.Helper()
	p.open(base)
	p.fill(`[data-testid=signin-handle]`, handle)
	p.fill(`[data-testid=signin-password]`, password)
	p.click(`[data-testid=signin-submit]`)
	p.waitConnected()
}

func (p *page) waitConnected() {
	p.t.Helper()
	p.wait("to be signed in and connected", `!document.querySelector('#chat').hidden &&
		['connected', 'moved'].includes(document.querySelector('[data-testid=connection]').dataset.state)`, 20*time.Second)
}

// startDirect opens a direct room with handle through the new chat dialog.
func (p *page) startDirect(handle, title string) {
	p.t.Helper()
	p.click(`[data-testid=new-chat]`)
	p.fill(`[data-testid=direct-handle]`, handle)
	p.click(`[data-testid=direct-submit]`)
	p.waitTitle(title)
}

func (p *page) waitTitle(title string) {
	p.t.Helper()
	p.wait("the room "+title+" to be open", fmt.Sprintf(`!document.querySelector('#conv').hidden &&
		document.querySelector('[data-testid=conv-title]').textContent === %s &&
		!document.querySelector('#new-chat').open`, js(title)), 10*time.Second)
}

// openRoom opens the room called name from the room list.
func (p *page) openRoom(name string) {
	p.t.Helper()
	sel := fmt.Sprintf(`[data-testid=room-item][data-room-name=%s]`, js(name))
	p.click(sel)
	p.waitTitle(name)
}

// send types text in the composer and presses Enter (a real key press);
// it returns the client id of the message that appears.
func (p *page) send(text string) string {
	p.t.Helper()
	before := p.clientIDs()
	p.fill(`[data-testid=composer]`, text)
	p.do(pressEnter(false))
	var id string
	deadline := time.Now().Add(15 * time.Second)
	for id == "" {
		for _, c := range p.clientIDs() {
			if !slices.Contains(before, c) {
				id = c
			}
		}
		if id == "" {
			if time.Now().After(deadline) {
				p.t.Fatalf("%s: the message %.40q does not appear\n%s", p.name, text, p.describe())
			}
			time.Sleep(30 * time.Millisecond)
		}
	}
	if v := eval[string](p, `document.querySelector('[data-testid=composer]').value`); v != "" {
		p.t.Errorf("%s: the composer still holds %q after sending", p.name, v)
	}
	return id
}

// pressEnter presses Enter (with Shift if shift) as a keyboard does: a
// keydown that carries its text, so that a handler's preventDefault stops
// the line break (chromedp.KeyEvent sends the text as a separate char
// event, which no page can cancel).
func pressEnter(shift bool) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		var mod int64
		if shift {
			mod = 8
		}
		down := input.DispatchKeyEventParams{Type: input.DispatchKeyEventTypeKeyDown, Key: "Enter", Code: "Enter",
			WindowsVirtualKeyCode: 13, NativeVirtualKeyCode: 13, Text: "\r", UnmodifiedText: "\r", Modifiers: mod}
		if _, err := cdp.Call(ctx, t, input.DispatchKeyEvent, down); err != nil {
			return err
		}
		up := down
		up.Type, up.Text, up.UnmodifiedText = input.DispatchKeyEventTypeKeyUp, "", ""
		_, err := cdp.Call(ctx, t, input.DispatchKeyEvent, up)
		return err
	})
}

// shown is one message as the open conversation shows it.
type shown struct {
	ClientID string
	Seq      string
	Status   string
	Sender   string
	Text     string
}

func (p *page) messages() []shown {
	p.t.Helper()
	return eval[[]shown](p, `[...document.querySelectorAll('#messages [data-testid=message]')].map(m => ({
		ClientID: m.dataset.clientId, Seq: m.dataset.seq, Status: m.dataset.status || '', Sender: m.dataset.sender,
		Text: (m.querySelector('[data-testid=message-text]') || m.querySelector('[data-testid=message-deleted]') || {}).textContent || ''}))`)
}

func (p *page) clientIDs() []string {
	p.t.Helper()
	var ids []string
	for _, m := range p.messages() {
		ids = append(ids, m.ClientID)
	}
	return ids
}

// waitMessage waits until the message with client id shows, with a
// status in statuses if any are given (own messages).
func (p *page) waitMessage(id string, statuses ...string) {
	p.t.Helper()
	cond := fmt.Sprintf(`document.querySelector('#messages [data-testid=message][data-client-id=%s]')`, js(id))
	if len(statuses) > 0 {
		cond = fmt.Sprintf(`(%s || {dataset: {}}).dataset.status`, cond)
		cond = fmt.Sprintf(`%s.includes(%s)`, js(statuses), cond)
	} else {
		cond = fmt.Sprintf(`!!%s && %s.dataset.seq !== ''`, cond, cond)
	}
	p.wait(fmt.Sprintf("message %s %v", id, statuses), cond, 30*time.Second)
}

// checkOnce checks that the open conversation shows every id of want
// exactly once, in that order, with increasing seqs, and nothing pending.
func (p *page) checkOnce(want []string) {
	p.t.Helper()
	var got []string
	seen := map[string]int{}
	last := 0
	for _, m := range p.messages() {
		if m.ClientID == "" {
			continue
		}
		seen[m.ClientID]++
		got = append(got, m.ClientID)
		var seq int
		if _, err := fmt.Sscan(m.Seq, &seq); err != nil || seq <= last {
			p.t.Errorf("%s: message %s has seq %q after %d", p.name, m.ClientID, m.Seq, last)
		}
		last = seq
		if m.Status == "pending" || m.Status == "failed" {
			p.t.Errorf("%s: message %s is %s", p.name, m.ClientID, m.Status)
		}
	}
	for id, n := range seen {
		if n != 1 {
			p.t.Errorf("%s: message %s shows %d times", p.name, id, n)
		}
	}
	if !slices.Equal(got, want) {
		p.t.Errorf("%s: the conversation shows\n  %v\nwant\n  %v\n%s", p.name, got, want, p.describe())
	}
}

// screenshot keeps a PNG of the viewport as an artifact.
func (p *page) screenshot(name string, width int) {
	p.t.Helper()
	shot, err := chromedp.Run(p.ctx, chromedp.FullScreenshot(92))
	if err != nil {
		p.t.Fatalf("%s: screenshot: %v", p.name, err)
	}
	browsertest.WritePNG(p.t, filepath.Join(browsertest.ArtifactsDir(p.t), name), shot, width)
}

// viewport sets the page's size: a desktop, or a phone (mobile emulation
// honours the viewport meta tag).
func (p *page) viewport(width, height int64) {
	p.t.Helper()
	var opts []chromedp.EmulateViewportOption
	if width < 700 {
		opts = append(opts, chromedp.EmulateMobile, chromedp.EmulatePortrait)
	}
	p.do(chromedp.EmulateViewport(width, height, opts...))
	p.wait("the new size", fmt.Sprintf(`window.innerWidth === %d`, width), 15*time.Second)
}

// noOverflow checks that nothing sticks out of the page horizontally.
func (p *page) noOverflow(width int64) {
	p.t.Helper()
	type dims struct {
		ScrollW, ClientW int
		Wide             []string
	}
	d := eval[dims](p, `(() => {
		const w = document.documentElement.clientWidth;
		const wide = [...document.querySelectorAll('#chat *')].filter(el => {
			const r = el.getBoundingClientRect();
			return r.width > 0 && (r.right > w + 1 || r.left < -1) && el.offsetParent !== null;
		}).slice(0, 5).map(el => el.tagName + '.' + el.className + ' ' + Math.round(el.getBoundingClientRect().right));
		return {ScrollW: document.documentElement.scrollWidth, ClientW: w, Wide: wide};
	})()`)
	if d.ScrollW > d.ClientW || d.ClientW != int(width) || len(d.Wide) > 0 {
		p.t.Errorf("%s at %dpx: the page overflows: scrollWidth %d, clientWidth %d, outside: %v", p.name, width, d.ScrollW, d.ClientW, d.Wide)
	}
}

// roomID is the id of the room the room list calls name.
func (p *page) roomID(name string) string {
	p.t.Helper()
	return eval[string](p, fmt.Sprintf(`document.querySelector('[data-testid=room-item][data-room-name=%s]').dataset.roomId`, js(name)))
}

// unread is the unread count the room list shows for the room called name.
func (p *page) unread(name string) string {
	p.t.Helper()
	return eval[string](p, fmt.Sprintf(`(() => {
		const b = document.querySelector('[data-testid=room-item][data-room-name=%s] [data-testid=unread]');
		return b ? b.textContent : '';
	})()`, js(name)))
}

// apiCall makes a request of the HTTP API at base as the holder of token,
// failing the test on an error or an answer other than 2xx; out, if not
// nil, takes the answer's JSON.
func apiCall(t *testing.T, base, token, method, path string, body, out any) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(method, base+path, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %s", method, path, resp.Status)
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
	}
}

// onEveryLoad has the page run src, a script, before its own scripts on
// every load from now on (not the current one).
func (p *page) onEveryLoad(src string) {
	p.t.Helper()
	p.do(chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, cdppage.AddScriptToEvaluateOnNewDocument, cdppage.AddScriptToEvaluateOnNewDocumentParams{Source: src})
		return err
	}))
}
