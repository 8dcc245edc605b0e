// Package router delivers stanzas: it owns the table of bound sessions and
// applies the routing rules of RFC 6120 §10 and RFC 6121 §8 (seed 10.7): no
// 'to' address, the server's own domain, local bare and full JIDs, and
// remote domains.
//
// Streams (c2s) validate a stanza's shape and stamp its 'from' before
// handing it to Route; the router never trusts anything else about it.
// Delivery to a session is a non-blocking Send on the session's stream, so a
// slow client can never stall the router.
package router

import (
	"context"
	"errors"
	"hash/maphash"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/starling-xmpp/starling/jid"
	"github.com/starling-xmpp/starling/stanza"
)

// Stream is the connection a session's stanzas are written to.
type Stream interface {
	// Send queues el for writing without blocking and reports whether it
	// was queued. A stream that is closing, or whose queue is full, says
	// no (and closes itself in the latter case).
	Send(el *stanza.Element) bool
	// Replaced tells the stream that s was unbound because another session
	// took its full JID (resource conflict policy "replace").
	Replaced(s *Session)
}

// Session is one bound resource: a routable full JID on a stream. Several
// sessions can share one stream (multi-resource binding).
type Session struct {
	JID    jid.JID
	Stream Stream

	available atomic.Bool
	priority  atomic.Int32
}

// NewSession returns an unavailable session for full JID j on stream st.
func NewSession(j jid.JID, st Stream) *Session {
	return &Session{JID: j, Stream: st}
}

// Available reports whether the session has sent available presence.
func (s *Session) Available() bool { return s.available.Load() }

// Priority is the priority of the session's last available presence.
func (s *Session) Priority() int { return int(s.priority.Load()) }

// Accounts tells whether a local account exists.
type Accounts interface {
	AccountExists(ctx context.Context, host, user string) (bool, error)
}

// Config is what a Router needs.
type Config struct {
	Hosts    []string
	Accounts Accounts
	Logger   *slog.Logger
	// MaxSessionsPerAccount bounds the sessions one account may bind.
	MaxSessionsPerAccount int
}

// IQHandler answers an IQ get or set. It returns the payload of the result
// (nil for an empty result) or an error: a *stanza.Error is sent as is,
// anything else becomes internal-server-error.
type IQHandler func(ctx context.Context, iq *stanza.Element, from, to jid.JID) (*stanza.Element, error)

// Target says which addresses an IQ handler answers for.
type Target uint8

const (
	// ToHost is the server's own domain.
	ToHost Target = iota
	// ToAccount is the bare JID of a local account (including an IQ with
	// no 'to', which is addressed to the sender's own account).
	ToAccount
)

type iqKey struct {
	target Target
	typ    string
	name   stanza.Name
}

// Router routes stanzas between local sessions (and, later, servers).
type Router struct {
	hosts       map[string]bool
	accounts    Accounts
	log         *slog.Logger
	maxSessions int
	seed        maphash.Seed
	shards      [shardCount]shard

	iqMu sync.RWMutex
	iq   map[iqKey]IQHandler
}

const shardCount = 64

type shard struct {
	mu    sync.RWMutex
	users map[string][]*Session // bare JID → its sessions
}

