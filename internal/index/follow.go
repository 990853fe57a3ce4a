package index

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dandanchat/dandan/api"
	"github.com/dandanchat/dandan/internal/store"
	"github.com/nats-io/nats.go/jetstream"
)

// Start replays the rooms and members buckets and every partition stream,
// then keeps following them until Stop. Ready is closed when the replay is
// complete.
func (ix *Index) Start(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	ix.stop = cancel
	var pending sync.WaitGroup // closes Ready

	for _, w := range []struct {
		bucket string
		apply  func(jetstream.KeyValueEntry)
	}{
		{ix.st.Rooms.Bucket(), ix.applyRoom},
		{ix.st.Members.Bucket(), ix.applyMember},
	} {
		var watcher jetstream.KeyWatcher
		err := ix.retry(ctx, "watch "+w.bucket, func() error {
			kv, err := ix.js.KeyValue(ctx, w.bucket)
			if err == nil {
				watcher, err = kv.WatchAll(ctx)
			}
			return err
		})
		if err != nil {
			cancel()
			return fmt.Errorf("watch %s: %w", w.bucket, err)
		}
		pending.Add(1)
		ix.wg.Add(1)
		go func(watcher jetstream.KeyWatcher, apply func(jetstream.KeyValueEntry)) {
			defer ix.wg.Done()
			defer watcher.Stop()
			var once sync.Once
			replayed := func() { once.Do(pending.Done) }
			defer replayed() // also when stopped early
			for {
				select {
				case <-ctx.Done():
					return
				case e, ok := <-watcher.Updates():
					switch {
					case !ok:
						return
					case e == nil: // end of the initial values
						replayed()
					default:
						apply(e)
					}
				}
			}
		}(watcher, w.apply)
	}

	for p := 0; p < ix.st.Partitions(); p++ {
		if err := ix.followStream(ctx, p, &pending); err != nil {
			cancel()
			return err
		}
	}
	if ix.RemembersIDs() {
		ix.wg.Add(1)
		go func() {
			defer ix.wg.Done()
			t := time.NewTicker(idSweep)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case now := <-t.C:
					ix.sweepIDs(now)
				}
			}
		}()
	}
	go func() {
		pending.Wait()
		if ctx.Err() == nil {
			ix.readyOnce.Do(func() { close(ix.ready) })
			ix.log.Info("read model ready", "rooms", ix.roomCount())
		}
	}()
	return nil
}

// Stop stops following and waits for the watchers to end.
func (ix *Index) Stop() {
	if ix.stop != nil {
		ix.stop()
	}
	ix.wg.Wait()
}

func (ix *Index) roomCount() int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return len(ix.rooms)
}

// followStream follows partition p in two phases: first it replays the
// stream's headers up to what it held at start (cheap: no bodies), then it
// follows new events with their bodies from the next sequence on, applying
// each and handing it to the OnEvent listeners (the gateway's live fan-out).
// Both phases are ordered consumers: reliable and gap-free, one per partition
// per node.
func (ix *Index) followStream(ctx context.Context, p int, pending *sync.WaitGroup) error {
	name := store.StreamName(p)
	var str jetstream.Stream
	var info *jetstream.StreamInfo
	err := ix.retry(ctx, "follow "+name, func() (err error) {
		if str, err = ix.js.Stream(ctx, name); err == nil {
			info, err = str.Info(ctx)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("follow %s: %w", name, err)
	}
	target := info.State.LastSeq
	var last atomic.Uint64 // the last stream sequence applied
	pending.Add(1)
	caughtUp := make(chan struct{})
	var once sync.Once
	if target == 0 {
		close(caughtUp)
	}
	var replay jetstream.ConsumeContext
	if target > 0 {
		var cons jetstream.Consumer
		err := ix.retry(ctx, "replay "+name, func() (err error) {
			cons, err = str.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{HeadersOnly: true})
			return err
		})
		if err != nil {
			pending.Done()
			return fmt.Errorf("follow %s: %w", name, err)
		}
		replay, err = cons.Consume(func(m jetstream.Msg) {
			if ev, ok := ix.apply(m); ok {
				last.Store(ev.streamSeq)
				if ev.streamSeq >= target {
					once.Do(func() { close(caughtUp) })
				}
			}
		})
		if err != nil {
			pending.Done()
			return fmt.Errorf("follow %s: %w", name, err)
		}
	}
	var readyOnce sync.Once
	ready := func() { readyOnce.Do(pending.Done) }
	ix.wg.Add(1)
	go func() {
		defer ix.wg.Done()
		defer ready() // also when giving up early
		select {
		case <-caughtUp:
		case <-ctx.Done():
			if replay != nil {
				replay.Stop()
			}
			return
		}
		if replay != nil {
			replay.Stop()
			<-replay.Closed() // no callback runs any more: last is final
		}
		for {
			var live jetstream.ConsumeContext
			err := ix.retry(ctx, "follow "+name, func() error {
				cons, err := str.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
					DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: last.Load() + 1})
				if err != nil {
					return err
				}
				live, err = cons.Consume(func(m jetstream.Msg) {
					if ev, ok := ix.apply(m); ok {
						last.Store(ev.streamSeq)
						if ev.fresh {
							ix.keepLast(ev.room, ev.seq, m.Data())
							ix.emit(Event{Room: ev.room, Seq: ev.seq, Data: m.Data()})
						}
					}
				}, append(liveHeartbeat(), jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
					// The ordered consumer recreates itself after these; the
					// log says when this node's live events paused, and why.
					ix.log.Info("read model follower interrupted", "stream", name, "err", err)
				}))...)
				return err
			})
			if err != nil {
				return // stopped
			}
			ready()
			stalled := ix.watch(ctx, str, &last)
			live.Stop()
			<-live.Closed()
			if !stalled {
				return
			}
			ix.log.Warn("read model follower stalled: recreated", "stream", name, "at", last.Load()+1)
		}
	}()
	return nil
}

