// Package module is how features plug into Starling. A feature is a Module:
// it has a name (its switch in the configuration's modules section) and a
// Register method that receives the Host and installs, through it, IQ
// handlers, routing hooks, stream features, disco features and identities,
// and subscriptions to events other modules fire.
//
// Everything a module registers is visible: Host.HandleIQ also records the
// payload's namespace as a disco feature, so service discovery always lists
// exactly what is registered. The server's explicit module list is in the
// server package.
package module

import (
	"context"
	"log/slog"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/starling-xmpp/starling/account"
	"github.com/starling-xmpp/starling/c2s"
	"github.com/starling-xmpp/starling/config"
	"github.com/starling-xmpp/starling/jid"
	"github.com/starling-xmpp/starling/router"
	"github.com/starling-xmpp/starling/stanza"
	"github.com/starling-xmpp/starling/storage"
)

// Module is one feature.
type Module interface {
	// Name is the module's name in the configuration (modules.NAME).
	Name() string
	// Register installs the module. It is called once, before the server
	// accepts connections.
	Register(h *Host) error
}

// Store is the storage modules get: generic per-account maps and queues.
type Store interface {
	storage.KV
	storage.Queue
}

// Identity is a service-discovery identity (XEP-0030 §3.1).
type Identity struct {
	Category, Type, Name string
}

// StreamFeature contributes an element to <stream:features/>, or nil.
type StreamFeature func(s c2s.StreamInfo) *stanza.Element

// PreAuthHandler answers an IQ on a stream that has not authenticated yet
// (in-band registration); it returns the result payload or an error, like
// router.IQHandler.
type PreAuthHandler func(ctx context.Context, s c2s.StreamInfo, iq *stanza.Element) (*stanza.Element, error)

// Contacts answers questions about rosters for other modules (disco, last
// activity, blocking): the presence subscription between a local user and
// another entity.
type Contacts interface {
	// Subscription reports whether contact is subscribed to user's
	// presence (from) and user to contact's (to).
	Subscription(ctx context.Context, user, contact jid.JID) (from, to bool, err error)
}

// Host is what modules receive: the server's parts, and the registries
// modules fill.
type Host struct {
	Config   *config.Config
	Router   *router.Router
	Store    Store
	Accounts *account.Manager
	Logger   *slog.Logger
	// Started is when the server started (server uptime, XEP-0012).
	Started time.Time

	// InitialPresence fires after a session has sent its initial
	// presence and it has been broadcast (RFC 6121 §4.2): offline
	// messages are delivered then.
	InitialPresence Event[*router.Session]
	// AccountRemoving fires just before the server deletes an account on
	// its user's request (XEP-0077 §3.2), while its sessions and data
	// still exist: the roster module cancels its subscriptions then.
	AccountRemoving Event[jid.JID]

	mu         sync.RWMutex
	features   map[router.Target][]string
	identities map[router.Target][]Identity
	streamFeat []StreamFeature
	preAuth    map[stanza.Name]PreAuthHandler
	contacts   Contacts
}

// NewHost returns an empty host over the server's parts.
func NewHost(cfg *config.Config, r *router.Router, store Store, accounts *account.Manager, log *slog.Logger) *Host {
	return &Host{
		Config: cfg, Router: r, Store: store, Accounts: accounts, Logger: log, Started: time.Now(),
		features:   map[router.Target][]string{},
		identities: map[router.Target][]Identity{},
		preAuth:    map[stanza.Name]PreAuthHandler{},
	}
}

// HandleIQ registers an IQ handler with the router and advertises the
// payload's namespace as a disco feature of target.
func (h *Host) HandleIQ(target router.Target, typ string, name stanza.Name, fn router.IQHandler) {
	h.Router.HandleIQ(target, typ, name, fn)
	h.AddFeature(target, name.Space)
}

// AddFeature advertises a disco feature (XEP-0030 §3.1) for target: ToHost
// for the server, ToAccount for every account, ToSelf for the requester's
// own account only.
func (h *Host) AddFeature(target router.Target, ns string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !slices.Contains(h.features[target], ns) {
		h.features[target] = append(h.features[target], ns)
	}
}

// AddIdentity advertises a disco identity for target.
func (h *Host) AddIdentity(target router.Target, id Identity) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.identities[target] = append(h.identities[target], id)
}

