package blocking

import (
	"context"
	"crypto/rand"
	"log/slog"
	"slices"

	"github.com/starling-xmpp/starling/jid"
	"github.com/starling-xmpp/starling/module"
	"github.com/starling-xmpp/starling/router"
	"github.com/starling-xmpp/starling/stanza"
)

// Namespaces of XEP-0191.
const (
	// NS qualifies <blocklist/>, <block/>, <unblock/> and <item/>.
	NS = "urn:xmpp:blocking"
	// NSErrors qualifies the <blocked/> application error condition.
	NSErrors = "urn:xmpp:blocking:errors"
)

// DefaultMaxItems bounds a block list when Module.MaxItems is zero.
const DefaultMaxItems = 10000

// HookPriority is the priority of the module's routing hooks: blocking is
// the first delivery rule (XEP-0016 §2.2, rule 4), so its hooks run before
// roster, presence, carbons and offline handling, which must use lower
// priorities.
const HookPriority = 1000

// Module is the blocking module.
type Module struct {
	// MaxItems bounds the number of JIDs one account may block; a block
	// that would go beyond it gets <policy-violation/>. Zero means the
	// configured blocking.max_items, or DefaultMaxItems without a config.
	MaxItems int
}

var _ module.Module = Module{}

// Name implements module.Module.
func (Module) Name() string { return "blocking" }

// Register implements module.Module.
func (m Module) Register(h *module.Host) error {
	max := m.MaxItems
	if max <= 0 && h.Config != nil {
		max = h.Config.Blocking.MaxItems
	}
	register(h, max)
	return nil
}

// service is the module registered on one host.
type service struct {
	h     *module.Host
	r     *router.Router
	log   *slog.Logger
	lists *lists
}

// requestedKey marks, as a session value, a session that has retrieved
// the block list: only those get pushes (XEP-0191 §3.3, §3.4).
type requestedKey struct{}

// bypassKey marks, in a context, presence this module sends on the user's
// behalf to an entity the user has just blocked, which the user's own
// block would otherwise drop.
type bypassKey struct{}

func register(h *module.Host, max int) *service {
	if max <= 0 {
		max = DefaultMaxItems
	}
	log := h.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &service{h: h, r: h.Router, log: log.With("module", "blocking")}
	s.lists = newLists(h.Store, h.Config.Profile(), func(user jid.JID) bool {
		return len(s.r.Sessions(user)) > 0
	}, max)

	// The requester's own account (no 'to', or its bare JID); disco
	// info to the server must list the feature too (XEP-0191 §3.1).
	h.HandleIQ(router.ToSelf, "get", stanza.Name{Space: NS, Local: "blocklist"}, s.handleList)
	h.HandleIQ(router.ToSelf, "set", stanza.Name{Space: NS, Local: "block"}, s.handleBlock)
	h.HandleIQ(router.ToSelf, "set", stanza.Name{Space: NS, Local: "unblock"}, s.handleUnblock)
	h.AddFeature(router.ToHost, NS)

	s.r.Hook(router.Outbound, HookPriority, s.outbound)
	s.r.Hook(router.Inbound, HookPriority, s.inbound)
	s.r.Hook(router.Remote, HookPriority, s.remote)
	// The account's data goes with it: forget its list at once.
	h.AccountRemoving.On(func(_ context.Context, user jid.JID) {
		defer s.lists.locks.Lock(user.Bare())()
		s.lists.invalidate(user.Bare())
	})
	s.r.OnSessionEnd(func(_ context.Context, sess *router.Session) {
		sess.SetValue(requestedKey{}, nil)
		s.lists.forget(sess.JID.Bare())
	})
	return s
}

// handleList answers <blocklist/> (XEP-0191 §3.2) and marks the session
// for pushes.
func (s *service) handleList(ctx context.Context, _ *stanza.Element, from, _ jid.JID) (*stanza.Element, error) {
	l, err := s.lists.get(ctx, from.Bare())
	if err != nil {
		return nil, err
	}
	if sess := s.r.Session(from); sess != nil {
		sess.SetValue(requestedKey{}, true)
	}
	res := stanza.New(NS, "blocklist")
	for _, k := range l.items() {
		res.Append(stanza.New(NS, "item").SetAttr("jid", k))
	}
	return res, nil
}

// handleBlock adds JIDs to the list (XEP-0191 §3.3).
func (s *service) handleBlock(ctx context.Context, iq *stanza.Element, from, _ jid.JID) (*stanza.Element, error) {
	items, err := s.parseItems(iq.FirstElement())
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, stanza.NewError(stanza.BadRequest, "<block/> needs at least one <item/>")
	}
	user := from.Bare()
	added, err := s.lists.block(ctx, user, items)
	if err != nil {
		return nil, err
	}
	router.After(ctx, func() {
		s.push(user, "block", items)
		s.presenceOnBlock(user, added)
	})
	return nil, nil
}

