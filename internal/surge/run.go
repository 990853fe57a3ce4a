package surge

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dandanchat/dandan/api"
	"github.com/dandanchat/dandan/client"
	"github.com/dandanchat/dandan/internal/localcluster"
)

// user is one synthetic user with one device.
type user struct {
	idx   int
	id    string
	cl    *client.Client // HTTP with the SDK's retries: set-up and checks
	reads *client.Client // HTTP without retries: history reads, whose refusals are counted
	live  *client.Live
	rooms []string

	mu          sync.Mutex
	connectedAt time.Time // of the current connection
	resynced    bool      // synced again since the reconnect storm

	sending atomic.Bool // a message of this user awaits its acknowledgement
}

// sendRec is one message a user sent.
type sendRec struct {
	id      string
	room    string
	started time.Time
	acked   time.Time // zero: not acknowledged
	last    time.Time // when the acknowledged attempt was written
	tries   int
	err     error
}

type run struct {
	o     Options
	c     *localcluster.Cluster
	users []*user
	rooms map[string][]int // room → member indexes
	t0    time.Time        // start of the load
	stats *stats

	mu    sync.Mutex
	sends []*sendRec
	// For end-to-end latencies of ephemeral work: when a typing notice or
	// read receipt was sent, by user|room (typing) or user|room|seq (read).
	typingAt  map[string]time.Time
	receiptAt map[string]time.Time

	points   []point        // the nodes' load, sheds and memory, once a second
	deferred atomic.Int64   // sends not made: the user's last message was still pending
	inflight sync.WaitGroup // sends awaiting their answer
}

func newRun(o Options, c *localcluster.Cluster) *run {
	return &run{o: o, c: c, rooms: map[string][]int{}, typingAt: map[string]time.Time{},
		receiptAt: map[string]time.Time{}, stats: newStats()}
}

func (r *run) progress(format string, args ...any) {
	at := ""
	if !r.t0.IsZero() {
		at = fmt.Sprintf("[%5.1fs] ", time.Since(r.t0).Seconds())
	}
	fmt.Fprintf(r.o.Progress, at+format+"\n", args...)
}

// phase boundaries, from t0.
func (r *run) spikeStart() time.Duration { return r.o.Baseline }
func (r *run) spikeEnd() time.Duration   { return r.o.Baseline + r.o.Spike }
func (r *run) end() time.Duration        { return r.o.Baseline + r.o.Spike + r.o.After }

// rateAt is the message rate the load runs at, at offset d.
func (r *run) rateAt(d time.Duration) float64 {
	if d >= r.spikeStart() && d < r.spikeEnd() {
		return r.o.Rate * r.o.Factor
	}
	return r.o.Rate
}

func (r *run) run(ctx context.Context) (*Result, error) {
	if err := r.setUp(ctx); err != nil {
		return nil, err
	}
	before, err := r.scrapeAll(ctx)
	if err != nil {
		return nil, err
	}
	var readers sync.WaitGroup
	for _, u := range r.users {
		readers.Go(func() { r.read(u) })
	}
	r.t0 = time.Now()
	r.progress("baseline %.0f msg/s for %v, then %.0f msg/s for %v, then %.0f msg/s for %v",
		r.o.Rate, r.o.Baseline, r.o.Rate*r.o.Factor, r.o.Spike, r.o.Rate, r.o.After)

	lctx, stopLoad := context.WithCancel(ctx)
	var load sync.WaitGroup
	load.Go(func() { r.drive(lctx) })
	load.Go(func() { r.browse(lctx) })
	load.Go(func() { r.watch(lctx) })
	if r.o.ReconnectStorm {
		load.Go(func() { r.storm(lctx) })
	}
	select {
	case <-time.After(time.Until(r.t0.Add(r.end()))):
	case <-ctx.Done():
	}
	stopLoad()
	load.Wait()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	r.progress("load ended; waiting for every send's answer …")
	waitGroup(&r.inflight, 60*time.Second)

	res := &Result{Options: r.o.summary(), Users: len(r.users), Rooms: len(r.rooms)}
	r.progress("waiting for every device to be synced …")
	r.checkSynced(ctx, res)
	after, err := r.scrapeAll(ctx)
	if err != nil {
		return nil, err
	}
	r.progress("reading every room's history …")
	if err := r.checkHistory(ctx, res); err != nil {
		return nil, err
	}
	for _, u := range r.users {
		u.live.Close()
	}
	readers.Wait()
	r.summarize(res, before, after)
	return res, nil
}

