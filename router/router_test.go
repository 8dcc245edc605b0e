package router

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/starling-xmpp/starling/jid"
	"github.com/starling-xmpp/starling/stanza"
)

// fakeStream records what is sent to it.
type fakeStream struct {
	mu       sync.Mutex
	got      []*stanza.Element
	refuse   bool
	replaced []*Session
}

func (f *fakeStream) Send(el *stanza.Element) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.refuse {
		return false
	}
	f.got = append(f.got, el)
	return true
}

func (f *fakeStream) Replaced(s *Session) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.replaced = append(f.replaced, s)
}

func (f *fakeStream) Close(*stanza.StreamError) {}

func (f *fakeStream) take() []*stanza.Element {
	f.mu.Lock()
	defer f.mu.Unlock()
	g := f.got
	f.got = nil
	return g
}

type accounts map[string]bool

func (a accounts) AccountExists(_ context.Context, host, user string) (bool, error) {
	return a[user+"@"+host], nil
}

func newTestRouter() *Router {
	return New(Config{
		Hosts:                 []string{"example.test"},
		Accounts:              accounts{"alice@example.test": true, "bob@example.test": true},
		MaxSessionsPerAccount: 3,
	})
}

// online binds j on a new fake stream, available at priority prio (or
// unavailable when prio is nil).
func online(t *testing.T, r *Router, j string, prio *int) (*Session, *fakeStream) {
	t.Helper()
	fs := &fakeStream{}
	s := NewSession(jid.MustParse(j), fs)
	if _, err := r.Bind(s, false); err != nil {
		t.Fatalf("bind %s: %v", j, err)
	}
	if prio != nil {
		r.SetPresence(s, true, *prio)
	}
	return s, fs
}

func p(n int) *int { return &n }

func msg(typ, to string) *stanza.Element {
	m := stanza.New("", "message").SetAttr("to", to).SetAttr("id", "m1")
	if typ != "" {
		m.SetAttr("type", typ)
	}
	return m.Append(stanza.New("", "body").AppendText("hi"))
}

func route(r *Router, st *stanza.Element, from string) {
	var to jid.JID
	if t := st.Attr("to"); t != "" {
		to = jid.MustParse(t)
	}
	st.SetAttr("from", from)
	r.Route(context.Background(), st, jid.MustParse(from), to)
}

// errorOf returns the condition of an error stanza, or "".
func errorOf(el *stanza.Element) stanza.Condition {
	if e := stanza.ParseError(el); e != nil && el.Attr("type") == "error" {
		return e.Condition
	}
	return ""
}

func TestBindConflict(t *testing.T) {
	r := newTestRouter()
	a1, fs1 := online(t, r, "alice@example.test/a", nil)
	dup := NewSession(jid.MustParse("alice@example.test/a"), &fakeStream{})
	if _, err := r.Bind(dup, false); !errors.Is(err, ErrConflict) {
		t.Fatalf("refuse policy: got %v, want conflict", err)
	}
	old, err := r.Bind(dup, true)
	if err != nil || old != a1 {
		t.Fatalf("replace policy: got %v, %v; want the old session", old, err)
	}
	if len(fs1.replaced) != 1 || r.Session(jid.MustParse("alice@example.test/a")) != dup {
		t.Fatal("old stream not told, or new session not routable")
	}
	// A session is never replaced by one on its own stream.
	same := NewSession(jid.MustParse("alice@example.test/a"), dup.Stream)
	if _, err := r.Bind(same, true); !errors.Is(err, ErrConflict) {
		t.Fatalf("same stream: got %v, want conflict", err)
	}
}

func TestBindLimitAndUnbind(t *testing.T) {
	r := newTestRouter()
	var ss []*Session
	for _, res := range []string{"1", "2", "3"} {
		s, _ := online(t, r, "alice@example.test/"+res, nil)
		ss = append(ss, s)
	}
	extra := NewSession(jid.MustParse("alice@example.test/4"), &fakeStream{})
	if _, err := r.Bind(extra, false); !errors.Is(err, ErrTooManySessions) {
		t.Fatalf("got %v, want resource-constraint", err)
	}
	r.Unbind(ss[1])
	r.Unbind(ss[1]) // twice is harmless
	if n := len(r.Sessions(jid.MustParse("alice@example.test"))); n != 2 {
		t.Fatalf("%d sessions after unbind, want 2", n)
	}
	if _, err := r.Bind(extra, false); err != nil {
		t.Fatalf("bind after unbind: %v", err)
	}
}

