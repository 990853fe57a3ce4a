// Package canary sends a node's canary messages: every period, one message
// through the real send path (validation, authorization, a quorum write to
// the room's stream) into a room of the node's own, then waits to see it
// come back through the live delivery path (the read model's follower that
// feeds WebSocket sessions). The result, with both latencies, is kept in
// memory for the node's health monitor and written to the replicated
// status bucket as probe.<node>, so every site sees every site's canaries.
//
// A failing canary is retried every few seconds until it succeeds, so a
// broken path is confirmed, and a repaired one noticed, quickly, while a
// healthy node writes one small message per period (about 1 MB a day at
// the default 30 s).
//
//	p := canary.New(canary.Config{Service: svc, Store: st, Node: "dc1", DC: "dc1", Every: 30 * time.Second})
//	go p.Run(ctx)
//	last := p.Last()
package canary

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/dandanchat/dandan/api"
	"github.com/dandanchat/dandan/internal/index"
	"github.com/dandanchat/dandan/internal/messenger"
	"github.com/dandanchat/dandan/internal/store"
	"github.com/prometheus/client_golang/prometheus"
)

// Config configures a Prober.
type Config struct {
	Service  *messenger.Service
	Store    *store.Store
	Node, DC string
	Every    time.Duration         // period; 0 = 30 s
	Retry    time.Duration         // period while failing; 0 = 5 s
	Timeout  time.Duration         // for the send and for the delivery each; 0 = 5 s
	Registry prometheus.Registerer // for the dandan_canary_* gauges; nil = none
	Logger   *slog.Logger
}

// Prober sends canaries. It is safe for concurrent use.
type Prober struct {
	cfg Config
	log *slog.Logger

	okGauge, sendGauge, deliverGauge prometheus.Gauge

	mu       sync.Mutex
	last     api.Probe
	failures int // consecutive failures
	id       identity
	waiting  map[string]chan struct{} // canary client id → closed when delivered
}

// identity is the canary account and room of a node, kept in the status
// bucket under canary.<node> so that a restart reuses them.
type identity struct {
	User   string `json:"user"`
	Device string `json:"device"`
	Room   string `json:"room"`
}

