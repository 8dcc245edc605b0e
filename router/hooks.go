package router

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/starling-xmpp/starling/jid"
	"github.com/starling-xmpp/starling/stanza"
)

// Packet is a stanza on its way through the router, as hooks see it.
type Packet struct {
	El *stanza.Element
	// From is the sender: a local client's full JID (or bare JID for
	// subscription presence), or whatever a module sends as.
	From jid.JID
	// To is the address the stanza is routed to: the parsed 'to', the
	// sender's bare JID for a message or IQ without 'to', and zero for
	// presence without 'to' (a broadcast).
	To jid.JID
	// Generated is true for stanzas the server or a module made (presence
	// broadcasts, roster pushes, probe answers), false for stanzas a
	// client sent.
	Generated bool
}

// Phase says where in routing a hook runs.
type Phase uint8

const (
	// Outbound hooks see every stanza a local client sends, after the
	// stream validated and stamped it and before it is routed: roster
	// and presence handling, blocking of outgoing traffic.
	Outbound Phase = iota
	// Inbound hooks see every stanza for an existing local account (bare
	// or full JID), client-sent or generated, before delivery: incoming
	// subscriptions and probes, blocking of incoming traffic.
	Inbound
	// Remote hooks see every stanza about to leave for another server,
	// client-sent or generated: blocking of generated presence to
	// remote contacts.
	Remote
	// Offline hooks see a message of type normal or chat for an existing
	// account that has no available resource to take it (RFC 6121
	// §8.5.2.1.1): offline storage.
	Offline
	phases
)

// Hook handles a packet. It returns true when it has dealt with the stanza,
// which stops the other hooks and the router's own handling. The Packet is
// the router's and valid only during the call (the router reuses it): a
// hook that keeps the stanza keeps p.El, or a copy of *p.
type Hook func(ctx context.Context, p *Packet) bool

type hookEntry struct {
	prio int
	id   uint64
	fn   Hook
}

type hooks struct {
	mu     sync.RWMutex
	lists  [phases]atomic.Pointer[[]hookEntry] // copy on write: run takes no lock
	ends   []func(context.Context, *Session)
	nextID uint64
}

// Hook registers fn for a phase. Hooks of higher priority run first (equal
// priorities in registration order). It returns a function that removes
// the hook.
func (r *Router) Hook(phase Phase, priority int, fn Hook) (remove func()) {
	h := &r.hooks
	h.mu.Lock()
	defer h.mu.Unlock()
	h.nextID++
	id := h.nextID
	l := append(slices.Clone(h.list(phase)), hookEntry{prio: priority, id: id, fn: fn})
	slices.SortStableFunc(l, func(a, b hookEntry) int { return b.prio - a.prio })
	h.lists[phase].Store(&l)
	return func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		l := slices.DeleteFunc(slices.Clone(h.list(phase)), func(e hookEntry) bool { return e.id == id })
		h.lists[phase].Store(&l)
	}
}

// list returns the hooks of a phase, highest priority first.
func (h *hooks) list(phase Phase) []hookEntry {
	if l := h.lists[phase].Load(); l != nil {
		return *l
	}
	return nil
}

// run runs the hooks of a phase until one handles the packet.
func (r *Router) run(ctx context.Context, phase Phase, p *Packet) bool {
	for _, e := range r.hooks.list(phase) {
		if e.fn(ctx, p) {
			return true
		}
	}
	return false
}

// OnSessionEnd registers fn to be called after a session has been unbound,
// for whatever reason: the client unbound or closed its stream, the
// connection dropped, another login replaced it. The session is no longer
// routable when fn runs.
func (r *Router) OnSessionEnd(fn func(ctx context.Context, s *Session)) {
	r.hooks.mu.Lock()
	defer r.hooks.mu.Unlock()
	r.hooks.ends = append(r.hooks.ends, fn)
}

func (r *Router) sessionEnded(s *Session) {
	r.hooks.mu.RLock()
	ends := r.hooks.ends
	r.hooks.mu.RUnlock()
	for _, fn := range ends {
		fn(context.Background(), s)
	}
}

type afterKey struct{}

// After arranges for fn to run once the reply to the IQ being handled has
// been sent, so that, for instance, a roster push follows the result of the
// roster set that caused it (RFC 6121 §2.3.2). Outside an IQ handler fn runs
// at once.
func After(ctx context.Context, fn func()) {
	if l, ok := ctx.Value(afterKey{}).(*[]func()); ok {
		*l = append(*l, fn)
		return
	}
	fn()
}
