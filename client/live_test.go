package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/dandanchat/dandan/api"
)

func TestLiveExchange(t *testing.T) {
	hub := newHub()
	n := hub.node(t)
	alice, ra := startLive(t, newTestClient(t, "tok-alice", n.URL), fastLive())
	bob, rb := startLive(t, newTestClient(t, "tok-bob", n.URL), fastLive())
	ra.waitKind(t, Synced, 1, 5*time.Second)
	rb.waitKind(t, Synced, 1, 5*time.Second)
	if !alice.Connected() {
		t.Fatal("not Connected after Live returned")
	}
	ctx := ctxT(t, 5*time.Second)

	for i := range 10 {
		a, err := alice.Send(ctx, "r1", fmt.Sprintf("hello %d", i))
		if err != nil || a.Seq != uint64(i+1) {
			t.Fatalf("Send %d: %+v, %v", i, a, err)
		}
	}
	rb.waitSeq(t, "r1", 10, 5*time.Second)
	evs := rb.events("r1")
	checkSeqs(t, "bob", evs, 1, 10)
	if evs[3].Text != "hello 3" || evs[3].Sender != "ualice" {
		t.Fatalf("event 4 = %+v", evs[3])
	}

	// reply, edit, delete
	if a, err := bob.Send(ctx, "r1", "hi alice", WithReplyTo(10)); err != nil || a.Seq != 11 {
		t.Fatalf("reply: %+v, %v", a, err)
	}
	if a, err := bob.Edit(ctx, "r1", 11, "hi alice!"); err != nil || a.Seq != 12 {
		t.Fatalf("edit: %+v, %v", a, err)
	}
	if a, err := alice.Delete(ctx, "r1", 1); err != nil || a.Seq != 13 {
		t.Fatalf("delete: %+v, %v", a, err)
	}
	ra.waitSeq(t, "r1", 13, 5*time.Second)
	evs = ra.events("r1")
	checkSeqs(t, "alice", evs, 1, 13)
	if e := evs[10]; e.ReplyTo != 10 || e.Sender != "ubob" || e.Type != api.EventMessage {
		t.Fatalf("reply event %+v", e)
	}
	if e := evs[11]; e.Type != api.EventEdit || e.Target != 11 || e.Text != "hi alice!" {
		t.Fatalf("edit event %+v", e)
	}
	if e := evs[12]; e.Type != api.EventDelete || e.Target != 1 {
		t.Fatalf("delete event %+v", e)
	}
	if c := alice.Cursors(); c["r1"] != 13 {
		t.Fatalf("cursors %v", c)
	}

	// a server error answering a send fails it with that *api.Error
	if _, err := alice.Send(ctx, "r9", "nope"); !api.IsCode(err, api.CodeForbidden) {
		t.Fatalf("send to a foreign room: %v", err)
	}
	// invalid sends fail before reaching the server
	if _, err := alice.Send(ctx, "r1", ""); !api.IsCode(err, api.CodeInvalid) {
		t.Fatalf("empty text: %v", err)
	}
	if _, err := alice.Edit(ctx, "r1", 0, "x"); !api.IsCode(err, api.CodeInvalid) {
		t.Fatalf("edit of seq 0: %v", err)
	}

	// typing and receipts
	if err := bob.Typing("r1"); err != nil {
		t.Fatal(err)
	}
	if err := bob.Receipt("r1", 13, 12); err != nil {
		t.Fatal(err)
	}
	ra.waitFor(t, "typing and receipt", 5*time.Second, func(us []Update) bool {
		var typing, receipt bool
		for _, u := range us {
			typing = typing || u.Kind == Typing && u.User == "ubob" && u.RoomID == "r1"
			receipt = receipt || u.Kind == ReceiptUpdate && u.Receipt.User == "ubob" && u.Receipt.Delivered == 13 && u.Receipt.Read == 12
		}
		return typing && receipt
	})
	if ra.count(RoomUpdate) != 1 || ra.count(Connected) != 1 {
		t.Fatalf("room updates %d, connected %d", ra.count(RoomUpdate), ra.count(Connected))
	}
}

