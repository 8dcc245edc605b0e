package blocking

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/starling-xmpp/starling/internal/recent"
	"github.com/starling-xmpp/starling/jid"
	"github.com/starling-xmpp/starling/module"
	"github.com/starling-xmpp/starling/stanza"
	"github.com/starling-xmpp/starling/storage"
)

// storeName is the key-value map that holds an account's block list: one
// key per blocked JID, in its canonical form, with an empty value.
const storeName = "blocklist"

// list is one account's block list. A list is never changed once built:
// a change builds a new one, so readers need no lock.
type list struct {
	set map[string]struct{}
}

// emptyList is the list of an account that blocks nobody.
var emptyList = &list{}

// blocks reports whether e matches an item of the list, by the rules of
// XEP-0191 §5: user@domain/resource, user@domain, domain/resource, domain.
// Looking up e itself covers an item equal to it; its bare JID, an item
// user@domain for user@domain/resource, and an item domain for
// domain/resource; its domain, an item domain for user@domain[/resource].
func (l *list) blocks(e jid.JID) bool {
	if len(l.set) == 0 || e.IsZero() {
		return false
	}
	if _, ok := l.set[e.String()]; ok {
		return true
	}
	if e.IsFull() {
		if _, ok := l.set[e.Bare().String()]; ok {
			return true
		}
	}
	if e.Local() != "" {
		if _, ok := l.set[e.Domain()]; ok {
			return true
		}
	}
	return false
}

// items returns the blocked JIDs, sorted.
func (l *list) items() []string {
	return slices.Sorted(maps.Keys(l.set))
}

// lists holds the block lists: the store is the truth; the lists of
// accounts with bound sessions are cached, and those of other accounts
// read lately are kept for recentTTL.
type lists struct {
	kv      storage.KV
	profile jid.Profile
	// online reports whether the account has a bound session; only then
	// is its list cached.
	online func(user jid.JID) bool
	// max bounds the number of items of one list.
	max int

	// locks serialise loads and changes of one account's list, so that a
	// load never overwrites a newer change.
	locks module.AccountLocks

	mu    sync.RWMutex
	cache map[string]*list // bare JID → list
	// recent keeps, for recentTTL, the lists of accounts without
	// sessions that were loaded lately: the inbound hook reads the
	// recipient's list for every stanza, and a user logging in probes
	// contacts that are mostly offline. Lists are replaced, never
	// changed, and every change goes through keep, so the copy stays true
	// within the server.
	recent recent.Cache[*list]
}

// Bounds of lists.recent.
const (
	maxRecent = 4096
	recentTTL = time.Minute
)

func newLists(kv storage.KV, profile jid.Profile, online func(jid.JID) bool, max int) *lists {
	return &lists{kv: kv, profile: profile, online: online, max: max, cache: map[string]*list{},
		recent: recent.Cache[*list]{TTL: recentTTL, Max: maxRecent}}
}

func (c *lists) cached(user jid.JID) (*list, bool) {
	key := user.String()
	c.mu.RLock()
	l, ok := c.cache[key]
	c.mu.RUnlock()
	if ok {
		return l, true
	}
	return c.recent.Get(key)
}

// get returns the block list of the account user (a bare JID), from the
// cache when it is there.
func (c *lists) get(ctx context.Context, user jid.JID) (*list, error) {
	if l, ok := c.cached(user); ok {
		return l, nil
	}
	defer c.locks.Lock(user)()
	l, err := c.current(ctx, user)
	if err != nil {
		return nil, err
	}
	c.keep(user, l)
	return l, nil
}

// current returns the cached list or loads it. The caller holds the
// account's lock.
func (c *lists) current(ctx context.Context, user jid.JID) (*list, error) {
	if l, ok := c.cached(user); ok {
		return l, nil
	}
	m, err := c.kv.Map(ctx, user.Domain(), user.Local(), storeName)
	if err != nil {
		return nil, fmt.Errorf("blocking: load block list: %w", err)
	}
	if len(m) == 0 {
		return emptyList, nil
	}
	l := &list{set: make(map[string]struct{}, len(m))}
	for k := range m {
		l.set[k] = struct{}{}
	}
	return l, nil
}

