package node_test

import (
	"strings"
	"testing"
	"time"

	"github.com/dandanchat/dandan/api"
	"github.com/dandanchat/dandan/client"
	"github.com/dandanchat/dandan/internal/config"
	"github.com/dandanchat/dandan/internal/testnode"
)

// A non-member gets 403 and no data from every room operation.
func TestNonMemberIsRefused(t *testing.T) {
	n := testnode.Start(t)
	alice, bob, eve := signUp(t, n, "alice"), signUp(t, n, "bob"), signUp(t, n, "eve")
	room, err := alice.CreateDirect(ctx(t), "bob")
	if err != nil {
		t.Fatal(err)
	}
	ack, err := alice.Send(ctx(t), room.ID, "secret")
	if err != nil {
		t.Fatal(err)
	}
	c := ctx(t)
	_, err = eve.History(c, room.ID, client.HistoryQuery{})
	wantCode(t, "history", err, api.CodeForbidden)
	_, err = eve.Send(c, room.ID, "hi")
	wantCode(t, "send", err, api.CodeForbidden)
	_, err = eve.Room(c, room.ID)
	wantCode(t, "room", err, api.CodeForbidden)
	_, err = eve.Members(c, room.ID)
	wantCode(t, "members", err, api.CodeForbidden)
	_, err = eve.Receipts(c, room.ID)
	wantCode(t, "receipts", err, api.CodeForbidden)
	_, err = eve.MarkReceipt(c, room.ID, api.ReceiptRequest{Read: 1})
	wantCode(t, "mark receipt", err, api.CodeForbidden)
	_, err = eve.Edit(c, room.ID, ack.Seq, "mine now")
	wantCode(t, "edit", err, api.CodeForbidden)
	_, err = eve.Delete(c, room.ID, ack.Seq)
	wantCode(t, "delete", err, api.CodeForbidden)
	_, err = eve.Invite(c, room.ID, []string{"eve"})
	wantCode(t, "invite", err, api.CodeForbidden)
	_, err = eve.History(c, "rdoesnotexist0000", client.HistoryQuery{})
	wantCode(t, "unknown room", err, api.CodeForbidden)
	_, err = eve.History(c, "../../x", client.HistoryQuery{})
	if err == nil {
		t.Error("history of a malformed room id succeeded")
	}
	// Over the WebSocket: the send is refused, and eve never sees the room.
	le := live(t, eve, map[string]uint64{room.ID: 0})
	_, err = le.Send(c, room.ID, "hi")
	wantCode(t, "live send", err, api.CodeForbidden)
	if _, err := alice.Send(c, room.ID, "more secret"); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(500 * time.Millisecond)
	for done := false; !done; {
		select {
		case u := <-le.Updates():
			if u.Kind == client.EventUpdate || u.Kind == client.RoomUpdate {
				t.Fatalf("eve received %v of a room she is not in", u.Kind)
			}
		case <-deadline:
			done = true
		}
	}
	// bob, a member, reads fine.
	if p, err := bob.History(c, room.ID, client.HistoryQuery{}); err != nil || len(p.Events) != 3 {
		t.Fatalf("bob's history: %v, %v", p, err)
	}
}

func TestDirectRoomIsOnePerPair(t *testing.T) {
	n := testnode.Start(t)
	alice, bob := signUp(t, n, "alice"), signUp(t, n, "bob")
	r1, err := alice.CreateDirect(ctx(t), "bob")
	if err != nil {
		t.Fatal(err)
	}
	r2, err := bob.CreateDirect(ctx(t), alice.ID)
	if err != nil {
		t.Fatal(err)
	}
	r3, err := alice.CreateDirect(ctx(t), "BOB")
	if err != nil {
		t.Fatal(err)
	}
	if r1.ID != r2.ID || r1.ID != r3.ID || r1.Kind != api.RoomDirect {
		t.Fatalf("direct rooms %s %s %s", r1.ID, r2.ID, r3.ID)
	}
	if r1.Peer == nil || r1.Peer.Handle != "bob" {
		t.Fatalf("peer = %+v", r1.Peer)
	}
	_, err = alice.CreateDirect(ctx(t), "alice")
	wantCode(t, "direct with oneself", err, api.CodeInvalid)
	_, err = alice.CreateDirect(ctx(t), "nobody")
	wantCode(t, "direct with nobody", err, api.CodeNotFound)
	_, err = alice.RenameRoom(ctx(t), r1.ID, "x")
	wantCode(t, "rename direct", err, api.CodeConflict)
	hist := allHistory(t, alice, r1.ID)
	if len(hist) != 1 || hist[0].Type != api.EventRoomCreated {
		t.Fatalf("direct room history = %+v", hist)
	}
}

