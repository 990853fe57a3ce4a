// Package metrics holds a node's Prometheus collectors, registered on a
// registry of the node's own (never the global one, so that several nodes
// can run in one process).
//
//	m := metrics.New()
//	m.Sessions.Inc()
//	http.Handle("/metrics", m.Handler())
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the collectors of one node.
type Metrics struct {
	Registry *prometheus.Registry

	Sessions      prometheus.Gauge       // open WebSocket sessions
	FramesIn      *prometheus.CounterVec // client frames, by type
	FramesOut     prometheus.Counter     // frames written to clients
	SlowConsumers prometheus.Counter     // sessions cut for falling behind
	Lagging       prometheus.Counter     // live events a session read from the store because its queue was full
	Requests      *prometheus.CounterVec // HTTP requests, by route and status code
	Latency       *prometheus.HistogramVec
	Stored        *prometheus.CounterVec // stored events, by type
	Refused       *prometheus.CounterVec // requests refused, by error code
}

// New creates the collectors on a fresh registry, with Go runtime and process
// collectors.
func New() *Metrics {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	f := func(c prometheus.Collector) prometheus.Collector { r.MustRegister(c); return c }
	return &Metrics{
		Registry: r,
		Sessions: f(prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "dandan_ws_sessions", Help: "Open WebSocket sessions."})).(prometheus.Gauge),
		FramesIn: f(prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dandan_ws_frames_in_total", Help: "Frames received from clients, by type."}, []string{"type"})).(*prometheus.CounterVec),
		FramesOut: f(prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dandan_ws_frames_out_total", Help: "Frames written to clients."})).(prometheus.Counter),
		SlowConsumers: f(prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dandan_ws_slow_consumers_total", Help: "Sessions closed because they fell behind."})).(prometheus.Counter),
		Lagging: f(prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dandan_ws_lagging_events_total", Help: "Live events not queued for a full session, read from the store later."})).(prometheus.Counter),
		Requests: f(prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dandan_http_requests_total", Help: "HTTP requests, by route and status."}, []string{"route", "status"})).(*prometheus.CounterVec),
		Latency: f(prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "dandan_op_duration_seconds", Help: "Duration of operations, by operation.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}},
			[]string{"op"})).(*prometheus.HistogramVec),
		Stored: f(prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dandan_events_stored_total", Help: "Room events stored, by type."}, []string{"type"})).(*prometheus.CounterVec),
		Refused: f(prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dandan_refused_total", Help: "Requests refused, by error code."}, []string{"code"})).(*prometheus.CounterVec),
	}
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}
