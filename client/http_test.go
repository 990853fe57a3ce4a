package client

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dandanchat/dandan/api"
)

func TestNew(t *testing.T) {
	for _, servers := range [][]string{nil, {"ftp://x"}, {"http://"}, {"::bad"}, {"http://a:1", "localhost:80"}, {"http://h/?q=1"}} {
		if _, err := New(Options{Servers: servers}); err == nil {
			t.Errorf("New(%q): no error", servers)
		}
	}
	c, err := New(Options{Servers: []string{"http://a:1/", " https://b/base/ "}, Token: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Servers(); got[0] != "http://a:1" || got[1] != "https://b/base" {
		t.Errorf("Servers = %q", got)
	}
	if wsURL(c.bases[0]) != "ws://a:1/v1/ws" || wsURL(c.bases[1]) != "wss://b/base/v1/ws" {
		t.Errorf("ws urls: %s %s", wsURL(c.bases[0]), wsURL(c.bases[1]))
	}
	if c.Token() != "t" {
		t.Errorf("Token = %q", c.Token())
	}
	c.SetToken("u")
	if c.Token() != "u" {
		t.Errorf("Token after SetToken = %q", c.Token())
	}
}

func TestNewID(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := NewID()
		if !api.ValidClientID(id) || len(id) != 22 || seen[id] {
			t.Fatalf("bad or repeated id %q", id)
		}
		seen[id] = true
	}
}

func TestHTTPErrors(t *testing.T) {
	hub := newHub()
	n := hub.node(t)
	c := newTestClient(t, "", n.URL)
	ctx := ctxT(t, 5*time.Second)

	_, err := c.Me(ctx)
	var e *api.Error
	if !errors.As(err, &e) || e.Code != api.CodeUnauthorized || e.Message != "bad token" {
		t.Fatalf("Me without token: %v", err)
	}
	if _, err := c.SignIn(ctx, api.SignInRequest{Handle: "alice", Password: "wrong"}); !api.IsCode(err, api.CodeBadCredentials) {
		t.Fatalf("SignIn with a wrong password: %v", err)
	}
	if _, err := c.SignIn(ctx, api.SignInRequest{Handle: "alice", Password: "password1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Room(ctx, "r9"); !api.IsCode(err, api.CodeForbidden) {
		t.Fatalf("Room of a non-member: %v", err)
	}
	if _, err := c.User(ctx, "nobody"); !api.IsCode(err, api.CodeNotFound) {
		t.Fatalf("User nobody: %v", err)
	}
	// answers without a JSON body: the code comes from the status
	_, err = c.User(ctx, "limited")
	if !errors.As(err, &e) || e.Code != api.CodeRateLimited || e.RetryAfter() != 2*time.Second {
		t.Fatalf("429 without body: %#v", err)
	}
	if _, err := c.User(ctx, "broken"); !api.IsCode(err, api.CodeUnavailable) {
		t.Fatalf("502: %v", err)
	}
	// limits are checked before sending
	if _, err := c.Send(ctx, "r1", ""); !api.IsCode(err, api.CodeInvalid) {
		t.Fatalf("empty text: %v", err)
	}
	if _, err := c.Send(ctx, "r1", strings.Repeat("x", api.MaxTextBytes+1)); !api.IsCode(err, api.CodeTooLarge) {
		t.Fatalf("long text: %v", err)
	}
	if _, err := c.Send(ctx, "r1", "hi", WithID("bad id!")); !api.IsCode(err, api.CodeInvalid) {
		t.Fatalf("bad id: %v", err)
	}
	if _, err := c.Send(ctx, "", "hi"); !api.IsCode(err, api.CodeInvalid) {
		t.Fatalf("no room: %v", err)
	}
	if len(hub.events("r1")) != 0 {
		t.Fatal("an invalid send reached the server")
	}
}

func TestHTTPSendHistory(t *testing.T) {
	hub := newHub()
	n := hub.node(t)
	c := newTestClient(t, "", n.URL)
	ctx := ctxT(t, 5*time.Second)
	s, err := c.SignIn(ctx, api.SignInRequest{Handle: "bob", Password: "password1"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Token() != s.Token || s.Token != "tok-bob" {
		t.Fatalf("token not stored: %q", c.Token())
	}
	me, err := c.Me(ctx)
	if err != nil || me.ID != "ubob" {
		t.Fatalf("Me = %v, %v", me, err)
	}
	a1, err := c.Send(ctx, "r1", "one")
	if err != nil || a1.Seq != 1 || !api.ValidClientID(a1.ID) {
		t.Fatalf("Send = %+v, %v", a1, err)
	}
	a2, err := c.Send(ctx, "r1", "two", WithID("m-2"), WithReplyTo(1))
	if err != nil || a2.Seq != 2 || a2.Duplicate {
		t.Fatalf("Send = %+v, %v", a2, err)
	}
	a3, err := c.Send(ctx, "r1", "two", WithID("m-2"))
	if err != nil || a3.Seq != 2 || !a3.Duplicate {
		t.Fatalf("resend = %+v, %v", a3, err)
	}
	pg, err := c.History(ctx, "r1", HistoryQuery{After: 1})
	if err != nil || len(pg.Events) != 1 || pg.Events[0].Text != "two" || pg.Events[0].ReplyTo != 1 {
		t.Fatalf("History = %+v, %v", pg, err)
	}
}

func TestHTTPFailover(t *testing.T) {
	hub := newHub()
	n1, n2 := hub.node(t), hub.node(t)
	ctx := ctxT(t, 5*time.Second)

	// the first server is down: the request goes to the next
	c := newTestClient(t, "tok-alice", downURL(), n1.URL)
	if _, err := c.Me(ctx); err != nil {
		t.Fatalf("Me with the first server down: %v", err)
	}
	if c.cur.Load()%2 != 1 {
		t.Fatal("the client did not move on to the live server")
	}

	// the send is stored but its answer lost: the retry on the next node
	// carries the same id, so the message is stored once.
	c = newTestClient(t, "tok-alice", n1.URL, n2.URL)
	n1.dropReply.Store(1)
	a, err := c.Send(ctx, "r1", "once")
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if !a.Duplicate || a.Seq != 1 || len(hub.events("r1")) != 1 {
		t.Fatalf("ack %+v, %d events stored", a, len(hub.events("r1")))
	}

	// an error answer is not a network error: no retry elsewhere
	before := n1.reqs.Load() + n2.reqs.Load()
	if _, err := c.Room(ctx, "r9"); !api.IsCode(err, api.CodeForbidden) {
		t.Fatalf("Room: %v", err)
	}
	if got := n1.reqs.Load() + n2.reqs.Load() - before; got != 1 {
		t.Fatalf("an error answer was retried: %d requests", got)
	}
	n2.refuse.Store(true)

	// both down: a network error, not an *api.Error
	n1.refuse.Store(true)
	_, err = c.Me(ctx)
	var e *api.Error
	if err == nil || errors.As(err, &e) {
		t.Fatalf("Me with every server down: %v", err)
	}
	c.hc.CloseIdleConnections()
}
