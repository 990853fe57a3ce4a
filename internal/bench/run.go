package bench

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/dandanchat/dandan/client"
)

const (
	liveParallel = 32
	syncTimeout  = 60 * time.Second
)

// Run measures the baseline, then runs the load described by cfg and
// returns its figures. Progress goes to logw, a line a second.
func Run(ctx context.Context, cfg Config, logw io.Writer) (*Result, error) {
	cfg, err := cfg.Resolve()
	if err != nil {
		return nil, err
	}
	res := &Result{Scenario: cfg.Scenario, Target: "own", Users: cfg.Users, Rooms: cfg.Rooms, RoomSize: cfg.RoomSize,
		Senders: cfg.Senders, Inflight: cfg.Inflight, Rate: cfg.Rate, DurationS: cfg.Duration.Seconds(),
		WarmupS: cfg.Warmup.Seconds(), TextSize: cfg.TextSize, Sync: cfg.Sync}
	if len(cfg.Targets) > 0 {
		res.Target = strings.Join(cfg.Targets, ",")
	}

	if cfg.BaselineDuration > 0 {
		fmt.Fprintf(logw, "bench: JetStream baseline for %v (sync %s, %d B)\n", cfg.BaselineDuration, cfg.Sync, cfg.TextSize)
		res.Baseline, err = Baseline(ctx, cfg.Sync, cfg.TextSize, cfg.BaselineDuration)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(logw, "bench: baseline %.0f publishes/s\n", res.Baseline)
	}

	targets := cfg.Targets
	if len(targets) == 0 {
		n, err := startNode(ctx, cfg.Sync, logw)
		if err != nil {
			return nil, err
		}
		defer n.stop()
		targets = []string{n.url()}
		fmt.Fprintf(logw, "bench: own node at %s (sync %s)\n", n.url(), cfg.Sync)
	}

	prefix := runPrefix()
	fmt.Fprintf(logw, "bench: signing up %d users (%s_*), creating %d rooms of %d\n", cfg.Users, prefix, cfg.Rooms, cfg.RoomSize)
	users, err := signUp(ctx, targets, prefix, cfg.Users, logw)
	if err != nil {
		return nil, err
	}
	rooms, err := createRooms(ctx, cfg, prefix, users, logw)
	if err != nil {
		return nil, err
	}

	c := new(counters)
	lives, err := openLives(ctx, c, users, logw)
	if err != nil {
		return nil, err
	}
	defer closeLives(lives)

	var senders []sender
	for _, r := range rooms {
		for _, m := range r.members[:cfg.Senders] {
			senders = append(senders, sender{live: lives[m], room: r.id, size: len(r.members)})
		}
	}
	if err := c.run(ctx, cfg, senders, lives, logw); err != nil {
		return nil, err
	}
	c.fill(res, cfg) // after run closed the lives: no update is handled any more
	return res, nil
}

// openLives opens one live connection per user, each giving its updates to
// c's handler (on the connection's own goroutine: a channel and a receiving
// goroutine per user cost the load generator a goroutine switch per
// delivered event), and waits until every one is synced. No update is
// handled once a Live's Close has returned.
func openLives(ctx context.Context, c *counters, users []user, logw io.Writer) ([]*client.Live, error) {
	lives := make([]*client.Live, len(users))
	synced := make(chan struct{}, len(users))
	fmt.Fprintf(logw, "bench: opening %d live connections\n", len(users))
	err := forEach(ctx, len(users), liveParallel, func(ctx context.Context, i int) error {
		l, err := users[i].c.Live(ctx, client.LiveOptions{Handler: c.handler(users[i].id, synced)})
		if err != nil {
			return fmt.Errorf("bench: live connection of user %d: %w", i, err)
		}
		lives[i] = l
		return nil
	})
	if err != nil {
		closeLives(lives)
		return nil, err
	}
	timeout := time.NewTimer(syncTimeout)
	defer timeout.Stop()
	for range users {
		select {
		case <-synced:
		case <-timeout.C:
			err = fmt.Errorf("bench: live connections not synced after %v", syncTimeout)
		case <-ctx.Done():
			err = ctx.Err()
		}
		if err != nil {
			closeLives(lives)
			return nil, err
		}
	}
	return lives, nil
}

// closeLives closes every live connection (idempotent), in parallel.
func closeLives(lives []*client.Live) {
	var wg sync.WaitGroup
	for _, l := range lives {
		if l != nil {
			wg.Go(func() { _ = l.Close() })
		}
	}
	wg.Wait()
}

