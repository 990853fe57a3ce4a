package node_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dandanchat/dandan/api"
	"github.com/dandanchat/dandan/client"
	"github.com/dandanchat/dandan/internal/config"
	"github.com/dandanchat/dandan/internal/testnode"
	"github.com/gorilla/websocket"
)

func TestAccountsAndDevices(t *testing.T) {
	n := testnode.Start(t)
	c := ctx(t)
	alice := signUp(t, n, "alice")
	_, err := n.Client(t).SignUp(c, api.SignUpRequest{Handle: "Alice", Password: "another password"})
	wantCode(t, "duplicate handle", err, api.CodeHandleTaken)
	_, err = n.Client(t).SignUp(c, api.SignUpRequest{Handle: "x", Password: "another password"})
	wantCode(t, "short handle", err, api.CodeInvalid)
	_, err = n.Client(t).SignUp(c, api.SignUpRequest{Handle: "zed", Password: "short"})
	wantCode(t, "short password", err, api.CodeInvalid)
	_, err = n.Client(t).SignIn(c, api.SignInRequest{Handle: "alice", Password: "wrong password"})
	wantCode(t, "wrong password", err, api.CodeBadCredentials)
	_, err = n.Client(t).SignIn(c, api.SignInRequest{Handle: "nobody", Password: "wrong password"})
	wantCode(t, "unknown handle", err, api.CodeBadCredentials)

	phone := n.Client(t)
	s, err := phone.SignIn(c, api.SignInRequest{Handle: "alice", Password: "correct horse battery", DeviceName: "phone"})
	if err != nil {
		t.Fatal(err)
	}
	if s.Token == alice.Token() {
		t.Fatal("two devices share a token")
	}
	devs, err := alice.Devices(c)
	if err != nil || len(devs) != 2 {
		t.Fatalf("devices = %+v, %v", devs, err)
	}
	var current int
	for _, d := range devs {
		if d.Current {
			current++
		}
	}
	if current != 1 {
		t.Fatalf("%d devices marked current", current)
	}
	// Revoking the phone ends its token and its live session at once.
	lp := live(t, &user{Client: phone}, nil)
	if err := alice.RevokeDevice(c, s.Device.ID); err != nil {
		t.Fatal(err)
	}
	_, err = phone.Me(c)
	wantCode(t, "revoked token", err, api.CodeUnauthorized)
	waitFor(t, lp, "revoked session closed", func(u client.Update) bool { return u.Kind == client.Disconnected })
	if me, err := alice.Me(c); err != nil || me.Handle != "alice" {
		t.Fatalf("alice's own device after revoking the phone: %+v %v", me, err)
	}
	err = alice.RevokeDevice(c, "dnotmine00000000a")
	wantCode(t, "revoke unknown device", err, api.CodeNotFound)
	// Sign out everywhere.
	other := n.Client(t)
	if _, err := other.SignIn(c, api.SignInRequest{Handle: "alice", Password: "correct horse battery"}); err != nil {
		t.Fatal(err)
	}
	if err := alice.SignOutAll(c); err != nil {
		t.Fatal(err)
	}
	for _, cl := range []*client.Client{alice.Client, other} {
		_, err = cl.Me(c)
		wantCode(t, "after sign-out-all", err, api.CodeUnauthorized)
	}
	// Signing in again works.
	if _, err := n.Client(t).SignIn(c, api.SignInRequest{Handle: "alice", Password: "correct horse battery"}); err != nil {
		t.Fatal(err)
	}
}

