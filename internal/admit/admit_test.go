package admit

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/dandanchat/dandan/api"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// counter reads a counter's value.
func counter(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// fakeClock is a time source tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newTest(t *testing.T, cfg Config) (*Controller, *fakeClock, *prometheus.Registry) {
	t.Helper()
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	cfg.Now = clk.Now
	reg := prometheus.NewRegistry()
	return New(cfg, reg), clk, reg
}

// TestShedOrder fills the node with message work and checks that each tier
// is refused from its own threshold on: typing first, messages last.
func TestShedOrder(t *testing.T) {
	c, _, reg := newTest(t, Config{MaxInFlight: 100})
	var held []Ticket
	firstRefused := map[Tier]int{}
	for i := range 101 {
		for _, tier := range []Tier{Typing, Receipt, Sync} {
			if _, ok := firstRefused[tier]; ok {
				continue
			}
			tk, err := c.Admit(tier)
			if err != nil {
				firstRefused[tier] = i
				continue
			}
			tk.Done()
		}
		tk, err := c.Admit(Message)
		if err != nil {
			firstRefused[Message] = i
			break
		}
		held = append(held, tk)
	}
	want := map[Tier]int{Typing: 50, Receipt: 70, Sync: 85, Message: 100}
	for tier, n := range want {
		if firstRefused[tier] != n {
			t.Errorf("%s first refused with %d in flight, want %d", tier, firstRefused[tier], n)
		}
	}
	if got := counter(t, c.shedVec.WithLabelValues("typing")); got != 1 {
		t.Errorf("dandan_shed_total{tier=typing} = %v, want 1", got)
	}
	for _, tier := range Tiers() {
		if c.FirstShed(tier).IsZero() {
			t.Errorf("FirstShed(%s) is zero", tier)
		}
	}
	for _, tk := range held {
		tk.Done()
	}
	if c.InFlight() != 0 {
		t.Errorf("InFlight = %d after every Done, want 0", c.InFlight())
	}
	if _, err := c.Admit(Typing); err != nil {
		t.Errorf("Admit(Typing) on an idle node: %v", err)
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := map[string]int{}
	for _, f := range fams {
		series[f.GetName()] = len(f.GetMetric())
	}
	for name, n := range map[string]int{"dandan_shed_total": 4, "dandan_admitted_total": 4, "dandan_first_shed_timestamp_seconds": 4, "dandan_load": 1} {
		if series[name] < n {
			t.Errorf("metric %s has %d series, want at least %d", name, series[name], n)
		}
	}
}

// TestRefusalCarriesRetryAfter checks the contract of a refusal: code
// overloaded, a retry_after that is positive and longer for lower tiers.
func TestRefusalCarriesRetryAfter(t *testing.T) {
	c, _, _ := newTest(t, Config{MaxInFlight: 16, MinInFlight: 16})
	for range 16 {
		if _, err := c.Admit(Message); err != nil {
			t.Fatal(err)
		}
	}
	for _, tier := range Tiers() {
		_, err := c.Admit(tier)
		if err == nil {
			t.Fatalf("Admit(%s) at full load succeeded", tier)
		}
		if err.Code != api.CodeOverloaded || err.RetryAfterMS <= 0 {
			t.Errorf("Admit(%s) = %+v, want overloaded with retry_after", tier, err)
		}
		base := tier.retryBase().Milliseconds()
		if err.RetryAfterMS < base || err.RetryAfterMS > 6*base+1 {
			t.Errorf("Admit(%s) retry_after %d ms, want within [%d, %d]", tier, err.RetryAfterMS, base, 6*base)
		}
	}
}

// TestLimitAdapts checks that slow message work shrinks the in-flight limit
// down to its floor and fast work lets it grow back to its ceiling.
func TestLimitAdapts(t *testing.T) {
	c, clk, _ := newTest(t, Config{MaxInFlight: 1000, MinInFlight: 20, TargetLatency: 100 * time.Millisecond, Window: 100 * time.Millisecond})
	work := func(d time.Duration) {
		tk, err := c.Admit(Message)
		if err != nil {
			t.Fatal(err)
		}
		clk.Advance(d)
		tk.Done()
	}
	for range 40 {
		work(150 * time.Millisecond) // every window: all slow
	}
	if got := c.Limit(); got != 20 {
		t.Errorf("limit after slow work = %v, want the floor 20", got)
	}
	prev := c.Limit()
	for range 3 {
		for range 10 {
			work(10 * time.Millisecond)
		}
		if got := c.Limit(); got <= prev {
			t.Errorf("limit after a fast window = %v, want above %v", got, prev)
		}
		prev = c.Limit()
	}
	for range 1000 {
		work(10 * time.Millisecond)
	}
	if got := c.Limit(); got != 1000 {
		t.Errorf("limit after long fast work = %v, want the ceiling 1000", got)
	}
	// A twentieth of work slow does not shrink the limit; a fifth does.
	for range 100 {
		for range 19 {
			work(time.Millisecond)
		}
		work(200 * time.Millisecond)
	}
	if got := c.Limit(); got != 1000 {
		t.Errorf("limit with a twentieth of work slow = %v, want 1000", got)
	}
	for range 100 {
		for range 4 {
			work(time.Millisecond)
		}
		work(200 * time.Millisecond)
	}
	if got := c.Limit(); got >= 1000 {
		t.Errorf("limit with a fifth of work slow = %v, want it shrunk", got)
	}
}

// TestMemoryBound refuses everything once memory reaches its bound.
func TestMemoryBound(t *testing.T) {
	var mem uint64 = 10
	var mu sync.Mutex
	c, clk, _ := newTest(t, Config{MaxMemory: 100, Memory: func() uint64 { mu.Lock(); defer mu.Unlock(); return mem }})
	if _, err := c.Admit(Typing); err != nil || c.MemoryFull() {
		t.Fatalf("Admit at 10%% memory: %v, full %v", err, c.MemoryFull())
	}
	mu.Lock()
	mem = 60
	mu.Unlock()
	clk.Advance(time.Second)
	if _, err := c.Admit(Typing); err == nil {
		t.Error("typing admitted at 60% memory")
	}
	if tk, err := c.Admit(Message); err != nil {
		t.Errorf("message refused at 60%% memory: %v", err)
	} else {
		tk.Done()
	}
	mu.Lock()
	mem = 120
	mu.Unlock()
	clk.Advance(time.Second)
	// The shedding ladder climbs one tier per request: messages are
	// refused by the third request at most.
	refused := false
	for range 3 {
		if tk, err := c.Admit(Message); err != nil {
			refused = true
		} else {
			tk.Done()
		}
	}
	if !refused || !c.MemoryFull() {
		t.Errorf("messages admitted at 120%% memory (full %v)", c.MemoryFull())
	}
}

func TestNilControllerAdmitsAll(t *testing.T) {
	var c *Controller
	tk, err := c.Admit(Typing)
	if err != nil {
		t.Fatal(err)
	}
	tk.Done()
	c.Refused("message", api.CodeRateLimited)
	if c.Load() != 0 || c.MemoryFull() {
		t.Error("a nil controller reports load")
	}
	var l *Lane
	release, lerr := l.Acquire(context.Background())
	if lerr != nil {
		t.Fatal(lerr)
	}
	release()
}

// TestLane checks a lane's budget: size at once, a bounded wait, a bounded
// queue, and refusals with retry_after beyond.
func TestLane(t *testing.T) {
	c, _, _ := newTest(t, Config{})
	l := newLane(c, "test", 2, 50*time.Millisecond, time.Second)
	ctx := context.Background()
	r1, err1 := l.Acquire(ctx)
	r2, err2 := l.Acquire(ctx)
	if err1 != nil || err2 != nil {
		t.Fatalf("two slots: %v, %v", err1, err2)
	}
	start := time.Now()
	if _, err := l.Acquire(ctx); err == nil || err.Code != api.CodeOverloaded || err.RetryAfterMS < 1000 {
		t.Errorf("third Acquire = %+v, want overloaded with retry_after ≥ 1s", err)
	}
	if waited := time.Since(start); waited < 50*time.Millisecond {
		t.Errorf("third Acquire gave up after %v, want after its 50ms wait", waited)
	}
	// A waiter gets the slot freed while it waits.
	done := make(chan *struct{ err error }, 1)
	go func() {
		r, err := l.Acquire(ctx)
		if err == nil {
			r()
			done <- &struct{ err error }{}
			return
		}
		done <- &struct{ err error }{err}
	}()
	time.Sleep(10 * time.Millisecond)
	r1()
	if res := <-done; res.err != nil {
		t.Errorf("waiter refused although a slot was freed: %v", res.err)
	}
	// The queue is bounded: with 16 waiting, the next is refused at once.
	r1, _ = l.Acquire(ctx)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() { _, _ = l.Acquire(ctx) })
	}
	deadline := time.Now().Add(time.Second)
	for l.waiting.Load() < 16 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if !l.Busy() {
		t.Error("Busy() = false with full slots and a full queue")
	}
	start = time.Now()
	if _, err := l.Acquire(ctx); err == nil {
		t.Error("Acquire with a full queue succeeded")
	} else if time.Since(start) > 20*time.Millisecond {
		t.Errorf("Acquire with a full queue waited %v, want an immediate refusal", time.Since(start))
	}
	wg.Wait()
	r1()
	r2()
	if got := counter(t, c.shedVec.WithLabelValues("test")); got < 2 {
		t.Errorf("dandan_shed_total{tier=test} = %v, want ≥ 2", got)
	}
}

