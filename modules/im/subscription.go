package im

import (
	"context"

	"github.com/starling-xmpp/starling/jid"
	"github.com/starling-xmpp/starling/router"
	"github.com/starling-xmpp/starling/stanza"
)

// State is a subscription state of RFC 6121 Appendix A.1, named as there.
type State string

// The nine states of RFC 6121 Appendix A.1.
const (
	None             State = "None"
	NonePendingOut   State = "None + Pending Out"
	NonePendingIn    State = "None + Pending In"
	NonePendingOutIn State = "None + Pending Out/In"
	To               State = "To"
	ToPendingIn      State = "To + Pending In"
	From             State = "From"
	FromPendingOut   State = "From + Pending Out"
	Both             State = "Both"
)

// hasFrom and hasPendingIn classify states.
func hasFrom(s State) bool { return s == From || s == FromPendingOut || s == Both }
func hasPendingIn(s State) bool {
	return s == NonePendingIn || s == NonePendingOutIn || s == ToPendingIn
}

// stateOf reads an item's state.
func stateOf(it *Item) State {
	switch {
	case it.From && it.To:
		return Both
	case it.From && it.Ask:
		return FromPendingOut
	case it.From:
		return From
	case it.To && it.PendingIn:
		return ToPendingIn
	case it.To:
		return To
	case it.Ask && it.PendingIn:
		return NonePendingOutIn
	case it.Ask:
		return NonePendingOut
	case it.PendingIn:
		return NonePendingIn
	}
	return None
}

// setState writes a state into an item.
func setState(it *Item, s State) {
	it.From = s == From || s == FromPendingOut || s == Both
	it.To = s == To || s == ToPendingIn || s == Both
	it.Ask = s == NonePendingOut || s == NonePendingOutIn || s == FromPendingOut
	it.PendingIn = s == NonePendingIn || s == NonePendingOutIn || s == ToPendingIn
}

// Outbound transitions: the user's server handling subscription presence
// the user sends (RFC 6121 Appendix A.2). A state missing from a table
// does not change.
var outboundTable = map[string]map[State]State{
	// A.2.1
	"subscribe": {
		None:          NonePendingOut,
		NonePendingIn: NonePendingOutIn,
		From:          FromPendingOut,
	},
	// A.2.2
	"unsubscribe": {
		NonePendingOut:   None,
		NonePendingOutIn: NonePendingIn,
		To:               None,
		ToPendingIn:      NonePendingIn,
		FromPendingOut:   From,
		Both:             From,
	},
	// A.2.3
	"subscribed": {
		NonePendingIn:    From,
		NonePendingOutIn: FromPendingOut,
		ToPendingIn:      Both,
	},
	// A.2.4
	"unsubscribed": {
		NonePendingIn:    None,
		NonePendingOutIn: NonePendingOut,
		ToPendingIn:      To,
		From:             None,
		FromPendingOut:   NonePendingOut,
		Both:             To,
	},
}

// Inbound transitions: the contact's server handling subscription presence
// from the user (RFC 6121 Appendix A.3). Listed states change and the
// stanza is delivered to the contact; others are neither.
var inboundTable = map[string]map[State]State{
	// A.3.1
	"subscribe": {
		None:           NonePendingIn,
		NonePendingOut: NonePendingOutIn,
		To:             ToPendingIn,
	},
	// A.3.2
	"unsubscribe": {
		NonePendingIn:    None,
		NonePendingOutIn: NonePendingOut,
		ToPendingIn:      To,
		From:             None,
		FromPendingOut:   NonePendingOut,
		Both:             To,
	},
	// A.3.3
	"subscribed": {
		NonePendingOut:   To,
		NonePendingOutIn: ToPendingIn,
		FromPendingOut:   Both,
	},
	// A.3.4
	"unsubscribed": {
		NonePendingOut:   None,
		NonePendingOutIn: NonePendingIn,
		To:               None,
		ToPendingIn:      NonePendingIn,
		FromPendingOut:   From,
		Both:             From,
	},
}

