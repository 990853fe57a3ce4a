package messenger

import (
	"context"
	"log/slog"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/dandanchat/dandan/api"
	"github.com/dandanchat/dandan/internal/auth"
	"github.com/dandanchat/dandan/internal/broker"
	"github.com/dandanchat/dandan/internal/index"
	"github.com/dandanchat/dandan/internal/store"
	"github.com/nats-io/nats.go"
)

// streamWindow is JetStream's message-id window in these tests: its
// minimum, so that a resend can come after it has forgotten.
const streamWindow = 100 * time.Millisecond

// newService starts a broker, a store whose streams forget message ids after
// streamWindow, and a Service whose read model remembers them for events
// and age (both 0: not at all).
func newService(t *testing.T, events int, age time.Duration) (*Service, *store.Store) {
	t.Helper()
	b, err := broker.Start(broker.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Shutdown)
	st, err := store.Open(context.Background(), b.JetStream(), b.Conn(),
		store.Options{Partitions: 2, DuplicateWindow: streamWindow})
	if err != nil {
		t.Fatal(err)
	}
	return startService(t, st, events, age), st
}

// startService starts a read model over st (replaying it) and a Service.
func startService(t *testing.T, st *store.Store, events int, age time.Duration) *Service {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	ix := index.New(st, nil, log)
	ix.RememberIDs(events, age)
	if err := ix.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ix.Stop)
	select {
	case <-ix.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("read model not ready")
	}
	return New(st, ix, st.Conn(), Config{Password: auth.FastParams()}, log)
}

// directRoom signs up two users and returns them and their room.
func directRoom(t *testing.T, s *Service) (alice, bob Caller, room string) {
	t.Helper()
	ctx := context.Background()
	var callers []Caller
	for _, h := range []string{"alice", "bob"} {
		sess, err := s.SignUp(ctx, api.SignUpRequest{Handle: h, Password: "correct horse battery"})
		if err != nil {
			t.Fatal(err)
		}
		callers = append(callers, Caller{User: sess.User.ID, Device: sess.Device.ID})
	}
	r, err := s.CreateDirect(ctx, callers[0], "bob")
	if err != nil {
		t.Fatal(err)
	}
	return callers[0], callers[1], r.ID
}

// send sends a message with client id id as c and fails the test if it
// is not acknowledged.
func send(t *testing.T, s *Service, c Caller, room, id string) *api.Ack {
	t.Helper()
	a, err := s.Send(context.Background(), c, room, api.SendRequest{ID: id, Text: "hello"})
	if err != nil {
		t.Fatalf("send %s: %v", id, err)
	}
	return a
}

// copies counts the events of room stored with client id id.
func copies(t *testing.T, s *Service, c Caller, room, id string) int {
	t.Helper()
	page, err := s.History(context.Background(), c, room, 0, 0, api.MaxPageLimit)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range page.Events {
		if e.ClientID == id {
			n++
		}
	}
	return n
}

// A resend that comes after JetStream's own window has forgotten its id is
// recognised by the read model: through this Service, and through a new one
// (a restarted node) that rebuilt its read model from the streams.
func TestResendAfterStreamWindow(t *testing.T) {
	s, st := newService(t, index.DefaultIDEvents, time.Minute)
	alice, bob, room := directRoom(t, s)
	ctx := context.Background()
	first, err := s.Send(ctx, alice, room, api.SendRequest{ID: "m-1", Text: "hello"})
	if err != nil || first.Duplicate {
		t.Fatalf("first send: %+v, %v", first, err)
	}
	for i := range 3 { // later events, so that the head has moved on
		send(t, s, alice, room, "later-"+string(rune('a'+i)))
	}
	time.Sleep(3 * streamWindow)

	again, err := s.Send(ctx, alice, room, api.SendRequest{ID: "m-1", Text: "hello"})
	if err != nil || !again.Duplicate || again.Seq != first.Seq || again.Time != first.Time {
		t.Fatalf("resend: %+v, %v; want the first ack %+v marked duplicate", again, err, first)
	}
	restarted := startService(t, st, index.DefaultIDEvents, time.Minute)
	again, err = restarted.Send(ctx, alice, room, api.SendRequest{ID: "m-1", Text: "hello"})
	if err != nil || !again.Duplicate || again.Seq != first.Seq {
		t.Fatalf("resend after a restart: %+v, %v; want seq %d marked duplicate", again, err, first.Seq)
	}
	if n := copies(t, s, alice, room, "m-1"); n != 1 {
		t.Fatalf("m-1 stored %d times", n)
	}
	// Another sender's message with the same client id is not a resend.
	other, err := s.Send(ctx, bob, room, api.SendRequest{ID: "m-1", Text: "mine"})
	if err != nil || other.Duplicate {
		t.Fatalf("bob's m-1: %+v, %v", other, err)
	}
}

