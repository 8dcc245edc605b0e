package blocking

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/starling-xmpp/starling/config"
	"github.com/starling-xmpp/starling/internal/moduletest"
	"github.com/starling-xmpp/starling/jid"
	"github.com/starling-xmpp/starling/module"
	"github.com/starling-xmpp/starling/router"
	"github.com/starling-xmpp/starling/stanza"
	"github.com/starling-xmpp/starling/storage/memory"
)

// failing is a store whose key-value maps can be switched off.
type failing struct {
	*memory.Store
	mu   sync.Mutex
	fail bool
}

var errDown = errors.New("store down")

func (f *failing) down(v bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = v
}

func (f *failing) err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return errDown
	}
	return nil
}

func (f *failing) Map(ctx context.Context, host, user, store string) (map[string][]byte, error) {
	if err := f.err(); err != nil {
		return nil, err
	}
	return f.Store.Map(ctx, host, user, store)
}

func (f *failing) Put(ctx context.Context, host, user, store, key string, v []byte) error {
	if err := f.err(); err != nil {
		return err
	}
	return f.Store.Put(ctx, host, user, store, key, v)
}

// env is a router with the module registered; accounts alice, bob and
// carol exist on example.test.
type env struct {
	t       *testing.T
	r       *router.Router
	h       *module.Host
	svc     *service
	store   *failing
	streams map[string]*moduletest.Stream
	sess    map[string]*router.Session
}

func newEnv(t *testing.T, max int) *env {
	t.Helper()
	cfg := config.Default()
	cfg.Hosts = []string{"example.test"}
	h := moduletest.NewHost(cfg, moduletest.Accounts{"alice@example.test": true, "bob@example.test": true, "carol@example.test": true})
	store := &failing{Store: memory.New()}
	h.Store = store
	e := &env{t: t, r: h.Router, h: h, store: store, streams: map[string]*moduletest.Stream{}, sess: map[string]*router.Session{}}
	e.svc = register(h, max)
	return e
}

// bind binds full JID j, available or not.
func (e *env) bind(j string, available bool) *moduletest.Stream {
	e.t.Helper()
	s, st := moduletest.Bind(e.t, e.r, j, available)
	e.streams[j], e.sess[j] = st, s
	return st
}

func (e *env) unbind(j string) {
	e.r.Unbind(e.sess[j])
}

// send routes xml as the client from sends it: stamped, to parsed.
func (e *env) send(from, xml string) {
	e.t.Helper()
	moduletest.Send(e.t, e.r, from, xml)
}

// expect checks that full JID j received exactly want (in order); an
// attribute value "*" in want matches anything.
func (e *env) expect(j string, want ...string) {
	e.t.Helper()
	got := e.streams[j].Take()
	if len(got) != len(want) {
		e.t.Fatalf("%s received %d stanzas, want %d:\n got %v\nwant %v", j, len(got), len(want), got, want)
	}
	for i := range want {
		if err := match(moduletest.Parse(e.t, want[i]), got[i]); err != nil {
			e.t.Fatalf("%s stanza %d: %v\nwant %s\n got %s", j, i, err, want[i], got[i])
		}
	}
}

func match(exp, got *stanza.Element) error {
	if exp.Name != got.Name {
		return fmt.Errorf("element %v, want %v", got.Name, exp.Name)
	}
	if len(exp.Attrs) != len(got.Attrs) {
		return fmt.Errorf("<%s> has %d attributes, want %d", exp.Name.Local, len(got.Attrs), len(exp.Attrs))
	}
	for _, a := range exp.Attrs {
		i := slices.IndexFunc(got.Attrs, func(g stanza.Attr) bool { return g.Name == a.Name })
		if i < 0 || a.Value != "*" && got.Attrs[i].Value != a.Value {
			return fmt.Errorf("<%s> attribute %s differs", exp.Name.Local, a.Name.Local)
		}
	}
	var ec, gc []*stanza.Element
	for c := range exp.Elements() {
		ec = append(ec, c)
	}
	for c := range got.Elements() {
		gc = append(gc, c)
	}
	if len(ec) != len(gc) {
		return fmt.Errorf("<%s> has %d children, want %d", exp.Name.Local, len(gc), len(ec))
	}
	for i := range ec {
		if err := match(ec[i], gc[i]); err != nil {
			return err
		}
	}
	if strings.TrimSpace(exp.Text()) != strings.TrimSpace(got.Text()) {
		return fmt.Errorf("<%s> text differs", exp.Name.Local)
	}
	return nil
}

