// Package netproxy is a userspace TCP forwarder used to put simulated network
// links between "data centres" that all run on one machine.
//
// A Link listens on a local address and forwards every accepted connection to
// a fixed target address. Tests and drills dial through links (for example
// the NATS cluster routes between dandan nodes) and then degrade them:
//
//   - SetDelay adds a one-way latency to every chunk in both directions,
//     without serialising throughput behind the delay;
//   - Cut simulates a network partition: open connections are dropped at once
//     and new ones are accepted and closed immediately until Heal is called.
//
// Only the standard library is used and a Link owns all of its goroutines:
// Close returns after every one of them has exited.
package netproxy

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// chunkSize is the largest chunk read from a socket in one go.
	chunkSize = 32 << 10
	// queueLen is the number of chunks that may be in flight per direction,
	// which bounds memory to queueLen*chunkSize bytes per direction.
	queueLen = 256
	// dialTimeout bounds how long a link tries to reach its target.
	dialTimeout = 5 * time.Second
)

// Link forwards TCP connections accepted on its listen address to a target
// address. All methods are safe for concurrent use.
type Link struct {
	ln     net.Listener
	target string
	delay  atomic.Int64 // time.Duration, read by writers for every chunk

	ctx    context.Context // cancelled by Close to abort pending dials
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine started by the link

	mu     sync.Mutex
	cut    bool
	closed bool
	conns  map[*conn]struct{}
}

// conn is one proxied connection: the accepted client side and the dialled
// target side. Closing it closes both sockets and signals done.
type conn struct {
	client, server net.Conn
	once           sync.Once
	done           chan struct{}
}

func (c *conn) close() {
	c.once.Do(func() {
		close(c.done)
		c.client.Close()
		c.server.Close()
	})
}

// chunk is a piece of data read from one side, stamped with when it was read.
type chunk struct {
	data []byte
	at   time.Time
}

// Listen starts a link on listenAddr ("127.0.0.1:0" picks a free port)
// forwarding to target. The target is dialled once per accepted connection.
func Listen(listenAddr, target string) (*Link, error) {
	ln, err := net.Listen("tcp", listenAddr)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &Link{ln: ln, target: target, ctx: ctx, cancel: cancel, conns: map[*conn]struct{}{}}
	l.wg.Add(1)
	go l.acceptLoop()
	return l, nil
}

// Addr returns the actual listen address as host:port.
func (l *Link) Addr() string { return l.ln.Addr().String() }

// SetDelay sets the one-way delay added to every chunk in both directions
// (0 means none). It applies to existing and new connections; data already
// queued is released according to the new delay.
func (l *Link) SetDelay(d time.Duration) {
	if d < 0 {
		d = 0
	}
	l.delay.Store(int64(d))
}

// Delay returns the current one-way delay.
func (l *Link) Delay() time.Duration { return time.Duration(l.delay.Load()) }

// Cut partitions the link: every open connection is closed at once, and new
// connections are accepted and immediately closed until Heal is called.
func (l *Link) Cut() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cut = true
	for c := range l.conns {
		c.close()
	}
}

// Heal lets new connections through again after Cut. Connections dropped by
// Cut stay closed; clients are expected to reconnect.
func (l *Link) Heal() {
	l.mu.Lock()
	l.cut = false
	l.mu.Unlock()
}

// IsCut reports whether the link is currently cut.
func (l *Link) IsCut() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cut
}

// Close stops listening, closes all connections and waits for every
// goroutine of the link to exit. It is idempotent; later calls return nil.
func (l *Link) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.cancel()
	err := l.ln.Close()
	for c := range l.conns {
		c.close()
	}
	l.mu.Unlock()
	l.wg.Wait()
	return err
}

func (l *Link) acceptLoop() {
	defer l.wg.Done()
	for {
		nc, err := l.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || l.ctx.Err() != nil {
				return
			}
			// Transient failure (e.g. out of file descriptors): back off.
			select {
			case <-time.After(10 * time.Millisecond):
			case <-l.ctx.Done():
				return
			}
			continue
		}
		if l.IsCut() {
			nc.Close() // partitioned: accept, then drop immediately
			continue
		}
		l.wg.Add(1)
		go l.handle(nc)
	}
}

// handle dials the target for an accepted client and forwards both ways
// until either side closes, the link is cut, or the link is closed.
func (l *Link) handle(client net.Conn) {
	defer l.wg.Done()
	d := net.Dialer{Timeout: dialTimeout}
	server, err := d.DialContext(l.ctx, "tcp", l.target)
	if err != nil {
		client.Close()
		return
	}
	c := &conn{client: client, server: server, done: make(chan struct{})}
	l.mu.Lock()
	if l.cut || l.closed { // cut or closed while we were dialling
		l.mu.Unlock()
		c.close()
		return
	}
	l.conns[c] = struct{}{}
	l.mu.Unlock()

	var pipes sync.WaitGroup
	pipes.Add(2)
	go func() { defer pipes.Done(); l.pipe(c, client, server) }()
	go func() { defer pipes.Done(); l.pipe(c, server, client) }()
	pipes.Wait()

	l.mu.Lock()
	delete(l.conns, c)
	l.mu.Unlock()
}

// pipe copies src to dst through a bounded queue: a reader goroutine stamps
// each chunk with its read time and a writer (this goroutine) releases it at
// stamp+delay. Chunks are written in order, and since the reader keeps
// reading while earlier chunks wait, a continuous stream sees the delay once
// as latency rather than once per chunk. When src reaches EOF the queued data
// is flushed and the whole connection is closed.
func (l *Link) pipe(c *conn, src, dst net.Conn) {
	queue := make(chan chunk, queueLen)
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		defer close(queue)
		buf := make([]byte, chunkSize)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				ch := chunk{data: append([]byte(nil), buf[:n]...), at: time.Now()}
				select {
				case queue <- ch:
				case <-c.done:
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	// Closing c unblocks the reader (its socket is closed or done fires), so
	// waiting for it after close cannot hang.
	defer func() { c.close(); <-readerDone }()

	var timer *time.Timer
	for {
		var ch chunk
		var ok bool
		select {
		case ch, ok = <-queue:
			if !ok {
				return // src closed: everything queued has been written
			}
		case <-c.done:
			return
		}
		if wait := time.Until(ch.at.Add(l.Delay())); wait > 0 {
			if timer == nil {
				timer = time.NewTimer(wait)
			} else {
				timer.Reset(wait)
			}
			select {
			case <-timer.C:
			case <-c.done:
				timer.Stop()
				return
			}
		}
		if _, err := dst.Write(ch.data); err != nil {
			return
		}
	}
}

// Set is a group of links that are degraded together, e.g. every link
// leaving one data centre.
type Set []*Link

// SetDelay sets the one-way delay of every link in the set.
func (s Set) SetDelay(d time.Duration) {
	for _, l := range s {
		l.SetDelay(d)
	}
}

// Cut cuts every link in the set.
func (s Set) Cut() {
	for _, l := range s {
		l.Cut()
	}
}

// Heal heals every link in the set.
func (s Set) Heal() {
	for _, l := range s {
		l.Heal()
	}
}

// Close closes every link in the set and returns the errors joined.
func (s Set) Close() error {
	var errs []error
	for _, l := range s {
		errs = append(errs, l.Close())
	}
	return errors.Join(errs...)
}