// Seed 10.7-4 with RFC 6121 §8.5: messages to a bare JID.
func TestSeed10_7_4_MessageToBareJID(t *testing.T) {
	tests := []struct {
		name      string
		typ       string
		prios     []*int // per resource; nil = bound but unavailable
		delivered []bool
		bounce    stanza.Condition
	}{
		{"chat to highest priority", "chat", []*int{p(1), p(5), p(3)}, []bool{false, true, false}, ""},
		{"chat to all of equal top priority", "chat", []*int{p(5), p(5), p(0)}, []bool{true, true, false}, ""},
		{"normal like chat", "", []*int{p(0), p(2)}, []bool{false, true}, ""},
		{"unknown type is normal", "bogus", []*int{p(0), p(2)}, []bool{false, true}, ""},
		{"negative priority never gets bare messages", "chat", []*int{p(-1)}, []bool{false}, stanza.ServiceUnavailable},
		{"unavailable resources are skipped", "chat", []*int{nil, p(0)}, []bool{false, true}, ""},
		{"nobody online", "chat", nil, nil, stanza.ServiceUnavailable},
		{"headline to all non-negative", "headline", []*int{p(1), p(0), p(-5)}, []bool{true, true, false}, ""},
		{"headline with nobody online is dropped", "headline", nil, nil, ""},
		{"groupchat to a bare JID", "groupchat", []*int{p(1)}, []bool{false}, stanza.ServiceUnavailable},
		{"error to a bare JID is dropped", "error", []*int{p(1)}, []bool{false}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newTestRouter()
			_, bobStream := online(t, r, "bob@example.test/pc", p(0))
			var streams []*fakeStream
			for i, prio := range tt.prios {
				_, fs := online(t, r, "alice@example.test/r"+string(rune('0'+i)), prio)
				streams = append(streams, fs)
			}
			route(r, msg(tt.typ, "alice@example.test"), "bob@example.test/pc")
			for i, fs := range streams {
				got := fs.take()
				if (len(got) == 1) != tt.delivered[i] {
					t.Errorf("resource %d got %d stanzas, want delivered=%v", i, len(got), tt.delivered[i])
				}
				if len(got) == 1 && got[0].Attr("to") != "alice@example.test" {
					t.Errorf("delivered 'to' = %q, want the bare JID untouched", got[0].Attr("to"))
				}
			}
			back := bobStream.take()
			switch {
			case tt.bounce == "" && len(back) > 0:
				t.Errorf("sender got %v, want nothing", back[0])
			case tt.bounce != "" && (len(back) != 1 || errorOf(back[0]) != tt.bounce):
				t.Errorf("sender got %v, want a %s error", back, tt.bounce)
			}
		})
	}
}

func TestFullJIDRouting(t *testing.T) {
	r := newTestRouter()
	_, bob := online(t, r, "bob@example.test/pc", p(0))
	_, alice := online(t, r, "alice@example.test/home", p(0))

	route(r, msg("chat", "alice@example.test/home"), "bob@example.test/pc")
	if got := alice.take(); len(got) != 1 || got[0].Attr("from") != "bob@example.test/pc" {
		t.Fatalf("to a connected full JID: got %v", got)
	}
	// RFC 6121 §8.5.3.2.1: a chat to an absent resource is treated as
	// addressed to the bare JID.
	route(r, msg("chat", "alice@example.test/gone"), "bob@example.test/pc")
	if got := alice.take(); len(got) != 1 || got[0].Attr("to") != "alice@example.test/gone" {
		t.Fatalf("to an absent resource: got %v", got)
	}
	route(r, msg("groupchat", "alice@example.test/gone"), "bob@example.test/pc")
	if got := bob.take(); len(got) != 1 || errorOf(got[0]) != stanza.ServiceUnavailable {
		t.Fatalf("groupchat to an absent resource: sender got %v", got)
	}
	route(r, msg("headline", "alice@example.test/gone"), "bob@example.test/pc")
	if got := append(alice.take(), bob.take()...); len(got) != 0 {
		t.Fatalf("headline to an absent resource: got %v, want it dropped", got)
	}
	iq := stanza.New("", "iq").SetAttr("type", "get").SetAttr("id", "q1").SetAttr("to", "alice@example.test/gone").Append(stanza.New("urn:x", "q"))
	route(r, iq, "bob@example.test/pc")
	got := bob.take()
	if len(got) != 1 || errorOf(got[0]) != stanza.ServiceUnavailable || got[0].Child("urn:x", "q") == nil {
		t.Fatalf("iq to an absent resource: got %v, want service-unavailable echoing the payload", got)
	}
	pres := stanza.New("", "presence").SetAttr("to", "alice@example.test/gone")
	route(r, pres, "bob@example.test/pc")
	if got := append(alice.take(), bob.take()...); len(got) != 0 {
		t.Fatalf("presence to an absent resource: got %v, want it dropped", got)
	}
}

