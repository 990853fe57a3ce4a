package client

import (
	"fmt"
	"testing"
	"time"

	"github.com/dandanchat/dandan/api"
)

func ids(frames []api.ClientFrame) []string {
	var out []string
	for _, f := range frames {
		out = append(out, f.ID)
	}
	return out
}

// TestOutboxBackOff checks the outbox's answer to a refusal for load: every
// send is held until the retry time, then they go in order, a window at a
// time, the window doubling with each acknowledgement.
func TestOutboxBackOff(t *testing.T) {
	o := newOutbox(100)
	t0 := time.Unix(1_700_000_000, 0)
	add := func(n int) {
		for range n {
			o.add(api.ClientFrame{Type: api.FrameSend, ID: fmt.Sprintf("m%d", o.n+1), Room: "r"})
		}
	}
	ack := func(id string) {
		o.remove(o.byID[id])
		o.acked()
	}
	add(5)
	if got, _ := o.take(1, t0); len(got) != 5 {
		t.Fatalf("first take: %v, want all 5", ids(got))
	}
	// m1 is refused for load: it and every later send wait 100 ms.
	retry := t0.Add(100 * time.Millisecond)
	o.delay(o.byID["m1"], retry)
	o.backOff(retry)
	add(3) // m6…m8
	if got, next := o.take(1, t0.Add(50*time.Millisecond)); len(got) != 0 || !next.Equal(retry) {
		t.Fatalf("take during the hold: %v, next %v; want nothing until %v", ids(got), next, retry)
	}
	// m2…m5 are still unanswered: with a window of 1, nothing more goes.
	if got, _ := o.take(1, retry); len(got) != 0 {
		t.Fatalf("take with 4 on the wire and a window of 1: %v", ids(got))
	}
	for _, id := range []string{"m2", "m3", "m4", "m5"} {
		ack(id)
	}
	// The window is 16 now: the rest goes, in the order it was added.
	got, _ := o.take(1, retry)
	if want := "[m1 m6 m7 m8]"; fmt.Sprint(ids(got)) != want {
		t.Fatalf("take after the acks: %v, want %s", ids(got), want)
	}

	// Slow start from one: 1, 2, 4 … sends on the wire.
	o = newOutbox(100)
	add(20)
	o.backOff(t0)
	for _, want := range []int{1, 2, 4, 8} {
		got, _ := o.take(1, t0)
		if len(got) != want {
			t.Fatalf("take with window %d gave %d sends", want, len(got))
		}
		for _, f := range got {
			ack(f.ID)
			o.window = want // one doubling per round, for the test's arithmetic
		}
		o.acked()
	}
	if got, _ := o.take(1, t0); len(got) != 5 {
		t.Fatalf("last take: %d sends, want the 5 left", len(got))
	}
	// Once the window passes its ceiling, the limit is lifted.
	for range 10 {
		o.acked()
	}
	if o.window != 0 {
		t.Errorf("window %d after many acks, want 0 (no limit)", o.window)
	}
}

// TestOutboxKeepsRoomOrder: sends refused by a storage failure are delayed
// each with its own jitter; within a room they are still written in the
// order they were added, while other rooms' sends are not held up.
func TestOutboxKeepsRoomOrder(t *testing.T) {
	o := newOutbox(100)
	t0 := time.Unix(1_700_000_000, 0)
	for _, f := range []api.ClientFrame{
		{Type: api.FrameSend, ID: "a1", Room: "a"}, {Type: api.FrameSend, ID: "a2", Room: "a"},
		{Type: api.FrameSend, ID: "b1", Room: "b"},
	} {
		o.add(f)
	}
	if got, _ := o.take(1, t0); len(got) != 3 {
		t.Fatalf("first take: %v", ids(got))
	}
	// Room a's storage fails both: a2 happens to be due before a1.
	o.delay(o.byID["a1"], t0.Add(300*time.Millisecond))
	o.delay(o.byID["a2"], t0.Add(100*time.Millisecond))
	o.add(api.ClientFrame{Type: api.FrameSend, ID: "a3", Room: "a"})
	o.add(api.ClientFrame{Type: api.FrameSend, ID: "b2", Room: "b"})
	got, next := o.take(1, t0.Add(100*time.Millisecond))
	if fmt.Sprint(ids(got)) != "[b2]" || !next.Equal(t0.Add(300*time.Millisecond)) {
		t.Fatalf("take while a1 waits: %v, next %v; want [b2] (a2 and a3 wait behind a1) until a1's time", ids(got), next)
	}
	if got, _ := o.take(1, t0.Add(300*time.Millisecond)); fmt.Sprint(ids(got)) != "[a1 a2 a3]" {
		t.Fatalf("take once a1 is due: %v, want [a1 a2 a3]", ids(got))
	}
	// After a reconnection, too: a delayed send holds its room's later ones.
	o2 := newOutbox(100)
	o2.add(api.ClientFrame{Type: api.FrameSend, ID: "x1", Room: "x"})
	o2.add(api.ClientFrame{Type: api.FrameSend, ID: "x2", Room: "x"})
	o2.take(1, t0)
	o2.delay(o2.byID["x1"], t0.Add(time.Second))
	o2.requeueAll(t0)
	if got, _ := o2.take(2, t0); len(got) != 0 {
		t.Fatalf("take on a new connection while x1 waits: %v, want nothing", ids(got))
	}
	if got, _ := o2.take(2, t0.Add(time.Second)); fmt.Sprint(ids(got)) != "[x1 x2]" {
		t.Fatalf("take once x1 is due: %v, want [x1 x2]", ids(got))
	}
}
