package drill

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/dandanchat/dandan/api"
	"github.com/dandanchat/dandan/client"
	"github.com/dandanchat/dandan/internal/localcluster"
	"github.com/dandanchat/dandan/internal/store"
)

// user is one synthetic user with one device.
type user struct {
	idx    int
	dc     string
	handle string
	id     string
	cl     *client.Client
	live   *client.Live
	rooms  []string
}

// drop is a user's live connection ending.
type drop struct {
	user int
	at   time.Time
	err  string
}

// sendRec is one message a sender tried to send.
type sendRec struct {
	user        int
	room, id    string
	sent, acked time.Time // acked zero: not acknowledged
	seq         uint64
}

type run struct {
	o  Options
	c  *localcluster.Cluster
	t0 time.Time // start of the load

	users   []*user
	members map[string][]int // room → its members' user indexes
	rooms   []string

	mu       sync.Mutex
	sends    []*sendRec
	errs     []time.Time
	drops    []drop                      // connection ends, for the dump
	received map[int]map[string][]uint64 // user → room → message seqs in the order received
	marks    []Mark
	status   *statusWatch // the surviving data centres' status pages
	failed   int          // sends answered by an error (not retried by the SDK)
	problems []string
}

func (r *run) progress(format string, args ...any) {
	fmt.Fprintf(r.o.Progress, format+"\n", args...)
}

func (r *run) mark(label string) {
	at := time.Since(r.t0).Milliseconds()
	r.mu.Lock()
	r.marks = append(r.marks, Mark{AtMS: at, Label: label})
	r.mu.Unlock()
	r.progress("  %6.1fs  %s", float64(at)/1000, label)
}

func (r *run) problem(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.problems) < 20 {
		r.problems = append(r.problems, fmt.Sprintf(format, args...))
	}
}

func (r *run) run(ctx context.Context) (*Result, error) {
	if err := r.setUp(ctx); err != nil {
		return nil, err
	}
	defer func() {
		for _, u := range r.users {
			if u.live != nil {
				u.live.Close()
			}
		}
	}()
	r.received = make(map[int]map[string][]uint64)
	var recv sync.WaitGroup
	for _, u := range r.users {
		recv.Add(1)
		go r.receive(u, &recv)
	}

	victim := r.o.Victim
	if victim == Auto {
		victim = "the data centre leading the most rooms"
	}
	r.progress("load: %.0f msg/s from %d users in %d rooms for %s; %s fails at %s, comes back at %s",
		r.o.Rate, len(r.users), len(r.rooms), r.o.Duration, victim, r.o.FailAt, r.o.HealAt)
	r.t0 = time.Now()
	stop := make(chan struct{})
	var senders, acks sync.WaitGroup
	for _, u := range r.users {
		senders.Add(1)
		go r.send(u, stop, &senders, &acks)
	}

	res := &Result{Scenario: r.o.Scenario, Victim: r.o.Victim, DCs: r.o.DCs, Users: len(r.users),
		Rooms: len(r.rooms), Rate: r.o.Rate}
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	r.status = &statusWatch{r: r}
	go r.status.run(wctx)
	var affected map[string]bool
	var err error
	if r.o.Scenario == RollingRestart {
		affected, err = r.rollingRestart(ctx, res)
	} else {
		affected, err = r.failAndHeal(ctx, res)
	}
	if err != nil {
		close(stop)
		return nil, err
	}
	if !sleepUntil(ctx, r.t0.Add(r.o.Duration)) {
		close(stop)
		return nil, ctx.Err()
	}
	close(stop)
	senders.Wait()
	res.LoadMS = time.Since(r.t0).Milliseconds()
	r.mark("load stopped")

	// Every send still open gets time to be acknowledged (its sender's
	// outbox resends it), then every device time to receive everything.
	waitGroup(&acks, 30*time.Second)
	heads, err := r.histories(ctx)
	if err != nil {
		return nil, err
	}
	r.awaitDelivery(ctx, heads, 30*time.Second)
	// The incident resolves itself once the data centre has been healthy
	// for a while (10 s).
	if r.o.Scenario != RollingRestart {
		st := r.status.awaitResolved(ctx, 45*time.Second)
		res.Status = &st
	}
	r.mark("checked")
	r.check(res, heads, affected)
	r.mu.Lock()
	res.Failed = r.failed
	r.mu.Unlock()
	if r.o.Dump != nil {
		r.dump(affected)
	}
	return res, nil
}