// New returns a Prober; call Run to start it.
func New(cfg Config) *Prober {
	if cfg.Every <= 0 {
		cfg.Every = 30 * time.Second
	}
	if cfg.Retry <= 0 {
		cfg.Retry = 5 * time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	p := &Prober{cfg: cfg, log: cfg.Logger.With("component", "canary"), waiting: map[string]chan struct{}{},
		okGauge: prometheus.NewGauge(prometheus.GaugeOpts{Name: "dandan_canary_ok",
			Help: "1 if the node's latest canary message was stored and delivered, else 0."}),
		sendGauge: prometheus.NewGauge(prometheus.GaugeOpts{Name: "dandan_canary_send_seconds",
			Help: "How long the node's latest canary message took to be acknowledged."}),
		deliverGauge: prometheus.NewGauge(prometheus.GaugeOpts{Name: "dandan_canary_deliver_seconds",
			Help: "How long the node's latest canary message took to come back through live delivery."}),
	}
	if cfg.Registry != nil {
		cfg.Registry.MustRegister(p.okGauge, p.sendGauge, p.deliverGauge)
	}
	cfg.Service.Index().OnEvent(p.onEvent)
	return p
}

// Last returns the latest canary's result (zero before the first).
func (p *Prober) Last() api.Probe {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last
}

// Run sends canaries until ctx ends.
func (p *Prober) Run(ctx context.Context) {
	for {
		r := p.Once(ctx)
		wait := p.cfg.Every
		if !r.OK {
			wait = p.cfg.Retry
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// Once sends one canary and records its result.
func (p *Prober) Once(ctx context.Context) api.Probe {
	start := time.Now()
	r := api.Probe{Node: p.cfg.Node, DC: p.cfg.DC, At: start.UTC().Format(time.RFC3339Nano), EverySec: p.cfg.Every.Seconds()}
	err := p.send(ctx, &r)
	r.OK = err == nil
	if err != nil {
		r.Error = err.Error()
		if ctx.Err() == nil {
			p.log.Warn("canary failed", "err", err)
		}
	}
	p.mu.Lock()
	if r.OK {
		p.failures = 0
	} else {
		p.failures++
	}
	r.Failures = p.failures
	p.last = r
	p.mu.Unlock()
	p.okGauge.Set(map[bool]float64{true: 1}[r.OK])
	p.sendGauge.Set(r.SendMS / 1000)
	p.deliverGauge.Set(r.DeliverMS / 1000)
	if ctx.Err() == nil {
		wctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
		_ = store.PutJSON(wctx, p.cfg.Store.Status, "probe."+statusKey(p.cfg.Node), r)
		cancel()
	}
	return r
}

func (p *Prober) send(ctx context.Context, r *api.Probe) error {
	id, err := p.identity(ctx)
	if err != nil {
		return fmt.Errorf("set up the canary account: %w", err)
	}
	cid := "canary-" + randomID()
	delivered := make(chan struct{})
	p.mu.Lock()
	p.waiting[cid] = delivered
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.waiting, cid)
		p.mu.Unlock()
	}()
	start := time.Now()
	sctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	_, err = p.cfg.Service.Send(sctx, messenger.Caller{User: id.User, Device: id.Device}, id.Room,
		api.SendRequest{ID: cid, Text: "canary from " + p.cfg.Node})
	cancel()
	r.SendMS = ms(time.Since(start))
	if err != nil {
		return fmt.Errorf("send: %w", err)
	}
	select {
	case <-delivered:
		r.DeliverMS = ms(time.Since(start))
		return nil
	case <-time.After(p.cfg.Timeout):
		r.DeliverMS = ms(time.Since(start))
		return fmt.Errorf("stored, but not delivered within %s", p.cfg.Timeout)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// onEvent is called for every stored event by the read model's followers,
// the same calls that feed live delivery; it must not block.
func (p *Prober) onEvent(ev index.Event) {
	p.mu.Lock()
	room := p.id.Room
	p.mu.Unlock()
	if room == "" || ev.Room != room {
		return
	}
	var e api.Event
	if json.Unmarshal(ev.Data, &e) != nil {
		return
	}
	p.mu.Lock()
	if ch, ok := p.waiting[e.ClientID]; ok {
		close(ch)
		delete(p.waiting, e.ClientID)
	}
	p.mu.Unlock()
}

// identity returns the node's canary account and room, creating them the
// first time.
func (p *Prober) identity(ctx context.Context) (identity, error) {
	p.mu.Lock()
	id := p.id
	p.mu.Unlock()
	if id.Room != "" {
		return id, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 4*p.cfg.Timeout)
	defer cancel()
	key := "canary." + statusKey(p.cfg.Node)
	_, err := store.GetJSON(ctx, p.cfg.Store.Status, key, &id)
	if errors.Is(err, store.ErrNotFound) {
		id, err = p.create(ctx)
		if err == nil {
			err = store.PutJSON(ctx, p.cfg.Store.Status, key, id)
		}
	}
	if err != nil {
		return identity{}, err
	}
	p.mu.Lock()
	p.id = id
	p.mu.Unlock()
	return id, nil
}

// create signs up the canary account (a random password nobody knows)
// and creates its room.
func (p *Prober) create(ctx context.Context) (identity, error) {
	handle := canaryHandle(p.cfg.Node)
	s, err := p.cfg.Service.SignUp(ctx, api.SignUpRequest{Handle: handle, Password: randomID() + randomID(),
		DisplayName: "Canary of " + p.cfg.Node, DeviceName: "canary"})
	if api.IsCode(err, api.CodeHandleTaken) {
		// Left by an earlier install whose status bucket was lost.
		s, err = p.cfg.Service.SignUp(ctx, api.SignUpRequest{Handle: handle[:min(len(handle), 24)] + "_" + randomID()[:6],
			Password: randomID() + randomID(), DisplayName: "Canary of " + p.cfg.Node, DeviceName: "canary"})
	}
	if err != nil {
		return identity{}, err
	}
	c := messenger.Caller{User: s.User.ID, Device: s.Device.ID}
	room, err := p.cfg.Service.CreateGroup(ctx, c, api.CreateGroupRequest{Name: "Canary of " + p.cfg.Node})
	if err != nil {
		return identity{}, err
	}
	return identity{User: c.User, Device: c.Device, Room: room.ID}, nil
}

// canaryHandle is a valid handle naming node: "canary_" and the node's
// name in lower-case letters, digits and _.
func canaryHandle(node string) string {
	var b strings.Builder
	b.WriteString("canary_")
	for _, r := range strings.ToLower(node) {
		if b.Len() >= 32 {
			break
		}
		if 'a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// statusKey makes a node name usable in a bucket key.
func statusKey(node string) string {
	return strings.Map(func(r rune) rune {
		if 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '_' || r == '-' {
			return r
		}
		return '_'
	}, node)
}

func randomID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return strings.NewReplacer("-", "x", "_", "y").Replace(base64.RawURLEncoding.EncodeToString(b))
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
