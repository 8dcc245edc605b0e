package disco

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/starling-xmpp/starling/c2s"
	"github.com/starling-xmpp/starling/config"
	"github.com/starling-xmpp/starling/internal/moduletest"
	"github.com/starling-xmpp/starling/jid"
	"github.com/starling-xmpp/starling/module"
	"github.com/starling-xmpp/starling/modules/ping"
	"github.com/starling-xmpp/starling/router"
	"github.com/starling-xmpp/starling/stanza"
)

// fakeModule registers an IQ handler and a bare feature, as any module
// might.
type fakeModule struct{}

func (fakeModule) Name() string { return "fake" }
func (fakeModule) Register(h *module.Host) error {
	h.HandleIQ(router.ToHost, "get", stanza.Name{Space: "urn:example:fake", Local: "query"},
		func(context.Context, *stanza.Element, jid.JID, jid.JID) (*stanza.Element, error) { return nil, nil })
	h.AddFeature(router.ToHost, "urn:example:feature-only")
	h.HandleIQ(router.ToAccount, "get", stanza.Name{Space: "urn:example:account", Local: "query"},
		func(context.Context, *stanza.Element, jid.JID, jid.JID) (*stanza.Element, error) { return nil, nil })
	return nil
}

// newHost registers mods on a fresh host for example.test, where alice,
// bob and carol have accounts.
func newHost(t *testing.T, mods ...module.Module) *module.Host {
	t.Helper()
	cfg := config.Default()
	cfg.Hosts = []string{"example.test"}
	h := moduletest.NewHost(cfg, moduletest.Accounts{"alice@example.test": true, "bob@example.test": true, "carol@example.test": true})
	for _, m := range mods {
		if err := m.Register(h); err != nil {
			t.Fatalf("register %s: %v", m.Name(), err)
		}
	}
	return h
}

// bind binds full JID j, available or not.
func bind(t *testing.T, h *module.Host, j string, available bool) *moduletest.Stream {
	t.Helper()
	_, fs := moduletest.Bind(t, h.Router, j, available)
	return fs
}

// ask routes an IQ get from a bound full JID and returns the one reply.
func ask(t *testing.T, h *module.Host, fs *moduletest.Stream, from, to string, payload *stanza.Element) *stanza.Element {
	t.Helper()
	iq := stanza.New("", "iq").SetAttr("type", "get").SetAttr("id", "q1").SetAttr("from", from).Append(payload)
	var toJID jid.JID
	if to != "" {
		iq.SetAttr("to", to)
		toJID = jid.MustParse(to)
	}
	h.Router.Route(context.Background(), iq, jid.MustParse(from), toJID)
	got := fs.Take()
	if len(got) != 1 {
		t.Fatalf("got %d replies, want 1: %v", len(got), got)
	}
	return got[0]
}

func query(ns, node string) *stanza.Element {
	q := stanza.New(ns, "query")
	if node != "" {
		q.SetAttr("node", node)
	}
	return q
}

// parsed is a disco answer in comparable form.
type parsed struct {
	errCond    string
	node       string
	identities []string // category/type/name
	features   []string
	items      []string
}

func parse(t *testing.T, reply *stanza.Element) parsed {
	t.Helper()
	var p parsed
	if reply.Attr("type") == "error" {
		if e := stanza.ParseError(reply); e != nil {
			p.errCond = string(e.Condition)
		}
		return p
	}
	q := reply.FirstElement()
	if q == nil {
		t.Fatalf("result without payload: %s", reply)
	}
	p.node = q.Attr("node")
	for c := range q.Elements() {
		switch c.Name.Local {
		case "identity":
			p.identities = append(p.identities, c.Attr("category")+"/"+c.Attr("type")+"/"+c.Attr("name"))
		case "feature":
			p.features = append(p.features, c.Attr("var"))
		case "item":
			p.items = append(p.items, c.Attr("jid"))
		}
	}
	return p
}

func equal(a, b parsed) bool {
	return a.errCond == b.errCond && a.node == b.node && slices.Equal(a.identities, b.identities) &&
		slices.Equal(a.features, b.features) && slices.Equal(a.items, b.items)
}

