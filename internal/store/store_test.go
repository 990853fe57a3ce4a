package store_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dandanchat/dandan/api"
	"github.com/dandanchat/dandan/internal/broker"
	"github.com/dandanchat/dandan/internal/store"
)

func open(t *testing.T, dir string) (*broker.Broker, *store.Store) {
	t.Helper()
	b, err := broker.Start(broker.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	// A window far longer than the tests take: they check JetStream's own
	// deduplication, which the default 2 s window would make a race.
	st, err := store.Open(context.Background(), b.JetStream(), b.Conn(), store.Options{Partitions: 4, DuplicateWindow: time.Minute})
	if err != nil {
		b.Shutdown()
		t.Fatal(err)
	}
	return b, st
}

func TestAppendCASDedupeRange(t *testing.T) {
	ctx := context.Background()
	b, st := open(t, t.TempDir())
	defer b.Shutdown()

	room := "rabc"
	var head store.Head
	for i := 1; i <= 5; i++ {
		ev := &api.Event{Room: room, Seq: uint64(i), Type: api.EventMessage, Text: "hi"}
		sseq, dup, err := st.Append(ctx, ev, "u1:c"+string(rune('0'+i)), head.StreamSeq)
		if err != nil || dup {
			t.Fatalf("append %d: seq %d dup %v err %v", i, sseq, dup, err)
		}
		head = store.Head{Seq: uint64(i), StreamSeq: sseq}
	}
	// A stale expectation is refused.
	_, _, err := st.Append(ctx, &api.Event{Room: room, Seq: 6, Type: api.EventMessage}, "u1:cX", 1)
	if !errors.Is(err, store.ErrWrongLast) {
		t.Fatalf("stale append: got %v, want ErrWrongLast", err)
	}
	// A repeated id with the right expectation is a duplicate of the first.
	sseq, dup, err := st.Append(ctx, &api.Event{Room: room, Seq: 6, Type: api.EventMessage}, "u1:c3", head.StreamSeq)
	if err != nil || !dup {
		t.Fatalf("duplicate: dup %v err %v", dup, err)
	}
	if ev, err := st.EventAt(ctx, room, sseq); err != nil || ev.Seq != 3 {
		t.Fatalf("duplicate points at %+v, %v; want seq 3", ev, err)
	}
	got, err := st.LoadHead(ctx, room)
	if err != nil || got != head {
		t.Fatalf("head %+v %v, want %+v", got, err, head)
	}
	evs, err := st.Range(ctx, room, 1, 100)
	if err != nil || len(evs) != 5 {
		t.Fatalf("range: %d events, %v", len(evs), err)
	}
	for i, ev := range evs {
		if ev.Seq != uint64(i+1) {
			t.Fatalf("range[%d].Seq = %d", i, ev.Seq)
		}
	}
	if empty, err := st.LoadHead(ctx, "rnothing"); err != nil || empty.Seq != 0 {
		t.Fatalf("empty head %+v %v", empty, err)
	}
}

func TestLayoutIsKeptAcrossOpens(t *testing.T) {
	dir := t.TempDir()
	b, st := open(t, dir)
	b.Shutdown()
	if st.Partitions() != 4 {
		t.Fatalf("partitions %d", st.Partitions())
	}
	b2, err := broker.Start(broker.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Shutdown()
	st2, err := store.Open(context.Background(), b2.JetStream(), b2.Conn(), store.Options{Partitions: 32})
	if err != nil {
		t.Fatal(err)
	}
	if st2.Partitions() != 4 {
		t.Fatalf("reopened with %d partitions, want the stored 4", st2.Partitions())
	}
}

// BenchmarkAppend measures the CPU of one append the way the messenger
// makes them: parallel rooms, each with its compare-and-set expectation
// and a message id, 100-byte texts.
func BenchmarkAppend(b *testing.B) {
	br, err := broker.Start(broker.Config{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer br.Shutdown()
	st, err := store.Open(context.Background(), br.JetStream(), br.Conn(), store.Options{Partitions: 16})
	if err != nil {
		b.Fatal(err)
	}
	var rooms atomic.Int64
	text := strings.Repeat("x", 100)
	b.SetParallelism(32)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		room := "r" + strconv.FormatInt(rooms.Add(1), 10)
		var head store.Head
		for pb.Next() {
			ev := &api.Event{Room: room, Seq: head.Seq + 1, Type: api.EventMessage, Sender: "u1", ClientID: "c" + strconv.FormatUint(head.Seq, 10), Text: text}
			sseq, _, err := st.Append(ctx, ev, room+"/u1/"+ev.ClientID, head.StreamSeq)
			if err != nil {
				b.Error(err)
				return
			}
			head = store.Head{Seq: ev.Seq, StreamSeq: sseq}
		}
	})
}
