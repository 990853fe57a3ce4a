// Package httpapi serves dandan's JSON-over-HTTP API (/v1/...): set-up,
// history and scripting. Every handler is a thin adapter over
// messenger.Service; authentication, rate limits, size limits, panics and
// error rendering are handled once, here, for all of them.
//
//	h := httpapi.New(svc, httpapi.Config{AuthLimit: al, RequestLimit: rl}, m, log)
//	mux.Handle("/v1/", h)
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/dandanchat/dandan/api"
	"github.com/dandanchat/dandan/internal/admit"
	"github.com/dandanchat/dandan/internal/messenger"
	"github.com/dandanchat/dandan/internal/metrics"
	"github.com/dandanchat/dandan/internal/ratelimit"
)

// Config tunes the API.
type Config struct {
	AuthLimit    *ratelimit.Limiter // sign-up and sign-in, per client address; nil = unlimited
	RequestLimit *ratelimit.Limiter // everything else, per device; nil = unlimited
	SendLimit    *ratelimit.Limiter // message sends, per device (shared with the WebSocket)
	Admit        *admit.Controller  // admission control by tier; nil = admit everything
	// Outcome, if set, is told every request's route name and status (the
	// health monitor's error-rate objectives).
	Outcome func(route string, status int)
}

// API is the HTTP handler of /v1.
type API struct {
	svc *messenger.Service
	cfg Config
	m   *metrics.Metrics
	log *slog.Logger
	mux *http.ServeMux
}

// New builds the API's routes.
func New(svc *messenger.Service, cfg Config, m *metrics.Metrics, log *slog.Logger) *API {
	a := &API{svc: svc, cfg: cfg, m: m, log: log.With("component", "http"), mux: http.NewServeMux()}
	a.routes()
	return a
}

func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

type (
	publicHandler func(ctx context.Context, r *http.Request) (any, error)
	authedHandler func(ctx context.Context, c messenger.Caller, r *http.Request) (any, error)
)

// public wraps a handler that needs no token (sign-up, sign-in): it is rate
// limited per address; its password hashing runs in the sign-in lane (see
// messenger.Config.Hashing), whose budget is its own, so that a login storm
// cannot starve messages.
func (a *API) public(route string, status int, h publicHandler) http.Handler {
	lane := a.cfg.Admit.SignIns.Name()
	return a.wrap(route, func(w http.ResponseWriter, r *http.Request) (any, int, error) {
		if err := allow(a.cfg.AuthLimit, clientAddr(r)); err != nil {
			a.cfg.Admit.Refused(lane, api.CodeOf(err))
			return nil, 0, err
		}
		v, err := h(r.Context(), r)
		if api.IsCode(err, api.CodeOverloaded) {
			a.cfg.Admit.Refused(lane, api.CodeOverloaded)
		}
		return v, status, err
	})
}

// authed wraps a handler that needs a device token: it is admitted by its
// tier (see tierOf), then rate limited per device.
func (a *API) authed(route string, status int, h authedHandler) http.Handler {
	tier := tierOf(route)
	return a.wrap(route, func(w http.ResponseWriter, r *http.Request) (any, int, error) {
		t, e := a.cfg.Admit.Admit(tier)
		if e != nil {
			a.cfg.Admit.Refused(tier.String(), e.Code)
			return nil, 0, e
		}
		defer t.Done()
		c, err := a.caller(r)
		if err != nil {
			return nil, 0, err
		}
		if err := allow(a.cfg.RequestLimit, c.Device); err != nil {
			a.cfg.Admit.Refused(tier.String(), api.CodeOf(err))
			return nil, 0, err
		}
		v, err := h(r.Context(), c, r)
		if api.IsCode(err, api.CodeRateLimited) { // the send limit
			a.cfg.Admit.Refused(tier.String(), api.CodeRateLimited)
		}
		return v, status, err
	})
}

