package im

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/starling-xmpp/starling/internal/recent"
	"github.com/starling-xmpp/starling/jid"
	"github.com/starling-xmpp/starling/module"
	"github.com/starling-xmpp/starling/stanza"
)

// NSRoster is the roster namespace (RFC 6121 §2).
const NSRoster = "jabber:iq:roster"

// store is the KV store name rosters live in: one key per contact.
const store = "roster"

// metaKey holds roster-wide data; it cannot collide with a JID.
const metaKey = "\x00meta"

// Item is one contact of a roster, with its subscription state (RFC 6121
// §2.1.2 and Appendix A).
type Item struct {
	JID    jid.JID  `json:"-"`
	Name   string   `json:"name,omitempty"`
	Groups []string `json:"groups,omitempty"`
	// From: the contact is subscribed to the user's presence.
	From bool `json:"from,omitempty"`
	// To: the user is subscribed to the contact's presence.
	To bool `json:"to,omitempty"`
	// Ask: the user asked to subscribe and awaits an answer (pending out).
	Ask bool `json:"ask,omitempty"`
	// PendingIn: the contact asked to subscribe to the user and awaits an
	// answer. Request is that request, redelivered at each login until
	// answered (seed 12-6).
	PendingIn bool   `json:"pending_in,omitempty"`
	Request   string `json:"request,omitempty"`
	// Approved: the user pre-approved a subscription from the contact
	// (RFC 6121 §3.4).
	Approved bool `json:"approved,omitempty"`
	// Hidden: not a roster item, only the holder of a pending inbound
	// request (RFC 6121 §3.1.3: the request is not a roster item until
	// the user approves it).
	Hidden bool `json:"hidden,omitempty"`
	// Removed: a tombstone, kept so that roster versioning can push the
	// removal to clients that have an older version.
	Removed bool `json:"removed,omitempty"`
	// Ver is the roster version at which this item last changed.
	Ver int64 `json:"ver"`
}

// Subscription is the item's 'subscription' attribute.
func (it *Item) Subscription() string {
	switch {
	case it.Removed:
		return "remove"
	case it.From && it.To:
		return "both"
	case it.From:
		return "from"
	case it.To:
		return "to"
	}
	return "none"
}

// visible reports whether the item is part of the roster a client sees.
func (it *Item) visible() bool { return !it.Hidden && !it.Removed }

// empty reports whether a hidden item holds nothing worth keeping.
func (it *Item) empty() bool {
	return it.Hidden && !it.PendingIn && !it.From && !it.To && !it.Ask && !it.Approved
}

// Element is the <item/> of a roster result or push.
func (it *Item) Element() *stanza.Element {
	el := stanza.New(NSRoster, "item").SetAttr("jid", it.JID.String()).SetAttr("subscription", it.Subscription())
	if it.Removed {
		return el
	}
	if it.Name != "" {
		el.SetAttr("name", it.Name)
	}
	if it.Ask {
		el.SetAttr("ask", "subscribe")
	}
	if it.Approved {
		el.SetAttr("approved", "true")
	}
	for _, g := range it.Groups {
		el.Append(stanza.New(NSRoster, "group").AppendText(g))
	}
	return el
}

// roster is one account's contacts, tombstones and hidden items included.
type roster struct {
	items map[string]*Item
	// ver is the current version: the highest item version.
	ver int64
	// minVer: tombstones up to this version were dropped, so a client
	// with an older version must get the whole roster.
	minVer int64
}

type meta struct {
	MinVer int64 `json:"min_ver"`
}

// Version is the roster's 'ver' attribute (XEP-0237).
func (r *roster) Version() string { return strconv.FormatInt(r.ver, 10) }

// get returns the item for contact, which may be nil.
func (r *roster) get(contact jid.JID) *Item { return r.items[contact.String()] }

// visible returns the roster items a client sees, ordered by JID.
func (r *roster) visible() []*Item {
	var out []*Item
	for _, it := range r.items {
		if it.visible() {
			out = append(out, it)
		}
	}
	slices.SortFunc(out, func(a, b *Item) int {
		switch {
		case a.JID.String() < b.JID.String():
			return -1
		case a.JID.String() > b.JID.String():
			return 1
		}
		return 0
	})
	return out
}

// since returns the visible changes after version v (items and
// tombstones), oldest first, and whether v is recent enough to be answered
// that way.
func (r *roster) since(v int64) ([]*Item, bool) {
	if v < r.minVer || v > r.ver {
		return nil, false
	}
	var out []*Item
	for _, it := range r.items {
		if it.Ver > v && !it.Hidden {
			out = append(out, it)
		}
	}
	slices.SortFunc(out, func(a, b *Item) int { return int(a.Ver - b.Ver) })
	return out, true
}