// setUp signs the users up, puts them in rooms and connects them, each to
// the nodes in turn from a different first one so that they spread.
func (r *run) setUp(ctx context.Context) error {
	urls := r.c.URLs()
	r.users = make([]*user, r.o.Users)
	r.progress("signing up %d users …", r.o.Users)
	err := parallel(ctx, r.o.Users, 16, func(ctx context.Context, i int) error {
		servers := append(append([]string(nil), urls[i%len(urls):]...), urls[:i%len(urls)]...)
		cl, err := client.New(client.Options{Servers: servers})
		if err != nil {
			return err
		}
		s, err := cl.SignUp(ctx, api.SignUpRequest{Handle: fmt.Sprintf("surge%05d", i), Password: "surge drill password"})
		if err != nil {
			return fmt.Errorf("sign up user %d: %w", i, err)
		}
		reads, err := client.New(client.Options{Servers: servers, Token: s.Token, OverloadRetries: -1})
		if err != nil {
			return err
		}
		r.users[i] = &user{idx: i, id: s.User.ID, cl: cl, reads: reads}
		return nil
	})
	if err != nil {
		return err
	}
	// Rooms of RoomSize consecutive users, overlapping by half, so that
	// every user is in two rooms and the rooms form one connected web.
	step := max(1, r.o.RoomSize/2)
	n := r.o.Users / step
	r.progress("creating %d rooms of %d …", n, r.o.RoomSize)
	var mu sync.Mutex
	err = parallel(ctx, n, 16, func(ctx context.Context, k int) error {
		var members []int
		var ids []string
		for j := range r.o.RoomSize {
			m := (k*step + j) % r.o.Users
			members = append(members, m)
			if j > 0 {
				ids = append(ids, r.users[m].id)
			}
		}
		room, err := r.users[members[0]].cl.CreateGroup(ctx, fmt.Sprintf("surge %d", k), ids)
		if err != nil {
			return fmt.Errorf("create room %d: %w", k, err)
		}
		mu.Lock()
		defer mu.Unlock()
		r.rooms[room.ID] = members
		for _, m := range members {
			r.users[m].rooms = append(r.users[m].rooms, room.ID)
		}
		return nil
	})
	if err != nil {
		return err
	}
	r.progress("connecting %d devices …", r.o.Users)
	return parallel(ctx, r.o.Users, 32, func(ctx context.Context, i int) error {
		u := r.users[i]
		l, err := u.cl.Live(ctx, client.LiveOptions{Buffer: 256})
		if err != nil {
			return fmt.Errorf("connect user %d: %w", i, err)
		}
		u.live = l
		// Wait for the first sync, so the load starts on a settled node.
		for up := range l.Updates() {
			if up.Kind == client.Synced {
				return nil
			}
		}
		return fmt.Errorf("user %d: live closed before synced", i)
	})
}

// drive sends messages at the phase's rate: each one is preceded by a
// typing notice, from a random user to one of its rooms. A user whose last
// message is still pending does not send another, as a person waits for
// "sending…" to turn into "sent": that send is deferred (and counted), so
// the backlog a surge leaves behind is bounded by the number of users.
func (r *run) drive(ctx context.Context) {
	const tick = 5 * time.Millisecond
	t := time.NewTicker(tick)
	defer t.Stop()
	owed := 0.0
	last := time.Now()
	var n atomic.Uint64
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			owed += r.rateAt(now.Sub(r.t0)) * now.Sub(last).Seconds()
			last = now
			for ; owed >= 1; owed-- {
				u := r.users[rand.IntN(len(r.users))]
				if !u.sending.CompareAndSwap(false, true) {
					r.deferred.Add(1)
					continue
				}
				room := u.rooms[rand.IntN(len(u.rooms))]
				r.send(u, room, fmt.Sprintf("s%d-%d", u.idx, n.Add(1)))
			}
		}
	}
}