// Stall detection. After a data centre's loss or return, an ordered
// consumer has been seen to go silent for many seconds, once for good,
// without the heartbeat error that makes it recreate itself: the node's
// live events and catch-ups of that partition stopped while the stream went
// on. A follower that has not moved for stallAfter while its stream holds
// more is recreated from where it stopped.
const (
	stallCheck = time.Second
	stallAfter = 3 * time.Second
)

// watch returns true once the follower of str has stalled (last has not
// moved for stallAfter, and str holds messages after it), false when ctx
// ends. An idle stream is asked for its last sequence every stallAfter.
func (ix *Index) watch(ctx context.Context, str jetstream.Stream, last *atomic.Uint64) bool {
	t := time.NewTicker(stallCheck)
	defer t.Stop()
	prev, since := last.Load(), time.Now()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
		cur := last.Load()
		if cur != prev {
			prev, since = cur, time.Now()
			continue
		}
		if time.Since(since) < stallAfter {
			continue
		}
		since = time.Now()
		ictx, cancel := context.WithTimeout(ctx, time.Second)
		info, err := str.Info(ictx)
		cancel()
		// An error (the stream is electing a leader) is the ordered
		// consumer's to handle; the stream is asked again stallAfter later.
		if err == nil && info.State.LastSeq > last.Load() {
			return true
		}
	}
}

