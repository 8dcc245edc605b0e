package im

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/starling-xmpp/starling/internal/recent"
	"github.com/starling-xmpp/starling/jid"
	"github.com/starling-xmpp/starling/storage/memory"
)

// countingStore counts roster reads and can fail writes.
type countingStore struct {
	*memory.Store
	maps     atomic.Int32
	failPuts atomic.Bool
}

func (s *countingStore) Map(ctx context.Context, host, user, st string) (map[string][]byte, error) {
	s.maps.Add(1)
	return s.Store.Map(ctx, host, user, st)
}

func (s *countingStore) Put(ctx context.Context, host, user, st, key string, v []byte) error {
	if s.failPuts.Load() {
		return errors.New("disk full")
	}
	return s.Store.Put(ctx, host, user, st, key, v)
}

// The rosters of accounts without sessions are kept for a while after a
// load, stay true through changes, and are read again after recentTTL, a
// failed write, or uncache.
func TestRecentRosters(t *testing.T) {
	ctx := context.Background()
	st := &countingStore{Store: memory.New()}
	now := time.Unix(1000, 0)
	rs := &rosters{store: st, maxTombstones: 200, cache: map[string]*roster{},
		recent: recent.Cache[*roster]{TTL: recentTTL, Max: maxRecent, Now: func() time.Time { return now }}}
	bob := jid.MustParse("bob@example.test")
	carol := jid.MustParse("carol@example.test")

	r, err := rs.load(ctx, bob)
	if err != nil {
		t.Fatal(err)
	}
	if err := rs.save(ctx, bob, r, &Item{JID: carol, From: true, To: true}, true); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		r, err := rs.load(ctx, bob)
		if err != nil || r.get(carol) == nil || !r.get(carol).To {
			t.Fatalf("the change is not seen: %v", err)
		}
	}
	if n := st.maps.Load(); n != 1 {
		t.Fatalf("%d store reads for 4 loads within the TTL, want 1", n)
	}

	now = now.Add(recentTTL)
	if _, err := rs.load(ctx, bob); err != nil || st.maps.Load() != 2 {
		t.Fatalf("after the TTL: %v, %d reads, want 2", err, st.maps.Load())
	}

	// A failed write leaves the cached roster possibly ahead of the
	// store: it is dropped, and the next load reads the store.
	r, _ = rs.load(ctx, bob)
	st.failPuts.Store(true)
	if err := rs.save(ctx, bob, r, &Item{JID: jid.MustParse("dave@example.test"), To: true}, true); err == nil {
		t.Fatal("a failed write reported success")
	}
	st.failPuts.Store(false)
	r, _ = rs.load(ctx, bob)
	if st.maps.Load() != 3 || r.get(jid.MustParse("dave@example.test")) != nil {
		t.Fatalf("after a failed write: %d reads, dave present: %v", st.maps.Load(), r.get(jid.MustParse("dave@example.test")) != nil)
	}

	// Online: the roster moves to the session cache; uncache drops both.
	rs.cacheFor(bob, r)
	if _, ok := rs.recent.Get(bob.String()); ok {
		t.Fatal("an online roster is also in recent")
	}
	rs.uncache(bob)
	rs.load(ctx, bob)
	if st.maps.Load() != 4 {
		t.Fatalf("uncache did not drop the roster: %d reads", st.maps.Load())
	}
	rs.uncache(bob)
	if _, ok := rs.recent.Get(bob.String()); ok {
		t.Fatal("uncache left the roster in recent")
	}

	// Bounded.
	for i := range maxRecent + 100 {
		if _, err := rs.load(ctx, jid.MustParse("u"+strconv.Itoa(i)+"@example.test")); err != nil {
			t.Fatal(err)
		}
	}
	if rs.recent.Len() > maxRecent {
		t.Fatalf("%d recent rosters, at most %d", rs.recent.Len(), maxRecent)
	}
}
