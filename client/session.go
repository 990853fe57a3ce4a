package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/dandanchat/dandan/api"
	"github.com/dandanchat/dandan/internal/deadline"
)

// session is one WebSocket connection, from ready to its end.
type session struct {
	conn   *websocket.Conn
	server string
	gen    uint64
	user   string

	done     chan struct{}
	failOnce sync.Once
	cause    error

	stalled    atomic.Bool  // the reader waits for room in Updates
	stallEnd   atomic.Int64 // unix ns when it last stopped waiting
	stallSeen  atomic.Bool  // the ack timeout's check saw it stalled (Handler)
	retryAftMS atomic.Int64 // asked by an error frame without id

	// When to send sync again after the server refused it for load (the
	// connection stays open, unsynced); zero if not. Guarded by Live.mu.
	resyncAt time.Time
}

// fail ends the session (idempotently) and closes its socket.
func (s *session) fail(err error) {
	s.failOnce.Do(func() {
		s.cause = err
		close(s.done)
		_ = s.conn.Close()
	})
}

func (s *session) retryAfter() time.Duration {
	return time.Duration(s.retryAftMS.Load()) * time.Millisecond
}

func (s *session) write(f *api.ClientFrame) error {
	if err := s.conn.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil {
		return err
	}
	if err := s.conn.WriteJSON(f); err != nil {
		return fmt.Errorf("client: live: write: %w", err)
	}
	return nil
}