const (
	alice  = "alice@example.test/a"
	alice2 = "alice@example.test/b"
	alice3 = "alice@example.test/c"
	bob    = "bob@example.test/b"
	carol  = "carol@example.test/c"
)

// block has alice/a block js (and forget the reply).
func (e *env) block(js ...string) {
	e.t.Helper()
	var b strings.Builder
	for _, j := range js {
		b.WriteString("<item jid='" + j + "'/>")
	}
	e.send(alice, "<iq type='set' id='blk'><block xmlns='urn:xmpp:blocking'>"+b.String()+"</block></iq>")
	e.expect(alice, "<iq type='result' id='blk' to='"+alice+"'/>")
}

func TestMatching(t *testing.T) {
	tests := []struct {
		item, entity string
		want         bool
	}{
		{"romeo@montague.net/orchard", "romeo@montague.net/orchard", true},
		{"romeo@montague.net/orchard", "romeo@montague.net/garden", false},
		{"romeo@montague.net/orchard", "romeo@montague.net", false},
		{"romeo@montague.net", "romeo@montague.net", true},
		{"romeo@montague.net", "romeo@montague.net/orchard", true},
		{"romeo@montague.net", "juliet@montague.net/orchard", false},
		{"romeo@montague.net", "montague.net", false},
		{"montague.net/orchard", "montague.net/orchard", true},
		{"montague.net/orchard", "montague.net/garden", false},
		{"montague.net/orchard", "romeo@montague.net/orchard", false},
		{"montague.net/orchard", "montague.net", false},
		{"montague.net", "montague.net", true},
		{"montague.net", "montague.net/orchard", true},
		{"montague.net", "romeo@montague.net", true},
		{"montague.net", "romeo@montague.net/orchard", true},
		{"montague.net", "romeo@capulet.net", false},
		{"montague.net", "sub.montague.net", false},
		{"montague.net", "montague.net@capulet.net", false},
	}
	for _, tt := range tests {
		t.Run(tt.item+" vs "+tt.entity, func(t *testing.T) {
			l := &list{set: map[string]struct{}{tt.item: {}}}
			if got := l.blocks(jid.MustParse(tt.entity)); got != tt.want {
				t.Errorf("blocks = %v, want %v", got, tt.want)
			}
			if emptyList.blocks(jid.MustParse(tt.entity)) {
				t.Error("the empty list blocks")
			}
		})
	}
}

