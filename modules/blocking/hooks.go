package blocking

import (
	"context"

	"github.com/starling-xmpp/starling/jid"
	"github.com/starling-xmpp/starling/router"
	"github.com/starling-xmpp/starling/stanza"
)

// errBlocked is the answer to a user's stanza for an entity the user has
// blocked (XEP-0191 §3.3). The type is cancel, as the XEP's example has
// it: retrying will not help until the user unblocks.
func errBlocked() *stanza.Error {
	return &stanza.Error{Type: stanza.Cancel, Condition: stanza.NotAcceptable, App: stanza.New(NSErrors, "blocked")}
}

// sameAccount reports whether a and b are addresses of one account, whose
// resources may always talk to each other (XEP-0191 §4, note).
func sameAccount(a, b jid.JID) bool { return a.Bare() == b.Bare() }

// outbound refuses what a local client sends to an entity it has blocked.
func (s *service) outbound(ctx context.Context, p *router.Packet) bool {
	if p.To.IsZero() || p.From.IsZero() || sameAccount(p.From, p.To) {
		return false
	}
	l, err := s.lists.get(ctx, p.From.Bare())
	if err != nil {
		return s.failed(p, err)
	}
	if !l.blocks(p.To) {
		return false
	}
	// Errors and IQ results just do not leave.
	if answerable(p.El) {
		s.r.Bounce(p, errBlocked())
	}
	return true
}

// answerable reports whether st may be answered with an error: errors and
// IQ results may not (RFC 6120 §8.2.3, §8.3.1).
func answerable(st *stanza.Element) bool {
	t := st.Attr("type")
	return t != "error" && !(st.Name.Local == "iq" && t == "result")
}

// inbound keeps stanzas from a blocked entity away from the user, and
// stanzas the server generates on a user's behalf away from the entities
// that user has blocked.
func (s *service) inbound(ctx context.Context, p *router.Packet) bool {
	if p.From.IsZero() || sameAccount(p.From, p.To) {
		return false
	}
	l, err := s.lists.get(ctx, p.To.Bare())
	if err != nil {
		return s.failed(p, err)
	}
	if l.blocks(p.From) {
		s.refuse(p)
		return true
	}
	// A presence broadcast or probe answer made for a local user: the
	// outbound hook never saw it, so the sender's list is checked here.
	if p.Generated && p.From.Local() != "" && s.r.IsLocal(p.From.Domain()) && !teardown(p.El) && ctx.Value(bypassKey{}) == nil {
		l, err := s.lists.get(ctx, p.From.Bare())
		if err != nil {
			s.log.Error("block list unavailable", "user", p.From.Bare().String(), "err", err)
			return true
		}
		if l.blocks(p.To) {
			return true
		}
	}
	return false
}

// remote keeps what the server generates for a user (presence broadcasts,
// probe answers) from leaving for a remote entity the user has blocked;
// what the client itself sent was checked by outbound.
func (s *service) remote(ctx context.Context, p *router.Packet) bool {
	if !p.Generated || p.From.Local() == "" || teardown(p.El) || ctx.Value(bypassKey{}) != nil {
		return false
	}
	l, err := s.lists.get(ctx, p.From.Bare())
	if err != nil {
		s.log.Error("block list unavailable", "user", p.From.Bare().String(), "err", err)
		return true
	}
	return l.blocks(p.To)
}

// teardown reports whether st is presence that cancels a subscription.
// The server sends those for a user who removes a contact from the roster
// (RFC 6121 §2.5.2); they pass a block so that the contact's roster does
// not keep a subscription the user's no longer has (XEP-0191 §4 even lets
// a server cancel subscriptions when blocking).
func teardown(st *stanza.Element) bool {
	if st.Name.Local != "presence" {
		return false
	}
	t := st.Attr("type")
	return t == "unsubscribe" || t == "unsubscribed"
}

// refuse answers a stanza from a blocked entity so that the user appears
// offline (XEP-0191 §3.3; XEP-0016 "Blocked Entity Attempts to Communicate
// with User"): presence is dropped without a word; messages and IQ
// requests get <service-unavailable/>. Headlines are dropped, as for an
// offline user (RFC 6121 §8.5.2.1.1); errors and IQ results are never
// answered.
func (s *service) refuse(p *router.Packet) {
	t := p.El.Attr("type")
	switch p.El.Name.Local {
	case "message":
		if t == "error" || t == "headline" {
			return
		}
	case "iq":
		if t != "get" && t != "set" {
			return
		}
	default:
		return
	}
	s.r.Bounce(p, stanza.NewError(stanza.ServiceUnavailable, ""))
}

// failed handles a stanza whose block list could not be read: rather than
// let through what may be blocked, the stanza is refused with
// <internal-server-error/> (presence is dropped).
func (s *service) failed(p *router.Packet, err error) bool {
	s.log.Error("block list unavailable", "err", err)
	if p.El.Name.Local != "presence" && answerable(p.El) {
		s.r.Bounce(p, stanza.NewError(stanza.InternalServerError, ""))
	}
	return true
}
