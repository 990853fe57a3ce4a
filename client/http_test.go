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
	// answers without a JSON body: the code comes from the status (and, as
	// the Retry-After outlasts the deadline, the refusal is not retried)
	_, err = c.User(ctxT(t, time.Second), "limited")
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

// Requests refused for load are retried on the same server after the wait
// asked, POSTs included; other errors are not.
func TestHTTPOverloadRetry(t *testing.T) {
	hub := newHub()
	n1, n2 := hub.node(t), hub.node(t)
	c := newTestClient(t, "tok-alice", n1.URL, n2.URL)
	ctx := ctxT(t, 5*time.Second)
	shed := func(times int32, code api.Code, retryAfterMS int64) {
		n1.shedWith.Store(&api.Error{Code: code, Message: "busy", RetryAfterMS: retryAfterMS})
		n1.shed.Store(times)
	}
	reqs := func() (int64, int64) { return n1.reqs.Load(), n2.reqs.Load() }
	since := func(b1, b2 int64) (int64, int64) {
		a1, a2 := reqs()
		return a1 - b1, a2 - b2
	}

	// refused twice, then stored once with the body sent every time
	shed(2, api.CodeOverloaded, 50)
	b1, b2 := reqs()
	start := time.Now()
	a, err := c.Send(ctx, "r1", "hello", WithID("h-1"))
	el := time.Since(start)
	if err != nil || a.Seq != 1 || a.Duplicate {
		t.Fatalf("Send: %+v, %v", a, err)
	}
	if d1, d2 := since(b1, b2); d1 != 3 || d2 != 0 {
		t.Fatalf("%d+%d requests, want 3 on the first server", d1, d2)
	}
	if el < 100*time.Millisecond {
		t.Fatalf("took %v, want ≥ 2 × retry_after", el)
	}
	if evs := hub.events("r1"); len(evs) != 1 || evs[0].Text != "hello" {
		t.Fatalf("stored %+v", evs)
	}

	// rate_limited too; up to OverloadRetries retries, then the refusal
	shed(100, api.CodeRateLimited, 5)
	b1, b2 = reqs()
	if _, err := c.Me(ctx); !api.IsCode(err, api.CodeRateLimited) {
		t.Fatalf("Me, always refused: %v", err)
	}
	if d1, d2 := since(b1, b2); d1 != 1+DefaultOverloadRetries || d2 != 0 {
		t.Fatalf("%d+%d requests, want %d on the first server", d1, d2, 1+DefaultOverloadRetries)
	}
	for retries, want := range map[int]int64{-1: 1, 1: 2} {
		c2, err := New(Options{Servers: []string{n1.URL}, Token: "tok-alice", OverloadRetries: retries})
		if err != nil {
			t.Fatal(err)
		}
		b1, _ = reqs()
		if _, err := c2.Me(ctx); !api.IsCode(err, api.CodeRateLimited) {
			t.Fatalf("Me with %d retries: %v", retries, err)
		}
		if d1, _ := since(b1, 0); d1 != want {
			t.Fatalf("OverloadRetries %d: %d requests, want %d", retries, d1, want)
		}
		c2.hc.CloseIdleConnections()
	}

	// a wait beyond the deadline: the refusal at once
	shed(1, api.CodeOverloaded, 2000)
	b1, _ = reqs()
	start = time.Now()
	if _, err := c.Me(ctxT(t, 300*time.Millisecond)); !api.IsCode(err, api.CodeOverloaded) {
		t.Fatalf("Me with a short deadline: %v", err)
	}
	if el := time.Since(start); el > 200*time.Millisecond {
		t.Fatalf("took %v, want the refusal at once", el)
	}
	if d1, _ := since(b1, 0); d1 != 1 {
		t.Fatalf("%d requests", d1)
	}

	// unavailable is not retried, here or elsewhere
	shed(1, api.CodeUnavailable, 10)
	b1, b2 = reqs()
	if _, err := c.Me(ctx); !api.IsCode(err, api.CodeUnavailable) {
		t.Fatalf("Me, unavailable: %v", err)
	}
	if d1, d2 := since(b1, b2); d1 != 1 || d2 != 0 {
		t.Fatalf("unavailable retried: %d+%d requests", d1, d2)
	}

	// cut_off still moves on to the next server, without waiting
	shed(1, api.CodeCutOff, 2000)
	b1, b2 = reqs()
	start = time.Now()
	if _, err := c.Me(ctx); err != nil {
		t.Fatalf("Me, first server cut off: %v", err)
	}
	if d1, d2 := since(b1, b2); d1 != 1 || d2 != 1 || time.Since(start) > time.Second {
		t.Fatalf("cut off: %d+%d requests in %v", d1, d2, time.Since(start))
	}
	c.hc.CloseIdleConnections()
}