func (r *run) send(u *user, room, id string) {
	now := time.Now()
	r.mu.Lock()
	r.typingAt[u.id+"|"+room] = now
	rec := &sendRec{id: id, room: room, started: now}
	r.sends = append(r.sends, rec)
	r.mu.Unlock()
	_ = u.live.Typing(room)
	p := u.live.SendAsync(room, "happy new year "+id, client.WithID(id))
	r.inflight.Add(1)
	go func() {
		defer r.inflight.Done()
		<-p.Done()
		u.sending.Store(false)
		ack, err := p.Wait(context.Background())
		tries, last := p.Attempts()
		at := time.Now()
		r.mu.Lock()
		rec.tries, rec.last, rec.err = tries, last, err
		if err == nil && ack != nil {
			rec.acked = at
		}
		r.mu.Unlock()
		if err == nil {
			r.stats.ack(at, at.Sub(last))
		}
	}()
}

// browse reads history pages at a tenth of the message rate: people
// opening a chat and scrolling back.
func (r *run) browse(ctx context.Context) {
	const tick = 10 * time.Millisecond
	t := time.NewTicker(tick)
	defer t.Stop()
	owed := 0.0
	last := time.Now()
	var reads sync.WaitGroup
	defer reads.Wait()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			owed += r.rateAt(now.Sub(r.t0)) / 10 * now.Sub(last).Seconds()
			last = now
			for ; owed >= 1; owed-- {
				u := r.users[rand.IntN(len(r.users))]
				room := u.rooms[rand.IntN(len(u.rooms))]
				reads.Go(func() {
					// Not cancelled with the load: a read in progress when the
					// load stops is still answered.
					rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
					defer cancel()
					start := time.Now()
					_, err := u.reads.History(rctx, room, client.HistoryQuery{Limit: 50})
					r.stats.history(start, time.Since(start), err)
				})
			}
		}
	}
}

// storm drops every client's connection at the moment the spike begins;
// each reconnects by itself, as after a site's loss or a network change.
func (r *run) storm(ctx context.Context) {
	select {
	case <-ctx.Done():
		return
	case <-time.After(time.Until(r.t0.Add(r.spikeStart()))):
	}
	r.stats.stormAt(time.Now())
	r.progress("reconnect storm: dropping all %d connections", len(r.users))
	for _, u := range r.users {
		u.live.Reconnect()
	}
}

// read handles one device's updates: receipts for what it receives, and
// the latencies of syncs, receipts and typing notices.
func (r *run) read(u *user) {
	for up := range u.live.Updates() {
		now := time.Now()
		switch up.Kind {
		case client.EventUpdate:
			ev := up.Event
			if ev.Type != api.EventMessage || ev.Sender == u.id {
				continue
			}
			// Every device marks what it received as delivered; half the
			// time its user reads it at once.
			read := uint64(0)
			if rand.IntN(2) == 0 {
				read = ev.Seq
				r.mu.Lock()
				r.receiptAt[fmt.Sprintf("%s|%s|%d", u.id, ev.Room, ev.Seq)] = now
				r.mu.Unlock()
			}
			_ = u.live.Receipt(ev.Room, ev.Seq, read)
		case client.ReceiptUpdate:
			rc := up.Receipt
			if rc == nil || rc.User == u.id || rc.Read == 0 {
				continue
			}
			key := fmt.Sprintf("%s|%s|%d", rc.User, rc.Room, rc.Read)
			// Measured once, at the first member that sees it: later
			// receipt frames may repeat the same read pointer.
			r.mu.Lock()
			at, ok := r.receiptAt[key]
			delete(r.receiptAt, key)
			r.mu.Unlock()
			if ok {
				r.stats.receipt(now, now.Sub(at))
			}
		case client.Typing:
			// Every member that sees the notice measures it.
			r.mu.Lock()
			at, ok := r.typingAt[up.User+"|"+up.RoomID]
			r.mu.Unlock()
			if ok {
				r.stats.typing(now, now.Sub(at))
			}
		case client.Refused:
			r.stats.refused(now, up.Ref)
		case client.Connected:
			u.mu.Lock()
			u.connectedAt = now
			u.mu.Unlock()
		case client.Synced:
			u.mu.Lock()
			since := u.connectedAt
			first := false
			if storm := r.stats.stormTime(); !storm.IsZero() && !u.resynced && since.After(storm) {
				u.resynced, first = true, true
			}
			u.mu.Unlock()
			if !since.IsZero() {
				r.stats.sync(now, now.Sub(since))
			}
			if first {
				r.stats.resync(now)
			}
		case client.Disconnected:
			r.stats.disconnected(now, errors.Is(up.Err, client.ErrAckTimeout))
		}
	}
}

