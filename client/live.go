package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"

	"github.com/dandanchat/dandan/api"
	"github.com/dandanchat/dandan/internal/wsread"
)

// Defaults of LiveOptions.
const (
	DefaultUpdatesBuffer = 1024
	DefaultMinBackoff    = 100 * time.Millisecond
	DefaultMaxBackoff    = 5 * time.Second
	DefaultAckTimeout    = 10 * time.Second
	DefaultPingInterval  = 15 * time.Second
	DefaultReadTimeout   = 30 * time.Second

	// MaxServerFrameBytes bounds every frame read from the server.
	MaxServerFrameBytes = 1 << 20

	handshakeTimeout = 10 * time.Second
	writeTimeout     = 10 * time.Second
)

var (
	// ErrClosed fails the sends of a closed Live (wrapping the cause, if the
	// Live stopped by itself, e.g. on an unauthorized error).
	ErrClosed = errors.New("client: live connection closed")
	// ErrReconnect is why a connection ended when Reconnect was called.
	ErrReconnect = errors.New("client: live: reconnect asked")
	// ErrOutboxFull fails a send when the outbox holds MaxOutbox unanswered sends.
	ErrOutboxFull = errors.New("client: outbox full: too many unacknowledged sends")
	// ErrAckTimeout means a send written on a connection went unanswered for
	// AckTimeout: the connection is taken as broken and the send resent on the
	// next one. It is the Err of the Disconnected update in that case.
	ErrAckTimeout = errors.New("client: send not acknowledged in time")
)

// LiveOptions configure a Live. Zero values mean the defaults.
type LiveOptions struct {
	Cursors                map[string]uint64 // initial cursors (room → last seq held, 0: replay the room from its start); nil = none
	Buffer                 int               // Updates channel size; 0 = 1024
	MinBackoff, MaxBackoff time.Duration     // reconnect backoff with full jitter; 0 = 100ms / 5s
	AckTimeout             time.Duration     // an unanswered send breaks the connection after this; 0 = 10s

	// Additions to the basic options:
	PingInterval time.Duration // a ping frame is sent this often; 0 = 15s
	ReadTimeout  time.Duration // a connection silent this long is dead; 0 = 30s
	MaxOutbox    int           // unanswered sends held at most; 0 = 10,000

	// Handler, if set, is given every update instead of Updates (which then
	// carries none and is only closed): it is called on the Live's own
	// goroutines, one call at a time, in the order the updates would have
	// had on Updates, and not after Close returns. That saves a goroutine
	// switch per update, a measurable share of a busy consumer's CPU (a
	// bot, a bridge, a load generator). While it runs the connection is not
	// read, so it must return quickly, and must neither wait for a send's
	// ack nor call Close.
	Handler func(Update)
}

func (o LiveOptions) withDefaults() LiveOptions {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.MinBackoff, DefaultMinBackoff)
	def(&o.MaxBackoff, DefaultMaxBackoff)
	def(&o.AckTimeout, DefaultAckTimeout)
	def(&o.PingInterval, DefaultPingInterval)
	def(&o.ReadTimeout, DefaultReadTimeout)
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = o.MinBackoff
	}
	if o.Buffer <= 0 {
		o.Buffer = DefaultUpdatesBuffer
	}
	if o.Handler != nil {
		o.Buffer = 0 // Updates carries nothing
	}
	if o.MaxOutbox <= 0 {
		o.MaxOutbox = DefaultMaxOutbox
	}
	return o
}

