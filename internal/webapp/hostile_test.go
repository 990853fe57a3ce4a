package webapp_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dandanchat/dandan/internal/testnode"
)

// TestHostileMessages sends messages built to attack the page: markup,
// event handlers, a 5,000-character unbroken string and right-to-left
// override characters. They must show as the exact text sent, run
// nothing, add no element, and not break the layout at phone or desktop
// width.
func TestHostileMessages(t *testing.T) {
	br := newBrowser(t, 90*time.Second)
	n := testnode.Start(t)
	base := "http://" + n.Config.HTTP
	alice, bob, _ := pair(t, br, base)

	hostile := []string{
		`<script>window.__pwned=1</script>`,
		`<img src=x onerror="window.__pwned=1">`,
		strings.Repeat("W", 5000),
		"\u202Eevil.exe\u202C and \u202Egnp.scr \u2067isolate\u2069 \u200Fhidden",
		`<a href="javascript:window.__pwned=1">click</a> javascript:window.__pwned=1 <style>body{display:none}</style>`,
		"http://example.com/<img src=x onerror=window.__pwned=1> and https://ok.example/p?a=1&b=<b>",
		"line one\nline two\n\n  indented",
	}
	before := eval[int](bob, `document.querySelectorAll('script, img, style, iframe, object, embed').length`)
	var ids []string
	for _, text := range hostile {
		ids = append(ids, alice.send(text))
	}
	// Shift+Enter makes a new line and sends nothing.
	alice.fill(`[data-testid=composer]`, "no send")
	alice.do(pressEnter(true))
	if v := eval[string](alice, `document.querySelector('[data-testid=composer]').value`); v != "no send\n" {
		t.Errorf("after Shift+Enter the composer holds %q", v)
	}
	alice.fill(`[data-testid=composer]`, "")

	for _, p := range []*page{alice, bob} {
		for i, id := range ids {
			p.waitMessage(id)
			got := eval[string](p, fmt.Sprintf(`document.querySelector('[data-client-id=%s] [data-testid=message-text]').textContent`, js(id)))
			if got != hostile[i] {
				t.Errorf("%s: message %d shows %.80q, want %.80q", p.name, i, got, hostile[i])
			}
			dir := eval[[]string](p, fmt.Sprintf(`(() => { const el = document.querySelector('[data-client-id=%s] [data-testid=message-text]');
				return [el.getAttribute('dir') || '', getComputedStyle(el).unicodeBidi]; })()`, js(id)))
			if len(dir) != 2 || dir[0] != "auto" || dir[1] != "isolate" {
				t.Errorf("%s: message %d text has dir/unicode-bidi %v, want auto/isolate", p.name, i, dir)
			}
		}
		if v := eval[bool](p, `window.__pwned !== undefined`); v {
			t.Errorf("%s: a message ran code", p.name)
		}
		// Only the two http(s) links became elements, and not the javascript: one.
		links := eval[[]string](p, `[...document.querySelectorAll('#messages [data-testid=message-text] *')].map(el => el.tagName + ' ' + (el.href || ''))`)
		want := []string{"A http://example.com/", "A https://ok.example/p?a=1&b="}
		if strings.Join(links, "|") != strings.Join(want, "|") {
			t.Errorf("%s: the messages hold elements %q, want %q", p.name, links, want)
		}
	}
	alice.checkCSP()
	bob.checkCSP()
	if after := eval[int](bob, `document.querySelectorAll('script, img, style, iframe, object, embed').length`); after != before {
		t.Errorf("the page has %d script/img/style/... elements, had %d", after, before)
	}
	// The override characters stay inside their message: the time of the
	// message still sits at the right end of its bubble.
	rtl := ids[3]
	metaOK := eval[bool](bob, fmt.Sprintf(`(() => {
		const m = document.querySelector('[data-client-id=%s]');
		const b = m.querySelector('.bubble').getBoundingClientRect();
		const t = m.querySelector('.msg-meta:not(.meta-space)').getBoundingClientRect();
		return t.right <= b.right && t.right > b.right - 30;
	})()`, js(rtl)))
	if !metaOK {
		t.Error("the right-to-left override moved the message's time out of place")
	}

	for _, w := range []int64{1280, 375} {
		bob.viewport(w, 800)
		bob.noOverflow(w)
		// The long word wraps inside its bubble.
		wraps := eval[bool](bob, fmt.Sprintf(`(() => {
			const el = document.querySelector('[data-client-id=%s] .bubble');
			const r = el.getBoundingClientRect();
			return r.right <= document.documentElement.clientWidth && r.height > 100;
		})()`, js(ids[2])))
		if !wraps {
			t.Errorf("%dpx: the 5,000-character word does not wrap in its bubble", w)
		}
		bob.run(fmt.Sprintf(`document.querySelector('[data-client-id=%s]').scrollIntoView({block: 'center'})`, js(ids[3])))
		bob.screenshot(fmt.Sprintf("web-hostile-%d.png", w), int(w))
	}
}
