// Package admit is a node's admission control: it decides, for every unit
// of work a client asks for, whether to do it now or to refuse it at once
// with an "overloaded" error carrying retry_after, so that a node under a
// surge bends instead of breaking. A refusal is always made before any work
// is done, so a refused request is always safe to retry.
//
// Work comes in four tiers, shed lowest first as the node's load rises:
//
//	Message  sends, edits, deletions, room changes   refused at load 1.0
//	Sync     sync, catch-up, history, reads          refused at load 0.85
//	Receipt  delivered and read pointers             refused at load 0.7
//	Typing   typing (and presence) notices           dropped at load 0.5
//
// The load is the larger of two ratios: work in progress over an adaptive
// in-flight limit, and memory in use over the memory bound. The in-flight
// limit adapts to the node's speed like TCP's congestion window: when more
// than half of the message work finished in the last window took longer
// than the latency target, the limit shrinks by a fifth; otherwise it grows
// by a tenth, up to MaxInFlight. So a node whose disks or CPU slow down
// admits less, and admitted sends keep a bounded latency.
//
// Sign-ins (password hashing), connections (token checks) and catch-ups
// run in lanes of their own, with their own concurrency budget, so that a
// login or reconnect storm can never starve message traffic; see Lane.
//
//	t, err := ctl.Admit(admit.Message)
//	if err != nil {
//		return err // overloaded, with retry_after
//	}
//	defer t.Done()
package admit

import (
	"math"
	"math/rand/v2"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dandanchat/dandan/api"
	"github.com/prometheus/client_golang/prometheus"
)

// Tier is the priority of a kind of work; lower tiers are shed first.
type Tier uint8

// The tiers, most important first.
const (
	Message Tier = iota // sends, edits, deletions, room changes; live delivery is never shed
	Sync                // sync, catch-up, history and other reads
	Receipt             // delivered and read pointers
	Typing              // typing and presence notices
	numTiers
)

// Tiers lists every tier, most important first.
func Tiers() []Tier { return []Tier{Message, Sync, Receipt, Typing} }

func (t Tier) String() string {
	switch t {
	case Message:
		return "message"
	case Sync:
		return "sync"
	case Receipt:
		return "receipt"
	case Typing:
		return "typing"
	}
	return "unknown"
}

// ShedAt is the load from which work of tier t is refused.
func (t Tier) ShedAt() float64 {
	switch t {
	case Message:
		return 1
	case Sync:
		return 0.85
	case Receipt:
		return 0.7
	}
	return 0.5
}

// retryBase is the retry_after a refusal of tier t asks for before jitter:
// the less important the work, the longer it stays away.
func (t Tier) retryBase() time.Duration {
	switch t {
	case Message:
		return 250 * time.Millisecond
	case Sync:
		return 500 * time.Millisecond
	case Receipt:
		return time.Second
	}
	return 2 * time.Second
}

// Config tunes a Controller. Zero values mean the defaults.
type Config struct {
	MaxInFlight   int           // upper bound of the adaptive in-flight limit; default 1024
	MinInFlight   int           // its lower bound; default 16
	TargetLatency time.Duration // message work slower than this, for more than a tenth of a window, shrinks the limit; default 250ms
	Window        time.Duration // how often the limit adapts; default 100ms
	MaxMemory     uint64        // bytes of memory the process may use before it is full; 0 = no bound

	SignIns  int // password hashes at once; default max(1, GOMAXPROCS/2)
	Connects int // WebSocket authentications at once; default 64
	Syncs    int // catch-ups at once; default 64 (they mostly wait for storage)

	// Now reads the clock; tests set it. Default time.Now.
	Now func() time.Time
	// Memory reads the process's memory in use; tests set it. Default: the
	// Go runtime's mapped memory not yet returned to the system.
	Memory func() uint64
}

func (c Config) withDefaults() Config {
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = 1024
	}
	if c.MinInFlight <= 0 {
		c.MinInFlight = 16
	}
	c.MinInFlight = min(c.MinInFlight, c.MaxInFlight)
	if c.TargetLatency <= 0 {
		c.TargetLatency = 250 * time.Millisecond
	}
	if c.Window <= 0 {
		c.Window = 100 * time.Millisecond
	}
	procs := runtime.GOMAXPROCS(0)
	if c.SignIns <= 0 {
		c.SignIns = max(1, procs/2)
	}
	if c.Connects <= 0 {
		c.Connects = 64
	}
	if c.Syncs <= 0 {
		c.Syncs = 64
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Memory == nil {
		c.Memory = runtimeMemory
	}
	return c
}

