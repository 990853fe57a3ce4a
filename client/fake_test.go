package client

import (
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/dandanchat/dandan/api"
)

// fakeHub is the shared state of a fake cluster: users, one group room "r1"
// that everybody is in, its event log and the live connections. Several
// fakeNodes (HTTP servers) serve the same hub, like the nodes of a cluster.
type fakeHub struct {
	mu           sync.Mutex
	tokens       map[string]string // token → user id
	rooms        map[string]bool
	log          map[string][]api.Event
	acks         map[string]api.Ack // user/room/id → first ack
	sendFrames   map[string]int     // client id → send/edit/delete frames received
	conns        map[*fakeConn]bool
	authAttempts int
	overload     int   // answer the next n send frames "overloaded"
	retryAfterMS int64 // of those answers
	swallow      int   // ignore the next n send frames (no answer)
	loseAcks     bool  // store sends but lose one ack in three

	syncErrors    []*api.Error // answers to the next sync frames, in order
	receiptErrors []*api.Error // answers to the next receipt frames, in order
	received      []gotFrame   // every frame received after auth
}

// gotFrame is a frame received by the fake, and when.
type gotFrame struct {
	at time.Time
	api.ClientFrame
}

func newHub() *fakeHub {
	return &fakeHub{
		tokens:     map[string]string{"tok-alice": "ualice", "tok-bob": "ubob"},
		rooms:      map[string]bool{"r1": true},
		log:        map[string][]api.Event{},
		acks:       map[string]api.Ack{},
		sendFrames: map[string]int{},
		conns:      map[*fakeConn]bool{},
	}
}

// store appends ev to its room's log once per (sender, room, client id) and
// broadcasts it. h.mu must be held.
func (h *fakeHub) store(ev api.Event) api.Ack {
	key := ev.Sender + "/" + ev.Room + "/" + ev.ClientID
	if a, ok := h.acks[key]; ok {
		a.Duplicate = true
		return a
	}
	ev.Seq = uint64(len(h.log[ev.Room]) + 1)
	ev.Time = time.Now().UnixMilli()
	h.log[ev.Room] = append(h.log[ev.Room], ev)
	a := api.Ack{ID: ev.ClientID, Room: ev.Room, Seq: ev.Seq, Time: ev.Time}
	h.acks[key] = a
	for c := range h.conns {
		if c.live {
			c.enqueue(api.ServerFrame{Type: api.FrameEvent, Event: &ev})
		}
	}
	return a
}

func (h *fakeHub) killAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.conns {
		c.kill()
	}
}

func (h *fakeHub) killNode(n *fakeNode) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.conns {
		if c.node == n {
			c.kill()
		}
	}
}

// injectRaw sends b as a frame to every live connection.
func (h *fakeHub) injectRaw(b []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.conns {
		if c.live {
			c.enqueueRaw(b)
		}
	}
}

func (h *fakeHub) events(room string) []api.Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]api.Event(nil), h.log[room]...)
}

func (h *fakeHub) frames(id string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.sendFrames[id]
}

// got returns the frames of type typ received so far.
func (h *fakeHub) got(typ string) []gotFrame {
	h.mu.Lock()
	defer h.mu.Unlock()
	var fs []gotFrame
	for _, f := range h.received {
		if f.Type == typ {
			fs = append(fs, f)
		}
	}
	return fs
}

// errFrame is the error frame answering f.
func errFrame(f *api.ClientFrame, e *api.Error) api.ServerFrame {
	sf := api.ServerFrame{Type: api.FrameError, Ref: f.Type, ID: f.ID, Error: e}
	if f.Type == api.FrameReceipt {
		sf.RoomID = f.Room
	}
	return sf
}

func (h *fakeHub) set(f func(h *fakeHub)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	f(h)
}