// setUp signs the users up and creates the rooms: per index k, one group
// with user k of every data centre, and direct rooms between user k of each
// data centre and user k of the next.
func (r *run) setUp(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	dcs := r.c.DCs()
	for _, dc := range dcs {
		for k := 0; k < r.o.UsersPerDC; k++ {
			// Home data centre first, then the others: where the user's
			// client goes, and where it fails over to.
			var servers []string
			for _, n := range r.c.InDC(dc) {
				servers = append(servers, n.URL)
			}
			for _, n := range r.c.Nodes() {
				if n.DC != dc {
					servers = append(servers, n.URL)
				}
			}
			cl, err := client.New(client.Options{Servers: servers})
			if err != nil {
				return err
			}
			u := &user{idx: len(r.users), dc: dc, handle: fmt.Sprintf("%s_u%d_%d", dc, k, rand.IntN(1_000_000)), cl: cl}
			sess, err := cl.SignUp(ctx, api.SignUpRequest{Handle: u.handle, Password: "drill-password-" + u.handle, DeviceName: "drill"})
			if err != nil {
				return fmt.Errorf("drill: sign up %s: %w", u.handle, err)
			}
			cl.SetToken(sess.Token)
			u.id = sess.User.ID
			r.users = append(r.users, u)
		}
	}
	r.members = make(map[string][]int)
	n := r.o.UsersPerDC
	user := func(d, k int) *user { return r.users[d*n+k] }
	for k := 0; k < n; k++ {
		var ids []string
		var idx []int
		for d := range dcs {
			idx = append(idx, user(d, k).idx)
			if d > 0 {
				ids = append(ids, user(d, k).id)
			}
		}
		room, err := user(0, k).cl.CreateGroup(ctx, fmt.Sprintf("drill group %d", k), ids)
		if err != nil {
			return fmt.Errorf("drill: create group: %w", err)
		}
		r.addRoom(room.ID, idx)
		for d := range dcs {
			a, b := user(d, k), user((d+1)%len(dcs), k)
			room, err := a.cl.CreateDirect(ctx, b.id)
			if err != nil {
				return fmt.Errorf("drill: create direct room: %w", err)
			}
			r.addRoom(room.ID, []int{a.idx, b.idx})
		}
	}
	for _, u := range r.users {
		cursors := make(map[string]uint64, len(u.rooms))
		for _, room := range u.rooms {
			cursors[room] = 0 // from the start: every event of the drill
		}
		live, err := u.cl.Live(ctx, client.LiveOptions{Cursors: cursors, MaxBackoff: time.Second,
			AckTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, PingInterval: 2 * time.Second})
		if err != nil {
			return fmt.Errorf("drill: connect %s: %w", u.handle, err)
		}
		u.live = live
	}
	r.progress("set up %d users and %d rooms", len(r.users), len(r.rooms))
	return nil
}

func (r *run) addRoom(id string, members []int) {
	r.rooms = append(r.rooms, id)
	r.members[id] = members
	for _, m := range members {
		r.users[m].rooms = append(r.users[m].rooms, id)
	}
}