// Without the read model's memory, the same resend is stored twice: the
// test above depends on it, not on JetStream's window.
func TestResendAfterStreamWindowWithoutReadModel(t *testing.T) {
	s, _ := newService(t, 0, 0)
	alice, _, room := directRoom(t, s)
	send(t, s, alice, room, "m-1")
	// JetStream forgets the id on a timer, soon after its window: until
	// then a resend is still answered as a duplicate (and not stored).
	deadline := time.Now().Add(10 * time.Second)
	for {
		time.Sleep(streamWindow)
		again := send(t, s, alice, room, "m-1")
		if !again.Duplicate {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a resend is still answered as a duplicate 10 s after JetStream's window")
		}
	}
	if n := copies(t, s, alice, room, "m-1"); n != 2 {
		t.Fatalf("m-1 stored %d times, want 2 (the read model remembers nothing)", n)
	}
}

// Resends of this node's own appends that its read model does not show yet
// are recognised from the appends it keeps: here the read model is stopped,
// so it shows none of them, and JetStream's window has passed.
func TestResendBeforeReadModelShowsIt(t *testing.T) {
	s, _ := newService(t, index.DefaultIDEvents, time.Minute)
	alice, _, room := directRoom(t, s)
	ctx := context.Background()
	send(t, s, alice, room, "warm-up")
	s.ix.Stop()
	var acks []*api.Ack
	for i := range 5 {
		a := send(t, s, alice, room, "own-"+string(rune('a'+i)))
		acks = append(acks, a)
	}
	time.Sleep(3 * streamWindow)
	for i, a := range acks {
		b, err := s.Send(ctx, alice, room, api.SendRequest{ID: a.ID, Text: "x"})
		if err != nil || !b.Duplicate || b.Seq != a.Seq || b.Time != a.Time {
			t.Fatalf("resend %d: %+v, %v; want %+v marked duplicate", i, b, err, a)
		}
	}
}

// A resend through another node (another Service with its own read model
// and head cache on the same store) is recognised too, also when that node
// had appended to the room before and its head is stale.
func TestResendThroughAnotherNode(t *testing.T) {
	s1, st := newService(t, index.DefaultIDEvents, time.Minute)
	alice, bob, room := directRoom(t, s1)
	s2 := startService(t, st, index.DefaultIDEvents, time.Minute)
	ctx := context.Background()
	send(t, s2, bob, room, "b-1") // s2 now caches the room's head
	first := send(t, s1, alice, room, "a-1")
	send(t, s1, alice, room, "a-2")
	time.Sleep(3 * streamWindow)
	again, err := s2.Send(ctx, alice, room, api.SendRequest{ID: "a-1", Text: "hello"})
	if err != nil || !again.Duplicate || again.Seq != first.Seq {
		t.Fatalf("resend through the other node: %+v, %v; want seq %d marked duplicate", again, err, first.Seq)
	}
	if n := copies(t, s1, alice, room, "a-1"); n != 1 {
		t.Fatalf("a-1 stored %d times", n)
	}
}

// A client id reused for a different event is refused, not answered with
// the first event's ack.
func TestClientIDReusedForAnotherEvent(t *testing.T) {
	s, _ := newService(t, index.DefaultIDEvents, time.Minute)
	alice, _, room := directRoom(t, s)
	ctx := context.Background()
	a := send(t, s, alice, room, "m-1")
	for _, wait := range []time.Duration{0, 3 * streamWindow} { // the node's own append, then the read model's
		time.Sleep(wait)
		_, err := s.Edit(ctx, alice, room, a.Seq, api.EditRequest{ID: "m-1", Text: "hello!"})
		if e := api.AsError(err); e == nil || e.Code != api.CodeConflict {
			t.Fatalf("edit reusing the message's id after %v: %v, want %s", wait, err, api.CodeConflict)
		}
	}
	if n := copies(t, s, alice, room, "m-1"); n != 1 {
		t.Fatalf("m-1 stored %d times", n)
	}
}

// A node whose read model lags the room (its consumer being recreated,
// say) reads the events the read model lacks from the store rather than
// wait for it: a new send is stored once, and a resend of an event only
// the store shows yet gets the first ack.
func TestSendWhileReadModelLags(t *testing.T) {
	s1, st := newService(t, index.DefaultIDEvents, time.Minute)
	alice, bob, room := directRoom(t, s1)
	s2 := startService(t, st, index.DefaultIDEvents, time.Minute)
	send(t, s2, bob, room, "b-1")
	s2.ix.Stop() // s2's read model stops here
	first := send(t, s1, alice, room, "a-1")

	b2 := send(t, s2, bob, room, "b-2")
	if b2.Duplicate || b2.Seq != first.Seq+1 {
		t.Fatalf("b-2 through the lagging node: %+v, want stored after a-1 (seq %d)", b2, first.Seq)
	}
	// What was read is kept: the next send does not wait or read again.
	h := s2.heads.get(room)
	h.mu.Lock()
	expects := h.ownFrom
	h.mu.Unlock()
	if expects > s2.ix.LastSeq(room) {
		t.Fatalf("after a read of the unindexed events the head still expects the read model at %d (it is at %d)", expects, s2.ix.LastSeq(room))
	}
	time.Sleep(3 * streamWindow) // JetStream's own window must not be what answers below
	again := send(t, s2, alice, room, "a-1")
	if !again.Duplicate || again.Seq != first.Seq {
		t.Fatalf("a-1 again through the node whose read model never saw it: %+v, want the first ack (seq %d)", again, first.Seq)
	}
	for _, id := range []string{"a-1", "b-2"} {
		if n := copies(t, s1, alice, room, id); n != 1 {
			t.Fatalf("%s stored %d times, want once", id, n)
		}
	}
}

