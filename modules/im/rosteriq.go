package im

import (
	"context"
	"slices"
	"strconv"
	"strings"

	"github.com/starling-xmpp/starling/jid"
	"github.com/starling-xmpp/starling/router"
	"github.com/starling-xmpp/starling/stanza"
)

// Limits on what a roster item may hold (RFC 6121 §2.3.3 lets the server
// configure them).
const (
	maxNameBytes  = 1023
	maxGroupBytes = 1023
	maxGroups     = 64
)

// rosterGet answers a roster get (RFC 6121 §2.1.3, §2.6 versioning; seed
// 11-1) and marks the session interested in pushes.
func (m *im) rosterGet(ctx context.Context, iq *stanza.Element, from, to jid.JID) (*stanza.Element, error) {
	user := from.Bare()
	s := m.r.Session(from)
	if s != nil {
		st := state(s)
		st.mu.Lock()
		st.interested = true
		st.mu.Unlock()
	}
	unlock := m.rosters.lock(user)
	defer unlock()
	r, err := m.rosters.load(ctx, user)
	if err != nil {
		return nil, err
	}
	m.online(user, r)
	q := iq.FirstElement()
	if q.HasAttr("ver") {
		if v, err := strconv.ParseInt(q.Attr("ver"), 10, 64); err == nil {
			if changes, ok := r.since(v); ok {
				// XEP-0237 §4: an empty result, then the changes as
				// pushes to this resource.
				if s != nil && len(changes) > 0 {
					pushes := make([]*stanza.Element, 0, len(changes))
					for _, it := range changes {
						pushes = append(pushes, stanza.New("", "iq").SetAttr("type", "set").
							SetAttr("id", "push"+strconv.FormatUint(m.pushID.Add(1), 10)).
							SetAttr("to", s.JID.String()).
							Append(stanza.New(NSRoster, "query").SetAttr("ver", strconv.FormatInt(it.Ver, 10)).Append(it.Element())))
					}
					router.After(ctx, func() {
						for _, p := range pushes {
							m.r.DeliverTo(s, p)
						}
					})
				}
				return nil, nil
			}
		}
	}
	res := stanza.New(NSRoster, "query").SetAttr("ver", r.Version())
	for _, it := range r.visible() {
		res.Append(it.Element())
	}
	return res, nil
}

// rosterSet adds, updates or removes one item (RFC 6121 §2.3, §2.4, §2.5;
// seed 11-1, 11-3).
func (m *im) rosterSet(ctx context.Context, iq *stanza.Element, from, to jid.JID) (*stanza.Element, error) {
	user := from.Bare()
	q := iq.FirstElement()
	if q.NumElements() != 1 || q.FirstElement().Name != (stanza.Name{Space: NSRoster, Local: "item"}) {
		return nil, stanza.NewError(stanza.BadRequest, "a roster set holds exactly one item")
	}
	el := q.FirstElement()
	contact, err := m.h.Config.Profile().Parse(el.Attr("jid"))
	switch {
	case err != nil:
		return nil, stanza.NewError(stanza.JIDMalformed, "the item's 'jid' is not a valid JID")
	case contact.IsFull():
		return nil, stanza.NewError(stanza.BadRequest, "roster items are bare JIDs")
	case contact == user:
		return nil, stanza.NewError(stanza.NotAllowed, "an account cannot be its own contact")
	}
	if el.Attr("subscription") == "remove" {
		return nil, m.remove(ctx, user, contact)
	}
	// 'subscription', 'ask' and 'approved' from a client are ignored (RFC
	// 6121 §2.1.2): only presence changes subscriptions.
	name := el.Attr("name")
	if len(name) > maxNameBytes {
		return nil, stanza.NewError(stanza.NotAcceptable, "the name is too long")
	}
	var groups []string
	for g := range el.Elements() {
		if g.Name != (stanza.Name{Space: NSRoster, Local: "group"}) {
			continue
		}
		text := g.Text()
		switch {
		case strings.TrimSpace(text) == "":
			return nil, stanza.NewError(stanza.NotAcceptable, "a group needs a name")
		case len(text) > maxGroupBytes:
			return nil, stanza.NewError(stanza.NotAcceptable, "a group name is too long")
		case slices.Contains(groups, text):
			return nil, stanza.NewError(stanza.BadRequest, "the same group is listed twice")
		}
		groups = append(groups, text)
	}
	if len(groups) > maxGroups {
		return nil, stanza.NewError(stanza.NotAcceptable, "too many groups")
	}

	unlock := m.rosters.lock(user)
	defer unlock()
	r, err := m.rosters.load(ctx, user)
	if err != nil {
		return nil, err
	}
	m.online(user, r)
	it := &Item{JID: contact}
	if old := r.get(contact); old != nil && !old.Removed {
		it = copyItem(old)
	} else if len(r.visible()) >= m.maxItems {
		return nil, stanza.NewError(stanza.ResourceConstraint, "the roster is full")
	}
	it.Hidden, it.Removed = false, false
	it.Name, it.Groups = name, groups
	if err := m.rosters.save(ctx, user, r, it, true); err != nil {
		return nil, err
	}
	saved := copyItem(it)
	router.After(ctx, func() { m.push(user, saved) })
	return nil, nil
}