// send sends at the user's share of the rate, round robin over its rooms,
// until stop. Each send is a fresh client id; the SDK resends it (same id)
// across failures until it is acknowledged.
func (r *run) send(u *user, stop <-chan struct{}, wg, acks *sync.WaitGroup) {
	defer wg.Done()
	interval := time.Duration(float64(time.Second) * float64(len(r.users)) / r.o.Rate)
	// Spread the senders over the interval.
	select {
	case <-stop:
		return
	case <-time.After(rand.N(interval)):
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for i := 0; ; i++ {
		room := u.rooms[i%len(u.rooms)]
		rec := &sendRec{user: u.idx, room: room, id: fmt.Sprintf("%s-%d", u.handle, i), sent: time.Now()}
		r.mu.Lock()
		r.sends = append(r.sends, rec)
		r.mu.Unlock()
		p := u.live.SendAsync(room, "drill message "+rec.id, client.WithID(rec.id))
		acks.Add(1)
		go func() {
			defer acks.Done()
			<-p.Done()
			ack, err := p.Wait(context.Background())
			r.mu.Lock()
			defer r.mu.Unlock()
			if err != nil {
				r.errs = append(r.errs, time.Now())
				r.failed++
				return
			}
			rec.acked, rec.seq = time.Now(), ack.Seq
		}()
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

// receive records the message events the user's device receives.
func (r *run) receive(u *user, wg *sync.WaitGroup) {
	defer wg.Done()
	for up := range u.live.Updates() {
		switch up.Kind {
		case client.EventUpdate:
			if up.Event.Type != api.EventMessage || up.Event.ClientID == "" {
				continue
			}
			r.mu.Lock()
			m := r.received[u.idx]
			if m == nil {
				m = make(map[string][]uint64)
				r.received[u.idx] = m
			}
			m[up.Event.Room] = append(m[up.Event.Room], up.Event.Seq)
			r.mu.Unlock()
		case client.Disconnected:
			r.mu.Lock()
			r.errs = append(r.errs, time.Now())
			msg := ""
			if up.Err != nil {
				msg = up.Err.Error()
			}
			r.drops = append(r.drops, drop{user: u.idx, at: time.Now(), err: msg})
			r.mu.Unlock()
		case client.Connected:
			r.mu.Lock()
			r.drops = append(r.drops, drop{user: u.idx, at: time.Now(), err: "connected to " + up.Server})
			r.mu.Unlock()
		}
	}
}

// failAndHeal runs the failure and the recovery while the load runs, and
// returns the rooms whose stream was led from the victim when it failed.
func (r *run) failAndHeal(ctx context.Context, res *Result) (map[string]bool, error) {
	if !sleepUntil(ctx, r.t0.Add(r.o.FailAt)) {
		return nil, ctx.Err()
	}
	affected, err := r.affectedRooms(ctx)
	if err != nil {
		return nil, err
	}
	res.Victim = r.o.Victim
	res.AffectedRooms, res.UnaffectedRooms = len(affected), len(r.rooms)-len(affected)
	res.FailAtMS = time.Since(r.t0).Milliseconds()
	r.status.failed(time.Now(), r.o.Victim)
	if r.o.Scenario == DCLoss {
		r.c.Kill(r.o.Victim)
		r.mark(r.o.Victim + " killed (SIGKILL)")
	} else {
		r.c.Cut(r.o.Victim)
		r.mark(r.o.Victim + " cut off")
	}
	if !sleepUntil(ctx, r.t0.Add(r.o.HealAt)) {
		return nil, ctx.Err()
	}
	res.HealAtMS = time.Since(r.t0).Milliseconds()
	healed := time.Now()
	r.status.healed(healed)
	hctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if r.o.Scenario == DCLoss {
		r.mark(r.o.Victim + " restarted")
		if err := r.c.Restart(hctx, r.o.Victim); err != nil {
			return nil, err
		}
	} else {
		r.c.Heal(r.o.Victim)
		r.mark(r.o.Victim + " reconnected")
	}
	if err := r.awaitServing(hctx); err != nil {
		return nil, err
	}
	res.CatchUpMS = float64(time.Since(healed).Microseconds()) / 1000
	r.mark(fmt.Sprintf("%s serves again, up to date (%.1f s)", r.o.Victim, res.CatchUpMS/1000))
	return affected, nil
}

// rollingRestart stops every data centre gracefully (SIGTERM) and starts it
// again, one after another, each once the previous one serves again, up to
// date: maintenance of the whole cluster under load.
func (r *run) rollingRestart(ctx context.Context, res *Result) (map[string]bool, error) {
	if !sleepUntil(ctx, r.t0.Add(r.o.FailAt)) {
		return nil, ctx.Err()
	}
	res.FailAtMS = time.Since(r.t0).Milliseconds()
	for _, dc := range r.c.DCs() {
		r.o.Victim = dc
		r.c.Terminate(dc)
		r.mark(dc + " stopped (SIGTERM)")
		hctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		restarted := time.Now()
		err := r.c.Restart(hctx, dc)
		if err == nil {
			r.mark(dc + " restarted")
			err = r.awaitServing(hctx)
		}
		cancel()
		if err != nil {
			return nil, err
		}
		res.CatchUpMS = max(res.CatchUpMS, float64(time.Since(restarted).Microseconds())/1000)
		r.mark(fmt.Sprintf("%s serves again, up to date", dc))
	}
	res.HealAtMS = time.Since(r.t0).Milliseconds()
	res.Victim = "every data centre in turn"
	return map[string]bool{}, nil
}

// affectedRooms asks a node outside the victim which node leads each
// message stream, and returns the rooms led from the victim. An automatic
// victim is chosen here: the data centre leading the most rooms.
func (r *run) affectedRooms(ctx context.Context) (map[string]bool, error) {
	var info api.Cluster
	var err error
	for _, n := range r.c.Nodes() {
		if n.DC == r.o.Victim {
			continue
		}
		if err = getJSON(ctx, n.URL+"/v1/cluster?leaders=1", &info); err == nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("drill: stream leaders: %w", err)
	}
	dcOf := make(map[string]string)
	for _, n := range info.Nodes {
		dcOf[n.Name] = n.DC
	}
	if len(info.Partitions) == 0 {
		return nil, errors.New("drill: the cluster did not list its stream leaders")
	}
	if r.o.Victim == Auto {
		led := make(map[string]int)
		for _, room := range r.rooms {
			led[dcOf[info.Partitions[store.PartitionOf(room, len(info.Partitions))].Leader]]++
		}
		r.o.Victim = r.c.DCs()[0]
		for _, dc := range r.c.DCs() {
			if led[dc] > led[r.o.Victim] {
				r.o.Victim = dc
			}
		}
	}
	out := make(map[string]bool)
	for _, room := range r.rooms {
		p := store.PartitionOf(room, len(info.Partitions))
		if dcOf[info.Partitions[p].Leader] == r.o.Victim {
			out[room] = true
		}
	}
	return out, nil
}

// awaitServing waits until every node of the victim answers API requests
// with data at least as new as the latest acknowledgement when it started
// waiting: back, and caught up.
func (r *run) awaitServing(ctx context.Context) error {
	r.mu.Lock()
	var probe *sendRec
	for i := len(r.sends) - 1; i >= 0 && probe == nil; i-- {
		if !r.sends[i].acked.IsZero() {
			probe = r.sends[i]
		}
	}
	r.mu.Unlock()
	if probe == nil {
		return nil
	}
	u := r.users[probe.user]
	for _, n := range r.c.InDC(r.o.Victim) {
		cl, err := client.New(client.Options{Servers: []string{n.URL}, Token: u.cl.Token()})
		if err != nil {
			return err
		}
		for {
			pg, err := cl.History(ctx, probe.room, client.HistoryQuery{After: probe.seq - 1, Limit: 1})
			if err == nil && len(pg.Events) > 0 && pg.Events[0].Seq == probe.seq {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("drill: %s did not catch up: %w", n.Name, ctx.Err())
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	return nil
}

// histories reads every room's whole history through a node outside the
// victim and returns, per room, its message events by seq.
func (r *run) histories(ctx context.Context) (map[string][]api.Event, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	// A node of the victim that has just come back may still be catching
	// up with what the others stored meanwhile (its read model lags for a
	// few seconds): the histories are read from the nodes that stayed.
	var survivors []string
	for _, n := range r.c.Nodes() {
		if n.DC != r.o.Victim {
			survivors = append(survivors, n.URL)
		}
	}
	acked := make(map[string]uint64) // room → highest seq acknowledged
	r.mu.Lock()
	for _, s := range r.sends {
		if !s.acked.IsZero() {
			acked[s.room] = max(acked[s.room], s.seq)
		}
	}
	r.mu.Unlock()
	out := make(map[string][]api.Event, len(r.rooms))
	patience := time.Now().Add(20 * time.Second)
	var lag time.Duration // the longest wait for a room's newest event
	defer func() {
		if lag > 500*time.Millisecond {
			r.mark(fmt.Sprintf("a surviving node's history took %.1f s to show a room's last acknowledged message", lag.Seconds()))
		}
	}()
	for _, room := range r.rooms {
		u := r.users[r.members[room][len(r.members[room])-1]]
		cl, err := client.New(client.Options{Servers: survivors, Token: u.cl.Token()})
		if err != nil {
			return nil, err
		}
		// A node's history shows what its read model holds: events
		// acknowledged through another node a moment ago may not be there
		// yet. Wait (a while) for the newest page to reach the room's
		// highest acknowledged seq; one still missing then is a problem
		// the check reports.
		for t0 := time.Now(); time.Now().Before(patience); {
			pg, err := cl.History(ctx, room, client.HistoryQuery{Limit: 1})
			if err == nil && len(pg.Events) > 0 && pg.Events[len(pg.Events)-1].Seq >= acked[room] {
				lag = max(lag, time.Since(t0))
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		// Page backwards from the newest event to the first.
		var pages [][]api.Event
		var before uint64
		for {
			pg, err := cl.History(ctx, room, client.HistoryQuery{Before: before, Limit: api.MaxPageLimit})
			if err != nil {
				return nil, fmt.Errorf("drill: history of %s: %w", room, err)
			}
			pages = append(pages, pg.Events)
			if len(pg.Events) == 0 || !pg.HasMore {
				break
			}
			before = pg.Events[0].Seq
		}
		var all []api.Event
		for i := len(pages) - 1; i >= 0; i-- {
			all = append(all, pages[i]...)
		}
		out[room] = all
	}
	return out, nil
}

// awaitDelivery waits until every member's device has received its rooms'
// last message, or for at most d.
func (r *run) awaitDelivery(ctx context.Context, heads map[string][]api.Event, d time.Duration) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		done := true
		r.mu.Lock()
		for room, evs := range heads {
			last := lastMessage(evs)
			for _, m := range r.members[room] {
				got := r.received[m][room]
				if last > 0 && (len(got) == 0 || got[len(got)-1] < last) {
					done = false
				}
			}
		}
		r.mu.Unlock()
		if done {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func lastMessage(evs []api.Event) uint64 {
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Type == api.EventMessage && evs[i].ClientID != "" {
			return evs[i].Seq
		}
	}
	return 0
}

// check compares what senders were acknowledged with the rooms' histories
// and what every device received.
func (r *run) check(res *Result, heads map[string][]api.Event, affected map[string]bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	stored := make(map[string]map[uint64]api.Event) // room → seq → event
	copies := make(map[string]int)                  // sender/client id → times stored
	for room, evs := range heads {
		m := make(map[uint64]api.Event, len(evs))
		for _, ev := range evs {
			m[ev.Seq] = ev
			if ev.Type == api.EventMessage && ev.ClientID != "" {
				copies[ev.Sender+"/"+ev.ClientID]++
			}
		}
		stored[room] = m
	}
	for k, n := range copies {
		if n > 1 {
			res.Duplicated += n - 1
			r.problemLocked("stored %d times: %s", n, k)
		}
	}
	// What each device received: duplicates and order.
	got := make(map[int]map[string]map[uint64]bool)
	for u, rooms := range r.received {
		got[u] = make(map[string]map[uint64]bool)
		for room, seqs := range rooms {
			seen := make(map[uint64]bool, len(seqs))
			var prev uint64
			for _, s := range seqs {
				if seen[s] {
					res.Duplicated++
					r.problemLocked("%s received seq %d of %s twice", r.users[u].handle, s, room)
				} else if s < prev {
					res.Reordered++
					r.problemLocked("%s received seq %d of %s after %d", r.users[u].handle, s, room, prev)
				}
				seen[s] = true
				prev = max(prev, s)
			}
			got[u][room] = seen
		}
	}
	var lat []time.Duration
	for _, s := range r.sends {
		res.Sent++
		if s.acked.IsZero() {
			res.Unacked++
			continue
		}
		res.Acked++
		lat = append(lat, s.acked.Sub(s.sent))
		ev, ok := stored[s.room][s.seq]
		lost := false
		if !ok || ev.ClientID != s.id || ev.Sender != r.users[s.user].id {
			lost = true
			r.problemLocked("acknowledged %s as seq %d of %s, but the history has %q there", s.id, s.seq, s.room, ev.ClientID)
		}
		for _, m := range r.members[s.room] {
			if !got[m][s.room][s.seq] {
				res.Undelivered++
				lost = true
				r.problemLocked("%s never received %s (seq %d of %s)", r.users[m].handle, s.id, s.seq, s.room)
			}
		}
		if lost {
			res.Lost++
		}
	}
	res.SendAckP50MS, res.SendAckP99MS = msOf(quantile(lat, 0.50)), msOf(quantile(lat, 0.99))
	r.rto(res)
	r.roomGaps(res, affected)
	r.timeline(res)
	res.Marks = append([]Mark(nil), r.marks...)
	res.Problems = append([]string(nil), r.problems...)
}

func (r *run) problemLocked(format string, args ...any) {
	if len(r.problems) < 20 {
		r.problems = append(r.problems, fmt.Sprintf(format, args...))
	}
}

// rto: per sender, the longest time between two acknowledgements it
// received (the load is steady, so this is how long it could not send).
func (r *run) rto(res *Result) {
	per := make(map[int][]time.Time)
	for _, s := range r.sends {
		if !s.acked.IsZero() {
			per[s.user] = append(per[s.user], s.acked)
		}
	}
	var gaps []time.Duration
	for _, ts := range per {
		gaps = append(gaps, longestGap(ts, time.Time{}, time.Time{}))
	}
	res.RTOP99MS, res.RTOMaxMS = msOf(quantile(gaps, 0.99)), msOf(quantile(gaps, 1))
}

// roomGaps: per room, the longest time between two acknowledged messages
// while the victim was down, plus a second on each side.
func (r *run) roomGaps(res *Result, affected map[string]bool) {
	from := r.t0.Add(time.Duration(res.FailAtMS)*time.Millisecond - time.Second)
	to := r.t0.Add(time.Duration(res.HealAtMS)*time.Millisecond + time.Second)
	per := make(map[string][]time.Time)
	for _, s := range r.sends {
		if !s.acked.IsZero() {
			per[s.room] = append(per[s.room], s.acked)
		}
	}
	// Before the failure, after a second of warm-up.
	bfrom, bto := r.t0.Add(time.Second), r.t0.Add(time.Duration(res.FailAtMS)*time.Millisecond-time.Second)
	for _, room := range r.rooms {
		if bto.After(bfrom) {
			res.BaselineGapMaxMS = max(res.BaselineGapMaxMS, msOf(longestGap(per[room], bfrom, bto)))
		}
		g := msOf(longestGap(per[room], from, to))
		if affected[room] {
			res.AffectedGapMaxMS = max(res.AffectedGapMaxMS, g)
		} else {
			res.UnaffectedGapMaxMS = max(res.UnaffectedGapMaxMS, g)
		}
	}
}

// longestGap is the longest interval between consecutive times of ts
// (sorted in place); with a window, only the part of each interval inside
// [from, to] counts.
func longestGap(ts []time.Time, from, to time.Time) time.Duration {
	sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
	var longest time.Duration
	for i := 1; i < len(ts); i++ {
		a, b := ts[i-1], ts[i]
		if !from.IsZero() {
			if b.Before(from) || a.After(to) {
				continue
			}
			if a.Before(from) {
				a = from
			}
			if b.After(to) {
				b = to
			}
		}
		longest = max(longest, b.Sub(a))
	}
	return longest
}

// timeline buckets acknowledgements and errors by second of load.
func (r *run) timeline(res *Result) {
	n := int(res.LoadMS/1000) + 1
	lat := make([][]time.Duration, n)
	res.Timeline = make([]Second, n)
	for i := range res.Timeline {
		res.Timeline[i].T = i
	}
	for _, s := range r.sends {
		if s.acked.IsZero() {
			continue
		}
		if i := int(s.acked.Sub(r.t0) / time.Second); i >= 0 && i < n {
			res.Timeline[i].Acked++
			lat[i] = append(lat[i], s.acked.Sub(s.sent))
		}
	}
	for _, t := range r.errs {
		if i := int(t.Sub(r.t0) / time.Second); i >= 0 && i < n {
			res.Timeline[i].Errors++
		}
	}
	for i := range res.Timeline {
		res.Timeline[i].P50MS, res.Timeline[i].P99MS = msOf(quantile(lat[i], 0.5)), msOf(quantile(lat[i], 0.99))
	}
}

// dump writes every send as a JSON line.
func (r *run) dump(affected map[string]bool) {
	enc := json.NewEncoder(r.o.Dump)
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.sends {
		u := r.users[s.user]
		rec := map[string]any{"user": u.handle, "dc": u.dc, "room": s.room, "affected": affected[s.room],
			"id": s.id, "sent_ms": s.sent.Sub(r.t0).Milliseconds(), "seq": s.seq}
		if !s.acked.IsZero() {
			rec["acked_ms"] = s.acked.Sub(r.t0).Milliseconds()
		}
		_ = enc.Encode(rec)
	}
	for _, d := range r.drops {
		_ = enc.Encode(map[string]any{"user": r.users[d.user].handle, "at_ms": d.at.Sub(r.t0).Milliseconds(), "live": d.err})
	}
}

func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(q * float64(len(s)-1))
	return s[i]
}

func msOf(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func getJSON(ctx context.Context, url string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func sleepUntil(ctx context.Context, t time.Time) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(time.Until(t)):
		return true
	}
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
