package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/starling-xmpp/starling/client"
	"github.com/starling-xmpp/starling/stanza"
)

// TestBuckets: buckets are contiguous and ordered, and a value's bucket
// holds it.
func TestBuckets(t *testing.T) {
	prev := -1
	for _, v := range []int64{0, 1, 127, 128, 129, 255, 256, 257, 1000, 1 << 20, 1<<30 + 12345, 1<<40 - 1} {
		b := bucketOf(v)
		if b < prev || b >= histBuckets {
			t.Errorf("bucketOf(%d) = %d after %d (of %d)", v, b, prev, histBuckets)
		}
		prev = b
		if mid := bucketValue(b); float64(mid) < float64(v)*0.99 || float64(mid) > float64(v)*1.01+1 {
			t.Errorf("bucketValue(bucketOf(%d)) = %d, more than 1%% away", v, mid)
		}
	}
	if b := bucketOf(1 << 50); b != histBuckets-1 {
		t.Errorf("bucketOf(2^50) = %d, want the last bucket %d", b, histBuckets-1)
	}
}

// TestQuantiles: quantiles of a known sample are within 1% and ordered;
// the maximum is exact.
func TestQuantiles(t *testing.T) {
	var h histogram
	var vals []time.Duration
	r := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		d := time.Duration(r.Int64N(int64(50*time.Millisecond))) + time.Microsecond
		vals = append(vals, d)
		h.record(d)
	}
	slices.Sort(vals)
	l := h.latency()
	for _, c := range []struct {
		q   float64
		got time.Duration
	}{{0.5, l.P50}, {0.9, l.P90}, {0.99, l.P99}} {
		want := vals[int(c.q*float64(len(vals)))-1]
		if d := float64(c.got-want) / float64(want); d > 0.01 || d < -0.01 {
			t.Errorf("q%v = %v, want %v", c.q, c.got, want)
		}
	}
	if l.Max != vals[len(vals)-1] || l.Samples != 10000 || !(l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.Max) {
		t.Errorf("latency %+v, max want %v", l, vals[len(vals)-1])
	}
	var empty histogram
	if l := empty.latency(); l != (Latency{}) {
		t.Errorf("empty histogram: %+v", l)
	}
}

func TestErrorKind(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&client.AuthError{Condition: "not-authorized"}, "login: auth not-authorized"},
		{fmt.Errorf("x: %w", stanza.NewStreamError("conflict", "")), "login: stream error conflict"},
		{context.DeadlineExceeded, "login: timeout"},
		{io.EOF, "login: connection closed"},
		{errors.New("client: TLS: bad"), "login: tls"},
		{errors.New("something"), "login: other"},
	} {
		if got := errorKind("login", tc.err); got != tc.want {
			t.Errorf("errorKind(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

func TestParseBody(t *testing.T) {
	if seq, d, ok := parseBody("12 3456"); !ok || seq != 12 || d != 3456 {
		t.Errorf("parseBody: %d %d %v", seq, d, ok)
	}
	for _, b := range []string{"", "12", "a 1", "1 b"} {
		if _, _, ok := parseBody(b); ok {
			t.Errorf("parseBody(%q) ok", b)
		}
	}
}

// TestProcessCPU reads this process's CPU time from /proc on Linux, and
// fails cleanly elsewhere or for a process that does not exist.
func TestProcessCPU(t *testing.T) {
	_, err := processCPU(os.Getpid())
	if (err == nil) != (runtime.GOOS == "linux") {
		t.Errorf("processCPU(self) on %s: %v", runtime.GOOS, err)
	}
	if _, err := processCPU(-1); err == nil {
		t.Error("processCPU(-1) succeeded")
	}
	if _, ok := selfCPU(); !ok && runtime.GOOS == "linux" {
		t.Error("selfCPU not measured on Linux")
	}
}
