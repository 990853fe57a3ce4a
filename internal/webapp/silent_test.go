package webapp_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/gorilla/websocket"

	"github.com/dandanchat/dandan/internal/webapp"
)

// fakeFrame is what the fake sites read of a client frame.
type fakeFrame struct{ Type, ID, Room string }

// fakeSite serves the web client's files, a blank page at /t to load
// them in, and a fake /v1/ws. Its n-th connection (from 1) answers the
// auth frame with ready, unless ready(n) says to go silent, and sync
// with synced; it hands every send to onSend, which answers through
// write, or returns false for the connection to go silent. A silent
// connection reads nothing more, not even a close, until the test ends.
func fakeSite(t *testing.T, ready func(n int32) bool, onSend func(n int32, f fakeFrame, write func(string)) bool) *httptest.Server {
	done := make(chan struct{})
	var conns atomic.Int32
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	mux := http.NewServeMux()
	mux.Handle("/app/", webapp.New())
	mux.HandleFunc("/t", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, "<!doctype html><title>t</title>")
	})
	mux.HandleFunc("/v1/cluster", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"nodes":[]}`)
	})
	mux.HandleFunc("/v1/ws", func(w http.ResponseWriter, r *http.Request) {
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		n := conns.Add(1)
		write := func(s string) { _ = conn.WriteMessage(websocket.TextMessage, []byte(s)) }
		if ready != nil && !ready(n) {
			<-done
			return
		}
		if _, _, err := conn.ReadMessage(); err != nil {
			return
		}
		write(`{"type":"ready","user":"u1","device":"d1"}`)
		for {
			_, b, err := conn.ReadMessage()
			if err != nil {
				return
			}
			for _, line := range bytes.Split(b, []byte("\n")) {
				var f fakeFrame
				if json.Unmarshal(line, &f) != nil {
					continue
				}
				switch f.Type {
				case "sync":
					write(`{"type":"synced"}`)
				case "ping":
					write(`{"type":"pong"}`)
				case "send":
					if !onSend(n, f, write) {
						<-done
						return
					}
				}
			}
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(done) }) // first: the silent handlers end
	return srv
}

// ackFrame is the fake sites' acknowledgement of f as seq.
func ackFrame(f fakeFrame, seq int) string {
	return fmt.Sprintf(`{"type":"ack","id":%q,"ack":{"id":%q,"room":%q,"seq":%d,"ts":%d}}`,
		f.ID, f.ID, f.Room, seq, time.Now().UnixMilli())
}

// TestSilentConnection drives net.js's Live against a fake server whose
// connections go silent: the first never answers the auth frame, the
// second takes a send and never answers it. Neither reads anything more,
// not even the close the client starts, as a server stuck behind its
// storage or a dead network path would not: the browser then reports the
// close only after a minute or more. The client must not wait for that
// report, but reconnect once its handshake or ack timeout is up (shortened
// here), and resend the send with the same id on the third connection,
// which answers. Before, the page sat there saying "Connected", the
// message pending, for as long as the browser waited.
func TestSilentConnection(t *testing.T) {
	br := newBrowser(t, 60*time.Second)
	var mu sync.Mutex
	var conns int32
	sends := map[int32][]string{} // connection → the send ids it read
	srv := fakeSite(t, func(n int32) bool {
		mu.Lock()
		conns = n
		mu.Unlock()
		return n != 1 // the first never answers the auth
	}, func(n int32, f fakeFrame, write func(string)) bool {
		mu.Lock()
		sends[n] = append(sends[n], f.ID)
		mu.Unlock()
		if n == 2 {
			return false // takes the send, answers nothing more
		}
		write(ackFrame(f, 1))
		return true
	})

	p := br.page("live")
	p.do(chromedp.Navigate(srv.URL + "/t"))
	p.run(`void import('/app/net.js').then((m) => {
		window.__log = [];
		const sites = new m.Sites(location.origin, localStorage);
		const live = new m.Live({
			sites, getToken: () => 'token', getCursors: () => ({}), storage: localStorage, tabStorage: sessionStorage, user: 'u1',
			timeouts: { ack: 1000, handshake: 1000 },
			on: {
				status: (s) => window.__log.push('status ' + s.state),
				ack: (e, a) => window.__log.push('ack ' + e.id + ' ' + a.seq),
			},
		});
		window.__live = live;
		live.start();
		live.enqueue({ id: 'm1', type: 'send', room: 'r1', text: 'hello' });
	})`)
	start := time.Now()
	// Two timeouts of 1 s, two reconnections of under a second each, and
	// flushes a second apart: well under 10 s. Waiting for the browser's
	// close takes a minute or more.
	ok := `!!window.__live && window.__live.ready && window.__live.entries.length === 0 && window.__log.includes('ack m1 1')`
	ctxWait := 10 * time.Second
	if err := pollJS(p, ok, ctxWait); err != nil {
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("the send was not acknowledged within %v: %v\nconnections: %d, sends read: %v\nlog: %v",
			ctxWait, err, conns, sends, eval[[]string](p, `window.__log || []`))
	}
	t.Logf("acknowledged after %v", time.Since(start).Round(time.Millisecond))
	mu.Lock()
	defer mu.Unlock()
	if conns != 3 || !slices.Equal(sends[2], []string{"m1"}) || !slices.Equal(sends[3], []string{"m1"}) {
		t.Errorf("connections: %d, sends read: %v; want 3 connections, m1 read once on the 2nd and the 3rd", conns, sends)
	}
}

// pollJS polls the predicate js in p every 50 ms for up to d.
func pollJS(p *page, js string, d time.Duration) error {
	_, err := chromedp.Run(p.ctx, chromedp.Poll[chromedp.Void](js,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(d)))
	return err
}

// TestRoomOrderAfterRefusal: a storage failure refuses a room's queued
// sends at once, here with a longer retry for the first than for the
// others. They must still reach the server in the order typed (the server
// stores them in the order it reads them), while another room's message
// is not held up.
func TestRoomOrderAfterRefusal(t *testing.T) {
	br := newBrowser(t, 60*time.Second)
	var mu sync.Mutex
	// The send ids in the order the server read them, and the sends it
	// refuses once each, with their retry_after_ms.
	var read []string
	refused := map[string]int{"m1": 600, "m2": 150, "m3": 150}
	seq := 0
	srv := fakeSite(t, nil, func(_ int32, f fakeFrame, write func(string)) bool {
		mu.Lock()
		defer mu.Unlock()
		read = append(read, f.ID)
		if after, refuse := refused[f.ID]; refuse {
			delete(refused, f.ID)
			write(fmt.Sprintf(`{"type":"error","id":%q,"ref":"send","error":{"code":"unavailable","message":"storage is briefly unavailable","retry_after_ms":%d}}`, f.ID, after))
			return true
		}
		seq++
		write(ackFrame(f, seq))
		return true
	})
	p := br.page("order")
	p.do(chromedp.Navigate(srv.URL + "/t"))
	p.run(`void import('/app/net.js').then((m) => {
		const sites = new m.Sites(location.origin, localStorage);
		const live = new m.Live({
			sites, getToken: () => 'token', getCursors: () => ({}), storage: localStorage, tabStorage: sessionStorage, user: 'u1',
			on: {},
		});
		window.__live = live;
		for (const [id, room] of [['m1', 'r'], ['m2', 'r'], ['m3', 'r']]) live.enqueue({ id, type: 'send', room, text: id });
		live.start();
		// Another room's message, typed once the first three are refused.
		const typeO1 = () => (live.entries.filter((e) => e.retryAt > 0).length === 3
			? live.enqueue({ id: 'o1', type: 'send', room: 'q', text: 'o1' }) : setTimeout(typeO1, 10));
		typeO1();
	})`)
	if err := pollJS(p, `!!window.__live && window.__live.entries.length === 0`, 15*time.Second); err != nil {
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("the outbox did not empty: %v; the server read %v", err, read)
	}
	mu.Lock()
	defer mu.Unlock()
	// The first three as typed and refused, then o1 at once (room q is not
	// held), then room r again in the order typed, although m2 and m3 were
	// due 450 ms before m1.
	if want := []string{"m1", "m2", "m3", "o1", "m1", "m2", "m3"}; !slices.Equal(read, want) {
		t.Errorf("the server read %v, want %v", read, want)
	}
}
