// Package im is instant messaging and presence as RFC 6121 defines them:
// rosters (§2, with XEP-0237 roster versioning), presence subscriptions with
// the state machine of Appendix A and pre-approval (§3), and presence
// exchange: broadcast, probes, directed presence and the unavailable
// presence of sessions that end (§4). These three are one module because
// each changes the others: a subscription answer changes the roster and
// sends presence, a presence broadcast reads the roster.
//
// Seed items 10.3, 11, 12 and 13 (server role).
package im

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/starling-xmpp/starling/c2s"
	"github.com/starling-xmpp/starling/internal/recent"
	"github.com/starling-xmpp/starling/jid"
	"github.com/starling-xmpp/starling/module"
	"github.com/starling-xmpp/starling/router"
	"github.com/starling-xmpp/starling/stanza"
)

// Stream features (RFC 6121 §2.6.2 roster versioning, §3.4 pre-approval).
const (
	NSRosterVer   = "urn:xmpp:features:rosterver"
	NSPreApproval = "urn:xmpp:features:pre-approval"
)

// Module is the roster, subscription and presence module (module name
// "roster").
type Module struct{}

var (
	_ module.Module          = Module{}
	_ module.PresenceTracker = (*im)(nil)
)

// Name implements module.Module.
func (Module) Name() string { return "roster" }

// im is the module's state for one server.
type im struct {
	h        *module.Host
	r        *router.Router
	rosters  *rosters
	maxItems int
	pushID   atomic.Uint64
}

// Register implements module.Module.
func (Module) Register(h *module.Host) error {
	m := &im{
		h:        h,
		r:        h.Router,
		maxItems: h.Config.Roster.MaxItems,
		rosters: &rosters{
			store:         h.Store,
			maxTombstones: 200,
			cache:         map[string]*roster{},
			recent:        recent.Cache[*roster]{TTL: recentTTL, Max: maxRecent},
		},
	}
	q := stanza.Name{Space: NSRoster, Local: "query"}
	h.HandleIQ(router.ToSelf, "get", q, m.rosterGet)
	h.HandleIQ(router.ToSelf, "set", q, m.rosterSet)
	h.HandleIQ(router.ToAccount, "get", q, forbidden)
	h.HandleIQ(router.ToAccount, "set", q, forbidden)
	h.AddFeature(router.ToHost, NSRoster)
	h.AddStreamFeature(func(s c2s.StreamInfo) *stanza.Element {
		if s.Authenticated {
			return stanza.New(NSRosterVer, "ver")
		}
		return nil
	})
	h.AddStreamFeature(func(s c2s.StreamInfo) *stanza.Element {
		if s.Authenticated {
			return stanza.New(NSPreApproval, "sub")
		}
		return nil
	})
	h.Router.Hook(router.Outbound, 0, m.outbound)
	h.Router.Hook(router.Inbound, 0, m.inbound)
	h.Router.OnSessionEnd(m.sessionEnded)
	h.SetContacts(m)
	h.AccountRemoving.On(m.accountRemoving)
	return nil
}

// forbidden answers roster requests for other accounts (RFC 6121 §2.1.5).
func forbidden(context.Context, *stanza.Element, jid.JID, jid.JID) (*stanza.Element, error) {
	return nil, stanza.NewError(stanza.Forbidden, "only the account itself may read or change its roster")
}

// Subscription implements module.Contacts.
func (m *im) Subscription(ctx context.Context, user, contact jid.JID) (from, to bool, err error) {
	unlock := m.rosters.lock(user)
	defer unlock()
	r, err := m.rosters.load(ctx, user.Bare())
	if err != nil {
		return false, false, err
	}
	it := r.get(contact.Bare())
	if it == nil || it.Removed {
		return false, false, nil
	}
	return it.From, it.To, nil
}

// sessionState is what the module keeps on each session.
type sessionState struct {
	mu sync.Mutex
	// interested: the session requested the roster, so it gets pushes
	// (RFC 6121 §2.1.6).
	interested bool
	// last is the session's last available broadcast presence, nil while
	// unavailable; stamp is when it was sent.
	last *stanza.Element
	// initial: the session has sent initial presence and not become
	// unavailable since.
	initial bool
	// directed are the entities this session sent directed available
	// presence to that the roster does not already cover (RFC 6121 §4.6).
	directed map[string]jid.JID
}

type stateKey struct{}

func state(s *router.Session) *sessionState {
	if st, ok := s.Value(stateKey{}).(*sessionState); ok {
		return st
	}
	st := &sessionState{}
	s.SetValue(stateKey{}, st)
	return st
}

// LastPresence implements module.PresenceTracker.
func (m *im) LastPresence(s *router.Session) *stanza.Element { return lastPresence(s) }

// DirectedPresence implements module.PresenceTracker.
func (m *im) DirectedPresence(s *router.Session) []jid.JID {
	st, ok := s.Value(stateKey{}).(*sessionState)
	if !ok {
		return nil
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	out := make([]jid.JID, 0, len(st.directed))
	for _, d := range st.directed {
		out = append(out, d)
	}
	return out
}

// lastPresence returns the last available presence a session broadcast,
// or nil while it is unavailable.
func lastPresence(s *router.Session) *stanza.Element {
	st, ok := s.Value(stateKey{}).(*sessionState)
	if !ok {
		return nil
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.last
}

// push sends a roster push of it to each interested session of user
// (seed 11-3).
func (m *im) push(user jid.JID, it *Item) {
	for _, s := range m.r.Sessions(user) {
		st := state(s)
		st.mu.Lock()
		interested := st.interested
		st.mu.Unlock()
		if !interested {
			continue
		}
		iq := stanza.New("", "iq").SetAttr("type", "set").
			SetAttr("id", "push"+strconv.FormatUint(m.pushID.Add(1), 10)).
			SetAttr("to", s.JID.String()).
			Append(stanza.New(NSRoster, "query").SetAttr("ver", strconv.FormatInt(it.Ver, 10)).Append(it.Element()))
		m.r.DeliverTo(s, iq)
	}
}

// online keeps the roster of a user with sessions in memory.
func (m *im) online(user jid.JID, r *roster) {
	if len(m.r.Sessions(user)) > 0 {
		m.rosters.cacheFor(user, r)
	}
}

func (m *im) sessionEnded(ctx context.Context, s *router.Session) {
	m.unavailable(ctx, s, nil)
	if len(m.r.Sessions(s.JID.Bare())) == 0 {
		m.rosters.uncache(s.JID.Bare())
	}
}