// Further behind than a send may read, the send fails as retryable and
// stores nothing: it cannot know whether it repeats one of those events.
func TestSendWhileReadModelLagsFar(t *testing.T) {
	s1, st := newService(t, index.DefaultIDEvents, time.Minute)
	alice, bob, room := directRoom(t, s1)
	s2 := startService(t, st, index.DefaultIDEvents, time.Minute)
	send(t, s2, bob, room, "b-1")
	s2.ix.Stop()
	for i := range maxUnindexedRead + 1 {
		send(t, s1, alice, room, "a-"+strconv.Itoa(i))
	}
	_, err := s2.Send(context.Background(), bob, room, api.SendRequest{ID: "b-2", Text: "again"})
	if e := api.AsError(err); e == nil || e.Code != api.CodeUnavailable || e.RetryAfterMS == 0 {
		t.Fatalf("send through a read model %d events behind: %v, want %s with a retry_after", maxUnindexedRead+1, err, api.CodeUnavailable)
	}
	if n := copies(t, s1, bob, room, "b-2"); n != 0 {
		t.Fatalf("b-2 stored %d times, want not at all", n)
	}
}

// A send forwarded to a leader whose read model is not ready yet is
// appended by the forwarding node instead of failing.
func TestForwardToLeaderNotReady(t *testing.T) {
	s1, st := newService(t, index.DefaultIDEvents, time.Minute)
	alice, _, room := directRoom(t, s1)
	starting := New(st, index.New(st, nil, slog.New(slog.DiscardHandler)), st.Conn(), Config{}, slog.New(slog.DiscardHandler))
	served := make(chan struct{}, 10)
	sub, err := st.Conn().Subscribe(subjectAppend+"starting", func(m *nats.Msg) {
		served <- struct{}{}
		starting.serveForwarded(m)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	leaders := make([]string, st.Partitions())
	for p := range leaders {
		leaders[p] = "starting"
	}
	s1.fwd.Store(&forwarding{node: "here", nc: st.Conn(), leaders: leaders})

	a, err := s1.Send(context.Background(), alice, room, api.SendRequest{ID: "m-1", Text: "hello"})
	if err != nil || a.Duplicate || a.Seq == 0 {
		t.Fatalf("send: %+v, %v; want it stored", a, err)
	}
	select {
	case <-served:
	default:
		t.Fatal("the send was not forwarded to the leader first")
	}
	if n := copies(t, s1, alice, room, "m-1"); n != 1 {
		t.Fatalf("m-1 stored %d times", n)
	}
}

// TestUnindexedFromReplica checks what a send accepts from a store read of
// the events its lagging read model lacks. A replica may answer short or
// with holes; the send must not take that for the room's whole history
// (a resend of a missing event would then be stored twice).
func TestUnindexedFromReplica(t *testing.T) {
	ev := func(seq uint64, clientID string) api.Event {
		return api.Event{Seq: seq, Room: "r", Sender: "u", ClientID: clientID, Type: api.EventMessage, Time: int64(seq)}
	}
	cases := []struct {
		name        string
		after, upTo uint64
		evs         []api.Event
		ok          bool
		ids         []string // client ids recorded, in order
	}{
		{"whole", 3, 6, []api.Event{ev(4, "a"), ev(5, ""), ev(6, "c")}, true, []string{"a", "c"}},
		{"from the start", 0, 2, []api.Event{ev(1, "a"), ev(2, "b")}, true, []string{"a", "b"}},
		{"short", 3, 6, []api.Event{ev(4, "a"), ev(5, "b")}, false, nil},
		{"empty", 3, 6, nil, false, nil},
		{"hole", 3, 6, []api.Event{ev(4, "a"), ev(6, "c")}, false, nil},
		{"starts late", 3, 6, []api.Event{ev(5, "b"), ev(6, "c")}, false, nil},
		{"starts early", 3, 5, []api.Event{ev(3, "x"), ev(4, "a"), ev(5, "b")}, false, nil},
		{"repeated", 3, 5, []api.Event{ev(4, "a"), ev(4, "a"), ev(5, "b")}, false, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			read, err := unindexed("r", c.after, c.upTo, c.evs)
			if !c.ok {
				if err != errLagging {
					t.Fatalf("err = %v, want errLagging", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, o := range read {
				ids = append(ids, o.msgID)
			}
			want := make([]string, len(c.ids))
			for i, id := range c.ids {
				want[i] = messageID("r", "u", id)
			}
			if !slices.Equal(ids, want) {
				t.Fatalf("recorded %q, want %q", ids, want)
			}
		})
	}
}
