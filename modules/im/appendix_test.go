package im

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/starling-xmpp/starling/account"
	"github.com/starling-xmpp/starling/config"
	"github.com/starling-xmpp/starling/internal/moduletest"
	"github.com/starling-xmpp/starling/jid"
	"github.com/starling-xmpp/starling/router"
	"github.com/starling-xmpp/starling/stanza"
	"github.com/starling-xmpp/starling/storage/memory"
)

// The tables of RFC 6121 Appendix A as the RFC prints them: existing state,
// then new state ("no state change" where nothing changes) and, for the
// inbound tables, whether the stanza is delivered. Kept as text so a typo
// in the code's tables cannot hide behind the same typo here.
var rfcOutbound = map[string]string{
	"subscribe": `
None                   | None + Pending Out
None + Pending Out     | no state change
None + Pending In      | None + Pending Out/In
None + Pending Out/In  | no state change
To                     | no state change
To + Pending In        | no state change
From                   | From + Pending Out
From + Pending Out     | no state change
Both                   | no state change`,
	"unsubscribe": `
None                   | no state change
None + Pending Out     | None
None + Pending In      | no state change
None + Pending Out/In  | None + Pending In
To                     | None
To + Pending In        | None + Pending In
From                   | no state change
From + Pending Out     | From
Both                   | From`,
	"subscribed": `
None                   | no state change
None + Pending Out     | no state change
None + Pending In      | From
None + Pending Out/In  | From + Pending Out
To                     | no state change
To + Pending In        | Both
From                   | no state change
From + Pending Out     | no state change
Both                   | no state change`,
	"unsubscribed": `
None                   | no state change
None + Pending Out     | no state change
None + Pending In      | None
None + Pending Out/In  | None + Pending Out
To                     | no state change
To + Pending In        | To
From                   | None
From + Pending Out     | None + Pending Out
Both                   | To`,
}

var rfcInbound = map[string]string{
	"subscribe": `
None                   | yes | None + Pending In
None + Pending Out     | yes | None + Pending Out/In
None + Pending In      | no  | no state change
None + Pending Out/In  | no  | no state change
To                     | yes | To + Pending In
To + Pending In        | no  | no state change
From                   | no  | no state change
From + Pending Out     | no  | no state change
Both                   | no  | no state change`,
	"unsubscribe": `
None                   | no  | no state change
None + Pending Out     | no  | no state change
None + Pending In      | yes | None
None + Pending Out/In  | yes | None + Pending Out
To                     | no  | no state change
To + Pending In        | yes | To
From                   | yes | None
From + Pending Out     | yes | None + Pending Out
Both                   | yes | To`,
	"subscribed": `
None                   | no  | no state change
None + Pending Out     | yes | To
None + Pending In      | no  | no state change
None + Pending Out/In  | yes | To + Pending In
To                     | no  | no state change
To + Pending In        | no  | no state change
From                   | no  | no state change
From + Pending Out     | yes | Both
Both                   | no  | no state change`,
	"unsubscribed": `
None                   | no  | no state change
None + Pending Out     | yes | None
None + Pending In      | no  | no state change
None + Pending Out/In  | yes | None + Pending In
To                     | yes | None
To + Pending In        | yes | None + Pending In
From                   | no  | no state change
From + Pending Out     | yes | From
Both                   | yes | From`,
}

type row struct {
	from    State
	deliver bool
	to      State
}

func parseTable(t *testing.T, text string) []row {
	t.Helper()
	var rows []row
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		cells := strings.Split(line, "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		r := row{from: State(cells[0])}
		next := cells[len(cells)-1]
		if len(cells) == 3 {
			r.deliver = cells[1] == "yes"
		}
		if next == "no state change" {
			r.to = r.from
		} else {
			r.to = State(next)
		}
		rows = append(rows, r)
	}
	if len(rows) != 9 {
		t.Fatalf("table has %d rows, want 9", len(rows))
	}
	return rows
}

type fixture struct {
	r           *router.Router
	store       *memory.Store
	alice, bob  *router.Session
	aliceStream *moduletest.Stream
	bobStream   *moduletest.Stream
	routedToBob []*stanza.Element
	aliceJID    jid.JID
	bobJID      jid.JID
}

