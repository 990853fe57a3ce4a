package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/dandanchat/dandan/api"
	"github.com/dandanchat/dandan/internal/admit"
	"github.com/dandanchat/dandan/internal/deadline"
	"github.com/dandanchat/dandan/internal/httpapi"
	"github.com/dandanchat/dandan/internal/messenger"
	"github.com/gorilla/websocket"
)

// Close codes beyond the standard ones; the reason text is the error code.
const (
	closeUnauthorized = 4001
	closeOverloaded   = websocket.CloseTryAgainLater // 1013
	closeSlow         = 4008
	closeCutOff       = 4503
)

// ErrCutOff refuses connections and requests while the node is cut off
// from the cluster.
var ErrCutOff = &api.Error{Code: api.CodeCutOff, Message: "this site is cut off from the cluster; use another", RetryAfterMS: 1000}

// catchUpBatch is how many stored events one read fetches during catch-up.
const catchUpBatch = 256

// writeTimeout is how long a write to a device may block before the device
// counts as not reading and is cut.
const writeTimeout = 10 * time.Second

// joinBacklog is how many recent events a session receives for a room the
// user has just joined (the rest is paged over HTTP).
const joinBacklog = 50

type itemKind uint8

const (
	itemFrame  itemKind = iota // write frame as is
	itemEvent                  // a live event of room at seq
	itemSync                   // catch up from cursors, then go live
	itemJoined                 // the user joined room
	itemLeft                   // the user left room
)

type item struct {
	kind    itemKind
	room    string
	seq     uint64
	frame   []byte
	cursors map[string]uint64
}

// session is one WebSocket connection of one device. The HTTP handler's
// goroutine reads frames; a writer goroutine owns the connection's writes,
// the cursors and the queue's order.
type session struct {
	g      *Gateway
	conn   *websocket.Conn
	caller messenger.Caller
	ctx    context.Context
	cancel context.CancelFunc

	hubRooms map[string]struct{} // guarded by g.mu

	qmu      sync.Mutex
	behind   map[string]uint64 // rooms whose live events overflowed the queue, up to seq
	queue    *batch            // nil when empty
	writing  bool              // a drain goroutine runs (guarded by qmu)
	writers  sync.WaitGroup    // drain goroutines
	dead     bool
	inflight chan struct{}

	lmu    sync.Mutex
	lanes  map[string][]laneItem // per room: sends waiting their turn
	queued int                   // items in all lanes

	// Owned by the writer goroutine.
	wbuf    []byte // the WebSocket message being assembled
	wframes int    // frames in wbuf
	synced  bool
	cursors map[string]uint64
	presync []item
}

// ServeHTTP upgrades the request and hands the connection to a session
// goroutine of its own, so that the HTTP server's goroutine (with its grown
// stack, request and response buffers) ends: an idle session then costs one
// small goroutine and its buffers.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if g.closing.Load() || g.draining.Load() {
		// Not an API error: the client treats it like a lost node and
		// connects to another one.
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	if g.cutOff.Load() {
		httpapi.WriteError(w, ErrCutOff)
		return
	}
	select {
	case <-g.svc.Index().Ready():
	default: // live events flow only once the read model has replayed
		httpapi.WriteError(w, &api.Error{Code: api.CodeUnavailable, Message: "the node is starting", RetryAfterMS: 1000})
		return
	}
	addr, _, _ := net.SplitHostPort(r.RemoteAddr)
	if e := g.cfg.ConnectLimit.Check(addr, "too many connections, slow down"); e != nil {
		g.refuse(g.cfg.Admit.Connects.Name(), e)
		httpapi.WriteError(w, e)
		return
	}
	// New sessions cost memory, and a full queue of token checks means a
	// reconnect storm: refuse before the upgrade, the cheapest moment.
	if a := g.cfg.Admit; a.MemoryFull() || a.Connects.Busy() {
		e := a.Connects.Refuse()
		g.refuse(a.Connects.Name(), e)
		httpapi.WriteError(w, e)
		return
	}
	conn, err := g.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader has answered
	}
	// A WaitGroup must not grow once Shutdown waits on it.
	g.admit.Lock()
	if g.closing.Load() {
		g.admit.Unlock()
		_ = conn.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseGoingAway, "node shutting down"), time.Now().Add(time.Second))
		conn.Close()
		return
	}
	g.sessions.Add(1)
	g.admit.Unlock()
	go g.serve(conn)
}