func TestUnknownUserAndRemote(t *testing.T) {
	r := newTestRouter()
	_, bob := online(t, r, "bob@example.test/pc", p(0))
	route(r, msg("chat", "nobody@example.test"), "bob@example.test/pc")
	if got := bob.take(); len(got) != 1 || errorOf(got[0]) != stanza.ServiceUnavailable {
		t.Fatalf("message to unknown user: got %v", got)
	}
	route(r, stanza.New("", "presence").SetAttr("to", "nobody@example.test"), "bob@example.test/pc")
	if got := bob.take(); len(got) != 0 {
		t.Fatalf("presence to unknown user: got %v, want silence", got)
	}
	// Seed 10.7-2: not one of our domains.
	route(r, msg("chat", "juliet@remote.example"), "bob@example.test/pc")
	got := bob.take()
	if len(got) != 1 || errorOf(got[0]) != stanza.RemoteServerNotFound || got[0].Attr("from") != "juliet@remote.example" {
		t.Fatalf("message to remote domain: got %v", got)
	}
	// Seed 10.5-2: never an error in reply to an error.
	e := msg("error", "juliet@remote.example")
	e.Append(stanza.NewError(stanza.BadRequest, "").Element())
	route(r, e, "bob@example.test/pc")
	if got := bob.take(); len(got) != 0 {
		t.Fatalf("error to remote domain: got %v, want silence", got)
	}
}

// Seed 10.7-3 and 10.4: IQs to the server are answered by a handler or with
// service-unavailable.
func TestSeed10_7_3_IQToServer(t *testing.T) {
	r := newTestRouter()
	_, bob := online(t, r, "bob@example.test/pc", p(0))
	ping := stanza.Name{Space: "urn:xmpp:ping", Local: "ping"}
	r.HandleIQ(ToHost, "get", ping, func(_ context.Context, iq *stanza.Element, from, to jid.JID) (*stanza.Element, error) {
		return nil, nil
	})
	fail := stanza.Name{Space: "urn:x", Local: "fail"}
	r.HandleIQ(ToHost, "set", fail, func(context.Context, *stanza.Element, jid.JID, jid.JID) (*stanza.Element, error) {
		return nil, errors.New("disk on fire")
	})
	deny := stanza.Name{Space: "urn:x", Local: "deny"}
	r.HandleIQ(ToAccount, "get", deny, func(context.Context, *stanza.Element, jid.JID, jid.JID) (*stanza.Element, error) {
		return nil, stanza.NewError(stanza.Forbidden, "no")
	})
	iq := func(typ, to string, payload stanza.Name) *stanza.Element {
		el := stanza.New("", "iq").SetAttr("type", typ).SetAttr("id", "i1").Append(stanza.New(payload.Space, payload.Local))
		if to != "" {
			el.SetAttr("to", to)
		}
		return el
	}
	route(r, iq("get", "example.test", ping), "bob@example.test/pc")
	got := bob.take()
	if len(got) != 1 || got[0].Attr("type") != "result" || got[0].Attr("id") != "i1" || got[0].Attr("from") != "example.test" || got[0].Attr("to") != "bob@example.test/pc" {
		t.Fatalf("handled iq: got %v", got)
	}
	route(r, iq("get", "example.test", stanza.Name{Space: "urn:unknown", Local: "q"}), "bob@example.test/pc")
	got = bob.take()
	if len(got) != 1 || errorOf(got[0]) != stanza.ServiceUnavailable || got[0].Child("urn:unknown", "q") == nil {
		t.Fatalf("unhandled iq: got %v", got)
	}
	route(r, iq("set", "example.test", fail), "bob@example.test/pc")
	if got := bob.take(); len(got) != 1 || errorOf(got[0]) != stanza.InternalServerError {
		t.Fatalf("failing handler: got %v", got)
	}
	// No 'to': addressed to the sender's account (RFC 6120 §10.3.3).
	route(r, iq("get", "", deny), "bob@example.test/pc")
	got = bob.take()
	if len(got) != 1 || errorOf(got[0]) != stanza.Forbidden || got[0].HasAttr("from") {
		t.Fatalf("account iq: got %v", got)
	}
	route(r, iq("result", "example.test", ping), "bob@example.test/pc")
	if got := bob.take(); len(got) != 0 {
		t.Fatalf("result to the server: got %v, want nothing", got)
	}
	defer func() {
		if recover() == nil {
			t.Error("duplicate HandleIQ did not panic")
		}
	}()
	r.HandleIQ(ToHost, "get", ping, func(context.Context, *stanza.Element, jid.JID, jid.JID) (*stanza.Element, error) { return nil, nil })
}