// keep caches l as user's list while the account has a session, and
// among the recent lists otherwise. The caller holds the account's lock,
// and forget takes it too, so a list is never cached for long for an
// account whose last session has ended.
func (c *lists) keep(user jid.JID, l *list) {
	on := c.online(user)
	key := user.String()
	c.mu.Lock()
	defer c.mu.Unlock()
	if on {
		c.cache[key] = l
		c.recent.Delete(key)
		return
	}
	delete(c.cache, key)
	c.recent.Put(key, l)
}

// forget moves user's cached list among the recent ones if the account
// has no session left.
func (c *lists) forget(user jid.JID) {
	defer c.locks.Lock(user)()
	if !c.online(user) {
		key := user.String()
		c.mu.Lock()
		if l, ok := c.cache[key]; ok {
			delete(c.cache, key)
			c.recent.Put(key, l)
		}
		c.mu.Unlock()
	}
}

// invalidate drops user's cached list after a failed change, so that the
// next use reloads what the store holds. The caller holds the account's
// lock.
func (c *lists) invalidate(user jid.JID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.cache, user.String())
	c.recent.Delete(user.String())
}

// block adds items to user's list and returns those that were not in it.
func (c *lists) block(ctx context.Context, user jid.JID, items []jid.JID) (added []jid.JID, err error) {
	defer c.locks.Lock(user)()
	cur, err := c.current(ctx, user)
	if err != nil {
		return nil, err
	}
	next := maps.Clone(cur.set)
	if next == nil {
		next = map[string]struct{}{}
	}
	for _, j := range items {
		if _, ok := next[j.String()]; !ok {
			next[j.String()] = struct{}{}
			added = append(added, j)
		}
	}
	if c.max > 0 && len(next) > c.max {
		return nil, stanza.NewError(stanza.PolicyViolation, "a block list holds at most "+strconv.Itoa(c.max)+" items")
	}
	for _, j := range added {
		if err := c.kv.Put(ctx, user.Domain(), user.Local(), storeName, j.String(), nil); err != nil {
			c.invalidate(user)
			return nil, fmt.Errorf("blocking: save block list: %w", err)
		}
	}
	c.keep(user, &list{set: next})
	return added, nil
}

// unblock removes items from user's list, or every item when all is true,
// and returns those that were in it.
func (c *lists) unblock(ctx context.Context, user jid.JID, items []jid.JID, all bool) (removed []jid.JID, err error) {
	defer c.locks.Lock(user)()
	cur, err := c.current(ctx, user)
	if err != nil {
		return nil, err
	}
	next := maps.Clone(cur.set)
	if all {
		for _, k := range cur.items() {
			// A key that no longer parses (the JID profile
			// changed) is removed all the same, but reported to
			// nobody.
			if j, err := c.profile.Parse(k); err == nil {
				removed = append(removed, j)
			}
		}
		if err := c.deleteKeys(ctx, user, cur.items()); err != nil {
			return nil, err
		}
		c.keep(user, emptyList)
		return removed, nil
	}
	var keys []string
	for _, j := range items {
		if _, ok := next[j.String()]; ok {
			delete(next, j.String())
			keys = append(keys, j.String())
			removed = append(removed, j)
		}
	}
	if err := c.deleteKeys(ctx, user, keys); err != nil {
		return nil, err
	}
	c.keep(user, &list{set: next})
	return removed, nil
}

func (c *lists) deleteKeys(ctx context.Context, user jid.JID, keys []string) error {
	for _, k := range keys {
		if err := c.kv.Delete(ctx, user.Domain(), user.Local(), storeName, k); err != nil {
			c.invalidate(user)
			return fmt.Errorf("blocking: save block list: %w", err)
		}
	}
	return nil
}