// fakeNode is one HTTP server of the fake cluster.
type fakeNode struct {
	hub       *fakeHub
	srv       *httptest.Server
	URL       string
	refuse    atomic.Bool  // drop every new request or connection without answer
	silent    atomic.Bool  // after ready, ignore every frame and send nothing
	dropReply atomic.Int32 // the next n HTTP sends are stored, then dropped without answer
	reqs      atomic.Int64 // requests received
	shed      atomic.Int32 // the next n requests are answered shedWith, before any work
	shedWith  atomic.Pointer[api.Error]

	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup // WebSocket handlers (hijacked: httptest does not wait for them)
}

func (h *fakeHub) node(t testing.TB) *fakeNode {
	n := &fakeNode{hub: h}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/signin", n.signin)
	mux.HandleFunc("GET /v1/me", n.me)
	mux.HandleFunc("GET /v1/users/{user}", n.user)
	mux.HandleFunc("GET /v1/rooms/{room}", n.room)
	mux.HandleFunc("POST /v1/rooms/{room}/messages", n.send)
	mux.HandleFunc("GET /v1/rooms/{room}/events", n.eventsPage)
	mux.HandleFunc("GET /v1/ws", n.ws)
	n.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.reqs.Add(1)
		if n.refuse.Load() {
			hangUp(w)
			return
		}
		if n.shed.Add(-1) >= 0 {
			writeErr(w, n.shedWith.Load())
			return
		}
		mux.ServeHTTP(w, r)
	}))
	n.URL = n.srv.URL
	t.Cleanup(n.close)
	return n
}

func (n *fakeNode) close() {
	n.mu.Lock()
	n.closed = true
	n.mu.Unlock()
	n.hub.killNode(n)
	n.wg.Wait()
	n.srv.Close()
}

// downURL is the URL of a server that is not running.
func downURL() string {
	s := httptest.NewServer(http.NotFoundHandler())
	u := s.URL
	s.Close()
	return u
}

func hangUp(w http.ResponseWriter) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		_ = conn.Close()
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, e *api.Error) {
	writeJSON(w, e.Code.HTTPStatus(), api.ErrorBody{Error: e})
}

func (n *fakeNode) auth(w http.ResponseWriter, r *http.Request) (string, bool) {
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	n.hub.mu.Lock()
	u, ok := n.hub.tokens[tok]
	n.hub.mu.Unlock()
	if !ok {
		writeErr(w, api.Errorf(api.CodeUnauthorized, "bad token"))
	}
	return u, ok
}

func (n *fakeNode) signin(w http.ResponseWriter, r *http.Request) {
	var req api.SignInRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeErr(w, api.Errorf(api.CodeBadRequest, "bad json"))
		return
	}
	tok := "tok-" + req.Handle
	n.hub.mu.Lock()
	u, ok := n.hub.tokens[tok]
	n.hub.mu.Unlock()
	if !ok || req.Password != "password1" {
		writeErr(w, api.Errorf(api.CodeBadCredentials, "wrong handle or password"))
		return
	}
	writeJSON(w, http.StatusOK, api.Session{User: api.Me{User: api.User{ID: u, Handle: req.Handle}}, Token: tok})
}

func (n *fakeNode) me(w http.ResponseWriter, r *http.Request) {
	if u, ok := n.auth(w, r); ok {
		writeJSON(w, http.StatusOK, api.Me{User: api.User{ID: u}})
	}
}

func (n *fakeNode) user(w http.ResponseWriter, r *http.Request) {
	switch r.PathValue("user") {
	case "limited": // a proxy-style answer: status and header, no JSON
		w.Header().Set("Retry-After", "2")
		http.Error(w, "slow down", http.StatusTooManyRequests)
	case "broken":
		http.Error(w, "bad gateway", http.StatusBadGateway)
	default:
		writeErr(w, api.Errorf(api.CodeNotFound, "no such user"))
	}
}

