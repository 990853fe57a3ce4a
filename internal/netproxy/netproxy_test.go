package netproxy

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// echoServer starts a TCP echo server and registers its shutdown (which waits
// for all of its goroutines) with t.Cleanup.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

func newLink(t *testing.T, target string) *Link {
	t.Helper()
	l, err := Listen("127.0.0.1:0", target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip sends msg and expects it echoed back within a second.
func roundTrip(c net.Conn, msg []byte) error {
	c.SetDeadline(time.Now().Add(time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write(msg); err != nil {
		return err
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		return err
	}
	if !bytes.Equal(got, msg) {
		return errors.New("echo mismatch")
	}
	return nil
}

// expectClosed asserts that the peer closed c promptly: a read returns an
// error that is not a deadline timeout, and no data.
func expectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(time.Second))
	n, err := c.Read(make([]byte, 64))
	if n > 0 || err == nil {
		t.Fatalf("read %d bytes, err %v; want connection closed", n, err)
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("connection was not closed by the link within 1s")
	}
}

func TestLargePayloadBothDirections(t *testing.T) {
	l := newLink(t, echoServer(t))
	c := dial(t, l.Addr())

	payload := make([]byte, 4<<20)
	rand.Read(payload)
	errc := make(chan error, 1)
	go func() { _, err := c.Write(payload); errc <- err }()

	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	got := make([]byte, len(payload))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, payload) {
		t.Fatal("payload corrupted in transit")
	}
}

func TestDelayIsLatencyNotThroughput(t *testing.T) {
	l := newLink(t, echoServer(t))
	c := dial(t, l.Addr())

	// Without delay a round trip is fast.
	start := time.Now()
	if err := roundTrip(c, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 40*time.Millisecond {
		t.Fatalf("undelayed round trip took %v", d)
	}

	// The delay applies to the already open connection. Send a stream of
	// small timestamped messages, spaced so the link reads them as separate
	// chunks, and check every one's round trip is ~2*delay. A link that
	// slept per chunk instead of pipelining would push later messages far
	// beyond that.
	const (
		delay   = 80 * time.Millisecond
		n       = 40
		spacing = 3 * time.Millisecond
	)
	l.SetDelay(delay)
	if l.Delay() != delay {
		t.Fatalf("Delay() = %v", l.Delay())
	}
	c.SetDeadline(time.Now().Add(2 * time.Second))
	sent := make([]time.Time, n)
	werr := make(chan error, 1)
	go func() {
		for i := range n {
			sent[i] = time.Now()
			if _, err := c.Write(binary.BigEndian.AppendUint64(nil, uint64(i))); err != nil {
				werr <- err
				return
			}
			time.Sleep(spacing)
		}
		werr <- nil
	}()
	var worst time.Duration
	buf := make([]byte, 8)
	for i := range n {
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatal(err)
		}
		rtt := time.Since(sent[i]) // sent[i] happens before the echo arrives
		if got := binary.BigEndian.Uint64(buf); got != uint64(i) {
			t.Fatalf("message %d arrived as %d: order not preserved", i, got)
		}
		if rtt < 2*delay {
			t.Fatalf("message %d round trip %v < 2*delay", i, rtt)
		}
		worst = max(worst, rtt)
	}
	t.Logf("worst round trip with %v one-way delay: %v", delay, worst)
	if err := <-werr; err != nil {
		t.Fatal(err)
	}
	// Pipelined, every round trip is 2*delay plus scheduling noise. Sleeping
	// per chunk lets later messages queue behind earlier ones (~3*delay).
	if worst > 2*delay+delay/2 {
		t.Fatalf("worst round trip %v; delay is serialising the stream", worst)
	}

	// Removing the delay takes effect again.
	l.SetDelay(0)
	c.SetDeadline(time.Time{})
	start = time.Now()
	if err := roundTrip(c, []byte("y")); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 40*time.Millisecond {
		t.Fatalf("round trip after SetDelay(0) took %v", d)
	}
}

func TestCutAndHeal(t *testing.T) {
	l := newLink(t, echoServer(t))
	before := dial(t, l.Addr())
	if err := roundTrip(before, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if l.IsCut() {
		t.Fatal("new link reports cut")
	}

	l.Cut()
	if !l.IsCut() {
		t.Fatal("IsCut() = false after Cut")
	}
	expectClosed(t, before)

	// New connections are accepted and dropped: no data passes.
	during := dial(t, l.Addr())
	during.Write([]byte("anyone there?"))
	expectClosed(t, during)

	l.Heal()
	if l.IsCut() {
		t.Fatal("IsCut() = true after Heal")
	}
	after := dial(t, l.Addr())
	if err := roundTrip(after, []byte("back again")); err != nil {
		t.Fatalf("after Heal: %v", err)
	}
}

// linkGoroutines counts goroutines currently executing a *Link method
// (including the closures those methods start).
func linkGoroutines() int {
	buf := make([]byte, 1<<20)
	stacks := string(buf[:runtime.Stack(buf, true)])
	n := 0
	for _, g := range strings.Split(stacks, "\n\n") {
		if strings.Contains(g, ".(*Link).") {
			n++
		}
	}
	return n
}

func TestCloseStopsEverythingWithoutLeaks(t *testing.T) {
	base := runtime.NumGoroutine()
	// Run in a subtest so its cleanups (echo server, client sockets) have
	// run by the time goroutines are counted.
	t.Run("close", func(t *testing.T) {
		target := echoServer(t)
		l, err := Listen("127.0.0.1:0", target)
		if err != nil {
			t.Fatal(err)
		}
		var clients []net.Conn
		for range 3 {
			c := dial(t, l.Addr())
			if err := roundTrip(c, []byte("ping")); err != nil {
				t.Fatal(err)
			}
			clients = append(clients, c)
		}
		// Park data in the link's queues behind a long delay, so Close has
		// to interrupt writers waiting on timers and readers blocked on a
		// full queue.
		l.SetDelay(time.Hour)
		var writers sync.WaitGroup
		for _, c := range clients {
			writers.Add(1)
			go func() {
				defer writers.Done()
				buf := make([]byte, 64<<10)
				for {
					if _, err := c.Write(buf); err != nil {
						return
					}
				}
			}()
		}
		time.Sleep(50 * time.Millisecond)

		closed := make(chan error, 1)
		go func() { closed <- l.Close() }()
		select {
		case err := <-closed:
			if err != nil {
				t.Fatalf("Close: %v", err)
			}
		case <-time.After(time.Second):
			t.Fatal("Close did not return within 1s")
		}
		// Close waits for the link's goroutines: none may remain. One that
		// has just marked itself done may still be returning, so allow it a
		// moment to leave the stack.
		deadline := time.Now().Add(time.Second)
		for n := linkGoroutines(); n != 0; n = linkGoroutines() {
			if time.Now().After(deadline) {
				t.Fatalf("%d link goroutines still running after Close", n)
			}
			time.Sleep(5 * time.Millisecond)
		}
		if err := l.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		for _, c := range clients {
			expectClosed(t, c)
			c.Close()
		}
		writers.Wait()
		if c, err := net.DialTimeout("tcp", l.Addr(), time.Second); err == nil {
			c.Close()
			t.Fatal("link still accepting after Close")
		}
	})
	if t.Failed() {
		return
	}

	// Every goroutine started by the link and the subtest must be gone.
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("goroutine leak: %d > %d\n%s", runtime.NumGoroutine(), base,
				buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
