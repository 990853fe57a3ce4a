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
	done := make(chan struct{})
	var conns atomic.Int32
	var mu sync.Mutex
	sends := map[int32][]string{} // connection → the send ids it read

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
		silent := func() { <-done } // read nothing more, answer nothing
		if n == 1 {
			silent()
			return
		}
		write := func(s string) bool { return conn.WriteMessage(websocket.TextMessage, []byte(s)) == nil }
		if _, _, err := conn.ReadMessage(); err != nil || !write(`{"type":"ready","user":"u1","device":"d1"}`) {
			return
		}
		for {
			_, b, err := conn.ReadMessage()
			if err != nil {
				return
			}
			for _, line := range bytes.Split(b, []byte("\n")) {
				var f struct{ Type, ID, Room string }
				if json.Unmarshal(line, &f) != nil {
					continue
				}
				switch f.Type {
				case "sync":
					write(`{"type":"synced"}`)
				case "ping":
					write(`{"type":"pong"}`)
				case "send":
					mu.Lock()
					sends[n] = append(sends[n], f.ID)
					mu.Unlock()
					if n == 2 {
						silent()
						return
					}
					write(fmt.Sprintf(`{"type":"ack","id":%q,"ack":{"id":%q,"room":%q,"seq":1,"ts":%d}}`,
						f.ID, f.ID, f.Room, time.Now().UnixMilli()))
				}
			}
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(done) }) // first: the silent handlers end

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
			ctxWait, err, conns.Load(), sends, eval[[]string](p, `window.__log || []`))
	}
	t.Logf("acknowledged after %v", time.Since(start).Round(time.Millisecond))
	mu.Lock()
	defer mu.Unlock()
	if conns.Load() != 3 || !slices.Equal(sends[2], []string{"m1"}) || !slices.Equal(sends[3], []string{"m1"}) {
		t.Errorf("connections: %d, sends read: %v; want 3 connections, m1 read once on the 2nd and the 3rd", conns.Load(), sends)
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
	var read []string // send ids, in the order the server read them
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
	refused := map[string]int{"m1": 600, "m2": 150, "m3": 150} // retry_after_ms, once each
	mux.HandleFunc("/v1/ws", func(w http.ResponseWriter, r *http.Request) {
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		write := func(s string) { _ = conn.WriteMessage(websocket.TextMessage, []byte(s)) }
		if _, _, err := conn.ReadMessage(); err != nil {
			return
		}
		write(`{"type":"ready","user":"u1","device":"d1"}`)
		seq := 0
		for {
			_, b, err := conn.ReadMessage()
			if err != nil {
				return
			}
			for _, line := range bytes.Split(b, []byte("\n")) {
				var f struct{ Type, ID, Room string }
				if json.Unmarshal(line, &f) != nil {
					continue
				}
				switch f.Type {
				case "sync":
					write(`{"type":"synced"}`)
				case "send":
					mu.Lock()
					read = append(read, f.ID)
					after, refuse := refused[f.ID]
					delete(refused, f.ID)
					mu.Unlock()
					if refuse {
						write(fmt.Sprintf(`{"type":"error","id":%q,"ref":"send","error":{"code":"unavailable","message":"storage is briefly unavailable","retry_after_ms":%d}}`, f.ID, after))
						continue
					}
					seq++
					write(fmt.Sprintf(`{"type":"ack","id":%q,"ack":{"id":%q,"room":%q,"seq":%d,"ts":%d}}`,
						f.ID, f.ID, f.Room, seq, time.Now().UnixMilli()))
				}
			}
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

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