// Bad input gets a clear error with a stable code and never hurts the node.
func TestBadInput(t *testing.T) {
	n := testnode.Start(t)
	alice := signUp(t, n, "alice")
	signUp(t, n, "bob")
	room, err := alice.CreateDirect(ctx(t), "bob")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + n.Config.HTTP
	auth := "Bearer " + alice.Token()
	tests := []struct {
		name, method, path, body, auth string
		status                         int
		code                           api.Code
	}{
		{"malformed json", "POST", "/v1/signup", `{"handle":`, "", 400, api.CodeBadRequest},
		{"unknown field", "POST", "/v1/signup", `{"handle":"x1x","password":"12345678","admin":true}`, "", 400, api.CodeBadRequest},
		{"oversized body", "POST", "/v1/rooms/" + room.ID + "/messages", `{"id":"a","text":"` + strings.Repeat("a", 70<<10) + `"}`, auth, 413, api.CodeTooLarge},
		{"oversized text", "POST", "/v1/rooms/" + room.ID + "/messages", `{"id":"a","text":"` + strings.Repeat("a", 16<<10+1) + `"}`, auth, 413, api.CodeTooLarge},
		{"empty text", "POST", "/v1/rooms/" + room.ID + "/messages", `{"id":"a","text":""}`, auth, 400, api.CodeInvalid},
		{"bad client id", "POST", "/v1/rooms/" + room.ID + "/messages", `{"id":"a b","text":"x"}`, auth, 400, api.CodeInvalid},
		{"no token", "GET", "/v1/rooms", "", "", 401, api.CodeUnauthorized},
		{"wrong token", "GET", "/v1/rooms", "", "Bearer dabcdefghijklmnop.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 401, api.CodeUnauthorized},
		{"garbage token", "GET", "/v1/rooms", "", "Bearer ###", 401, api.CodeUnauthorized},
		{"unknown room", "GET", "/v1/rooms/rnope/events", "", auth, 403, api.CodeForbidden},
		{"bad seq", "PATCH", "/v1/rooms/" + room.ID + "/messages/x", `{"id":"a","text":"x"}`, auth, 400, api.CodeBadRequest},
		{"bad query", "GET", "/v1/rooms/" + room.ID + "/events?before=-1", "", auth, 400, api.CodeBadRequest},
		{"unknown endpoint", "GET", "/v1/nope", "", auth, 404, api.CodeNotFound},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, base+tt.path, strings.NewReader(tt.body))
		if tt.auth != "" {
			req.Header.Set("Authorization", tt.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		var body api.ErrorBody
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err := json.Unmarshal(b, &body); err != nil || body.Error == nil {
			t.Errorf("%s: body %q is not an error object", tt.name, b)
			continue
		}
		if resp.StatusCode != tt.status || body.Error.Code != tt.code || body.Error.Message == "" {
			t.Errorf("%s: %d %+v, want %d %s", tt.name, resp.StatusCode, body.Error, tt.status, tt.code)
		}
	}

	// Malformed frames get error frames; the connection stays usable.
	ws := dialWS(t, n, alice.Token())
	for _, frame := range []string{`{`, `{"type":"bogus"}`, `{"type":"send","id":"x"}`, `[]`} {
		if err := ws.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
			t.Fatal(err)
		}
		f := readFrame(t, ws)
		if f.Type != api.FrameError || f.Error.Code != api.CodeBadRequest && f.Error.Code != api.CodeInvalid {
			t.Fatalf("frame %q answered with %+v", frame, f)
		}
	}
	_ = ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping"}`))
	if f := readFrame(t, ws); f.Type != api.FramePong {
		t.Fatalf("ping answered with %+v", f)
	}
	// An oversized frame closes the connection, and the node carries on.
	_ = ws.WriteMessage(websocket.TextMessage, bytes.Repeat([]byte("a"), api.MaxFrameBytes+10))
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		if _, _, err := ws.ReadMessage(); err != nil {
			break
		}
	}
	if _, err := alice.Send(ctx(t), room.ID, "still fine"); err != nil {
		t.Fatalf("node after bad input: %v", err)
	}
	// A wrong token on the WebSocket is refused with unauthorized.
	bad := dialWSRaw(t, n)
	_ = bad.WriteJSON(api.ClientFrame{Type: api.FrameAuth, Token: "nope"})
	if f := readFrame(t, bad); f.Type != api.FrameError || f.Error.Code != api.CodeUnauthorized {
		t.Fatalf("bad token answered with %+v", f)
	}
}

func dialWSRaw(t *testing.T, n *testnode.Node) *websocket.Conn {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+n.Config.HTTP+"/v1/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	return ws
}

func dialWS(t *testing.T, n *testnode.Node, token string) *websocket.Conn {
	t.Helper()
	ws := dialWSRaw(t, n)
	if err := ws.WriteJSON(api.ClientFrame{Type: api.FrameAuth, Token: token}); err != nil {
		t.Fatal(err)
	}
	if f := readFrame(t, ws); f.Type != api.FrameReady {
		t.Fatalf("auth answered with %+v", f)
	}
	return ws
}

