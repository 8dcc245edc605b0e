// Package lastactivity implements XEP-0012 (Last Activity) version 2.0 for
// the server and its accounts:
//
//   - to the server (§5): the seconds since it started;
//   - to an account's bare JID (§3), answered by the server on the user's
//     behalf: 0 while the user has a session, else the seconds since the
//     last session ended, with the status text of the unavailable presence
//     that ended it, if there was one. Only the user and the entities the
//     user has granted a presence subscription ("from" or "both") may ask;
//     anyone else gets forbidden, as §3 requires. A user who has never
//     logged out (since the server started recording) has no last
//     activity; XEP-0012 defines no answer for that, so the server says
//     service-unavailable: it does not provide that information (RFC 6120
//     §8.3.3.19).
//
// Queries to a full JID (§4) go to the client only from the user's own
// resources and from entities subscribed to the user's presence; anyone
// else gets forbidden from the server, so that idle time is not revealed
// to strangers.
//
// The time and status of the last logout are kept per account in the
// "lastactivity" key-value store.
package lastactivity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/starling-xmpp/starling/jid"
	"github.com/starling-xmpp/starling/module"
	"github.com/starling-xmpp/starling/router"
	"github.com/starling-xmpp/starling/stanza"
	"github.com/starling-xmpp/starling/storage"
)

// NS is XEP-0012's namespace.
const NS = "jabber:iq:last"

const (
	// storeName is the KV store of last logouts; key holds the record.
	storeName = "lastactivity"
	key       = "last"
	// observePriority places the status observer before every hook that
	// may consume a broadcast presence (the presence module handles
	// them itself) or filter one (blocking): a hook that returns true
	// stops the ones after it, so an observer that must see every
	// unavailable presence runs first. It never consumes anything.
	observePriority = 10000
	// guardPriority places the full-JID guard after blocking (a blocked
	// entity learns nothing) and before delivery.
	guardPriority = 500
)

// Module is the last activity module.
type Module struct {
	// Now is the clock, time.Now when nil.
	Now func() time.Time
}

var _ module.Module = Module{}

// Name implements module.Module.
func (Module) Name() string { return "lastactivity" }

// Register implements module.Module.
func (m Module) Register(h *module.Host) error {
	la := &service{h: h, now: m.Now, log: h.Logger}
	if la.now == nil {
		la.now = time.Now
	}
	if la.log == nil {
		la.log = slog.New(slog.DiscardHandler)
	}
	name := stanza.Name{Space: NS, Local: "query"}
	h.HandleIQ(router.ToHost, "get", name, la.uptime)
	// Also answers the user's own account (router.ToSelf falls back).
	h.HandleIQ(router.ToAccount, "get", name, la.account)
	h.Router.Hook(router.Outbound, observePriority, la.observe)
	h.Router.Hook(router.Inbound, guardPriority, la.guardFullJID)
	h.Router.OnSessionEnd(la.sessionEnded)
	return nil
}

// record is what is stored at logout.
type record struct {
	// Time is when the last session ended, in Unix seconds.
	Time int64 `json:"time"`
	// Status is the <status/> of the unavailable presence sent then.
	Status string `json:"status,omitempty"`
}

// statusKey keys the session value holding the status text of the
// unavailable presence the session sent.
type statusKey struct{}

type service struct {
	h   *module.Host
	now func() time.Time
	log *slog.Logger
}

// uptime answers for the server: seconds since it started (XEP-0012 §5).
func (s *service) uptime(context.Context, *stanza.Element, jid.JID, jid.JID) (*stanza.Element, error) {
	return result(s.now().Sub(s.h.Started), ""), nil
}

