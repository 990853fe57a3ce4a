package index

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dandanchat/dandan/internal/broker"
)

// TestWatchFindsAStalledFollower: a follower that has not moved while its
// stream holds more is reported stalled (and recreated by followStream);
// one that has applied everything is left alone, however idle.
func TestWatchFindsAStalledFollower(t *testing.T) {
	b, err := broker.Start(broker.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Shutdown()
	ctx := context.Background()
	str, err := b.JetStream().CreateStream(ctx, jetstream.StreamConfig{Name: "W", Subjects: []string{"w.>"}})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := b.JetStream().Publish(ctx, "w.x", []byte("m")); err != nil {
			t.Fatal(err)
		}
	}
	ix := &Index{log: slog.New(slog.DiscardHandler)}

	var last atomic.Uint64
	last.Store(3) // everything applied: not stalled, however long it is idle
	wctx, cancel := context.WithTimeout(ctx, stallAfter+3*stallCheck)
	if ix.watch(wctx, str, &last) {
		t.Error("a follower that applied the whole stream was called stalled")
	}
	cancel()

	last.Store(2) // one message behind, not moving
	start := time.Now()
	wctx, cancel = context.WithTimeout(ctx, stallAfter+5*stallCheck)
	defer cancel()
	if !ix.watch(wctx, str, &last) {
		t.Fatal("a follower one message behind, not moving, was not called stalled")
	}
	if d := time.Since(start); d < stallAfter {
		t.Errorf("called stalled after %v, before stallAfter (%v)", d, stallAfter)
	}

	// A follower that keeps moving is never stalled, even while behind:
	// the stream grows, and the follower follows one message behind.
	last.Store(3)
	moving, stop := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(moving)
		for {
			select {
			case <-stop:
				return
			case <-time.After(stallCheck / 3):
			}
			if _, err := b.JetStream().Publish(ctx, "w.x", []byte("m")); err != nil {
				t.Error(err)
				return
			}
			last.Add(1)
		}
	}()
	wctx2, cancel2 := context.WithTimeout(ctx, stallAfter+3*stallCheck)
	defer cancel2()
	if ix.watch(wctx2, str, &last) {
		t.Error("a follower that keeps moving was called stalled")
	}
	close(stop)
	<-moving
}