// The product's promise: connections killed at random while sending lose
// nothing and duplicate nothing.
func TestLiveKillStorm(t *testing.T) {
	hub := newHub()
	n1, n2 := hub.node(t), hub.node(t)
	alice, ra := startLive(t, newTestClient(t, "tok-alice", n1.URL, n2.URL), fastLive())
	_, rb := startLive(t, newTestClient(t, "tok-bob", n2.URL, n1.URL), fastLive())
	ra.waitKind(t, Synced, 1, 5*time.Second)
	rb.waitKind(t, Synced, 1, 5*time.Second)

	const N = 200
	hub.set(func(h *fakeHub) { h.loseAcks = true }) // stored, but the sender does not know
	stop := make(chan struct{})
	var killer sync.WaitGroup
	kills := 0
	killer.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Duration(2+rand.IntN(8)) * time.Millisecond):
				hub.killAll()
				kills++
			}
		}
	})
	pend := make([]*Pending, N)
	for i := range N {
		pend[i] = alice.SendAsync("r1", fmt.Sprintf("m%d", i))
		if i%2 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	time.Sleep(100 * time.Millisecond)
	close(stop)
	killer.Wait()
	hub.set(func(h *fakeHub) { h.loseAcks = false })
	hub.killAll() // sends whose ack was lost since the last kill are resent now

	ctx := ctxT(t, 10*time.Second)
	seqs := map[uint64]bool{}
	dups := 0
	for i, p := range pend {
		a, err := p.Wait(ctx)
		if err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		if a.ID != p.ID || seqs[a.Seq] || a.Seq < 1 || a.Seq > N {
			t.Fatalf("send %d: bad or repeated ack %+v", i, a)
		}
		seqs[a.Seq] = true
		if a.Duplicate {
			dups++
		}
	}
	stored := map[string]int{}
	evs := hub.events("r1")
	for _, e := range evs {
		stored[e.ClientID]++
	}
	for _, p := range pend {
		if stored[p.ID] != 1 {
			t.Fatalf("id %s stored %d times", p.ID, stored[p.ID])
		}
	}
	if len(evs) != N {
		t.Fatalf("%d events stored, want %d", len(evs), N)
	}
	rb.waitSeq(t, "r1", N, 10*time.Second)
	ra.waitSeq(t, "r1", N, 10*time.Second)
	checkSeqs(t, "bob", rb.events("r1"), 1, N)
	checkSeqs(t, "alice", ra.events("r1"), 1, N)
	resent := 0
	for _, p := range pend {
		resent += hub.frames(p.ID) - 1
	}
	t.Logf("%d kills, %d reconnects of bob, %d resends, %d duplicate acks", kills, rb.count(Connected)-1, resent, dups)
	if rb.count(Connected) < 3 || resent < 10 || dups == 0 {
		t.Fatalf("the storm did not break anything (%d connects, %d resends): the test proves nothing", rb.count(Connected), resent)
	}
}

