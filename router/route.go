package router

import (
	"context"
	"errors"
	"strconv"
	"sync"

	"github.com/starling-xmpp/starling/jid"
	"github.com/starling-xmpp/starling/stanza"
)

// Route delivers st, which a local client sent as from (already validated
// and stamped by its stream), to to (the parsed 'to' attribute; zero when
// absent). Outbound hooks see it first.
func (r *Router) Route(ctx context.Context, st *stanza.Element, from, to jid.JID) {
	p := getPacket(st, from, to)
	defer putPacket(p)
	if to.IsZero() && st.Name.Local != "presence" {
		// RFC 6120 §10.3: as if addressed to the sender's bare JID.
		p.To = from.Bare()
	}
	if r.run(ctx, Outbound, p) {
		return
	}
	r.dispatch(ctx, p)
}

// packets recycles the Packets of Route and RouteRemote, which carry
// every stanza a client or a remote server sends: without it each would
// cost an allocation. Hooks and the Federation may use a Packet only
// during the call they receive it in (see Hook).
var packets = sync.Pool{New: func() any { return new(Packet) }}

func getPacket(st *stanza.Element, from, to jid.JID) *Packet {
	p := packets.Get().(*Packet)
	*p = Packet{El: st, From: from, To: to}
	return p
}

func putPacket(p *Packet) {
	*p = Packet{}
	packets.Put(p)
}

// Send delivers a stanza the server or a module generated on behalf of
// from (a presence broadcast, a roster push, a probe answer). Outbound hooks
// do not see it; Inbound hooks of local recipients do.
func (r *Router) Send(ctx context.Context, st *stanza.Element, from, to jid.JID) {
	r.dispatch(ctx, &Packet{El: st, From: from, To: to, Generated: true})
}

func (r *Router) dispatch(ctx context.Context, p *Packet) {
	if p.To.IsZero() {
		// Presence with no 'to' that no hook handled: record the
		// sender's availability (seed 10.7-1).
		r.broadcastPresence(p.El, p.From)
		return
	}
	if !r.IsLocal(p.To.Domain()) {
		r.toRemote(ctx, p)
		return
	}
	if p.To.Local() == "" {
		r.toHost(ctx, p)
		return
	}
	if p.To.IsFull() {
		if s := r.Session(p.To); s != nil {
			if !r.run(ctx, Inbound, p) {
				r.deliver(s, p)
			}
			return
		}
		r.toAbsentFull(ctx, p)
		return
	}
	r.toBare(ctx, p)
}

// RouteRemote delivers a stanza that arrived from another server, whose
// stream checked that its 'from' is on the domain it authenticated and its
// 'to' is local (seed 10.1-5). Outbound hooks do not see it; Inbound hooks
// do.
func (r *Router) RouteRemote(ctx context.Context, st *stanza.Element, from, to jid.JID) {
	p := getPacket(st, from, to)
	defer putPacket(p)
	r.dispatch(ctx, p)
}

// toRemote hands a stanza for another domain to the s2s layer (RFC 6120
// §10.4, seed 10.7-2), after the Remote hooks.
func (r *Router) toRemote(ctx context.Context, p *Packet) {
	if !r.IsLocal(p.From.Domain()) {
		// Seed 10.1-4: only stanzas from our own domains leave.
		r.log.Warn("dropping a stanza between two remote domains", "from", p.From.Domain(), "to", p.To.Domain())
		return
	}
	if r.run(ctx, Remote, p) {
		return
	}
	if b := r.remote.Load(); b != nil {
		b.r.SendRemote(ctx, p)
		return
	}
	r.bounce(p, stanza.NewError(stanza.RemoteServerNotFound, "this server does not federate with remote domains"))
}

// broadcastPresence handles presence with no 'to' when no module does.
func (r *Router) broadcastPresence(st *stanza.Element, from jid.JID) {
	s := r.Session(from)
	if s == nil {
		return
	}
	switch st.Attr("type") {
	case "":
		r.SetPresence(s, true, ParsePriority(st))
	case "unavailable":
		r.SetPresence(s, false, 0)
	}
}

// ParsePriority reads <priority/> (RFC 6121 §4.7.2.3); absent means 0.
// Streams reject out-of-range values before routing.
func ParsePriority(st *stanza.Element) int {
	p, err := strconv.Atoi(st.ChildText("", "priority"))
	if err != nil || p < -128 || p > 127 {
		return 0
	}
	return p
}