// Every error case: the reply's condition, and the list left unchanged.
func TestCommandErrors(t *testing.T) {
	tests := []struct {
		name, iq string
		cond     stanza.Condition
		typ      stanza.ErrorType
	}{
		{"empty block", "<iq type='set' id='e'><block xmlns='urn:xmpp:blocking'/></iq>", stanza.BadRequest, stanza.Modify},
		{"block without items", "<iq type='set' id='e'><block xmlns='urn:xmpp:blocking'><other xmlns='urn:example'/></block></iq>", stanza.BadRequest, stanza.Modify},
		{"item without jid", "<iq type='set' id='e'><block xmlns='urn:xmpp:blocking'><item/></block></iq>", stanza.BadRequest, stanza.Modify},
		{"unblock item without jid", "<iq type='set' id='e'><unblock xmlns='urn:xmpp:blocking'><item/></unblock></iq>", stanza.BadRequest, stanza.Modify},
		{"empty jid", "<iq type='set' id='e'><block xmlns='urn:xmpp:blocking'><item jid=''/></block></iq>", stanza.JIDMalformed, stanza.Modify},
		{"no domain", "<iq type='set' id='e'><block xmlns='urn:xmpp:blocking'><item jid='romeo@'/></block></iq>", stanza.JIDMalformed, stanza.Modify},
		{"empty local", "<iq type='set' id='e'><block xmlns='urn:xmpp:blocking'><item jid='@montague.net'/></block></iq>", stanza.JIDMalformed, stanza.Modify},
		{"prohibited character", "<iq type='set' id='e'><block xmlns='urn:xmpp:blocking'><item jid='ro&quot;meo@montague.net'/></block></iq>", stanza.JIDMalformed, stanza.Modify},
		{"one bad of two", "<iq type='set' id='e'><block xmlns='urn:xmpp:blocking'><item jid='bob@example.test'/><item jid='a@b@c'/></block></iq>", stanza.JIDMalformed, stanza.Modify},
		{"unblock malformed", "<iq type='set' id='e'><unblock xmlns='urn:xmpp:blocking'><item jid='romeo@'/></unblock></iq>", stanza.JIDMalformed, stanza.Modify},
		{"too many", "<iq type='set' id='e'><block xmlns='urn:xmpp:blocking'><item jid='a@x.test'/><item jid='b@x.test'/><item jid='c@x.test'/></block></iq>", stanza.PolicyViolation, stanza.Modify},
		{"another account's list", "<iq type='get' id='e' to='bob@example.test'><blocklist xmlns='urn:xmpp:blocking'/></iq>", stanza.ServiceUnavailable, stanza.Cancel},
		{"block for another account", "<iq type='set' id='e' to='bob@example.test'><block xmlns='urn:xmpp:blocking'><item jid='carol@example.test'/></block></iq>", stanza.ServiceUnavailable, stanza.Cancel},
		{"blocklist set", "<iq type='set' id='e'><blocklist xmlns='urn:xmpp:blocking'/></iq>", stanza.ServiceUnavailable, stanza.Cancel},
		{"block get", "<iq type='get' id='e'><block xmlns='urn:xmpp:blocking'><item jid='carol@example.test'/></block></iq>", stanza.ServiceUnavailable, stanza.Cancel},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, 2)
			e.bind(alice, true)
			e.send(alice, "<iq type='get' id='l'><blocklist xmlns='urn:xmpp:blocking'/></iq>")
			e.streams[alice].Take()
			e.send(alice, tt.iq)
			got := e.streams[alice].Take()
			if len(got) != 1 {
				t.Fatalf("got %d stanzas, want one error: %v", len(got), got)
			}
			if got[0].Attr("type") != "error" || got[0].Attr("id") != "e" {
				t.Fatalf("got %s, want an error", got[0])
			}
			se := stanza.ParseError(got[0])
			if se.Condition != tt.cond || se.Type != tt.typ {
				t.Errorf("error %s/%s, want %s/%s", se.Type, se.Condition, tt.typ, tt.cond)
			}
			m, _ := e.store.Map(context.Background(), "example.test", "alice", storeName)
			if len(m) != 0 {
				t.Errorf("the list changed: %v", m)
			}
		})
	}
}