// account answers for a user's bare JID (XEP-0012 §3).
func (s *service) account(ctx context.Context, _ *stanza.Element, from, to jid.JID) (*stanza.Element, error) {
	user := to.Bare()
	if from.Bare() != user {
		subscribed, _, err := s.h.Subscription(ctx, user, from.Bare())
		if err != nil {
			return nil, fmt.Errorf("lastactivity: subscription of %s: %w", user, err)
		}
		if !subscribed {
			return nil, stanza.NewError(stanza.Forbidden, "")
		}
	}
	if len(s.h.Router.Sessions(user)) > 0 {
		// Connected: an empty query with seconds='0' (§3).
		return result(0, ""), nil
	}
	v, err := s.h.Store.Get(ctx, user.Domain(), user.Local(), storeName, key)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, stanza.NewError(stanza.ServiceUnavailable, "no last activity is recorded for this account")
	}
	if err != nil {
		return nil, fmt.Errorf("lastactivity: load %s: %w", user, err)
	}
	var rec record
	if err := json.Unmarshal(v, &rec); err != nil {
		return nil, fmt.Errorf("lastactivity: decode %s: %w", user, err)
	}
	return result(s.now().Sub(time.Unix(rec.Time, 0)), rec.Status), nil
}

// guardFullJID refuses a last-activity query to a user's full JID from an
// entity without a presence subscription (XEP-0012 §4).
func (s *service) guardFullJID(ctx context.Context, p *router.Packet) bool {
	if p.Generated || !p.To.IsFull() || p.El.Name.Local != "iq" || p.El.Attr("type") != "get" ||
		p.El.Child(NS, "query") == nil || p.From.Bare() == p.To.Bare() {
		return false
	}
	subscribed, _, err := s.h.Subscription(ctx, p.To.Bare(), p.From.Bare())
	if err != nil {
		s.log.Error("subscription lookup failed", "jid", p.To.Bare().String(), "err", err)
		s.h.Router.Bounce(p, stanza.NewError(stanza.InternalServerError, ""))
		return true
	}
	if subscribed {
		return false
	}
	s.h.Router.Bounce(p, stanza.NewError(stanza.Forbidden, ""))
	return true
}

// result is <query seconds='…'>status</query>; negative durations (a
// clock set back) count as 0.
func result(d time.Duration, status string) *stanza.Element {
	secs := max(int64(d/time.Second), 0)
	return stanza.New(NS, "query").SetAttr("seconds", strconv.FormatInt(secs, 10)).AppendText(status)
}

// observe remembers, on the sending session, the status text of the
// unavailable presence a client broadcasts, and forgets it when the
// client becomes available again. It never consumes the stanza.
func (s *service) observe(_ context.Context, p *router.Packet) bool {
	if p.Generated || p.El.Name != (stanza.Name{Local: "presence"}) || !p.To.IsZero() {
		return false
	}
	sess := s.h.Router.Session(p.From)
	if sess == nil {
		return false
	}
	switch p.El.Attr("type") {
	case "unavailable":
		if st := status(p.El); st != "" {
			sess.SetValue(statusKey{}, st)
		} else {
			sess.SetValue(statusKey{}, nil)
		}
	case "":
		sess.SetValue(statusKey{}, nil)
	}
	return false
}

// status picks the presence's <status/> (RFC 6121 §4.7.2.2): the one in
// the stanza's language (or with none), else the first.
func status(p *stanza.Element) string {
	lang := p.Lang()
	first, found := "", false
	for c := range p.Elements() {
		if c.Name != (stanza.Name{Local: "status"}) {
			continue
		}
		if l := c.Lang(); l == "" || l == lang {
			return c.Text()
		}
		if !found {
			first, found = c.Text(), true
		}
	}
	return first
}

// sessionEnded records the logout when the account's last session ends.
func (s *service) sessionEnded(ctx context.Context, sess *router.Session) {
	user := sess.JID.Bare()
	if len(s.h.Router.Sessions(user)) > 0 || !s.h.Router.Exists(ctx, user) {
		// Still online elsewhere, or the account was deleted.
		return
	}
	st, _ := sess.Value(statusKey{}).(string)
	v, err := json.Marshal(record{Time: s.now().Unix(), Status: st})
	if err == nil {
		err = s.h.Store.Put(ctx, user.Domain(), user.Local(), storeName, key, v)
	}
	if err != nil {
		s.log.Error("last activity not recorded", "jid", user.String(), "err", err)
	}
}
