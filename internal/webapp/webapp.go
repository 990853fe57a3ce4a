// Package webapp serves dandan's browser client: one page and its assets,
// embedded in the binary so that a node needs nothing else to offer a chat
// client at "/". The client is plain HTML, CSS and JavaScript modules with no
// build step, so `go build` on a fresh machine produces the whole thing.
//
// The client talks to the node over the public protocol (docs/protocol.md)
// exactly like the Go SDK: HTTP for set-up and history, a WebSocket for live
// traffic, an outbox of unacknowledged sends resent with the same client id,
// and failover to the other sites listed by /v1/cluster.
package webapp

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
)

//go:embed static
var embedded embed.FS

// contentSecurityPolicy lets the page run only its own scripts and styles
// and talk to any site of the cluster (which may have other origins).
// Message text is never interpreted as HTML; this policy is the second line
// of defence should that ever break.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self' http: https: ws: wss:; manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// types are the content types of the client's assets, fixed here rather
// than read from the machine's mime.types, which differ between systems.
var types = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".json": "application/json",
}

// Handler serves the client: the page at "/" and assets at "/app/NAME".
type Handler struct {
	files map[string]asset
}

type asset struct {
	body []byte
	typ  string
	etag string
}

// New loads the embedded assets.
func New() *Handler {
	h := &Handler{files: map[string]asset{}}
	static, _ := fs.Sub(embedded, "static")
	_ = fs.WalkDir(static, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(static, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		typ := types[path.Ext(p)]
		if typ == "" {
			typ = mime.TypeByExtension(path.Ext(p))
		}
		if typ == "" {
			typ = "application/octet-stream"
		}
		h.files[p] = asset{body: b, typ: typ, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
	return h
}

// ServeHTTP serves "/" (the page) and "/app/NAME" (an asset).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := "index.html"
	if r.URL.Path != "/" {
		name = strings.TrimPrefix(r.URL.Path, "/app/")
	}
	// Only embedded names are served: a map lookup, never a file path.
	a, ok := h.files[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", a.typ)
	hd.Set("ETag", a.etag)
	// Revalidate every time: a node upgrade must reach browsers at once,
	// and an unchanged asset costs a 304.
	hd.Set("Cache-Control", "no-cache")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	if name == "index.html" {
		hd.Set("Content-Security-Policy", contentSecurityPolicy)
		hd.Set("X-Frame-Options", "DENY")
	}
	if r.Header.Get("If-None-Match") == a.etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Write(a.body)
}