// Get, block, unblock and unblock all, with pushes to the resources that
// retrieved the list and to no other.
func TestListAndPushes(t *testing.T) {
	e := newEnv(t, 0)
	e.bind(alice, true)
	e.bind(alice2, true)
	e.bind(alice3, true)
	for _, j := range []string{alice, alice2} {
		e.send(j, "<iq type='get' id='l0'><blocklist xmlns='urn:xmpp:blocking'/></iq>")
		e.expect(j, "<iq type='result' id='l0' to='"+j+"'><blocklist xmlns='urn:xmpp:blocking'/></iq>")
	}

	e.send(alice, "<iq type='set' id='b1'><block xmlns='urn:xmpp:blocking'><item jid='romeo@montague.net'/><item jid='IAGO@shakespeare.lit'/><item jid='romeo@montague.net'/></block></iq>")
	push := "<block xmlns='urn:xmpp:blocking'><item jid='romeo@montague.net'/><item jid='iago@shakespeare.lit'/></block>"
	e.expect(alice, "<iq type='result' id='b1' to='"+alice+"'/>", "<iq type='set' id='*' to='"+alice+"'>"+push+"</iq>")
	e.expect(alice2, "<iq type='set' id='*' to='"+alice2+"'>"+push+"</iq>")
	e.expect(alice3)

	// The list is sorted, prepared, and in the store.
	e.send(alice3, "<iq type='get' id='l1' to='alice@example.test'><blocklist xmlns='urn:xmpp:blocking'/></iq>")
	e.expect(alice3, "<iq type='result' id='l1' from='alice@example.test' to='"+alice3+"'><blocklist xmlns='urn:xmpp:blocking'><item jid='iago@shakespeare.lit'/><item jid='romeo@montague.net'/></blocklist></iq>")
	m, err := e.store.Map(context.Background(), "example.test", "alice", storeName)
	if err != nil || len(m) != 2 || m["romeo@montague.net"] == nil || m["iago@shakespeare.lit"] == nil {
		t.Fatalf("store holds %v (%v)", m, err)
	}

	// alice3 has now asked for the list, so it gets pushes too.
	e.send(alice2, "<iq type='set' id='u1'><unblock xmlns='urn:xmpp:blocking'><item jid='romeo@montague.net'/></unblock></iq>")
	push = "<unblock xmlns='urn:xmpp:blocking'><item jid='romeo@montague.net'/></unblock>"
	e.expect(alice2, "<iq type='result' id='u1' to='"+alice2+"'/>", "<iq type='set' id='*' to='"+alice2+"'>"+push+"</iq>")
	e.expect(alice, "<iq type='set' id='*' to='"+alice+"'>"+push+"</iq>")
	e.expect(alice3, "<iq type='set' id='*' to='"+alice3+"'>"+push+"</iq>")

	e.send(alice, "<iq type='set' id='b2'><block xmlns='urn:xmpp:blocking'><item jid='capulet.net'/></block></iq>")
	e.streams[alice].Take()
	e.streams[alice2].Take()
	e.streams[alice3].Take()

	e.send(alice, "<iq type='set' id='u2'><unblock xmlns='urn:xmpp:blocking'/></iq>")
	e.expect(alice, "<iq type='result' id='u2' to='"+alice+"'/>", "<iq type='set' id='*' to='"+alice+"'><unblock xmlns='urn:xmpp:blocking'/></iq>")
	e.expect(alice2, "<iq type='set' id='*' to='"+alice2+"'><unblock xmlns='urn:xmpp:blocking'/></iq>")
	e.expect(alice3, "<iq type='set' id='*' to='"+alice3+"'><unblock xmlns='urn:xmpp:blocking'/></iq>")
	e.send(alice, "<iq type='get' id='l2'><blocklist xmlns='urn:xmpp:blocking'/></iq>")
	e.expect(alice, "<iq type='result' id='l2' to='"+alice+"'><blocklist xmlns='urn:xmpp:blocking'/></iq>")
	if m, _ := e.store.Map(context.Background(), "example.test", "alice", storeName); len(m) != 0 {
		t.Errorf("store still holds %v", m)
	}

	// Pushes carry distinct ids.
	e.send(alice, "<iq type='set' id='b3'><block xmlns='urn:xmpp:blocking'><item jid='x@y.test'/></block></iq>")
	a, b := e.streams[alice].Take(), e.streams[alice2].Take()
	if len(a) != 2 || len(b) != 1 || a[1].Attr("id") == b[0].Attr("id") {
		t.Errorf("pushes %v and %v: want one each, with different ids", a, b)
	}
}

