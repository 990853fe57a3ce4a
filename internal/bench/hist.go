package bench

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// Histogram records durations in a log-linear layout (like HDR histograms):
// values below 256 ns exactly, larger ones in buckets 1/128 of their power
// of two wide, so a quantile is within 0.4% of the recorded value. Record is
// safe for concurrent use and never allocates.
type Histogram struct {
	counts [histBuckets]atomic.Uint64
	n      atomic.Uint64
	max    atomic.Int64
}

const (
	histSubBits = 7
	histSub     = 1 << histSubBits // buckets per power of two
	histExact   = 2 * histSub      // values below this have a bucket each
	histBuckets = histExact + (64-histSubBits-1)*histSub
)

func bucketOf(v uint64) int {
	if v < histExact {
		return int(v)
	}
	shift := bits.Len64(v) - histSubBits - 1
	return histExact + (shift-1)*histSub + int(v>>shift) - histSub
}

// bucketRange is the lowest value of bucket i and its width.
func bucketRange(i int) (lo, width uint64) {
	if i < histExact {
		return uint64(i), 1
	}
	i -= histExact
	shift := i/histSub + 1
	sub := uint64(i%histSub + histSub)
	return sub << shift, 1 << shift
}

// Record adds one duration; negative ones count as zero.
func (h *Histogram) Record(d time.Duration) {
	v := max(int64(d), 0)
	h.counts[bucketOf(uint64(v))].Add(1)
	h.n.Add(1)
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			return
		}
	}
}

// Count is the number of recorded values.
func (h *Histogram) Count() uint64 { return h.n.Load() }

// Max is the largest recorded value.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max.Load()) }

// Quantile returns the nearest-rank q-quantile (0 < q ≤ 1): the smallest
// recorded value (within the bucket precision) such that at least q of the
// values are at or below it. It is 0 if nothing was recorded.
func (h *Histogram) Quantile(q float64) time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(n)))
	rank = min(max(rank, 1), n)
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			lo, w := bucketRange(i)
			v := lo + (w-1)/2 // the middle of the bucket
			return min(time.Duration(v), h.Max())
		}
	}
	return h.Max()
}

// ms converts a duration to float milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
