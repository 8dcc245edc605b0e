package stanza

import (
	"bytes"
	"encoding/xml"
	"io"
	"strings"
	"testing"
)

func text(s string) Node { return Node{Text: s} }

func child(e *Element) Node { return Node{Elem: e} }

// Seed 9-1: never send unescaped characters that map to predefined
// entities, nor characters XML cannot carry.
func TestSeed9_1_EscapeOnOutput(t *testing.T) {
	tests := []struct {
		name string
		in   string
		text string // as character data
		attr string // as an attribute value
	}{
		{"plain", "hello", "hello", "hello"},
		{"predefined entities", `&<>"'`, "&amp;&lt;&gt;&quot;&apos;", "&amp;&lt;&gt;&quot;&apos;"},
		{"entity-like text", "&amp; &#65;", "&amp;amp; &amp;#65;", "&amp;amp; &amp;#65;"},
		{"CDATA end", "]]>", "]]&gt;", "]]&gt;"},
		{"tab and line feed", "a\tb\nc", "a\tb\nc", "a&#x9;b&#xA;c"},
		{"carriage return", "a\r\nb\r", "a&#xD;\nb&#xD;", "a&#xD;&#xA;b&#xD;"},
		{"control characters", "a\x00b\x01c\x1fd\x7f", "a\uFFFDb\uFFFDc\uFFFDd\x7f", "a\uFFFDb\uFFFDc\uFFFDd\x7f"},
		{"non-characters", "\uFFFE\uFFFF", "\uFFFD\uFFFD", "\uFFFD\uFFFD"},
		{"invalid UTF-8", "a\xffb\xc3", "a\uFFFDb\uFFFD", "a\uFFFDb\uFFFD"},
		{"encoded surrogate", "\xed\xa0\x80", "\uFFFD\uFFFD\uFFFD", "\uFFFD\uFFFD\uFFFD"},
		{"non-ASCII", "été 日本 😀 \u0085 \uFFFD", "été 日本 😀 \u0085 \uFFFD", "été 日本 😀 \u0085 \uFFFD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &Element{Name: Name{Local: "body"}, Children: []Node{text(tt.in)}}
			if got, want := e.String(), "<body>"+tt.text+"</body>"; got != want {
				t.Errorf("text: got %q, want %q", got, want)
			}
			e = New("", "x").SetAttr("v", tt.in)
			if got, want := e.String(), "<x v='"+tt.attr+"'/>"; got != want {
				t.Errorf("attribute: got %q, want %q", got, want)
			}
			// Whatever we write, a strict parser reads back, and valid
			// input comes back unchanged.
			e = New("", "x").SetAttr("v", tt.in).AppendText(tt.in)
			got := readBack(t, e.AppendXML(nil, NSClient))
			if want := SanitizeText(strings.ToValidUTF8(tt.in, "\uFFFD")); tt.name != "encoded surrogate" && (got.Attr("v") != want || got.Text() != want) {
				t.Errorf("read back %q / %q, want %q", got.Attr("v"), got.Text(), want)
			}
		})
	}
}

// readBack parses out with encoding/xml inside a client stream.
func readBack(t *testing.T, out []byte) *Element {
	t.Helper()
	in := "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>" + string(out) + "</stream:stream>"
	d := xml.NewDecoder(strings.NewReader(in))
	var stack []*Element
	var top *Element
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return top
		}
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			sp := tok.Name.Space
			if sp == NSClient {
				sp = ""
			}
			e := New(sp, tok.Name.Local)
			for _, a := range tok.Attr {
				if a.Name.Space != "xmlns" && !(a.Name.Space == "" && a.Name.Local == "xmlns") {
					e.SetAttrNS(a.Name.Space, a.Name.Local, a.Value)
				}
			}
			if len(stack) == 1 {
				top = e
			} else if len(stack) > 1 {
				stack[len(stack)-1].Append(e)
			}
			stack = append(stack, e)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 1 {
				stack[len(stack)-1].AppendText(string(tok))
			}
		case xml.Comment, xml.ProcInst, xml.Directive:
			t.Fatalf("restricted construct in %s", out)
		}
	}
}

