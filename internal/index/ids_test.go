package index

import (
	"runtime"
	"testing"
	"time"
)

// An id is forgotten only once it is both older than the age and not among
// the room's last events; a later id hashing alike takes over its hash.
func TestIDWindow(t *testing.T) {
	var w idWindow
	const events, age = 3, 10 * time.Second
	for seq := uint64(1); seq <= 5; seq++ { // all at t=100: none old enough to forget
		w.add(seq*1000, seq, 100, events, age)
	}
	if w.len() != 5 {
		t.Fatalf("kept %d ids, want all 5 (none older than the age)", w.len())
	}
	w.add(6000, 6, 111, events, age) // 1..5 now older than 10 s: keep the last 3
	if w.len() != events {
		t.Fatalf("kept %d ids, want the last %d", w.len(), events)
	}
	for seq := uint64(1); seq <= 6; seq++ {
		got, ok := w.bySum[seq*1000]
		if want := seq >= 4; ok != want || (ok && got != seq) {
			t.Errorf("id of seq %d: found %v (seq %d), want found %v", seq, ok, got, want)
		}
	}

	// Seq 7 hashes like seq 5: it takes the hash over, and forgetting seq 5
	// later must not forget seq 7.
	w.add(5000, 7, 111, events, age)
	for seq := uint64(8); seq <= 9; seq++ {
		w.add(seq*1000, seq, 200, events, age)
	}
	if got, ok := w.bySum[5000]; !ok || got != 7 {
		t.Fatalf("hash shared by seqs 5 and 7 = %d, %v; want 7", got, ok)
	}

	// Many adds reuse the queue's front instead of growing it.
	for seq := uint64(10); seq < 10_000; seq++ {
		w.add(seq<<20, seq, 1000+int64(seq), events, age)
	}
	if w.len() != 11 || len(w.bySum) != 11 || cap(w.queue) > 1024 {
		t.Fatalf("after 10,000 ids one a second: %d queued, %d hashes, capacity %d; want 11, 11 and a bounded queue",
			w.len(), len(w.bySum), cap(w.queue))
	}
}

// After a burst, a room's memory for ids shrinks back.
func TestIDWindowShrinksAfterBurst(t *testing.T) {
	var w idWindow
	const events, age = 10, 10 * time.Second
	for seq := uint64(1); seq <= 100_000; seq++ {
		w.add(seq, seq, 100, events, age)
	}
	for seq := uint64(100_001); seq <= 100_200; seq++ { // a minute later: the burst is old
		w.add(seq, seq, 160, events, age)
	}
	if w.len() != 200 || len(w.bySum) != 200 {
		t.Fatalf("kept %d ids (%d hashes), want the 200 young ones", w.len(), len(w.bySum))
	}
	if w.peak > 1024 || cap(w.queue) > 4096 {
		t.Fatalf("after the burst: map made for %d, queue capacity %d; want both small again", w.peak, cap(w.queue))
	}
}

// BenchmarkIDWindow reports the memory a remembered id costs: a room
// remembering its last 1,000,000 ids.
func BenchmarkIDWindow(b *testing.B) {
	const n = 1_000_000
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		var w idWindow
		for seq := uint64(1); seq <= n; seq++ {
			w.add(seq*0x9E3779B97F4A7C15, seq, 100, n, time.Minute)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "B/id")
		runtime.KeepAlive(&w)
	}
}

// The sweep makes a room that went quiet forget its expired ids beyond the
// last few, and leaves young ones alone.
func TestSweepIDs(t *testing.T) {
	ix := &Index{rooms: map[string]*room{}, idEvents: 2, idAge: time.Minute}
	quiet, busy := &room{}, &room{}
	ix.rooms["quiet"], ix.rooms["busy"] = quiet, busy
	for seq := uint64(1); seq <= 5; seq++ {
		quiet.ids.add(seq, seq, 1000, ix.idEvents, ix.idAge)
		busy.ids.add(seq, seq, 1050, ix.idEvents, ix.idAge)
	}
	ix.sweepIDs(time.Unix(1100, 0)) // quiet's ids are 100 s old, busy's 50 s
	if quiet.ids.len() != 2 || busy.ids.len() != 5 {
		t.Fatalf("after the sweep: quiet keeps %d ids, busy %d; want 2 and 5", quiet.ids.len(), busy.ids.len())
	}
	if _, ok := quiet.ids.bySum[5]; !ok {
		t.Fatal("the quiet room forgot its newest id")
	}
}