// What a blocked entity's stanzas to the user become.
func TestInbound(t *testing.T) {
	tests := []struct {
		name    string
		block   string // what alice blocks
		from    string
		stanza  string
		deliver bool   // alice receives it
		reply   string // what the sender receives, if anything
	}{
		{"chat to full", "bob@example.test", bob, "<message to='" + alice + "' type='chat' id='m'><body>hi</body></message>", false,
			"<message from='" + alice + "' to='" + bob + "' type='error' id='m'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>"},
		{"normal to bare", "bob@example.test", bob, "<message to='alice@example.test' id='m'><body>hi</body></message>", false,
			"<message from='alice@example.test' to='" + bob + "' type='error' id='m'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>"},
		{"headline", "bob@example.test", bob, "<message to='" + alice + "' type='headline'><body>hi</body></message>", false, ""},
		{"message error", "bob@example.test", bob, "<message to='" + alice + "' type='error'><error type='cancel'><gone xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>", false, ""},
		{"iq get", "bob@example.test", bob, "<iq to='" + alice + "' type='get' id='q'><query xmlns='jabber:iq:version'/></iq>", false,
			"<iq from='" + alice + "' to='" + bob + "' type='error' id='q'><query xmlns='jabber:iq:version'/><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"},
		{"iq set to bare", "bob@example.test", bob, "<iq to='alice@example.test' type='set' id='q'><query xmlns='urn:example'/></iq>", false,
			"<iq from='alice@example.test' to='" + bob + "' type='error' id='q'><query xmlns='urn:example'/><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"},
		{"iq result", "bob@example.test", bob, "<iq to='" + alice + "' type='result' id='q'/>", false, ""},
		{"iq error", "bob@example.test", bob, "<iq to='" + alice + "' type='error' id='q'><error type='cancel'><gone xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>", false, ""},
		{"directed presence", "bob@example.test", bob, "<presence to='" + alice + "'/>", false, ""},
		{"presence to bare", "bob@example.test", bob, "<presence to='alice@example.test'/>", false, ""},
		{"subscribe", "bob@example.test", bob, "<presence to='alice@example.test' type='subscribe'/>", false, ""},
		{"probe", "bob@example.test", bob, "<presence to='alice@example.test' type='probe'/>", false, ""},
		{"full JID item blocks its resource", bob, bob, "<message to='" + alice + "' type='chat' id='m'/>", false,
			"<message from='" + alice + "' to='" + bob + "' type='error' id='m'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>"},
		{"domain item blocks its users", "example.test", bob, "<message to='" + alice + "' type='chat' id='m'/>", false,
			"<message from='" + alice + "' to='" + bob + "' type='error' id='m'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>"},
		{"other resource not blocked", "bob@example.test/other", bob, "<message to='" + alice + "' type='chat' id='m'/>", true, ""},
		{"other user not blocked", "carol@example.test", bob, "<presence to='" + alice + "'/>", true, ""},
		{"own resources never blocked", "alice@example.test", alice2, "<message to='" + alice + "' type='chat' id='m'/>", true, ""},
		{"own domain item spares own resources", "example.test", alice2, "<iq to='" + alice + "' type='get' id='q'><ping xmlns='urn:xmpp:ping'/></iq>", true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, 0)
			e.bind(alice, true)
			e.bind(alice2, true)
			e.bind(bob, true)
			e.block(tt.block)
			e.send(tt.from, tt.stanza)
			got := e.streams[alice].Take()
			if tt.deliver != (len(got) == 1) {
				t.Errorf("alice received %v, want delivered=%v", got, tt.deliver)
			}
			if tt.reply == "" {
				e.expect(tt.from)
			} else {
				e.expect(tt.from, tt.reply)
			}
		})
	}
}

// What the user's stanzas to a blocked entity become.
func TestOutbound(t *testing.T) {
	blocked := "<error type='cancel'><not-acceptable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><blocked xmlns='urn:xmpp:blocking:errors'/></error>"
	tests := []struct {
		name    string
		block   string
		stanza  string
		deliver bool
		reply   string
	}{
		{"chat", "bob@example.test", "<message to='" + bob + "' type='chat' id='m'><body>hi</body></message>", false,
			"<message from='" + bob + "' to='" + alice + "' type='error' id='m'>" + blocked + "</message>"},
		{"message to bare", "bob@example.test", "<message to='bob@example.test' id='m'><body>hi</body></message>", false,
			"<message from='bob@example.test' to='" + alice + "' type='error' id='m'>" + blocked + "</message>"},
		{"headline", "bob@example.test", "<message to='" + bob + "' type='headline' id='m'/>", false,
			"<message from='" + bob + "' to='" + alice + "' type='error' id='m'>" + blocked + "</message>"},
		{"directed presence", "bob@example.test", "<presence to='" + bob + "'/>", false,
			"<presence from='" + bob + "' to='" + alice + "' type='error'>" + blocked + "</presence>"},
		{"subscribe", "bob@example.test", "<presence to='bob@example.test' type='subscribe'/>", false,
			"<presence from='bob@example.test' to='" + alice + "' type='error'>" + blocked + "</presence>"},
		{"iq get", "bob@example.test", "<iq to='" + bob + "' type='get' id='q'><ping xmlns='urn:xmpp:ping'/></iq>", false,
			"<iq from='" + bob + "' to='" + alice + "' type='error' id='q'><ping xmlns='urn:xmpp:ping'/>" + blocked + "</iq>"},
		{"iq result", "bob@example.test", "<iq to='" + bob + "' type='result' id='q'/>", false, ""},
		{"message error", "bob@example.test", "<message to='" + bob + "' type='error'><error type='cancel'><gone xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>", false, ""},
		{"remote domain", "montague.net", "<message to='romeo@montague.net' type='chat' id='m'/>", false,
			"<message from='romeo@montague.net' to='" + alice + "' type='error' id='m'>" + blocked + "</message>"},
		{"not blocked", "carol@example.test", "<message to='" + bob + "' type='chat' id='m'/>", true, ""},
		{"own domain item spares own account", "example.test", "<message to='" + alice2 + "' type='chat' id='m'/>", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, 0)
			e.bind(alice, true)
			e.bind(alice2, true)
			e.bind(bob, true)
			e.block(tt.block)
			e.send(alice, tt.stanza)
			got := e.streams[bob].Take()
			if tt.deliver != (len(got) == 1) {
				t.Errorf("bob received %v, want delivered=%v", got, tt.deliver)
			}
			if tt.reply == "" {
				e.expect(alice)
			} else {
				e.expect(alice, tt.reply)
			}
		})
	}
	t.Run("own resource", func(t *testing.T) {
		e := newEnv(t, 0)
		e.bind(alice, true)
		e.bind(alice2, true)
		e.block("alice@example.test")
		e.send(alice, "<message to='"+alice2+"' type='chat' id='m'/>")
		e.expect(alice2, "<message from='"+alice+"' to='"+alice2+"' type='chat' id='m'/>")
		e.expect(alice)
	})
}