func TestAppendXMLNamespaces(t *testing.T) {
	tests := []struct {
		name string
		el   *Element
		ns   string
		want string
	}{
		{"stanza", New("", "message").SetAttr("to", "a@b").Append(New("", "body").AppendText("hi")), NSClient,
			"<message to='a@b'><body>hi</body></message>"},
		{"stanza for a server stream", New("", "presence"), NSServer, "<presence/>"},
		{"explicit content namespace", New(NSServer, "iq").Append(New("", "x")), NSServer, "<iq><x/></iq>"},
		{"content namespace of the other stream", New(NSClient, "iq"), NSServer, "<iq xmlns='jabber:client'/>"},
		{"stream features", New(NSStream, "features").Append(New(NSTLS, "starttls").Append(New(NSTLS, "required"))), NSClient,
			"<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>"},
		{"stream error", (&StreamError{Condition: StreamConflict}).Element(), NSClient,
			"<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>"},
		{"content child of stream element", New(NSStream, "features").Append(New("", "x")), NSClient,
			"<stream:features><x/></stream:features>"},
		{"foreign top level", New(NSSASL, "success"), NSClient, "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"},
		{"foreign child", New("", "iq").Append(New("jabber:iq:roster", "query").Append(New("jabber:iq:roster", "item"))), NSClient,
			"<iq><query xmlns='jabber:iq:roster'><item/></query></iq>"},
		{"content child of foreign parent", New("", "message").Append(New("urn:x", "forwarded").Append(New("", "message").Append(New("", "body")))), NSServer,
			"<message><forwarded xmlns='urn:x'><message xmlns='jabber:server'><body/></message></forwarded></message>"},
		{"stream child of foreign parent", New("urn:x", "x").Append(New(NSStream, "y").Append(New("urn:x", "z"))), NSClient,
			"<x xmlns='urn:x'><stream:y><z/></stream:y></x>"},
		{"no content namespace", New("urn:x", "x").Append(New("", "y")), "", "<x xmlns='urn:x'><y xmlns=''/></x>"},
		{"xml:lang", New("", "message").SetAttrNS(NSXML, "lang", "en"), NSClient, "<message xml:lang='en'/>"},
		{"element in the XML namespace", New("", "a").Append(New(NSXML, "b").Append(New("", "c"))), NSClient, "<a><xml:b><c/></xml:b></a>"},
		{"namespaced attributes", New("", "x").SetAttrNS("urn:a", "p", "1").SetAttr("p", "2").SetAttrNS("urn:b", "q", "3").SetAttrNS("urn:a", "r", "4"), NSClient,
			"<x xmlns:ns1='urn:a' ns1:p='1' p='2' xmlns:ns2='urn:b' ns2:q='3' ns1:r='4'/>"},
		{"attribute in the content namespace", New("", "x").SetAttrNS(NSClient, "p", "1"), NSClient,
			"<x xmlns:ns1='jabber:client' ns1:p='1'/>"},
		{"prefixes are per element", New("", "x").SetAttrNS("urn:a", "p", "1").Append(New("", "y").SetAttrNS("urn:b", "q", "2")), NSClient,
			"<x xmlns:ns1='urn:a' ns1:p='1'><y xmlns:ns1='urn:b' ns1:q='2'/></x>"},
		{"namespace declarations skipped", New("", "x").SetAttr("xmlns", "urn:evil").SetAttr("xmlns:p", "urn:p").SetAttrNS("http://www.w3.org/2000/xmlns/", "q", "urn:q").SetAttr("a", "b"), NSClient,
			"<x a='b'/>"},
		{"escaped namespace", New("urn:a&b", "x"), NSClient, "<x xmlns='urn:a&amp;b'/>"},
		{"empty text is no content", &Element{Name: Name{Local: "x"}, Children: []Node{text("")}}, NSClient, "<x/>"},
		{"mixed content", New("", "p").AppendText("a ").Append(New("", "b").AppendText("b")).AppendText(" c"), NSClient, "<p>a <b>b</b> c</p>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(tt.el.AppendXML([]byte("keep"), tt.ns))
			if got != "keep"+tt.want {
				t.Errorf("got  %s\nwant %s", got[4:], tt.want)
			}
			if tt.ns == NSClient {
				readBack(t, []byte(tt.want))
			}
		})
	}
	var nilEl *Element
	if got := nilEl.AppendXML([]byte("x"), NSClient); string(got) != "x" {
		t.Errorf("nil element: %q", got)
	}
}

func TestString(t *testing.T) {
	e := New("", "message").SetAttr("type", "chat").Append(New("", "body").AppendText("a<b"))
	if got := e.String(); got != "<message type='chat'><body>a&lt;b</body></message>" {
		t.Errorf("got %s", got)
	}
	if got := ErrorReply(e, NewError(BadRequest, "")).String(); !strings.Contains(got, "<bad-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>") {
		t.Errorf("got %s", got)
	}
}

func BenchmarkAppendXMLMessage(b *testing.B) {
	e := New("", "message").SetAttr("to", "juliet@example.com").SetAttr("from", "romeo@example.net/orchard").
		SetAttr("type", "chat").SetAttr("id", "ktx72v49").SetAttrNS(NSXML, "lang", "en").
		Append(New("", "body").AppendText("Art thou not Romeo, and a Montague? <grin> & \"so\" on")).
		Append(New("http://jabber.org/protocol/chatstates", "active"))
	buf := e.AppendXML(nil, NSClient)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for range b.N {
		buf = e.AppendXML(buf[:0], NSServer)
	}
	_ = bytes.Clone(buf)
}

// TestAppendStandalone: each element carries its own namespace
// declarations, so that it parses as a document by itself (RFC 7395).
func TestAppendStandalone(t *testing.T) {
	for _, tc := range []struct {
		el   *Element
		want string
	}{
		{New("", "message").SetAttr("to", "a@b").Append(New("", "body").AppendText("hi")),
			"<message xmlns='jabber:client' to='a@b'><body>hi</body></message>"},
		{New(NSStream, "features").Append(New(NSBind, "bind")),
			"<stream:features xmlns:stream='http://etherx.jabber.org/streams'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>"},
		{New(NSStream, "error").Append(New(NSStreams, "conflict")),
			"<stream:error xmlns:stream='http://etherx.jabber.org/streams'><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>"},
		{New(NSSASL, "success"), "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"},
	} {
		if got := string(tc.el.AppendStandalone([]byte("prefix"), NSClient)); got != "prefix"+tc.want {
			t.Errorf("got %s\nwant prefix%s", got, tc.want)
		}
	}
}