// Live is a WebSocket connection to the cluster that survives failures: it
// reconnects, resumes from its cursors and resends its outbox. It is safe for
// concurrent use.
type Live struct {
	c       *Client
	opts    LiveOptions
	log     *slog.Logger
	updates chan Update
	hmu     sync.Mutex      // one Handler call at a time
	ctx     context.Context // ends with Close
	cancel  context.CancelFunc
	done    chan struct{} // closed when the loop has stopped
	kick    chan struct{} // wakes the writer
	reads   wsread.Pool   // the reader's message buffers

	next int    // the next server to dial; loop only
	gens uint64 // session counter; loop only

	mu       sync.Mutex
	closed   bool
	closeErr error             // what pending sends fail with once closed
	cursors  map[string]uint64 // room → last seq delivered on Updates
	baseline map[string]uint64 // room → last_seq when first seen, for rooms without cursor
	sess     *session          // the ready connection, or nil
	out      *outbox
	receipts map[string]mark // to send
	// A refused receipt is sent again: per room, the max of the receipts
	// written (there is no answer to tell which one was refused, and
	// pointers only move forward, so the max is always right to resend),
	// and until when receipts of the room are held after a refusal.
	receiptsSent map[string]mark
	receiptsAt   map[string]time.Time
	typing       map[string]struct{}
}

type mark struct{ delivered, read uint64 }

// merge returns the max pointers of m and o.
func (m mark) merge(o mark) mark {
	return mark{max(m.delivered, o.delivered), max(m.read, o.read)}
}

// Live opens a live connection and returns once it is ready (authenticated
// and synced from opts.Cursors). Until then it tries the servers in turn, at
// most twice each (three attempts at least), within ctx; an unauthorized
// answer is returned at once and never retried. ctx bounds only this first
// connection: the Live then runs, reconnecting as needed, until Close.
func (c *Client) Live(ctx context.Context, opts LiveOptions) (*Live, error) {
	if c.Token() == "" {
		return nil, api.Errorf(api.CodeUnauthorized, "no token: sign in first")
	}
	opts = opts.withDefaults()
	l := &Live{
		c:        c,
		opts:     opts,
		log:      c.log,
		updates:  make(chan Update, opts.Buffer),
		done:     make(chan struct{}),
		kick:     make(chan struct{}, 1),
		next:     int(c.cur.Load() % uint64(len(c.bases))),
		cursors:  map[string]uint64{},
		baseline: map[string]uint64{},
		out:      newOutbox(opts.MaxOutbox),
		receipts: map[string]mark{},
		typing:   map[string]struct{}{},

		receiptsSent: map[string]mark{},
		receiptsAt:   map[string]time.Time{},
	}
	for r, s := range opts.Cursors {
		if r != "" {
			l.cursors[r] = s
		}
	}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	s, err := l.connectFirst(ctx)
	if err != nil {
		l.cancel()
		return nil, err
	}
	go l.run(s)
	return l, nil
}

func (l *Live) connectFirst(ctx context.Context) (*session, error) {
	attempts := max(2*len(l.c.bases), 3)
	for i := 0; ; i++ {
		s, err := l.connect(ctx)
		if err == nil {
			return s, nil
		}
		if api.IsCode(err, api.CodeUnauthorized) || ctx.Err() != nil || i+1 >= attempts {
			return nil, err
		}
		l.log.Debug("client: live: connect failed", "err", err)
		if !sleepCtx(ctx, l.backoff(i, retryAfterOf(err))) {
			return nil, ctx.Err()
		}
	}
}

// run serves connections until Close or a fatal error.
func (l *Live) run(s *session) {
	var cause error
	defer func() { l.finish(cause) }()
	for {
		err := l.serve(s)
		if l.ctx.Err() != nil {
			return
		}
		l.log.Info("client: live: disconnected", "server", s.server, "err", err)
		if !l.emit(nil, Update{Kind: Disconnected, Err: err}) {
			return
		}
		retryAfter := s.retryAfter()
		for attempt := 0; ; attempt++ {
			if !sleepCtx(l.ctx, l.backoff(attempt, retryAfter)) {
				return
			}
			s, err = l.connect(l.ctx)
			if err == nil {
				break
			}
			if l.ctx.Err() != nil {
				return
			}
			if api.IsCode(err, api.CodeUnauthorized) {
				l.log.Warn("client: live: token refused, stopping", "err", err)
				cause = err
				l.emit(nil, Update{Kind: Disconnected, Err: err})
				return
			}
			l.log.Debug("client: live: reconnect failed", "err", err)
			retryAfter = retryAfterOf(err)
		}
	}
}