// serve runs one connection until it ends.
func (g *Gateway) serve(conn *websocket.Conn) {
	defer g.sessions.Done()
	defer conn.Close()
	conn.SetReadLimit(api.MaxFrameBytes)

	caller, err := g.authenticate(context.Background(), conn)
	if err != nil {
		writeFrame(conn, api.ServerFrame{Type: api.FrameError, Ref: api.FrameAuth, Error: api.AsError(err)})
		code := closeUnauthorized
		if e := api.AsError(err); e.Code == api.CodeOverloaded {
			code = closeOverloaded
			g.refuse(g.cfg.Admit.Connects.Name(), e)
		}
		_ = conn.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(code, string(api.CodeOf(err))), time.Now().Add(time.Second))
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &session{g: g, conn: conn, caller: caller, ctx: ctx, cancel: cancel,
		inflight: make(chan struct{}, g.cfg.MaxInFlight)}
	defer cancel()
	if !g.register(s) {
		return
	}
	defer g.unregister(s)
	g.m.Sessions.Inc()
	defer g.m.Sessions.Dec()

	s.pushFrame(api.ServerFrame{Type: api.FrameReady, User: caller.User, Device: caller.Device})
	s.readLoop()
	s.kill(websocket.CloseNormalClosure, "")
	s.writers.Wait()
}

func (g *Gateway) authenticate(ctx context.Context, conn *websocket.Conn) (messenger.Caller, error) {
	_ = conn.SetReadDeadline(time.Now().Add(g.cfg.AuthTimeout))
	_, b, err := conn.ReadMessage()
	if err != nil {
		return messenger.Caller{}, api.Errorf(api.CodeUnauthorized, "no auth frame")
	}
	f, err := api.DecodeClientFrame(b)
	if err != nil {
		return messenger.Caller{}, err
	}
	if f.Type != api.FrameAuth {
		return messenger.Caller{}, api.Errorf(api.CodeUnauthorized, "the first frame must be auth")
	}
	// Token checks have a budget of their own: a reconnect storm waits
	// its turn here instead of crowding out message traffic.
	release, e := g.cfg.Admit.Connects.Acquire(ctx)
	if e != nil {
		return messenger.Caller{}, e
	}
	defer release()
	return g.svc.Authenticate(ctx, f.Token)
}

func (s *session) readLoop() {
	g := s.g
	idle := deadline.New(s.conn.SetReadDeadline, g.cfg.IdleTimeout)
	s.conn.SetPongHandler(func(string) error { return idle.Renew() })
	for {
		_ = idle.Renew()
		m, err := g.reads.Read(s.conn)
		if err != nil {
			return
		}
		// A message carries one or more frames, one per line.
		b := m.Bytes()
		for len(b) > 0 {
			line := b
			if i := bytes.IndexByte(b, '\n'); i >= 0 {
				line, b = b[:i], b[i+1:]
			} else {
				b = nil
			}
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			f, err := api.DecodeClientFrame(line)
			if err != nil {
				g.m.Refused.WithLabelValues(string(api.CodeOf(err))).Inc()
				s.pushFrame(api.ServerFrame{Type: api.FrameError, Error: api.AsError(err)})
				continue
			}
			g.framesIn(f.Type).Inc()
			s.handle(f)
		}
		m.Release() // the frames hold copies of what they need
	}
}

