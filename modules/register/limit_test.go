package register

import (
	"errors"
	"strconv"
	"testing"
	"time"
)

func TestLimiters(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	steps := []struct {
		at   time.Duration
		addr string
		want error
	}{
		{0, "a", nil},
		{0, "a", nil},
		{0, "a", errLimited},
		{0, "b", nil},
		{time.Minute, "a", errLimited},
		{10 * time.Minute, "a", nil},
		{10 * time.Minute, "a", errLimited},
		{30 * time.Minute, "a", nil},
		{30 * time.Minute, "a", nil},
		{30 * time.Minute, "a", errLimited},
	}
	l := newLimiters(10*time.Minute, 2)
	for i, s := range steps {
		if _, err := l.reserve(s.addr, t0.Add(s.at)); !errors.Is(err, s.want) {
			t.Fatalf("step %d (%s at %v): err %v, want %v", i, s.addr, s.at, err, s.want)
		}
	}
}

func TestLimitersRefund(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newLimiters(time.Hour, 1)
	refund, err := l.reserve("a", t0)
	if err != nil {
		t.Fatal(err)
	}
	refund()
	if _, err := l.reserve("a", t0.Add(time.Second)); err != nil {
		t.Fatalf("after a refund: %v", err)
	}
	if _, err := l.reserve("a", t0.Add(2*time.Second)); !errors.Is(err, errLimited) {
		t.Fatalf("the refunded token was given twice: %v", err)
	}
}

// Buckets that have refilled are forgotten, so the table does not grow
// with every address ever seen.
func TestLimitersEvict(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newLimiters(time.Minute, 3)
	for i := range 100 {
		if _, err := l.reserve("10.0.0."+strconv.Itoa(i), t0); err != nil {
			t.Fatal(err)
		}
	}
	if n := l.tracked(); n != 100 {
		t.Fatalf("tracked %d, want 100", n)
	}
	// Not yet refilled (3 tokens take 3 minutes): nothing goes.
	if _, err := l.reserve("x", t0.Add(150*time.Second)); err != nil {
		t.Fatal(err)
	}
	if n := l.tracked(); n != 101 {
		t.Fatalf("tracked %d before the buckets refilled, want 101", n)
	}
	// Refilled: everything idle goes, but x is still refilling.
	if _, err := l.reserve("y", t0.Add(181*time.Second)); err != nil {
		t.Fatal(err)
	}
	if n := l.tracked(); n != 2 {
		t.Fatalf("tracked %d after the buckets refilled, want 2 (x and y)", n)
	}
}

func TestLimitersFull(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newLimiters(time.Hour, 1)
	l.max = 2
	for _, a := range []string{"a", "b"} {
		if _, err := l.reserve(a, t0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.reserve("c", t0); !errors.Is(err, errBusy) {
		t.Fatalf("third address: %v, want errBusy", err)
	}
	// Known addresses are still judged by their own bucket.
	if _, err := l.reserve("a", t0); !errors.Is(err, errLimited) {
		t.Fatalf("known address: %v, want errLimited", err)
	}
	// Once the buckets refill there is room again.
	if _, err := l.reserve("c", t0.Add(time.Hour)); err != nil {
		t.Fatalf("after the refill: %v", err)
	}
}

func TestLimitersOff(t *testing.T) {
	l := newLimiters(0, 1)
	for range 10 {
		if _, err := l.reserve("a", time.Now()); err != nil {
			t.Fatal(err)
		}
	}
}
