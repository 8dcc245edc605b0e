package xmlstream

import (
	"strconv"
	"testing"

	"github.com/starling-xmpp/starling/stanza"
)

const (
	nsRoster = "jabber:iq:roster"
	nsXHTML  = "http://www.w3.org/1999/xhtml"
	nsXHTMLI = "http://jabber.org/protocol/xhtml-im"
)

// el builds an element for expected trees.
func el(space, local string, attrs []stanza.Attr, children ...any) *stanza.Element {
	e := &stanza.Element{Name: stanza.Name{Space: space, Local: local}, Attrs: attrs}
	for _, c := range children {
		switch c := c.(type) {
		case string:
			e.Children = append(e.Children, stanza.Node{Text: c})
		case *stanza.Element:
			e.Children = append(e.Children, stanza.Node{Elem: c})
		}
	}
	return e
}

func at(space, local, value string) stanza.Attr {
	return stanza.Attr{Name: stanza.Name{Space: space, Local: local}, Value: value}
}

func attrs(a ...stanza.Attr) []stanza.Attr { return a }

// Seed 3.2: the stream's default namespace is its content namespace, and
// elements in it get Space "" whichever way they got there.
func TestSeed3_2_ContentNamespace(t *testing.T) {
	tests := []struct {
		name   string
		head   string
		stanza string
		want   *stanza.Element
	}{
		{"client stanza", headC, "<message to='a@b'><body>hi</body></message>",
			el("", "message", attrs(at("", "to", "a@b")), el("", "body", nil, "hi"))},
		{"server stanza", headS, "<presence from='a@example.com'/>",
			el("", "presence", attrs(at("", "from", "a@example.com")))},
		{"explicit content namespace", headC, "<iq xmlns='jabber:client' type='get'/>",
			el("", "iq", attrs(at("", "type", "get")))},
		{"content namespace under a foreign one", headC,
			"<message><x xmlns='urn:x'><body xmlns='jabber:client'>t</body></x></message>",
			el("", "message", nil, el("urn:x", "x", nil, el("", "body", nil, "t")))},
		{"content namespace by prefix", headC, "<c:message xmlns:c='jabber:client'><c:body/></c:message>",
			el("", "message", nil, el("", "body", nil))},
		{"no namespace", headC, "<x xmlns=''><y/></x>",
			el("", "x", nil, el("", "y", nil))},
		{"no namespace under a foreign one", headC, "<iq><q xmlns='urn:q'><i xmlns=''/></q></iq>",
			el("", "iq", nil, el("urn:q", "q", nil, el("", "i", nil)))},
		{"stream prefix", headC, "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>",
			el(stanza.NSStream, "features", nil, el(stanza.NSBind, "bind", nil))},
		{"stream error", headC, "<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>",
			el(stanza.NSStream, "error", nil, el(stanza.NSStreams, "conflict", nil))},
		{"dialback prefix from the header", headS, "<db:result from='a' to='b'>key</db:result>",
			el(stanza.NSDialback, "result", attrs(at("", "from", "a"), at("", "to", "b")), "key")},
		{"foreign default namespace inherited", headC,
			"<iq type='result'><query xmlns='jabber:iq:roster'><item jid='a@b'><group>G</group></item></query></iq>",
			el("", "iq", attrs(at("", "type", "result")),
				el(nsRoster, "query", nil, el(nsRoster, "item", attrs(at("", "jid", "a@b")), el(nsRoster, "group", nil, "G"))))},
		{"prefixed foreign element", headC, "<message><r:request xmlns:r='urn:xmpp:receipts'/></message>",
			el("", "message", nil, el("urn:xmpp:receipts", "request", nil))},
		{"xml:lang", headC, "<message xml:lang='de'><body>Hallo</body></message>",
			el("", "message", attrs(at(stanza.NSXML, "lang", "de")), el("", "body", nil, "Hallo"))},
		{"xml prefix declared explicitly", headC,
			"<message xmlns:xml='http://www.w3.org/XML/1998/namespace' xml:lang='de'/>",
			el("", "message", attrs(at(stanza.NSXML, "lang", "de")))},
		{"namespaced attribute", headC, "<presence xmlns:a='urn:a' a:x='1' x='2'/>",
			el("", "presence", attrs(at("urn:a", "x", "1"), at("", "x", "2")))},
		{"namespaced attribute in the content namespace", headC, "<presence xmlns:c='jabber:client' c:x='1'/>",
			el("", "presence", attrs(at(stanza.NSClient, "x", "1")))},
		{"declaration after use in the same tag", headC, "<p:x a='1' p:b='2' xmlns:p='urn:p'/>",
			el("urn:p", "x", attrs(at("", "a", "1"), at("urn:p", "b", "2")))},
		{"prefix rebound in a child", headC, "<x xmlns:p='urn:1'><p:y xmlns:p='urn:2'/><p:z/></x>",
			el("", "x", nil, el("urn:2", "y", nil), el("urn:1", "z", nil))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := decodeString(tt.head+tt.stanza+Close, Limits{})
			if res.err != ErrStreamEnd || len(res.els) != 1 {
				t.Fatalf("got %d elements, error %v", len(res.els), res.err)
			}
			if d := treeDiff(res.els[0], tt.want); d != "" {
				t.Errorf("%s\ngot  %s\nwant %s", d, res.els[0], tt.want)
			}
			// Parse agrees for the client cases (it knows stream: but not db:).
			if tt.head == headC {
				got, err := Parse([]byte(tt.stanza), stanza.NSClient, Limits{})
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				if d := treeDiff(got, tt.want); d != "" {
					t.Errorf("Parse: %s", d)
				}
			}
		})
	}
}

