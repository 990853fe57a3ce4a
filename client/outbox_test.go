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
