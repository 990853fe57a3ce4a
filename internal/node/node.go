// Package node assembles one dandan node: the embedded JetStream broker, the
// store, the read model, the messenger, the WebSocket gateway and the HTTP
// server, with an ordered start and an ordered, idempotent shutdown.
//
//	n, err := node.New(cfg, log)
//	if err := n.Start(ctx); err != nil { … }
//	<-n.Ready()
//	fmt.Println(n.URL())
//	defer n.Shutdown(context.Background())
package node

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dandanchat/dandan/api"
	"github.com/dandanchat/dandan/internal/admit"
	"github.com/dandanchat/dandan/internal/auth"
	"github.com/dandanchat/dandan/internal/broker"
	"github.com/dandanchat/dandan/internal/canary"
	"github.com/dandanchat/dandan/internal/config"
	"github.com/dandanchat/dandan/internal/gateway"
	"github.com/dandanchat/dandan/internal/health"
	"github.com/dandanchat/dandan/internal/httpapi"
	"github.com/dandanchat/dandan/internal/index"
	"github.com/dandanchat/dandan/internal/messenger"
	"github.com/dandanchat/dandan/internal/metrics"
	"github.com/dandanchat/dandan/internal/notify"
	"github.com/dandanchat/dandan/internal/ratelimit"
	"github.com/dandanchat/dandan/internal/statuspage"
	"github.com/dandanchat/dandan/internal/store"
	"github.com/dandanchat/dandan/internal/webapp"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/time/rate"
)

// Node is one running dandan server.
type Node struct {
	cfg config.Config
	log *slog.Logger

	Metrics *metrics.Metrics
	broker  *broker.Broker
	store   *store.Store
	index   *index.Index
	svc     *messenger.Service
	gw      *gateway.Gateway
	admit   *admit.Controller
	health  *health.Monitor
	notify  *notify.Notifier
	canary  *canary.Prober // nil without --canary-every
	http    *http.Server
	ln      net.Listener
	scheme  string

	stopAnnounce   context.CancelFunc
	stopForwarding context.CancelFunc
	cutOff         atomic.Bool // cut off from the cluster's majority

	ready    chan struct{}
	served   chan struct{}
	shutdown sync.Once
	err      error
}

// New validates cfg and returns a node that is not started.
func New(cfg config.Config, log *slog.Logger) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Node{cfg: cfg, log: log, Metrics: metrics.New(), ready: make(chan struct{}), served: make(chan struct{})}, nil
}

// Start starts every component and the HTTP listener, and returns without
// waiting for the read model: Ready is closed when the node can serve.
func (n *Node) Start(ctx context.Context) error {
	if err := n.start(ctx); err != nil {
		n.stopComponents(context.Background())
		return err
	}
	return nil
}