// toHost: addressed to the server itself (RFC 6120 §10.3, seed 10.7-3).
func (r *Router) toHost(ctx context.Context, p *Packet) {
	switch p.El.Name.Local {
	case "iq":
		r.handleIQ(ctx, ToHost, p)
	case "message":
		switch p.El.Attr("type") {
		case "error", "headline":
		default:
			r.bounce(p, stanza.NewError(stanza.ServiceUnavailable, ""))
		}
	}
	// Presence to the server: nothing here consumes it.
}

// toBare: addressed to a local bare JID (RFC 6121 §8.5.2, seed 10.7-4).
func (r *Router) toBare(ctx context.Context, p *Packet) {
	kind := p.El.Name.Local
	var buf [4]*Session // most accounts have few sessions: no allocation
	sessions := r.appendSessions(buf[:0], p.To)
	if len(sessions) == 0 && !r.exists(ctx, p.To) {
		// RFC 6121 §8.5.1: no such user. Presence is dropped silently.
		if kind == "message" || kind == "iq" {
			r.bounce(p, stanza.NewError(stanza.ServiceUnavailable, ""))
		}
		return
	}
	if r.run(ctx, Inbound, p) {
		return
	}
	switch kind {
	case "iq":
		// The server answers for the account (RFC 6121 §8.5.2.1.3).
		target := ToAccount
		if p.From.Bare() == p.To {
			target = ToSelf
		}
		r.handleIQ(ctx, target, p)
	case "message":
		r.messageToBare(ctx, p, sessions)
	case "presence":
		// Directed presence goes to every available resource (RFC 6121
		// §8.5.2.1.2); subscription traffic is the roster's.
		r.toAvailable(p, sessions)
	}
}

// toAvailable delivers to every available resource of the sessions.
func (r *Router) toAvailable(p *Packet, sessions []*Session) {
	for _, s := range sessions {
		if s.Available() {
			r.deliver(s, &Packet{El: p.El.ShallowCopy(), From: p.From, To: p.To, Generated: p.Generated})
		}
	}
}

func (r *Router) messageToBare(ctx context.Context, p *Packet, sessions []*Session) {
	switch p.El.Attr("type") {
	case "error":
		return
	case "groupchat":
		r.bounce(p, stanza.NewError(stanza.ServiceUnavailable, "groupchat messages cannot be sent to a user"))
		return
	case "headline":
		// Every available resource with non-negative priority; never
		// stored (RFC 6121 §8.5.2.1.1).
		for _, s := range sessions {
			if s.Available() && s.Priority() >= 0 {
				r.deliver(s, &Packet{El: p.El.ShallowCopy(), From: p.From, To: p.To})
			}
		}
		return
	}
	// normal, chat and unknown types (RFC 6121 §5.2.2: treat as normal):
	// the available resources of highest non-negative priority.
	best, n := -1, 0
	for _, s := range sessions {
		if !s.Available() || s.Priority() < 0 {
			continue
		}
		switch pr := s.Priority(); {
		case pr > best:
			best, n = pr, 1
		case pr == best:
			n++
		}
	}
	if n == 0 {
		if !r.run(ctx, Offline, p) {
			r.bounce(p, stanza.NewError(stanza.ServiceUnavailable, "the recipient is not online"))
		}
		return
	}
	for _, s := range sessions {
		if s.Available() && s.Priority() == best {
			if n > 1 {
				r.deliver(s, &Packet{El: p.El.ShallowCopy(), From: p.From, To: p.To})
			} else {
				r.deliver(s, p)
			}
		}
	}
}

// toAbsentFull: a local full JID with no session (RFC 6121 §8.5.3.2).
func (r *Router) toAbsentFull(ctx context.Context, p *Packet) {
	typ := p.El.Attr("type")
	bare := &Packet{El: p.El, From: p.From, To: p.To.Bare(), Generated: p.Generated}
	switch p.El.Name.Local {
	case "message":
		switch typ {
		case "error", "headline":
		case "groupchat":
			r.bounce(p, stanza.NewError(stanza.ServiceUnavailable, ""))
		default:
			r.toBare(ctx, bare)
		}
	case "presence":
		switch typ {
		case "subscribe", "subscribed", "unsubscribe", "unsubscribed", "probe":
			r.toBare(ctx, bare)
		}
	case "iq":
		r.bounce(p, stanza.NewError(stanza.ServiceUnavailable, ""))
	}
}

