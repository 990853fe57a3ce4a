package node_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/dandanchat/dandan/api"
	"github.com/dandanchat/dandan/client"
	"github.com/dandanchat/dandan/internal/testnode"
)

// Two SDK clients chat while the node restarts: every message is
// acknowledged, stored once and delivered once, in order.
func TestChatThroughRestart(t *testing.T) {
	n := testnode.Start(t)
	alice, bob := signUp(t, n, "alice"), signUp(t, n, "bob")
	room, err := alice.CreateDirect(ctx(t), "bob")
	if err != nil {
		t.Fatal(err)
	}
	la, lb := live(t, alice, nil), live(t, bob, nil)
	waitFor(t, lb, "bob synced", func(u client.Update) bool { return u.Kind == client.Synced })

	const total = 300
	var pending []*client.Pending
	for i := 0; i < total; i++ {
		if i == total/2 {
			n.Restart(t)
		}
		pending = append(pending, la.SendAsync(room.ID, fmt.Sprintf("message %d", i)))
		if i%10 == 0 {
			time.Sleep(5 * time.Millisecond)
		}
	}
	acked := make(map[uint64]bool)
	for i, p := range pending {
		ack, err := p.Wait(ctx(t))
		if err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		if acked[ack.Seq] {
			t.Fatalf("seq %d acknowledged twice", ack.Seq)
		}
		acked[ack.Seq] = true
	}
	got := messages(collect(t, lb, room.ID, total, 30*time.Second))
	// collect counts every event; the first events include room.created.
	seen := make(map[string]int)
	for _, e := range got {
		seen[e.Text]++
	}
	hist := messages(allHistory(t, alice, room.ID))
	if len(hist) != total {
		t.Fatalf("history has %d messages, want %d", len(hist), total)
	}
	for i, e := range hist {
		if want := fmt.Sprintf("message %d", i); e.Text != want {
			t.Fatalf("history[%d] = %q, want %q", i, e.Text, want)
		}
	}
	rest := messages(collect(t, lb, room.ID, 0, time.Second))
	_ = rest
	for i := 0; i < total; i++ {
		if c := seen[fmt.Sprintf("message %d", i)]; c > 1 {
			t.Fatalf("message %d delivered %d times", i, c)
		}
	}
}

// A device that was offline receives exactly what it missed, then live
// events; a brand-new device can page the whole history.
func TestResumeAndNewDevice(t *testing.T) {
	n := testnode.Start(t)
	alice, bob := signUp(t, n, "alice"), signUp(t, n, "bob")
	room, err := alice.CreateDirect(ctx(t), "bob")
	if err != nil {
		t.Fatal(err)
	}
	first, err := alice.Send(ctx(t), room.ID, "before")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if _, err := alice.Send(ctx(t), room.ID, fmt.Sprintf("missed %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	lb := live(t, bob, map[string]uint64{room.ID: first.Seq})
	got := collect(t, lb, room.ID, 5, 10*time.Second)
	for i, e := range got {
		if e.Seq != first.Seq+1+uint64(i) || e.Text != fmt.Sprintf("missed %d", i) {
			t.Fatalf("resumed event %d = seq %d %q", i, e.Seq, e.Text)
		}
	}
	if _, err := alice.Send(ctx(t), room.ID, "live"); err != nil {
		t.Fatal(err)
	}
	if e := collect(t, lb, room.ID, 1, 10*time.Second)[0]; e.Text != "live" || e.Seq != first.Seq+6 {
		t.Fatalf("live event = seq %d %q", e.Seq, e.Text)
	}

	// A new device of bob's: signs in, sees the room and its whole history.
	phone := n.Client(t)
	if _, err := phone.SignIn(ctx(t), api.SignInRequest{Handle: "bob", Password: "correct horse battery", DeviceName: "phone"}); err != nil {
		t.Fatal(err)
	}
	rooms, err := phone.Rooms(ctx(t))
	if err != nil || len(rooms) != 1 || rooms[0].ID != room.ID {
		t.Fatalf("new device rooms = %+v, %v", rooms, err)
	}
	hist := allHistory(t, &user{Client: phone}, room.ID)
	if len(hist) != int(first.Seq)+6 {
		t.Fatalf("new device history has %d events, want %d", len(hist), first.Seq+6)
	}
	checkSeqs(t, "new device history", hist)
	if hist[0].Seq != 1 || hist[0].Type != api.EventRoomCreated {
		t.Fatalf("history starts with %+v", hist[0])
	}
}

// The same client id sent twice is stored once; the second send returns the
// first acknowledgement, also after a restart.
func TestIdempotentSend(t *testing.T) {
	n := testnode.Start(t)
	alice := signUp(t, n, "alice")
	signUp(t, n, "bob")
	room, err := alice.CreateDirect(ctx(t), "bob")
	if err != nil {
		t.Fatal(err)
	}
	a1, err := alice.Send(ctx(t), room.ID, "once", client.WithID("same-id"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Send(ctx(t), room.ID, "other"); err != nil {
		t.Fatal(err)
	}
	a2, err := alice.Send(ctx(t), room.ID, "once", client.WithID("same-id"))
	if err != nil {
		t.Fatal(err)
	}
	if a2.Seq != a1.Seq || a2.Time != a1.Time || !a2.Duplicate || a1.Duplicate {
		t.Fatalf("acks %+v then %+v: want the same seq and time, second marked duplicate", a1, a2)
	}
	n.Restart(t)
	a3, err := alice.Send(ctx(t), room.ID, "once", client.WithID("same-id"))
	if err != nil {
		t.Fatal(err)
	}
	if a3.Seq != a1.Seq || !a3.Duplicate {
		t.Fatalf("after restart: ack %+v, want seq %d duplicate", a3, a1.Seq)
	}
	// Over the WebSocket too.
	la := live(t, alice, nil)
	a4, err := la.Send(ctx(t), room.ID, "once", client.WithID("same-id"))
	if err != nil || a4.Seq != a1.Seq {
		t.Fatalf("live resend: %+v %v", a4, err)
	}
	count := 0
	for _, e := range allHistory(t, alice, room.ID) {
		if e.ClientID == "same-id" {
			count++
		}
	}
	if count != 1 {
		t.Fatalf("client id stored %d times", count)
	}
}

// Concurrent senders in one room get distinct, gap-free seqs.
func TestConcurrentSendersGetGapFreeSeqs(t *testing.T) {
	n := testnode.Start(t)
	alice := signUp(t, n, "alice")
	var users []*user
	for _, h := range []string{"bob", "carol", "dave"} {
		users = append(users, signUp(t, n, h))
	}
	room, err := alice.CreateGroup(ctx(t), "team", []string{"bob", "carol", "dave"})
	if err != nil {
		t.Fatal(err)
	}
	users = append(users, alice)
	var wg sync.WaitGroup
	seqs := make(chan uint64, 400)
	for _, u := range users {
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 25; i++ {
					a, err := u.Send(ctx(t), room.ID, "x")
					if err != nil {
						t.Error(err)
						return
					}
					seqs <- a.Seq
				}
			}()
		}
	}
	wg.Wait()
	close(seqs)
	seen := make(map[uint64]bool)
	for s := range seqs {
		if seen[s] {
			t.Fatalf("seq %d given twice", s)
		}
		seen[s] = true
	}
	hist := allHistory(t, alice, room.ID)
	checkSeqs(t, "history", hist)
	if got := len(messages(hist)); got != 400 {
		t.Fatalf("%d messages stored, want 400", got)
	}
}