func (n *fakeNode) room(w http.ResponseWriter, r *http.Request) {
	if _, ok := n.auth(w, r); !ok {
		return
	}
	n.hub.mu.Lock()
	defer n.hub.mu.Unlock()
	id := r.PathValue("room")
	if !n.hub.rooms[id] {
		writeErr(w, api.Errorf(api.CodeForbidden, "you are not a member of this room"))
		return
	}
	writeJSON(w, http.StatusOK, api.Room{ID: id, Kind: api.RoomGroup, LastSeq: uint64(len(n.hub.log[id]))})
}

func (n *fakeNode) send(w http.ResponseWriter, r *http.Request) {
	u, ok := n.auth(w, r)
	if !ok {
		return
	}
	var req api.SendRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || !api.ValidClientID(req.ID) {
		writeErr(w, api.Errorf(api.CodeBadRequest, "bad request"))
		return
	}
	room := r.PathValue("room")
	n.hub.mu.Lock()
	if !n.hub.rooms[room] {
		n.hub.mu.Unlock()
		writeErr(w, api.Errorf(api.CodeForbidden, "you are not a member of this room"))
		return
	}
	a := n.hub.store(api.Event{Room: room, Type: api.EventMessage, Sender: u, ClientID: req.ID, Text: req.Text, ReplyTo: req.ReplyTo})
	n.hub.mu.Unlock()
	if n.dropReply.Add(-1) >= 0 {
		hangUp(w)
		return
	}
	writeJSON(w, http.StatusOK, a)
}

func (n *fakeNode) eventsPage(w http.ResponseWriter, r *http.Request) {
	if _, ok := n.auth(w, r); !ok {
		return
	}
	after, _ := strconv.ParseUint(r.URL.Query().Get("after"), 10, 64)
	evs := n.hub.events(r.PathValue("room"))
	if after > uint64(len(evs)) {
		after = uint64(len(evs))
	}
	writeJSON(w, http.StatusOK, api.Page{Events: evs[after:]})
}

// fakeConn is one WebSocket connection of the fake.
type fakeConn struct {
	node *fakeNode
	ws   *websocket.Conn
	user string
	out  chan []byte
	live bool // synced: receives events; guarded by hub.mu
	once sync.Once
	gone chan struct{}
}

func (c *fakeConn) kill() {
	c.once.Do(func() {
		close(c.gone)
		_ = c.ws.Close()
	})
}

// enqueue queues a frame; a connection that falls behind is closed (slow consumer).
func (c *fakeConn) enqueue(f api.ServerFrame) {
	b, _ := json.Marshal(f)
	c.enqueueRaw(b)
}

func (c *fakeConn) enqueueRaw(b []byte) {
	select {
	case c.out <- b:
	default:
		c.kill()
	}
}

var upgrader = websocket.Upgrader{}

func (n *fakeNode) ws(w http.ResponseWriter, r *http.Request) {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		hangUp(w)
		return
	}
	n.wg.Add(1)
	n.mu.Unlock()
	defer n.wg.Done()

	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	h := n.hub
	c := &fakeConn{node: n, ws: ws, out: make(chan []byte, 8192), gone: make(chan struct{})}
	h.mu.Lock()
	h.conns[c] = true
	h.mu.Unlock()
	var writer sync.WaitGroup
	defer func() {
		c.kill()
		writer.Wait()
		h.mu.Lock()
		delete(h.conns, c)
		h.mu.Unlock()
	}()

	// auth, answered synchronously (the writer is not started yet)
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, b, err := ws.ReadMessage()
	if err != nil {
		return
	}
	f, err := api.DecodeClientFrame(b)
	if err == nil && f.Type != api.FrameAuth {
		err = api.Errorf(api.CodeBadRequest, "auth first")
	}
	if err != nil {
		_ = ws.WriteJSON(api.ServerFrame{Type: api.FrameError, Error: err.(*api.Error)})
		return
	}
	h.mu.Lock()
	h.authAttempts++
	c.user = h.tokens[f.Token]
	h.mu.Unlock()
	if c.user == "" {
		_ = ws.WriteJSON(api.ServerFrame{Type: api.FrameError, Error: api.Errorf(api.CodeUnauthorized, "bad token")})
		return
	}
	if err := ws.WriteJSON(api.ServerFrame{Type: api.FrameReady, User: c.user, Device: "d1"}); err != nil {
		return
	}
	writer.Go(func() {
		for {
			select {
			case b := <-c.out:
				_ = ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
				if ws.WriteMessage(websocket.TextMessage, b) != nil {
					c.kill()
					return
				}
			case <-c.gone:
				return
			}
		}
	})

	_ = ws.SetReadDeadline(time.Time{})
	for {
		_, b, err := ws.ReadMessage()
		if err != nil {
			return
		}
		if n.silent.Load() {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			f, err := api.DecodeClientFrame([]byte(line))
			if err != nil {
				h.mu.Lock()
				c.enqueue(api.ServerFrame{Type: api.FrameError, Error: err.(*api.Error)})
				h.mu.Unlock()
				continue
			}
			h.frame(c, f)
		}
	}
}