func (s *session) handle(f *api.ClientFrame) {
	g, c := s.g, s.caller
	refuse := func(t admit.Tier, e *api.Error) {
		g.refuse(t.String(), e)
		if t == admit.Message {
			g.outcome(f.Type, e)
		}
		if f.Type == api.FrameTyping {
			return // typing notices are simply dropped
		}
		s.pushFrame(api.ServerFrame{Type: api.FrameError, ID: f.ID, Ref: f.Type, RoomID: roomOf(f), Error: e})
	}
	tier := tierOf(f.Type)
	switch f.Type {
	case api.FrameSync, api.FrameReceipt, api.FrameTyping, api.FramePing:
		if e := g.cfg.FrameLimit.Check(c.Device, "too many frames"); e != nil {
			refuse(tier, e)
			return
		}
	case api.FrameSend, api.FrameEdit, api.FrameDelete:
		if e := g.cfg.SendLimit.Check(c.Device, "sending too fast"); e != nil {
			refuse(tier, e)
			return
		}
	}
	switch f.Type {
	case api.FrameAuth:
		s.pushFrame(api.ServerFrame{Type: api.FrameError, Ref: f.Type, Error: api.Errorf(api.CodeBadRequest, "already authenticated")})
	case api.FrameSync:
		// Admitted when the writer gets to it (see process).
		s.push(item{kind: itemSync, cursors: f.Cursors})
	case api.FramePing:
		s.pushFrame(api.ServerFrame{Type: api.FramePong})
	case api.FrameTyping:
		t, e := g.cfg.Admit.Admit(admit.Typing)
		if e != nil {
			refuse(tier, e)
			return
		}
		_ = g.svc.Typing(s.ctx, c, f.Room)
		t.Done()
	case api.FrameSend, api.FrameEdit, api.FrameDelete:
		t, e := g.cfg.Admit.Admit(admit.Message)
		if e != nil {
			refuse(tier, e)
			return
		}
		s.inRoomOrder(f.Room, t, func(e *api.Error) {
			g.outcome(f.Type, e)
			s.pushFrame(api.ServerFrame{Type: api.FrameError, ID: f.ID, Ref: f.Type, Error: e})
		}, func(ctx context.Context) error {
			start := time.Now()
			var ack *api.Ack
			var err error
			switch f.Type {
			case api.FrameSend:
				ack, err = g.svc.Send(ctx, c, f.Room, api.SendRequest{ID: f.ID, Text: f.Text, ReplyTo: f.ReplyTo})
			case api.FrameEdit:
				ack, err = g.svc.Edit(ctx, c, f.Room, f.Target, api.EditRequest{ID: f.ID, Text: f.Text})
			default:
				ack, err = g.svc.Delete(ctx, c, f.Room, f.Target, f.ID)
			}
			g.opLatency(f.Type).Observe(time.Since(start).Seconds())
			g.outcome(f.Type, err)
			if err != nil {
				g.m.Refused.WithLabelValues(string(api.CodeOf(err))).Inc()
				s.pushFrame(api.ServerFrame{Type: api.FrameError, ID: f.ID, Ref: f.Type, Error: api.AsError(err)})
				return err
			}
			g.stored(f.Type).Inc()
			s.push(item{kind: itemFrame, frame: ackFrame(ack)})
			return nil
		})
	case api.FrameReceipt:
		t, e := g.cfg.Admit.Admit(admit.Receipt)
		if e != nil {
			refuse(tier, e)
			return
		}
		s.async(t, func(ctx context.Context) {
			_, err := g.svc.MarkReceipt(ctx, c, f.Room, api.ReceiptRequest{Delivered: f.Delivered, Read: f.Read})
			if err != nil {
				s.pushFrame(api.ServerFrame{Type: api.FrameError, Ref: f.Type, RoomID: f.Room, Error: api.AsError(err)})
			}
		})
	}
}

// tierOf is the admission tier of a client frame type.
func tierOf(typ string) admit.Tier {
	switch typ {
	case api.FrameSend, api.FrameEdit, api.FrameDelete:
		return admit.Message
	case api.FrameReceipt:
		return admit.Receipt
	case api.FrameTyping:
		return admit.Typing
	}
	return admit.Sync
}