func (n *Node) start(ctx context.Context) error {
	cfg := n.cfg
	if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	always, interval := cfg.SyncInterval()
	cluster, err := brokerCluster(cfg)
	if err != nil {
		return err
	}
	b, err := broker.Start(broker.Config{Dir: filepath.Join(cfg.Data, "jetstream"), Name: n.nodeName(),
		SyncAlways: always, SyncInterval: interval, Logger: n.log, Cluster: cluster})
	if err != nil {
		return err
	}
	n.broker = b
	n.store, err = n.openStore(ctx, store.Options{
		Partitions: cfg.Partitions, Replicas: cfg.EffectiveReplicas()})
	if err != nil {
		return err
	}
	ixConn, err := b.Connect("dandan-index")
	if err != nil {
		return err
	}
	ixJS, err := jetstream.New(ixConn)
	if err != nil {
		return err
	}
	n.index = index.New(n.store, ixJS, n.log)
	n.index.RememberIDs(index.DefaultIDEvents, cfg.DuplicateWindow)
	pw := auth.DefaultParams()
	if cfg.PasswordHash == "fast" {
		pw = auth.FastParams()
	}
	n.admit = admit.New(admission(cfg), n.Metrics.Registry)
	n.svc = messenger.New(n.store, n.index, b.Conn(), messenger.Config{MaxRoomMembers: cfg.MaxRoomMembers,
		Password: pw, Hashing: n.admit.SignIns}, n.log)

	if cfg.Clustered() {
		fwConn, err := b.Connect("dandan-forward")
		if err != nil {
			return err
		}
		fctx, cancel := context.WithCancel(context.Background())
		n.stopForwarding = cancel
		if err := n.svc.StartForwarding(fctx, n.nodeName(), fwConn, b.JetStream()); err != nil {
			return err
		}
	}
	sendLimit := limiter(cfg.SendRate, cfg.SendBurst)
	gwConn, err := b.Connect("dandan-gateway")
	if err != nil {
		return err
	}
	n.gw = gateway.New(n.svc, gwConn, gateway.Config{
		Queue:        cfg.WSQueue,
		SendLimit:    sendLimit,
		FrameLimit:   limiter(cfg.RequestRate, cfg.RequestBurst),
		ConnectLimit: limiter(cfg.RequestRate, cfg.RequestBurst),
		Admit:        n.admit,
		Outcome:      func(op string, status int) { n.health.Observe(op, status) },
	}, n.Metrics, n.log)
	if err := n.gw.Start(); err != nil {
		return err
	}
	if cfg.CanaryEvery > 0 {
		// Before the read model starts: the canary listens to its events.
		n.canary = canary.New(canary.Config{Service: n.svc, Store: n.store, Node: n.nodeName(), DC: cfg.DC,
			Every: cfg.CanaryEvery, Registry: n.Metrics.Registry, Logger: n.log})
	}
	if err := n.index.Start(context.Background()); err != nil {
		return err
	}
	apiHandler := httpapi.New(n.svc, httpapi.Config{
		AuthLimit:    limiter(cfg.AuthRate, cfg.AuthBurst),
		RequestLimit: limiter(cfg.RequestRate, cfg.RequestBurst),
		SendLimit:    sendLimit,
		Admit:        n.admit,
		// The monitor exists before the listener, so before any request.
		Outcome: func(route string, status int) { n.health.Observe(route, status) },
	}, n.Metrics, n.log)

	mux := http.NewServeMux()
	// CORS lets a page of another site ask, over fetch, why an upgrade was
	// refused (browsers hide the status of a failed WebSocket handshake).
	mux.Handle("GET /v1/ws", httpapi.CrossOrigin(n.gw))
	mux.Handle("/v1/", httpapi.CrossOrigin(n.unlessCutOff(apiHandler)))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", n.readyz)
	if cfg.MetricsAddr == "" {
		mux.Handle("GET /metrics", n.Metrics.Handler())
	}
	mux.Handle("GET /v1/cluster", httpapi.CrossOrigin(http.HandlerFunc(n.clusterInfo)))
	// The status page is served even when the node is cut off: it says so.
	n.notify = notify.New(notify.Config{Store: n.store, Registry: n.Metrics.Registry, Logger: n.log,
		SMTP:    notify.SMTP{Addr: cfg.SMTPAddr, From: cfg.SMTPFrom, User: cfg.SMTPUser, Password: cfg.SMTPPassword},
		PageURL: func() string { return strings.TrimSuffix(n.advertisedURL(), "/") + "/status" }})
	n.health = health.New(health.Config{Node: n.nodeName(), DC: cfg.DC, Store: n.store,
		Reached: n.broker.Reached, CutOff: n.cutOff.Load, Leaders: n.leaders, Drain: n.Drain,
		Announce: n.notify, Probe: n.probe, Logger: n.log, Registry: n.Metrics.Registry})
	status := statuspage.New(n.health.Page, statuspage.Options{})
	for _, p := range []string{"GET /status", "GET /status/", "GET /status.json", "GET /status/feed.atom"} {
		mux.Handle(p, status)
	}
	mux.Handle("/v1/admin/", n.health.AdminHandler(cfg.AdminToken))
	// The browser client: the page at "/", its assets under /app/.
	web := webapp.New()
	mux.Handle("GET /{$}", web)
	mux.Handle("GET /app/", web)

	n.http = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second,
		ErrorLog: slog.NewLogLogger(n.log.Handler(), slog.LevelDebug)}
	n.ln, err = net.Listen("tcp", cfg.HTTP)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.HTTP, err)
	}
	n.scheme = "http"
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return fmt.Errorf("tls: %w", err)
		}
		n.ln = tls.NewListener(n.ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		n.scheme = "https"
	}
	go func() {
		defer close(n.served)
		if err := n.http.Serve(n.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("http server stopped", "err", err)
		}
	}()
	if cfg.MetricsAddr != "" {
		go n.serveMetrics(cfg.MetricsAddr)
	}
	actx, cancel := context.WithCancel(context.Background())
	n.stopAnnounce = cancel
	go func() {
		select {
		case <-n.index.Ready():
			close(n.ready)
			n.log.Info("dandan is ready", "url", n.URL(), "data", cfg.Data, "sync", cfg.Sync,
				"node", n.nodeName(), "dc", cfg.DC, "replicas", cfg.EffectiveReplicas())
			if cfg.Clustered() {
				go n.watchCutOff(actx)
			}
			go n.health.Run(actx)
			go n.notify.Run(actx)
			if n.canary != nil {
				go n.canary.Run(actx)
			}
			n.announce(actx)
		case <-n.served:
		}
	}()
	return nil
}