// finish stops the Live: fails every pending send, closes Updates.
func (l *Live) finish(cause error) {
	l.mu.Lock()
	l.closed = true
	l.sess = nil
	l.closeErr = ErrClosed
	if cause != nil {
		l.closeErr = fmt.Errorf("%w: %w", ErrClosed, cause)
	}
	es := l.out.drain()
	err := l.closeErr
	l.mu.Unlock()
	for _, e := range es {
		e.p.resolve(nil, err)
	}
	close(l.updates)
	close(l.done)
}

// Close stops the Live: it closes the connection, fails pending sends with
// ErrClosed and closes Updates. It is safe to call more than once.
func (l *Live) Close() error {
	l.cancel()
	<-l.done
	return nil
}

// Reconnect drops the current connection, if any; the Live then reconnects
// by itself as after a failure (to the next server, resuming from its
// cursors and resending its outbox), and the Disconnected update carries
// ErrReconnect. Applications call it when the device's network changes.
func (l *Live) Reconnect() {
	l.mu.Lock()
	s := l.sess
	l.mu.Unlock()
	if s != nil {
		s.fail(ErrReconnect)
	}
}

// Updates delivers what the server sends. Events arrive exactly once, in seq
// order per room. It is closed by Close (or when the token is refused). With
// LiveOptions.Handler it carries nothing and is only closed.
func (l *Live) Updates() <-chan Update { return l.updates }

// Cursors returns a copy of the cursors: room → last seq delivered on Updates
// (possibly still in its buffer). To resume later without gaps or repeats,
// save them after Close once Updates is drained.
func (l *Live) Cursors() map[string]uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.cursors)
}

// Connected reports whether a connection is ready now.
func (l *Live) Connected() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sess != nil && !l.closed
}

// Send sends a message and waits for its acknowledgement (SendAsync + Wait).
func (l *Live) Send(ctx context.Context, roomID, text string, opts ...SendOption) (*api.Ack, error) {
	return l.SendAsync(roomID, text, opts...).Wait(ctx)
}

// SendAsync queues a message in the outbox and returns at once. It is written
// now if connected, else on reconnection, and resent with the same id after
// any failure until answered. Sending an id already pending returns the
// pending send.
func (l *Live) SendAsync(roomID, text string, opts ...SendOption) *Pending {
	o, err := buildSendOptions(opts)
	if err == nil {
		err = checkText(text)
	}
	if err == nil && roomID == "" {
		err = api.Errorf(api.CodeInvalid, "room id is empty")
	}
	if err != nil {
		return failedPending(o.id, roomID, err)
	}
	return l.enqueue(api.ClientFrame{Type: api.FrameSend, ID: o.id, Room: roomID, Text: text, ReplyTo: o.replyTo})
}

// EditAsync queues an edit of the message at target, like SendAsync.
func (l *Live) EditAsync(roomID string, target uint64, text string, opts ...SendOption) *Pending {
	o, err := buildSendOptions(opts)
	if err == nil {
		err = checkText(text)
	}
	if err == nil {
		err = checkTarget(roomID, target)
	}
	if err != nil {
		return failedPending(o.id, roomID, err)
	}
	return l.enqueue(api.ClientFrame{Type: api.FrameEdit, ID: o.id, Room: roomID, Text: text, Target: target})
}

// DeleteAsync queues the deletion of the message at target, like SendAsync.
func (l *Live) DeleteAsync(roomID string, target uint64, opts ...SendOption) *Pending {
	o, err := buildSendOptions(opts)
	if err == nil {
		err = checkTarget(roomID, target)
	}
	if err != nil {
		return failedPending(o.id, roomID, err)
	}
	return l.enqueue(api.ClientFrame{Type: api.FrameDelete, ID: o.id, Room: roomID, Target: target})
}

// Edit edits the message at target and waits for the acknowledgement.
func (l *Live) Edit(ctx context.Context, roomID string, target uint64, text string, opts ...SendOption) (*api.Ack, error) {
	return l.EditAsync(roomID, target, text, opts...).Wait(ctx)
}

