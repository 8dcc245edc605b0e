package im

import (
	"context"
	"time"

	"github.com/starling-xmpp/starling/jid"
	"github.com/starling-xmpp/starling/router"
	"github.com/starling-xmpp/starling/stanza"
	"github.com/starling-xmpp/starling/xmlstream"
)

// NSDelay is XEP-0203's namespace.
const NSDelay = "urn:xmpp:delay"

// outbound handles presence a client sends (RFC 6121 §3 and §4).
func (m *im) outbound(ctx context.Context, p *router.Packet) bool {
	if p.El.Name.Local != "presence" {
		return false
	}
	typ := p.El.Attr("type")
	if p.To.IsZero() {
		s := m.r.Session(p.From)
		switch {
		case s == nil:
		case typ == "":
			m.available(ctx, s, p.El)
		case typ == "unavailable":
			m.unavailable(ctx, s, p.El)
		case typ == "error":
		default:
			m.r.Bounce(p, stanza.NewError(stanza.BadRequest, "subscription and probe presence need a 'to'"))
		}
		return true
	}
	switch {
	case isSubscription(typ):
		m.outboundSubscription(ctx, p)
		return true
	case typ == "" || typ == "unavailable":
		if s := m.r.Session(p.From); s != nil {
			m.trackDirected(ctx, s, p.To, typ == "")
		}
	}
	return false
}

// inbound handles presence for a local account that the server answers
// itself: probes and subscription traffic.
func (m *im) inbound(ctx context.Context, p *router.Packet) bool {
	if p.El.Name.Local != "presence" {
		return false
	}
	switch typ := p.El.Attr("type"); {
	case typ == "probe":
		m.probe(ctx, p)
		return true
	case isSubscription(typ):
		m.inboundSubscription(ctx, p)
		return true
	}
	return false
}

// contacts returns, for user, the contacts subscribed to the user's
// presence (from) and those the user is subscribed to (to).
func (m *im) contacts(ctx context.Context, user jid.JID) (from, to []jid.JID, pending []*Item) {
	unlock := m.rosters.lock(user)
	defer unlock()
	r, err := m.rosters.load(ctx, user)
	if err != nil {
		m.h.Logger.Error("roster load failed", "user", user.String(), "err", err)
		return nil, nil, nil
	}
	m.online(user, r)
	for _, it := range r.items {
		if it.Removed {
			continue
		}
		if it.From {
			from = append(from, it.JID)
		}
		if it.To {
			to = append(to, it.JID)
		}
		if it.PendingIn {
			pending = append(pending, copyItem(it))
		}
	}
	return from, to, pending
}

// addressed returns a copy of presence el from one JID to another.
func addressed(el *stanza.Element, from, to jid.JID) *stanza.Element {
	c := el.ShallowCopy()
	c.SetAttr("from", from.String())
	c.SetAttr("to", to.String())
	return c
}

// available handles available presence with no 'to' (RFC 6121 §4.2, §4.4):
// broadcast to subscribed contacts and the account's available resources,
// and for initial presence also probes, the other resources' presence,
// pending subscription requests, and the InitialPresence event.
func (m *im) available(ctx context.Context, s *router.Session, el *stanza.Element) {
	st := state(s)
	pres := el.Copy()
	pres.RemoveAttr("to")
	pres.SetAttr("from", s.JID.String())
	stored := pres.Copy()
	stored.Append(stanza.New(NSDelay, "delay").SetAttr("from", s.JID.Domain()).SetAttr("stamp", time.Now().UTC().Format("2006-01-02T15:04:05.000Z")))
	st.mu.Lock()
	initial := !st.initial
	st.initial, st.last = true, stored
	st.mu.Unlock()
	m.r.SetPresence(s, true, router.ParsePriority(el))

	user := s.JID.Bare()
	from, to, pending := m.contacts(ctx, user)
	for _, c := range from {
		m.r.Send(ctx, addressed(pres, s.JID, c), s.JID, c)
	}
	// Reflected to every available resource, the sender included
	// (RFC 6121 §4.2.2, §4.4.2).
	own := m.r.Sessions(user)
	for _, o := range own {
		if o.Available() {
			m.r.DeliverTo(o, addressed(pres, s.JID, o.JID))
		}
	}
	if !initial {
		return
	}
	// Seed 13-5: probe the contacts the user is subscribed to.
	for _, c := range to {
		probe := stanza.New("", "presence").SetAttr("type", "probe").SetAttr("from", s.JID.String()).SetAttr("to", c.String())
		m.r.Send(ctx, probe, s.JID, c)
	}
	// The presence of the account's other available resources.
	for _, o := range own {
		if o == s {
			continue
		}
		if last := lastPresence(o); last != nil {
			m.r.DeliverTo(s, addressed(last, o.JID, s.JID))
		}
	}
	// Seed 12-6: subscription requests still unanswered.
	for _, it := range pending {
		m.r.DeliverTo(s, pendingRequest(it, user))
	}
	m.h.InitialPresence.Fire(ctx, s)
}

