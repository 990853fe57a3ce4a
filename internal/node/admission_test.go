package node_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dandanchat/dandan/api"
	"github.com/dandanchat/dandan/internal/admit"
	"github.com/dandanchat/dandan/internal/config"
	"github.com/dandanchat/dandan/internal/testnode"
	"github.com/gorilla/websocket"
)

// load holds admitted message work on n until the node's load is at least
// level, and returns the function that ends it.
func load(t *testing.T, n *testnode.Node, level float64) (release func()) {
	t.Helper()
	a := n.Admission()
	var held []admit.Ticket
	for a.Load() < level {
		tk, err := a.Admit(admit.Message)
		if err != nil {
			t.Fatalf("holding load %.2f: %v", a.Load(), err)
		}
		held = append(held, tk)
	}
	return func() {
		for _, tk := range held {
			tk.Done()
		}
	}
}

// frameOf reads frames until one of type typ.
func frameOf(t *testing.T, ws *websocket.Conn, typ string) api.ServerFrame {
	t.Helper()
	for {
		if f := readFrame(t, ws); f.Type == typ {
			return f
		}
	}
}

// wantRefusal checks the refusal contract: code overloaded, with a
// retry_after of at least min.
func wantRefusal(t *testing.T, what string, e *api.Error, min time.Duration) {
	t.Helper()
	if e == nil || e.Code != api.CodeOverloaded || e.RetryAfter() < min {
		t.Errorf("%s: refusal %+v, want overloaded with retry_after ≥ %v", what, e, min)
	}
}

// get makes an authenticated GET and returns the status, the Retry-After
// header and the decoded error, if any.
func get(t *testing.T, n *testnode.Node, token, path string) (int, string, *api.Error) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+n.Config.HTTP+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body api.ErrorBody
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &body)
	return resp.StatusCode, resp.Header.Get("Retry-After"), body.Error
}

