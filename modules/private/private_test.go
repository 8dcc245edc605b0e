package private

import (
	"slices"
	"strings"
	"testing"

	"github.com/starling-xmpp/starling/config"
	"github.com/starling-xmpp/starling/internal/moduletest"
	"github.com/starling-xmpp/starling/module"
	"github.com/starling-xmpp/starling/router"
	"github.com/starling-xmpp/starling/stanza"
	"github.com/starling-xmpp/starling/xmlstream"
)

// testHost is a router with the module registered and alice and bob
// online.
type testHost struct {
	h       *module.Host
	streams map[string]*moduletest.Stream // by full JID
}

const maxBytes = 1024

func newTestHost(t *testing.T) *testHost {
	t.Helper()
	cfg := config.Default()
	cfg.Hosts = []string{"example.test"}
	cfg.Private.MaxBytes = maxBytes
	h := moduletest.NewHost(cfg, moduletest.Accounts{"alice@example.test": true, "bob@example.test": true})
	if err := (Module{}).Register(h); err != nil {
		t.Fatal(err)
	}
	th := &testHost{h: h, streams: map[string]*moduletest.Stream{}}
	for _, j := range []string{"alice@example.test/a", "bob@example.test/b"} {
		_, th.streams[j] = moduletest.Bind(t, h.Router, j, false)
	}
	return th
}

// ask routes iq (XML) from a full JID and returns the one reply.
func (th *testHost) ask(t *testing.T, from, iq string) *stanza.Element {
	t.Helper()
	return moduletest.Ask(t, th.h.Router, from, th.streams[from], iq)
}

// canon is an element's XML after a parse round trip, for comparisons.
func canon(t *testing.T, s string) string {
	t.Helper()
	return moduletest.Parse(t, s).String()
}

const (
	alice = "alice@example.test/a"
	bob   = "bob@example.test/b"
)

// sized returns a stored element in urn:example:big whose serialised form
// is exactly n bytes.
func sized(n int) string {
	const open, end = "<big xmlns='urn:example:big'>", "</big>"
	return open + strings.Repeat("x", n-len(open)-len(end)) + end
}