// admission is the admission control of cfg.
func admission(cfg config.Config) admit.Config {
	return admit.Config{MaxInFlight: cfg.MaxInFlight, TargetLatency: cfg.LatencyTarget, MaxMemory: MemoryBound(cfg)}
}

// MemoryBound is the memory, in bytes, a node of cfg may use before it
// refuses new work: --max-memory, or 70% of the memory available, leaving
// room for JetStream's file cache and the kernel's socket buffers.
func MemoryBound(cfg config.Config) uint64 {
	if cfg.MaxMemory > 0 {
		return uint64(cfg.MaxMemory) << 20
	}
	return admit.SystemMemory() / 10 * 7
}

func limiter(r float64, burst int) *ratelimit.Limiter {
	if r <= 0 {
		return nil
	}
	return ratelimit.New(rate.Limit(r), burst, 1<<20, 10*time.Minute)
}

func (n *Node) serveMetrics(addr string) {
	srv := &http.Server{Addr: addr, Handler: n.Metrics.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { <-n.served; _ = srv.Close() }()
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		n.log.Error("metrics listener", "err", err)
	}
}

// Drain makes the node a lame duck before maintenance: it hands the
// streams it leads to other replicas, sends its WebSocket clients to other
// nodes and refuses new ones, and answers /readyz with 503 so that load
// balancers stop sending it traffic. It keeps running until stopped. It
// returns how many streams it handed over.
func (n *Node) Drain(ctx context.Context) int {
	n.gw.Drain()
	n.log.Warn("draining: sending clients to other nodes")
	if !n.cfg.Clustered() {
		return 0
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return n.broker.StepDown(ctx)
}

// Admission is the node's admission control.
func (n *Node) Admission() *admit.Controller { return n.admit }

// Ready is closed when the node serves requests.
func (n *Node) Ready() <-chan struct{} { return n.ready }

// Addr is the HTTP listener's address, e.g. 127.0.0.1:8080.
func (n *Node) Addr() string { return n.ln.Addr().String() }

// URL is the node's base URL, e.g. http://127.0.0.1:8080.
func (n *Node) URL() string { return n.scheme + "://" + n.Addr() }

func (n *Node) readyz(w http.ResponseWriter, _ *http.Request) {
	select {
	case <-n.ready:
		if n.gw.Draining() {
			http.Error(w, "draining for maintenance", http.StatusServiceUnavailable)
			return
		}
		if n.broker.Healthy() {
			fmt.Fprintln(w, "ready")
			return
		}
		http.Error(w, "storage unavailable", http.StatusServiceUnavailable)
	default:
		http.Error(w, "starting: replaying the read model", http.StatusServiceUnavailable)
	}
}

// probe returns the node's latest canary (none without canaries).
func (n *Node) probe() api.Probe {
	if n.canary == nil {
		return api.Probe{}
	}
	return n.canary.Last()
}

// Shutdown stops the node in order: (0) in a cluster, hand the streams it
// leads to other replicas, (1) stop accepting HTTP requests and let those
// in progress finish, (2) close every WebSocket with "going away" so
// clients move to another node, (3) stop the read model, (4) drain and stop
// the broker, flushing JetStream to disk. It is idempotent.
func (n *Node) Shutdown(ctx context.Context) error {
	n.shutdown.Do(func() {
		n.log.Info("shutting down")
		n.err = n.stopComponents(ctx)
		n.log.Info("stopped")
	})
	return n.err
}

func (n *Node) stopComponents(ctx context.Context) error {
	var errs []error
	if n.stopAnnounce != nil {
		n.stopAnnounce()
	}
	if n.stopForwarding != nil {
		defer n.stopForwarding() // after the sessions: their sends may still forward
	}
	if n.cfg.Clustered() && n.broker != nil && !n.cutOff.Load() {
		// Hand this node's streams to other replicas first, while it still
		// answers: a planned stop must not cost an election timeout.
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		handed := n.broker.StepDown(sctx)
		cancel()
		n.log.Info("handed stream leadership to other nodes", "streams", handed)
	}
	if n.http != nil {
		done := make(chan error, 1)
		go func() { done <- n.http.Shutdown(ctx) }()
		if n.gw != nil {
			errs = append(errs, n.gw.Shutdown(ctx))
		}
		errs = append(errs, <-done)
	} else if n.gw != nil {
		errs = append(errs, n.gw.Shutdown(ctx))
	}
	if n.index != nil {
		n.index.Stop()
	}
	if n.broker != nil {
		n.broker.Shutdown()
	}
	return errors.Join(errs...)
}