// rosters loads and saves rosters, caching those of online users, with one
// lock per account so that changes are serialised.
type rosters struct {
	store module.Store
	// tombstones beyond this many are compacted.
	maxTombstones int

	locks module.AccountLocks
	mu    sync.Mutex
	cache map[string]*roster // bare JID → roster, for accounts with sessions
	// recent keeps, for recentTTL, the rosters of accounts without
	// sessions that were loaded lately: when a user logs in, each of
	// its contacts' rosters is read to answer the user's probes, and
	// under a login load most contacts are offline. Every change goes
	// through save, which updates the same roster, so the copy stays
	// true within the server.
	recent recent.Cache[*roster]
}

// Bounds of rosters.recent.
const (
	maxRecent = 4096
	recentTTL = time.Minute
)

// lock serialises loads and changes of user's roster.
func (rs *rosters) lock(user jid.JID) func() { return rs.locks.Lock(user) }

// load returns user's roster. The caller holds the user's lock.
func (rs *rosters) load(ctx context.Context, user jid.JID) (*roster, error) {
	key := user.String()
	rs.mu.Lock()
	r := rs.cache[key]
	rs.mu.Unlock()
	if r != nil {
		return r, nil
	}
	if r, ok := rs.recent.Get(key); ok {
		return r, nil
	}
	r, err := rs.read(ctx, user)
	if err != nil {
		return nil, err
	}
	rs.recent.Put(key, r)
	return r, nil
}

// read loads user's roster from the store.
func (rs *rosters) read(ctx context.Context, user jid.JID) (*roster, error) {
	raw, err := rs.store.Map(ctx, user.Domain(), user.Local(), store)
	if err != nil {
		return nil, fmt.Errorf("roster of %s: %w", user, err)
	}
	r := &roster{items: map[string]*Item{}}
	for k, v := range raw {
		if k == metaKey {
			var m meta
			if json.Unmarshal(v, &m) == nil {
				r.minVer = m.MinVer
			}
			continue
		}
		j, err := jid.Parse(k)
		if err != nil {
			continue // not a JID any more (profile change): skip it
		}
		var it Item
		if err := json.Unmarshal(v, &it); err != nil {
			return nil, fmt.Errorf("roster of %s: item %s is corrupt: %w", user, k, err)
		}
		it.JID = j
		r.items[k] = &it
		r.ver = max(r.ver, it.Ver)
	}
	r.ver = max(r.ver, r.minVer)
	return r, nil
}

// cacheFor keeps user's roster in memory while the user is online.
func (rs *rosters) cacheFor(user jid.JID, r *roster) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.cache[user.String()] = r
	rs.recent.Delete(user.String())
}

// uncache forgets user's roster (the last session ended).
func (rs *rosters) uncache(user jid.JID) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	delete(rs.cache, user.String())
	rs.recent.Delete(user.String())
}

// save writes one item. When bump is true the item gets the next roster
// version (a change clients see); hidden-only changes do not bump. The
// caller holds the user's lock.
func (rs *rosters) save(ctx context.Context, user jid.JID, r *roster, it *Item, bump bool) error {
	err := rs.write(ctx, user, r, it, bump)
	if err != nil {
		// The roster in memory may be ahead of the store: the next
		// load reads what the store holds.
		rs.uncache(user)
	}
	return err
}

func (rs *rosters) write(ctx context.Context, user jid.JID, r *roster, it *Item, bump bool) error {
	if bump {
		r.ver++
		it.Ver = r.ver
	}
	key := it.JID.String()
	if it.empty() {
		if err := rs.store.Delete(ctx, user.Domain(), user.Local(), store, key); err != nil {
			return err
		}
		delete(r.items, key)
		return nil
	}
	v, err := json.Marshal(it)
	if err != nil {
		return err
	}
	if err := rs.store.Put(ctx, user.Domain(), user.Local(), store, key, v); err != nil {
		return err
	}
	r.items[key] = it
	if it.Removed {
		return rs.compact(ctx, user, r)
	}
	return nil
}

// compact drops the oldest tombstones once there are too many, raising the
// version below which clients get the whole roster instead of changes.
func (rs *rosters) compact(ctx context.Context, user jid.JID, r *roster) error {
	var tombs []*Item
	for _, it := range r.items {
		if it.Removed {
			tombs = append(tombs, it)
		}
	}
	if len(tombs) <= rs.maxTombstones {
		return nil
	}
	slices.SortFunc(tombs, func(a, b *Item) int { return int(a.Ver - b.Ver) })
	drop := tombs[:len(tombs)-rs.maxTombstones/2]
	m := meta{MinVer: drop[len(drop)-1].Ver}
	v, _ := json.Marshal(m)
	if err := rs.store.Put(ctx, user.Domain(), user.Local(), store, metaKey, v); err != nil {
		return err
	}
	r.minVer = m.MinVer
	for _, it := range drop {
		if err := rs.store.Delete(ctx, user.Domain(), user.Local(), store, it.JID.String()); err != nil {
			return err
		}
		delete(r.items, it.JID.String())
	}
	return nil
}

// copyItem returns a copy of it to modify before saving.
func copyItem(it *Item) *Item {
	c := *it
	c.Groups = slices.Clone(it.Groups)
	return &c
}
