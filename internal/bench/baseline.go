package bench

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dandanchat/dandan/internal/broker"
)

// BaselineInflight bounds the baseline's outstanding publishes.
const BaselineInflight = 4096

// Baseline measures the raw JetStream publish rate on this machine: a
// separate embedded broker in a temporary directory (fsyncing every write if
// sync is "always"), one file-backed stream on "bench.>", and messages of
// size bytes published with PublishAsync, up to BaselineInflight in flight,
// for d. It returns the publishes acknowledged per second of d.
func Baseline(ctx context.Context, sync string, size int, d time.Duration) (float64, error) {
	dir, err := os.MkdirTemp("", "dandan-bench-baseline-*")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	b, err := broker.Start(broker.Config{Dir: dir, Name: "bench-baseline", SyncAlways: sync == "always"})
	if err != nil {
		return 0, err
	}
	defer b.Shutdown()

	var acked, failed atomic.Uint64
	var start, end atomic.Int64 // unix ns of the window
	inWindow := func() bool {
		now := time.Now().UnixNano()
		return now >= start.Load() && now < end.Load()
	}
	js, err := jetstream.New(b.Conn(),
		jetstream.WithPublishAsyncMaxPending(BaselineInflight),
		jetstream.WithPublishAsyncAckHandler(func(jetstream.JetStream, *nats.Msg, *jetstream.PubAck) {
			if inWindow() {
				acked.Add(1)
			}
		}),
		jetstream.WithPublishAsyncErrHandler(func(jetstream.JetStream, *nats.Msg, error) { failed.Add(1) }),
	)
	if err != nil {
		return 0, err
	}
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "BENCH", Subjects: []string{"bench.>"},
		Storage: jetstream.FileStorage, Replicas: 1})
	if err != nil {
		return 0, fmt.Errorf("bench: baseline stream: %w", err)
	}
	data := make([]byte, size)
	for i := range data {
		data[i] = 'x'
	}
	// 128 subjects, like messages spread over rooms.
	subjects := make([]string, 128)
	for i := range subjects {
		subjects[i] = "bench." + strconv.Itoa(i)
	}
	t0 := time.Now()
	start.Store(t0.UnixNano())
	end.Store(t0.Add(d).UnixNano())
	for i := 0; time.Since(t0) < d; i++ {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		if _, err := js.PublishAsync(subjects[i%len(subjects)], data, jetstream.WithStallWait(10*time.Second)); err != nil {
			return 0, fmt.Errorf("bench: baseline publish: %w", err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(10 * time.Second):
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	if n := failed.Load(); n > 0 {
		return 0, fmt.Errorf("bench: baseline: %d publishes failed", n)
	}
	return float64(acked.Load()) / d.Seconds(), nil
}
