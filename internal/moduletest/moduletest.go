// Package moduletest is the shared harness for the unit tests of the feature
// modules under modules/: a host over a real router and a memory store, fake
// accounts and a fake roster, sessions bound to streams that record what the
// router delivers, and a parser for the XML a test writes.
//
// It drives the router directly, with no connection and no c2s stream; tests
// that need a whole server use internal/testserver instead.
package moduletest

import (
	"context"
	"log/slog"
	"sync"
	"testing"

	"github.com/starling-xmpp/starling/config"
	"github.com/starling-xmpp/starling/jid"
	"github.com/starling-xmpp/starling/module"
	"github.com/starling-xmpp/starling/router"
	"github.com/starling-xmpp/starling/stanza"
	"github.com/starling-xmpp/starling/storage/memory"
	"github.com/starling-xmpp/starling/xmlstream"
)

var (
	_ router.Stream   = (*Stream)(nil)
	_ router.Accounts = Accounts(nil)
	_ module.Contacts = Contacts{}
)

// Stream is a router.Stream that records what the router delivers to a
// session. It accepts every stanza and ignores Replaced and Close. It is safe
// for concurrent use; the zero value is ready to use.
type Stream struct {
	mu  sync.Mutex
	got []*stanza.Element
}

// Send records el and reports that it was queued.
func (s *Stream) Send(el *stanza.Element) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, el)
	return true
}

// Replaced does nothing.
func (s *Stream) Replaced(*router.Session) {}

// Close does nothing.
func (s *Stream) Close(*stanza.StreamError) {}

// Take returns the stanzas delivered since the last Take, in order, and
// forgets them.
func (s *Stream) Take() []*stanza.Element {
	s.mu.Lock()
	defer s.mu.Unlock()
	got := s.got
	s.got = nil
	return got
}

// Accounts is a fake set of accounts for the router: the bare JIDs that map
// to true exist.
type Accounts map[string]bool

// AccountExists reports whether user@host is in a.
func (a Accounts) AccountExists(_ context.Context, host, user string) (bool, error) {
	return a[user+"@"+host], nil
}

// Contacts is a fake roster for module.Host.SetContacts. Subs[user][contact]
// holds the subscription between two bare JIDs, {from, to}; pairs not
// listed have none. Every answer carries Err.
type Contacts struct {
	Subs map[string]map[string][2]bool
	Err  error
}

// Subscription reports what Subs holds for user and contact, and Err.
func (c Contacts) Subscription(_ context.Context, user, contact jid.JID) (from, to bool, err error) {
	s := c.Subs[user.String()][contact.String()]
	return s[0], s[1], c.Err
}

// NewHost returns a host for cfg over a new router that serves cfg.Hosts and
// asks accounts which accounts exist. The host has a new memory store, no
// account manager, and a logger that discards everything; a test that needs
// another store or an account manager sets h.Store or h.Accounts before it
// registers any module. No module is registered.
func NewHost(cfg *config.Config, accounts router.Accounts) *module.Host {
	r := router.New(router.Config{Hosts: cfg.Hosts, Accounts: accounts})
	return module.NewHost(cfg, r, memory.New(), nil, slog.New(slog.DiscardHandler))
}

// Bind binds full JID full to a new Stream on r, marks the session available
// (priority 0) or not, and returns the session and its stream. It stops the
// test if the JID is malformed or cannot be bound.
func Bind(t testing.TB, r *router.Router, full string, available bool) (*router.Session, *Stream) {
	t.Helper()
	j, err := jid.Parse(full)
	if err != nil {
		t.Fatalf("bind %s: %v", full, err)
	}
	st := &Stream{}
	s := router.NewSession(j, st)
	if _, err := r.Bind(s, false); err != nil {
		t.Fatalf("bind %s: %v", full, err)
	}
	r.SetPresence(s, available, 0)
	return s, st
}

// Send routes the stanza written in xml as the client bound to full JID
// from sends it: 'from' stamped, 'to' parsed.
func Send(t testing.TB, r *router.Router, from, xml string) {
	t.Helper()
	el := Parse(t, xml)
	el.SetAttr("from", from)
	var to jid.JID
	if s := el.Attr("to"); s != "" {
		j, err := jid.Parse(s)
		if err != nil {
			t.Fatalf("send %s: %v", xml, err)
		}
		to = j
	}
	r.Route(context.Background(), el, jid.MustParse(from), to)
}

// Ask sends xml from full JID from (see Send) and returns the one stanza
// st, the sender's stream, got in reply; any other count stops the test.
func Ask(t testing.TB, r *router.Router, from string, st *Stream, xml string) *stanza.Element {
	t.Helper()
	Send(t, r, from, xml)
	got := st.Take()
	if len(got) != 1 {
		t.Fatalf("%s: got %d replies %v, want 1", xml, len(got), got)
	}
	return got[0]
}

// Parse parses one element written in XML, as a jabber:client stream would
// (under the decoder's default limits), and stops the test if it cannot.
func Parse(t testing.TB, xml string) *stanza.Element {
	t.Helper()
	el, err := xmlstream.Parse([]byte(xml), stanza.NSClient, xmlstream.Limits{})
	if err != nil {
		t.Fatalf("parse %s: %v", xml, err)
	}
	return el
}