// newFixture starts a router with the im module and two online, available
// users; alice's roster item for bob starts in state st (nil: no item).
func newFixture(t *testing.T, st *State) *fixture {
	t.Helper()
	ctx := context.Background()
	cfg := config.Default()
	store := memory.New()
	accounts := &account.Manager{Store: store, Profile: jid.Stringprep, Hosts: cfg.Hosts, Iterations: 4096}
	for _, u := range []string{"alice@localhost", "bob@localhost"} {
		if _, err := accounts.Add(ctx, u, "password"); err != nil {
			t.Fatal(err)
		}
	}
	h := moduletest.NewHost(cfg, store)
	h.Store, h.Accounts = store, accounts
	r := h.Router
	f := &fixture{r: r, store: store, aliceJID: jid.MustParse("alice@localhost"), bobJID: jid.MustParse("bob@localhost")}
	if st != nil {
		// Alice's item for bob in state st, and bob's item for alice in
		// the state that goes with it, as two servers in step have.
		put := func(user string, contact jid.JID, st State) {
			it := &Item{JID: contact, Ver: 1}
			setState(it, st)
			it.Hidden = st == NonePendingIn // a request alone is not a roster item
			if it.PendingIn {
				it.Request = "<presence from='" + contact.String() + "' to='" + user + "@localhost' type='subscribe'/>"
			}
			raw, _ := json.Marshal(it)
			store.Put(ctx, "localhost", user, store_, contact.String(), raw)
		}
		put("alice", f.bobJID, *st)
		a := &Item{}
		setState(a, *st)
		b := &Item{From: a.To, To: a.From, Ask: a.PendingIn, PendingIn: a.Ask}
		put("bob", f.aliceJID, stateOf(b))
	}
	if err := (Module{}).Register(h); err != nil {
		t.Fatal(err)
	}
	// A spy on what reaches bob, before the module handles it.
	r.Hook(router.Inbound, 100, func(_ context.Context, p *router.Packet) bool {
		if p.To.Bare() == f.bobJID && p.El.Name.Local == "presence" {
			f.routedToBob = append(f.routedToBob, p.El)
		}
		return false
	})
	online := func(full string) (*router.Session, *moduletest.Stream) {
		s, st := moduletest.Bind(t, r, full, false)
		state(s).interested = true
		r.Route(ctx, stanza.New("", "presence").SetAttr("from", s.JID.String()), s.JID, jid.JID{})
		return s, st
	}
	f.alice, f.aliceStream = online("alice@localhost/a")
	f.bob, f.bobStream = online("bob@localhost/b")
	f.aliceStream.Take()
	f.bobStream.Take()
	f.routedToBob = nil
	return f
}

const store_ = store

// aliceItem reads alice's stored item for bob.
func (f *fixture) aliceItem(t *testing.T) *Item {
	t.Helper()
	raw, err := f.store.Get(context.Background(), "localhost", "alice", store, "bob@localhost")
	if err != nil {
		return &Item{JID: f.bobJID}
	}
	var it Item
	if err := json.Unmarshal(raw, &it); err != nil {
		t.Fatal(err)
	}
	return &it
}

func pushes(els []*stanza.Element) []*stanza.Element {
	var out []*stanza.Element
	for _, el := range els {
		if el.Name.Local == "iq" && el.Child(NSRoster, "query") != nil {
			out = append(out, el)
		}
	}
	return out
}

func presences(els []*stanza.Element, typ string) []*stanza.Element {
	var out []*stanza.Element
	for _, el := range els {
		if el.Name.Local == "presence" && el.Attr("type") == typ {
			out = append(out, el)
		}
	}
	return out
}

var states = []State{None, NonePendingOut, NonePendingIn, NonePendingOutIn, To, ToPendingIn, From, FromPendingOut, Both}

