package bench

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBuckets(t *testing.T) {
	prev := -1
	for _, v := range []uint64{0, 1, 255, 256, 257, 511, 512, 1000, 1 << 20, 1<<20 + 1, 1 << 40, 1<<63 - 1} {
		i := bucketOf(v)
		if i < prev {
			t.Errorf("bucketOf(%d) = %d, below the previous %d", v, i, prev)
		}
		if i >= histBuckets {
			t.Fatalf("bucketOf(%d) = %d out of range", v, i)
		}
		lo, w := bucketRange(i)
		if v < lo || v-lo >= w {
			t.Errorf("%d in bucket %d = [%d, %d)", v, i, lo, lo+w)
		}
		if lo >= histExact && float64(w)/float64(lo) > 1.0/histSub+1e-12 {
			t.Errorf("bucket %d: width %d too wide for %d", i, w, lo)
		}
		prev = i
	}
}

func TestQuantileExact(t *testing.T) {
	var h Histogram
	if h.Quantile(0.5) != 0 {
		t.Fatal("empty histogram has a quantile")
	}
	// 1..200 ns are recorded exactly; shuffled, the order does not matter.
	vs := rand.Perm(200)
	for _, v := range vs {
		h.Record(time.Duration(v + 1))
	}
	for _, tt := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 100}, {0.99, 198}, {0.999, 200}, {0.001, 1}, {1, 200}, {0.505, 101}} {
		if got := h.Quantile(tt.q); got != tt.want {
			t.Errorf("Quantile(%v) = %v, want %v", tt.q, got, tt.want)
		}
	}
	if h.Count() != 200 || h.Max() != 200 {
		t.Errorf("Count, Max = %d, %v", h.Count(), h.Max())
	}
}

func TestQuantileApprox(t *testing.T) {
	var h Histogram
	r := rand.New(rand.NewPCG(1, 2))
	vals := make([]time.Duration, 100_000)
	for i := range vals {
		// Log-normal-ish latencies around 1 ms with a long tail.
		vals[i] = time.Duration(float64(time.Millisecond) * (0.2 + r.ExpFloat64()*r.ExpFloat64()))
		h.Record(vals[i])
	}
	slices.Sort(vals)
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		want := vals[int(q*float64(len(vals)))-1] // nearest rank
		got := h.Quantile(q)
		if d := float64(got-want) / float64(want); d > 0.005 || d < -0.005 {
			t.Errorf("Quantile(%v) = %v, want %v (±0.5%%)", q, got, want)
		}
	}
	if h.Quantile(0.5) > h.Quantile(0.99) || h.Quantile(0.99) > h.Quantile(0.999) || h.Quantile(0.999) > h.Max() {
		t.Error("quantiles not ordered")
	}
}

func TestRecordNegative(t *testing.T) {
	var h Histogram
	h.Record(-5)
	if h.Quantile(1) != 0 || h.Count() != 1 {
		t.Errorf("negative value: %v, %d", h.Quantile(1), h.Count())
	}
}