// Stanzas the server generates for the user (presence broadcasts, probe
// answers) do not reach the entities the user blocked, and those it
// generates for a blocked entity do not reach the user.
func TestGenerated(t *testing.T) {
	e := newEnv(t, 0)
	e.bind(alice, true)
	e.bind(bob, true)
	e.bind(carol, true)
	e.block("bob@example.test")
	ctx := context.Background()
	pres := func(from, to string) *stanza.Element {
		return stanza.New("", "presence").SetAttr("from", from).SetAttr("to", to)
	}
	e.r.Send(ctx, pres(alice, "bob@example.test"), jid.MustParse(alice), jid.MustParse("bob@example.test"))
	e.r.Send(ctx, pres(alice, bob), jid.MustParse(alice), jid.MustParse(bob))
	e.expect(bob)
	e.r.Send(ctx, pres(bob, alice), jid.MustParse(bob), jid.MustParse(alice))
	e.r.Send(ctx, pres("bob@example.test", "alice@example.test").SetAttr("type", "probe"), jid.MustParse("bob@example.test"), jid.MustParse("alice@example.test"))
	e.expect(alice)
	e.r.Send(ctx, pres(alice, carol), jid.MustParse(alice), jid.MustParse(carol))
	e.expect(carol, "<presence from='"+alice+"' to='"+carol+"'/>")
	// Cancelling a subscription (the user removed the contact) passes.
	for _, typ := range []string{"unsubscribe", "unsubscribed"} {
		e.r.Send(ctx, pres("alice@example.test", "bob@example.test").SetAttr("type", typ), jid.MustParse("alice@example.test"), jid.MustParse("bob@example.test"))
	}
	if got := e.streams[bob].Take(); len(got) != 2 {
		t.Errorf("bob received %v, want the unsubscribe and the unsubscribed", got)
	}
	e.r.Send(ctx, pres("alice@example.test", "bob@example.test").SetAttr("type", "subscribed"), jid.MustParse("alice@example.test"), jid.MustParse("bob@example.test"))
	e.expect(bob)
	// A generated message from a blocked entity is answered as a sent
	// one would be.
	msg := stanza.New("", "message").SetAttr("from", bob).SetAttr("to", alice).SetAttr("type", "chat")
	e.r.Send(ctx, msg, jid.MustParse(bob), jid.MustParse(alice))
	e.expect(alice)
	e.expect(bob, "<message from='"+alice+"' to='"+bob+"' type='error'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>")
}