// remove deletes a roster item (RFC 6121 §2.5): the contact is told the
// subscriptions are over, and the removal is pushed.
func (m *im) remove(ctx context.Context, user, contact jid.JID) error {
	unlock := m.rosters.lock(user)
	r, err := m.rosters.load(ctx, user)
	if err != nil {
		unlock()
		return err
	}
	m.online(user, r)
	old := r.get(contact)
	if old == nil || !old.visible() {
		unlock()
		return stanza.NewError(stanza.ItemNotFound, "no such contact")
	}
	prev := stateOf(old)
	tomb := &Item{JID: contact, Removed: true}
	if err := m.rosters.save(ctx, user, r, tomb, true); err != nil {
		unlock()
		return err
	}
	unlock()
	pres := func(typ string) *stanza.Element {
		return stanza.New("", "presence").SetAttr("type", typ).SetAttr("from", user.String()).SetAttr("to", contact.String())
	}
	router.After(ctx, func() {
		m.push(user, tomb)
		if hasFrom(prev) {
			m.sendUnavailableTo(ctx, user, contact)
		}
		if old.To || old.Ask {
			m.r.Send(ctx, pres("unsubscribe"), user, contact)
		}
		if hasFrom(prev) || hasPendingIn(prev) {
			m.r.Send(ctx, pres("unsubscribed"), user, contact)
		}
	})
	return nil
}

// accountRemoving cancels every subscription of an account about to be
// deleted (XEP-0077 §3.2), as if its user removed each contact: contacts
// that see its presence get unavailable presence and unsubscribed, those
// it sees get unsubscribe, and pending requests are denied. The roster
// itself goes with the account's data. The stanzas go out once the
// removal has been answered.
func (m *im) accountRemoving(ctx context.Context, user jid.JID) {
	user = user.Bare()
	unlock := m.rosters.lock(user)
	r, err := m.rosters.load(ctx, user)
	if err != nil {
		unlock()
		m.h.Logger.Error("roster load failed", "user", user.String(), "err", err)
		return
	}
	var items []*Item
	for _, it := range r.items {
		if !it.Removed {
			items = append(items, copyItem(it))
		}
	}
	m.rosters.uncache(user)
	unlock()
	// The sessions are about to be closed: remember which were available.
	var available []jid.JID
	for _, s := range m.r.Sessions(user) {
		if s.Available() {
			available = append(available, s.JID)
		}
	}
	pres := func(typ string, contact jid.JID) *stanza.Element {
		return stanza.New("", "presence").SetAttr("type", typ).SetAttr("from", user.String()).SetAttr("to", contact.String())
	}
	// After the removal's result, which is the last thing the user's
	// client should hear about its account.
	router.After(ctx, func() {
		for _, it := range items {
			prev := stateOf(it)
			if hasFrom(prev) {
				for _, full := range available {
					m.r.Send(ctx, pres("unavailable", it.JID).SetAttr("from", full.String()), full, it.JID)
				}
			}
			if it.To || it.Ask {
				m.r.Send(ctx, pres("unsubscribe", it.JID), user, it.JID)
			}
			if hasFrom(prev) || hasPendingIn(prev) {
				m.r.Send(ctx, pres("unsubscribed", it.JID), user, it.JID)
			}
		}
	})
}
