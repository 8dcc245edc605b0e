package client_test

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/starling-xmpp/starling/client"
	"github.com/starling-xmpp/starling/internal/testserver"
	"github.com/starling-xmpp/starling/jid"
	"github.com/starling-xmpp/starling/stanza"
	"github.com/starling-xmpp/starling/xmlstream"
)

// The IM helpers (im.go) against an in-process Starling, and, where the
// test needs a server that misbehaves or must be watched byte by byte, a
// scripted fake server.

const (
	imPassword = "pw"
	imWait     = 5 * time.Second // bound of every wait for a stanza
)

func imCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// imServer starts Starling (with extra configuration yaml) with the
// accounts alice, bob and carol@localhost.
func imServer(t *testing.T, yaml string) *testserver.Server {
	srv := testserver.Start(t, yaml)
	for _, u := range []string{"alice", "bob", "carol"} {
		srv.AddUser(t, u+"@localhost", imPassword)
	}
	return srv
}

// rosterPush is one push an imUser's OnRosterPush handler received.
type rosterPush struct {
	ver  string
	item client.RosterItem
}

// imUser is a session whose roster pushes go to pushes.
type imUser struct {
	*client.Session
	pushes chan rosterPush
}

// imLogin logs in as addr with a roster push handler registered.
func imLogin(t *testing.T, srv *testserver.Server, addr string) *imUser {
	t.Helper()
	u := &imUser{Session: srv.Login(t, addr, imPassword), pushes: make(chan rosterPush, 64)}
	u.OnRosterPush(func(_ context.Context, ver string, it client.RosterItem) {
		select {
		case u.pushes <- rosterPush{ver, it}:
		default: // a test that ignores pushes must not block the session
		}
	})
	return u
}

// imOnline logs in as addr and goes online: roster, then initial
// presence.
func imOnline(t *testing.T, srv *testserver.Server, addr string) *imUser {
	t.Helper()
	u := imLogin(t, srv, addr)
	if _, err := u.Online(imCtx(t), client.Presence{}); err != nil {
		t.Fatalf("%s: online: %v", addr, err)
	}
	return u
}

// imAwait returns the first stanza s receives within imWait that match
// accepts, skipping others.
func imAwait(t *testing.T, s *client.Session, what string, match func(*stanza.Element) bool) *stanza.Element {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), imWait)
	defer cancel()
	for {
		el, err := s.Recv(ctx)
		if err != nil {
			t.Fatalf("%s: waiting for %s: %v", s.JID(), what, err)
		}
		if match(el) {
			return el
		}
	}
}

// presenceFrom matches presence of type typ from the JID from.
func presenceFrom(from jid.JID, typ string) func(*stanza.Element) bool {
	return func(el *stanza.Element) bool {
		if el.Name.Local != "presence" {
			return false
		}
		p := client.ParsePresence(el)
		return p.From == from && p.Type == typ
	}
}

// awaitPush returns the next roster push u receives.
func awaitPush(t *testing.T, u *imUser) rosterPush {
	t.Helper()
	select {
	case p := <-u.pushes:
		return p
	case <-time.After(imWait):
		t.Fatalf("%s: no roster push within %v", u.JID(), imWait)
		return rosterPush{}
	}
}

