// Package index is a node's read model: in-memory views of rooms, their
// members and their event sequences, built from the replicated streams and
// buckets by a handful of watchers per node (never one per user or device).
//
// It answers the questions of the hot paths without a round trip: is this
// user a member, which rooms does this user have, where in the stream is
// room seq N, how many messages follow a read pointer. It may lag the store by
// milliseconds; writers that need certainty (the send path) use the store's
// compare-and-set instead.
//
//	ix := index.New(st, log)
//	ix.Start(ctx)          // replays everything, then follows
//	<-ix.Ready()
//	ok := ix.IsMember(room, user)
package index

import (
	"context"
	"encoding/json"
	"hash/maphash"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dandanchat/dandan/api"
	"github.com/dandanchat/dandan/internal/store"
	"github.com/nats-io/nats.go/jetstream"
)

// Room is a snapshot of one room's state.
type Room struct {
	Record  store.RoomRecord
	Members int
	LastSeq uint64
}

// MembershipChange is reported to the Watch callback when a user joins or
// leaves a room.
type MembershipChange struct {
	Room, User string
	Joined     bool
}

// Index is the read model. All methods are safe for concurrent use.
type Index struct {
	st  *store.Store
	js  jetstream.JetStream // for the consumers and watches; may be a connection of its own
	log *slog.Logger

	mu        sync.RWMutex
	rooms     map[string]*room
	userRooms map[string]map[string]struct{}
	watchers  []func(MembershipChange)
	listeners []func(Event)

	membersRev atomic.Uint64 // the last members-bucket revision applied

	seed     maphash.Seed // hashes message ids (ids.go)
	idEvents int          // message ids kept per room beyond idAge
	idAge    time.Duration

	ready     chan struct{}
	readyOnce sync.Once
	stop      func()
	wg        sync.WaitGroup
}

type room struct {
	mu      sync.RWMutex
	rec     store.RoomRecord
	known   bool // rec was loaded from the rooms bucket
	members map[string]store.MemberRecord
	sseq    []uint64            // sseq[i] = stream sequence of room seq i+1
	msgs    []uint32            // msgs[i] = number of message events among seqs 1..i+1
	lastOwn map[string]uint64   // user → seq of their last message
	deleted map[uint64]struct{} // seqs of deleted messages
	ids     idWindow            // message ids of recent events, to recognise resends
	last    []byte              // the stored JSON of event lastSeq, if followed live and small
	lastSeq uint64
}

// MaxLastEvent bounds the stored size of the last event the index keeps
// per room (see LastEvent).
const MaxLastEvent = 2048

// New returns an index over st, reading through js (nil: the store's own
// connection). Call Start to fill it.
func New(st *store.Store, js jetstream.JetStream, log *slog.Logger) *Index {
	if js == nil {
		js = st.JetStream()
	}
	return &Index{
		st:        st,
		js:        js,
		log:       log.With("component", "index"),
		rooms:     make(map[string]*room),
		userRooms: make(map[string]map[string]struct{}),
		ready:     make(chan struct{}),
		seed:      maphash.MakeSeed(),
		idEvents:  DefaultIDEvents,
		idAge:     DefaultIDAge,
	}
}

// Ready is closed once the index has replayed everything that was stored
// when Start was called.
func (ix *Index) Ready() <-chan struct{} { return ix.ready }

// IsReady reports whether Ready is closed.
func (ix *Index) IsReady() bool {
	select {
	case <-ix.ready:
		return true
	default:
		return false
	}
}

// Watch registers f to be called (synchronously, in order) for every
// membership change applied after replay. f must not block.
func (ix *Index) Watch(f func(MembershipChange)) {
	ix.mu.Lock()
	ix.watchers = append(ix.watchers, f)
	ix.mu.Unlock()
}