// Blocking sends unavailable presence from each available resource to
// subscribed entities; unblocking sends presence again, unless another
// item still blocks the entity.
func TestPresenceOnBlockAndUnblock(t *testing.T) {
	e := newEnv(t, 0)
	// bob is subscribed to alice's presence.
	e.h.SetContacts(moduletest.Contacts{Subs: map[string]map[string][2]bool{"alice@example.test": {"bob@example.test": {true, false}}}})
	e.bind(alice, true)
	e.bind(alice2, false) // not available: sends nothing
	e.bind(bob, true)
	e.bind(carol, true)

	e.block("bob@example.test", "carol@example.test")
	e.expect(bob, "<presence from='"+alice+"' to='bob@example.test' type='unavailable'/>")
	e.expect(carol)

	// Blocking again is no change: nothing is sent.
	e.block("bob@example.test")
	e.expect(bob)

	e.send(alice, "<iq type='set' id='u'><unblock xmlns='urn:xmpp:blocking'><item jid='bob@example.test'/><item jid='carol@example.test'/></unblock></iq>")
	e.expect(alice, "<iq type='result' id='u' to='"+alice+"'/>")
	e.expect(bob, "<presence from='"+alice+"' to='bob@example.test'/>")
	e.expect(carol)

	// A full JID item: the presence goes to that resource.
	e.block(bob)
	e.expect(bob, "<presence from='"+alice+"' to='"+bob+"' type='unavailable'/>")
	e.send(alice, "<iq type='set' id='u'><unblock xmlns='urn:xmpp:blocking'/></iq>")
	e.expect(alice, "<iq type='result' id='u' to='"+alice+"'/>")
	e.expect(bob, "<presence from='"+alice+"' to='"+bob+"'/>")

	// Still blocked by the domain: no presence on unblock.
	e.block("bob@example.test", "example.test")
	e.expect(bob, "<presence from='"+alice+"' to='bob@example.test' type='unavailable'/>")
	e.send(alice, "<iq type='set' id='u'><unblock xmlns='urn:xmpp:blocking'><item jid='bob@example.test'/></unblock></iq>")
	e.expect(alice, "<iq type='result' id='u' to='"+alice+"'/>")
	e.expect(bob)
}

// Lists are cached while the account has sessions, dropped with the last
// one, and survive it in the store.
func TestCache(t *testing.T) {
	e := newEnv(t, 0)
	e.bind(alice, true)
	e.bind(alice2, true)
	e.bind(bob, true)
	e.block("bob@example.test")
	now := time.Unix(1000, 0)
	e.svc.lists.recent.Now = func() time.Time { return now }
	cached := func(user string) bool {
		_, ok := e.svc.lists.cached(jid.MustParse(user))
		return ok
	}
	online := func(user string) bool {
		e.svc.lists.mu.RLock()
		defer e.svc.lists.mu.RUnlock()
		_, ok := e.svc.lists.cache[user]
		return ok
	}
	if !online("alice@example.test") {
		t.Fatal("alice's list is not cached while she is online")
	}
	// Routing a stanza from bob loads bob's list; carol is offline, so a
	// message to her (it is refused: no offline storage here) keeps hers
	// only among the recent lists, for recentTTL.
	e.send(bob, "<message to='carol@example.test' type='chat' id='m'/>")
	if !online("bob@example.test") || online("carol@example.test") || !cached("carol@example.test") {
		t.Errorf("online: bob %v, carol %v; carol recent %v; want true, false, true", online("bob@example.test"), online("carol@example.test"), cached("carol@example.test"))
	}
	now = now.Add(recentTTL)
	if cached("carol@example.test") {
		t.Error("carol's list still cached after recentTTL")
	}
	e.unbind(alice)
	if !online("alice@example.test") {
		t.Error("alice's list dropped while alice/b is online")
	}
	e.unbind(alice2)
	if online("alice@example.test") || !cached("alice@example.test") {
		t.Error("alice's list not moved among the recent ones after her last session")
	}
	now = now.Add(recentTTL)
	if cached("alice@example.test") {
		t.Error("alice's list still cached a minute after her last session")
	}
	// The block outlives the sessions.
	e.streams[bob].Take()
	e.bind(alice, true)
	e.send(bob, "<message to='"+alice+"' type='chat' id='m2'/>")
	e.expect(alice)
	if got := e.streams[bob].Take(); len(got) != 1 || stanza.ParseError(got[0]).Condition != stanza.ServiceUnavailable {
		t.Errorf("bob got %v, want service-unavailable", got)
	}
	// The push mark ends with the session.
	e.send(alice, "<iq type='get' id='l'><blocklist xmlns='urn:xmpp:blocking'/></iq>")
	if e.sess[alice].Value(requestedKey{}) == nil {
		t.Fatal("no push mark after <blocklist/>")
	}
	e.unbind(alice)
	if e.sess[alice].Value(requestedKey{}) != nil {
		t.Error("push mark kept after the session ended")
	}
}