// pendingRequest rebuilds a stored subscription request.
func pendingRequest(it *Item, user jid.JID) *stanza.Element {
	if it.Request != "" {
		if el, err := xmlstream.ParseStored([]byte(it.Request)); err == nil {
			return el
		}
	}
	return stanza.New("", "presence").SetAttr("type", "subscribe").SetAttr("from", it.JID.String()).SetAttr("to", user.String())
}

// unavailable handles unavailable presence with no 'to' (RFC 6121 §4.5), or
// (el == nil) a session that ended: unavailable presence goes to subscribed
// contacts, the account's other available resources and everyone the
// session sent directed presence to.
func (m *im) unavailable(ctx context.Context, s *router.Session, el *stanza.Element) {
	st := state(s)
	st.mu.Lock()
	wasAvailable := st.last != nil
	directed := st.directed
	st.last, st.initial, st.directed = nil, false, nil
	st.mu.Unlock()
	m.r.SetPresence(s, false, 0)
	if !wasAvailable && len(directed) == 0 && el == nil {
		return // never available: nobody to tell
	}
	pres := stanza.New("", "presence").SetAttr("type", "unavailable")
	if el != nil {
		pres = el.Copy()
		pres.RemoveAttr("to")
	}
	pres.SetAttr("from", s.JID.String())
	user := s.JID.Bare()
	if wasAvailable {
		from, _, _ := m.contacts(ctx, user)
		for _, c := range from {
			m.r.Send(ctx, addressed(pres, s.JID, c), s.JID, c)
		}
	}
	for _, o := range m.r.Sessions(user) {
		if o.Available() || (o == s && el != nil) {
			m.r.DeliverTo(o, addressed(pres, s.JID, o.JID))
		}
	}
	for _, d := range directed {
		m.r.Send(ctx, addressed(pres, s.JID, d), s.JID, d)
	}
}

// trackDirected remembers who got directed available presence from s, so
// that they get unavailable presence when s goes away (RFC 6121 §4.6.3;
// seed 13-4). Contacts that get the broadcast anyway are not tracked.
func (m *im) trackDirected(ctx context.Context, s *router.Session, to jid.JID, available bool) {
	if from, _, _ := m.Subscription(ctx, s.JID.Bare(), to.Bare()); from {
		return
	}
	st := state(s)
	st.mu.Lock()
	defer st.mu.Unlock()
	if available {
		if st.directed == nil {
			st.directed = map[string]jid.JID{}
		}
		st.directed[to.String()] = to
	} else {
		delete(st.directed, to.String())
	}
}

// probe answers a presence probe for a local account (RFC 6121 §4.3.2): the
// last presence of each available resource to a subscribed prober,
// unavailable when there is none, unsubscribed to anyone not subscribed.
func (m *im) probe(ctx context.Context, p *router.Packet) {
	user, prober := p.To.Bare(), p.From
	if prober.Bare() != user {
		if from, _, _ := m.Subscription(ctx, user, prober.Bare()); !from {
			m.r.Send(ctx, stanza.New("", "presence").SetAttr("type", "unsubscribed").
				SetAttr("from", user.String()).SetAttr("to", prober.Bare().String()), user, prober.Bare())
			return
		}
	}
	m.sendPresence(ctx, user, prober, true)
}

// sendPresenceTo sends user's current presence to a contact that was just
// granted a subscription.
func (m *im) sendPresenceTo(ctx context.Context, user, contact jid.JID) {
	m.sendPresence(ctx, user, contact, false)
}

// sendPresence sends the last presence of each of user's available
// resources to target; with orUnavailable, an unavailable presence from
// the bare JID when none is available.
func (m *im) sendPresence(ctx context.Context, user, target jid.JID, orUnavailable bool) {
	sent := false
	for _, s := range m.r.Sessions(user) {
		if last := lastPresence(s); last != nil && s.Available() {
			m.r.Send(ctx, addressed(last, s.JID, target), s.JID, target)
			sent = true
		}
	}
	if !sent && orUnavailable {
		m.r.Send(ctx, stanza.New("", "presence").SetAttr("type", "unavailable").
			SetAttr("from", user.String()).SetAttr("to", target.String()), user, target)
	}
}

// sendUnavailableTo tells target that each of user's available resources
// is unavailable (the target lost its subscription).
func (m *im) sendUnavailableTo(ctx context.Context, user, target jid.JID) {
	for _, s := range m.r.Sessions(user) {
		if s.Available() {
			m.r.Send(ctx, stanza.New("", "presence").SetAttr("type", "unavailable").
				SetAttr("from", s.JID.String()).SetAttr("to", target.String()), s.JID, target)
		}
	}
}
