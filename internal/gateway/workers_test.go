package gateway

import (
	"sync"
	"testing"
	"time"
)

// TestWorkersAreKept runs functions one after another and checks that they
// share one goroutine, that concurrent ones get their own, and that idle
// workers end after their linger time and at once when stopped.
func TestWorkersAreKept(t *testing.T) {
	stop := make(chan struct{})
	w := newWorkers(stop, 200*time.Millisecond)
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

	// Idle workers end after linger.
	deadline := time.Now().Add(3 * time.Second)
	for w.running.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := w.running.Load(); n != 0 {
		t.Fatalf("%d workers still alive 3 s after their last function (linger 200 ms)", n)
	}

	// Stopping ends waiting workers at once.
	w2 := newWorkers(stop, time.Hour)
	done := make(chan struct{})
	w2.run(func() { close(done) })
	<-done
	close(stop)
	deadline = time.Now().Add(2 * time.Second)
	for w2.running.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := w2.running.Load(); n != 0 {
		t.Fatalf("%d workers alive after stop", n)
	}
}

// handOver gives f to a worker of w once one waits for work, within a
// second, as run would then.
func handOver(w *workers, f func()) bool {
	for range 1000 {
		select {
		case w.idle <- f:
			return true
		default:
			time.Sleep(time.Millisecond)
		}
	}
	return false
}