// tierOf is the admission tier of an authenticated route: what a user does
// (sending, changing rooms) is Message, receipts are Receipt, and reading
// (history, lists, profiles) is Sync.
func tierOf(route string) admit.Tier {
	switch route {
	case "send", "edit", "delete", "direct", "rooms.create", "room.rename",
		"members.invite", "members.remove", "leave", "signout", "signout-all", "device":
		return admit.Message
	case "receipt":
		return admit.Receipt
	}
	return admit.Sync
}

func (a *API) caller(r *http.Request) (messenger.Caller, error) {
	h := r.Header.Get("Authorization")
	const prefix = "Bearer "
	if len(h) <= len(prefix) || h[:len(prefix)] != prefix {
		return messenger.Caller{}, api.Errorf(api.CodeUnauthorized, "missing Authorization: Bearer <token>")
	}
	return a.svc.Authenticate(r.Context(), h[len(prefix):])
}

func allow(l *ratelimit.Limiter, key string) error {
	if e := l.Check(key, "too many requests, slow down"); e != nil {
		return e
	}
	return nil // not a typed nil *api.Error
}

// wrap renders results and errors, bounds the body, counts and times the
// request and turns a panic into a 500 without taking the node down.
func (a *API) wrap(route string, h func(http.ResponseWriter, *http.Request) (any, int, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		status := http.StatusInternalServerError
		defer func() {
			if p := recover(); p != nil {
				a.log.Error("handler panic", "route", route, "panic", p)
				WriteError(w, api.Errorf(api.CodeInternal, "internal error"))
			}
			a.m.Requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
			if a.cfg.Outcome != nil {
				a.cfg.Outcome(route, status)
			}
			a.m.Latency.WithLabelValues("http " + route).Observe(time.Since(start).Seconds())
		}()
		r.Body = http.MaxBytesReader(w, r.Body, api.MaxHTTPBody)
		v, code, err := h(w, r)
		if err != nil {
			e := api.AsError(err)
			if e.Code == api.CodeInternal {
				a.log.Error("request failed", "route", route, "err", err)
			}
			a.m.Refused.WithLabelValues(string(e.Code)).Inc()
			status = WriteError(w, e)
			return
		}
		status = code
		if v == nil {
			w.WriteHeader(code)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(v)
	})
}

// WriteError answers a request with e: its HTTP status, a Retry-After header
// if it asks to wait, and the JSON error body. It returns the status.
func WriteError(w http.ResponseWriter, e *api.Error) int {
	status := e.Code.HTTPStatus()
	w.Header().Set("Content-Type", "application/json")
	if e.RetryAfterMS > 0 {
		w.Header().Set("Retry-After", strconv.FormatInt((e.RetryAfterMS+999)/1000, 10))
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(api.ErrorBody{Error: e})
	return status
}

// decode reads a JSON body into v, refusing unknown fields and trailing data.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return api.Errorf(api.CodeTooLarge, "the body is larger than %d bytes", api.MaxHTTPBody)
		}
		if errors.Is(err, io.EOF) {
			return api.Errorf(api.CodeBadRequest, "the body is empty; a JSON object is expected")
		}
		return api.Errorf(api.CodeBadRequest, "the body is not the JSON object expected: %s", shorten(err.Error()))
	}
	if dec.More() {
		return api.Errorf(api.CodeBadRequest, "the body has data after its JSON object")
	}
	return nil
}

func shorten(s string) string {
	if len(s) > 120 {
		return s[:120] + "…"
	}
	return s
}

// clientAddr is the request's remote IP address (without port).
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func uintParam(r *http.Request, name string) (uint64, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return 0, nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, api.Errorf(api.CodeBadRequest, "%s must be a non-negative integer", name)
	}
	return v, nil
}

func pathSeq(r *http.Request) (uint64, error) {
	v, err := strconv.ParseUint(r.PathValue("seq"), 10, 64)
	if err != nil || v == 0 {
		return 0, api.Errorf(api.CodeBadRequest, "the message seq must be a positive integer")
	}
	return v, nil
}