// A store that fails: commands get internal-server-error, and nothing that
// may be blocked is delivered.
func TestStoreFailure(t *testing.T) {
	e := newEnv(t, 0)
	e.bind(alice, true)
	e.bind(bob, true)
	e.store.down(true)
	e.send(alice, "<iq type='set' id='b'><block xmlns='urn:xmpp:blocking'><item jid='carol@example.test'/></block></iq>")
	e.send(alice, "<iq type='get' id='l'><blocklist xmlns='urn:xmpp:blocking'/></iq>")
	for _, el := range e.streams[alice].Take() {
		if se := stanza.ParseError(el); se == nil || se.Condition != stanza.InternalServerError {
			t.Errorf("got %s, want internal-server-error", el)
		}
	}
	e.send(bob, "<message to='"+alice+"' type='chat' id='m'/>")
	e.send(bob, "<presence to='"+alice+"'/>")
	e.expect(alice)
	if got := e.streams[bob].Take(); len(got) != 1 || stanza.ParseError(got[0]).Condition != stanza.InternalServerError {
		t.Errorf("bob got %v, want one internal-server-error", got)
	}
	// A failed change leaves nothing half-cached: once the store is
	// back, the list is what the store holds.
	e.store.down(false)
	e.block("bob@example.test")
	e.store.down(true)
	e.send(alice, "<iq type='set' id='b'><block xmlns='urn:xmpp:blocking'><item jid='carol@example.test'/></block></iq>")
	e.streams[alice].Take()
	if _, ok := e.svc.lists.cached(jid.MustParse("alice@example.test")); ok {
		t.Error("list still cached after a failed change")
	}
	e.store.down(false)
	e.send(alice, "<iq type='get' id='l'><blocklist xmlns='urn:xmpp:blocking'/></iq>")
	e.expect(alice, "<iq type='result' id='l' to='"+alice+"'><blocklist xmlns='urn:xmpp:blocking'><item jid='bob@example.test'/></blocklist></iq>")
}

// The feature is advertised for the server and for the account.
func TestFeatures(t *testing.T) {
	e := newEnv(t, 0)
	for _, target := range []router.Target{router.ToHost, router.ToSelf} {
		if !slices.Contains(e.h.Features(target), NS) {
			t.Errorf("target %d lacks %s: %v", target, NS, e.h.Features(target))
		}
	}
	if (Module{}).Name() != "blocking" {
		t.Error("module name")
	}
}

// Concurrent changes and routing keep the cache and the store equal.
func TestConcurrent(t *testing.T) {
	e := newEnv(t, 0)
	e.bind(alice, true)
	e.bind(bob, true)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			j := fmt.Sprintf("u%d@x.test", i)
			e.r.Route(context.Background(), moduletest.Parse(t, "<iq type='set' id='b'><block xmlns='urn:xmpp:blocking'><item jid='"+j+"'/></block></iq>"), jid.MustParse(alice), jid.JID{})
			if i%2 == 0 {
				e.r.Route(context.Background(), moduletest.Parse(t, "<iq type='set' id='u'><unblock xmlns='urn:xmpp:blocking'><item jid='"+j+"'/></unblock></iq>"), jid.MustParse(alice), jid.JID{})
			}
			e.r.Route(context.Background(), moduletest.Parse(t, "<message to='"+alice+"' type='chat'/>"), jid.MustParse(bob), jid.MustParse(alice))
		})
	}
	wg.Wait()
	l, _ := e.svc.lists.cached(jid.MustParse("alice@example.test"))
	m, _ := e.store.Map(context.Background(), "example.test", "alice", storeName)
	if l == nil || len(l.set) != 10 || len(m) != 10 {
		t.Fatalf("cache %v, store %v: want the same 10 items", l, m)
	}
	for k := range m {
		if _, ok := l.set[k]; !ok {
			t.Errorf("%s stored but not cached", k)
		}
	}
}

// An account being removed takes its block list with it at once, even
// from the recent lists.
func TestRecentListForgottenOnAccountRemoval(t *testing.T) {
	e := newEnv(t, 0)
	e.bind(alice, true)
	e.block("bob@example.test")
	e.unbind(alice)
	aliceJID := jid.MustParse("alice@example.test")
	if _, ok := e.svc.lists.cached(aliceJID); !ok {
		t.Fatal("alice's list is not among the recent ones after her session")
	}
	e.h.AccountRemoving.Fire(context.Background(), aliceJID)
	if _, ok := e.svc.lists.cached(aliceJID); ok {
		t.Fatal("alice's list still cached after her account was removed")
	}
}