// TestShedOrderAndRetryAfter raises a real node's load step by step and
// checks, through the real protocol, that typing is shed first, then
// receipts, then syncs and reads, and message sends last; that every
// refusal says overloaded with retry_after (answering the frame it refuses,
// or as HTTP 503 with Retry-After); and that once the load falls everything
// is admitted again and the refused send, resent with its id, is stored
// once.
func TestShedOrderAndRetryAfter(t *testing.T) {
	n := testnode.Start(t, func(c *config.Config) { c.MaxInFlight = 100 })
	alice, bob := signUp(t, n, "alice"), signUp(t, n, "bob")
	room, err := alice.CreateDirect(ctx(t), bob.ID)
	if err != nil {
		t.Fatal(err)
	}
	aws := dialWS(t, n, alice.Token())
	bws := dialWS(t, n, bob.Token())
	for _, ws := range []*websocket.Conn{aws, bws} {
		_ = ws.WriteJSON(api.ClientFrame{Type: api.FrameSync})
		frameOf(t, ws, api.FrameSynced)
	}
	send := func(id string) api.ServerFrame {
		t.Helper()
		_ = aws.WriteJSON(api.ClientFrame{Type: api.FrameSend, ID: id, Room: room.ID, Text: id})
		for {
			f := readFrame(t, aws)
			if (f.Type == api.FrameAck && f.Ack.ID == id) || (f.Type == api.FrameError && f.ID == id) {
				return f
			}
		}
	}
	if f := send("m1"); f.Type != api.FrameAck {
		t.Fatalf("send on an idle node: %+v", f)
	}

	// Load 0.6: typing is dropped; receipts, reads and sends go through.
	release := load(t, n, 0.6)
	_ = aws.WriteJSON(api.ClientFrame{Type: api.FrameTyping, Room: room.ID})
	_ = aws.WriteJSON(api.ClientFrame{Type: api.FrameReceipt, Room: room.ID, Read: 1})
	// Bob sees alice's receipt but not her typing, which came first.
	for {
		f := readFrame(t, bws)
		if f.Type == api.FrameTyping {
			t.Fatal("a typing notice went through at load 0.6")
		}
		if f.Type == api.FrameReceipt && f.Receipt.User == alice.ID {
			break
		}
	}
	if st, _, e := get(t, n, alice.Token(), "/v1/rooms/"+room.ID+"/events"); st != 200 {
		t.Errorf("history at load 0.6: %d %+v", st, e)
	}
	release()

	// Load 0.75: receipts are refused, answered with their room.
	release = load(t, n, 0.75)
	_ = aws.WriteJSON(api.ClientFrame{Type: api.FrameReceipt, Room: room.ID, Read: 1})
	f := frameOf(t, aws, api.FrameError)
	if f.Ref != api.FrameReceipt || f.RoomID != room.ID {
		t.Errorf("receipt refusal answers ref %q room %q, want receipt, %s", f.Ref, f.RoomID, room.ID)
	}
	wantRefusal(t, "receipt at 0.75", f.Error, time.Second)
	if st, _, e := get(t, n, alice.Token(), "/v1/rooms/"+room.ID+"/events"); st != 200 {
		t.Errorf("history at load 0.75: %d %+v", st, e)
	}
	release()

	// Load 0.9: syncs and reads are refused; sends still go through.
	release = load(t, n, 0.9)
	_ = aws.WriteJSON(api.ClientFrame{Type: api.FrameSync, Cursors: map[string]uint64{room.ID: 0}})
	f = frameOf(t, aws, api.FrameError)
	if f.Ref != api.FrameSync {
		t.Errorf("sync refusal answers ref %q, want sync", f.Ref)
	}
	wantRefusal(t, "sync at 0.9", f.Error, 500*time.Millisecond)
	st, retry, e := get(t, n, alice.Token(), "/v1/rooms/"+room.ID+"/events")
	if secs, _ := strconv.Atoi(retry); st != http.StatusServiceUnavailable || secs < 1 {
		t.Errorf("history at load 0.9: status %d, Retry-After %q; want 503 with Retry-After", st, retry)
	}
	wantRefusal(t, "history at 0.9", e, 500*time.Millisecond)
	if f := send("m2"); f.Type != api.FrameAck {
		t.Errorf("send at load 0.9: %+v", f)
	}
	release()

	// Load 1: sends are refused with their id; resent later, stored once.
	release = load(t, n, 1)
	f = send("m3")
	if f.Type != api.FrameError || f.Ref != api.FrameSend {
		t.Errorf("send at load 1: %+v, want an error answering the send", f)
	}
	wantRefusal(t, "send at 1", f.Error, 250*time.Millisecond)
	release()
	if f := send("m3"); f.Type != api.FrameAck || f.Ack.Duplicate {
		t.Errorf("resend after the load fell: %+v, want a first ack", f)
	}
	if f := send("m3"); f.Type != api.FrameAck || !f.Ack.Duplicate {
		t.Errorf("second resend: %+v, want a duplicate ack", f)
	}
	// The refused sync, sent again, is admitted.
	_ = aws.WriteJSON(api.ClientFrame{Type: api.FrameSync, Cursors: map[string]uint64{room.ID: 0}})
	frameOf(t, aws, api.FrameSynced)

	// Shed order, as the node recorded it.
	a := n.Admission()
	order := []admit.Tier{admit.Typing, admit.Receipt, admit.Sync, admit.Message}
	for i, tier := range order {
		if a.FirstShed(tier).IsZero() {
			t.Fatalf("%s never shed", tier)
		}
		if i > 0 && a.FirstShed(tier).Before(a.FirstShed(order[i-1])) {
			t.Errorf("%s shed before %s", tier, order[i-1])
		}
	}
	// Every shed is counted by tier in /metrics.
	resp, err := http.Get("http://" + n.Config.HTTP + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`dandan_shed_total{tier="typing"} 1`, `dandan_shed_total{tier="receipt"} 1`,
		`dandan_shed_total{tier="sync"} 2`, `dandan_shed_total{tier="message"} 1`,
		`dandan_tier_refused_total{code="overloaded",tier="message"} 1`,
		// The error-rate objectives count WebSocket sends: m1, m2, m3
		// stored and acked again; m3 refused once.
		`dandan_slo_requests_total{component="messaging",result="ok"} 4`,
		`dandan_slo_requests_total{component="messaging",result="failed"} 1`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	hist := allHistory(t, alice, room.ID)
	if got := len(messages(hist)); got != 3 {
		t.Errorf("history holds %d messages, want 3 (m1, m2, m3 once)", got)
	}
}

// TestLanesHaveTheirOwnBudget fills the sign-in and connection lanes and
// checks that they refuse with retry_after while message traffic of
// connected devices is untouched.
func TestLanesHaveTheirOwnBudget(t *testing.T) {
	n := testnode.Start(t)
	alice, bob := signUp(t, n, "alice"), signUp(t, n, "bob")
	room, err := alice.CreateDirect(ctx(t), bob.ID)
	if err != nil {
		t.Fatal(err)
	}
	aws := dialWS(t, n, alice.Token())
	a := n.Admission()
	fill := func(l *admit.Lane) (release func()) {
		var rs []func()
		for {
			c, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
			r, err := l.Acquire(c)
			cancel()
			if err != nil {
				break
			}
			rs = append(rs, r)
		}
		return func() {
			for _, r := range rs {
				r()
			}
		}
	}
	releaseSignIns := fill(a.SignIns)
	resp, err := http.Post("http://"+n.Config.HTTP+"/v1/signin", "application/json",
		strings.NewReader(`{"handle":"alice","password":"correct horse battery"}`))
	if err != nil {
		t.Fatal(err)
	}
	var body api.ErrorBody
	_ = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("sign-in with a full lane: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	wantRefusal(t, "sign-in", body.Error, time.Second)

	releaseConnects := fill(a.Connects)
	ws := dialWSRaw(t, n)
	_ = ws.WriteJSON(api.ClientFrame{Type: api.FrameAuth, Token: bob.Token()})
	f := readFrame(t, ws)
	if f.Type != api.FrameError || f.Ref != api.FrameAuth {
		t.Errorf("connect with a full lane: %+v", f)
	}
	wantRefusal(t, "connect", f.Error, 500*time.Millisecond)
	_, _, err = ws.ReadMessage()
	var ce *websocket.CloseError
	if !errorsAs(err, &ce) || ce.Code != websocket.CloseTryAgainLater {
		t.Errorf("connection refused with %v, want close 1013 (try again later)", err)
	}

	// Meanwhile a connected device sends as usual.
	_ = aws.WriteJSON(api.ClientFrame{Type: api.FrameSend, ID: "during", Room: room.ID, Text: "hi"})
	if f := frameOf(t, aws, api.FrameAck); f.Ack.ID != "during" {
		t.Errorf("ack %+v", f.Ack)
	}
	releaseSignIns()
	releaseConnects()
	if _, err := alice.SignIn(ctx(t), api.SignInRequest{Handle: "alice", Password: "correct horse battery"}); err != nil {
		t.Errorf("sign-in after the storm: %v", err)
	}
	dialWS(t, n, bob.Token())
}