// streamCaps returns the caps stream feature offered to a stream.
func streamCaps(t *testing.T, h *module.Host, s c2s.StreamInfo) *stanza.Element {
	t.Helper()
	var c *stanza.Element
	for _, el := range h.StreamFeatures(s) {
		if el.Name == (stanza.Name{Space: NSCaps, Local: "c"}) {
			if c != nil {
				t.Fatal("two caps stream features")
			}
			c = el
		}
	}
	if c == nil {
		t.Fatalf("no caps stream feature for %+v", s)
	}
	return c
}

func TestServer(t *testing.T) {
	// fake registers after disco: the answer and the hash must still
	// include it.
	h := newHost(t, Module{}, ping.Module{}, fakeModule{})
	fs := bind(t, h, "alice@example.test/a", true)
	ver := streamCaps(t, h, c2s.StreamInfo{}).Attr("ver")
	serverInfo := parsed{
		identities: []string{"server/im/Starling"},
		features: []string{
			NSCaps, NSInfo, NSItems,
			"urn:example:fake", "urn:example:feature-only", ping.NS,
		},
	}
	withNode := func(p parsed, node string) parsed { p.node = node; return p }
	tests := []struct {
		name    string
		payload *stanza.Element
		want    parsed
	}{
		{"info", query(NSInfo, ""), serverInfo},
		{"info for the caps node", query(NSInfo, CapsNode+"#"+ver), withNode(serverInfo, CapsNode+"#"+ver)},
		{"info for the caps node with another ver", query(NSInfo, CapsNode+"#AAAAAAAAAAAAAAAAAAAAAAAAAAA="), parsed{errCond: "item-not-found"}},
		{"info for the bare caps node", query(NSInfo, CapsNode), parsed{errCond: "item-not-found"}},
		{"info for an unknown node", query(NSInfo, "urn:example:node"), parsed{errCond: "item-not-found"}},
		{"items", query(NSItems, ""), parsed{}},
		{"items for the caps node", query(NSItems, CapsNode+"#"+ver), parsed{errCond: "item-not-found"}},
		{"items for an unknown node", query(NSItems, "urn:example:node"), parsed{errCond: "item-not-found"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reply := ask(t, h, fs, "alice@example.test/a", "example.test", tt.payload)
			if got := parse(t, reply); !equal(got, tt.want) {
				t.Errorf("got %+v\nwant %+v\nreply %s", got, tt.want, reply)
			}
			if reply.Attr("from") != "example.test" || reply.Attr("to") != "alice@example.test/a" || reply.Attr("id") != "q1" {
				t.Errorf("reply addressing: %s", reply)
			}
		})
	}
}

// The ver offered in the stream features is the hash of the disco#info
// answer, offered before and after authentication and over TLS or not.
func TestCapsStreamFeature(t *testing.T) {
	for _, mods := range [][]module.Module{
		{Module{}},
		{Module{}, ping.Module{}},
		{Module{}, ping.Module{}, fakeModule{}},
		{fakeModule{}, Module{}},
	} {
		h := newHost(t, mods...)
		fs := bind(t, h, "alice@example.test/a", true)
		info := parse(t, ask(t, h, fs, "alice@example.test/a", "example.test", query(NSInfo, "")))
		var ids []capsIdentity
		for _, id := range info.identities {
			f := strings.SplitN(id, "/", 3)
			ids = append(ids, capsIdentity{Category: f[0], Type: f[1], Name: f[2]})
		}
		want := capsVer(ids, info.features, nil)
		for _, s := range []c2s.StreamInfo{{}, {Secure: true}, {Secure: true, Authenticated: true}} {
			c := streamCaps(t, h, s)
			if c.Attr("hash") != "sha-1" || c.Attr("node") != CapsNode || c.Attr("ver") != want {
				t.Errorf("%d modules, stream %+v: got %s, want ver %s", len(mods), s, c, want)
			}
		}
	}
}