// Steps run in order against one server: each is an IQ and the expected
// result payload ("" for an empty result) or error condition.
func TestPrivate(t *testing.T) {
	bookmarks := `<storage xmlns='storage:bookmarks'><conference jid='theplay@conference.example.test' name='The Play'/></storage>`
	steps := []struct {
		name    string
		from    string
		iq      string
		want    string           // result payload
		wantErr stanza.Condition // or error
	}{
		{"get before any set answers the requested element", alice,
			`<iq type='get' id='1'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/></query></iq>`,
			`<query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/></query>`, ""},
		{"set", alice,
			`<iq type='set' id='2'><query xmlns='jabber:iq:private'>` + bookmarks + `</query></iq>`, "", ""},
		{"get returns what was set", alice,
			`<iq type='get' id='3'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/></query></iq>`,
			`<query xmlns='jabber:iq:private'>` + bookmarks + `</query>`, ""},
		{"get to own bare JID", alice,
			`<iq type='get' id='3b' to='alice@example.test'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/></query></iq>`,
			`<query xmlns='jabber:iq:private'>` + bookmarks + `</query>`, ""},
		{"same namespace, other name: not stored", alice,
			`<iq type='get' id='4'><query xmlns='jabber:iq:private'><other xmlns='storage:bookmarks'/></query></iq>`,
			`<query xmlns='jabber:iq:private'><other xmlns='storage:bookmarks'/></query>`, ""},
		{"accounts are separate", bob,
			`<iq type='get' id='5'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/></query></iq>`,
			`<query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/></query>`, ""},
		{"get on another account", bob,
			`<iq type='get' id='6' to='alice@example.test'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/></query></iq>`,
			"", stanza.Forbidden},
		{"set on another account", bob,
			`<iq type='set' id='7' to='alice@example.test'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/></query></iq>`,
			"", stanza.Forbidden},
		{"get with no child", alice,
			`<iq type='get' id='8'><query xmlns='jabber:iq:private'/></iq>`, "", stanza.NotAcceptable},
		{"set with no child", alice,
			`<iq type='set' id='9'><query xmlns='jabber:iq:private'>text only</query></iq>`, "", stanza.NotAcceptable},
		{"reserved jabber: namespace", alice,
			`<iq type='set' id='10'><query xmlns='jabber:iq:private'><query xmlns='jabber:iq:roster'/></query></iq>`, "", stanza.NotAcceptable},
		{"child inheriting jabber:iq:private", alice,
			`<iq type='get' id='11'><query xmlns='jabber:iq:private'><x/></query></iq>`, "", stanza.NotAcceptable},
		{"jabber:client child", alice,
			`<iq type='set' id='12'><query xmlns='jabber:iq:private'><x xmlns='jabber:client'>a</x></query></iq>`, "", stanza.NotAcceptable},
		{"reserved http://jabber.org/ namespace", alice,
			`<iq type='get' id='13'><query xmlns='jabber:iq:private'><x xmlns='http://jabber.org/protocol/disco#info'/></query></iq>`, "", stanza.NotAcceptable},
		{"reserved vcard-temp", alice,
			`<iq type='set' id='14'><query xmlns='jabber:iq:private'><vCard xmlns='vcard-temp'><FN>A</FN></vCard></query></iq>`, "", stanza.NotAcceptable},
		{"get of two namespaces", alice,
			`<iq type='get' id='15'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/><storage xmlns='storage:rosternotes'/></query></iq>`,
			"", stanza.BadRequest},
		{"set of two namespaces", alice,
			`<iq type='set' id='16'><query xmlns='jabber:iq:private'><a xmlns='urn:example:a'>1</a><b xmlns='urn:example:b'>2</b></query></iq>`,
			"", stanza.BadRequest},
		{"set of one name twice", alice,
			`<iq type='set' id='17'><query xmlns='jabber:iq:private'><a xmlns='urn:example:a'>1</a><a xmlns='urn:example:a'>2</a></query></iq>`,
			"", stanza.BadRequest},
		{"a refused set stores nothing", alice,
			`<iq type='get' id='18'><query xmlns='jabber:iq:private'><a xmlns='urn:example:a'/></query></iq>`,
			`<query xmlns='jabber:iq:private'><a xmlns='urn:example:a'/></query>`, ""},
		{"set of several elements of one namespace", alice,
			`<iq type='set' id='19'><query xmlns='jabber:iq:private'><a xmlns='urn:example:a'>1</a><b xmlns='urn:example:a' v='2'/></query></iq>`,
			"", ""},
		{"get of several elements of one namespace", alice,
			`<iq type='get' id='20'><query xmlns='jabber:iq:private'><b xmlns='urn:example:a'/><a xmlns='urn:example:a'/><c xmlns='urn:example:a'/></query></iq>`,
			`<query xmlns='jabber:iq:private'><b xmlns='urn:example:a' v='2'/><a xmlns='urn:example:a'>1</a><c xmlns='urn:example:a'/></query>`, ""},
		{"an empty element deletes", alice,
			`<iq type='set' id='21'><query xmlns='jabber:iq:private'><a xmlns='urn:example:a'/></query></iq>`, "", ""},
		{"deleted", alice,
			`<iq type='get' id='22'><query xmlns='jabber:iq:private'><a xmlns='urn:example:a'/><b xmlns='urn:example:a'/></query></iq>`,
			`<query xmlns='jabber:iq:private'><a xmlns='urn:example:a'/><b xmlns='urn:example:a' v='2'/></query>`, ""},
		{"exactly max_bytes", alice,
			`<iq type='set' id='23'><query xmlns='jabber:iq:private'>` + sized(maxBytes) + `</query></iq>`, "", ""},
		{"one byte more", alice,
			`<iq type='set' id='24'><query xmlns='jabber:iq:private'>` + sized(maxBytes+1) + `</query></iq>`, "", stanza.NotAcceptable},
		{"the element under the limit stays", alice,
			`<iq type='get' id='25'><query xmlns='jabber:iq:private'><big xmlns='urn:example:big'/></query></iq>`,
			`<query xmlns='jabber:iq:private'>` + sized(maxBytes) + `</query>`, ""},
		{"a nested jabber:client element round-trips", alice,
			`<iq type='set' id='26'><query xmlns='jabber:iq:private'><n xmlns='urn:example:n'><body xmlns='jabber:client'>hi</body><m xmlns:p='urn:p' p:q='r'/></n></query></iq>`,
			"", ""},
		{"read back", alice,
			`<iq type='get' id='27'><query xmlns='jabber:iq:private'><n xmlns='urn:example:n'/></query></iq>`,
			`<query xmlns='jabber:iq:private'><n xmlns='urn:example:n'><body xmlns='jabber:client'>hi</body><m xmlns:p='urn:p' p:q='r'/></n></query>`, ""},
	}
	th := newTestHost(t)
	for _, st := range steps {
		reply := th.ask(t, st.from, st.iq)
		if st.wantErr != "" {
			se := stanza.ParseError(reply)
			if reply.Attr("type") != "error" || se == nil || se.Condition != st.wantErr {
				t.Errorf("%s: got %s, want error %s", st.name, reply, st.wantErr)
			}
			continue
		}
		if reply.Attr("type") != "result" {
			t.Errorf("%s: got %s, want a result", st.name, reply)
			continue
		}
		got := ""
		if p := reply.FirstElement(); p != nil {
			got = p.String()
		}
		want := ""
		if st.want != "" {
			want = canon(t, st.want)
		}
		if got != want {
			t.Errorf("%s:\n got %s\nwant %s", st.name, got, want)
		}
	}
}

// Private storage is a feature of one's own account only.
func TestFeatures(t *testing.T) {
	th := newTestHost(t)
	for _, tt := range []struct {
		target router.Target
		want   bool
	}{
		{router.ToSelf, true},
		{router.ToAccount, false},
		{router.ToHost, false},
	} {
		if got := slices.Contains(th.h.Features(tt.target), NS); got != tt.want {
			t.Errorf("target %d advertises %s: %v, want %v", tt.target, NS, got, tt.want)
		}
	}
}

func TestReserved(t *testing.T) {
	for _, tt := range []struct {
		ns   string
		want bool
	}{
		{"", true},
		{"jabber:iq:private", true},
		{"jabber:x:data", true},
		{"http://jabber.org/protocol/muc", true},
		{"vcard-temp", true},
		{"vcard-temp:x:update", false},
		{"storage:bookmarks", false},
		{"urn:xmpp:bookmarks:1", false},
		{"https://jabber.org/x", false},
		{"jabber", false},
	} {
		if got := reserved(tt.ns); got != tt.want {
			t.Errorf("reserved(%q) = %v, want %v", tt.ns, got, tt.want)
		}
	}
}

func TestSizedHelper(t *testing.T) {
	for _, n := range []int{maxBytes, maxBytes + 1} {
		el, err := xmlstream.Parse([]byte(sized(n)), stanza.NSClient, xmlstream.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if got := len(el.AppendXML(nil, stanza.NSClient)); got != n {
			t.Fatalf("sized(%d) serialises to %d bytes", n, got)
		}
	}
}