// roomOf is the room an error answering f names: that of a receipt, so the
// client knows which one to send again.
func roomOf(f *api.ClientFrame) string {
	if f.Type == api.FrameReceipt {
		return f.Room
	}
	return ""
}

// refuse counts a refusal by its code and by tier (or lane).
func (g *Gateway) refuse(tier string, e *api.Error) {
	g.m.Refused.WithLabelValues(string(e.Code)).Inc()
	g.cfg.Admit.Refused(tier, e.Code)
}

// laneItem is a send waiting in its room's lane: run stores it and answers
// (returning the error it answered with); fail answers without storing.
// Its admission ticket is done once it has been run or answered.
type laneItem struct {
	ticket admit.Ticket
	run    func(context.Context) error
	fail   func(*api.Error)
}

// maxQueuedPerSlot bounds the sends waiting in a session's lanes, per
// MaxInFlight slot.
const maxQueuedPerSlot = 4

// errLanesFull refuses a send when too many wait in the session's lanes.
var errLanesFull = &api.Error{Code: api.CodeOverloaded, Message: "too many sends waiting; retry", RetryAfterMS: 500}

// inRoomOrder runs a send after every earlier one of this session for the
// same room has finished, so that a device's pipelined sends to one room
// are stored in the order it sent them, while sends to different rooms
// proceed in parallel, at most MaxInFlight at once. Waiting sends hold no
// slot: a room whose stream is electing a leader must not hold up the
// session's other rooms. When a send fails with unavailable, the sends
// queued behind it in its lane are answered the same at once instead of
// each waiting out its own timeout; the client resends them.
func (s *session) inRoomOrder(room string, t admit.Ticket, fail func(*api.Error), run func(context.Context) error) {
	s.lmu.Lock()
	if s.queued >= maxQueuedPerSlot*cap(s.inflight) {
		s.lmu.Unlock()
		t.Done()
		s.g.refuse(admit.Message.String(), errLanesFull)
		fail(errLanesFull)
		return
	}
	if s.lanes == nil {
		s.lanes = make(map[string][]laneItem)
	}
	q, busy := s.lanes[room]
	s.lanes[room] = append(q, laneItem{ticket: t, run: run, fail: fail})
	s.queued++
	s.lmu.Unlock()
	if busy {
		return
	}
	s.g.work.run(func() { s.runLane(room) })
}

func (s *session) runLane(room string) {
	for {
		s.lmu.Lock()
		q := s.lanes[room]
		if len(q) == 0 {
			delete(s.lanes, room)
			s.lmu.Unlock()
			return
		}
		next := q[0]
		q[0] = laneItem{}
		s.lanes[room] = q[1:]
		s.queued--
		s.lmu.Unlock()
		select {
		case s.inflight <- struct{}{}:
		case <-s.ctx.Done():
			next.ticket.Done()
			continue // the session ends: drain without running
		}
		// No per-call deadline: every store call has its own timeout.
		err := next.run(s.ctx)
		<-s.inflight
		next.ticket.Done()
		if api.CodeOf(err) != api.CodeUnavailable || err == messenger.ErrRoomBusy {
			continue // only a storage failure fails the rest of the lane
		}
		s.lmu.Lock()
		waiting := s.lanes[room]
		s.lanes[room] = nil // still busy: this goroutine goes on
		s.queued -= len(waiting)
		s.lmu.Unlock()
		for _, it := range waiting {
			it.ticket.Done()
			it.fail(api.AsError(err))
		}
	}
}

// async runs f in its own goroutine, at most MaxInFlight at once per
// session; the reader waits for a slot, which pushes back on the client.
// The admission ticket t is done when f returns.
func (s *session) async(t admit.Ticket, f func(ctx context.Context)) {
	select {
	case s.inflight <- struct{}{}:
	case <-s.ctx.Done():
		t.Done()
		return
	}
	go func() {
		defer func() { <-s.inflight; t.Done() }()
		ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
		defer cancel()
		f(ctx)
	}()
}

