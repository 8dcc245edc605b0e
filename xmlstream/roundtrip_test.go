package xmlstream

import (
	"strings"
	"testing"

	"github.com/starling-xmpp/starling/stanza"
)

// Parse → AppendXML → Parse gives an equal tree, in either content
// namespace, and the decoder agrees with Parse.
func TestRoundTrip(t *testing.T) {
	for i, s := range corpus {
		t.Run(corpusName(i, s), func(t *testing.T) {
			a, err := Parse([]byte(s), stanza.NSClient, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if msg := checkShape(a, Limits{}, 1); msg != "" {
				t.Error(msg)
			}
			for _, ns := range []string{stanza.NSClient, stanza.NSServer} {
				out := a.AppendXML(nil, ns)
				b, err := Parse(out, ns, Limits{})
				if err != nil {
					t.Fatalf("%s: reparse: %v\n%s", ns, err, out)
				}
				if d := treeDiff(a, b); d != "" {
					t.Errorf("%s: %s\nin:  %s\nout: %s", ns, d, s, out)
				}
				// Serialisation is stable after one round.
				if again := b.AppendXML(nil, ns); string(again) != string(out) {
					t.Errorf("%s: not stable:\n%s\n%s", ns, out, again)
				}
			}
			res := decodeString(headS+string(a.AppendXML(nil, stanza.NSServer))+Close, Limits{})
			if res.err != ErrStreamEnd || len(res.els) != 1 {
				t.Fatalf("decoder: %d elements, %v", len(res.els), res.err)
			}
			if d := treeDiff(a, res.els[0]); d != "" {
				t.Errorf("decoder: %s", d)
			}
		})
	}
}

func corpusName(i int, s string) string {
	n := s
	if k := strings.IndexAny(n[1:], " />"); k >= 0 {
		n = n[1 : k+1]
	}
	return n + "_" + string(rune('a'+i%26))
}

func TestAppendOpen(t *testing.T) {
	tests := []struct {
		name  string
		decl  bool
		ns    string
		attrs []stanza.Attr
		want  string
	}{
		{"response header", true, stanza.NSClient,
			attrs(at("", "from", "example.com"), at("", "id", "++TR84Sm6A3hnt3Q065SnAbbk3Y="), at(stanza.NSXML, "lang", "en"), at("", "version", "1.0")),
			"<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' from='example.com' id='++TR84Sm6A3hnt3Q065SnAbbk3Y=' xml:lang='en' version='1.0'>"},
		{"server with dialback", false, stanza.NSServer,
			attrs(at("", "xmlns:db", stanza.NSDialback), at("", "to", "a&b")),
			"<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' to='a&amp;b'>"},
		{"escaping and namespaces", false, stanza.NSClient,
			attrs(at("", "id", "<'\"\t\n\r>"), at("urn:x", "a", "1"), at("urn:y", "b", "2"), at("urn:x", "c", "3")),
			"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='&lt;&apos;&quot;&#x9;&#xA;&#xD;&gt;' xmlns:ns1='urn:x' ns1:a='1' xmlns:ns2='urn:y' ns2:b='2' ns1:c='3'>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := AppendOpen([]byte("prefix"), tt.decl, tt.ns, tt.attrs)
			if string(out) != "prefix"+tt.want {
				t.Fatalf("got  %s\nwant %s", out, tt.want)
			}
			h, err := NewDecoder(strings.NewReader(string(out[len("prefix"):])), Limits{}).ReadHeader()
			if err != nil {
				t.Fatal(err)
			}
			if h.DefaultNS != tt.ns || h.Name.Space != stanza.NSStream || h.XMLDecl != tt.decl || h.Prefix != "stream" {
				t.Errorf("read back %+v", h)
			}
			var want []stanza.Attr
			for _, a := range tt.attrs {
				if !strings.HasPrefix(a.Name.Local, "xmlns:") {
					want = append(want, a)
				}
			}
			if len(h.Attrs) != len(want) {
				t.Fatalf("read back %v", h.Attrs)
			}
			for i := range want {
				if h.Attrs[i] != want[i] {
					t.Errorf("attr %v, want %v", h.Attrs[i], want[i])
				}
			}
		})
	}
	if !strings.HasSuffix(string(AppendOpen(nil, false, stanza.NSClient, nil)), "'>") {
		t.Error("no attributes: bad tag")
	}
}

// TestParseStored: what the server stored under larger configured limits
// (a big offline message, a deep private element) reads back, though it
// exceeds the default limits; what is not XML still fails.
func TestParseStored(t *testing.T) {
	big := stanza.New("", "message").SetAttr("to", "bob@localhost").
		Append(stanza.New("", "body").AppendText(strings.Repeat("x", 2*DefaultLimits().MaxStanzaBytes)))
	deep := stanza.New("storage:test", "a")
	for el, i := deep, 0; i < DefaultLimits().MaxDepth+10; i++ {
		c := stanza.New("storage:test", "a")
		el.Append(c)
		el = c
	}
	for _, el := range []*stanza.Element{big, deep} {
		data := el.AppendXML(nil, stanza.NSClient)
		if _, err := Parse(data, stanza.NSClient, Limits{}); err == nil {
			t.Fatalf("%s...: within the default limits, the test proves nothing", data[:20])
		}
		got, err := ParseStored(data)
		if err != nil {
			t.Fatalf("ParseStored(%s...): %v", data[:20], err)
		}
		if again := got.AppendXML(nil, stanza.NSClient); string(again) != string(data) {
			t.Errorf("round trip changed the element")
		}
	}
	if _, err := ParseStored([]byte("<a><b></a>")); err == nil {
		t.Error("malformed data parsed")
	}
}