func TestSystemMemory(t *testing.T) {
	m := SystemMemory()
	if runtime.GOOS == "linux" && (m < 64<<20 || m > 1<<50) {
		t.Errorf("SystemMemory() = %d bytes, not a plausible machine", m)
	}
}

// TestLadder jumps the load past every threshold at once and sends only
// message work: the node still begins to shed typing first, then
// receipts, then syncs, then messages, one step per request, and comes
// down at once when the load falls.
func TestLadder(t *testing.T) {
	c, clk, _ := newTest(t, Config{MaxInFlight: 16, MinInFlight: 16})
	var held []Ticket
	for range 16 {
		tk, _ := c.Admit(Message)
		held = append(held, tk)
		clk.Advance(time.Millisecond)
	}
	// The load rose step by step to 15/16: every tier but messages is shed.
	// Now jump past 1 with work that skips the ladder's test: hold more.
	if _, err := c.Admit(Message); err == nil {
		t.Fatal("message admitted at load 1")
	}
	for _, tk := range held {
		tk.Done()
	}
	if _, err := c.Admit(Typing); err != nil {
		t.Errorf("typing refused once the load fell: %v", err)
	}
	order := []Tier{Typing, Receipt, Sync, Message}
	for i := 1; i < len(order); i++ {
		if !c.FirstShed(order[i]).After(c.FirstShed(order[i-1])) {
			t.Errorf("%s began to be shed at %v, not after %s (%v)", order[i], c.FirstShed(order[i]), order[i-1], c.FirstShed(order[i-1]))
		}
	}

	// A jump from idle to overload: the first requests still climb the
	// ladder one tier each.
	c, clk, _ = newTest(t, Config{MaxInFlight: 16, MinInFlight: 16})
	c.inflight.Store(20)
	var got []bool
	for range 5 {
		clk.Advance(time.Millisecond)
		tk, err := c.Admit(Message)
		got = append(got, err == nil)
		tk.Done()
	}
	if want := []bool{true, true, true, false, false}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("admitted %v after a jump to load 1.25, want %v", got, want)
	}
	for i := 1; i < len(order); i++ {
		if !c.FirstShed(order[i]).After(c.FirstShed(order[i-1])) {
			t.Errorf("after the jump, %s began to be shed before %s", order[i], order[i-1])
		}
	}
}
