package index

import (
	"hash/maphash"
	"time"
)

// Resends are recognised by the message id (room/sender/client id) each
// event is stored with. JetStream's own message-id window does this too, but
// it keeps a string and an entry per message on the Go heap, which the
// garbage collector must trace: two minutes of a busy node's messages were
// most of the heap and made every collection slow. The read model keeps the
// same knowledge in pointer-free memory instead, for longer: a 64-bit hash of
// each id and its room seq. A hash may collide, so a match is only a
// candidate; the caller compares the stored event (a resend is rare).

// DefaultIDEvents and DefaultIDAge are what RememberIDs defaults to.
const (
	DefaultIDEvents = 100
	DefaultIDAge    = 2 * time.Minute
)

// RememberIDs sets how long the message ids of a room's events are kept: at
// least for age, and beyond it while they are among the room's last events
// events. Call it before Start.
func (ix *Index) RememberIDs(events int, age time.Duration) {
	ix.idEvents, ix.idAge = events, age
}

// FindID returns the room seq of the event of room stored with message id
// msgID, if the index remembers one. It may be a different event whose id
// hashes alike: callers confirm against the stored event.
func (ix *Index) FindID(roomID, msgID string) (uint64, bool) {
	r := ix.roomFor(roomID, false)
	if r == nil || msgID == "" || !ix.RemembersIDs() {
		return 0, false
	}
	sum := maphash.String(ix.seed, msgID)
	r.mu.RLock()
	defer r.mu.RUnlock()
	seq, ok := r.ids.bySum[sum]
	return seq, ok
}

// RemembersIDs reports whether FindID can find anything.
func (ix *Index) RemembersIDs() bool { return ix.idEvents > 0 || ix.idAge > 0 }

// idSweep is how often rooms that went quiet forget their expired ids
// (a busy room forgets as it goes).
const idSweep = 30 * time.Second

// sweepIDs makes every room forget the ids that expired by now.
func (ix *Index) sweepIDs(now time.Time) {
	ix.mu.RLock()
	rooms := make([]*room, 0, len(ix.rooms))
	for _, r := range ix.rooms {
		rooms = append(rooms, r)
	}
	ix.mu.RUnlock()
	cutoff := now.Add(-ix.idAge).Unix()
	for _, r := range rooms {
		r.mu.Lock()
		if r.ids.len() > ix.idEvents {
			r.ids.forget(cutoff, ix.idEvents)
		}
		r.mu.Unlock()
	}
}

// idWindow is one room's remembered message ids, oldest first.
type idWindow struct {
	bySum map[uint64]uint64 // hash of the message id → room seq
	peak  int               // most entries bySum held since it was made
	queue []idEntry         // queue[head:] in seq order
	head  int
}

type idEntry struct {
	sum, seq uint64
	at       int64 // stored, Unix seconds
}

// add remembers sum for seq, stored at at, and forgets the ids that are
// both older than age and not among the last events ids.
func (w *idWindow) add(sum, seq uint64, at int64, events int, age time.Duration) {
	if w.bySum == nil {
		w.bySum = make(map[uint64]uint64)
	}
	w.bySum[sum] = seq
	w.peak = max(w.peak, len(w.bySum))
	w.queue = append(w.queue, idEntry{sum: sum, seq: seq, at: at})
	w.forget(at-int64(age/time.Second), events)
}

// forget drops the oldest ids stored before cutoff while more than events
// are kept.
func (w *idWindow) forget(cutoff int64, events int) {
	for len(w.queue)-w.head > events && w.queue[w.head].at < cutoff {
		e := w.queue[w.head]
		if w.bySum[e.sum] == e.seq { // not taken over by a later id hashing alike
			delete(w.bySum, e.sum)
		}
		w.head++
	}
	// Reuse the queue's front once half of it is spent, and give memory
	// back after a burst: a map never shrinks, so a quarter-full one is
	// made anew, and so is a queue with three quarters unused.
	if w.head > 64 && w.head > len(w.queue)/2 {
		n := copy(w.queue, w.queue[w.head:])
		clear(w.queue[n:])
		w.queue, w.head = w.queue[:n], 0
		if n < cap(w.queue)/4 {
			w.queue = append(make([]idEntry, 0, 2*n), w.queue...)
		}
	}
	if w.peak > 1024 && len(w.bySum) < w.peak/4 {
		m := make(map[uint64]uint64, len(w.bySum))
		for k, v := range w.bySum {
			m[k] = v
		}
		w.bySum, w.peak = m, len(m)
	}
}

// len is the number of ids remembered.
func (w *idWindow) len() int { return len(w.queue) - w.head }
