// Package offline keeps messages for accounts that have no available
// resource and delivers them at the next login: XEP-0160 (Best Practices for
// Handling Offline Messages, version 1.0.1), with XEP-0203 delay stamps.
//
// A message of type normal or chat for an existing account that nobody can
// take (RFC 6121 §8.5.2.1.1) is stored, up to offline.max_messages per
// account, past which the sender gets <resource-constraint/>. When a session
// of the account sends initial presence with a non-negative priority, the
// stored messages are delivered to it in order and removed. Storage is the
// database, so a restart loses nothing.
package offline

import (
	"context"
	"time"

	"github.com/starling-xmpp/starling/module"
	"github.com/starling-xmpp/starling/router"
	"github.com/starling-xmpp/starling/stanza"
	"github.com/starling-xmpp/starling/storage"
	"github.com/starling-xmpp/starling/xmlstream"
)

// Namespaces.
const (
	// NSMsgOffline is the disco feature XEP-0160 §5 names.
	NSMsgOffline = "msgoffline"
	NSDelay      = "urn:xmpp:delay"
	nsChatStates = "http://jabber.org/protocol/chatstates"
	nsHints      = "urn:xmpp:hints"
)

// store is the queue offline messages wait in.
const store = "offline"

// Module is the offline-message module.
type Module struct{}

var _ module.Module = Module{}

// Name implements module.Module.
func (Module) Name() string { return "offline" }

type offline struct {
	h     *module.Host
	max   int
	locks module.AccountLocks
	now   func() time.Time
}

// Register implements module.Module.
func (Module) Register(h *module.Host) error {
	o := &offline{h: h, max: h.Config.Offline.MaxMessages, now: time.Now}
	h.AddFeature(router.ToHost, NSMsgOffline)
	h.Router.Hook(router.Offline, 0, o.store)
	h.InitialPresence.On(o.deliver)
	return nil
}

// worthKeeping reports whether a message carries something a user would
// miss: not a bare chat-state notification (XEP-0085 §5.6), and not marked
// no-store (XEP-0334). A store hint keeps anything.
func worthKeeping(m *stanza.Element) bool {
	if m.Child(nsHints, "no-store") != nil || m.Child(nsHints, "no-permanent-store") != nil {
		return false
	}
	if m.Child(nsHints, "store") != nil {
		return true
	}
	for c := range m.Elements() {
		if c.Name.Space != nsChatStates && c.Name.Space != nsHints {
			return true
		}
	}
	return false
}

// store keeps a message for a user with no available resource.
func (o *offline) store(ctx context.Context, p *router.Packet) bool {
	if p.El.Name.Local != "message" {
		return false
	}
	if !worthKeeping(p.El) {
		return true // nothing worth keeping: dropped quietly
	}
	user := p.To.Bare()
	m := p.El.Copy()
	// XEP-0203: when it reached the server.
	m.Append(stanza.New(NSDelay, "delay").
		SetAttr("from", user.Domain()).
		SetAttr("stamp", o.now().UTC().Format("2006-01-02T15:04:05.000Z")).
		AppendText("Offline Storage"))
	err := o.h.Store.Push(ctx, user.Domain(), user.Local(), store, m.AppendXML(nil, stanza.NSClient), o.max)
	switch {
	case err == storage.ErrQuota:
		o.h.Router.Bounce(p, stanza.NewError(stanza.ResourceConstraint, "the recipient's offline storage is full"))
	case err != nil:
		o.h.Logger.Error("storing an offline message failed", "user", user.String(), "err", err)
		o.h.Router.Bounce(p, stanza.NewError(stanza.InternalServerError, ""))
	}
	return true
}

// deliver hands the stored messages to a session that sent initial presence
// with a non-negative priority (XEP-0160 §4), oldest first, removing each
// one the session's stream took.
func (o *offline) deliver(ctx context.Context, s *router.Session) {
	if s.Priority() < 0 {
		return
	}
	user := s.JID.Bare()
	unlock := o.locks.Lock(user)
	defer unlock()
	items, err := o.h.Store.Items(ctx, user.Domain(), user.Local(), store)
	if err != nil {
		o.h.Logger.Error("reading offline messages failed", "user", user.String(), "err", err)
		return
	}
	var done []int64
	for _, it := range items {
		m, err := xmlstream.ParseStored(it.Value)
		if err != nil {
			o.h.Logger.Error("a stored offline message is corrupt; dropping it", "user", user.String(), "err", err)
			done = append(done, it.ID)
			continue
		}
		if !o.h.Router.DeliverTo(s, m) {
			break // the stream is going away: the rest stays stored
		}
		done = append(done, it.ID)
	}
	if err := o.h.Store.Remove(ctx, user.Domain(), user.Local(), store, done...); err != nil {
		o.h.Logger.Error("removing delivered offline messages failed", "user", user.String(), "err", err)
	}
}
