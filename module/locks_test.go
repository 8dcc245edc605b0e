package module

import (
	"fmt"
	"sync"
	"testing"

	"github.com/starling-xmpp/starling/jid"
)

// One account's critical sections never overlap (the race detector and
// the counter would tell), whichever of its JIDs is used; and the lock of
// one account does not hold up an account on another stripe.
func TestAccountLocks(t *testing.T) {
	var l AccountLocks
	alice := jid.MustParse("alice@example.test")
	n := 0
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			j := alice
			if i%2 == 0 {
				j = jid.MustParse("alice@example.test/phone")
			}
			unlock := l.Lock(j)
			n++
			unlock()
		})
	}
	wg.Wait()
	if n != 50 {
		t.Fatalf("n = %d, want 50", n)
	}

	// Another account on another stripe locks while alice's is held
	// (were it the same mutex, this would deadlock).
	if stripe(alice) != stripe(jid.MustParse("alice@example.test/phone")) {
		t.Fatal("one account's JIDs map to different stripes")
	}
	var other jid.JID
	for i := range accountLockStripes + 1 {
		other = jid.MustParse(fmt.Sprintf("user%d@example.test", i))
		if stripe(other) != stripe(alice) {
			break
		}
	}
	unlock := l.Lock(alice)
	l.Lock(other)()
	unlock()
}
