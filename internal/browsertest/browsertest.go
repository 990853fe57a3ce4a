// Package browsertest starts a real headless Chromium for tests and keeps
// their screenshots as artifacts. It needs Debian's chromium package (or
// DANDAN_CHROMIUM naming a Chrome or Chromium binary); DANDAN_SKIP_BROWSER=1
// skips browser tests where there is no browser, and nothing else does.
//
//	ctx := browsertest.Start(t, time.Minute) // a tab; the browser stops with the test
//	shot, _ := chromedp.Run(ctx, chromedp.FullScreenshot(90))
//	browsertest.WritePNG(t, filepath.Join(browsertest.ArtifactsDir(t), "page.png"), shot, 1280)
package browsertest

import (
	"bytes"
	"context"
	"errors"
	"image"
	_ "image/jpeg" // FullScreenshot below quality 100 gives JPEG
	"image/png"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Start starts Chromium for one test and returns its first tab. One
// deadline, timeout, covers the browser's start and the whole test, so a
// hung browser fails the test instead of hanging it. The browser stops
// when the test ends.
func Start(t testing.TB, timeout time.Duration) context.Context {
	t.Helper()
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
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
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
		// Pages of several users run side by side: none may be throttled
		// as a background tab.
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	tab, cancelTab := chromedp.NewContext(ctx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc() // waits for the browser to exit, before TempDir's clean-up
		cancel()
	})
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("start the browser: %v", err)
	}
	return tab
}

// WritePNG stores a screenshot as PNG, failing if it is not a real,
// non-empty image. A screenshot of the wrong width is kept, for the
// failure to be seen, but fails the test.
func WritePNG(t testing.TB, path string, shot []byte, width int) {
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

// ArtifactsDir is $DANDAN_ARTIFACTS, or artifacts/ at the repository's
// root, created if need be.
func ArtifactsDir(t testing.TB) string {
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