// handleIQ answers an IQ addressed to the server or to an account.
func (r *Router) handleIQ(ctx context.Context, target Target, p *Packet) {
	st := p.El
	typ := st.Attr("type")
	if typ != "get" && typ != "set" {
		return // results and errors addressed to the server end here
	}
	payload := st.FirstElement()
	iq := *r.iq.Load()
	h := iq[iqKey{target, typ, payload.Name}]
	if h == nil && target == ToSelf {
		h = iq[iqKey{ToAccount, typ, payload.Name}]
	}
	if h == nil {
		r.bounce(p, stanza.NewError(stanza.ServiceUnavailable, ""))
		return
	}
	var after []func()
	res, err := h(context.WithValue(ctx, afterKey{}, &after), st, p.From, p.To)
	if err != nil {
		var se *stanza.Error
		if !errors.As(err, &se) {
			r.log.Error("iq handler failed", "payload", payload.Name.Space+" "+payload.Name.Local, "err", err)
			se = stanza.NewError(stanza.InternalServerError, "")
		}
		r.bounce(p, se)
	} else {
		reply := stanza.New("", "iq").SetAttr("type", "result").SetAttr("id", st.Attr("id"))
		if st.HasAttr("to") {
			reply.SetAttr("from", p.To.String())
		}
		reply.SetAttr("to", p.From.String())
		r.toSender(reply.Append(res), p.To, p.From)
	}
	for _, f := range after {
		f()
	}
}

func (r *Router) exists(ctx context.Context, to jid.JID) bool {
	if len(r.Sessions(to)) > 0 {
		return true
	}
	ok, err := r.accounts.AccountExists(ctx, to.Domain(), to.Local())
	if err != nil {
		r.log.Error("account lookup failed", "jid", to.Bare().String(), "err", err)
	}
	return ok
}

// Exists reports whether the local account of j exists.
func (r *Router) Exists(ctx context.Context, j jid.JID) bool {
	return r.IsLocal(j.Domain()) && j.Local() != "" && r.exists(ctx, j.Bare())
}

// deliver hands the packet to session s. A stream that refuses it is gone
// or overloaded; the sender gets an error instead of silence.
func (r *Router) deliver(s *Session, p *Packet) {
	if s.Stream.Send(p.El) {
		return
	}
	switch p.El.Name.Local {
	case "iq":
		if t := p.El.Attr("type"); t == "get" || t == "set" {
			r.bounce(p, stanza.NewError(stanza.ServiceUnavailable, "the recipient's connection is gone"))
		}
	case "message":
		r.bounce(p, stanza.NewError(stanza.RecipientUnavailable, "the recipient's connection could not take the message"))
	}
}

// Bounce answers p's stanza with err, unless it is itself an error (seed
// 10.5-2). Hooks use it to refuse a stanza.
func (r *Router) Bounce(p *Packet, err *stanza.Error) { r.bounce(p, err) }

// bounce sends err back to the sender of st. When the stanza had no 'to',
// the error comes from the address it was treated as sent to.
func (r *Router) bounce(p *Packet, err *stanza.Error) {
	st := p.El
	if stanza.IsError(st) || p.From.IsZero() {
		return
	}
	reply := stanza.ErrorReply(st, err)
	if !st.HasAttr("to") && !p.To.IsZero() && st.Name.Local != "iq" {
		// A message treated as sent to the sender's own account answers
		// from it; IQ replies, like results, echo the absent 'to'.
		reply.SetAttr("from", p.To.String())
	}
	reply.SetAttr("to", p.From.String())
	if p.From.IsFull() || !r.IsLocal(p.From.Domain()) {
		r.toSender(reply, p.To, p.From)
	} else {
		// A bare sender (subscription traffic): all its resources.
		r.toAvailable(&Packet{El: reply, From: p.To, To: p.From, Generated: true}, r.Sessions(p.From))
	}
}

// toSender delivers a server-generated reply, from from, to a local full
// JID or a remote address. Replies that cannot be delivered are dropped:
// there is nobody left to tell.
func (r *Router) toSender(reply *stanza.Element, from, to jid.JID) {
	if !r.IsLocal(to.Domain()) {
		if !r.IsLocal(from.Domain()) {
			return
		}
		r.toRemote(context.Background(), &Packet{El: reply, From: from, To: to, Generated: true})
		return
	}
	if s := r.Session(to); s != nil {
		s.Stream.Send(reply)
	}
}

// DeliverTo hands st to one session directly, with no routing rules: a
// module answering on behalf of the server (roster pushes, reflected
// presence). It reports whether the stream took it.
func (r *Router) DeliverTo(s *Session, st *stanza.Element) bool { return s.Stream.Send(st) }