// readFrame reads the next frame; one message may carry several, one per line.
func readFrame(t *testing.T, ws *websocket.Conn) api.ServerFrame {
	t.Helper()
	lines := pendingLines[ws]
	for len(lines) == 0 {
		_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, b, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("read frame: %v", err)
		}
		lines = strings.Split(string(b), "\n")
	}
	var f api.ServerFrame
	if err := json.Unmarshal([]byte(lines[0]), &f); err != nil {
		t.Fatalf("frame %q: %v", lines[0], err)
	}
	pendingLines[ws] = lines[1:]
	return f
}

// pendingLines holds frames read but not yet consumed, per connection (tests
// in this package do not run in parallel).
var pendingLines = map[*websocket.Conn][]string{}

// A device that does not read is cut off; the others keep receiving.
func TestSlowConsumerIsCut(t *testing.T) {
	n := testnode.Start(t, func(c *config.Config) { c.WSQueue = 16 })
	alice, bob := signUp(t, n, "alice"), signUp(t, n, "bob")
	room, err := alice.CreateDirect(ctx(t), "bob")
	if err != nil {
		t.Fatal(err)
	}
	slow := dialWS(t, n, bob.Token())
	_ = slow.WriteJSON(api.ClientFrame{Type: api.FrameSync, Cursors: map[string]uint64{room.ID: 0}})
	lb := live(t, bob, nil) // bob's other device reads normally
	waitFor(t, lb, "synced", func(u client.Update) bool { return u.Kind == client.Synced })
	la := live(t, alice, nil)
	drain(la)
	const total = 2000
	got := make(chan []api.Event, 1)
	go func() { got <- messages(gather(lb, room.ID, total, 60*time.Second)) }()
	var ps []*client.Pending
	for i := 0; i < total; i++ {
		ps = append(ps, la.SendAsync(room.ID, strings.Repeat("x", 10000)))
	}
	for _, p := range ps {
		if _, err := p.Wait(ctx(t)); err != nil {
			t.Fatal(err)
		}
	}
	if evs := <-got; len(evs) != total {
		t.Fatalf("reading device got %d of %d", len(evs), total)
	}
	// The device that does not read is cut once a write to it times out.
	deadline := time.Now().Add(30 * time.Second)
	for metricValue(t, n, "dandan_ws_slow_consumers_total") < 1 {
		if time.Now().After(deadline) {
			t.Fatal("the device that does not read was not cut")
		}
		time.Sleep(100 * time.Millisecond)
	}
	for metricValue(t, n, "dandan_ws_sessions") != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("%v sessions open, want alice's and bob's reading device", metricValue(t, n, "dandan_ws_sessions"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestRateLimits(t *testing.T) {
	n := testnode.Start(t, func(c *config.Config) { c.SendRate, c.SendBurst, c.AuthRate, c.AuthBurst = 1, 3, 1, 4 })
	alice := signUp(t, n, "alice")
	signUp(t, n, "bob")
	room, err := alice.CreateDirect(ctx(t), "bob")
	if err != nil {
		t.Fatal(err)
	}
	// Clients that do not retry refusals by themselves, to see the server's answers.
	noRetry := func(token string) *client.Client {
		c, err := client.New(client.Options{Servers: []string{"http://" + n.Config.HTTP}, Token: token, OverloadRetries: -1})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	var limited *api.Error
	for i := 0; i < 10 && limited == nil; i++ {
		_, err := noRetry(alice.Token()).Send(ctx(t), room.ID, "spam")
		errorsAs(err, &limited)
	}
	if limited == nil || limited.Code != api.CodeRateLimited || limited.RetryAfterMS <= 0 {
		t.Fatalf("no rate_limited error with retry_after: %+v", limited)
	}
	limited = nil
	for i := 0; i < 10 && limited == nil; i++ {
		_, err := noRetry("").SignIn(ctx(t), api.SignInRequest{Handle: "alice", Password: "wrong password"})
		errorsAs(err, &limited)
		if limited != nil && limited.Code != api.CodeRateLimited {
			limited = nil
		}
	}
	if limited == nil || limited.RetryAfterMS <= 0 {
		t.Fatal("sign-in attempts are not rate limited per address")
	}
}
