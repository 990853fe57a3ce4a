package httpapi

import "net/http"

// CrossOrigin lets pages of any origin call the API. A browser client
// loaded from one site must reach the others when its site fails, and
// those have other origins. This is safe because the API has no ambient
// credentials: every request carries its device token in the
// Authorization header, which a foreign page cannot read or forge, and no
// cookies are used (so Access-Control-Allow-Credentials is never sent).
func CrossOrigin(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		if r.Header.Get("Origin") != "" {
			hd.Set("Access-Control-Allow-Origin", "*")
			hd.Set("Access-Control-Expose-Headers", "Retry-After")
		}
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			hd.Set("Access-Control-Allow-Methods", "GET, POST, PATCH, DELETE")
			hd.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
			hd.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h.ServeHTTP(w, r)
	})
}