func TestLiveFailover(t *testing.T) {
	hub := newHub()
	n1, n2 := hub.node(t), hub.node(t)
	// the first server is down from the start
	l, r := startLive(t, newTestClient(t, "tok-alice", downURL(), n1.URL, n2.URL), fastLive())
	ctx := ctxT(t, 5*time.Second)
	if _, err := l.Send(ctx, "r1", "one"); err != nil {
		t.Fatal(err)
	}
	// n1 goes down mid-stream: the Live moves on to n2
	n1.refuse.Store(true)
	hub.killNode(n1)
	r.waitKind(t, Disconnected, 1, 5*time.Second)
	if _, err := l.Send(ctx, "r1", "two"); err != nil {
		t.Fatal(err)
	}
	r.waitSeq(t, "r1", 2, 5*time.Second)
	checkSeqs(t, "alice", r.events("r1"), 1, 2)

	// every node down: sends are queued and go out on reconnection
	n2.refuse.Store(true)
	hub.killAll()
	r.waitKind(t, Disconnected, 2, 5*time.Second)
	var pend []*Pending
	for i := range 5 {
		pend = append(pend, l.SendAsync("r1", fmt.Sprintf("queued %d", i)))
	}
	time.Sleep(50 * time.Millisecond)
	if l.Connected() {
		t.Fatal("connected while every node refuses")
	}
	for _, p := range pend {
		select {
		case <-p.Done():
			t.Fatal("a send was answered while every node refuses")
		default:
		}
	}
	n2.refuse.Store(false)
	for _, p := range pend {
		if _, err := p.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	r.waitSeq(t, "r1", 7, 5*time.Second)
	checkSeqs(t, "alice", r.events("r1"), 1, 7)
}

func TestLiveRetryAfter(t *testing.T) {
	hub := newHub()
	n := hub.node(t)
	l, _ := startLive(t, newTestClient(t, "tok-alice", n.URL), fastLive())
	hub.set(func(h *fakeHub) { h.overload, h.retryAfterMS = 1, 300 })
	start := time.Now()
	a, err := l.Send(ctxT(t, 5*time.Second), "r1", "busy?", WithID("ra-1"))
	if err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < 300*time.Millisecond || el > 2*time.Second {
		t.Fatalf("acked after %v, want about 300ms", el)
	}
	if a.Seq != 1 || hub.frames("ra-1") != 2 || len(hub.events("r1")) != 1 {
		t.Fatalf("ack %+v, %d frames, %d events", a, hub.frames("ra-1"), len(hub.events("r1")))
	}
}

func TestLiveAckTimeout(t *testing.T) {
	hub := newHub()
	n := hub.node(t)
	opts := fastLive()
	opts.AckTimeout = 200 * time.Millisecond
	l, r := startLive(t, newTestClient(t, "tok-alice", n.URL), opts)
	hub.set(func(h *fakeHub) { h.swallow = 1 })
	start := time.Now()
	if _, err := l.Send(ctxT(t, 5*time.Second), "r1", "lost?", WithID("at-1")); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < 200*time.Millisecond {
		t.Fatalf("acked after %v, before the ack timeout", el)
	}
	if hub.frames("at-1") != 2 || r.count(Disconnected) != 1 || len(hub.events("r1")) != 1 {
		t.Fatalf("%d frames, %d disconnects, %d events", hub.frames("at-1"), r.count(Disconnected), len(hub.events("r1")))
	}
	if u := r.find(func(u Update) bool { return u.Kind == Disconnected }); !errors.Is(u.Err, ErrAckTimeout) {
		t.Fatalf("disconnected by %v, want ErrAckTimeout", u.Err)
	}
}

// A node that stops answering (no pong, nothing) is left for the next.
func TestLiveReadTimeout(t *testing.T) {
	hub := newHub()
	n1, n2 := hub.node(t), hub.node(t)
	n1.silent.Store(true)
	opts := fastLive()
	opts.PingInterval, opts.ReadTimeout = 50*time.Millisecond, 300*time.Millisecond
	l, r := startLive(t, newTestClient(t, "tok-alice", n1.URL, n2.URL), opts)
	start := time.Now()
	if _, err := l.Send(ctxT(t, 5*time.Second), "r1", "anyone?"); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < 250*time.Millisecond {
		t.Fatalf("acked after %v by a silent node?", el)
	}
	if r.count(Disconnected) != 1 {
		t.Fatalf("%d disconnects", r.count(Disconnected))
	}
}

func TestLiveUnauthorized(t *testing.T) {
	hub := newHub()
	n1, n2 := hub.node(t), hub.node(t)
	c := newTestClient(t, "tok-mallory", n1.URL, n2.URL)
	start := time.Now()
	l, err := c.Live(ctxT(t, 5*time.Second), fastLive())
	if !api.IsCode(err, api.CodeUnauthorized) || l != nil {
		t.Fatalf("Live with a bad token: %v", err)
	}
	if el := time.Since(start); el > time.Second {
		t.Fatalf("took %v", el)
	}
	hub.mu.Lock()
	attempts := hub.authAttempts
	hub.mu.Unlock()
	if attempts != 1 {
		t.Fatalf("%d auth attempts, want 1 (no retry)", attempts)
	}
	if _, err := newTestClient(t, "", n1.URL).Live(context.Background(), LiveOptions{}); !api.IsCode(err, api.CodeUnauthorized) {
		t.Fatalf("Live without token: %v", err)
	}
}

// A token revoked while live stops the Live: it is not retried forever.
func TestLiveTokenRevoked(t *testing.T) {
	hub := newHub()
	n := hub.node(t)
	opts := fastLive()
	l, r := startLive(t, newTestClient(t, "tok-bob", n.URL), opts)
	hub.set(func(h *fakeHub) { delete(h.tokens, "tok-bob"); h.swallow = 1 })
	p := l.SendAsync("r1", "into the void")
	time.Sleep(20 * time.Millisecond)
	hub.killAll()
	<-r.stopped // Updates closed
	_, err := p.Wait(ctxT(t, time.Second))
	if !errors.Is(err, ErrClosed) || !api.IsCode(err, api.CodeUnauthorized) {
		t.Fatalf("pending send: %v", err)
	}
	r.mu.Lock()
	last := r.updates[len(r.updates)-1]
	r.mu.Unlock()
	if last.Kind != Disconnected || !api.IsCode(last.Err, api.CodeUnauthorized) {
		t.Fatalf("last update %+v", last)
	}
	if err := l.Receipt("r1", 1, 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("Receipt after stop: %v", err)
	}
}

// Resume: events at or below the cursor are never delivered; garbage frames
// are skipped; events stored while disconnected arrive after reconnection.
func TestLiveResume(t *testing.T) {
	hub := newHub()
	n1, n2 := hub.node(t), hub.node(t)
	ctx := ctxT(t, 5*time.Second)
	hc := newTestClient(t, "tok-alice", n2.URL)
	for i := range 5 {
		if _, err := hc.Send(ctx, "r1", fmt.Sprint("old ", i)); err != nil {
			t.Fatal(err)
		}
	}
	l, r := startLive(t, newTestClient(t, "tok-bob", n1.URL), LiveOptions{Cursors: map[string]uint64{"r1": 3}, MinBackoff: 2 * time.Millisecond, MaxBackoff: 10 * time.Millisecond})
	r.waitKind(t, Synced, 1, 5*time.Second)
	checkSeqs(t, "resumed", r.events("r1"), 4, 5)

	hub.injectRaw([]byte(`{not json`))
	hub.injectRaw([]byte(`{"type":"event","event":{"room":"r1","seq":2,"type":"message","text":"replayed"}}`))
	hub.injectRaw([]byte(`{"type":"event","event":null}`))
	hub.injectRaw([]byte(`{"type":"what"}`))
	if _, err := hc.Send(ctx, "r1", "new"); err != nil {
		t.Fatal(err)
	}
	r.waitSeq(t, "r1", 6, 5*time.Second)

	// disconnected while two messages are stored
	n1.refuse.Store(true)
	hub.killNode(n1)
	r.waitKind(t, Disconnected, 1, 5*time.Second)
	for range 2 {
		if _, err := hc.Send(ctx, "r1", "while away"); err != nil {
			t.Fatal(err)
		}
	}
	n1.refuse.Store(false)
	r.waitSeq(t, "r1", 8, 5*time.Second)
	checkSeqs(t, "bob", r.events("r1"), 4, 8)
	if c := l.Cursors(); c["r1"] != 8 {
		t.Fatalf("cursors %v", c)
	}
}

// A room learnt without events (no cursor) still resumes from where it was.
func TestLiveResumeRoomWithoutCursor(t *testing.T) {
	hub := newHub()
	n1, n2 := hub.node(t), hub.node(t)
	ctx := ctxT(t, 5*time.Second)
	hc := newTestClient(t, "tok-alice", n2.URL)
	for range 2 {
		if _, err := hc.Send(ctx, "r1", "before"); err != nil {
			t.Fatal(err)
		}
	}
	_, r := startLive(t, newTestClient(t, "tok-bob", n1.URL), fastLive())
	r.waitKind(t, Synced, 1, 5*time.Second)
	n1.refuse.Store(true)
	hub.killNode(n1)
	r.waitKind(t, Disconnected, 1, 5*time.Second)
	if _, err := hc.Send(ctx, "r1", "while away"); err != nil {
		t.Fatal(err)
	}
	n1.refuse.Store(false)
	r.waitSeq(t, "r1", 3, 5*time.Second)
	checkSeqs(t, "bob", r.events("r1"), 3, 3)
}

func TestLiveOutboxFull(t *testing.T) {
	hub := newHub()
	n := hub.node(t)
	opts := fastLive()
	opts.MaxOutbox = 3
	l, _ := startLive(t, newTestClient(t, "tok-alice", n.URL), opts)
	hub.set(func(h *fakeHub) { h.swallow = 100 })
	var pend []*Pending
	for range 3 {
		pend = append(pend, l.SendAsync("r1", "x"))
	}
	if p := l.SendAsync("r1", "x", WithID(pend[0].ID)); p != pend[0] {
		t.Fatal("the same id did not return the same pending send")
	}
	if _, err := l.SendAsync("r1", "x").Wait(ctxT(t, time.Second)); !errors.Is(err, ErrOutboxFull) {
		t.Fatalf("4th send: %v", err)
	}
}

func TestLiveCloseLeaksNothing(t *testing.T) {
	hub := newHub()
	n := hub.node(t)
	ignore := goleak.IgnoreCurrent()
	c := newTestClient(t, "tok-alice", n.URL)
	l, err := c.Live(ctxT(t, 5*time.Second), fastLive())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Send(ctxT(t, 5*time.Second), "r1", "hi"); err != nil {
		t.Fatal(err)
	}
	hub.set(func(h *fakeHub) { h.swallow = 1 })
	p := l.SendAsync("r1", "never acked")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	if _, err := p.Wait(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("pending after Close: %v", err)
	}
	for range l.Updates() { // buffered updates, then closed
	}
	if _, err := l.SendAsync("r1", "late").Wait(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("send after Close: %v", err)
	}
	if l.Connected() || l.Typing("r1") == nil {
		t.Fatal("usable after Close")
	}
	goleak.VerifyNone(t, ignore)
}

func TestBackoff(t *testing.T) {
	l := &Live{opts: LiveOptions{}.withDefaults()}
	for n := range 40 {
		d := l.backoff(n, 0)
		hi := min(DefaultMinBackoff<<min(n, 30), DefaultMaxBackoff)
		if d < DefaultMinBackoff || d > hi {
			t.Fatalf("backoff(%d) = %v, want in [%v, %v]", n, d, DefaultMinBackoff, hi)
		}
	}
	if d := l.backoff(0, 8*time.Second); d < 8*time.Second || d > 10*time.Second {
		t.Fatalf("backoff with retry after 8s = %v", d)
	}
}

// A send refused for load is resent after the wait with the same id; the
// refusal is told by a Refused update; Attempts counts both writes.
func TestLiveSendRefused(t *testing.T) {
	hub := newHub()
	n := hub.node(t)
	l, r := startLive(t, newTestClient(t, "tok-alice", n.URL), fastLive())
	hub.set(func(h *fakeHub) { h.overload, h.retryAfterMS = 1, 100 })
	p := l.SendAsync("r1", "busy?", WithID("rf-1"))
	p.Attempts() // safe before Done too
	a, err := p.Wait(ctxT(t, 5*time.Second))
	if err != nil || a.Seq != 1 || a.Duplicate {
		t.Fatalf("ack %+v, %v", a, err)
	}
	sends := hub.got(api.FrameSend)
	if len(sends) != 2 || sends[0].ID != "rf-1" || sends[1].ID != "rf-1" {
		t.Fatalf("send frames %+v", sends)
	}
	refused := sends[0].at // the fake answers at once
	if gap := sends[1].at.Sub(refused); gap < 100*time.Millisecond {
		t.Fatalf("resent %v after the refusal, want ≥ 100ms", gap)
	}
	n2, last := p.Attempts()
	if n2 != 2 || last.Sub(refused) < 100*time.Millisecond || last.After(sends[1].at) {
		t.Fatalf("Attempts = %d, %v after the refusal, want 2, the resend (%v after)", n2, last.Sub(refused), sends[1].at.Sub(refused))
	}
	r.waitFor(t, "refused send", 5*time.Second, func(us []Update) bool {
		for _, u := range us {
			if u.Kind == Refused {
				if u.Ref != api.FrameSend || u.ID != "rf-1" || u.RoomID != "r1" || !isRefusal(u.Err, api.CodeOverloaded, 100*time.Millisecond) {
					t.Fatalf("refused update %+v", u)
				}
				return true
			}
		}
		return false
	})
	if Refused.String() != "refused" {
		t.Fatalf("Refused.String() = %q", Refused.String())
	}
}

// A sync refused for load is sent again, from the cursors, after the wait;
// the connection stays open and synced once one is admitted.
func TestLiveSyncRefused(t *testing.T) {
	hub := newHub()
	n := hub.node(t)
	ctx := ctxT(t, 5*time.Second)
	hc := newTestClient(t, "tok-alice", n.URL)
	for range 3 {
		if _, err := hc.Send(ctx, "r1", "before"); err != nil {
			t.Fatal(err)
		}
	}
	busy := &api.Error{Code: api.CodeOverloaded, Message: "busy", RetryAfterMS: 50}
	hub.set(func(h *fakeHub) { h.syncErrors = []*api.Error{busy, busy} })
	opts := fastLive()
	opts.Cursors = map[string]uint64{"r1": 1}
	_, r := startLive(t, newTestClient(t, "tok-bob", n.URL), opts)
	r.waitKind(t, Synced, 1, 5*time.Second)
	checkSeqs(t, "bob", r.events("r1"), 2, 3)

	syncs := hub.got(api.FrameSync)
	if len(syncs) != 3 {
		t.Fatalf("%d sync frames, want 3", len(syncs))
	}
	for i, f := range syncs {
		if len(f.Cursors) != 1 || f.Cursors["r1"] != 1 {
			t.Fatalf("sync %d: cursors %v", i, f.Cursors)
		}
		if i > 0 && f.at.Sub(syncs[i-1].at) < 50*time.Millisecond {
			t.Fatalf("sync %d sent %v after the refusal, want ≥ 50ms", i, f.at.Sub(syncs[i-1].at))
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	refusals := 0
	for _, u := range r.updates {
		switch u.Kind {
		case Refused:
			refusals++
			if u.Ref != api.FrameSync || !isRefusal(u.Err, api.CodeOverloaded, 50*time.Millisecond) {
				t.Fatalf("refused update %+v", u)
			}
		case Disconnected:
			t.Fatalf("disconnected: %v", u.Err)
		}
	}
	if refusals != 2 {
		t.Fatalf("%d Refused updates, want 2", refusals)
	}
}

// A sync failing with an error that is not a refusal for load breaks the
// connection; the next one syncs.
func TestLiveSyncFailed(t *testing.T) {
	hub := newHub()
	n := hub.node(t)
	hub.set(func(h *fakeHub) { h.syncErrors = []*api.Error{api.Errorf(api.CodeInternal, "oops")} })
	_, r := startLive(t, newTestClient(t, "tok-alice", n.URL), fastLive())
	r.waitKind(t, Synced, 1, 5*time.Second)
	if u := r.find(func(u Update) bool { return u.Kind == Disconnected }); !api.IsCode(u.Err, api.CodeInternal) {
		t.Fatalf("disconnected by %v, want the sync error", u.Err)
	}
	if got := len(hub.got(api.FrameSync)); got != 2 || r.count(Connected) != 2 || r.count(Refused) != 0 {
		t.Fatalf("%d syncs, %d connects, %d refusals", got, r.count(Connected), r.count(Refused))
	}
}

// A receipt refused for load is sent again after the wait, with the room's
// max pointers, newer ones included; other rooms are not held.
func TestLiveReceiptRefused(t *testing.T) {
	hub := newHub()
	n := hub.node(t)
	l, r := startLive(t, newTestClient(t, "tok-alice", n.URL), fastLive())
	r.waitKind(t, Synced, 1, 5*time.Second)
	busy := &api.Error{Code: api.CodeRateLimited, Message: "slow down", RetryAfterMS: 100}
	refusals := func(n int) {
		t.Helper()
		r.waitFor(t, "refused receipt", 5*time.Second, func(us []Update) bool {
			c := 0
			for _, u := range us {
				if u.Kind == Refused {
					if u.Ref != api.FrameReceipt || u.RoomID != "r1" || !isRefusal(u.Err, api.CodeRateLimited, 100*time.Millisecond) {
						t.Fatalf("refused update %+v", u)
					}
					c++
				}
			}
			return c >= n
		})
	}
	check := func(f gotFrame, room string, delivered, read uint64) {
		t.Helper()
		if f.Room != room || f.Delivered != delivered || f.Read != read {
			t.Fatalf("receipt %s %d/%d, want %s %d/%d", f.Room, f.Delivered, f.Read, room, delivered, read)
		}
	}

	// refused, then sent again as it was
	hub.set(func(h *fakeHub) { h.receiptErrors = []*api.Error{busy} })
	if err := l.Receipt("r1", 2, 1); err != nil {
		t.Fatal(err)
	}
	refusals(1)
	rs := waitReceipts(t, hub, 2)
	check(rs[0], "r1", 2, 1)
	check(rs[1], "r1", 2, 1)
	if gap := rs[1].at.Sub(rs[0].at); gap < 100*time.Millisecond {
		t.Fatalf("resent %v after the refusal, want ≥ 100ms", gap)
	}

	// refused; while it waits, newer pointers of the room are held and
	// merged, those of another room go out at once
	hub.set(func(h *fakeHub) { h.receiptErrors = []*api.Error{busy} })
	if err := l.Receipt("r1", 5, 3); err != nil {
		t.Fatal(err)
	}
	refusals(2)
	if err := l.Receipt("r1", 4, 6); err != nil {
		t.Fatal(err)
	}
	if err := l.Receipt("r2", 1, 1); err != nil {
		t.Fatal(err)
	}
	rs = waitReceipts(t, hub, 5)
	check(rs[2], "r1", 5, 3)
	check(rs[3], "r2", 1, 1)
	check(rs[4], "r1", 5, 6)
	if gap := rs[4].at.Sub(rs[2].at); gap < 100*time.Millisecond {
		t.Fatalf("resent %v after the refusal, want ≥ 100ms", gap)
	}

	// which receipt an error answers is not known: the resend carries the
	// max of those written
	if err := l.Receipt("r1", 9, 0); err != nil {
		t.Fatal(err)
	}
	waitReceipts(t, hub, 6)
	hub.set(func(h *fakeHub) { h.receiptErrors = []*api.Error{busy} })
	if err := l.Receipt("r1", 0, 7); err != nil {
		t.Fatal(err)
	}
	rs = waitReceipts(t, hub, 8)
	check(rs[5], "r1", 9, 0)
	check(rs[6], "r1", 0, 7)
	check(rs[7], "r1", 9, 7)

	// a refused typing notice is not resent and breaks nothing
	hub.injectRaw([]byte(`{"type":"error","ref":"typing","error":{"code":"rate_limited","message":"slow down"}}`))
	if _, err := l.Send(ctxT(t, 5*time.Second), "r1", "still fine"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(150 * time.Millisecond) // time for a wrong resend to show
	if len(hub.got(api.FrameReceipt)) != 8 || r.count(Refused) != 3 || r.count(Disconnected) != 0 {
		t.Fatalf("%d receipts, %d refusals, %d disconnects", len(hub.got(api.FrameReceipt)), r.count(Refused), r.count(Disconnected))
	}
}

// waitReceipts waits until the fake has received n receipt frames (not more)
// and returns them.
func waitReceipts(t *testing.T, hub *fakeHub, n int) []gotFrame {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		rs := hub.got(api.FrameReceipt)
		if len(rs) > n {
			t.Fatalf("%d receipts, want %d: %+v", len(rs), n, rs)
		}
		if len(rs) == n {
			return rs
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %d receipts (%d)", n, len(rs))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// isRefusal reports whether err is an *api.Error with code c asking to wait d.
func isRefusal(err error, c api.Code, d time.Duration) bool {
	var e *api.Error
	return errors.As(err, &e) && e.Code == c && e.RetryAfter() == d
}

// Reconnect drops the connection; the Live comes back by itself and
// resumes where it was.
func TestLiveReconnect(t *testing.T) {
	hub := newHub()
	n := hub.node(t)
	l, r := startLive(t, newTestClient(t, "tok-alice", n.URL), fastLive())
	if _, err := l.Send(ctxT(t, 5*time.Second), "r1", "before"); err != nil {
		t.Fatal(err)
	}
	r.waitSeq(t, "r1", 1, 5*time.Second)
	l.Reconnect()
	r.waitKind(t, Connected, 2, 5*time.Second)
	if u := r.find(func(u Update) bool { return u.Kind == Disconnected }); !errors.Is(u.Err, ErrReconnect) {
		t.Fatalf("disconnected by %v, want ErrReconnect", u.Err)
	}
	if _, err := l.Send(ctxT(t, 5*time.Second), "r1", "after"); err != nil {
		t.Fatal(err)
	}
	r.waitSeq(t, "r1", 2, 5*time.Second)
	if evs := r.events("r1"); len(evs) != 2 {
		t.Fatalf("%d events after the reconnect, want 2 (no replay, no gap)", len(evs))
	}
}

// recordHandler returns a recorder fed by a LiveOptions.Handler, and that
// handler; the handler fails the test if it is ever called concurrently.
func recordHandler(t *testing.T) (*recorder, func(Update)) {
	r := &recorder{stopped: make(chan struct{})}
	r.cond = sync.NewCond(&r.mu)
	var in atomic.Bool
	return r, func(u Update) {
		if !in.CompareAndSwap(false, true) {
			t.Error("Handler called while another call runs")
		}
		defer in.Store(false)
		r.mu.Lock()
		r.updates = append(r.updates, u)
		r.cond.Broadcast()
		r.mu.Unlock()
	}
}

// TestLiveHandler: with a Handler, every update goes to it, in order and
// once, none to Updates (which is closed by Close), and none after Close.
func TestLiveHandler(t *testing.T) {
	hub := newHub()
	n := hub.node(t)
	alice, ra := startLive(t, newTestClient(t, "tok-alice", n.URL), fastLive())
	rb, handler := recordHandler(t)
	opts := fastLive()
	opts.Handler = handler
	bob, err := newTestClient(t, "tok-bob", n.URL).Live(ctxT(t, 5*time.Second), opts)
	if err != nil {
		t.Fatal(err)
	}
	onChannel := make(chan int)
	go func() {
		k := 0
		for range bob.Updates() {
			k++
		}
		onChannel <- k
	}()
	ra.waitKind(t, Synced, 1, 5*time.Second)
	rb.waitKind(t, Synced, 1, 5*time.Second)
	ctx := ctxT(t, 5*time.Second)
	for i := range 20 {
		if _, err := alice.Send(ctx, "r1", fmt.Sprintf("m %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := alice.Typing("r1"); err != nil {
		t.Fatal(err)
	}
	rb.waitSeq(t, "r1", 20, 5*time.Second)
	checkSeqs(t, "bob", rb.events("r1"), 1, 20)
	rb.waitKind(t, Typing, 1, 5*time.Second)
	if rb.count(Connected) != 1 {
		t.Fatalf("%d Connected updates, want 1", rb.count(Connected))
	}
	if err := bob.Close(); err != nil {
		t.Fatal(err)
	}
	rb.mu.Lock()
	before := len(rb.updates)
	rb.mu.Unlock()
	if _, err := alice.Send(ctx, "r1", "after bob closed"); err != nil {
		t.Fatal(err)
	}
	ra.waitSeq(t, "r1", 21, 5*time.Second)
	time.Sleep(50 * time.Millisecond)
	rb.mu.Lock()
	after := len(rb.updates)
	rb.mu.Unlock()
	if after != before {
		t.Fatalf("%d updates handled after Close returned", after-before)
	}
	select {
	case k := <-onChannel:
		if k != 0 {
			t.Fatalf("%d updates on Updates with a Handler", k)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Updates not closed by Close")
	}
}

// TestLiveHandlerSlow: a Handler that takes longer than the ack timeout
// holds up the reading of an ack, which must not be taken for a broken
// connection.
func TestLiveHandlerSlow(t *testing.T) {
	hub := newHub()
	n := hub.node(t)
	alice, ra := startLive(t, newTestClient(t, "tok-alice", n.URL), fastLive())
	rb, record := recordHandler(t)
	block := make(chan struct{})
	var blocked sync.Once
	opts := fastLive()
	opts.AckTimeout = 200 * time.Millisecond
	opts.Handler = func(u Update) {
		if u.Kind == EventUpdate && u.Event.Sender == "ualice" {
			blocked.Do(func() { <-block })
		}
		record(u)
	}
	bob, err := newTestClient(t, "tok-bob", n.URL).Live(ctxT(t, 5*time.Second), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()
	ra.waitKind(t, Synced, 1, 5*time.Second)
	rb.waitKind(t, Synced, 1, 5*time.Second)
	ctx := ctxT(t, 5*time.Second)
	if _, err := alice.Send(ctx, "r1", "hold bob up"); err != nil {
		t.Fatal(err)
	}
	// Bob's handler now blocks on alice's event; bob's send is answered
	// meanwhile, but the answer waits behind it for 3 ack timeouts.
	p := bob.SendAsync("r1", "while my handler blocks")
	time.Sleep(600 * time.Millisecond)
	close(block)
	if _, err := p.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if n := rb.count(Disconnected); n != 0 {
		t.Fatalf("%d Disconnected updates (%v): a slow handler was taken for a broken connection", n,
			rb.find(func(u Update) bool { return u.Kind == Disconnected }).Err)
	}
	if n, _ := p.Attempts(); n != 1 {
		t.Fatalf("the send was written %d times, want once", n)
	}
}
