package register

import (
	"errors"
	"sync"
	"time"
)

// maxTracked bounds how many remote addresses are tracked at once. Only
// addresses that recently created an account hold an entry (an address
// whose bucket has refilled is forgotten), so the table fills only when
// that many accounts were created within one refill period.
const maxTracked = 1 << 16

var (
	// errLimited: this address created accounts too recently.
	errLimited = errors.New("register: too many accounts from this address")
	// errBusy: too many addresses are being tracked.
	errBusy = errors.New("register: too many addresses tracked")
)

// limiters is a token bucket per remote address: one token per interval,
// up to burst. Buckets that have refilled are evicted, since a fresh bucket
// would behave the same, so the table holds only recent activity.
//
// It is the token bucket of golang.org/x/time/rate (rate.Every(interval),
// burst) plus what that package lacks: giving a token back later, when the
// attempt it paid for fails (rate's Reservation.Cancel restores nothing
// once the reservation's time has passed), so that a taken username does
// not cost the interval. Registrations are rare: one mutex guards it all.
type limiters struct {
	interval time.Duration
	burst    float64
	// fill is how long an empty bucket takes to refill: how often idle
	// buckets are swept out.
	fill time.Duration
	max  int

	mu    sync.Mutex
	m     map[string]*bucket
	swept time.Time
}

// bucket holds tokens as of last.
type bucket struct {
	tokens float64
	last   time.Time
}

// newLimiters returns the limiters for one account per interval after a
// burst, or nil (no limit) when interval is zero.
func newLimiters(interval time.Duration, burst int) *limiters {
	if interval <= 0 {
		return nil
	}
	burst = max(burst, 1)
	return &limiters{
		interval: interval,
		burst:    float64(burst),
		fill:     interval * time.Duration(burst),
		max:      maxTracked,
		m:        map[string]*bucket{},
	}
}

// tokensAt returns b's tokens at now. l.mu is held.
func (l *limiters) tokensAt(b *bucket, now time.Time) float64 {
	t := b.tokens
	if d := now.Sub(b.last); d > 0 {
		t += float64(d) / float64(l.interval)
	}
	return min(t, l.burst)
}

// reserve takes one token from addr's bucket at now. On success it returns
// a function that gives the token back (for an attempt that then failed);
// otherwise errLimited or errBusy. A nil *limiters allows everything.
func (l *limiters) reserve(addr string, now time.Time) (refund func(), err error) {
	if l == nil {
		return func() {}, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) >= l.fill {
		l.sweep(now)
	}
	b := l.m[addr]
	if b == nil {
		if len(l.m) >= l.max {
			l.sweep(now)
			if len(l.m) >= l.max {
				return nil, errBusy
			}
		}
		b = &bucket{tokens: l.burst, last: now}
		l.m[addr] = b
	}
	t := l.tokensAt(b, now)
	if t < 1 {
		return nil, errLimited
	}
	b.tokens = t - 1
	if now.After(b.last) {
		b.last = now
	}
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		b.tokens = min(b.tokens+1, l.burst)
	}, nil
}

// sweep forgets the buckets that are full again. l.mu is held.
func (l *limiters) sweep(now time.Time) {
	for addr, b := range l.m {
		if l.tokensAt(b, now) >= l.burst {
			delete(l.m, addr)
		}
	}
	l.swept = now
}

// tracked returns how many addresses hold a bucket.
func (l *limiters) tracked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}
