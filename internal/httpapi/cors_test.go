package httpapi

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestCrossOrigin(t *testing.T) {
	called := 0
	h := CrossOrigin(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		called++
		w.WriteHeader(http.StatusTeapot)
	}))

	// A preflight is answered here, without reaching the API.
	req := httptest.NewRequest(http.MethodOptions, "/v1/rooms", nil)
	req.Header.Set("Origin", "https://dc2.chat.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	hd := rec.Header()
	if rec.Code != http.StatusNoContent || called != 0 || hd.Get("Access-Control-Allow-Origin") != "*" ||
		hd.Get("Access-Control-Allow-Headers") != "Authorization, Content-Type" || hd.Get("Access-Control-Allow-Credentials") != "" {
		t.Errorf("preflight: %d, API called %d times, headers %v", rec.Code, called, hd)
	}

	// A request from another origin reaches the API, readable by the page,
	// Retry-After included; never with credentials.
	req = httptest.NewRequest(http.MethodGet, "/v1/rooms", nil)
	req.Header.Set("Origin", "https://dc2.chat.example")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	hd = rec.Header()
	if rec.Code != http.StatusTeapot || called != 1 || hd.Get("Access-Control-Allow-Origin") != "*" ||
		hd.Get("Access-Control-Expose-Headers") != "Retry-After" || hd.Get("Access-Control-Allow-Credentials") != "" {
		t.Errorf("cross-origin GET: %d, headers %v", rec.Code, hd)
	}

	// Without an Origin (not a browser), nothing is added.
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/rooms", nil))
	if rec.Header().Get("Access-Control-Allow-Origin") != "" || called != 2 {
		t.Errorf("same-origin GET: headers %v", rec.Header())
	}
}