func (h *fakeHub) frame(c *fakeConn, f *api.ClientFrame) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.received = append(h.received, gotFrame{time.Now(), *f})
	switch f.Type {
	case api.FramePing:
		c.enqueue(api.ServerFrame{Type: api.FramePong})
	case api.FrameSync:
		if len(h.syncErrors) > 0 {
			c.enqueue(errFrame(f, h.syncErrors[0]))
			h.syncErrors = h.syncErrors[1:]
			return
		}
		for id := range h.rooms {
			c.enqueue(api.ServerFrame{Type: api.FrameRoom, Room: &api.Room{ID: id, Kind: api.RoomGroup, LastSeq: uint64(len(h.log[id]))}})
		}
		for id, cur := range f.Cursors {
			if !h.rooms[id] {
				continue
			}
			for i := range h.log[id][min(cur, uint64(len(h.log[id]))):] {
				c.enqueue(api.ServerFrame{Type: api.FrameEvent, Event: &h.log[id][int(cur)+i]})
			}
		}
		c.enqueue(api.ServerFrame{Type: api.FrameSynced})
		c.live = true
	case api.FrameSend, api.FrameEdit, api.FrameDelete:
		h.sendFrames[f.ID]++
		if h.swallow > 0 {
			h.swallow--
			return
		}
		if h.overload > 0 {
			h.overload--
			c.enqueue(errFrame(f, &api.Error{Code: api.CodeOverloaded, Message: "busy", RetryAfterMS: h.retryAfterMS}))
			return
		}
		if !h.rooms[f.Room] {
			c.enqueue(errFrame(f, api.Errorf(api.CodeForbidden, "you are not a member of this room")))
			return
		}
		typ := map[string]string{api.FrameSend: api.EventMessage, api.FrameEdit: api.EventEdit, api.FrameDelete: api.EventDelete}[f.Type]
		a := h.store(api.Event{Room: f.Room, Type: typ, Sender: c.user, ClientID: f.ID, Text: f.Text, ReplyTo: f.ReplyTo, Target: f.Target})
		if h.loseAcks && rand.IntN(3) == 0 {
			return
		}
		c.enqueue(api.ServerFrame{Type: api.FrameAck, ID: f.ID, Ack: &a})
	case api.FrameTyping:
		for o := range h.conns {
			if o != c && o.live {
				o.enqueue(api.ServerFrame{Type: api.FrameTyping, RoomID: f.Room, User: c.user})
			}
		}
	case api.FrameReceipt:
		if len(h.receiptErrors) > 0 {
			c.enqueue(errFrame(f, h.receiptErrors[0]))
			h.receiptErrors = h.receiptErrors[1:]
			return
		}
		rc := api.Receipt{Room: f.Room, User: c.user, Delivered: f.Delivered, Read: f.Read}
		for o := range h.conns {
			if o != c && o.live {
				o.enqueue(api.ServerFrame{Type: api.FrameReceipt, Receipt: &rc})
			}
		}
	}
}