func TestAccount(t *testing.T) {
	h := newHost(t, Module{}, ping.Module{}, fakeModule{})
	h.SetContacts(moduletest.Contacts{Subs: map[string]map[string][2]bool{
		"alice@example.test": {
			"bob@example.test":   {true, false}, // bob may see alice
			"carol@example.test": {false, true}, // alice sees carol, not the reverse
		},
	}})
	aliceA := bind(t, h, "alice@example.test/a", true)
	bind(t, h, "alice@example.test/b", false)
	bob := bind(t, h, "bob@example.test/b", true)
	carol := bind(t, h, "carol@example.test/c", true)

	accountFeatures := []string{NSInfo, NSItems, "urn:example:account"}
	selfFeatures := []string{NSInfo, NSItems, "urn:example:account", ping.NS}
	identity := []string{"account/registered/"}
	tests := []struct {
		name     string
		fs       *moduletest.Stream
		from, to string
		payload  *stanza.Element
		want     parsed
	}{
		{"self info", aliceA, "alice@example.test/a", "alice@example.test", query(NSInfo, ""),
			parsed{identities: identity, features: selfFeatures}},
		{"self info without to", aliceA, "alice@example.test/a", "", query(NSInfo, ""),
			parsed{identities: identity, features: selfFeatures}},
		{"self items: every resource", aliceA, "alice@example.test/a", "alice@example.test", query(NSItems, ""),
			parsed{items: []string{"alice@example.test/a", "alice@example.test/b"}}},
		{"self info for a node", aliceA, "alice@example.test/a", "alice@example.test", query(NSInfo, "urn:example:node"),
			parsed{errCond: "item-not-found"}},
		{"self items for a node", aliceA, "alice@example.test/a", "", query(NSItems, "urn:example:node"),
			parsed{errCond: "item-not-found"}},
		{"contact info", bob, "bob@example.test/b", "alice@example.test", query(NSInfo, ""),
			parsed{identities: identity, features: accountFeatures}},
		{"contact items: available resources", bob, "bob@example.test/b", "alice@example.test", query(NSItems, ""),
			parsed{items: []string{"alice@example.test/a"}}},
		{"contact info for a node", bob, "bob@example.test/b", "alice@example.test", query(NSInfo, "urn:example:node"),
			parsed{errCond: "item-not-found"}},
		{"subscribed to, not from: info", carol, "carol@example.test/c", "alice@example.test", query(NSInfo, ""),
			parsed{errCond: "service-unavailable"}},
		{"subscribed to, not from: items", carol, "carol@example.test/c", "alice@example.test", query(NSItems, ""),
			parsed{errCond: "service-unavailable"}},
		{"stranger info", bob, "bob@example.test/b", "carol@example.test", query(NSInfo, ""),
			parsed{errCond: "service-unavailable"}},
		{"stranger info for a node", bob, "bob@example.test/b", "carol@example.test", query(NSInfo, "urn:example:node"),
			parsed{errCond: "service-unavailable"}},
		{"stranger items", bob, "bob@example.test/b", "carol@example.test", query(NSItems, ""),
			parsed{errCond: "service-unavailable"}},
		{"no such account: info", bob, "bob@example.test/b", "nobody@example.test", query(NSInfo, ""),
			parsed{errCond: "service-unavailable"}},
		{"no such account: items", bob, "bob@example.test/b", "nobody@example.test", query(NSItems, ""),
			parsed{errCond: "service-unavailable"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reply := ask(t, h, tt.fs, tt.from, tt.to, tt.payload)
			if got := parse(t, reply); !equal(got, tt.want) {
				t.Errorf("got %+v\nwant %+v\nreply %s", got, tt.want, reply)
			}
		})
	}
}

// A failing roster is an internal error, never an answer.
func TestAccountSubscriptionError(t *testing.T) {
	h := newHost(t, Module{})
	h.SetContacts(moduletest.Contacts{Err: errors.New("roster store down")})
	bob := bind(t, h, "bob@example.test/b", true)
	for _, ns := range []string{NSInfo, NSItems} {
		got := parse(t, ask(t, h, bob, "bob@example.test/b", "alice@example.test", query(ns, "")))
		if got.errCond != "internal-server-error" {
			t.Errorf("%s: got %+v, want internal-server-error", ns, got)
		}
	}
}