// Delete deletes the message at target and waits for the acknowledgement.
func (l *Live) Delete(ctx context.Context, roomID string, target uint64, opts ...SendOption) (*api.Ack, error) {
	return l.DeleteAsync(roomID, target, opts...).Wait(ctx)
}

func checkTarget(roomID string, target uint64) error {
	switch {
	case roomID == "":
		return api.Errorf(api.CodeInvalid, "room id is empty")
	case target == 0:
		return api.Errorf(api.CodeInvalid, "target seq is zero")
	}
	return nil
}

func (l *Live) enqueue(f api.ClientFrame) *Pending {
	l.mu.Lock()
	if l.closed {
		err := l.closeErr
		l.mu.Unlock()
		return failedPending(f.ID, f.Room, err)
	}
	if e, ok := l.out.byID[f.ID]; ok {
		l.mu.Unlock()
		return e.p
	}
	if l.out.len() >= l.out.max {
		l.mu.Unlock()
		return failedPending(f.ID, f.Room, ErrOutboxFull)
	}
	e := l.out.add(f)
	l.mu.Unlock()
	l.wake()
	return e.p
}

// Receipt moves this user's delivered and read pointers in a room (zero:
// unchanged). Fire-and-forget: it is written when connected, coalesced with
// other receipts of the room. If the server refuses it for load, the room's
// receipts are held for the wait it asks, then sent again merged with any
// newer ones (a Refused update tells). It fails only if the Live is closed.
func (l *Live) Receipt(roomID string, delivered, read uint64) error {
	if roomID == "" {
		return api.Errorf(api.CodeInvalid, "room id is empty")
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	if delivered == 0 && read == 0 {
		l.mu.Unlock()
		return nil
	}
	l.receipts[roomID] = l.receipts[roomID].merge(mark{delivered, read})
	l.mu.Unlock()
	l.wake()
	return nil
}

// Typing tells the room's other members that the user is typing. It is
// ephemeral: dropped if not connected. It fails only if the Live is closed.
func (l *Live) Typing(roomID string) error {
	if roomID == "" {
		return api.Errorf(api.CodeInvalid, "room id is empty")
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	if l.sess == nil {
		l.mu.Unlock()
		return nil
	}
	l.typing[roomID] = struct{}{}
	l.mu.Unlock()
	l.wake()
	return nil
}

func (l *Live) wake() {
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// hint delivers an ephemeral update: dropped if Updates is full. Only the
// read loop calls it, so Updates is not closed yet.
func (l *Live) hint(u Update) {
	if l.opts.Handler != nil {
		l.callHandler(nil, u)
		return
	}
	select {
	case l.updates <- u:
	default:
	}
}

// emit delivers u on Updates, blocking while it is full (then s, if not nil,
// is marked stalled so the ack timeout does not blame the connection). It
// returns false if the Live is closing.
func (l *Live) emit(s *session, u Update) bool {
	if l.opts.Handler != nil {
		if l.ctx.Err() != nil {
			return false
		}
		l.callHandler(s, u)
		return true
	}
	select {
	case l.updates <- u:
		return true
	default:
	}
	if s != nil {
		s.stalled.Store(true)
		defer func() {
			s.stallEnd.Store(time.Now().UnixNano())
			s.stalled.Store(false)
		}()
	}
	select {
	case l.updates <- u:
		return true
	case <-l.ctx.Done():
		return false
	}
}

// callHandler gives u to the Handler. While it runs, s (if not nil) counts as
// stalled, as while Updates is full; the end of a stall the ack timeout's
// check saw is recorded, so that the wait is not blamed on the connection.
func (l *Live) callHandler(s *session, u Update) {
	if s != nil {
		s.stalled.Store(true)
	}
	l.hmu.Lock()
	l.opts.Handler(u)
	l.hmu.Unlock()
	if s != nil {
		if s.stallSeen.Swap(false) {
			s.stallEnd.Store(time.Now().UnixNano())
		}
		s.stalled.Store(false)
	}
}