// Seed 12: every row of RFC 6121 Appendix A.2 (outbound), through the
// router: alice sends subscription presence to bob.
func TestSeed12_AppendixA2_Outbound(t *testing.T) {
	for typ, text := range rfcOutbound {
		for _, rw := range parseTable(t, text) {
			t.Run(typ+"/"+string(rw.from), func(t *testing.T) {
				// The code's table agrees with the RFC's.
				if next, ok := outboundTable[typ][rw.from]; ok != (rw.to != rw.from) || ok && next != rw.to {
					t.Fatalf("outboundTable[%s][%s] = %q, %v; RFC: %s", typ, rw.from, next, ok, rw.to)
				}
				from := rw.from
				f := newFixture(t, &from)
				el := stanza.New("", "presence").SetAttr("type", typ).SetAttr("to", "bob@localhost").SetAttr("from", "alice@localhost")
				f.r.Route(context.Background(), el, f.alice.JID, f.bobJID)
				got := f.aliceItem(t)
				if s := stateOf(got); s != rw.to {
					t.Errorf("state %s, want %s", s, rw.to)
				}
				ps := pushes(f.aliceStream.Take())
				visibleChange := rw.to != rw.from && !(rw.from == NonePendingIn && rw.to == None)
				preApproval := typ == "subscribed" && !hasPendingIn(rw.from) && !hasFrom(rw.from)
				switch {
				case visibleChange || preApproval:
					if len(ps) != 1 {
						t.Fatalf("%d roster pushes, want 1", len(ps))
					}
					item := ps[0].Child(NSRoster, "query").Child(NSRoster, "item")
					if item.Attr("jid") != "bob@localhost" || item.Attr("subscription") != (&Item{From: hasFrom(rw.to), To: got.To}).Subscription() {
						t.Errorf("push %s", ps[0])
					}
					if wantAsk := got.Ask; (item.Attr("ask") == "subscribe") != wantAsk {
						t.Errorf("push ask=%q, want ask %v", item.Attr("ask"), wantAsk)
					}
					if preApproval && item.Attr("approved") != "true" {
						t.Errorf("pre-approval push without approved='true': %s", ps[0])
					}
				case len(ps) != 0:
					t.Errorf("roster push %s for no visible change", ps[0])
				}
				// What reaches bob: subscribe and unsubscribe always go
				// out; subscribed when it grants (or confirms) a
				// subscription; unsubscribed when it denies or cancels.
				want := 0
				switch typ {
				case "subscribe", "unsubscribe":
					want = 1
				case "subscribed":
					if hasFrom(rw.to) {
						want = 1
					}
				case "unsubscribed":
					if hasFrom(rw.from) || hasPendingIn(rw.from) {
						want = 1
					}
				}
				if n := len(presences(f.routedToBob, typ)); n != want {
					t.Errorf("bob got %d %s, want %d", n, typ, want)
				}
				for _, p := range presences(f.routedToBob, typ) {
					if p.Attr("from") != "alice@localhost" || p.Attr("to") != "bob@localhost" {
						t.Errorf("routed %s, want bare JIDs on both ends", p)
					}
				}
				// Granting a subscription sends alice's presence;
				// cancelling one sends unavailable.
				if typ == "subscribed" && want == 1 && len(presences(f.routedToBob, "")) == 0 {
					t.Error("approval without alice's presence")
				}
				if typ == "unsubscribed" && hasFrom(rw.from) && len(presences(f.routedToBob, "unavailable")) == 0 {
					t.Error("cancellation without unavailable presence")
				}
			})
		}
	}
}

// Seed 12: every row of RFC 6121 Appendix A.3 (inbound), through the
// router: bob's server sends alice subscription presence.
func TestSeed12_AppendixA3_Inbound(t *testing.T) {
	for typ, text := range rfcInbound {
		for _, rw := range parseTable(t, text) {
			t.Run(typ+"/"+string(rw.from), func(t *testing.T) {
				if next, ok := inboundTable[typ][rw.from]; ok != rw.deliver || ok && next != rw.to {
					t.Fatalf("inboundTable[%s][%s] = %q, %v; RFC: deliver %v, %s", typ, rw.from, next, ok, rw.deliver, rw.to)
				}
				from := rw.from
				f := newFixture(t, &from)
				el := stanza.New("", "presence").SetAttr("type", typ).SetAttr("from", "bob@localhost").SetAttr("to", "alice@localhost")
				f.r.Send(context.Background(), el, f.bobJID, f.aliceJID)
				got := f.aliceItem(t)
				if s := stateOf(got); s != rw.to {
					t.Errorf("state %s, want %s", s, rw.to)
				}
				recv := f.aliceStream.Take()
				if n := len(presences(recv, typ)); (n == 1) != rw.deliver || n > 1 {
					t.Errorf("alice got %d %s, want delivered=%v", n, typ, rw.deliver)
				}
				ps := pushes(recv)
				visibleChange := rw.to != rw.from && typ != "subscribe" && !(rw.from == NonePendingIn && rw.to == None)
				if (len(ps) == 1) != visibleChange || len(ps) > 1 {
					t.Errorf("%d roster pushes, want push=%v", len(ps), visibleChange)
				}
				// Already subscribed: the server answers for alice.
				if typ == "subscribe" && hasFrom(rw.from) {
					if len(presences(f.routedToBob, "subscribed")) != 1 {
						t.Error("no automatic subscribed for an existing subscription")
					}
				}
			})
		}
	}
}

func TestStateRoundTrip(t *testing.T) {
	for _, s := range states {
		it := &Item{}
		setState(it, s)
		if got := stateOf(it); got != s {
			t.Errorf("setState(%s) reads back as %s", s, got)
		}
	}
	_ = fmt.Sprint
}
