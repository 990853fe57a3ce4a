package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dandanchat/dandan/api"
	"github.com/dandanchat/dandan/client"
	"github.com/dandanchat/dandan/internal/testnode"
)

// user is a signed-up user with an SDK client.
type user struct {
	*client.Client
	ID     string
	Handle string
}

func signUp(t *testing.T, n *testnode.Node, handle string) *user {
	t.Helper()
	c := n.Client(t)
	s, err := c.SignUp(ctx(t), api.SignUpRequest{Handle: handle, Password: "correct horse battery"})
	if err != nil {
		t.Fatalf("sign up %s: %v", handle, err)
	}
	return &user{Client: c, ID: s.User.ID, Handle: handle}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

func live(t *testing.T, u *user, cursors map[string]uint64) *client.Live {
	t.Helper()
	l, err := u.Live(ctx(t), client.LiveOptions{Cursors: cursors, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	if err != nil {
		t.Fatalf("live %s: %v", u.Handle, err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// collect reads updates until want events of room arrived and returns the
// events in arrival order; it fails the test if they do not arrive in time.
func collect(t *testing.T, l *client.Live, room string, want int, timeout time.Duration) []api.Event {
	t.Helper()
	got := gather(l, room, want, timeout)
	if len(got) < want {
		t.Fatalf("%d of %d events of %s by the timeout (or the updates closed)", len(got), want, room)
	}
	return got
}

// gather is collect for use outside the test goroutine: it returns what it
// got by the deadline (or when the updates close) instead of failing.
func gather(l *client.Live, room string, want int, timeout time.Duration) []api.Event {
	var got []api.Event
	deadline := time.After(timeout)
	for len(got) < want {
		select {
		case u, ok := <-l.Updates():
			if !ok {
				return got
			}
			if u.Kind == client.EventUpdate && u.Event.Room == room {
				got = append(got, *u.Event)
			}
		case <-deadline:
			return got
		}
	}
	return got
}

// waitFor reads updates until match returns true.
func waitFor(t *testing.T, l *client.Live, what string, match func(client.Update) bool) client.Update {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		select {
		case u, ok := <-l.Updates():
			if !ok {
				t.Fatalf("updates closed waiting for %s", what)
			}
			if match(u) {
				return u
			}
		case <-deadline:
			t.Fatalf("timeout waiting for %s", what)
		}
	}
}

func messages(evs []api.Event) []api.Event {
	var out []api.Event
	for _, e := range evs {
		if e.Type == api.EventMessage {
			out = append(out, e)
		}
	}
	return out
}

// wantCode fails unless err is an *api.Error with code c.
func wantCode(t *testing.T, what string, err error, c api.Code) {
	t.Helper()
	if !api.IsCode(err, c) {
		t.Errorf("%s: got error %v, want code %s", what, err, c)
	}
}

// allHistory pages backwards through a room's whole history.
func allHistory(t *testing.T, u *user, room string) []api.Event {
	t.Helper()
	var all []api.Event
	before := uint64(0)
	for i := 0; i < 1000; i++ {
		p, err := u.History(ctx(t), room, client.HistoryQuery{Before: before, Limit: 37})
		if err != nil {
			t.Fatalf("history: %v", err)
		}
		all = append(append([]api.Event(nil), p.Events...), all...)
		if !p.HasMore || len(p.Events) == 0 {
			return all
		}
		before = p.Events[0].Seq
	}
	t.Fatal("history did not end")
	return nil
}

func checkSeqs(t *testing.T, what string, evs []api.Event) {
	t.Helper()
	for i := 1; i < len(evs); i++ {
		if evs[i].Seq != evs[i-1].Seq+1 {
			t.Fatalf("%s: seq %d follows %d", what, evs[i].Seq, evs[i-1].Seq)
		}
	}
}

var _ = fmt.Sprint

// drain discards l's updates, for a Live whose events the test ignores (an
// undrained Live stops reading, as the SDK documents).
func drain(l *client.Live) {
	go func() {
		for range l.Updates() {
		}
	}()
}

// adminCaller calls a node's operators' API with token; it decodes the
// answer into out (if not nil) and returns the status code.
func adminCaller(t *testing.T, base, token string) func(method, path, body string, out any) int {
	return func(method, path, body string, out any) int {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if out != nil {
			_ = json.NewDecoder(resp.Body).Decode(out)
		}
		return resp.StatusCode
	}
}