// checkSynced waits until every device has every room's last event (its
// cursors at each room's head), for up to a minute.
func (r *run) checkSynced(ctx context.Context, res *Result) {
	heads := map[string]uint64{}
	for room, members := range r.rooms {
		rm, err := r.users[members[0]].cl.Room(ctx, room)
		if err == nil {
			heads[room] = rm.LastSeq
		}
	}
	deadline := time.Now().Add(time.Minute)
	for {
		behind := 0
		for _, u := range r.users {
			cur := u.live.Cursors()
			for _, room := range u.rooms {
				if cur[room] < heads[room] {
					behind++
					break
				}
			}
		}
		res.Unsynced = behind
		if behind == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// checkHistory reads every room's whole history and compares it with what
// was acknowledged: every acknowledged message exactly once.
func (r *run) checkHistory(ctx context.Context, res *Result) error {
	seen := map[string]int{}
	var mu sync.Mutex
	var rooms []string
	for room := range r.rooms {
		rooms = append(rooms, room)
	}
	err := parallel(ctx, len(rooms), 8, func(ctx context.Context, i int) error {
		room := rooms[i]
		u := r.users[r.rooms[room][0]]
		before := uint64(0)
		for {
			p, err := u.cl.History(ctx, room, client.HistoryQuery{Before: before, Limit: 500})
			if err != nil {
				return fmt.Errorf("history of %s: %w", room, err)
			}
			mu.Lock()
			for _, ev := range p.Events {
				if ev.Type == api.EventMessage {
					seen[ev.ClientID]++
				}
			}
			mu.Unlock()
			if !p.HasMore || len(p.Events) == 0 {
				return nil
			}
			before = p.Events[0].Seq
		}
	})
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.sends {
		res.Sent++
		switch {
		case !s.acked.IsZero():
			res.Acked++
			if seen[s.id] == 0 {
				res.Lost++
				res.problem("acknowledged %s in %s is not in the history", s.id, s.room)
			}
		case s.err != nil:
			res.Failed++
			res.problem("send %s failed: %v", s.id, s.err)
		default:
			res.Unanswered++
		}
		if seen[s.id] > 1 {
			res.Duplicated++
			res.problem("%s is %d times in the history of %s", s.id, seen[s.id], s.room)
		}
	}
	return nil
}

// parallel runs f(0…n-1) on workers goroutines and returns the first error.
func parallel(ctx context.Context, n, workers int, f func(context.Context, int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next atomic.Int64
		once sync.Once
		err  error
		wg   sync.WaitGroup
	)
	for range min(workers, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if e := f(ctx, i); e != nil {
					once.Do(func() { err = e; cancel() })
					return
				}
			}
		})
	}
	wg.Wait()
	return err
}

// waitGroup waits for wg, at most d.
func waitGroup(wg *sync.WaitGroup, d time.Duration) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
	}
}

func (o Options) summary() string {
	var b strings.Builder
	where := "1 node"
	if o.DCs > 1 {
		where = fmt.Sprintf("%d-DC cluster", o.DCs)
	}
	fmt.Fprintf(&b, "%s, %d users in rooms of %d, %.0f msg/s then %.0f× for %v (baseline %v, after %v)",
		where, o.Users, o.RoomSize, o.Rate, o.Factor, o.Spike, o.Baseline, o.After)
	if o.ReconnectStorm {
		b.WriteString(", reconnect storm at the spike")
	}
	return b.String()
}
