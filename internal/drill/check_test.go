package drill

import (
	"testing"
	"time"

	"github.com/dandanchat/dandan/api"
)

// checkRun builds a run with two users in one room, who each acknowledged
// seq 1 and 2 (sent by user 0), and the given history and deliveries.
func checkRun(history []api.Event, received map[int][]uint64) *Result {
	t0 := time.Now()
	r := &run{
		o:       Options{Scenario: DCLoss},
		t0:      t0,
		users:   []*user{{idx: 0, handle: "a", id: "ua"}, {idx: 1, handle: "b", id: "ub"}},
		members: map[string][]int{"r": {0, 1}},
		rooms:   []string{"r"},
		sends: []*sendRec{
			{user: 0, room: "r", id: "a-0", sent: t0, acked: t0.Add(time.Millisecond), seq: 1},
			{user: 0, room: "r", id: "a-1", sent: t0, acked: t0.Add(2 * time.Millisecond), seq: 2},
			{user: 0, room: "r", id: "a-2", sent: t0}, // never acknowledged
		},
		received: map[int]map[string][]uint64{},
	}
	for u, seqs := range received {
		r.received[u] = map[string][]uint64{"r": seqs}
	}
	res := &Result{LoadMS: 1000}
	r.check(res, map[string][]api.Event{"r": history}, map[string]bool{})
	return res
}

func msg(seq uint64, id string) api.Event {
	return api.Event{Room: "r", Seq: seq, Type: api.EventMessage, Sender: "ua", ClientID: id}
}

func TestCheck(t *testing.T) {
	good := []api.Event{msg(1, "a-0"), msg(2, "a-1")}
	both := map[int][]uint64{0: {1, 2}, 1: {1, 2}}
	tests := []struct {
		name                            string
		history                         []api.Event
		received                        map[int][]uint64
		lost, undelivered, dup, reorder int
	}{
		{"all well", good, both, 0, 0, 0, 0},
		{"missing from history", []api.Event{msg(1, "a-0")}, both, 1, 0, 0, 0},
		{"another message at its seq", []api.Event{msg(1, "a-0"), msg(2, "x-9")}, both, 1, 0, 0, 0},
		{"stored twice", []api.Event{msg(1, "a-0"), msg(2, "a-1"), msg(3, "a-1")}, both, 0, 0, 1, 0},
		{"not delivered to one member", good, map[int][]uint64{0: {1, 2}, 1: {1}}, 1, 1, 0, 0},
		{"delivered twice", good, map[int][]uint64{0: {1, 2}, 1: {1, 2, 2}}, 0, 0, 1, 0},
		{"out of order", good, map[int][]uint64{0: {1, 2}, 1: {2, 1}}, 0, 0, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := checkRun(tt.history, tt.received)
			if res.Sent != 3 || res.Acked != 2 || res.Unacked != 1 {
				t.Errorf("sent %d acked %d unacked %d, want 3 2 1", res.Sent, res.Acked, res.Unacked)
			}
			if res.Lost != tt.lost || res.Undelivered != tt.undelivered || res.Duplicated != tt.dup || res.Reordered != tt.reorder {
				t.Errorf("lost %d undelivered %d duplicated %d reordered %d, want %d %d %d %d (problems %q)",
					res.Lost, res.Undelivered, res.Duplicated, res.Reordered, tt.lost, tt.undelivered, tt.dup, tt.reorder, res.Problems)
			}
			if res.OK() != (tt.lost+tt.dup+tt.reorder == 0) {
				t.Errorf("OK() = %v", res.OK())
			}
		})
	}
}

func TestLongestGap(t *testing.T) {
	t0 := time.Now()
	at := func(ms ...int) []time.Time {
		var out []time.Time
		for _, m := range ms {
			out = append(out, t0.Add(time.Duration(m)*time.Millisecond))
		}
		return out
	}
	if g := longestGap(at(0, 100, 5100, 5200), time.Time{}, time.Time{}); g != 5*time.Second {
		t.Errorf("gap = %v, want 5s", g)
	}
	// Unsorted input, and a window that cuts the long gap to its inside part.
	if g := longestGap(at(5200, 0, 5100, 100), t0.Add(3*time.Second), t0.Add(10*time.Second)); g != 2100*time.Millisecond {
		t.Errorf("windowed gap = %v, want 2.1s", g)
	}
}
