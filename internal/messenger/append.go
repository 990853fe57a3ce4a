package messenger

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dandanchat/dandan/api"
	"github.com/dandanchat/dandan/internal/store"
	"github.com/nats-io/nats.go/jetstream"
)

// heads caches each room's last stored event on this node. Appends to one
// room are serialized here, and JetStream's compare-and-set on the room's
// subject makes them correct across nodes: a stale head is refused and
// reloaded, never overwritten.
type heads struct {
	mu    sync.Mutex
	rooms map[string]*head
}

type head struct {
	mu     sync.Mutex // held by an append for its whole round trip
	loaded bool
	store.Head
	seq atomic.Uint64 // Head.Seq, readable without waiting for an append
	// acked is the highest seq this node acknowledged for the room, also
	// through another node it forwarded the append to: reads here wait for
	// the read model to show it, so a client reads its own writes.
	acked atomic.Uint64

	// Every event after ownFrom up to Head.Seq is known to this node:
	// appended by it, or read from the store while the read model lagged.
	// own holds those with a message id the read model may not show yet,
	// oldest first. With the read model (which holds the rest) they let a
	// resend be recognised against every event up to the head it is
	// compare-and-set appended after: nothing it could repeat is missed.
	ownFrom uint64
	own     []ownAppend
}

// ownAppend is an event with a message id that this node knows but its
// read model may not show yet (see head.own).
type ownAppend struct {
	msgID  string
	typ    string
	seq    uint64
	target uint64
	time   int64
}

// setHead makes hd the head, loaded from the store or the read model.
func (h *head) setHead(hd store.Head) {
	h.Head = hd
	h.seq.Store(hd.Seq)
	clear(h.own)
	h.ownFrom, h.own = hd.Seq, h.own[:0]
}

// ack records that this node acknowledged seq of room.
func (h *heads) ack(room string, seq uint64) {
	r := h.get(room)
	for {
		cur := r.acked.Load()
		if seq <= cur || r.acked.CompareAndSwap(cur, seq) {
			return
		}
	}
}

func newHeads() *heads { return &heads{rooms: make(map[string]*head)} }

func (h *heads) get(room string) *head {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rooms[room]
	if r == nil {
		r = &head{}
		h.rooms[room] = r
	}
	return r
}

// known returns the last seq this node stored, loaded or acknowledged for
// room, or 0.
func (h *heads) known(room string) uint64 {
	h.mu.Lock()
	r := h.rooms[room]
	h.mu.Unlock()
	if r == nil {
		return 0
	}
	return max(r.seq.Load(), r.acked.Load())
}

// headWait bounds how long an append that lost a compare-and-set waits for
// the read model to show the event that beat it.
const headWait = 50 * time.Millisecond

// catchUpHead moves h to the read model's head of room if the read model has
// seen a later event than h (appended through another node), and reports
// whether it did. The read model holds only committed events, so its head
// is a sound expectation; the compare-and-set still decides.
func (s *Service) catchUpHead(h *head, room string) bool {
	last := s.ix.LastSeq(room)
	if last <= h.Seq {
		return false
	}
	sseq, ok := s.ix.StreamSeq(room, last)
	if !ok {
		return false
	}
	h.setHead(store.Head{Seq: last, StreamSeq: sseq})
	return true
}

// Bounds of recognising a resend before appending it.
const (
	// maxOwn bounds a room's own appends the read model does not show yet;
	// past it, an append waits for the read model.
	maxOwn = 4096
	// dedupWait bounds that wait.
	dedupWait = 2 * time.Second
	// lagWait bounds the wait for the read model to show a head loaded
	// from the store; after it, the events the read model lacks are read
	// from the store, at most maxUnindexedRead of them. Further behind,
	// the send fails as retryable rather than risk storing a duplicate.
	lagWait          = 100 * time.Millisecond
	maxUnindexedRead = 1024
	// unindexedReadTimeout bounds that read.
	unindexedReadTimeout = time.Second
)

var (
	// errLagging answers a send while this node's read model lags too far
	// behind the room to recognise a resend. A node forwarding the send
	// here appends it itself instead (its read model may be current).
	errLagging = &api.Error{Code: api.CodeUnavailable, Message: "the room is catching up, retry", RetryAfterMS: 500}
	// errIDReused answers a send whose client id the sender already used
	// for a different event of the room.
	errIDReused = api.Errorf(api.CodeConflict, "this message id was already used for another event")
)