// handleUnblock removes JIDs from the list, or all of them when
// <unblock/> is empty (XEP-0191 §3.4, §3.5).
func (s *service) handleUnblock(ctx context.Context, iq *stanza.Element, from, _ jid.JID) (*stanza.Element, error) {
	items, err := s.parseItems(iq.FirstElement())
	if err != nil {
		return nil, err
	}
	user := from.Bare()
	removed, err := s.lists.unblock(ctx, user, items, len(items) == 0)
	if err != nil {
		return nil, err
	}
	router.After(ctx, func() {
		s.push(user, "unblock", items)
		s.presenceOnUnblock(user, removed)
	})
	return nil, nil
}

// parseItems reads the <item jid='...'/> children of a <block/> or
// <unblock/>, prepared and without repeats, in document order. Children
// that are not items of this namespace are ignored.
func (s *service) parseItems(payload *stanza.Element) ([]jid.JID, error) {
	var out []jid.JID
	seen := map[jid.JID]bool{}
	for c := range payload.Elements() {
		if c.Name != (stanza.Name{Space: NS, Local: "item"}) {
			continue
		}
		if !c.HasAttr("jid") {
			return nil, stanza.NewError(stanza.BadRequest, "<item/> needs a 'jid' attribute")
		}
		j, err := s.h.Config.Profile().Parse(c.Attr("jid"))
		if err != nil {
			return nil, stanza.NewError(stanza.JIDMalformed, "")
		}
		if !seen[j] {
			seen[j] = true
			out = append(out, j)
		}
	}
	return out, nil
}

// push sends the change to every resource of user that has retrieved the
// block list (XEP-0191 §3.3-§3.5), each with its own id. An empty items
// is the unblock-all push.
func (s *service) push(user jid.JID, verb string, items []jid.JID) {
	for _, sess := range s.r.Sessions(user) {
		if sess.Value(requestedKey{}) == nil {
			continue
		}
		payload := stanza.New(NS, verb)
		for _, j := range items {
			payload.Append(stanza.New(NS, "item").SetAttr("jid", j.String()))
		}
		iq := stanza.New("", "iq").SetAttr("type", "set").SetAttr("id", "push-"+rand.Text()).
			SetAttr("to", sess.JID.String()).Append(payload)
		s.r.DeliverTo(sess, iq)
	}
}

// presenceOnBlock sends unavailable presence from each available resource
// of user to each newly blocked entity that may receive the user's
// presence (XEP-0191 §3.3): subscribed contacts, and entities a resource
// sent directed presence to (RFC 6121 §4.6).
func (s *service) presenceOnBlock(user jid.JID, added []jid.JID) {
	// A fresh context: this runs after the IQ's reply, and the bypass
	// must apply to these stanzas only.
	ctx := context.WithValue(context.Background(), bypassKey{}, true)
	blocked := &list{set: map[string]struct{}{}}
	for _, e := range added {
		blocked.set[e.String()] = struct{}{}
	}
	subscribed := s.subscribed(ctx, user, added)
	s.sendPresence(ctx, user, func(sess *router.Session) []jid.JID {
		to := slices.Clone(subscribed)
		for _, d := range s.h.DirectedPresence(sess) {
			if blocked.blocks(d) && !slices.Contains(to, d) {
				to = append(to, d)
			}
		}
		return to
	}, true)
}

// presenceOnUnblock sends the user's presence from each available resource
// to each unblocked entity that may receive it (XEP-0191 §3.4). An entity
// still blocked by another item (its domain, say) gets nothing: the
// routing hooks drop it.
func (s *service) presenceOnUnblock(user jid.JID, removed []jid.JID) {
	ctx := context.Background()
	subscribed := s.subscribed(ctx, user, removed)
	s.sendPresence(ctx, user, func(*router.Session) []jid.JID { return subscribed }, false)
}

// subscribed returns the entities that are subscribed to user's presence.
func (s *service) subscribed(ctx context.Context, user jid.JID, entities []jid.JID) []jid.JID {
	var out []jid.JID
	for _, e := range entities {
		if e.IsZero() || e.Bare() == user {
			continue
		}
		from, _, err := s.h.Subscription(ctx, user, e.Bare())
		if err != nil {
			s.log.Error("subscription lookup failed", "user", user.String(), "err", err)
			continue
		}
		if from {
			out = append(out, e)
		}
	}
	return out
}

// sendPresence sends presence from each available resource of user to the
// entities targets returns for it: unavailable, or the resource's last
// broadcast presence (show, status, priority and all).
func (s *service) sendPresence(ctx context.Context, user jid.JID, targets func(*router.Session) []jid.JID, unavailable bool) {
	for _, sess := range s.r.Sessions(user) {
		if !sess.Available() {
			continue
		}
		last := s.h.LastPresence(sess)
		for _, e := range targets(sess) {
			var p *stanza.Element
			switch {
			case unavailable:
				p = stanza.New("", "presence").SetAttr("type", "unavailable")
			case last != nil:
				p = last.Copy()
			default:
				p = stanza.New("", "presence")
			}
			p.SetAttr("from", sess.JID.String()).SetAttr("to", e.String())
			s.r.Send(ctx, p, sess.JID, e)
		}
	}
}