func isSubscription(typ string) bool {
	_, ok := outboundTable[typ]
	return ok
}

// action is something to send once the roster lock is released, so that
// handling it (possibly another local user's roster) cannot deadlock.
type action func(ctx context.Context)

// outboundSubscription handles subscription presence a user sends (RFC 6121
// §3.1.2, §3.2.2, §3.3.2, §3.4, and A.2).
func (m *im) outboundSubscription(ctx context.Context, p *router.Packet) {
	typ := p.El.Attr("type")
	user, contact := p.From.Bare(), p.To.Bare()
	if user == contact {
		return // no subscription to oneself
	}
	// Subscription stanzas travel between bare JIDs (RFC 6121 §3.1.1).
	out := p.El.Copy()
	out.SetAttr("from", user.String())
	out.SetAttr("to", contact.String())
	send := func(ctx context.Context) { m.r.Send(ctx, out, user, contact) }

	var todo []action
	unlock := m.rosters.lock(user)
	r, err := m.rosters.load(ctx, user)
	if err != nil {
		unlock()
		m.h.Logger.Error("roster load failed", "user", user.String(), "err", err)
		m.r.Bounce(p, stanza.NewError(stanza.InternalServerError, ""))
		return
	}
	m.online(user, r)
	it := &Item{JID: contact, Hidden: true}
	if old := r.get(contact); old != nil && !old.Removed {
		it = copyItem(old)
	}
	prev := stateOf(it)
	next, changed := outboundTable[typ][prev]
	if changed {
		setState(it, next)
	}
	switch typ {
	case "subscribe":
		// RFC 6121 §3.1.2: the user's server adds the contact to the
		// roster with ask='subscribe' and routes the request.
		if it.Hidden {
			it.Hidden, changed = false, true
		}
		todo = append(todo, send)
	case "unsubscribe":
		todo = append(todo, send)
	case "subscribed":
		if !changed && !it.From {
			// RFC 6121 §3.4: no request pending: pre-approve. The
			// item becomes visible with approved='true'; nothing is
			// sent to the contact.
			if !it.Approved || it.Hidden {
				it.Approved, it.Hidden, changed = true, false, true
			}
			break
		}
		if changed {
			it.Hidden, it.Request, it.Approved = false, "", false
		}
		// Approved (or confirming an approval): the contact gets the
		// answer and the user's current presence (RFC 6121 §3.1.5).
		todo = append(todo, send, func(ctx context.Context) { m.sendPresenceTo(ctx, user, contact) })
	case "unsubscribed":
		if it.Approved {
			it.Approved, changed = false, true // cancels a pre-approval (§3.4)
		}
		if hasPendingIn(prev) || hasFrom(prev) {
			// Denies the request, or cancels the contact's
			// subscription.
			it.Request = ""
			todo = append(todo, send)
		}
		if hasFrom(prev) {
			// The contact loses the user's presence (RFC 6121 §3.2.2).
			todo = append(todo, func(ctx context.Context) { m.sendUnavailableTo(ctx, user, contact) })
		}
	}
	if m.commit(ctx, user, r, it, changed, !it.Hidden, todo, unlock) != nil {
		m.r.Bounce(p, stanza.NewError(stanza.InternalServerError, ""))
	}
}