// push queues an item for the writer. The queue is bounded: when it is full,
// a live event is not queued but remembered as "room behind up to seq", and
// the writer later reads what it missed from the store; other frames get a
// little more room, then the session is cut. A device that stops reading
// altogether is cut when a write to it times out (writeTimeout). Either way
// the device reconnects and resyncs, and nobody else is slowed.
func (s *session) push(it item) {
	s.qmu.Lock()
	if s.dead {
		s.qmu.Unlock()
		return
	}
	if s.queue == nil {
		s.queue = s.g.batches.get()
	}
	if n := len(s.queue.items); n >= s.g.cfg.Queue {
		if it.kind != itemEvent && n >= 2*s.g.cfg.Queue {
			s.qmu.Unlock()
			s.g.m.SlowConsumers.Inc()
			s.kill(closeSlow, string(api.CodeSlowConsumer))
			return
		}
		if it.kind == itemEvent {
			if s.behind == nil {
				s.behind = make(map[string]uint64)
			}
			s.behind[it.room] = max(s.behind[it.room], it.seq)
			s.g.m.Lagging.Inc()
		} else {
			s.queue.items = append(s.queue.items, it)
		}
	} else {
		s.queue.items = append(s.queue.items, it)
	}
	start := !s.writing
	s.writing = true
	if start {
		// Counted under qmu, before kill can mark the session dead: serve
		// waits for the writers once it has killed the session, and an
		// Add racing that Wait would let a writer outlive it.
		s.writers.Add(1)
	}
	s.qmu.Unlock()
	if start {
		// The writer runs only while there is something to write (on a
		// worker kept a second or two for the next one), so an idle session costs
		// one goroutine, not two.
		s.g.work.run(s.drain)
	}
}

func (s *session) pushFrame(f api.ServerFrame) {
	b, err := json.Marshal(f)
	if err != nil {
		return
	}
	s.push(item{kind: itemFrame, frame: b})
}

// kill closes the session with a close code and reason; safe from any goroutine.
func (s *session) kill(code int, reason string) {
	s.qmu.Lock()
	already := s.dead
	s.dead = true
	s.queue = nil
	s.qmu.Unlock()
	if already {
		return
	}
	s.cancel()
	// The close frame may wait behind a blocked write: never make the caller
	// (often the hub, fanning out to everyone) wait for it.
	go func() {
		_ = s.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
		_ = s.conn.NetConn().Close()
	}()
}

// drain writes queued items until the queue is empty, then ends. At most one
// drain runs per session (s.writing), so it owns the cursors and the
// connection's writes.
func (s *session) drain() {
	defer s.writers.Done()
	yielded := false
	for {
		s.qmu.Lock()
		b := s.queue
		s.queue = nil
		var batch []item
		if b != nil {
			batch = b.items
		}
		var behind map[string]uint64
		if s.synced {
			behind, s.behind = s.behind, nil
		}
		if len(batch) == 0 && len(behind) == 0 && !s.dead && len(s.wbuf) > 0 && !yielded {
			// Let the goroutines that are about to queue more (acks, events
			// of a burst) do so, so that one write carries them all.
			s.qmu.Unlock()
			yielded = true
			runtime.Gosched()
			continue
		}
		if !s.dead && len(batch) == 0 && len(behind) == 0 && len(s.wbuf) > 0 {
			s.qmu.Unlock() // never write while holding the queue's lock
			if err := s.flush(); err != nil {
				s.fail(err)
				return
			}
			continue
		}
		if s.dead || len(batch) == 0 && len(behind) == 0 {
			s.writing = false
			s.qmu.Unlock()
			return
		}
		s.qmu.Unlock()
		yielded = false
		for i := range batch {
			if err := s.process(&batch[i]); err != nil {
				s.fail(err)
				return
			}
		}
		if b != nil {
			s.g.batches.put(b)
		}
		for room, seq := range behind {
			if _, ok := s.cursors[room]; !ok {
				continue
			}
			if err := s.catchUp(room, seq); err != nil {
				s.fail(err)
				return
			}
		}
	}
}