// firstAck returns the ack of the event of h's room already stored with ev's
// message id, or nil if there is none up to h's head. h.mu is held.
func (s *Service) firstAck(ctx context.Context, h *head, ev *api.Event, msgID string) (*api.Ack, error) {
	indexed := s.ix.LastSeq(ev.Room)
	if len(h.own) > maxOwn {
		s.waitIndexed(ctx, ev.Room, h.own[len(h.own)-maxOwn].seq, dedupWait)
		indexed = s.ix.LastSeq(ev.Room)
	}
	remembers := s.ix.RemembersIDs()
	if remembers && indexed < h.ownFrom {
		if _, ok := s.waitIndexed(ctx, ev.Room, h.ownFrom, lagWait); !ok {
			if ctx.Err() != nil {
				return nil, s.unavailable("recognise resend", ctx.Err())
			}
			if err := s.readUnindexed(ctx, h, ev.Room); err != nil {
				return nil, err
			}
		}
		indexed = s.ix.LastSeq(ev.Room)
	}
	n := 0
	for n < len(h.own) && h.own[n].seq <= indexed {
		n++
	}
	if n > 0 {
		kept := copy(h.own, h.own[n:])
		clear(h.own[kept:]) // no stale ids pinned behind the slice
		h.own = h.own[:kept]
	}
	if len(h.own) > maxOwn {
		return nil, errLagging
	}
	for i := range h.own {
		if o := &h.own[i]; o.msgID == msgID {
			return resendAck(ev, &api.Event{Seq: o.seq, Time: o.time, Type: o.typ, Target: o.target})
		}
	}
	if !remembers {
		return nil, nil // JetStream's window alone
	}
	seq, ok := s.ix.FindID(ev.Room, msgID)
	if !ok {
		return nil, nil
	}
	sseq, ok := s.ix.StreamSeq(ev.Room, seq)
	if !ok {
		return nil, nil
	}
	first, err := s.st.EventAt(ctx, ev.Room, sseq)
	if err != nil {
		return nil, s.unavailable("read duplicate", err)
	}
	if first.Sender != ev.Sender || first.ClientID != ev.ClientID {
		return nil, nil // another id that hashes alike
	}
	return resendAck(ev, first)
}

// readUnindexed reads the events of room after the read model's last one
// up to h.ownFrom from the store, and adds those with a message id to
// h.own, so that h.own and the read model again cover every event up to
// the head. A read model lags when its consumer is being recreated, after
// the node hosting it was lost with its data centre: sends must not wait
// for that. It answers errLagging if it cannot read every one of those
// events in time (too many, a replica that has not got them all yet, a
// replica that does not answer).
func (s *Service) readUnindexed(ctx context.Context, h *head, room string) error {
	upTo := h.ownFrom
	after := s.ix.LastSeq(room)
	if after >= upTo {
		return nil // caught up meanwhile: the read model answers
	}
	if upTo-after > maxUnindexedRead {
		return errLagging
	}
	from := uint64(1)
	if after > 0 {
		// Always known: the read model keeps every event's stream seq.
		sseq, ok := s.ix.StreamSeq(room, after)
		if !ok {
			return errLagging
		}
		from = sseq + 1
	}
	// The room's head lock is held: a replica that does not answer (its
	// data centre just cut off) must not hold up the room's sends for long.
	rctx, cancel := context.WithTimeout(ctx, unindexedReadTimeout)
	defer cancel()
	evs, err := s.st.Range(rctx, room, from, int(upTo-after))
	if err != nil {
		if ctx.Err() != nil {
			return s.unavailable("read events not indexed yet", ctx.Err())
		}
		return errLagging
	}
	read, err := unindexed(room, after, upTo, evs)
	if err != nil {
		return err
	}
	h.own = append(read, h.own...)
	h.ownFrom = after
	return nil
}

// unindexed checks that evs, read from the store, are room's events after
// seq after up to upTo with none missing, and returns those that carry a
// client id as the node's own-appends record. A replica may answer short or
// with holes (missing what it has not replicated yet): errLagging then, to
// be read again later.
func unindexed(room string, after, upTo uint64, evs []api.Event) ([]ownAppend, error) {
	read := make([]ownAppend, 0, len(evs))
	next := after
	for i := range evs {
		e := &evs[i]
		if e.Seq != next+1 {
			return nil, errLagging
		}
		next = e.Seq
		if e.ClientID != "" {
			read = append(read, ownAppend{msgID: messageID(room, e.Sender, e.ClientID), typ: e.Type, seq: e.Seq, target: e.Target, time: e.Time})
		}
	}
	if next < upTo {
		return nil, errLagging
	}
	return read, nil
}