// Controller admits or refuses work. A nil *Controller admits everything,
// so components can run without one in tests.
type Controller struct {
	cfg Config

	inflight atomic.Int64
	shedding atomic.Int32  // how many tiers are shed, from the least important up
	limit    atomic.Uint64 // float64 bits: the adaptive in-flight limit
	memLoad  atomic.Uint64 // float64 bits: memory in use / MaxMemory
	memAt    atomic.Int64  // unix ns of the last memory reading

	mu        sync.Mutex // guards the window
	winStart  time.Time
	winDone   int // message work finished in the window
	winSlow   int // of which slower than the target
	firstShed [numTiers]atomic.Int64

	// SignIns, Connects and Syncs are the lanes of their own budget.
	SignIns, Connects, Syncs *Lane

	admitted, shed       [numTiers]prometheus.Counter
	admittedVec, shedVec *prometheus.CounterVec // by tier or lane
	refused              *prometheus.CounterVec
}

// New returns a Controller; its collectors are registered on reg (if not nil).
func New(cfg Config, reg prometheus.Registerer) *Controller {
	cfg = cfg.withDefaults()
	c := &Controller{cfg: cfg, winStart: cfg.Now()}
	c.limit.Store(math.Float64bits(float64(cfg.MaxInFlight)))
	admitted := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dandan_admitted_total", Help: "Work admitted, by tier or lane."}, []string{"tier"})
	shed := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dandan_shed_total", Help: "Work refused (or, for typing, dropped) because the node was saturated, by tier or lane."}, []string{"tier"})
	c.refused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dandan_tier_refused_total", Help: "Refusals answered to clients, by tier or lane and code (overloaded, rate_limited)."}, []string{"tier", "code"})
	c.admittedVec, c.shedVec = admitted, shed
	c.admittedVec, c.shedVec = admitted, shed
	for _, t := range Tiers() {
		c.admitted[t] = admitted.WithLabelValues(t.String())
		c.shed[t] = shed.WithLabelValues(t.String())
	}
	c.SignIns = newLane(c, "signin", cfg.SignIns, 2*time.Second, time.Second)
	c.Connects = newLane(c, "connect", cfg.Connects, time.Second, 500*time.Millisecond)
	c.Syncs = newLane(c, "catchup", cfg.Syncs, 250*time.Millisecond, 500*time.Millisecond)
	if reg != nil {
		reg.MustRegister(admitted, shed, c.refused, &firstShedCollector{c: c, desc: prometheus.NewDesc(
			"dandan_first_shed_timestamp_seconds", "When the node first began to shed a tier since it started (0: never).", []string{"tier"}, nil)},
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "dandan_load", Help: "The node's load: 1 means message sends are refused."}, c.Load),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "dandan_inflight", Help: "Admitted work in progress."}, func() float64 { return float64(c.inflight.Load()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "dandan_inflight_limit", Help: "The adaptive limit of work in progress."}, func() float64 { return c.Limit() }),
		)
	}
	return c
}

// Ticket is admitted work; call Done when it ends.
type Ticket struct {
	c     *Controller
	tier  Tier
	start time.Time
}

// Admit admits work of tier t, or refuses it with an overloaded error
// carrying retry_after when the node's load has reached the tier's
// threshold.
func (c *Controller) Admit(t Tier) (Ticket, *api.Error) {
	if c == nil {
		return Ticket{}, nil
	}
	load := c.Load()
	if rank(t) <= c.ladder(load) {
		c.shed[t].Inc()
		return Ticket{}, c.refusal(t, load)
	}
	c.inflight.Add(1)
	c.admitted[t].Inc()
	return Ticket{c: c, tier: t, start: c.cfg.Now()}, nil
}

// Done ends admitted work; message work feeds the adaptive limit with its
// duration. Done on the zero Ticket does nothing.
func (t Ticket) Done() {
	c := t.c
	if c == nil {
		return
	}
	c.inflight.Add(-1)
	if t.tier != Message {
		return
	}
	now := c.cfg.Now()
	slow := now.Sub(t.start) > c.cfg.TargetLatency
	c.mu.Lock()
	defer c.mu.Unlock()
	c.winDone++
	if slow {
		c.winSlow++
	}
	if now.Sub(c.winStart) < c.cfg.Window {
		return
	}
	// Multiplicative decrease when the window's 90th percentile is slow,
	// else growth; growth is multiplicative too, so the limit recovers
	// within a few seconds once a surge ends.
	limit := c.Limit()
	if 10*c.winSlow > c.winDone {
		limit = max(float64(c.cfg.MinInFlight), limit*0.8)
	} else {
		limit = min(float64(c.cfg.MaxInFlight), limit*1.1+1)
	}
	c.limit.Store(math.Float64bits(limit))
	c.winStart, c.winDone, c.winSlow = now, 0, 0
}