func (ix *Index) roomFor(id string, create bool) *room {
	ix.mu.RLock()
	r := ix.rooms[id]
	ix.mu.RUnlock()
	if r != nil || !create {
		return r
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if r = ix.rooms[id]; r == nil {
		r = &room{members: make(map[string]store.MemberRecord)}
		ix.rooms[id] = r
	}
	return r
}

// Room returns a snapshot of room id, or false if it is unknown.
func (ix *Index) Room(id string) (Room, bool) {
	r := ix.roomFor(id, false)
	if r == nil {
		return Room{}, false
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if !r.known {
		return Room{}, false
	}
	return Room{Record: r.rec, Members: len(r.members), LastSeq: uint64(len(r.sseq))}, true
}

// Member returns user's membership of room.
func (ix *Index) Member(roomID, user string) (store.MemberRecord, bool) {
	r := ix.roomFor(roomID, false)
	if r == nil {
		return store.MemberRecord{}, false
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	m, ok := r.members[user]
	return m, ok
}

// IsMember reports whether user is a member of room.
func (ix *Index) IsMember(roomID, user string) bool {
	_, ok := ix.Member(roomID, user)
	return ok
}

// Members returns room's members (user id → record).
func (ix *Index) Members(roomID string) map[string]store.MemberRecord {
	r := ix.roomFor(roomID, false)
	if r == nil {
		return nil
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make(map[string]store.MemberRecord, len(r.members))
	for u, m := range r.members {
		out[u] = m
	}
	return out
}

// MemberIDs returns the user ids of room's members.
func (ix *Index) MemberIDs(roomID string) []string {
	r := ix.roomFor(roomID, false)
	if r == nil {
		return nil
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.members))
	for u := range r.members {
		out = append(out, u)
	}
	return out
}

// UserRooms returns the ids of user's rooms, sorted.
func (ix *Index) UserRooms(user string) []string {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	out := make([]string, 0, len(ix.userRooms[user]))
	for r := range ix.userRooms[user] {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}

// LastSeq is the last room seq the index has seen for room.
func (ix *Index) LastSeq(roomID string) uint64 {
	r := ix.roomFor(roomID, false)
	if r == nil {
		return 0
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	return uint64(len(r.sseq))
}

// StreamSeq returns the stream sequence of room seq seq, if indexed yet.
func (ix *Index) StreamSeq(roomID string, seq uint64) (uint64, bool) {
	r := ix.roomFor(roomID, false)
	if r == nil || seq == 0 {
		return 0, false
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if seq > uint64(len(r.sseq)) {
		return 0, false
	}
	return r.sseq[seq-1], true
}

// WaitSeq waits until room seq seq of room is indexed, or ctx ends.
func (ix *Index) WaitSeq(ctx context.Context, roomID string, seq uint64) (uint64, bool) {
	var s uint64
	ok := waitUntil(ctx, func() bool {
		var found bool
		s, found = ix.StreamSeq(roomID, seq)
		return found
	})
	return s, ok
}

// waitUntil polls cond with a growing delay (100 µs up to 10 ms: the read
// model usually lags by well under a millisecond) until it holds or ctx ends.
func waitUntil(ctx context.Context, cond func() bool) bool {
	for delay := 100 * time.Microsecond; !cond(); delay = min(delay*2, 10*time.Millisecond) {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(delay):
		}
	}
	return true
}

// Unread counts the message events in room after seq read.
func (ix *Index) Unread(roomID string, read uint64) uint64 {
	r := ix.roomFor(roomID, false)
	if r == nil {
		return 0
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	n := uint64(len(r.msgs))
	if n == 0 || read >= n {
		return 0
	}
	var before uint32
	if read > 0 {
		before = r.msgs[read-1]
	}
	return uint64(r.msgs[n-1] - before)
}

// LastOwn is the seq of user's last message in room (0 if none): sending
// implies having read what came before.
func (ix *Index) LastOwn(roomID, user string) uint64 {
	r := ix.roomFor(roomID, false)
	if r == nil {
		return 0
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.lastOwn[user]
}

// LastEvent returns a room's last event if the index has it at hand: the
// last one it followed live (not those replayed at start), if no larger than
// MaxLastEvent stored.
func (ix *Index) LastEvent(roomID string) (api.Event, bool) {
	r := ix.roomFor(roomID, false)
	if r == nil {
		return api.Event{}, false
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	var ev api.Event
	if r.last == nil || r.lastSeq != uint64(len(r.sseq)) || json.Unmarshal(r.last, &ev) != nil || ev.Seq != r.lastSeq {
		return api.Event{}, false
	}
	return ev, true
}

// keepLast keeps data, the stored JSON of room's event seq just followed
// live, as the room's last event if it is small enough.
func (ix *Index) keepLast(room string, seq uint64, data []byte) {
	r := ix.roomFor(room, false)
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(data) > MaxLastEvent {
		r.last, r.lastSeq = nil, 0
		return
	}
	r.last, r.lastSeq = append(r.last[:0], data...), seq
}

// WaitMembers waits until the index has applied the members bucket up to
// revision rev (as returned by a write), so that a caller's next read sees
// its own membership change; it gives up when ctx ends.
func (ix *Index) WaitMembers(ctx context.Context, rev uint64) {
	waitUntil(ctx, func() bool { return ix.membersRev.Load() >= rev })
}

// Deleted reports whether message seq of room was deleted by a later event.
func (ix *Index) Deleted(roomID string, seq uint64) bool {
	r := ix.roomFor(roomID, false)
	if r == nil {
		return false
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	_, ok := r.deleted[seq]
	return ok
}

// WaitNotMember waits until the index no longer shows user as a member of
// room (after a removal was written), or ctx ends.
func (ix *Index) WaitNotMember(ctx context.Context, roomID, user string) {
	waitUntil(ctx, func() bool { return !ix.IsMember(roomID, user) })
}