func TestPresenceBroadcastSetsAvailability(t *testing.T) {
	r := newTestRouter()
	s, _ := online(t, r, "alice@example.test/a", nil)
	pres := stanza.New("", "presence").Append(stanza.New("", "priority").AppendText("7"))
	route(r, pres, "alice@example.test/a")
	if !s.Available() || s.Priority() != 7 {
		t.Fatalf("after presence: available=%v priority=%d", s.Available(), s.Priority())
	}
	route(r, stanza.New("", "presence").SetAttr("type", "unavailable"), "alice@example.test/a")
	if s.Available() {
		t.Fatal("still available after unavailable presence")
	}
}

// A stream that refuses a stanza (gone, or not reading) makes the router
// tell the sender instead of losing it silently.
func TestRefusedDeliveryBounces(t *testing.T) {
	r := newTestRouter()
	_, bob := online(t, r, "bob@example.test/pc", p(0))
	_, alice := online(t, r, "alice@example.test/a", p(0))
	alice.refuse = true
	route(r, msg("chat", "alice@example.test/a"), "bob@example.test/pc")
	if got := bob.take(); len(got) != 1 || errorOf(got[0]) != stanza.RecipientUnavailable {
		t.Fatalf("got %v, want recipient-unavailable", got)
	}
}

func TestHooks(t *testing.T) {
	r := newTestRouter()
	_, bob := online(t, r, "bob@example.test/pc", p(0))
	_, alice := online(t, r, "alice@example.test/a", p(0))
	var order []string
	removeLow := r.Hook(Outbound, 1, func(_ context.Context, pk *Packet) bool {
		order = append(order, "low")
		return false
	})
	r.Hook(Outbound, 10, func(_ context.Context, pk *Packet) bool {
		order = append(order, "high")
		return pk.El.ChildText("", "body") == "stop"
	})
	r.Hook(Inbound, 0, func(_ context.Context, pk *Packet) bool {
		order = append(order, "inbound:"+pk.To.String())
		return pk.El.ChildText("", "body") == "drop"
	})
	route(r, msg("chat", "alice@example.test/a"), "bob@example.test/pc")
	if got := alice.take(); len(got) != 1 {
		t.Fatalf("delivered %d", len(got))
	}
	if want := []string{"high", "low", "inbound:alice@example.test/a"}; !slices.Equal(order, want) {
		t.Errorf("hook order %v, want %v", order, want)
	}
	// An outbound hook that handles the stanza stops everything after it.
	order = nil
	m := msg("chat", "alice@example.test/a")
	m.Child("", "body").Children[0].Text = "stop"
	route(r, m, "bob@example.test/pc")
	if len(alice.take()) != 0 || !slices.Equal(order, []string{"high"}) {
		t.Errorf("after a handling hook: order %v", order)
	}
	// An inbound hook can drop.
	m = msg("chat", "alice@example.test")
	m.Child("", "body").Children[0].Text = "drop"
	route(r, m, "bob@example.test/pc")
	if len(alice.take()) != 0 {
		t.Error("inbound hook did not drop")
	}
	// Send skips outbound hooks.
	order = nil
	removeLow()
	r.Send(context.Background(), msg("chat", "alice@example.test/a"), jid.MustParse("bob@example.test/pc"), jid.MustParse("alice@example.test/a"))
	if len(alice.take()) != 1 || !slices.Equal(order, []string{"inbound:alice@example.test/a"}) {
		t.Errorf("Send: order %v", order)
	}
	_ = bob
}

