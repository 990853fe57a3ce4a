package gateway

import (
	"sync"
	"testing"
	"time"
)

// TestWorkersAreKept runs functions one after another and checks that they
// share one goroutine, that concurrent ones get their own, and that idle
// workers end within two lingers and at once when stopped.
func TestWorkersAreKept(t *testing.T) {
	// A long linger: a loaded machine must not end the worker between two
	// functions of this first part.
	w := newWorkers(time.Minute)
	for i := range 50 {
		done := make(chan struct{})
		f := func() { close(done) }
		if i == 0 || !handOver(w, f) {
			w.run(f)
		}
		<-done
	}
	if n := w.started.Load(); n != 1 {
		t.Fatalf("50 functions one after another started %d goroutines, want 1", n)
	}

	// Concurrent functions each get a goroutine.
	var wg sync.WaitGroup
	release := make(chan struct{})
	before := w.started.Load()
	for range 5 {
		wg.Add(1)
		w.run(func() { defer wg.Done(); <-release })
	}
	close(release)
	wg.Wait()
	if n := w.started.Load() - before; n < 4 {
		t.Fatalf("5 blocked functions started %d new goroutines, want at least 4", n)
	}

	// Idle workers end within two lingers.
	short := newWorkers(100 * time.Millisecond)
	for range 3 {
		short.run(func() {})
	}
	deadline := time.Now().Add(3 * time.Second)
	for short.running.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := short.running.Load(); n != 0 {
		t.Fatalf("%d workers still alive 3 s after their last function (linger 100 ms)", n)
	}

	// Stopping ends waiting workers at once (w's linger is a minute).
	if w.running.Load() == 0 {
		t.Fatal("no worker of w is waiting before stop")
	}
	w.stop()
	deadline = time.Now().Add(2 * time.Second)
	for w.running.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := w.running.Load(); n != 0 {
		t.Fatalf("%d workers alive after stop", n)
	}
}

// handOver gives f to a worker of w once one waits for work, within a
// second, as run would then.
func handOver(w *workers, f func()) bool {
	for range 1000 {
		if w.handOff(f) {
			return true
		}
		time.Sleep(time.Millisecond)
	}
	return false
}

// TestWorkerKeptAcrossLingers keeps one worker busy for many lingers, a
// function every fifth of one: reaps run meanwhile, often while it waits,
// but must not end it, since it has not waited through a whole linger.
// Once idle, it lives at least one linger more, then ends.
func TestWorkerKeptAcrossLingers(t *testing.T) {
	const linger = 50 * time.Millisecond
	w := newWorkers(linger)
	defer w.stop()
	var last time.Time // when the last function ran; read after its done
	step := func(done chan struct{}) func() {
		return func() { last = time.Now(); close(done) }
	}
	done := make(chan struct{})
	w.run(step(done))
	<-done
	for range 100 { // a second: twenty lingers
		time.Sleep(linger / 5)
		gap := time.Since(last)
		done := make(chan struct{})
		if !handOver(w, step(done)) {
			if gap >= linger/2 {
				// The worker may rightly have ended: the machine left this
				// goroutine idle far longer than it asked.
				t.Skipf("this goroutine slept %v, not %v: machine too loaded", gap, linger/5)
			}
			t.Fatalf("the worker ended %v after its last function, within a linger (%v)", gap, linger)
		}
		<-done
	}
	for w.running.Load() > 0 && time.Since(last) < 3*time.Second {
		time.Sleep(time.Millisecond)
	}
	if n := w.running.Load(); n != 0 {
		t.Fatalf("%d workers alive 3 s after the last function (linger %v)", n, linger)
	}
	if lived := time.Since(last); lived < linger {
		t.Fatalf("the idle worker ended %v after its last function, before one linger (%v)", lived, linger)
	}
}