// inboundSubscription handles subscription presence for a local user from
// a contact (RFC 6121 §3.1.3, §3.1.6, §3.2.3, §3.3.3, and A.3).
func (m *im) inboundSubscription(ctx context.Context, p *router.Packet) {
	typ := p.El.Attr("type")
	user, contact := p.To.Bare(), p.From.Bare()
	if user == contact {
		return
	}
	in := p.El.Copy()
	in.SetAttr("from", contact.String())
	in.SetAttr("to", user.String())
	reply := func(t string) action {
		return func(ctx context.Context) {
			m.r.Send(ctx, stanza.New("", "presence").SetAttr("type", t).SetAttr("from", user.String()).SetAttr("to", contact.String()), user, contact)
		}
	}

	var todo []action
	unlock := m.rosters.lock(user)
	r, err := m.rosters.load(ctx, user)
	if err != nil {
		unlock()
		m.h.Logger.Error("roster load failed", "user", user.String(), "err", err)
		return
	}
	m.online(user, r)
	old := r.get(contact)
	if (old == nil || old.Removed) && typ != "subscribe" {
		unlock()
		return // nothing to change, nothing to deliver (A.3: "None")
	}
	it := &Item{JID: contact, Hidden: true}
	if old != nil && !old.Removed {
		it = copyItem(old)
	}
	prev := stateOf(it)
	next, changed := inboundTable[typ][prev]
	// A pending request is not part of what the roster shows, so only
	// the other transitions change its version and are pushed.
	bump := changed && !it.Hidden && typ != "subscribe"
	switch {
	case typ == "subscribe" && it.From:
		// Already subscribed: say so again, with current presence
		// (RFC 6121 §3.1.3 "auto-reply").
		todo = append(todo, reply("subscribed"), func(ctx context.Context) { m.sendPresenceTo(ctx, user, contact) })
		changed = false
	case typ == "subscribe" && it.Approved:
		// Pre-approved (RFC 6121 §3.4): approve without asking.
		setState(it, next)
		setState(it, outboundTable["subscribed"][stateOf(it)])
		it.Approved, it.Hidden, it.Request = false, false, ""
		changed, bump = true, true
		todo = append(todo, reply("subscribed"), func(ctx context.Context) { m.sendPresenceTo(ctx, user, contact) })
	case changed:
		setState(it, next)
		switch typ {
		case "subscribe":
			// Stored until the user answers, and delivered to the
			// available resources now and at each login (seed 12-6).
			it.Request = string(in.AppendXML(nil, stanza.NSClient))
			todo = append(todo, func(ctx context.Context) { m.toAvailable(user, in) })
		default:
			if !it.PendingIn {
				it.Request = ""
			}
			todo = append(todo, func(ctx context.Context) { m.toInterested(user, in) })
			if typ == "unsubscribe" && hasFrom(prev) {
				// The contact gave up the user's presence (RFC
				// 6121 §3.3.3): it gets unavailable presence.
				todo = append(todo, func(ctx context.Context) { m.sendUnavailableTo(ctx, user, contact) })
			}
		}
	}
	m.commit(ctx, user, r, it, changed, bump, todo, unlock)
}

// commit ends a subscription change: it saves it when changed (with a new
// roster version, pushed before the other actions, when push is true),
// releases the roster lock, and runs the actions. A failed save is logged
// and returned, and nothing runs.
func (m *im) commit(ctx context.Context, user jid.JID, r *roster, it *Item, changed, push bool, todo []action, unlock func()) error {
	if changed {
		if err := m.rosters.save(ctx, user, r, it, push); err != nil {
			unlock()
			m.h.Logger.Error("roster save failed", "user", user.String(), "err", err)
			return err
		}
		if push {
			saved := copyItem(it)
			todo = append([]action{func(context.Context) { m.push(user, saved) }}, todo...)
		}
	}
	unlock()
	for _, a := range todo {
		a(ctx)
	}
	return nil
}

// toAvailable delivers el to each available resource of user.
func (m *im) toAvailable(user jid.JID, el *stanza.Element) {
	for _, s := range m.r.Sessions(user) {
		if s.Available() {
			m.r.DeliverTo(s, el.ShallowCopy())
		}
	}
}

// toInterested delivers el to each resource of user that asked for the
// roster.
func (m *im) toInterested(user jid.JID, el *stanza.Element) {
	for _, s := range m.r.Sessions(user) {
		st := state(s)
		st.mu.Lock()
		ok := st.interested
		st.mu.Unlock()
		if ok {
			m.r.DeliverTo(s, el.ShallowCopy())
		}
	}
}
