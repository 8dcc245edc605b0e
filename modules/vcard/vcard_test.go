package vcard

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

// testHost is a router with the module registered and alice, bob and
// carol online.
type testHost struct {
	h       *module.Host
	streams map[string]*moduletest.Stream // by full JID
}

const maxBytes = 1024

func newTestHost(t *testing.T) *testHost {
	t.Helper()
	cfg := config.Default()
	cfg.Hosts = []string{"example.test"}
	cfg.VCard.MaxBytes = maxBytes
	h := moduletest.NewHost(cfg, moduletest.Accounts{"alice@example.test": true, "bob@example.test": true, "carol@example.test": true})
	if err := (Module{}).Register(h); err != nil {
		t.Fatal(err)
	}
	th := &testHost{h: h, streams: map[string]*moduletest.Stream{}}
	for _, j := range []string{"alice@example.test/a", "bob@example.test/b", "carol@example.test/c"} {
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
	carol = "carol@example.test/c"
)

// sized returns a vCard whose serialised form is exactly n bytes, most of
// it a PHOTO.
func sized(n int) string {
	const open, end = "<vCard xmlns='vcard-temp'><PHOTO><TYPE>image/png</TYPE><BINVAL>", "</BINVAL></PHOTO></vCard>"
	return open + strings.Repeat("A", n-len(open)-len(end)) + end
}

// Steps run in order against one server: each is an IQ and the expected
// result payload ("" for an empty result) or error condition.
func TestVCard(t *testing.T) {
	card := `<vCard xmlns='vcard-temp'><FN>Alice Liddell</FN><N><FAMILY>Liddell</FAMILY><GIVEN>Alice</GIVEN><MIDDLE/></N><NICKNAME>alice</NICKNAME></vCard>`
	card2 := `<vCard xmlns='vcard-temp'><NICKNAME>al</NICKNAME></vCard>`
	steps := []struct {
		name    string
		from    string
		iq      string
		want    string           // result payload
		wantErr stanza.Condition // or error
	}{
		{"own vCard before any set: empty", alice,
			`<iq type='get' id='1'><vCard xmlns='vcard-temp'/></iq>`, `<vCard xmlns='vcard-temp'/>`, ""},
		{"another's vCard before any set", bob,
			`<iq type='get' id='2' to='alice@example.test'><vCard xmlns='vcard-temp'/></iq>`, "", stanza.ServiceUnavailable},
		{"an account that does not exist gets the same error", bob,
			`<iq type='get' id='3' to='nobody@example.test'><vCard xmlns='vcard-temp'/></iq>`, "", stanza.ServiceUnavailable},
		{"set", alice,
			`<iq type='set' id='4'>` + card + `</iq>`, "", ""},
		{"own get", alice,
			`<iq type='get' id='5'><vCard xmlns='vcard-temp'/></iq>`, card, ""},
		{"own get to the bare JID", alice,
			`<iq type='get' id='5b' to='alice@example.test'><vCard xmlns='vcard-temp'/></iq>`, card, ""},
		{"another user reads it", bob,
			`<iq type='get' id='6' to='alice@example.test'><vCard xmlns='vcard-temp'/></iq>`, card, ""},
		{"accounts are separate", carol,
			`<iq type='get' id='7'><vCard xmlns='vcard-temp'/></iq>`, `<vCard xmlns='vcard-temp'/>`, ""},
		{"set on another account", bob,
			`<iq type='set' id='8' to='alice@example.test'>` + card2 + `</iq>`, "", stanza.Forbidden},
		{"set on the server", bob,
			`<iq type='set' id='9' to='example.test'>` + card2 + `</iq>`, "", stanza.Forbidden},
		{"the refused sets changed nothing", carol,
			`<iq type='get' id='10' to='alice@example.test'><vCard xmlns='vcard-temp'/></iq>`, card, ""},
		{"a set replaces the whole vCard", alice,
			`<iq type='set' id='11'>` + card2 + `</iq>`, "", ""},
		{"replaced", bob,
			`<iq type='get' id='12' to='alice@example.test'><vCard xmlns='vcard-temp'/></iq>`, card2, ""},
		{"exactly max_bytes", bob,
			`<iq type='set' id='13'>` + sized(maxBytes) + `</iq>`, "", ""},
		{"stored", alice,
			`<iq type='get' id='14' to='bob@example.test'><vCard xmlns='vcard-temp'/></iq>`, sized(maxBytes), ""},
		{"one byte more", bob,
			`<iq type='set' id='15'>` + sized(maxBytes+1) + `</iq>`, "", stanza.NotAcceptable},
		{"the refused vCard changed nothing", alice,
			`<iq type='get' id='16' to='bob@example.test'><vCard xmlns='vcard-temp'/></iq>`, sized(maxBytes), ""},
		{"an empty vCard deletes", alice,
			`<iq type='set' id='17'><vCard xmlns='vcard-temp'/></iq>`, "", ""},
		{"deleted: others get service-unavailable", bob,
			`<iq type='get' id='18' to='alice@example.test'><vCard xmlns='vcard-temp'/></iq>`, "", stanza.ServiceUnavailable},
		{"deleted: the owner gets an empty vCard", alice,
			`<iq type='get' id='19'><vCard xmlns='vcard-temp'/></iq>`, `<vCard xmlns='vcard-temp'/>`, ""},
		{"the server has no vCard", alice,
			`<iq type='get' id='20' to='example.test'><vCard xmlns='vcard-temp'/></iq>`, "", stanza.ServiceUnavailable},
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

// vcard-temp is advertised on the server (XEP-0054 §4) and on accounts.
func TestFeatures(t *testing.T) {
	th := newTestHost(t)
	for _, target := range []router.Target{router.ToHost, router.ToAccount, router.ToSelf} {
		if !slices.Contains(th.h.Features(target), NS) {
			t.Errorf("target %d does not advertise %s: %v", target, NS, th.h.Features(target))
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
