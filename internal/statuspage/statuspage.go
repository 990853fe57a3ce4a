// Package statuspage renders dandan's public status page: an HTML page for
// people, the same data as JSON for tools, and an Atom feed of incident
// updates. It only renders: the health evaluation and the incident engine
// produce the api.StatusPage it is given, through a Source.
//
//	h := statuspage.New(engine.StatusPage, statuspage.Options{Title: "Example chat status"})
//	mux.Handle("/status", h)      // the HTML page
//	mux.Handle("/status/", h)     // the same page, and /status/feed.atom
//	mux.Handle("/status.json", h) // the JSON
//
// The HTML page is self-contained (inline CSS only, no script, no fonts, no
// images) and is served with a Content-Security-Policy that forbids loading
// anything else, so it works when every other part of the node is broken and
// leaks nothing to third parties.
package statuspage

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/dandanchat/dandan/api"
)

// Source returns the current status page. The handler calls it once per
// request, with the request's context.
type Source func(ctx context.Context) (*api.StatusPage, error)

// Options tunes the handler.
type Options struct {
	Title string           // the page's and the feed's title; default "dandan status"
	Now   func() time.Time // the clock; default time.Now
}

// Handler serves the status page, its JSON and its Atom feed.
type Handler struct {
	src   Source
	title string
	now   func() time.Time
	page  *template.Template
}

// contentSecurityPolicy lets the page use its own inline styles and nothing
// else: no script, no external asset, no framing, no form.
const contentSecurityPolicy = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// New returns a handler that renders what src gives.
func New(src Source, opts Options) *Handler {
	h := &Handler{src: src, title: opts.Title, now: opts.Now}
	if h.title == "" {
		h.title = "dandan status"
	}
	if h.now == nil {
		h.now = time.Now
	}
	// The template is a constant of this package: a parse error is a bug
	// that every test catches, hence Must.
	h.page = template.Must(template.New("status").Parse(pageTemplate))
	return h
}

// ServeHTTP routes on the end of the path, so that the handler works
// wherever it is mounted: …/status and …/status/ (the page), …/status.json
// and …/status/feed.atom.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	var serve func(w http.ResponseWriter, sp *api.StatusPage, base string)
	var base string // the page's path, for the links between the three
	switch {
	case strings.HasSuffix(p, "/status.json"):
		serve, base = h.serveJSON, strings.TrimSuffix(p, ".json")
	case strings.HasSuffix(p, "/status/feed.atom"):
		serve, base = h.serveFeed, strings.TrimSuffix(p, "/feed.atom")
	case strings.HasSuffix(p, "/status"), strings.HasSuffix(p, "/status/"):
		serve, base = h.servePage, strings.TrimSuffix(p, "/")
	default:
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	sp, err := h.src(r.Context())
	if err != nil || sp == nil {
		// The page is public: the cause stays in the engine's logs.
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Retry-After", "30")
		http.Error(w, "status temporarily unavailable", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	serve(w, sp, base)
}

func (h *Handler) servePage(w http.ResponseWriter, sp *api.StatusPage, base string) {
	v := h.view(sp, base)
	// Render to a buffer first: a failure then gives a clean 500, never
	// half a page.
	var buf bytes.Buffer
	if err := h.page.Execute(&buf, v); err != nil {
		http.Error(w, "status page unavailable", http.StatusInternalServerError)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	hd.Set("Content-Security-Policy", contentSecurityPolicy)
	hd.Set("Referrer-Policy", "no-referrer")
	w.Write(buf.Bytes())
}

func (h *Handler) serveJSON(w http.ResponseWriter, sp *api.StatusPage, _ string) {
	b, err := json.Marshal(sp)
	if err != nil {
		http.Error(w, "status unavailable", http.StatusInternalServerError)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("Cache-Control", "no-store")
	hd.Set("Access-Control-Allow-Origin", "*") // public data, meant for other sites' widgets
	w.Write(append(b, '\n'))
}

func (h *Handler) serveFeed(w http.ResponseWriter, sp *api.StatusPage, base string) {
	f := h.feed(sp, base)
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	enc := xml.NewEncoder(&buf)
	enc.Indent("", "  ")
	if err := enc.Encode(f); err != nil {
		http.Error(w, "feed unavailable", http.StatusInternalServerError)
		return
	}
	buf.WriteByte('\n')
	hd := w.Header()
	hd.Set("Content-Type", "application/atom+xml; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	w.Write(buf.Bytes())
}