// run drives the load: warm-up, the measurement window, then up to
// cfg.DrainTimeout for the answers and deliveries still in flight. It closes
// the live connections before it returns, once every send is answered or
// failed by the closing.
func (c *counters) run(ctx context.Context, cfg Config, senders []sender, lives []*client.Live, logw io.Writer) error {
	t0 := time.Now()
	c.winEnd.Store(t0.Add(cfg.Warmup + cfg.Duration).UnixNano())
	c.winStart.Store(t0.Add(cfg.Warmup).UnixNano())
	end := t0.Add(cfg.Warmup + cfg.Duration)
	fmt.Fprintf(logw, "bench: %d senders, %s, %v warm-up + %v\n", len(senders), cfg.loop(), cfg.Warmup, cfg.Duration)

	stop := make(chan struct{})
	var stopOnce sync.Once
	halt := func() { stopOnce.Do(func() { close(stop) }) }
	defer halt()
	cancelWatch := context.AfterFunc(ctx, halt)
	defer cancelWatch()

	progressDone := make(chan struct{})
	var progress sync.WaitGroup
	progress.Go(func() { c.progress(logw, t0, progressDone) })
	defer func() { close(progressDone); progress.Wait() }()

	var sends sync.WaitGroup
	defer func() {
		halt()
		closeLives(lives)
		sends.Wait()
	}()
	c.drive(cfg, senders, t0, end, stop, &sends)

	// Wait for the window to end (noting the CPU used in it), then for the
	// answers and deliveries.
	select {
	case <-time.After(time.Until(t0.Add(cfg.Warmup))):
	case <-ctx.Done():
		return ctx.Err()
	}
	// The targets' CPU too, from their /metrics (without targets the node
	// is this process). Unreadable metrics only leave it unknown.
	tcpu0, terr := targetsCPU(ctx, cfg.Targets)
	cpu0 := processCPU()
	total0, steal0, machineOK := machineTicks()
	select {
	case <-time.After(time.Until(end)):
	case <-ctx.Done():
		return ctx.Err()
	}
	c.cpu = processCPU() - cpu0
	if total1, steal1, ok := machineTicks(); machineOK && ok && total1 > total0 {
		c.stealPct = 100 * float64(steal1-steal0) / float64(total1-total0)
	}
	if len(cfg.Targets) > 0 && terr == nil {
		tcpu1, err := targetsCPU(ctx, cfg.Targets)
		if err == nil {
			c.targetCPU = tcpu1 - tcpu0
		}
		terr = err
	}
	if terr != nil {
		fmt.Fprintf(logw, "bench: the targets' CPU is unknown: %v\n", terr)
	}
	deadline := time.NewTimer(cfg.DrainTimeout)
	defer deadline.Stop()
	answered := make(chan struct{})
	go func() { sends.Wait(); close(answered) }()
	select {
	case <-answered:
	case <-deadline.C:
		fmt.Fprintf(logw, "bench: sends still unanswered after %v\n", cfg.DrainTimeout)
		return nil // closing the lives fails them
	case <-ctx.Done():
		return ctx.Err()
	}
	poll := time.NewTicker(10 * time.Millisecond)
	defer poll.Stop()
	for c.delivered.Load() < c.expected.Load() {
		select {
		case <-poll.C:
		case <-deadline.C:
			fmt.Fprintf(logw, "bench: %d of %d deliveries after %v\n", c.delivered.Load(), c.expected.Load(), cfg.DrainTimeout)
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// fill copies the figures into res; every send must have been answered.
func (c *counters) fill(res *Result, cfg Config) {
	secs := cfg.Duration.Seconds()
	res.Sent, res.Acked = c.sent.Load(), c.acked.Load()
	res.Delivered, res.Expected = c.delivered.Load(), c.expected.Load()
	res.AckedPerS = float64(res.Acked) / secs
	if res.Acked > 0 {
		res.CPUPerMsgUS = float64(c.cpu.Microseconds()) / float64(res.Acked)
		res.TargetCPUPerMsgUS = float64(c.targetCPU.Microseconds()) / float64(res.Acked)
	}
	res.StealPct = c.stealPct
	res.DelivPerS = float64(res.Delivered) / secs
	res.AckP50MS, res.AckP99MS, res.AckP999MS = ms(c.ack.Quantile(0.5)), ms(c.ack.Quantile(0.99)), ms(c.ack.Quantile(0.999))
	res.AckMaxMS = ms(c.ack.Max())
	res.E2EP50MS, res.E2EP99MS, res.E2EP999MS = ms(c.e2e.Quantile(0.5)), ms(c.e2e.Quantile(0.99)), ms(c.e2e.Quantile(0.999))
	res.E2EMaxMS = ms(c.e2e.Max())
	res.StoreP50MS, res.StoreP99MS = ms(c.toStore.Quantile(0.5)), ms(c.toStore.Quantile(0.99))
	res.FanoutP50MS, res.FanoutP99MS = ms(c.fromStore.Quantile(0.5)), ms(c.fromStore.Quantile(0.99))
	c.mu.Lock()
	res.ErrorCodes = map[string]uint64{}
	for code, n := range c.errors {
		res.ErrorCodes[code] = n
		res.Errors += n
	}
	c.mu.Unlock()
	res.Reconnects = c.reconnects.Load()
	if res.Baseline > 0 {
		res.Ratio = res.AckedPerS / res.Baseline
	}
}
