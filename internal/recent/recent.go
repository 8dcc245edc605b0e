// Package recent keeps values for a short while: a bounded map whose
// entries expire. The server uses it for what it reads about accounts
// without sessions (their rosters, block lists, existence), which every
// login's probes ask for again and again; the expiry bounds how long a
// change made by another process sharing the database goes unseen.
package recent

import (
	"sync"
	"time"
)

// Cache maps keys to values for TTL each, holding at most Max entries.
// Its zero value keeps nothing; set TTL and Max before use. It is safe for
// concurrent use.
type Cache[V any] struct {
	TTL time.Duration
	Max int
	// Now replaces time.Now (tests).
	Now func() time.Time

	mu sync.RWMutex
	m  map[string]entry[V]
}

type entry[V any] struct {
	v  V
	at time.Time
}

func (c *Cache[V]) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// Get returns the value of key if it was put less than TTL ago.
func (c *Cache[V]) Get(key string) (V, bool) {
	c.mu.RLock()
	e, ok := c.m[key]
	c.mu.RUnlock()
	if !ok || c.now().Sub(e.at) >= c.TTL {
		var zero V
		return zero, false
	}
	return e.v, true
}

// Put stores v under key for TTL. When the cache is full it first drops
// about an eighth of its entries, whichever the map yields first.
func (c *Cache[V]) Put(key string, v V) {
	if c.Max <= 0 || c.TTL <= 0 {
		return
	}
	at := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]entry[V]{}
	}
	if _, ok := c.m[key]; !ok && len(c.m) >= c.Max {
		n := 0
		for k := range c.m {
			delete(c.m, k)
			if n++; n >= max(1, c.Max/8) {
				break
			}
		}
	}
	c.m[key] = entry[V]{v, at}
}

// Delete drops key.
func (c *Cache[V]) Delete(key string) {
	c.mu.Lock()
	delete(c.m, key)
	c.mu.Unlock()
}

// Len is the number of entries held, expired ones included.
func (c *Cache[V]) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}
