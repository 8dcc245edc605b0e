package module

import (
	"sync"

	"github.com/starling-xmpp/starling/jid"
)

// accountLockStripes is how many mutexes an AccountLocks holds.
const accountLockStripes = 64

// AccountLocks serialise a module's work on one account's data (a load
// and the change that follows it) without a mutex per account: a fixed set
// of mutexes, picked by a hash of the bare JID, so two accounts rarely
// share one. The zero value is ready to use. Never hold two at once: two
// accounts may map to the same mutex.
type AccountLocks struct {
	stripes [accountLockStripes]sync.Mutex
}

// Lock locks user's mutex and returns the function that unlocks it.
func (l *AccountLocks) Lock(user jid.JID) (unlock func()) {
	m := &l.stripes[stripe(user)]
	m.Lock()
	return m.Unlock
}

// stripe is FNV-1a over the bare JID's canonical form, modulo the stripes.
func stripe(user jid.JID) uint32 {
	h := uint32(2166136261)
	s := user.Bare().String()
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h % accountLockStripes
}