// New returns a router for cfg.Hosts.
func New(cfg Config) *Router {
	r := &Router{
		hosts:       map[string]bool{},
		accounts:    cfg.Accounts,
		log:         cfg.Logger,
		maxSessions: cfg.MaxSessionsPerAccount,
		seed:        maphash.MakeSeed(),
		iq:          map[iqKey]IQHandler{},
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.maxSessions <= 0 {
		r.maxSessions = 1 << 30
	}
	for _, h := range cfg.Hosts {
		r.hosts[h] = true
	}
	for i := range r.shards {
		r.shards[i].users = map[string][]*Session{}
	}
	return r
}

// IsLocal reports whether domain is served here.
func (r *Router) IsLocal(domain string) bool { return r.hosts[domain] }

// HandleIQ registers h for IQs of type typ ("get" or "set") whose payload is
// name, sent to target. It panics on a duplicate registration, like
// http.ServeMux.
func (r *Router) HandleIQ(target Target, typ string, name stanza.Name, h IQHandler) {
	r.iqMu.Lock()
	defer r.iqMu.Unlock()
	k := iqKey{target, typ, name}
	if _, dup := r.iq[k]; dup || h == nil {
		panic("router: duplicate or nil IQ handler for " + typ + " {" + name.Space + "}" + name.Local)
	}
	r.iq[k] = h
}

func (r *Router) shardFor(bare string) *shard {
	return &r.shards[maphash.String(r.seed, bare)%shardCount]
}

// Errors from Bind.
var (
	// ErrConflict: the full JID is bound and the caller did not ask to
	// replace it.
	ErrConflict = stanza.NewError(stanza.Conflict, "resource already in use")
	// ErrTooManySessions: the account has MaxSessionsPerAccount sessions.
	ErrTooManySessions = stanza.NewError(stanza.ResourceConstraint, "too many resources bound for this account")
)

// Bind makes s routable. If its full JID is already bound: with replace the
// old session is unbound and returned (its stream is told via Replaced);
// without, ErrConflict. A session on the same stream is never replaced.
func (r *Router) Bind(s *Session, replace bool) (*Session, error) {
	bare := s.JID.Bare().String()
	sh := r.shardFor(bare)
	sh.mu.Lock()
	list := sh.users[bare]
	var old *Session
	idx := -1
	for i, o := range list {
		if o.JID == s.JID {
			old, idx = o, i
		}
	}
	switch {
	case old != nil && (!replace || old.Stream == s.Stream):
		sh.mu.Unlock()
		return nil, ErrConflict
	case old != nil:
		list = append(list[:idx:idx], list[idx+1:]...)
	case len(list) >= r.maxSessions:
		sh.mu.Unlock()
		return nil, ErrTooManySessions
	}
	sh.users[bare] = append(list[:len(list):len(list)], s)
	sh.mu.Unlock()
	if old != nil {
		old.Stream.Replaced(old)
	}
	return old, nil
}

// Unbind removes s from the table; unbinding twice is harmless.
func (r *Router) Unbind(s *Session) {
	bare := s.JID.Bare().String()
	sh := r.shardFor(bare)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	list := sh.users[bare]
	for i, o := range list {
		if o == s {
			if len(list) == 1 {
				delete(sh.users, bare)
			} else {
				sh.users[bare] = append(list[:i:i], list[i+1:]...)
			}
			return
		}
	}
}

// SetPresence records s's broadcast availability and priority (RFC 6121
// §4.7.2.3: -128..127).
func (r *Router) SetPresence(s *Session, available bool, priority int) {
	s.priority.Store(int32(priority))
	s.available.Store(available)
}

// Sessions returns the sessions of a bare JID (a snapshot).
func (r *Router) Sessions(bare jid.JID) []*Session {
	b := bare.Bare().String()
	sh := r.shardFor(b)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	return append([]*Session(nil), sh.users[b]...)
}

// Session returns the session bound to full JID j, or nil.
func (r *Router) Session(j jid.JID) *Session {
	b := j.Bare().String()
	sh := r.shardFor(b)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	for _, s := range sh.users[b] {
		if s.JID == j {
			return s
		}
	}
	return nil
}

// Route delivers st, which comes from the local entity from (already
// validated and stamped by its stream), to to (the parsed 'to' attribute;
// zero when absent).
func (r *Router) Route(ctx context.Context, st *stanza.Element, from, to jid.JID) {
	kind := st.Name.Local
	if to.IsZero() {
		switch kind {
		case "presence":
			// Broadcast presence: the sender's availability (RFC 6121
			// §4.2, §4.5). Seed 10.7-1.
			r.broadcastPresence(st, from)
			return
		default:
			// RFC 6120 §10.3: as if addressed to the sender's bare JID.
			to = from.Bare()
		}
	}
	if !r.IsLocal(to.Domain()) {
		// Federation is not built yet (RFC 6120 §10.4, seed 10.7-2).
		r.bounce(st, from, to, stanza.NewError(stanza.RemoteServerNotFound, "this server does not federate with remote domains"))
		return
	}
	if to.Local() == "" {
		r.toHost(ctx, st, from, to)
		return
	}
	if to.IsFull() {
		if s := r.Session(to); s != nil {
			r.deliver(s, st, from, to)
			return
		}
		r.toAbsentFull(ctx, st, from, to)
		return
	}
	r.toBare(ctx, st, from, to)
}

// broadcastPresence handles presence with no 'to' from a local session.
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
func (r *Router) toHost(ctx context.Context, st *stanza.Element, from, to jid.JID) {
	switch st.Name.Local {
	case "iq":
		r.handleIQ(ctx, ToHost, st, from, to)
	case "message":
		switch st.Attr("type") {
		case "error", "headline":
		default:
			r.bounce(st, from, to, stanza.NewError(stanza.ServiceUnavailable, ""))
		}
	}
	// Presence to the server: nothing here consumes it.
}

// toBare: addressed to a local bare JID (RFC 6121 §8.5.2, seed 10.7-4).
func (r *Router) toBare(ctx context.Context, st *stanza.Element, from, to jid.JID) {
	kind, typ := st.Name.Local, st.Attr("type")
	if kind == "iq" {
		// The server answers for the account (RFC 6121 §8.5.2.1.3).
		if !r.exists(ctx, to) {
			r.bounce(st, from, to, stanza.NewError(stanza.ServiceUnavailable, ""))
			return
		}
		r.handleIQ(ctx, ToAccount, st, from, to)
		return
	}
	sessions := r.Sessions(to)
	if len(sessions) == 0 && !r.exists(ctx, to) {
		// RFC 6121 §8.5.1: no such user. Presence is dropped silently.
		if kind == "message" {
			r.bounce(st, from, to, stanza.NewError(stanza.ServiceUnavailable, ""))
		}
		return
	}
	switch kind {
	case "message":
		r.messageToBare(st, from, to, typ, sessions)
	case "presence":
		// Directed presence and subscription traffic go to every
		// available resource (RFC 6121 §8.5.2.1.2).
		for _, s := range sessions {
			if s.Available() {
				r.deliver(s, st.ShallowCopy(), from, to)
			}
		}
	}
}

func (r *Router) messageToBare(st *stanza.Element, from, to jid.JID, typ string, sessions []*Session) {
	switch typ {
	case "error":
		return
	case "groupchat":
		r.bounce(st, from, to, stanza.NewError(stanza.ServiceUnavailable, "groupchat messages cannot be sent to a user"))
		return
	case "headline":
		// Every available resource with non-negative priority; never
		// stored (RFC 6121 §8.5.2.1.1).
		for _, s := range sessions {
			if s.Available() && s.Priority() >= 0 {
				r.deliver(s, st.ShallowCopy(), from, to)
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
		switch p := s.Priority(); {
		case p > best:
			best, n = p, 1
		case p == best:
			n++
		}
	}
	if n == 0 {
		r.bounce(st, from, to, stanza.NewError(stanza.ServiceUnavailable, "the recipient is not online"))
		return
	}
	for _, s := range sessions {
		if s.Available() && s.Priority() == best {
			if n > 1 {
				r.deliver(s, st.ShallowCopy(), from, to)
			} else {
				r.deliver(s, st, from, to)
			}
		}
	}
}

// toAbsentFull: a local full JID with no session (RFC 6121 §8.5.3.2).
func (r *Router) toAbsentFull(ctx context.Context, st *stanza.Element, from, to jid.JID) {
	typ := st.Attr("type")
	switch st.Name.Local {
	case "message":
		switch typ {
		case "error", "headline":
		case "groupchat":
			r.bounce(st, from, to, stanza.NewError(stanza.ServiceUnavailable, ""))
		default:
			r.toBare(ctx, st, from, to.Bare())
		}
	case "presence":
		switch typ {
		case "subscribe", "subscribed", "unsubscribe", "unsubscribed":
			r.toBare(ctx, st, from, to.Bare())
		}
	case "iq":
		r.bounce(st, from, to, stanza.NewError(stanza.ServiceUnavailable, ""))
	}
}

// handleIQ answers an IQ addressed to the server or to an account.
func (r *Router) handleIQ(ctx context.Context, target Target, st *stanza.Element, from, to jid.JID) {
	typ := st.Attr("type")
	if typ != "get" && typ != "set" {
		return // results and errors addressed to the server end here
	}
	payload := st.FirstElement()
	r.iqMu.RLock()
	h := r.iq[iqKey{target, typ, payload.Name}]
	r.iqMu.RUnlock()
	if h == nil {
		r.bounce(st, from, to, stanza.NewError(stanza.ServiceUnavailable, ""))
		return
	}
	res, err := h(ctx, st, from, to)
	if err != nil {
		var se *stanza.Error
		if !errors.As(err, &se) {
			r.log.Error("iq handler failed", "payload", payload.Name.Space+" "+payload.Name.Local, "err", err)
			se = stanza.NewError(stanza.InternalServerError, "")
		}
		r.bounce(st, from, to, se)
		return
	}
	reply := stanza.New("", "iq").SetAttr("type", "result").SetAttr("id", st.Attr("id"))
	if st.HasAttr("to") {
		reply.SetAttr("from", to.String())
	}
	reply.SetAttr("to", from.String())
	r.toSender(reply.Append(res), from)
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

// deliver hands st to session s. A stream that refuses it is gone or
// overloaded; the sender gets an error instead of silence.
func (r *Router) deliver(s *Session, st *stanza.Element, from, to jid.JID) {
	if s.Stream.Send(st) {
		return
	}
	switch st.Name.Local {
	case "iq":
		if t := st.Attr("type"); t == "get" || t == "set" {
			r.bounce(st, from, to, stanza.NewError(stanza.ServiceUnavailable, "the recipient's connection is gone"))
		}
	case "message":
		r.bounce(st, from, to, stanza.NewError(stanza.RecipientUnavailable, "the recipient's connection could not take the message"))
	}
}

// bounce sends err back to the sender of st, unless st is itself an error
// (seed 10.5-2). When the stanza had no 'to', the error comes from the
// address it was treated as sent to.
func (r *Router) bounce(st *stanza.Element, from, to jid.JID, err *stanza.Error) {
	if stanza.IsError(st) || from.IsZero() {
		return
	}
	reply := stanza.ErrorReply(st, err)
	if !st.HasAttr("to") && !to.IsZero() {
		reply.SetAttr("from", to.String())
	}
	reply.SetAttr("to", from.String())
	r.toSender(reply, from)
}

// toSender delivers a server-generated reply to a local full JID. Replies
// that cannot be delivered are dropped: there is nobody left to tell.
func (r *Router) toSender(reply *stanza.Element, to jid.JID) {
	if s := r.Session(to); s != nil {
		s.Stream.Send(reply)
	}
}