func TestGroupLifecycle(t *testing.T) {
	n := testnode.Start(t, func(c *config.Config) { c.MaxRoomMembers = 4 })
	alice, bob, carol := signUp(t, n, "alice"), signUp(t, n, "bob"), signUp(t, n, "carol")
	dave, erin := signUp(t, n, "dave"), signUp(t, n, "erin")
	c := ctx(t)
	g, err := alice.CreateGroup(c, "team", []string{"bob"})
	if err != nil {
		t.Fatal(err)
	}
	if g.Role != api.RoleAdmin || g.Members != 2 || g.Name != "team" {
		t.Fatalf("group = %+v", g)
	}
	lb := live(t, bob, map[string]uint64{g.ID: 0})
	if added, err := bob.Invite(c, g.ID, []string{"carol", "dave"}); err != nil || len(added) != 2 {
		t.Fatalf("invite: %v %v", added, err)
	}
	_, err = alice.Invite(c, g.ID, []string{"erin"})
	wantCode(t, "invite beyond the size limit", err, api.CodeRoomFull)
	if _, err := carol.RenameRoom(c, g.ID, "dream team"); err != nil {
		t.Fatal(err)
	}
	err = bob.RemoveMember(c, g.ID, carol.ID)
	wantCode(t, "non-admin removes", err, api.CodeForbidden)
	if err := alice.RemoveMember(c, g.ID, carol.ID); err != nil {
		t.Fatal(err)
	}
	_, err = carol.History(c, g.ID, client.HistoryQuery{})
	wantCode(t, "removed member reads", err, api.CodeForbidden)
	if err := dave.Leave(c, g.ID); err != nil {
		t.Fatal(err)
	}
	ms, err := bob.Members(c, g.ID)
	if err != nil || len(ms) != 2 {
		t.Fatalf("members = %+v, %v", ms, err)
	}
	// The last admin leaving hands admin to the longest-standing member.
	if err := alice.Leave(c, g.ID); err != nil {
		t.Fatal(err)
	}
	if err := bob.RemoveMember(c, g.ID, "unknown"); !api.IsCode(err, api.CodeNotFound) {
		t.Fatalf("bob (now admin) removing a non-member: %v", err)
	}
	r, err := bob.Room(c, g.ID)
	if err != nil || r.Role != api.RoleAdmin || r.Name != "dream team" {
		t.Fatalf("bob's room after alice left = %+v, %v", r, err)
	}
	_ = erin
	want := []string{api.EventRoomCreated, api.EventMemberJoined, api.EventMemberJoined, api.EventMemberJoined,
		api.EventRoomRenamed, api.EventMemberRemoved, api.EventMemberLeft, api.EventMemberLeft}
	got := collect(t, lb, g.ID, len(want), 10*time.Second)
	for i, e := range got {
		if e.Type != want[i] {
			t.Fatalf("bob's live event %d = %s, want %s", i, e.Type, want[i])
		}
	}
}

