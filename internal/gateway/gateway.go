// Package gateway serves live traffic over WebSockets: it authenticates
// devices, resumes them from their cursors, relays their sends to the
// messenger and fans stored events out to every connected device of every
// member, in room order, exactly once per connection.
//
// The node's read model hands the gateway every newly stored event (from its
// one ordered consumer per partition); the gateway routes each to the
// sessions of the room's members on this node. Each session has a bounded
// outbound queue: when it is full, live events are read from the store later
// instead; a device that stops reading is cut (it reconnects and resyncs), so
// that no session slows anyone else.
//
//	gw := gateway.New(svc, nc, gateway.Config{Queue: 1024}, m, log)
//	gw.Start()
//	mux.Handle("GET /v1/ws", gw)
//	defer gw.Shutdown(ctx)
package gateway

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dandanchat/dandan/api"
	"github.com/dandanchat/dandan/internal/admit"
	"github.com/dandanchat/dandan/internal/index"
	"github.com/dandanchat/dandan/internal/messenger"
	"github.com/dandanchat/dandan/internal/metrics"
	"github.com/dandanchat/dandan/internal/ratelimit"
	"github.com/dandanchat/dandan/internal/store"
	"github.com/dandanchat/dandan/internal/wsread"
	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
)

// Config tunes the gateway.
type Config struct {
	Queue        int                // outbound frames per session before it is cut; default 1024
	AuthTimeout  time.Duration      // for the auth frame; default 10s
	PingInterval time.Duration      // default 30s
	IdleTimeout  time.Duration      // a session silent this long is closed; default 75s
	MaxInFlight  int                // concurrent sends per session; default 64
	SendLimit    *ratelimit.Limiter // sends, edits, deletes per device; nil = unlimited
	FrameLimit   *ratelimit.Limiter // other frames (sync, receipt, typing, ping) per device; nil = unlimited
	ConnectLimit *ratelimit.Limiter // new connections per client address; nil = unlimited
	Admit        *admit.Controller  // admission control by tier; nil = admit everything
	// Outcome, if set, is told the outcome of every send, edit and delete:
	// its frame type and the HTTP status its answer maps to (200 when
	// stored), so that error-rate objectives count the WebSocket's traffic
	// as they count the HTTP API's.
	Outcome func(op string, status int)
}

// Gateway is the WebSocket endpoint and the node's fan-out hub.
type Gateway struct {
	svc      *messenger.Service
	nc       *nats.Conn
	cfg      Config
	m        *metrics.Metrics
	log      *slog.Logger
	upgrader websocket.Upgrader
	reads    wsread.Pool // message buffers of every session's reader
	batches  batchPool   // the sessions' write queues
	work     *workers    // runs the sessions' lanes and writers

	mu      sync.RWMutex
	rooms   map[string]map[*session]struct{}
	users   map[string]map[*session]struct{}
	devices map[string]map[*session]struct{}
	subs    []*nats.Subscription

	// Metric children of the hot paths, resolved once per frame type.
	metricsMu sync.Mutex
	children  map[string]metricChildren

	admit    sync.Mutex // orders sessions.Add before Shutdown's Wait
	closing  atomic.Bool
	cutOff   atomic.Bool // this node cannot reach the cluster's majority
	draining atomic.Bool // lame duck: sessions are sent to other nodes
	sessions sync.WaitGroup
	stop     chan struct{}
	stopped  sync.WaitGroup
}

// workerLinger is how long a worker goroutine waits for more work (up to
// twice this, see workers.reap).
const workerLinger = time.Second

// New returns a gateway; call Start before serving.
func New(svc *messenger.Service, nc *nats.Conn, cfg Config, m *metrics.Metrics, log *slog.Logger) *Gateway {
	if cfg.Queue <= 0 {
		cfg.Queue = 1024
	}
	if cfg.AuthTimeout <= 0 {
		cfg.AuthTimeout = 10 * time.Second
	}
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = 30 * time.Second
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 75 * time.Second
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 64
	}
	g := &Gateway{
		svc: svc, nc: nc, cfg: cfg, m: m, log: log.With("component", "gateway"),
		rooms:   make(map[string]map[*session]struct{}),
		users:   make(map[string]map[*session]struct{}),
		devices: make(map[string]map[*session]struct{}),
		stop:    make(chan struct{}),
	}
	g.work = newWorkers(workerLinger)
	g.upgrader = websocket.Upgrader{
		// Small read buffers and pooled write buffers keep idle sessions cheap.
		ReadBufferSize:  1024,
		WriteBufferSize: 4096,
		WriteBufferPool: &sync.Pool{},
		// Browsers from any origin may connect: every session must present a
		// device token in its first frame, so there are no ambient credentials
		// for a cross-site page to abuse.
		CheckOrigin: func(*http.Request) bool { return true },
	}
	return g
}

