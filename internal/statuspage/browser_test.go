package statuspage

import (
	"bytes"
	"context"
	"errors"
	"image"
	_ "image/jpeg" // FullScreenshot below 100 quality gives JPEG
	"image/png"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
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
	execPath := os.Getenv("DANDAN_CHROMIUM")
	if execPath == "" {
		execPath = "/usr/bin/chromium"
	}
	if _, err := os.Stat(execPath); err != nil {
		if os.Getenv("DANDAN_SKIP_BROWSER") == "1" {
			t.Skipf("no browser at %s and DANDAN_SKIP_BROWSER=1", execPath)
		}
		t.Fatalf("no browser at %s (%v): install Debian's chromium package (apt-get install chromium), "+
			"or set DANDAN_CHROMIUM to a Chromium binary, or set DANDAN_SKIP_BROWSER=1 to skip this test", execPath, err)
	}
	artifacts := artifactsDir(t)

	srv := httptest.NewServer(newHandler(fixture()))
	defer srv.Close()

	// The one deadline covers the browser's start too: a hung browser fails
	// the test instead of hanging it.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ctx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(execPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true), // /dev/shm is tiny in containers
		chromedp.UserDataDir(t.TempDir()),
	)
	defer cancelAlloc() // waits for the browser to exit, before TempDir's clean-up
	ctx, cancelTab := chromedp.NewContext(ctx)
	defer cancelTab()

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
		writePNG(t, filepath.Join(artifacts, vp.name), shot, int(vp.width))
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

// writePNG stores a screenshot as PNG (FullScreenshot gives JPEG below
// quality 100), failing if it is empty or not a real image. It keeps a
// screenshot of the wrong width, for the failure to be seen, but fails.
func writePNG(t *testing.T, path string, shot []byte, width int) {
	t.Helper()
	if len(shot) == 0 {
		t.Fatalf("%s: empty screenshot", path)
	}
	img, _, err := image.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("%s: screenshot does not decode: %v", path, err)
	}
	b := img.Bounds()
	if b.Empty() {
		t.Fatalf("%s: empty screenshot (%dx%d)", path, b.Dx(), b.Dy())
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%dx%d)", path, b.Dx(), b.Dy())
	if b.Dx() != width {
		t.Errorf("%s: screenshot is %d wide, want %d", path, b.Dx(), width)
	}
}

// artifactsDir is $DANDAN_ARTIFACTS, or artifacts/ at the repository's root.
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("DANDAN_ARTIFACTS")
	if dir == "" {
		root, err := repoRoot()
		if err != nil {
			t.Fatal(err)
		}
		dir = filepath.Join(root, "artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// repoRoot walks up from the working directory (the package's, under go
// test) to the directory that holds go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}