// writeBatch writes frames as few WebSocket messages, one frame per line
// (the protocol allows several frames per message in both directions).
func (s *session) writeBatch(frames []api.ClientFrame) error {
	var buf []byte
	for i := range frames {
		b, err := json.Marshal(&frames[i])
		if err != nil {
			return fmt.Errorf("client: live: encode: %w", err)
		}
		if len(buf) > 0 && len(buf)+1+len(b) > batchBytes {
			if err := s.writeRaw(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
		if len(buf) > 0 {
			buf = append(buf, '\n')
		}
		buf = append(buf, b...)
	}
	if len(buf) == 0 {
		return nil
	}
	return s.writeRaw(buf)
}

// batchBytes bounds one batched message, well under the server's frame limit.
const batchBytes = 32 << 10

func (s *session) writeRaw(b []byte) error {
	if err := s.conn.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil {
		return err
	}
	if err := s.conn.WriteMessage(websocket.TextMessage, b); err != nil {
		return fmt.Errorf("client: live: write: %w", err)
	}
	return nil
}

// wsURL derives the WebSocket URL of a server base URL.
func wsURL(base string) string {
	if rest, ok := strings.CutPrefix(base, "https://"); ok {
		return "wss://" + rest + "/v1/ws"
	}
	return "ws://" + strings.TrimPrefix(base, "http://") + "/v1/ws"
}

func (l *Live) dialer() *websocket.Dialer {
	d := &websocket.Dialer{Proxy: http.ProxyFromEnvironment, HandshakeTimeout: handshakeTimeout}
	if t, ok := l.c.hc.Transport.(*http.Transport); ok {
		d.Proxy = t.Proxy
		if t.TLSClientConfig != nil {
			d.TLSClientConfig = t.TLSClientConfig.Clone()
		}
	}
	return d
}

// connect dials the next server, authenticates and sends sync.
func (l *Live) connect(ctx context.Context) (*session, error) {
	base := l.c.bases[l.next]
	l.next = (l.next + 1) % len(l.c.bases)
	ctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
	defer cancel()
	u := wsURL(base)
	hdr := http.Header{"User-Agent": {l.c.ua}}
	conn, resp, err := l.dialer().DialContext(ctx, u, hdr)
	if err != nil {
		if resp != nil && resp.StatusCode >= 300 {
			e := errorFromResponse(resp)
			return nil, e
		}
		return nil, fmt.Errorf("client: live: dial %s: %w", u, err)
	}
	conn.SetReadLimit(MaxServerFrameBytes)
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	s, err := l.handshake(conn, base)
	if !stop() && err == nil {
		err = ctx.Err()
	}
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	return s, nil
}

func (l *Live) handshake(conn *websocket.Conn, base string) (*session, error) {
	l.gens++
	s := &session{conn: conn, server: base, gen: l.gens, done: make(chan struct{})}
	if err := s.write(&api.ClientFrame{Type: api.FrameAuth, Token: l.c.Token()}); err != nil {
		return nil, err
	}
	for {
		_ = conn.SetReadDeadline(time.Now().Add(handshakeTimeout))
		_, b, err := conn.ReadMessage()
		if err != nil {
			return nil, fmt.Errorf("client: live: %s: waiting for ready: %w", base, err)
		}
		var f api.ServerFrame
		if err := json.Unmarshal(b, &f); err != nil {
			l.log.Warn("client: live: undecodable frame skipped", "server", base, "err", err)
			continue
		}
		switch f.Type {
		case api.FrameReady:
			s.user = f.User
		case api.FrameError:
			if f.Error == nil {
				return nil, api.Errorf(api.CodeInternal, "error frame without error")
			}
			return nil, f.Error
		default:
			l.log.Debug("client: live: frame before ready skipped", "type", f.Type)
			continue
		}
		break
	}
	l.mu.Lock()
	f := l.syncFrameLocked()
	l.mu.Unlock()
	if err := s.write(&f); err != nil {
		return nil, err
	}
	return s, nil
}

// syncFrameLocked builds a sync frame resuming from the cursors, and for rooms
// seen without events from the seq they were at, so nothing stored while
// disconnected is missed. l.mu must be held.
func (l *Live) syncFrameLocked() api.ClientFrame {
	cur := make(map[string]uint64, len(l.cursors)+len(l.baseline))
	for r, v := range l.baseline {
		cur[r] = v
	}
	for r, v := range l.cursors {
		cur[r] = v
	}
	return api.ClientFrame{Type: api.FrameSync, Cursors: cur}
}

// serve runs a ready session until it breaks or the Live closes.
func (l *Live) serve(s *session) error {
	l.mu.Lock()
	l.sess = s
	l.out.requeueAll(time.Now())
	l.mu.Unlock()
	l.wake()
	stop := context.AfterFunc(l.ctx, func() { s.fail(ErrClosed) })
	defer stop()
	l.log.Info("client: live: connected", "server", s.server, "user", s.user)

	var wg sync.WaitGroup
	wg.Go(func() { l.writeLoop(s) })
	if l.emit(s, Update{Kind: Connected, User: s.user, Server: s.server}) {
		l.readLoop(s)
	}
	s.fail(ErrClosed)
	wg.Wait()

	l.mu.Lock()
	l.sess = nil
	clear(l.typing)
	l.mu.Unlock()
	return s.cause
}

func (l *Live) readLoop(s *session) {
	// WebSocket-level pings count as traffic too; answer them with a pong.
	idle := deadline.New(s.conn.SetReadDeadline, l.opts.ReadTimeout)
	s.conn.SetPingHandler(func(data string) error {
		_ = idle.Renew()
		err := s.conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(writeTimeout))
		if err != nil && !errors.Is(err, websocket.ErrCloseSent) {
			return err
		}
		return nil
	})
	// One frame value for the whole loop: what handle keeps of a frame are
	// the objects it points to, never the frame itself.
	var f api.ServerFrame
	for {
		_ = idle.Renew()
		m, err := l.reads.Read(s.conn)
		if err != nil {
			s.fail(fmt.Errorf("client: live: read: %w", err))
			return
		}
		// One WebSocket message carries one or more frames, one per line.
		b := m.Bytes()
		for len(b) > 0 {
			line := b
			if i := bytes.IndexByte(b, '\n'); i >= 0 {
				line, b = b[:i], b[i+1:]
			} else {
				b = nil
			}
			if len(line) == 0 {
				continue
			}
			f = api.ServerFrame{}
			if err := decodeFrame(line, &f); err != nil {
				l.log.Warn("client: live: undecodable frame skipped", "server", s.server, "err", err, "len", len(line))
				continue
			}
			if !l.handle(s, &f) {
				m.Release()
				return
			}
		}
		m.Release() // decoded frames hold copies of what they need
		// Nor does an idle connection keep the last frame's event alive.
		f = api.ServerFrame{}
	}
}

// handle processes one frame; false means the Live is closing.
func (l *Live) handle(s *session, f *api.ServerFrame) bool {
	switch f.Type {
	case api.FrameEvent:
		return l.handleEvent(s, f.Event)
	case api.FrameRoom:
		if f.Room == nil || f.Room.ID == "" {
			l.log.Warn("client: live: room frame without room skipped")
			return true
		}
		// A room without cursor is resumed from where it was when first seen
		// (even at seq 0); never raised later, as events up to a newer
		// last_seq may still be on their way.
		l.mu.Lock()
		if _, ok := l.cursors[f.Room.ID]; !ok {
			if _, ok := l.baseline[f.Room.ID]; !ok {
				l.baseline[f.Room.ID] = f.Room.LastSeq
			}
		}
		l.mu.Unlock()
		return l.emit(s, Update{Kind: RoomUpdate, Room: f.Room})
	case api.FrameLeft:
		id := f.RoomID
		if id == "" && f.Room != nil {
			id = f.Room.ID
		}
		l.mu.Lock()
		delete(l.baseline, id)
		delete(l.receiptsSent, id)
		l.mu.Unlock()
		return l.emit(s, Update{Kind: Left, RoomID: id})
	case api.FrameReceipt:
		if f.Receipt == nil {
			l.log.Warn("client: live: receipt frame without receipt skipped")
			return true
		}
		return l.emit(s, Update{Kind: ReceiptUpdate, Receipt: f.Receipt})
	case api.FrameTyping:
		l.hint(Update{Kind: Typing, RoomID: f.RoomID, User: f.User})
	case api.FrameSynced:
		return l.emit(s, Update{Kind: Synced})
	case api.FrameAck:
		l.handleAck(f)
	case api.FrameError:
		l.handleError(s, f)
	case api.FramePong, api.FrameReady:
	default:
		l.log.Debug("client: live: unknown frame skipped", "type", f.Type)
	}
	return true
}

func (l *Live) handleEvent(s *session, ev *api.Event) bool {
	if ev == nil || ev.Room == "" || ev.Seq == 0 {
		l.log.Warn("client: live: malformed event frame skipped")
		return true
	}
	// Only the reader moves cursors and baselines, so checking then
	// delivering is safe. The cursor moves before the event is visible on
	// Updates, so Cursors always covers what the application received; it
	// moves back if the Live closes before the event could be handed over.
	l.mu.Lock()
	prev, had := l.cursors[ev.Room]
	if ev.Seq <= prev {
		l.mu.Unlock()
		l.log.Debug("client: live: event already delivered dropped", "room", ev.Room, "seq", ev.Seq, "cursor", prev)
		return true
	}
	l.cursors[ev.Room] = ev.Seq
	_, based := l.baseline[ev.Room]
	l.mu.Unlock()
	if prev > 0 && ev.Seq > prev+1 {
		l.log.Debug("client: live: gap in events", "room", ev.Room, "seq", ev.Seq, "cursor", prev)
	}
	if !l.emit(s, Update{Kind: EventUpdate, Event: ev}) {
		l.mu.Lock()
		if had {
			l.cursors[ev.Room] = prev
		} else {
			delete(l.cursors, ev.Room)
		}
		l.mu.Unlock()
		return false
	}
	if based {
		l.mu.Lock()
		delete(l.baseline, ev.Room)
		l.mu.Unlock()
	}
	return true
}

func (l *Live) handleAck(f *api.ServerFrame) {
	if f.Ack == nil {
		l.log.Warn("client: live: ack frame without ack skipped", "id", f.ID)
		return
	}
	id := f.ID
	if id == "" {
		id = f.Ack.ID
	}
	l.mu.Lock()
	e, ok := l.out.byID[id]
	if ok {
		l.out.remove(e)
		l.out.acked()
	}
	more := l.out.waiting()
	l.mu.Unlock()
	if more {
		l.wake() // the window may let the next sends go
	}
	if !ok {
		l.log.Debug("client: live: ack of no pending send", "id", id)
		return
	}
	e.p.resolve(f.Ack, nil)
}

// handleError dispatches an error frame on what it answers: a send, edit or
// deletion (by id), the sync, a receipt, a typing notice, or the connection.
// Refusals for load come before the server did anything, so what they refuse
// is always safe to send again.
func (l *Live) handleError(s *session, f *api.ServerFrame) {
	e := f.Error
	if e == nil {
		e = api.Errorf(api.CodeInternal, "error frame without error")
	}
	switch {
	case f.ID != "":
		l.handleSendError(f.ID, e)
	case f.Ref == api.FrameSync:
		l.handleSyncError(s, e)
	case f.Ref == api.FrameReceipt && f.RoomID != "":
		l.handleReceiptError(f.RoomID, e)
	case f.Ref == api.FrameTyping:
		// Typing notices are ephemeral: one refused is not worth resending.
		l.log.Debug("client: live: typing refused", "server", s.server, "err", e)
	default:
		l.log.Warn("client: live: server error", "server", s.server, "ref", f.Ref, "err", e)
		if e.RetryAfterMS > 0 {
			s.retryAftMS.Store(e.RetryAfterMS)
		}
		switch e.Code {
		case api.CodeSlowConsumer, api.CodeUnauthorized:
			s.fail(e) // the server closes it anyway; reconnect (or stop) now
		}
	}
}

func (l *Live) handleSendError(id string, e *api.Error) {
	l.mu.Lock()
	en, ok := l.out.byID[id]
	retry := ok && isRetryable(e.Code)
	switch {
	case retry:
		at := time.Now().Add(l.retryDelay(e))
		l.out.delay(en, at)
		if e.Code == api.CodeOverloaded || e.Code == api.CodeRateLimited {
			// The server is busy (not one room's storage): every send
			// waits, then they go a few at a time.
			l.out.backOff(at)
		}
	case ok:
		l.out.remove(en)
	}
	l.mu.Unlock()
	switch {
	case !ok:
		l.log.Debug("client: live: error for no pending send", "id", id, "err", e)
	case retry:
		l.log.Debug("client: live: send will be retried", "id", id, "err", e)
		l.hint(Update{Kind: Refused, Ref: en.frame.Type, ID: id, RoomID: en.frame.Room, Err: e})
		l.wake()
	default:
		en.p.resolve(nil, e)
	}
}

// handleSyncError: a sync refused for load leaves the connection open but
// unsynced; the write loop sends a new one (from the cursors of that time)
// after the wait. Any other sync error breaks the connection.
func (l *Live) handleSyncError(s *session, e *api.Error) {
	if !isRetryable(e.Code) {
		l.log.Warn("client: live: sync failed", "server", s.server, "err", e)
		if e.RetryAfterMS > 0 {
			s.retryAftMS.Store(e.RetryAfterMS)
		}
		s.fail(e)
		return
	}
	d := l.retryDelay(e)
	l.mu.Lock()
	s.resyncAt = time.Now().Add(d)
	l.mu.Unlock()
	l.log.Info("client: live: sync refused, will retry", "server", s.server, "in", d, "err", e)
	l.hint(Update{Kind: Refused, Ref: api.FrameSync, Err: e})
	l.wake()
}

// handleReceiptError: a receipt refused for load is queued again (as the max
// of the room's receipts written), and the room's receipts are held until the
// wait is over.
func (l *Live) handleReceiptError(room string, e *api.Error) {
	l.mu.Lock()
	m, ok := l.receiptsSent[room]
	retry := ok && isRetryable(e.Code)
	if retry {
		l.receipts[room] = l.receipts[room].merge(m)
		l.receiptsAt[room] = time.Now().Add(l.retryDelay(e))
	} else {
		delete(l.receiptsSent, room)
	}
	l.mu.Unlock()
	switch {
	case !ok:
		l.log.Debug("client: live: error for no receipt sent", "room", room, "err", e)
	case retry:
		l.log.Debug("client: live: receipt will be retried", "room", room, "err", e)
		l.hint(Update{Kind: Refused, Ref: api.FrameReceipt, RoomID: room, Err: e})
		l.wake()
	default:
		l.log.Warn("client: live: receipt failed", "room", room, "err", e)
	}
}

// retryDelay is the wait before resending what e refused: the retry_after
// asked (MinBackoff if none) plus up to a quarter more, so that the clients
// refused together do not all come back at the same instant.
func (l *Live) retryDelay(e *api.Error) time.Duration {
	d := e.RetryAfter()
	if d <= 0 {
		d = l.opts.MinBackoff
	}
	return d + rand.N(d/4+1)
}

func (l *Live) writeLoop(s *session) {
	ping := time.NewTicker(l.opts.PingInterval)
	defer ping.Stop()
	check := time.NewTicker(min(max(l.opts.AckTimeout/4, 5*time.Millisecond), time.Second))
	defer check.Stop()
	retry := time.NewTimer(time.Hour)
	defer retry.Stop()
	for {
		frames, next := l.collect(s)
		if err := s.writeBatch(frames); err != nil {
			s.fail(err)
			return
		}
		if !next.IsZero() {
			retry.Reset(time.Until(next))
		}
		select {
		case <-s.done:
			return
		case <-l.kick:
		case <-retry.C:
		case <-ping.C:
			if err := s.write(&api.ClientFrame{Type: api.FramePing}); err != nil {
				s.fail(err)
				return
			}
		case <-check.C:
			if l.overdue(s) {
				s.fail(ErrAckTimeout)
				return
			}
		}
	}
}

// collect takes what is to be written on s now: a sync due again, outbox
// entries, receipts, typing. It also returns when something held back will
// be due (zero if nothing is).
func (l *Live) collect(s *session) ([]api.ClientFrame, time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	var frames []api.ClientFrame
	var next time.Time
	if !s.resyncAt.IsZero() {
		if s.resyncAt.After(now) {
			next = s.resyncAt
		} else {
			s.resyncAt = time.Time{}
			frames = append(frames, l.syncFrameLocked())
		}
	}
	sends, due := l.out.take(s.gen, now)
	frames = append(frames, sends...)
	next = earliest(next, due)
	for r, m := range l.receipts {
		if at, ok := l.receiptsAt[r]; ok {
			if at.After(now) {
				next = earliest(next, at)
				continue
			}
			delete(l.receiptsAt, r)
		}
		frames = append(frames, api.ClientFrame{Type: api.FrameReceipt, Room: r, Delivered: m.delivered, Read: m.read})
		l.receiptsSent[r] = l.receiptsSent[r].merge(m)
		delete(l.receipts, r)
	}
	for r := range l.typing {
		frames = append(frames, api.ClientFrame{Type: api.FrameTyping, Room: r})
	}
	clear(l.typing)
	return frames, next
}

// earliest returns the earlier of two times, zero meaning none.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || !b.IsZero() && b.Before(a) {
		return b
	}
	return a
}

// overdue reports whether a send written on s has waited too long for its
// answer; time spent waiting for room in Updates does not count.
func (l *Live) overdue(s *session) bool {
	if s.stalled.Load() {
		s.stallSeen.Store(true)
		return false
	}
	since := time.Unix(0, s.stallEnd.Load())
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.out.overdue(s.gen, time.Now(), since, l.opts.AckTimeout)
}

// backoff is the wait before reconnection attempt n (from 0): uniformly
// random between MinBackoff and min(MaxBackoff, MinBackoff·2ⁿ), but at least
// retryAfter (plus jitter) when the server asked for it.
func (l *Live) backoff(n int, retryAfter time.Duration) time.Duration {
	lo, hi := l.opts.MinBackoff, l.opts.MaxBackoff
	ceil := hi
	if n < 32 && lo<<n < hi && lo<<n > 0 {
		ceil = lo << n
	}
	d := lo + rand.N(ceil-lo+1)
	if retryAfter > d {
		d = retryAfter + rand.N(retryAfter/4+1)
	}
	return d
}

func retryAfterOf(err error) time.Duration {
	if e := asAPIError(err); e != nil {
		return e.RetryAfter()
	}
	return 0
}

// sleepCtx waits d, or returns false when ctx ends first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