// Seed 3.2: ReadHeader reports the root's name, prefix and default
// namespace; the caller decides what is acceptable.
func TestSeed3_2_HeaderReporting(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    stanza.Name
		prefix  string
		defNS   string
		attrs   []stanza.Attr
		xmlDecl bool
	}{
		{"client header", "<?xml version='1.0'?>" + headC,
			stanza.Name{Space: stanza.NSStream, Local: "stream"}, "stream", stanza.NSClient,
			attrs(at("", "to", "example.com"), at("", "version", "1.0")), true},
		{"server header with dialback", headS,
			stanza.Name{Space: stanza.NSStream, Local: "stream"}, "stream", stanza.NSServer,
			attrs(at("", "to", "example.net"), at("", "from", "example.com"), at("", "version", "1.0")), false},
		{"other prefix", "<s:stream xmlns:s='http://etherx.jabber.org/streams' xmlns='jabber:client' xml:lang='en'>",
			stanza.Name{Space: stanza.NSStream, Local: "stream"}, "s", stanza.NSClient,
			attrs(at(stanza.NSXML, "lang", "en")), false},
		{"no prefix", "<stream xmlns='jabber:client' to='x'>",
			stanza.Name{Space: stanza.NSClient, Local: "stream"}, "", stanza.NSClient,
			attrs(at("", "to", "x")), false},
		{"default namespace is the stream namespace", "<stream xmlns='http://etherx.jabber.org/streams'>",
			stanza.Name{Space: stanza.NSStream, Local: "stream"}, "", stanza.NSStream, nil, false},
		{"wrong stream namespace", "<stream:stream xmlns='jabber:client' xmlns:stream='urn:wrong'>",
			stanza.Name{Space: "urn:wrong", Local: "stream"}, "stream", stanza.NSClient, nil, false},
		{"no default namespace", "<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>",
			stanza.Name{Space: stanza.NSStream, Local: "stream"}, "stream", "", nil, false},
		{"double quotes and white space", "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone='yes' ?>\r\n\t<stream:stream\n xmlns=\"jabber:client\"\txmlns:stream = \"http://etherx.jabber.org/streams\" id=\"a\tb\" >",
			stanza.Name{Space: stanza.NSStream, Local: "stream"}, "stream", stanza.NSClient,
			attrs(at("", "id", "a b")), true},
		{"UTF-8 byte order mark", "\xEF\xBB\xBF<?xml version='1.0' encoding='utf-8'?>" + headC,
			stanza.Name{Space: stanza.NSStream, Local: "stream"}, "stream", stanza.NSClient,
			attrs(at("", "to", "example.com"), at("", "version", "1.0")), true},
		{"XML 1.1 read as 1.0", "<?xml version='1.1'?><stream xmlns='jabber:client'>",
			stanza.Name{Space: stanza.NSClient, Local: "stream"}, "", stanza.NSClient, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewDecoder(stringsReader(tt.in), Limits{})
			h, err := d.ReadHeader()
			if err != nil {
				t.Fatal(err)
			}
			if h.Name != tt.want || h.Prefix != tt.prefix || h.DefaultNS != tt.defNS || h.XMLDecl != tt.xmlDecl {
				t.Errorf("got %+v", h)
			}
			if len(h.Attrs) != len(tt.attrs) {
				t.Fatalf("attrs %v, want %v", h.Attrs, tt.attrs)
			}
			for i := range h.Attrs {
				if h.Attrs[i] != tt.attrs[i] {
					t.Errorf("attr %d = %v, want %v", i, h.Attrs[i], tt.attrs[i])
				}
			}
			for _, a := range tt.attrs {
				if a.Name.Space == "" && h.Attr(a.Name.Local) != a.Value {
					t.Errorf("Attr(%q) = %q", a.Name.Local, h.Attr(a.Name.Local))
				}
			}
			if h.Attr("nope") != "" {
				t.Errorf("Attr of a missing attribute is not empty")
			}
		})
	}
}