// waitItem polls s's roster until its item for contact satisfies want
// (ok is false when there is none), failing after imWait.
func waitItem(t *testing.T, s *client.Session, contact jid.JID, what string, want func(it client.RosterItem, ok bool) bool) client.RosterItem {
	t.Helper()
	deadline := time.Now().Add(imWait)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), imWait)
		r, err := s.Roster(ctx)
		cancel()
		if err != nil {
			t.Fatalf("%s: roster: %v", s.JID(), err)
		}
		it, ok := r.Item(contact)
		if want(it, ok) {
			return it
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: roster item %s is %+v (present %v), want %s", s.JID(), contact, it, ok, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// subscriptionIs makes a waitItem condition: the item exists with this
// subscription and ask state.
func subscriptionIs(sub string, ask bool) func(client.RosterItem, bool) bool {
	return func(it client.RosterItem, ok bool) bool { return ok && it.Subscription == sub && it.Ask == ask }
}

// befriend makes a and b subscribed to each other ('both'), through the
// helpers of seed 12-1 and 12-2.
func befriend(t *testing.T, a, b *imUser) {
	t.Helper()
	for _, pair := range [][2]*imUser{{a, b}, {b, a}} {
		from, to := pair[0], pair[1]
		if err := from.Subscribe(to.JID()); err != nil {
			t.Fatal(err)
		}
		imAwait(t, to.Session, "subscribe", presenceFrom(from.JID().Bare(), "subscribe"))
		if err := to.Approve(from.JID()); err != nil {
			t.Fatal(err)
		}
		imAwait(t, from.Session, "subscribed", presenceFrom(to.JID().Bare(), "subscribed"))
	}
	waitItem(t, a.Session, b.JID(), "both", subscriptionIs("both", false))
	waitItem(t, b.Session, a.JID(), "both", subscriptionIs("both", false))
}

// TestSeed11_1_Roster: the roster is read, extended, updated and
// shrunk with jabber:iq:roster IQs, and its version moves with it.
func TestSeed11_1_Roster(t *testing.T) {
	srv := imServer(t, "")
	alice := imLogin(t, srv, "alice@localhost/one")
	ctx := imCtx(t)
	if !alice.RosterVersioning() {
		t.Fatal("Starling does not advertise roster versioning")
	}
	r, err := alice.Roster(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Items) != 0 || r.Ver == "" || r.Incremental {
		t.Fatalf("new account's roster %+v, want empty with a version", r)
	}
	bob := jid.MustParse("bob@localhost")
	if err := alice.SetRosterItem(ctx, client.RosterItem{JID: jid.MustParse("bob@localhost/ignored"), Name: "Bob", Groups: []string{"Friends", "Work"},
		Subscription: "both", Ask: true, Approved: true}); err != nil {
		t.Fatal(err)
	}
	r2, err := alice.Roster(ctx)
	if err != nil {
		t.Fatal(err)
	}
	it, ok := r2.Item(bob)
	slices.Sort(it.Groups)
	// Subscription, Ask and Approved are the server's: a client cannot
	// set them (RFC 6121 §2.1.2).
	if !ok || len(r2.Items) != 1 || it.Name != "Bob" || !slices.Equal(it.Groups, []string{"Friends", "Work"}) ||
		it.Subscription != "none" || it.Ask || it.Approved {
		t.Fatalf("roster after adding bob: %+v", r2)
	}
	if r2.Ver == r.Ver {
		t.Errorf("version %q did not change", r2.Ver)
	}
	if err := alice.SetRosterItem(ctx, client.RosterItem{JID: bob, Name: "Robert"}); err != nil {
		t.Fatal(err)
	}
	if it := waitItem(t, alice.Session, bob, "renamed", func(it client.RosterItem, ok bool) bool { return ok }); it.Name != "Robert" || len(it.Groups) != 0 {
		t.Errorf("updated item %+v, want Robert without groups", it)
	}
	if err := alice.RemoveRosterItem(ctx, bob); err != nil {
		t.Fatal(err)
	}
	waitItem(t, alice.Session, bob, "removed", func(_ client.RosterItem, ok bool) bool { return !ok })
	// Removing it again: item-not-found, as a *stanza.Error.
	err = alice.RemoveRosterItem(ctx, bob)
	var se *stanza.Error
	if !errors.As(err, &se) || se.Condition != stanza.ItemNotFound {
		t.Errorf("removing an absent item: %v, want item-not-found", err)
	}
	// Refused before anything is sent.
	for _, bad := range []client.RosterItem{
		{},
		{JID: bob, Groups: []string{" "}},
		{JID: bob, Groups: []string{"a", "a"}},
	} {
		if err := alice.SetRosterItem(ctx, bad); err == nil {
			t.Errorf("SetRosterItem(%+v) succeeded", bad)
		}
	}
	if err := alice.RemoveRosterItem(ctx, jid.JID{}); err == nil {
		t.Error("RemoveRosterItem of no JID succeeded")
	}
	// The server's own refusals come back as stanza errors.
	err = alice.SetRosterItem(ctx, client.RosterItem{JID: alice.JID()})
	if !errors.As(err, &se) || se.Condition != stanza.NotAllowed {
		t.Errorf("adding oneself: %v, want not-allowed", err)
	}
}

// TestSeed11_1_RosterPush: a change made by one resource reaches the
// other as a roster push, which the handler acknowledges; pushes forged
// by another account or by another resource of the same account are
// refused with service-unavailable and never reach the handler; a
// versioned request gets the missing changes as pushes.
func TestSeed11_1_RosterPush(t *testing.T) {
	srv := imServer(t, "")
	one := imLogin(t, srv, "alice@localhost/one")
	two := imLogin(t, srv, "alice@localhost/two")
	bobS := imLogin(t, srv, "bob@localhost/b")
	ctx := imCtx(t)
	r0, err := one.Roster(ctx) // only resources that asked get pushes
	if err != nil {
		t.Fatal(err)
	}
	bob, carol := jid.MustParse("bob@localhost"), jid.MustParse("carol@localhost")

	if err := two.SetRosterItem(ctx, client.RosterItem{JID: bob, Name: "Bob", Groups: []string{"G"}}); err != nil {
		t.Fatal(err)
	}
	p1 := awaitPush(t, one)
	if p1.item.JID != bob || p1.item.Name != "Bob" || !slices.Equal(p1.item.Groups, []string{"G"}) || p1.item.Subscription != "none" || p1.ver == "" || p1.ver == r0.Ver {
		t.Fatalf("push %+v, want bob with version after %q", p1, r0.Ver)
	}

	// Forged pushes: from another account, and from another resource of
	// the same account (RFC 6121 §2.1.6 accepts only the bare JID).
	forged := func(to jid.JID) *stanza.Element {
		return stanza.New("", "iq").SetAttr("type", "set").SetAttr("to", to.String()).
			Append(stanza.New(client.NSRoster, "query").Append(
				stanza.New(client.NSRoster, "item").SetAttr("jid", "mallory@evil.test").SetAttr("subscription", "both")))
	}
	for _, from := range []*imUser{bobS, two} {
		_, err := from.IQ(ctx, forged(one.JID()))
		if !errors.Is(err, stanza.NewError(stanza.ServiceUnavailable, "")) {
			t.Errorf("push forged by %s: %v, want service-unavailable", from.JID(), err)
		}
	}
	if err := two.SetRosterItem(ctx, client.RosterItem{JID: carol}); err != nil {
		t.Fatal(err)
	}
	if p := awaitPush(t, one); p.item.JID != carol {
		t.Fatalf("after the forgeries the handler got %+v, want the push of carol", p)
	}
	if err := two.RemoveRosterItem(ctx, carol); err != nil {
		t.Fatal(err)
	}
	p3 := awaitPush(t, one)
	if p3.item.JID != carol || p3.item.Subscription != "remove" {
		t.Fatalf("push %+v, want carol removed", p3)
	}

	// Versioning (RFC 6121 §2.6.3): up to date gives an empty result;
	// an older version gives an empty result and the changes as pushes;
	// an unknown one the whole roster.
	r, err := one.RosterSince(ctx, p3.ver)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Incremental || r.Ver != p3.ver || len(r.Items) != 0 {
		t.Errorf("RosterSince(current) = %+v, want incremental at %s", r, p3.ver)
	}
	if r, err = one.RosterSince(ctx, p1.ver); err != nil || !r.Incremental {
		t.Fatalf("RosterSince(%s) = %+v, %v, want incremental", p1.ver, r, err)
	}
	// Since p1: carol added and removed; pushed as her removal.
	if p := awaitPush(t, one); p.item.JID != carol || p.item.Subscription != "remove" || p.ver != p3.ver {
		t.Errorf("catch-up push %+v, want carol's removal at %s", p, p3.ver)
	}
	if r, err = one.RosterSince(ctx, "not-a-version"); err != nil || r.Incremental || len(r.Items) != 1 || r.Items[0].JID != bob {
		t.Errorf("RosterSince(unknown) = %+v, %v, want the whole roster", r, err)
	}
}

// fakeIM starts a scripted server for one plaintext connection (PLAIN,
// then binding alice@fake.test/r; rosterVer advertises roster
// versioning), logs the client in, and then for each element the client
// sends reports it on the returned channel and writes answer's reply.
func fakeIM(t *testing.T, rosterVer bool, answer func(el *stanza.Element) string) (*client.Session, <-chan *stanza.Element) {
	t.Helper()
	features := "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>"
	if rosterVer {
		features += "<ver xmlns='urn:xmpp:features:rosterver'/>"
	}
	s, p, _ := fakeLoginWith(t, "", features+"</stream:features>")
	got := make(chan *stanza.Element, 64)
	done := make(chan struct{})
	t.Cleanup(func() {
		s.CloseTimeout(time.Second)
		p.c.Close()
		select {
		case <-done:
		case <-time.After(imWait):
			t.Error("the fake server did not stop")
		}
	})
	go func() {
		defer close(done)
		defer close(got)
		p.c.SetDeadline(time.Now().Add(10 * time.Second))
		for {
			el, err := p.dec.Next()
			if err != nil {
				if errors.Is(err, xmlstream.ErrStreamEnd) {
					io.WriteString(p.c, "</stream:stream>")
				}
				return
			}
			got <- el
			if r := answer(el); r != "" {
				io.WriteString(p.c, r)
			}
		}
	}()
	return s, got
}

// fakeNext returns the next element the fake server got.
func fakeNext(t *testing.T, got <-chan *stanza.Element) *stanza.Element {
	t.Helper()
	select {
	case el, ok := <-got:
		if !ok {
			t.Fatal("the fake server's connection ended")
		}
		return el
	case <-time.After(imWait):
		t.Fatal("the client sent nothing")
		return nil
	}
}

// rosterGetAnswer answers roster gets: an empty result when the request
// carries ver='old', else the roster of the fake server (one item whose
// JID is broken, which the client leaves out).
func rosterGetAnswer(el *stanza.Element) string {
	q := el.Child(client.NSRoster, "query")
	if el.Name.Local != "iq" || el.Attr("type") != "get" || q == nil {
		return ""
	}
	if q.Attr("ver") == "old" {
		return "<iq type='result' id='" + el.Attr("id") + "'/>"
	}
	return "<iq type='result' id='" + el.Attr("id") + "'><query xmlns='jabber:iq:roster' ver='v7'>" +
		"<item jid='bob@fake.test' name='Bob' ask='subscribe' approved='true'><group>A</group><group>B</group></item>" +
		"<item jid='carol@fake.test' subscription='both'/>" +
		"<item jid='@broken'/>" +
		"</query></iq>"
}

// TestRosterRequests: with roster versioning advertised, Roster asks with an
// empty 'ver' and RosterSince with the version given, and an empty result is
// Incremental; without it, no 'ver' is ever sent (RFC 6121 §2.6.1). Items
// are read with their defaults (subscription 'none').
func TestRosterRequests(t *testing.T) {
	for _, versioned := range []bool{true, false} {
		t.Run(map[bool]string{true: "versioned", false: "unversioned"}[versioned], func(t *testing.T) {
			s, got := fakeIM(t, versioned, rosterGetAnswer)
			ctx := imCtx(t)
			if s.RosterVersioning() != versioned {
				t.Fatalf("RosterVersioning() = %v", s.RosterVersioning())
			}
			r, err := s.Roster(ctx)
			if err != nil {
				t.Fatal(err)
			}
			q := fakeNext(t, got).Child(client.NSRoster, "query")
			if q.HasAttr("ver") != versioned || q.Attr("ver") != "" {
				t.Errorf("Roster sent %v", q)
			}
			want := []client.RosterItem{
				{JID: jid.MustParse("bob@fake.test"), Name: "Bob", Subscription: "none", Ask: true, Approved: true, Groups: []string{"A", "B"}},
				{JID: jid.MustParse("carol@fake.test"), Subscription: "both"},
			}
			if r.Ver != "v7" || r.Incremental || !slices.EqualFunc(r.Items, want, func(a, b client.RosterItem) bool {
				return a.JID == b.JID && a.Name == b.Name && a.Subscription == b.Subscription && a.Ask == b.Ask &&
					a.Approved == b.Approved && slices.Equal(a.Groups, b.Groups)
			}) {
				t.Errorf("roster %+v, want %+v", r, want)
			}
			r, err = s.RosterSince(ctx, "old")
			q = fakeNext(t, got).Child(client.NSRoster, "query")
			if versioned {
				if err != nil || !r.Incremental || r.Ver != "old" || q.Attr("ver") != "old" {
					t.Errorf("RosterSince sent %v, got %+v, %v", q, r, err)
				}
			} else if err != nil || r.Incremental || len(r.Items) != 2 || q.HasAttr("ver") {
				t.Errorf("RosterSince without versioning sent %v, got %+v, %v", q, r, err)
			}
		})
	}
}

// TestSeed11_1_RosterPushSender: pushes without 'from' or from the
// account's bare JID (in any case) are acknowledged and handled; pushes
// from the server's domain, another account or another resource are
// answered service-unavailable and not handled; a push with two items is
// a bad request (RFC 6121 §2.1.6).
func TestSeed11_1_RosterPushSender(t *testing.T) {
	push := func(id, from, items string) string {
		if from != "" {
			from = " from='" + from + "'"
		}
		return "<iq type='set' id='" + id + "'" + from + " to='alice@fake.test/r'><query xmlns='jabber:iq:roster' ver='" + id + "'>" + items + "</query></iq>"
	}
	item := func(j string) string { return "<item jid='" + j + "' subscription='to'/>" }
	script := push("p1", "", item("a@x.test")) +
		push("p2", "alice@fake.test", item("b@x.test")) +
		push("p3", "ALICE@fake.test", item("c@x.test")) +
		push("p4", "fake.test", item("evil1@x.test")) +
		push("p5", "mallory@evil.test", item("evil2@x.test")) +
		push("p6", "alice@fake.test/other", item("evil3@x.test")) +
		push("p7", "", item("d@x.test")+item("e@x.test")) +
		push("p8", "", "<item jid='@@'/>")
	s, got := fakeIM(t, true, func(el *stanza.Element) string {
		if el.Name.Local == "message" && el.ChildText("", "body") == "go" {
			return script
		}
		return ""
	})
	var mu sync.Mutex
	var handled []string
	s.OnRosterPush(func(_ context.Context, ver string, it client.RosterItem) {
		mu.Lock()
		handled = append(handled, ver+" "+it.JID.String()+" "+it.Subscription)
		mu.Unlock()
	})
	if err := s.SendMessage(client.Message{To: jid.MustParse("fake.test"), Body: "go"}); err != nil {
		t.Fatal(err)
	}
	fakeNext(t, got) // the trigger
	want := map[string]string{"p1": "result", "p2": "result", "p3": "result",
		"p4": "service-unavailable", "p5": "service-unavailable", "p6": "service-unavailable",
		"p7": "bad-request", "p8": "bad-request"}
	for range want {
		r := fakeNext(t, got)
		id := r.Attr("id")
		res := r.Attr("type")
		if e := stanza.ParseError(r); res == "error" && e != nil {
			res = string(e.Condition)
		}
		if r.Name.Local != "iq" || res != want[id] {
			t.Errorf("answer to %s: %v, want %s", id, r, want[id])
		}
		delete(want, id)
	}
	mu.Lock()
	defer mu.Unlock()
	if w := []string{"p1 a@x.test to", "p2 b@x.test to", "p3 c@x.test to"}; !slices.Equal(handled, w) {
		t.Errorf("handled %q, want %q", handled, w)
	}
}

// TestSeed11_2_OnlineFetchesRosterFirst: Online asks for the roster,
// waits for it, and only then sends initial presence (seed 11-2, 13-1);
// the roster it returns is the server's.
func TestSeed11_2_OnlineFetchesRosterFirst(t *testing.T) {
	s, got := fakeIM(t, true, rosterGetAnswer)
	r, err := s.Online(imCtx(t), client.Presence{Status: "hello", Priority: 3})
	if err != nil {
		t.Fatal(err)
	}
	if first := fakeNext(t, got); first.Name.Local != "iq" || first.Child(client.NSRoster, "query") == nil {
		t.Fatalf("first stanza %v, want the roster request", first)
	}
	p := fakeNext(t, got)
	if pp := client.ParsePresence(p); p.Name.Local != "presence" || p.HasAttr("to") || p.HasAttr("type") || pp.Status != "hello" || pp.Priority != 3 {
		t.Fatalf("second stanza %v, want initial presence", p)
	}
	if r.Ver != "v7" || len(r.Items) != 2 {
		t.Errorf("Online returned %+v", r)
	}
	for _, bad := range []client.Presence{{To: jid.MustParse("bob@fake.test")}, {Type: "unavailable"}, {Show: "bored"}} {
		if _, err := s.Online(imCtx(t), bad); err == nil {
			t.Errorf("Online(%+v) succeeded", bad)
		}
	}
}

// TestSeed11_2_OnlineStarling: a new resource going online gets the
// roster (with the subscription both ways) before its presence reaches
// the contact.
func TestSeed11_2_OnlineStarling(t *testing.T) {
	srv := imServer(t, "")
	alice := imOnline(t, srv, "alice@localhost/one")
	bob := imOnline(t, srv, "bob@localhost/b")
	befriend(t, alice, bob)
	second := imLogin(t, srv, "alice@localhost/two")
	r, err := second.Online(imCtx(t), client.Presence{Status: "second"})
	if err != nil {
		t.Fatal(err)
	}
	if it, ok := r.Item(bob.JID()); !ok || it.Subscription != "both" || r.Ver == "" {
		t.Fatalf("roster %+v, want bob with subscription both", r)
	}
	el := imAwait(t, bob.Session, "alice/two's presence", presenceFrom(second.JID(), ""))
	if p := client.ParsePresence(el); p.Status != "second" {
		t.Errorf("bob got %v", el)
	}
}

// TestSubscriptionStanzas: the five subscription helpers send presence of
// the right type to the bare JID, even when given a full one.
func TestSubscriptionStanzas(t *testing.T) {
	s, got := fakeIM(t, true, func(*stanza.Element) string { return "" })
	bob := jid.MustParse("bob@fake.test/laptop")
	for _, tc := range []struct {
		send func(jid.JID) error
		typ  string
	}{
		{s.Subscribe, "subscribe"},
		{s.Approve, "subscribed"},
		{s.Deny, "unsubscribed"},
		{s.Cancel, "unsubscribed"},
		{s.Unsubscribe, "unsubscribe"},
	} {
		if err := tc.send(bob); err != nil {
			t.Fatal(err)
		}
		el := fakeNext(t, got)
		if el.Name.Local != "presence" || el.Attr("type") != tc.typ || el.Attr("to") != "bob@fake.test" || len(el.Children) != 0 {
			t.Errorf("sent %v, want %s to bob@fake.test", el, tc.typ)
		}
		if err := tc.send(jid.JID{}); err == nil {
			t.Errorf("%s to nobody succeeded", tc.typ)
		}
	}
}

// TestSeed12_1_2_SubscribeApprove: alice asks (seed 12-1), bob approves
// (12-2), then the other way round; each step shows in both rosters, and
// the approval brings the contact's presence.
func TestSeed12_1_2_SubscribeApprove(t *testing.T) {
	srv := imServer(t, "")
	alice := imOnline(t, srv, "alice@localhost/a")
	bob := imOnline(t, srv, "bob@localhost/b")
	if err := alice.Subscribe(bob.JID()); err != nil {
		t.Fatal(err)
	}
	req := client.ParsePresence(imAwait(t, bob.Session, "subscribe", presenceFrom(alice.JID().Bare(), "subscribe")))
	if req.To != bob.JID().Bare() && req.To != bob.JID() {
		t.Errorf("request addressed to %s", req.To)
	}
	waitItem(t, alice.Session, bob.JID(), "none, asked", subscriptionIs("none", true))
	if err := bob.Approve(alice.JID()); err != nil {
		t.Fatal(err)
	}
	imAwait(t, alice.Session, "subscribed", presenceFrom(bob.JID().Bare(), "subscribed"))
	imAwait(t, alice.Session, "bob's presence", presenceFrom(bob.JID(), ""))
	waitItem(t, alice.Session, bob.JID(), "to", subscriptionIs("to", false))
	waitItem(t, bob.Session, alice.JID(), "from", subscriptionIs("from", false))

	if err := bob.Subscribe(alice.JID()); err != nil {
		t.Fatal(err)
	}
	imAwait(t, alice.Session, "subscribe", presenceFrom(bob.JID().Bare(), "subscribe"))
	waitItem(t, bob.Session, alice.JID(), "from, asked", subscriptionIs("from", true))
	if err := alice.Approve(bob.JID()); err != nil {
		t.Fatal(err)
	}
	imAwait(t, bob.Session, "subscribed", presenceFrom(alice.JID().Bare(), "subscribed"))
	imAwait(t, bob.Session, "alice's presence", presenceFrom(alice.JID(), ""))
	waitItem(t, alice.Session, bob.JID(), "both", subscriptionIs("both", false))
	waitItem(t, bob.Session, alice.JID(), "both", subscriptionIs("both", false))
}

// TestSeed12_2_PreApproval: Approve before any request pre-approves
// (RFC 6121 §3.4), which the roster shows as approved; the contact's
// later request is then answered by the server.
func TestSeed12_2_PreApproval(t *testing.T) {
	srv := imServer(t, "")
	alice := imOnline(t, srv, "alice@localhost/a")
	carol := imOnline(t, srv, "carol@localhost/c")
	if err := alice.Approve(carol.JID()); err != nil {
		t.Fatal(err)
	}
	waitItem(t, alice.Session, carol.JID(), "pre-approved", func(it client.RosterItem, ok bool) bool {
		return ok && it.Approved && it.Subscription == "none"
	})
	if err := carol.Subscribe(alice.JID()); err != nil {
		t.Fatal(err)
	}
	imAwait(t, carol.Session, "subscribed", presenceFrom(alice.JID().Bare(), "subscribed"))
	waitItem(t, alice.Session, carol.JID(), "from", func(it client.RosterItem, ok bool) bool {
		return ok && it.Subscription == "from" && !it.Approved
	})
}

// TestSeed12_3_Deny: a denied request leaves the requester without a
// subscription or a pending ask, and tells it so.
func TestSeed12_3_Deny(t *testing.T) {
	srv := imServer(t, "")
	alice := imOnline(t, srv, "alice@localhost/a")
	carol := imOnline(t, srv, "carol@localhost/c")
	if err := carol.Subscribe(alice.JID()); err != nil {
		t.Fatal(err)
	}
	imAwait(t, alice.Session, "subscribe", presenceFrom(carol.JID().Bare(), "subscribe"))
	if err := alice.Deny(carol.JID()); err != nil {
		t.Fatal(err)
	}
	imAwait(t, carol.Session, "unsubscribed", presenceFrom(alice.JID().Bare(), "unsubscribed"))
	waitItem(t, carol.Session, alice.JID(), "none, not asked", subscriptionIs("none", false))
	waitItem(t, alice.Session, carol.JID(), "no subscription", func(it client.RosterItem, ok bool) bool {
		return !ok || it.Subscription == "none"
	})
}

// TestSeed12_4_Unsubscribe: unsubscribe withdraws a pending request and
// ends an existing subscription (seed 12-4); Cancel ends the contact's
// subscription to the user (RFC 6121 §3.2). Each shows in both rosters.
func TestSeed12_4_Unsubscribe(t *testing.T) {
	srv := imServer(t, "")
	alice := imOnline(t, srv, "alice@localhost/a")
	bob := imOnline(t, srv, "bob@localhost/b")
	carol := imOnline(t, srv, "carol@localhost/c")

	// A pending request, withdrawn.
	if err := alice.Subscribe(carol.JID()); err != nil {
		t.Fatal(err)
	}
	waitItem(t, alice.Session, carol.JID(), "asked", subscriptionIs("none", true))
	if err := alice.Unsubscribe(carol.JID()); err != nil {
		t.Fatal(err)
	}
	waitItem(t, alice.Session, carol.JID(), "not asked", subscriptionIs("none", false))

	befriend(t, alice, bob)
	if err := alice.Unsubscribe(bob.JID()); err != nil {
		t.Fatal(err)
	}
	imAwait(t, bob.Session, "unsubscribe", presenceFrom(alice.JID().Bare(), "unsubscribe"))
	// Alice no longer sees bob: his server says he is unavailable.
	imAwait(t, alice.Session, "bob unavailable", presenceFrom(bob.JID(), "unavailable"))
	waitItem(t, alice.Session, bob.JID(), "from", subscriptionIs("from", false))
	waitItem(t, bob.Session, alice.JID(), "to", subscriptionIs("to", false))

	if err := alice.Cancel(bob.JID()); err != nil {
		t.Fatal(err)
	}
	imAwait(t, bob.Session, "unsubscribed", presenceFrom(alice.JID().Bare(), "unsubscribed"))
	waitItem(t, alice.Session, bob.JID(), "none", subscriptionIs("none", false))
	waitItem(t, bob.Session, alice.JID(), "none", subscriptionIs("none", false))
}

// TestSeed13_1_Presence: presence with show, status, priority and
// language reaches the subscribed contact as sent; values RFC 6121 §4.7
// does not allow are refused before anything is sent.
func TestSeed13_1_Presence(t *testing.T) {
	srv := imServer(t, "")
	alice := imOnline(t, srv, "alice@localhost/a")
	bob := imOnline(t, srv, "bob@localhost/b")
	befriend(t, alice, bob)
	sent := client.Presence{Show: "away", Status: "at lunch", Priority: -5, Lang: "fr"}
	if err := bob.SendPresence(sent); err != nil {
		t.Fatal(err)
	}
	got := client.ParsePresence(imAwait(t, alice.Session, "away", func(el *stanza.Element) bool {
		return presenceFrom(bob.JID(), "")(el) && el.ChildText("", "show") == "away"
	}))
	want := sent
	want.From = bob.JID()
	want.To = got.To // the server may address it to alice's full or bare JID
	if got != want || got.To.Bare() != alice.JID().Bare() {
		t.Errorf("alice got %+v, want %+v", got, want)
	}
	for _, bad := range []client.Presence{
		{Show: "busy"},
		{Priority: 128},
		{Priority: -129},
		{Type: "subscribe"},
		{Type: "probe"},
		{Type: "unavailable", Show: "away"},
		{Type: "unavailable", Priority: 1},
	} {
		if err := bob.SendPresence(bad); err == nil {
			t.Errorf("SendPresence(%+v) succeeded", bad)
		}
	}
	// None of those went out: the next presence alice gets is this one.
	for _, show := range []string{"chat", "dnd", "xa", ""} {
		if err := bob.SendPresence(client.Presence{Show: show, Priority: 127}); err != nil {
			t.Fatal(err)
		}
		p := client.ParsePresence(imAwait(t, alice.Session, "presence "+show, presenceFrom(bob.JID(), "")))
		if p.Show != show || p.Priority != 127 {
			t.Errorf("alice got %+v, want show %q priority 127", p, show)
		}
	}
}

// TestSeed13_2_Unavailable: Unavailable reaches the contact with its
// status.
func TestSeed13_2_Unavailable(t *testing.T) {
	srv := imServer(t, "")
	alice := imOnline(t, srv, "alice@localhost/a")
	bob := imOnline(t, srv, "bob@localhost/b")
	befriend(t, alice, bob)
	if err := bob.Unavailable("gone fishing"); err != nil {
		t.Fatal(err)
	}
	p := client.ParsePresence(imAwait(t, alice.Session, "unavailable", presenceFrom(bob.JID(), "unavailable")))
	if p.Status != "gone fishing" {
		t.Errorf("alice got %+v", p)
	}
}

// TestDirectedPresence: presence with To goes to that entity alone (RFC
// 6121 §4.6), not to the subscribers, and so does directed unavailable
// presence.
func TestDirectedPresence(t *testing.T) {
	srv := imServer(t, "")
	alice := imOnline(t, srv, "alice@localhost/a")
	bob := imOnline(t, srv, "bob@localhost/b")
	carol := imOnline(t, srv, "carol@localhost/c")
	befriend(t, alice, bob)
	if err := alice.SendPresence(client.Presence{To: carol.JID(), Show: "chat", Status: "just for carol"}); err != nil {
		t.Fatal(err)
	}
	p := client.ParsePresence(imAwait(t, carol.Session, "directed presence", presenceFrom(alice.JID(), "")))
	if p.To != carol.JID() || p.Show != "chat" || p.Status != "just for carol" {
		t.Errorf("carol got %+v", p)
	}
	// Bob, a subscriber, did not get it: everything alice sent him before
	// this message has arrived by the time it does.
	if err := alice.SendMessage(client.Message{To: bob.JID(), Type: "chat", Body: "marker", ID: "m1"}); err != nil {
		t.Fatal(err)
	}
	imAwait(t, bob.Session, "marker", func(el *stanza.Element) bool {
		if el.Name.Local == "presence" && client.ParsePresence(el).Status == "just for carol" {
			t.Errorf("bob got carol's directed presence: %v", el)
		}
		return el.Name.Local == "message" && el.Attr("id") == "m1"
	})
	if err := alice.SendPresence(client.Presence{To: carol.JID(), Type: "unavailable", Status: "bye carol"}); err != nil {
		t.Fatal(err)
	}
	if p := client.ParsePresence(imAwait(t, carol.Session, "directed unavailable", presenceFrom(alice.JID(), "unavailable"))); p.Status != "bye carol" {
		t.Errorf("carol got %+v", p)
	}
}

// TestSeed10_2_Messages: each message type (seed 10.2-1) with body
// (10.2-2), subject and thread (10.2-3) arrives as sent; an error reply
// is told apart; a type the client does not know reads as normal, and
// SendMessage refuses to send one.
func TestSeed10_2_Messages(t *testing.T) {
	srv := imServer(t, "")
	alice := imOnline(t, srv, "alice@localhost/a")
	bob := imOnline(t, srv, "bob@localhost/b")
	for _, typ := range []string{"", "normal", "chat", "groupchat", "headline"} {
		m := client.Message{ID: "id-" + typ, To: bob.JID(), Type: typ, Body: "body of " + typ,
			Subject: "subject of " + typ, Thread: "thread-" + typ, ThreadParent: "parent-" + typ, Lang: "de"}
		if err := alice.SendMessage(m); err != nil {
			t.Fatal(err)
		}
		got := client.ParseMessage(imAwait(t, bob.Session, "message "+typ, func(el *stanza.Element) bool {
			return el.Name.Local == "message" && el.Attr("id") == m.ID
		}))
		want := m
		want.From = alice.JID()
		if typ == "" {
			want.Type = "normal"
		}
		if got != want {
			t.Errorf("bob got %+v, want %+v", got, want)
		}
	}
	// Type error: groupchat to a bare JID bounces.
	if err := alice.SendMessage(client.Message{ID: "gc", To: bob.JID().Bare(), Type: "groupchat", Body: "x"}); err != nil {
		t.Fatal(err)
	}
	e := client.ParseMessage(imAwait(t, alice.Session, "bounce", func(el *stanza.Element) bool {
		return el.Name.Local == "message" && el.Attr("id") == "gc"
	}))
	if e.Type != "error" || e.Error == nil || e.Error.Condition != stanza.ServiceUnavailable || e.From != bob.JID().Bare() {
		t.Errorf("bounce %+v, want a service-unavailable error from bob", e)
	}
	// An unknown type, sent raw, reads as normal (RFC 6121 §5.2.2).
	alice.Send(stanza.New("", "message").SetAttr("to", bob.JID().String()).SetAttr("type", "shout").SetAttr("id", "u1").
		Append(stanza.New("", "body").AppendText("HEY")))
	if u := client.ParseMessage(imAwait(t, bob.Session, "unknown type", func(el *stanza.Element) bool { return el.Attr("id") == "u1" })); u.Type != "normal" || u.Body != "HEY" {
		t.Errorf("unknown type read as %+v", u)
	}
	for _, bad := range []client.Message{
		{To: bob.JID(), Type: "shout", Body: "x"},
		{To: bob.JID(), Type: "error", Body: "x"},
		{Body: "to nobody"},
		{To: bob.JID(), ThreadParent: "p"},
	} {
		if err := alice.SendMessage(bad); err == nil {
			t.Errorf("SendMessage(%+v) succeeded", bad)
		}
	}
}

// TestParseLanguages: of several bodies, subjects or statuses the one in
// the stanza's language is read (RFC 6121 §5.2.3, §4.7.2.2), else the
// first; broken addresses and priorities are left zero.
func TestParseLanguages(t *testing.T) {
	lang := func(local, l, text string) *stanza.Element {
		el := stanza.New("", local).AppendText(text)
		if l != "" {
			el.SetAttrNS(stanza.NSXML, "lang", l)
		}
		return el
	}
	m := client.ParseMessage(stanza.New("", "message").SetAttrNS(stanza.NSXML, "lang", "en").SetAttr("from", "@bad").
		Append(lang("body", "de", "Hallo"), lang("body", "en", "Hello"), lang("subject", "de", "Betreff"), lang("subject", "fr", "Objet")))
	if m.Body != "Hello" || m.Subject != "Betreff" || m.Type != "normal" || !m.From.IsZero() || m.Lang != "en" {
		t.Errorf("message %+v", m)
	}
	p := client.ParsePresence(stanza.New("", "presence").SetAttrNS(stanza.NSXML, "lang", "de").
		Append(lang("status", "en", "out"), lang("status", "", "weg"), lang("priority", "", "500")))
	if p.Status != "weg" || p.Priority != 0 || p.Lang != "de" {
		t.Errorf("presence %+v", p)
	}
}

// TestSeed9_1_NoRestrictedXML: hostile text in a body, subject, thread,
// thread parent, status, roster name and group goes out escaped, with no
// comment, processing instruction, CDATA section or DTD on the wire
// (seed 9-1), and arrives intact: Starling would have closed the stream
// had it been restricted XML (seed 9-2).
func TestSeed9_1_NoRestrictedXML(t *testing.T) {
	srv := imServer(t, "c2s:\n  allow_plaintext: true\n")
	hostile := "<!-- c --> ]]> <![CDATA[x]]> <?pi x?> <!DOCTYPE d> & &amp; \"q\" 'a' </body> \r\n\ttab"
	tp := newProxy(t, srv.Addr)
	cfg := srv.ClientConfig(t, "alice@localhost/tapped", imPassword)
	cfg.Addr, cfg.Plaintext = tp.addr(), true
	alice, err := client.Dial(imCtx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer alice.Abort()
	bob := imOnline(t, srv, "bob@localhost/b")
	ctx := imCtx(t)
	if _, err := alice.Roster(ctx); err != nil {
		t.Fatal(err)
	}
	m := client.Message{ID: "h1", To: bob.JID(), Type: "chat", Body: "body " + hostile, Subject: "subject " + hostile,
		Thread: "thread " + hostile, ThreadParent: "parent " + hostile}
	if err := alice.SendMessage(m); err != nil {
		t.Fatal(err)
	}
	got := client.ParseMessage(imAwait(t, bob.Session, "hostile message", func(el *stanza.Element) bool { return el.Attr("id") == "h1" }))
	want := m
	want.From = alice.JID()
	if got != want {
		t.Errorf("bob got\n%+v\nwant\n%+v", got, want)
	}
	if err := alice.SendPresence(client.Presence{To: bob.JID(), Status: "status " + hostile}); err != nil {
		t.Fatal(err)
	}
	if p := client.ParsePresence(imAwait(t, bob.Session, "hostile presence", presenceFrom(alice.JID(), ""))); p.Status != "status "+hostile {
		t.Errorf("bob got status %q", p.Status)
	}
	if err := alice.SetRosterItem(ctx, client.RosterItem{JID: bob.JID(), Name: "name " + hostile, Groups: []string{"group " + hostile}}); err != nil {
		t.Fatal(err)
	}
	r, err := alice.Roster(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if it, _ := r.Item(bob.JID()); it.Name != "name "+hostile || !slices.Equal(it.Groups, []string{"group " + hostile}) {
		t.Errorf("roster item %+v", it)
	}
	if err := alice.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-tp.done:
	case <-time.After(imWait):
		t.Fatal("the tapped connection did not end")
	}

	wire := tp.bytes()
	decls := bytes.Count(wire, []byte("<?xml version='1.0'?>"))
	if n := bytes.Count(wire, []byte("<?")); n != decls {
		t.Errorf("%d processing instructions besides %d XML declarations on the wire", n-decls, decls)
	}
	for _, bad := range []string{"<!", "]]>", "\r"} {
		if bytes.Contains(wire, []byte(bad)) {
			t.Errorf("the wire holds %q", bad)
		}
	}
	for _, esc := range []string{"&lt;!-- c --&gt;", "]]&gt;", "&amp;amp;", "&quot;q&quot;", "&apos;a&apos;", "&lt;/body&gt;", "&#xD;"} {
		if !bytes.Contains(wire, []byte(esc)) {
			t.Errorf("the wire lacks %q", esc)
		}
	}
	// A strict XML parser finds the last stream (the one after SASL, all
	// stanzas) a document with no comment, directive or processing
	// instruction, and the text intact.
	last := bytes.LastIndex(wire, []byte("<?xml version='1.0'?>"))
	if last < 0 {
		t.Fatalf("no stream header on the wire: %q", wire)
	}
	d := xml.NewDecoder(bytes.NewReader(wire[last:]))
	var text strings.Builder
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("the client's output is not well-formed XML: %v", err)
		}
		switch tok := tok.(type) {
		case xml.Comment, xml.Directive:
			t.Errorf("the wire holds %T %q", tok, tok)
		case xml.ProcInst:
			if tok.Target != "xml" {
				t.Errorf("the wire holds a processing instruction %q", tok.Target)
			}
		case xml.CharData:
			text.Write(tok)
		}
	}
	if !strings.Contains(text.String(), "body "+hostile) {
		t.Errorf("the parsed text lacks the body: %q", text.String())
	}
}