func TestOfflineHook(t *testing.T) {
	r := newTestRouter()
	_, bob := online(t, r, "bob@example.test/pc", p(0))
	var stored []*stanza.Element
	r.Hook(Offline, 0, func(_ context.Context, pk *Packet) bool {
		stored = append(stored, pk.El)
		return true
	})
	route(r, msg("chat", "alice@example.test"), "bob@example.test/pc")
	route(r, msg("headline", "alice@example.test"), "bob@example.test/pc")
	route(r, msg("", "alice@example.test/gone"), "bob@example.test/pc")
	if len(stored) != 2 || len(bob.take()) != 0 {
		t.Fatalf("stored %d, want the chat and the normal message and no error", len(stored))
	}
}

func TestSessionEndHooks(t *testing.T) {
	r := newTestRouter()
	var ended []string
	r.OnSessionEnd(func(_ context.Context, s *Session) { ended = append(ended, s.JID.String()) })
	a, _ := online(t, r, "alice@example.test/a", nil)
	r.Unbind(a)
	r.Unbind(a)
	b, _ := online(t, r, "alice@example.test/b", nil)
	if _, err := r.Bind(NewSession(b.JID, &fakeStream{}), true); err != nil {
		t.Fatal(err)
	}
	if want := []string{"alice@example.test/a", "alice@example.test/b"}; !slices.Equal(ended, want) {
		t.Errorf("ended %v, want %v (once per unbind, and for a replaced session)", ended, want)
	}
}

// An IQ handler's After functions run once its reply has been sent, and
// ToSelf handlers answer for the sender's own account only.
func TestIQAfterAndSelf(t *testing.T) {
	r := newTestRouter()
	_, alice := online(t, r, "alice@example.test/a", p(0))
	online(t, r, "bob@example.test/pc", p(0))
	q := stanza.Name{Space: "jabber:iq:roster", Local: "query"}
	r.HandleIQ(ToSelf, "set", q, func(ctx context.Context, iq *stanza.Element, from, to jid.JID) (*stanza.Element, error) {
		After(ctx, func() { alice.Send(stanza.New("", "push")) })
		return nil, nil
	})
	iq := stanza.New("", "iq").SetAttr("type", "set").SetAttr("id", "r1").Append(stanza.New(q.Space, q.Local))
	route(r, iq, "alice@example.test/a")
	got := alice.take()
	if len(got) != 2 || got[0].Attr("type") != "result" || got[1].Name.Local != "push" {
		t.Fatalf("got %v, want the result then the push", got)
	}
	iq = stanza.New("", "iq").SetAttr("type", "set").SetAttr("id", "r2").SetAttr("to", "bob@example.test").Append(stanza.New(q.Space, q.Local))
	route(r, iq, "alice@example.test/a")
	if got := alice.take(); len(got) != 1 || errorOf(got[0]) != stanza.ServiceUnavailable {
		t.Fatalf("self handler answered for another account: %v", got)
	}
}

func TestSessionValues(t *testing.T) {
	s := NewSession(jid.MustParse("a@example.test/r"), &fakeStream{})
	type key struct{}
	if s.Value(key{}) != nil {
		t.Fatal("value before set")
	}
	s.SetValue(key{}, 42)
	if s.Value(key{}) != 42 {
		t.Fatal("value lost")
	}
	s.SetValue(key{}, nil)
	if s.Value(key{}) != nil {
		t.Fatal("value not deleted")
	}
}
