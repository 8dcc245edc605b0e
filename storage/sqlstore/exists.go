package sqlstore

import (
	"sync"
	"time"
)

// existing remembers, for existsTTL, accounts AccountExists found: the
// router asks for every stanza to an account without sessions (a user
// logging in probes each contact, most of them offline), and under a
// login load that query was a fifth of the server's CPU. Only positive
// answers are kept, and DeleteAccount forgets the account at once; an
// account deleted by another process sharing the database (`starling user
// del` beside a running server) may look present for up to existsTTL.
type existing struct {
	mu sync.Mutex
	m  map[string]time.Time // host "\x00" user → when it was seen
}

// Bounds of existing.
const (
	maxExisting = 1 << 16
	existsTTL   = time.Minute
)

func existsKey(host, user string) string { return host + "\x00" + user }

func (e *existing) seen(host, user string, now time.Time) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	at, ok := e.m[existsKey(host, user)]
	return ok && now.Sub(at) < existsTTL
}

func (e *existing) add(host, user string, now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.m == nil {
		e.m = map[string]time.Time{}
	}
	if len(e.m) >= maxExisting {
		n := 0
		for k := range e.m {
			delete(e.m, k)
			if n++; n >= maxExisting/8 {
				break
			}
		}
	}
	e.m[existsKey(host, user)] = now
}

func (e *existing) forget(host, user string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.m, existsKey(host, user))
}