// fail ends the session after a write or store error.
func (s *session) fail(err error) {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		s.g.m.SlowConsumers.Inc()
		s.kill(closeSlow, string(api.CodeSlowConsumer))
		return
	}
	s.kill(websocket.CloseInternalServerErr, "")
}

func (s *session) process(it *item) error {
	switch it.kind {
	case itemFrame:
		return s.write(it.frame)
	case itemEvent:
		if !s.synced {
			if len(s.presync) >= s.g.cfg.Queue {
				// The sync reads the store to its end anyway; only the
				// events stored after that read matter, and the next
				// event of their room fills any gap.
				s.presync = s.presync[1:]
			}
			s.presync = append(s.presync, *it)
			return nil
		}
		return s.deliver(it.room, it.seq, it.frame)
	case itemSync:
		return s.admitSync(it.cursors)
	case itemJoined:
		if _, known := s.cursors[it.room]; !s.synced || known {
			return nil // the sync lists the room, or it is already live
		}
		last := s.g.svc.Index().LastSeq(it.room)
		s.cursors[it.room] = last - min(last, joinBacklog)
		if err := s.sendRoom(it.room); err != nil {
			return err
		}
		return s.catchUp(it.room, 0)
	case itemLeft:
		if s.cursors != nil {
			delete(s.cursors, it.room)
		}
		return s.writeFrame(api.ServerFrame{Type: api.FrameLeft, RoomID: it.room})
	}
	return nil
}

// admitSync runs a sync if the node admits it, within the catch-up lane's
// budget (so that a reconnect storm's syncs are paced), or answers with a
// refusal carrying retry_after: the session stays open, not synced, and
// the client sends its sync again later.
func (s *session) admitSync(cursors map[string]uint64) error {
	a := s.g.cfg.Admit
	t, e := a.Admit(admit.Sync)
	if e == nil {
		defer t.Done()
		var release func()
		if release, e = a.Syncs.Acquire(s.ctx); e == nil {
			defer release()
			return s.sync(cursors)
		}
		s.g.refuse(a.Syncs.Name(), e)
	} else {
		s.g.refuse(admit.Sync.String(), e)
	}
	return s.writeFrame(api.ServerFrame{Type: api.FrameError, Ref: api.FrameSync, Error: e})
}

// sync sends every room's summary, catches up the rooms the client listed,
// then replays the live events that arrived meanwhile.
func (s *session) sync(cursors map[string]uint64) error {
	ix := s.g.svc.Index()
	s.cursors = make(map[string]uint64)
	mine := ix.UserRooms(s.caller.User)
	member := make(map[string]bool, len(mine))
	for _, r := range mine {
		member[r] = true
		if err := s.sendRoom(r); err != nil {
			return err
		}
	}
	for r := range cursors {
		if !member[r] {
			if err := s.writeFrame(api.ServerFrame{Type: api.FrameLeft, RoomID: r}); err != nil {
				return err
			}
		}
	}
	for _, r := range mine {
		c, listed := cursors[r]
		if !listed {
			s.cursors[r] = ix.LastSeq(r)
			continue
		}
		s.cursors[r] = c
		if err := s.catchUp(r, 0); err != nil {
			return err
		}
	}
	s.synced = true
	pending := s.presync
	s.presync = nil
	for _, it := range pending {
		if err := s.deliver(it.room, it.seq, it.frame); err != nil {
			return err
		}
	}
	return s.writeFrame(api.ServerFrame{Type: api.FrameSynced})
}

