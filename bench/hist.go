package bench

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// A histogram of durations that many goroutines record into without a
// lock: log-linear buckets (128 per power of two, so a quantile is within
// 0.4% of the true value; exact below 128 ns), with the maximum kept
// exactly. Its size does not grow with the number of samples, so a long
// run at a high rate needs no more memory than a short one.
type histogram struct {
	counts [histBuckets]atomic.Uint64
	n      atomic.Uint64
	max    atomic.Int64
}

const (
	histSubBits = 7
	histSub     = 1 << histSubBits
	// histMaxBits: samples are clamped below 2^40 ns (about 18 minutes,
	// longer than any timeout bench allows).
	histMaxBits = 40
	histBuckets = (histMaxBits-histSubBits-1+1)*histSub + histSub
)

func bucketOf(v int64) int {
	if v < histSub {
		return int(max(v, 0))
	}
	if v >= 1<<histMaxBits {
		v = 1<<histMaxBits - 1
	}
	e := bits.Len64(uint64(v)) - (histSubBits + 1)
	m := int(v >> e)
	return (e+1)*histSub + m - histSub
}

// bucketValue is the middle of bucket i.
func bucketValue(i int) int64 {
	if i < histSub {
		return int64(i)
	}
	e := i/histSub - 1
	m := int64(i%histSub + histSub)
	lo := m << e
	hi := (m+1)<<e - 1
	return lo + (hi-lo)/2
}

// record adds one sample.
func (h *histogram) record(d time.Duration) {
	v := int64(d)
	h.counts[bucketOf(v)].Add(1)
	h.n.Add(1)
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			return
		}
	}
}

// quantile returns the q-quantile (0 < q <= 1) of the samples, never more
// than the maximum; zero without samples.
func (h *histogram) quantile(q float64) time.Duration {
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
			return time.Duration(min(bucketValue(i), h.max.Load()))
		}
	}
	return time.Duration(h.max.Load())
}

// latency summarises the histogram.
func (h *histogram) latency() Latency {
	return Latency{
		Samples: int64(h.n.Load()),
		P50:     h.quantile(0.50),
		P90:     h.quantile(0.90),
		P99:     h.quantile(0.99),
		Max:     time.Duration(h.max.Load()),
	}
}
