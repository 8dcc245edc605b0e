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
	"hash/maphash"
	"log/slog"
	"maps"
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
	// Close ends the stream with a stream error (the account was deleted,
	// the server is shutting down).
	Close(se *stanza.StreamError)
}

// Session is one bound resource: a routable full JID on a stream. Several
// sessions can share one stream (multi-resource binding).
type Session struct {
	JID    jid.JID
	Stream Stream

	available atomic.Bool
	priority  atomic.Int32

	mu     sync.Mutex
	values map[any]any
}

// Value returns what a module stored on the session under key, or nil.
// Modules use unexported key types so they cannot collide.
func (s *Session) Value(key any) any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.values[key]
}

// SetValue stores v on the session under key (nil deletes it).
func (s *Session) SetValue(key, v any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v == nil {
		delete(s.values, key)
		return
	}
	if s.values == nil {
		s.values = map[any]any{}
	}
	s.values[key] = v
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
	// ToAccount is the bare JID of a local account other than the
	// sender's.
	ToAccount
	// ToSelf is the sender's own account: its bare JID, or no 'to' at all
	// (RFC 6120 §10.3.3). When no ToSelf handler matches, a ToAccount
	// handler is tried.
	ToSelf
)

type iqKey struct {
	target Target
	typ    string
	name   stanza.Name
}

// Router routes stanzas between local sessions, and to and from other
// servers through a Federation.
type Router struct {
	hosts       map[string]bool
	accounts    Accounts
	log         *slog.Logger
	maxSessions int
	seed        maphash.Seed
	shards      [shardCount]shard

	iqMu sync.Mutex                          // serialises HandleIQ
	iq   atomic.Pointer[map[iqKey]IQHandler] // copy on write: routing takes no lock

	hooks hooks

	remote atomic.Pointer[remoteBox]
}

// Federation carries stanzas to other servers (the s2s package).
type Federation interface {
	// SendRemote delivers p, whose To is on a remote domain and whose
	// From is local, or bounces it to its sender. It must not block on
	// the network, and must copy *p to keep it: the router reuses p once
	// SendRemote returns.
	SendRemote(ctx context.Context, p *Packet)
}

type remoteBox struct{ r Federation }

// SetFederation installs what carries stanzas to remote domains; without
// one they are bounced with remote-server-not-found.
func (r *Router) SetFederation(rm Federation) { r.remote.Store(&remoteBox{rm}) }

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
	}
	r.iq.Store(&map[iqKey]IQHandler{})
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
	old := *r.iq.Load()
	if _, dup := old[k]; dup || h == nil {
		panic("router: duplicate or nil IQ handler for " + typ + " {" + name.Space + "}" + name.Local)
	}
	m := maps.Clone(old)
	m[k] = h
	r.iq.Store(&m)
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
		r.sessionEnded(old)
	}
	return old, nil
}

// Unbind removes s from the table and tells the OnSessionEnd hooks;
// unbinding twice is harmless.
func (r *Router) Unbind(s *Session) {
	bare := s.JID.Bare().String()
	sh := r.shardFor(bare)
	sh.mu.Lock()
	list := sh.users[bare]
	found := false
	for i, o := range list {
		if o == s {
			if len(list) == 1 {
				delete(sh.users, bare)
			} else {
				sh.users[bare] = append(list[:i:i], list[i+1:]...)
			}
			found = true
			break
		}
	}
	sh.mu.Unlock()
	if found {
		r.sessionEnded(s)
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
	return r.appendSessions(nil, bare)
}

// appendSessions appends the sessions of a bare JID to dst.
func (r *Router) appendSessions(dst []*Session, bare jid.JID) []*Session {
	b := bare.Bare().String()
	sh := r.shardFor(b)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	return append(dst, sh.users[b]...)
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
