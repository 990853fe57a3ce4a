package statuspage

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/dandanchat/dandan/internal/browsertest"
)

// TestBrowser renders the page in a real headless Chromium: the components,
// the incident and the maintenance must be visible, the layout must not
// overflow at phone or desktop width, and full-page screenshots of both are
// kept as artifacts for people to look at.
//
// It needs Debian's chromium package (or DANDAN_CHROMIUM pointing at a
// Chrome or Chromium binary); DANDAN_SKIP_BROWSER=1 skips it where there is
// no browser, and nothing else does.
func TestBrowser(t *testing.T) {
	artifacts := browsertest.ArtifactsDir(t)

	srv := httptest.NewServer(newHandler(fixture()))
	defer srv.Close()

	ctx := browsertest.Start(t, 60*time.Second)

	// Desktop first, then a phone: the same page must fit both.
	for _, vp := range []struct {
		width, height int64
		mobile        bool
		name          string
	}{
		{1280, 900, false, "status-page-1280.png"},
		{375, 800, true, "status-page-375.png"},
	} {
		var opts []chromedp.EmulateViewportOption
		if vp.mobile {
			// Mobile emulation honours the viewport meta tag: without it
			// the page would lay out 980px wide and overflow.
			opts = append(opts, chromedp.EmulateMobile, chromedp.EmulatePortrait)
		}
		err := chromedp.Do(ctx,
			chromedp.EmulateViewport(vp.width, vp.height, opts...),
			chromedp.Navigate(srv.URL+"/status"),
			chromedp.WaitVisible(chromedp.CSS("#components")),
		)
		if err != nil {
			t.Fatalf("%dpx: load the page: %v", vp.width, err)
		}
		checkRendered(t, ctx, vp.width)

		shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(90))
		if err != nil {
			t.Fatalf("%dpx: screenshot: %v", vp.width, err)
		}
		browsertest.WritePNG(t, filepath.Join(artifacts, vp.name), shot, int(vp.width))
	}
}

// rendered is what the page shows, read from the DOM.
type rendered struct {
	Components []struct{ Name, Label, Dot string }
	Bars       []int // uptime bars per component
	MinBar     float64
	Main       string // the visible text of <main>
	Incident   bool   // the incident's heading is visible
	ScrollW    int
	ClientW    int
}

const readDOM = `(() => {
	const visible = el => { const r = el.getBoundingClientRect(); return r.width > 0 && r.height > 0 && getComputedStyle(el).visibility !== 'hidden'; };
	const comps = [...document.querySelectorAll('#components li.component')];
	const bars = [...document.querySelectorAll('#components .bar')];
	const h3 = document.querySelector('#incidents article h3');
	return {
		Components: comps.map(li => ({
			Name: visible(li.querySelector('.name')) ? li.querySelector('.name').innerText : '',
			Label: visible(li.querySelector('.label')) ? li.querySelector('.label').innerText : '',
			Dot: getComputedStyle(li.querySelector('.dot')).backgroundColor,
		})),
		Bars: comps.map(li => li.querySelectorAll('.bar').length),
		MinBar: Math.min(...bars.map(b => b.getBoundingClientRect().width)),
		Main: document.querySelector('main').innerText,
		Incident: !!h3 && visible(h3),
		ScrollW: document.documentElement.scrollWidth,
		ClientW: document.documentElement.clientWidth,
	};
})()`

func checkRendered(t *testing.T, ctx context.Context, width int64) {
	t.Helper()
	r, err := chromedp.Run(ctx, chromedp.Evaluate[rendered](readDOM))
	if err != nil {
		t.Fatalf("%dpx: read the DOM: %v", width, err)
	}
	if len(r.Components) != len(fixtureComponents) {
		t.Fatalf("%dpx: %d components rendered, want %d", width, len(r.Components), len(fixtureComponents))
	}
	dots := map[string]string{}
	for i, want := range fixtureComponents {
		got := r.Components[i]
		if got.Name != want.name || got.Label != want.label {
			t.Errorf("%dpx: component %d shows %q %q, want %q %q", width, i, got.Name, got.Label, want.name, want.label)
		}
		if r.Bars[i] != 90 {
			t.Errorf("%dpx: %s has %d uptime bars, want 90", width, want.name, r.Bars[i])
		}
		dots[string(want.status)] = got.Dot
	}
	// The inline styles apply under the page's Content-Security-Policy:
	// the states have their own colours.
	if dots["operational"] == dots["major_outage"] || dots["operational"] == dots["degraded_performance"] || dots["operational"] == "rgba(0, 0, 0, 0)" {
		t.Errorf("%dpx: state colours are not applied: %v", width, dots)
	}
	if !r.Incident || !strings.Contains(r.Main, incidentName) {
		t.Errorf("%dpx: the incident %q is not visible", width, incidentName)
	}
	if !strings.Contains(r.Main, maintenanceName) {
		t.Errorf("%dpx: the maintenance %q is not visible", width, maintenanceName)
	}
	if r.MinBar <= 0 {
		t.Errorf("%dpx: some uptime bars have no width (%v)", width, r.MinBar)
	}
	if r.ScrollW > int(width) || r.ClientW != int(width) {
		t.Errorf("%dpx: the page overflows: scrollWidth %d, clientWidth %d", width, r.ScrollW, r.ClientW)
	}
}