// Start subscribes to stored events, ephemeral frames and revocations.
func (g *Gateway) Start() error {
	for _, s := range []struct {
		subj string
		h    nats.MsgHandler
	}{
		{store.SubjectEphemeral + ".*", g.onEphemeral},
		{store.SubjectRevoked + ".*", g.onRevoked},
	} {
		sub, err := g.nc.Subscribe(s.subj, s.h)
		if err != nil {
			return err
		}
		g.subs = append(g.subs, sub)
	}
	// Stored events come from the read model's followers: one reliable,
	// ordered consumer per partition per node.
	g.svc.Index().OnEvent(g.onEvent)
	g.svc.Index().Watch(g.onMembership)
	g.stopped.Add(1)
	go g.keepalive()
	return nil
}

// Sessions is the number of open sessions.
func (g *Gateway) Sessions() int {
	g.mu.RLock()
	defer g.mu.RUnlock()
	n := 0
	for _, ss := range g.devices {
		n += len(ss)
	}
	return n
}

// Shutdown closes every session with "going away" (clients reconnect to
// another node) and waits for them to end, or for ctx.
func (g *Gateway) Shutdown(ctx context.Context) error {
	g.admit.Lock()
	already := g.closing.Swap(true)
	g.admit.Unlock()
	if already {
		return nil
	}
	close(g.stop)
	g.work.stop()
	for _, s := range g.subs {
		_ = s.Unsubscribe()
	}
	g.mu.RLock()
	var all []*session
	for _, ss := range g.devices {
		for s := range ss {
			all = append(all, s)
		}
	}
	g.mu.RUnlock()
	for _, s := range all {
		s.kill(websocket.CloseGoingAway, "node shutting down")
	}
	done := make(chan struct{})
	go func() { g.sessions.Wait(); g.stopped.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// SetCutOff tells the gateway whether its node is cut off from the
// cluster's majority. While it is, every session is closed with cut_off and
// new ones are refused, so that clients move to a site where they can write;
// nothing written here could be replicated, so nothing would be
// acknowledged.
func (g *Gateway) SetCutOff(cut bool) {
	if g.cutOff.Swap(cut) == cut || !cut {
		return
	}
	g.each(func(s *session) { s.kill(closeCutOff, string(api.CodeCutOff)) })
}

// Drain makes the node a lame duck: every session is closed with "going
// away", so that its client reconnects to another node and resends what is
// unacknowledged, and new sessions are refused, until the node stops.
func (g *Gateway) Drain() {
	if g.draining.Swap(true) {
		return
	}
	g.each(func(s *session) { s.kill(websocket.CloseGoingAway, "node draining for maintenance") })
}

// Draining reports whether Drain was called.
func (g *Gateway) Draining() bool { return g.draining.Load() }

// keepalive pings every session and watches for lost live events.
func (g *Gateway) keepalive() {
	defer g.stopped.Done()
	t := time.NewTicker(g.cfg.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-g.stop:
			return
		case <-t.C:
		}
		// A short deadline each: a session whose writes are stuck must not
		// hold up the pings of all the others.
		g.each(func(s *session) {
			_ = s.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(50*time.Millisecond))
		})
	}
}

func (g *Gateway) each(f func(*session)) {
	g.mu.RLock()
	var all []*session
	for _, ss := range g.devices {
		for s := range ss {
			all = append(all, s)
		}
	}
	g.mu.RUnlock()
	for _, s := range all {
		f(s)
	}
}

