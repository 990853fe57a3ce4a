package webapp

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestHandler checks what the handler serves without a browser: the page
// with its Content-Security-Policy, each asset with its content type, 304
// for an unchanged asset, and 404 for anything else.
func TestHandler(t *testing.T) {
	h := New()
	get := func(path string, hdr ...string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}

	page := get("/")
	if page.Code != http.StatusOK {
		t.Fatalf("GET / = %d", page.Code)
	}
	if ct := page.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("GET / Content-Type = %q", ct)
	}
	csp := page.Header().Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self' http: https: ws: wss:", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
		t.Errorf("CSP allows inline code: %q", csp)
	}
	body := page.Body.String()
	if !strings.Contains(body, `<script type="module" src="/app/app.js">`) {
		t.Error("the page does not load /app/app.js as a module")
	}
	// The CSP forbids inline scripts and styles: the page must have none.
	for _, bad := range []string{"<script>", "<style", " style=", "javascript:"} {
		if strings.Contains(body, bad) {
			t.Errorf("the page contains %q, which the CSP blocks", bad)
		}
	}

	assets := map[string]string{
		"/app/app.js":    "text/javascript; charset=utf-8",
		"/app/net.js":    "text/javascript; charset=utf-8",
		"/app/dom.js":    "text/javascript; charset=utf-8",
		"/app/icons.js":  "text/javascript; charset=utf-8",
		"/app/style.css": "text/css; charset=utf-8",
		"/app/icon.svg":  "image/svg+xml",
	}
	for path, typ := range assets {
		w := get(path)
		if w.Code != http.StatusOK {
			t.Errorf("GET %s = %d", path, w.Code)
			continue
		}
		if ct := w.Header().Get("Content-Type"); ct != typ {
			t.Errorf("GET %s Content-Type = %q, want %q", path, ct, typ)
		}
		if w.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s without nosniff", path)
		}
		if w.Body.Len() == 0 {
			t.Errorf("GET %s: empty", path)
		}
		etag := w.Header().Get("ETag")
		if etag == "" {
			t.Errorf("GET %s: no ETag", path)
		} else if c := get(path, "If-None-Match", etag).Code; c != http.StatusNotModified {
			t.Errorf("GET %s with its ETag = %d, want 304", path, c)
		}
	}

	for _, path := range []string{"/app/", "/app/nope.js", "/app/../webapp.go", "/app/static/app.js", "/index.html", "/app/app.js/"} {
		if c := get(path).Code; c != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", path, c)
		}
	}
}