// Load is the node's load: the larger of work in progress over the
// in-flight limit and memory in use over the memory bound.
func (c *Controller) Load() float64 {
	if c == nil {
		return 0
	}
	return max(float64(c.inflight.Load())/c.Limit(), c.memoryLoad())
}

// Limit is the current adaptive in-flight limit.
func (c *Controller) Limit() float64 { return math.Float64frombits(c.limit.Load()) }

// InFlight is the admitted work in progress.
func (c *Controller) InFlight() int64 { return c.inflight.Load() }

// memoryLoad reads memory at most once per window: a reading costs a few
// microseconds, too much for every frame.
func (c *Controller) memoryLoad() float64 {
	if c.cfg.MaxMemory == 0 {
		return 0
	}
	now := c.cfg.Now().UnixNano()
	last := c.memAt.Load()
	if now-last >= int64(c.cfg.Window) && c.memAt.CompareAndSwap(last, now) {
		c.memLoad.Store(math.Float64bits(float64(c.cfg.Memory()) / float64(c.cfg.MaxMemory)))
	}
	return math.Float64frombits(c.memLoad.Load())
}

// MemoryFull reports whether memory in use has reached the bound: new
// connections are refused then, since each costs memory.
func (c *Controller) MemoryFull() bool {
	return c != nil && c.memoryLoad() >= 1
}

// Refused counts a refusal answered to a client, whatever refused it (this
// controller, a lane, a per-device rate limit), by tier or lane name and
// code, so that /metrics counts every refusal by tier.
func (c *Controller) Refused(tier string, code api.Code) {
	if c == nil {
		return
	}
	c.refused.WithLabelValues(tier, string(code)).Inc()
}

// rank is t's place in the shedding order: 1 is shed first.
func rank(t Tier) int32 { return int32(numTiers - t) }

// ladder moves the shedding ladder toward load and returns how many tiers
// are shed now. Tiers start being shed one at a time, least important
// first, one step per call: even when the load jumps past several
// thresholds at once, typing is shed before receipts, receipts before
// syncs and syncs before messages, whatever order requests arrive in. The
// ladder comes down at once when the load falls.
func (c *Controller) ladder(load float64) int32 {
	want := int32(0)
	for _, t := range []Tier{Typing, Receipt, Sync, Message} {
		if load < t.ShedAt() {
			break
		}
		want++
	}
	for {
		cur := c.shedding.Load()
		next := min(want, cur+1)
		if next == cur {
			return cur
		}
		if c.shedding.CompareAndSwap(cur, next) {
			if next > cur {
				t := numTiers - Tier(next)
				c.firstShed[t].CompareAndSwap(0, c.cfg.Now().UnixNano())
			}
			return next
		}
	}
}

// refusal is the error refusing tier t's work at load: retry_after grows
// with the tier and the overload, with jitter so that refused clients do
// not all come back at once.
func (c *Controller) refusal(t Tier, load float64) *api.Error {
	d := float64(t.retryBase()) * min(max(load/t.ShedAt(), 1), 4)
	d *= 1 + rand.Float64()/2
	return &api.Error{Code: api.CodeOverloaded, Message: "the server is busy; retry shortly",
		RetryAfterMS: max(1, time.Duration(d).Milliseconds())}
}

// FirstShed is when the node first began to shed tier t (zero: never).
func (c *Controller) FirstShed(t Tier) time.Time {
	if ns := c.firstShed[t].Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

type firstShedCollector struct {
	c    *Controller
	desc *prometheus.Desc
}

func (f *firstShedCollector) Describe(ch chan<- *prometheus.Desc) { ch <- f.desc }

func (f *firstShedCollector) Collect(ch chan<- prometheus.Metric) {
	for _, t := range Tiers() {
		v := 0.0
		if at := f.c.FirstShed(t); !at.IsZero() {
			v = float64(at.UnixNano()) / 1e9
		}
		ch <- prometheus.MustNewConstMetric(f.desc, prometheus.GaugeValue, v, t.String())
	}
}

// runtimeMemory is the memory the Go runtime holds from the system: all it
// has mapped, less what it has released.
func runtimeMemory() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(s)
	total, released := s[0].Value.Uint64(), s[1].Value.Uint64()
	if released > total {
		return 0
	}
	return total - released
}