// onEvent routes a stored event to the sessions of the room's members; the
// frame is built once and shared.
func (g *Gateway) onEvent(ev index.Event) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	members := g.rooms[ev.Room]
	if len(members) == 0 {
		return
	}
	frame := make([]byte, 0, len(ev.Data)+len(eventPrefix)+1)
	frame = append(append(append(frame, eventPrefix...), ev.Data...), '}')
	it := item{kind: itemEvent, room: ev.Room, seq: ev.Seq, frame: frame}
	for s := range members {
		s.push(it)
	}
}

const eventPrefix = `{"type":"event","event":`

func (g *Gateway) onEphemeral(m *nats.Msg) {
	room := strings.TrimPrefix(m.Subject, store.SubjectEphemeral+".")
	it := item{kind: itemFrame, frame: m.Data}
	g.mu.RLock()
	for s := range g.rooms[room] {
		s.push(it)
	}
	g.mu.RUnlock()
}

func (g *Gateway) onRevoked(m *nats.Msg) {
	dev := strings.TrimPrefix(m.Subject, store.SubjectRevoked+".")
	g.mu.RLock()
	var victims []*session
	for s := range g.devices[dev] {
		victims = append(victims, s)
	}
	g.mu.RUnlock()
	for _, s := range victims {
		s.kill(closeUnauthorized, string(api.CodeUnauthorized))
	}
}

func (g *Gateway) onMembership(c index.MembershipChange) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for s := range g.users[c.User] {
		if c.Joined {
			add(g.rooms, c.Room, s)
			s.hubRooms[c.Room] = struct{}{}
			s.push(item{kind: itemJoined, room: c.Room})
		} else {
			remove(g.rooms, c.Room, s)
			delete(s.hubRooms, c.Room)
			s.push(item{kind: itemLeft, room: c.Room})
		}
	}
}

func (g *Gateway) register(s *session) bool {
	rooms := g.svc.Index().UserRooms(s.caller.User)
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closing.Load() || g.cutOff.Load() || g.draining.Load() {
		return false
	}
	add(g.users, s.caller.User, s)
	add(g.devices, s.caller.Device, s)
	s.hubRooms = make(map[string]struct{}, len(rooms))
	for _, r := range rooms {
		add(g.rooms, r, s)
		s.hubRooms[r] = struct{}{}
	}
	return true
}

func (g *Gateway) unregister(s *session) {
	g.mu.Lock()
	defer g.mu.Unlock()
	remove(g.users, s.caller.User, s)
	remove(g.devices, s.caller.Device, s)
	for r := range s.hubRooms {
		remove(g.rooms, r, s)
	}
}

func add(m map[string]map[*session]struct{}, k string, s *session) {
	ss := m[k]
	if ss == nil {
		ss = make(map[*session]struct{}, 1)
		m[k] = ss
	}
	ss[s] = struct{}{}
}

func remove(m map[string]map[*session]struct{}, k string, s *session) {
	if ss := m[k]; ss != nil {
		delete(ss, s)
		if len(ss) == 0 {
			delete(m, k)
		}
	}
}

type metricChildren struct {
	framesIn, stored prometheus.Counter
	latency          prometheus.Observer
}

// child returns the metric children of a frame type; only known frame
// types reach here, so the map stays small.
func (g *Gateway) child(typ string) metricChildren {
	g.metricsMu.Lock()
	defer g.metricsMu.Unlock()
	c, ok := g.children[typ]
	if !ok {
		if g.children == nil {
			g.children = make(map[string]metricChildren)
		}
		c = metricChildren{
			framesIn: g.m.FramesIn.WithLabelValues(typ),
			stored:   g.m.Stored.WithLabelValues(typ),
			latency:  g.m.Latency.WithLabelValues(typ),
		}
		g.children[typ] = c
	}
	return c
}

// outcome tells Config.Outcome how a send, edit or delete ended.
func (g *Gateway) outcome(op string, err error) {
	if g.cfg.Outcome == nil {
		return
	}
	status := http.StatusOK
	if err != nil {
		status = api.CodeOf(err).HTTPStatus()
	}
	g.cfg.Outcome(op, status)
}

func (g *Gateway) framesIn(typ string) prometheus.Counter   { return g.child(typ).framesIn }
func (g *Gateway) stored(typ string) prometheus.Counter     { return g.child(typ).stored }
func (g *Gateway) opLatency(typ string) prometheus.Observer { return g.child(typ).latency }