func TestEditDeleteReply(t *testing.T) {
	n := testnode.Start(t)
	alice, bob := signUp(t, n, "alice"), signUp(t, n, "bob")
	c := ctx(t)
	g, err := alice.CreateGroup(c, "g", []string{"bob"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := bob.Send(c, g.ID, "helo")
	if err != nil {
		t.Fatal(err)
	}
	_, err = alice.Edit(c, g.ID, m.Seq, "not yours")
	wantCode(t, "edit someone else's", err, api.CodeForbidden)
	e, err := bob.Edit(c, g.ID, m.Seq, "hello")
	if err != nil {
		t.Fatal(err)
	}
	r, err := alice.Send(c, g.ID, "hi bob", client.WithReplyTo(m.Seq))
	if err != nil {
		t.Fatal(err)
	}
	_, err = alice.Send(c, g.ID, "future", client.WithReplyTo(r.Seq+5))
	wantCode(t, "reply to the future", err, api.CodeInvalid)
	_, err = bob.Edit(c, g.ID, 999, "x")
	wantCode(t, "edit a missing message", err, api.CodeNotFound)
	d, err := alice.Delete(c, g.ID, m.Seq) // alice is admin
	if err != nil {
		t.Fatal(err)
	}
	hist := allHistory(t, bob, g.ID)
	last := hist[len(hist)-3:]
	if last[0].Type != api.EventEdit || last[0].Target != m.Seq || last[0].Seq != e.Seq || last[0].Text != "hello" {
		t.Fatalf("edit event = %+v", last[0])
	}
	if last[1].ReplyTo != m.Seq || last[2].Type != api.EventDelete || last[2].Target != m.Seq || last[2].Seq != d.Seq {
		t.Fatalf("reply/delete events = %+v", last[1:])
	}
}

func TestReceiptsUnreadTyping(t *testing.T) {
	n := testnode.Start(t)
	alice, bob := signUp(t, n, "alice"), signUp(t, n, "bob")
	c := ctx(t)
	room, err := alice.CreateDirect(c, "bob")
	if err != nil {
		t.Fatal(err)
	}
	la := live(t, alice, nil)
	lb := live(t, bob, nil)
	waitFor(t, la, "alice synced", func(u client.Update) bool { return u.Kind == client.Synced })
	waitFor(t, lb, "bob synced", func(u client.Update) bool { return u.Kind == client.Synced })
	var last *api.Ack
	for _, txt := range []string{"one", "two", "three"} {
		if last, err = alice.Send(c, room.ID, txt); err != nil {
			t.Fatal(err)
		}
	}
	rooms, err := bob.Rooms(c)
	if err != nil || len(rooms) != 1 || rooms[0].Unread != 3 {
		t.Fatalf("bob's rooms = %+v, %v; want 3 unread", rooms, err)
	}
	if rooms, _ := alice.Rooms(c); rooms[0].Unread != 0 {
		t.Fatalf("alice's own messages count as unread: %+v", rooms[0])
	}
	rc, err := bob.MarkReceipt(c, room.ID, api.ReceiptRequest{Read: last.Seq - 1})
	if err != nil || rc.Read != last.Seq-1 || rc.Delivered != last.Seq-1 {
		t.Fatalf("receipt = %+v, %v", rc, err)
	}
	if rc, _ := bob.MarkReceipt(c, room.ID, api.ReceiptRequest{Read: 1}); rc.Read != last.Seq-1 {
		t.Fatalf("read pointer moved back to %d", rc.Read)
	}
	if rooms, _ := bob.Rooms(c); rooms[0].Unread != 1 {
		t.Fatalf("bob's unread after reading = %d, want 1", rooms[0].Unread)
	}
	u := waitFor(t, la, "bob's receipt", func(u client.Update) bool { return u.Kind == client.ReceiptUpdate && u.Receipt.User == bob.ID })
	if u.Receipt.Read != last.Seq-1 {
		t.Fatalf("alice saw receipt %+v", u.Receipt)
	}
	all, err := alice.Receipts(c, room.ID)
	if err != nil || len(all) != 2 {
		t.Fatalf("receipts = %+v, %v", all, err)
	}
	if err := lb.Typing(room.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, la, "typing", func(u client.Update) bool { return u.Kind == client.Typing && u.User == bob.ID && u.RoomID == room.ID })
}

// A room's summary carries its last event when the node followed it live
// and it is small; otherwise it is left out, and history has it.
func TestRoomSummaryLast(t *testing.T) {
	n := testnode.Start(t)
	alice, bob := signUp(t, n, "alice"), signUp(t, n, "bob")
	c := ctx(t)
	room, err := alice.CreateDirect(c, "bob")
	if err != nil {
		t.Fatal(err)
	}
	// lastOf waits for bob's summary of the room to show last_seq seq, and
	// returns its last event (nil if left out).
	lastOf := func(seq uint64) *api.Event {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			rooms, err := bob.Rooms(c)
			if err != nil || len(rooms) != 1 {
				t.Fatalf("bob's rooms: %v, %v", rooms, err)
			}
			r := rooms[0]
			if r.LastSeq == seq && (r.Last != nil || time.Now().After(deadline)) {
				return r.Last
			}
			if time.Now().After(deadline) {
				t.Fatalf("bob's summary has last_seq %d, want %d", r.LastSeq, seq)
			}
		}
	}
	ack, err := alice.Send(c, room.ID, "see you at noon")
	if err != nil {
		t.Fatal(err)
	}
	if l := lastOf(ack.Seq); l == nil || l.Seq != ack.Seq || l.Type != api.EventMessage || l.Text != "see you at noon" || l.Sender != alice.ID {
		t.Errorf("last = %+v, want alice's message %d", l, ack.Seq)
	}
	del, err := alice.Delete(c, room.ID, ack.Seq)
	if err != nil {
		t.Fatal(err)
	}
	if l := lastOf(del.Seq); l == nil || l.Type != api.EventDelete || l.Target != ack.Seq {
		t.Errorf("after the deletion last = %+v, want the delete event %d", l, del.Seq)
	}
	// Too large to keep.
	big, err := alice.Send(c, room.ID, strings.Repeat("long ", 500))
	if err != nil {
		t.Fatal(err)
	}
	if l := lastOf(big.Seq); l != nil {
		t.Errorf("a 2,500-byte message kept as last: seq %d", l.Seq)
	}
	small, err := alice.Send(c, room.ID, "short again")
	if err != nil {
		t.Fatal(err)
	}
	if l := lastOf(small.Seq); l == nil || l.Text != "short again" {
		t.Errorf("last = %+v, want %d", l, small.Seq)
	}
	// A restart replays the stream without bodies: not at hand until the
	// next event.
	n.Restart(t)
	if l := lastOf(small.Seq); l != nil {
		t.Errorf("after a restart last = %+v, want none", l)
	}
	next, err := alice.Send(c, room.ID, "after the restart")
	if err != nil {
		t.Fatal(err)
	}
	if l := lastOf(next.Seq); l == nil || l.Text != "after the restart" {
		t.Errorf("last = %+v, want %d", l, next.Seq)
	}
}