// Features returns the disco features of target, sorted.
func (h *Host) Features(target router.Target) []string {
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := slices.Clone(h.features[target])
	slices.Sort(out)
	return out
}

// Identities returns the disco identities of target.
func (h *Host) Identities(target router.Target) []Identity {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return slices.Clone(h.identities[target])
}

// AddStreamFeature adds an element to the stream features.
func (h *Host) AddStreamFeature(f StreamFeature) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.streamFeat = append(h.streamFeat, f)
}

// StreamFeatures implements c2s.Extensions.
func (h *Host) StreamFeatures(s c2s.StreamInfo) []*stanza.Element {
	h.mu.RLock()
	fs := h.streamFeat
	h.mu.RUnlock()
	var out []*stanza.Element
	for _, f := range fs {
		if el := f(s); el != nil {
			out = append(out, el)
		}
	}
	return out
}

// HandlePreAuthIQ registers a handler for IQs whose payload is name on
// streams that have not authenticated.
func (h *Host) HandlePreAuthIQ(name stanza.Name, fn PreAuthHandler) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, dup := h.preAuth[name]; dup {
		panic("module: duplicate pre-authentication handler for " + name.Space)
	}
	h.preAuth[name] = fn
}

// PreAuthIQ implements c2s.Extensions.
func (h *Host) PreAuthIQ(ctx context.Context, s c2s.StreamInfo, iq *stanza.Element) (res *stanza.Element, handled bool, err error) {
	p := iq.FirstElement()
	if p == nil {
		return nil, false, nil
	}
	h.mu.RLock()
	fn := h.preAuth[p.Name]
	h.mu.RUnlock()
	if fn == nil {
		return nil, false, nil
	}
	res, err = fn(ctx, s, iq)
	return res, true, err
}

// PresenceTracker is implemented by a Contacts that also follows the
// presence each session sends (the roster module).
type PresenceTracker interface {
	// LastPresence returns the last available presence s broadcast, or
	// nil while it is unavailable.
	LastPresence(s *router.Session) *stanza.Element
	// DirectedPresence returns the entities s sent directed available
	// presence to that are not subscribed to it (RFC 6121 §4.6).
	DirectedPresence(s *router.Session) []jid.JID
}

// SetContacts installs the roster module's answers.
func (h *Host) SetContacts(c Contacts) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.contacts = c
}

// Subscription reports the presence subscription between a local user and
// contact; without a roster module nobody is subscribed.
func (h *Host) Subscription(ctx context.Context, user, contact jid.JID) (from, to bool, err error) {
	h.mu.RLock()
	c := h.contacts
	h.mu.RUnlock()
	if c == nil {
		return false, false, nil
	}
	return c.Subscription(ctx, user, contact)
}

// LastPresence returns the last available presence s broadcast, or nil
// while it is unavailable or without a roster module.
func (h *Host) LastPresence(s *router.Session) *stanza.Element {
	h.mu.RLock()
	c := h.contacts
	h.mu.RUnlock()
	if t, ok := c.(PresenceTracker); ok {
		return t.LastPresence(s)
	}
	return nil
}

// DirectedPresence returns the entities s sent directed available
// presence to that are not subscribed to it; none without a roster module.
func (h *Host) DirectedPresence(s *router.Session) []jid.JID {
	h.mu.RLock()
	c := h.contacts
	h.mu.RUnlock()
	if t, ok := c.(PresenceTracker); ok {
		return t.DirectedPresence(s)
	}
	return nil
}

// Event is a typed notification between modules.
type Event[T any] struct {
	mu  sync.RWMutex
	fns []func(context.Context, T)
}

// On subscribes fn.
func (e *Event[T]) On(fn func(context.Context, T)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.fns = append(e.fns, fn)
}

// Fire calls every subscriber in order.
func (e *Event[T]) Fire(ctx context.Context, v T) {
	e.mu.RLock()
	fns := e.fns
	e.mu.RUnlock()
	for _, fn := range fns {
		fn(ctx, v)
	}
}

// RemoteAddr is a helper for modules that rate-limit by IP address.
func RemoteAddr(s c2s.StreamInfo) string {
	if s.Remote == nil {
		return ""
	}
	if h, _, err := net.SplitHostPort(s.Remote.String()); err == nil {
		return h
	}
	return s.Remote.String()
}