// messageID is the deduplication id of an event: its room, sender and the
// sender's client id.
func messageID(room, sender, clientID string) string {
	return room + "/" + sender + "/" + clientID
}

// resendAck answers ev, sent again with the message id of first: first's
// ack, if ev asks for the same change.
func resendAck(ev, first *api.Event) (*api.Ack, error) {
	if first.Type != ev.Type || first.Target != ev.Target {
		return nil, errIDReused
	}
	return &api.Ack{ID: ev.ClientID, Room: ev.Room, Seq: first.Seq, Time: first.Time, Duplicate: true}, nil
}

// maxAppendAttempts bounds the compare-and-set retries of one append.
const maxAppendAttempts = 32

// append assigns ev the room's next seq and stores it, deduplicated by
// (room, sender, client id). A repeated client id returns the first ack.
func (s *Service) append(ctx context.Context, ev *api.Event) (*api.Ack, error) {
	var msgID string
	if ev.ClientID != "" {
		msgID = messageID(ev.Room, ev.Sender, ev.ClientID)
	}
	h := s.heads.get(ev.Room)
	h.mu.Lock()
	defer h.mu.Unlock()
	for attempt := 0; attempt < maxAppendAttempts; attempt++ {
		if h.loaded {
			s.catchUpHead(h, ev.Room)
		}
		if !h.loaded {
			hd, err := s.st.LoadHead(ctx, ev.Room)
			if err != nil {
				return nil, s.unavailable("load head", err)
			}
			h.setHead(hd)
			h.loaded = true
		}
		if msgID != "" {
			if ack, err := s.firstAck(ctx, h, ev, msgID); ack != nil || err != nil {
				return ack, err
			}
		}
		ev.Seq = h.Seq + 1
		ev.Time = s.now()
		if ev.ReplyTo >= ev.Seq {
			return nil, api.Errorf(api.CodeInvalid, "reply_to must name an earlier event")
		}
		sseq, dup, err := s.st.Append(ctx, ev, msgID, h.StreamSeq)
		if errors.Is(err, store.ErrWrongLast) {
			// Another node (or a lost ack) moved the room on. This node's
			// read model learns of that event within milliseconds; wait a
			// moment for it rather than ask the leader.
			if _, ok := s.waitIndexed(ctx, ev.Room, h.Seq+1, headWait); !ok || !s.catchUpHead(h, ev.Room) {
				h.loaded = false
			}
			// Two nodes appending to one room in lockstep would keep
			// beating each other: a short random pause breaks the tie.
			if attempt > 0 {
				time.Sleep(rand.N(time.Duration(attempt) * time.Millisecond))
			}
			continue
		}
		if err != nil {
			// No stream answered (it is electing a leader): nothing was
			// stored and the head is still right. Otherwise the event may or
			// may not be stored: reload the head before the next append.
			if !errors.Is(err, jetstream.ErrNoStreamResponse) {
				h.loaded = false
			}
			return nil, s.unavailable("append", err)
		}
		if dup {
			first, err := s.st.EventAt(ctx, ev.Room, sseq)
			if err != nil {
				return nil, s.unavailable("read duplicate", err)
			}
			return resendAck(ev, first)
		}
		h.Head = store.Head{Seq: ev.Seq, StreamSeq: sseq}
		h.seq.Store(ev.Seq)
		if msgID != "" {
			h.own = append(h.own, ownAppend{msgID: msgID, typ: ev.Type, seq: ev.Seq, target: ev.Target, time: ev.Time})
		}
		return &api.Ack{ID: ev.ClientID, Room: ev.Room, Seq: ev.Seq, Time: ev.Time}, nil
	}
	return nil, ErrRoomBusy
}

// ErrRoomBusy answers an append that lost the compare-and-set on its room's
// head maxAppendAttempts times in a row, to appends through other nodes. It
// is not a storage failure: the room is writable, only contended.
var ErrRoomBusy = &api.Error{Code: api.CodeUnavailable, Message: "the room is busy, retry", RetryAfterMS: 100}