// deliver writes a live event if it is the next one of its room, after
// filling any gap from the store; events already sent are skipped.
func (s *session) deliver(room string, seq uint64, frame []byte) error {
	c, ok := s.cursors[room]
	if !ok || seq <= c {
		return nil
	}
	if seq > c+1 {
		if err := s.catchUp(room, seq-1); err != nil {
			return err
		}
		if s.cursors[room] >= seq {
			return nil
		}
		if s.cursors[room] < seq-1 {
			// Never skip: the client resyncs from its cursors instead.
			return fmt.Errorf("room %s: catch-up ended at %d before live event %d", room, s.cursors[room], seq)
		}
	}
	s.cursors[room] = seq
	return s.write(frame)
}

// catchUp sends room's stored events after the cursor, up to seq until (0:
// to the end of the stream).
func (s *session) catchUp(room string, until uint64) error {
	for {
		c := s.cursors[room]
		if until > 0 && c >= until {
			return nil
		}
		n := catchUpBatch
		if until > 0 {
			n = int(min(uint64(n), until-c))
		}
		evs, err := s.g.svc.EventsAfter(s.ctx, room, c, n)
		if err != nil {
			s.g.log.Warn("catch-up failed", "room", room, "after", c, "err", err)
			return err
		}
		for i := range evs {
			if evs[i].Seq != s.cursors[room]+1 {
				continue
			}
			s.cursors[room] = evs[i].Seq
			if err := s.writeFrame(api.ServerFrame{Type: api.FrameEvent, Event: &evs[i]}); err != nil {
				return err
			}
		}
		if len(evs) < n {
			return nil
		}
	}
}

func (s *session) sendRoom(room string) error {
	r, err := s.g.svc.Summary(s.ctx, room, s.caller.User)
	if err != nil {
		return err
	}
	return s.writeFrame(api.ServerFrame{Type: api.FrameRoom, Room: r})
}

func (s *session) writeFrame(f api.ServerFrame) error {
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	return s.write(b)
}

// write adds a frame to the outgoing WebSocket message; frames are
// separated by newlines (JSON never contains a raw one), so that a burst
// costs one write instead of one per frame. The message goes out at the end
// of each batch of queued items, or once it holds flushBytes.
func (s *session) write(b []byte) error {
	if len(s.wbuf) > 0 {
		s.wbuf = append(s.wbuf, '\n')
	}
	s.wbuf = append(s.wbuf, b...)
	s.wframes++
	if len(s.wbuf) >= flushBytes {
		return s.flush()
	}
	return nil
}

const flushBytes = 32 << 10

func (s *session) flush() error {
	if len(s.wbuf) == 0 {
		return nil
	}
	_ = s.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	err := s.conn.WriteMessage(websocket.TextMessage, s.wbuf)
	s.g.m.FramesOut.Add(float64(s.wframes))
	s.wframes = 0
	if cap(s.wbuf) > 4*flushBytes {
		s.wbuf = nil // do not pin a large message's buffer
	} else {
		s.wbuf = s.wbuf[:0]
	}
	return err
}

func writeFrame(conn *websocket.Conn, f api.ServerFrame) {
	b, _ := json.Marshal(f)
	_ = conn.SetWriteDeadline(time.Now().Add(time.Second))
	_ = conn.WriteMessage(websocket.TextMessage, b)
}

// ackFrame encodes an ack frame by hand: it is the most frequent frame a
// node writes. Client ids and room ids are validated to letters, digits, _
// and - before anything is stored, so they need no escaping.
func ackFrame(a *api.Ack) []byte {
	b := make([]byte, 0, 128+2*len(a.ID))
	b = append(b, `{"type":"ack","id":"`...)
	b = append(b, a.ID...)
	b = append(b, `","ack":{"id":"`...)
	b = append(b, a.ID...)
	b = append(b, `","room":"`...)
	b = append(b, a.Room...)
	b = append(b, `","seq":`...)
	b = strconv.AppendUint(b, a.Seq, 10)
	b = append(b, `,"ts":`...)
	b = strconv.AppendInt(b, a.Time, 10)
	if a.Duplicate {
		b = append(b, `,"duplicate":true`...)
	}
	return append(b, "}}"...)
}