// Seed 3.2: declarations made in a stanza do not outlive it; the root's do.
func TestSeed3_2_PrefixScope(t *testing.T) {
	in := headC + "<a xmlns:p='urn:p'><p:b/></a><p:c/>"
	res := decodeString(in, Limits{})
	if len(res.els) != 1 || condition(res.err) != stanza.StreamNotWellFormed {
		t.Fatalf("got %d elements, %v; want 1 element, then not-well-formed", len(res.els), res.err)
	}
	in = headS + "<db:result/><db:verify/>" + Close
	res = decodeString(in, Limits{})
	if len(res.els) != 2 || res.err != ErrStreamEnd {
		t.Fatalf("got %d elements, %v", len(res.els), res.err)
	}
}

// Past nsLinear bindings in scope, lookups go through an index; shadowing
// and scoping must work the same.
func TestManyNamespaceBindings(t *testing.T) {
	decls := func(prefix, uri string, from, to int) string {
		s := ""
		for i := from; i < to; i++ {
			s += " xmlns:" + prefix + strconv.Itoa(i) + "='" + uri + strconv.Itoa(i) + "'"
		}
		return s
	}
	stanzaXML := "<x" + decls("p", "urn:", 0, 20) + "><y xmlns:p3='urn:shadow'" + decls("q", "urn:q", 0, 20) +
		"><p3:z q7:a='1' p4:b='2'/></y><p3:w/></x>"
	root := "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'" + decls("r", "urn:r", 0, 20) + ">"
	for _, tt := range []struct {
		name string
		in   string
	}{
		{"index from the stanza", headC + stanzaXML + "<r1:v/>"},
		{"index from the header", root + stanzaXML + "<r1:v/>"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := decodeString(tt.in+Close, Limits{})
			x := res.els[0]
			y := x.Children[0].Elem
			z := y.Children[0].Elem
			if z.Name.Space != "urn:shadow" || z.Attrs[0].Name.Space != "urn:q7" || z.Attrs[1].Name.Space != "urn:4" {
				t.Errorf("inner: %s", x)
			}
			if w := x.Children[1].Elem; w.Name.Space != "urn:3" || len(w.Attrs) != 0 {
				t.Errorf("after the shadowing element: %v", res.err)
			}
			if tt.in[:len(root)] == root {
				if res.err != ErrStreamEnd || len(res.els) != 2 || res.els[1].Name.Space != "urn:r1" {
					t.Errorf("header binding: %d elements, %v", len(res.els), res.err)
				}
			} else if condition(res.err) != stanza.StreamNotWellFormed {
				t.Errorf("stanza bindings leaked: %v", res.err)
			}
		})
	}
}