// retry calls f until it succeeds or ctx ends. In a cluster a stream or
// bucket whose leader was just lost answers nothing until it has elected a
// new one (seconds); a node starting then must wait, not fail.
func (ix *Index) retry(ctx context.Context, what string, f func() error) error {
	var logged time.Time
	for {
		err := f()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Since(logged) > 5*time.Second {
			ix.log.Warn("read model waits for storage", "what", what, "err", err)
			logged = time.Now()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// liveHeartbeat makes a live consumer notice within about two seconds that
// its server-side half is gone (the stream's leader died with it) and
// recreate it at the next sequence; the library's default would take ten.
func liveHeartbeat() []jetstream.PullConsumeOpt {
	return []jetstream.PullConsumeOpt{jetstream.PullExpiry(10 * time.Second), jetstream.PullHeartbeat(time.Second)}
}

// applied is what apply learned of a consumed message.
type applied struct {
	room           string
	seq, streamSeq uint64
	fresh          bool // new to the index (not a replayed or out-of-order one)
}

// apply indexes a consumed message. ok is false for a message it cannot read.
func (ix *Index) apply(m jetstream.Msg) (applied, bool) {
	md, err := m.Metadata()
	if err != nil {
		return applied{}, false
	}
	h := m.Headers()
	subj := m.Subject()
	i := strings.LastIndexByte(subj, '.')
	seq, err := strconv.ParseUint(h.Get(store.HeaderSeq), 10, 64)
	if i < 0 || err != nil || seq == 0 {
		ix.log.Error("event without room seq", "subject", subj, "stream_seq", md.Sequence.Stream)
		return applied{streamSeq: md.Sequence.Stream}, true
	}
	ev := applied{room: subj[i+1:], seq: seq, streamSeq: md.Sequence.Stream}
	ev.fresh = ix.applyEvent(ev.room, seq, h.Get(store.HeaderType), h.Get(store.HeaderSender),
		h.Get(store.HeaderTarget), ev.streamSeq, h.Get(jetstream.MsgIDHeader), md.Timestamp.Unix())
	return ev, true
}

// Event is a newly stored room event as the live listeners receive it:
// its room, its room seq and its stored JSON.
type Event struct {
	Room string
	Seq  uint64
	Data []byte
}

// OnEvent registers f to receive every event stored after the replay, in
// each room's order. f is called from the partition's follower goroutine and
// must not block. Register before Start.
func (ix *Index) OnEvent(f func(Event)) {
	ix.mu.Lock()
	ix.listeners = append(ix.listeners, f)
	ix.mu.Unlock()
}

func (ix *Index) emit(ev Event) {
	ix.mu.RLock()
	listeners := ix.listeners
	ix.mu.RUnlock()
	for _, f := range listeners {
		f(ev)
	}
}

// applyEvent indexes room's event seq, stored at streamSeq at Unix second at
// with message id msgID, and reports whether it was the room's next event
// (and so new to the index).
func (ix *Index) applyEvent(room string, seq uint64, typ, sender, target string, streamSeq uint64, msgID string, at int64) bool {
	r := ix.roomFor(room, true)
	r.mu.Lock()
	defer r.mu.Unlock()
	n := uint64(len(r.sseq))
	switch {
	case seq <= n: // already indexed (replay overlap)
		return false
	case seq > n+1:
		ix.log.Error("gap in room sequence", "room", room, "have", n, "got", seq, "stream_seq", streamSeq)
		return false
	}
	var count uint32
	if n > 0 {
		count = r.msgs[n-1]
	}
	if typ == api.EventMessage {
		count++
		if r.lastOwn == nil {
			r.lastOwn = make(map[string]uint64)
		}
		r.lastOwn[sender] = seq
	}
	if typ == api.EventDelete {
		if t, err := strconv.ParseUint(target, 10, 64); err == nil && t > 0 {
			if r.deleted == nil {
				r.deleted = make(map[uint64]struct{})
			}
			r.deleted[t] = struct{}{}
		}
	}
	if msgID != "" && ix.RemembersIDs() {
		r.ids.add(maphash.String(ix.seed, msgID), seq, at, ix.idEvents, ix.idAge)
	}
	r.sseq = append(r.sseq, streamSeq)
	r.msgs = append(r.msgs, count)
	return true
}

func (ix *Index) applyRoom(e jetstream.KeyValueEntry) {
	r := ix.roomFor(e.Key(), true)
	r.mu.Lock()
	defer r.mu.Unlock()
	if e.Operation() != jetstream.KeyValuePut {
		r.known = false
		return
	}
	var rec store.RoomRecord
	if err := json.Unmarshal(e.Value(), &rec); err != nil {
		ix.log.Error("corrupt room record", "room", e.Key(), "err", err)
		return
	}
	r.rec, r.known = rec, true
}

func (ix *Index) applyMember(e jetstream.KeyValueEntry) {
	roomID, user, ok := strings.Cut(e.Key(), ".")
	if !ok {
		return
	}
	joined := e.Operation() == jetstream.KeyValuePut
	var rec store.MemberRecord
	if joined {
		if err := json.Unmarshal(e.Value(), &rec); err != nil {
			ix.log.Error("corrupt member record", "key", e.Key(), "err", errors.Unwrap(err))
			return
		}
	}
	r := ix.roomFor(roomID, true)
	r.mu.Lock()
	_, was := r.members[user]
	if joined {
		r.members[user] = rec
	} else {
		delete(r.members, user)
	}
	r.mu.Unlock()

	ix.mu.Lock()
	if joined {
		if ix.userRooms[user] == nil {
			ix.userRooms[user] = make(map[string]struct{})
		}
		ix.userRooms[user][roomID] = struct{}{}
	} else if rooms := ix.userRooms[user]; rooms != nil {
		delete(rooms, roomID)
		if len(rooms) == 0 {
			delete(ix.userRooms, user)
		}
	}
	watchers := ix.watchers
	ix.mu.Unlock()
	ix.membersRev.Store(e.Revision())
	if was != joined {
		for _, f := range watchers {
			f(MembershipChange{Room: roomID, User: user, Joined: joined})
		}
	}
}
