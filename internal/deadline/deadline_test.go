package deadline

import (
	"testing"
	"time"
)

func TestRenew(t *testing.T) {
	var sets []time.Time
	r := New(func(at time.Time) error { sets = append(sets, at); return nil }, 3*time.Second)
	for range 100 {
		if err := r.Renew(); err != nil {
			t.Fatal(err)
		}
	}
	if len(sets) != 1 {
		t.Fatalf("100 renewals in a row set the deadline %d times, want once", len(sets))
	}
	if ahead := time.Until(sets[0]); ahead < 3*time.Second-Slack || ahead > 3*time.Second {
		t.Errorf("deadline %v ahead, want about 3 s", ahead)
	}
	// Once the deadline is less than d-Slack away, it is set again.
	r.at = time.Now().Add(3*time.Second - Slack - time.Millisecond)
	_ = r.Renew()
	if len(sets) != 2 || time.Until(sets[1]) < 3*time.Second-Slack {
		t.Fatalf("a deadline too close was not renewed: %v", sets)
	}
	r.Reset()
	_ = r.Renew()
	if len(sets) != 3 {
		t.Fatalf("after Reset, Renew did not set the deadline: %d sets", len(sets))
	}
	// A short deadline keeps a proportionate slack: renewed before it is
	// a quarter spent.
	sets = nil
	short := New(func(at time.Time) error { sets = append(sets, at); return nil }, 40*time.Millisecond)
	_ = short.Renew()
	time.Sleep(20 * time.Millisecond)
	_ = short.Renew()
	if len(sets) != 2 || time.Until(sets[1]) < 30*time.Millisecond-5*time.Millisecond {
		t.Fatalf("a short deadline half spent was not renewed: %v", sets)
	}
}
