package xmlstream

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/starling-xmpp/starling/stanza"
)

// sampleStream exercises most of the syntax: declaration, keepalives,
// CDATA, references, CRLF, namespaces, nesting, the closing tag.
const sampleStream = "\xEF\xBB\xBF<?xml version='1.0' encoding='UTF-8'?>\n" + headC +
	" \n <stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>\r\n" +
	"<message to='juliet@example.com/balcony' from='romeo@example.net/orchard' type='chat' xml:lang='en' id='m1'>" +
	"<body>Wherefore art thou, &lt;Romeo&gt;? &#x1F339; &#233;\r\nline2\rline3</body>" +
	"<thread>e0ffe42b28561960c6b12b944a092794b9683a38</thread>" +
	"<html xmlns='http://jabber.org/protocol/xhtml-im'><body xmlns='http://www.w3.org/1999/xhtml'><p>Hi <b>there</b> <![CDATA[<you>]]>!</p></body></html>" +
	"</message>\t\t" +
	"<presence><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='https://example.org' ver='QgayPKawpkPSDYmwT/WM94uAlu0='/><priority>5</priority></presence>" +
	"<iq type='set' id='r1'><query xmlns='jabber:iq:roster'><item jid='nurse@example.com' name='Nurse&apos;s &quot;friend&quot;\tx'><group>Servants</group></item></query></iq>" +
	"   " + Close + "trailing junk that is never read"

func TestWhitespaceKeepalives(t *testing.T) {
	in := headC + " " + "\n" + "\r\n\t  " + "<presence/>" + strings.Repeat(" ", 10000) + "\n<message/>\n\n" + Close
	res := decodeString(in, Limits{})
	if res.err != ErrStreamEnd || len(res.els) != 2 {
		t.Fatalf("got %d elements, %v", len(res.els), res.err)
	}
	// A megabyte of keepalives does not grow the buffer.
	d := NewDecoder(io.MultiReader(strings.NewReader(headC), strings.NewReader(strings.Repeat(" ", 1<<20))), Limits{MaxStanzaBytes: 1000})
	if _, err := d.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Next(); err != io.EOF {
		t.Fatalf("got %v, want io.EOF", err)
	}
	if len(d.buf) != idleBufSize {
		t.Errorf("buffer is %d bytes after keepalives", len(d.buf))
	}
}

// Input delivered in any pieces gives exactly the same results, errors and
// their byte offsets included.
func TestPartialInput(t *testing.T) {
	inputs := map[string]string{
		"sample":           sampleStream,
		"restricted":       headC + "<message><body>x</body></message><presence><!-- x --></presence>",
		"too deep":         headC + "<a><b><c><d><e><f><g><h><i/></h></g></f></e></d></c></b></a>",
		"too big":          headC + "<message><body>" + strings.Repeat("0123456789", 60) + "</body></message>",
		"top-level text":   headC + "<a/> x",
		"mismatched":       headC + "<a><b></a></b>",
		"unexpected EOF":   headC + "<a><b>",
		"EOF in header":    "<?xml version='1.0'?><stream:stream xmlns='jabber:client' ",
		"CDATA everywhere": headC + "<a><![CDATA[]]><![CDATA[]]]]><![CDATA[>]]]><![CDATA[<]]></a>" + Close,
		"comment in CDATA": headC + "<a><![CDATA[<!-- not a comment -->]]></a>" + Close,
		"quotes in tags":   headC + "<a x='>' y=\"'/>\"/><b z='</b>'></b>" + Close,
		"BOM then UTF-16":  "\xEF\xBB\xBF\x00<",
		"long header":      "<stream xmlns='jabber:client' id='" + strings.Repeat("x", 700) + "'>",
	}
	lim := Limits{MaxStanzaBytes: 500, MaxDepth: 7, MaxAttrs: 8}
	for name, in := range inputs {
		t.Run(name, func(t *testing.T) {
			want := decodeString(in, lim)
			check := func(how string, got result) {
				t.Helper()
				if !sameResult(got, want) {
					t.Errorf("%s: got %d elements, %v; want %d elements, %v", how, len(got.els), got.err, len(want.els), want.err)
				}
			}
			check("one byte", decodeAll(iotest.OneByteReader(strings.NewReader(in)), lim))
			check("half", decodeAll(iotest.HalfReader(strings.NewReader(in)), lim))
			check("data with EOF", decodeAll(iotest.DataErrReader(strings.NewReader(in)), lim))
			check("odd chunks", decodeAll(&chunkReader{data: []byte(in), sizes: []int{3, 1, 7, 2, 600}}, lim))
			for k := 1; k < len(in); k++ {
				check("split", decodeAll(splitReader([]byte(in), k), lim))
			}
		})
	}
	res := decodeString(sampleStream, Limits{})
	if res.err != ErrStreamEnd || len(res.els) != 4 {
		t.Fatalf("sample: %d elements, %v", len(res.els), res.err)
	}
}

func sameResult(a, b result) bool {
	if (a.hdr == nil) != (b.hdr == nil) || len(a.els) != len(b.els) {
		return false
	}
	if (a.err == nil) != (b.err == nil) || a.err != nil && a.err.Error() != b.err.Error() {
		return false
	}
	for i := range a.els {
		if treeDiff(a.els[i], b.els[i]) != "" {
			return false
		}
	}
	return true
}

// A large stanza arriving one byte at a time costs linear time: the framer
// resumes where it stopped instead of rescanning.
func TestLargeStanzaSmallReads(t *testing.T) {
	const size = 1 << 20
	body := strings.Repeat("<b x='1'>text &amp; more</b>", size/28)
	in := headC + "<message>" + body + "</message>" + Close
	lim := Limits{MaxStanzaBytes: 2 << 20, MaxAttrs: 4}
	start := time.Now()
	res := decodeAll(iotest.OneByteReader(strings.NewReader(in)), lim)
	if res.err != ErrStreamEnd || len(res.els) != 1 {
		t.Fatalf("got %d elements, %v", len(res.els), res.err)
	}
	if el := res.els[0]; el.NumElements() != size/28 {
		t.Errorf("got %d children", el.NumElements())
	}
	// Quadratic rescanning would take hours; linear takes well under a second.
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestStreamEnd(t *testing.T) {
	d := NewDecoder(strings.NewReader(headC+"<presence/></stream:stream >"+"<message/>"), Limits{})
	if _, err := d.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Next(); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := d.Next(); err != ErrStreamEnd {
			t.Fatalf("got %v, want ErrStreamEnd", err)
		}
	}
	if string(d.Buffered()) != "<message/>" {
		t.Errorf("Buffered() = %q", d.Buffered())
	}
	// Another prefix for the root is matched literally.
	res := decodeString("<s:stream xmlns:s='http://etherx.jabber.org/streams' xmlns='jabber:client'><a/></s:stream>", Limits{})
	if res.err != ErrStreamEnd || len(res.els) != 1 {
		t.Errorf("got %d elements, %v", len(res.els), res.err)
	}
}

func TestEOF(t *testing.T) {
	tests := []struct {
		name string
		in   string
		els  int
		want error
	}{
		{"nothing", "", 0, io.EOF},
		{"in XML declaration", "<?xml version=", 0, io.ErrUnexpectedEOF},
		{"in header", "<stream:stream xmlns='jabber:client'", 0, io.ErrUnexpectedEOF},
		{"after BOM", "\xEF\xBB\xBF", 0, io.ErrUnexpectedEOF},
		{"after header", headC, 0, io.EOF},
		{"after keepalive", headC + "  ", 0, io.EOF},
		{"between stanzas", headC + "<a/><b/>\n", 2, io.EOF},
		{"in a start tag", headC + "<a/><message to='x", 1, io.ErrUnexpectedEOF},
		{"in an element", headC + "<message><body>hi</body>", 0, io.ErrUnexpectedEOF},
		{"in CDATA", headC + "<a><![CDATA[x]]", 0, io.ErrUnexpectedEOF},
		{"in the closing tag", headC + "</stream:str", 0, io.ErrUnexpectedEOF},
		{"after '<'", headC + "<", 0, io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, r := range []io.Reader{strings.NewReader(tt.in), iotest.DataErrReader(strings.NewReader(tt.in))} {
				res := decodeAll(r, Limits{})
				if res.err != tt.want || len(res.els) != tt.els {
					t.Errorf("got %d elements, %v; want %d, %v", len(res.els), res.err, tt.els, tt.want)
				}
			}
		})
	}
}

// timeoutReader fails once with a timeout, then reads on.
type timeoutReader struct {
	r     io.Reader
	every int
	n     int
}

func (r *timeoutReader) Read(p []byte) (int, error) {
	r.n++
	if r.n%r.every == 0 {
		return 0, os.ErrDeadlineExceeded
	}
	return r.r.Read(p[:min(len(p), 5)])
}

// Read errors are returned unchanged and are not sticky: the caller can
// extend a deadline and carry on.
func TestReadErrorNotSticky(t *testing.T) {
	d := NewDecoder(&timeoutReader{r: strings.NewReader(sampleStream), every: 3}, Limits{})
	var hdr *Header
	var els []*stanza.Element
	timeouts := 0
	for {
		var err error
		if hdr == nil {
			hdr, err = d.ReadHeader()
		} else {
			var el *stanza.Element
			if el, err = d.Next(); el != nil {
				els = append(els, el)
			}
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			timeouts++
			continue
		}
		if err == ErrStreamEnd {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	want := decodeString(sampleStream, Limits{})
	if !sameResult(result{hdr: hdr, els: els, err: ErrStreamEnd}, want) || timeouts == 0 {
		t.Errorf("got %d elements after %d timeouts", len(els), timeouts)
	}
}

func TestDeadDecoder(t *testing.T) {
	d := NewDecoder(strings.NewReader(headC+"<a><!-- x --></a><b/>"), Limits{})
	if _, err := d.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	_, err := d.Next()
	if condition(err) != stanza.StreamRestrictedXML {
		t.Fatalf("got %v", err)
	}
	if _, err2 := d.Next(); err2 != err {
		t.Errorf("Next after error: %v", err2)
	}
	d.Restart()
	if _, err2 := d.ReadHeader(); err2 != err {
		t.Errorf("ReadHeader after Restart after error: %v", err2)
	}
	d.Reset(strings.NewReader(headC + "<b/>"))
	if _, err := d.ReadHeader(); err != nil {
		t.Errorf("after Reset: %v", err)
	}
}

func TestMisuse(t *testing.T) {
	d := NewDecoder(strings.NewReader(headC+headC), Limits{})
	if _, err := d.Next(); err == nil || condition(err) != "" {
		t.Errorf("Next before ReadHeader: %v", err)
	}
	if _, err := d.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.ReadHeader(); err == nil || condition(err) != "" {
		t.Errorf("ReadHeader twice: %v", err)
	}
}

// SASL success: the client restarts the stream on the same transport,
// often in the same packet as its last element.
func TestRestart(t *testing.T) {
	in := headS + "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>=</auth>" +
		"<?xml version='1.0'?>" + strings.Replace(headC, "example.com", "second.example", 1) +
		"<db:result/>"
	d := NewDecoder(strings.NewReader(in), Limits{})
	h, err := d.ReadHeader()
	if err != nil || h.DefaultNS != stanza.NSServer {
		t.Fatal(h, err)
	}
	el, err := d.Next()
	if err != nil || el.Name.Local != "auth" {
		t.Fatal(el, err)
	}
	d.Restart()
	if _, err := d.Next(); err == nil {
		t.Error("Next right after Restart succeeded")
	}
	h, err = d.ReadHeader()
	if err != nil {
		t.Fatal(err)
	}
	if h.Attr("to") != "second.example" || h.DefaultNS != stanza.NSClient || !h.XMLDecl {
		t.Errorf("second header %+v", h)
	}
	// The old stream's db: prefix is gone.
	if _, err := d.Next(); condition(err) != stanza.StreamNotWellFormed {
		t.Errorf("got %v, want not-well-formed", err)
	}
}

// STARTTLS: the server checks that nothing but white space followed
// <starttls/>, then switches the decoder to the TLS connection.
func TestResetAndBuffered(t *testing.T) {
	d := NewDecoder(strings.NewReader(headC+"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/> \n"), Limits{})
	if _, err := d.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Next(); err != nil {
		t.Fatal(err)
	}
	if b := d.Buffered(); string(b) != " \n" {
		t.Errorf("Buffered() = %q", b)
	}
	d = NewDecoder(strings.NewReader(headC+"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/><message>injected</message>"), Limits{})
	if _, err := d.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Next(); err != nil {
		t.Fatal(err)
	}
	b := d.Buffered()
	if string(b) != "<message>injected</message>" {
		t.Errorf("Buffered() = %q", b)
	}
	b[0] = 'X' // a copy: the decoder is unaffected
	if d.Buffered()[0] != '<' {
		t.Error("Buffered returned the decoder's own memory")
	}
	d.Reset(strings.NewReader("<?xml version='1.0'?>" + headC + "<presence/>"))
	if d.Buffered() != nil {
		t.Errorf("Buffered() after Reset = %q", d.Buffered())
	}
	if _, err := d.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	el, err := d.Next()
	if err != nil || el.Name.Local != "presence" {
		t.Fatal(el, err)
	}
	if d.Buffered() != nil {
		t.Errorf("Buffered() = %q", d.Buffered())
	}
}

// Returned elements must not change when the decoder reuses its buffer.
func TestNoAliasing(t *testing.T) {
	in := headC + "<message id='first'><body>one &amp; two</body></message>"
	for range 200 {
		in += "<message id='xxxxx'><body>zzzzzzzzzzzzzzzzzzzzzzzz</body></message>"
	}
	d := NewDecoder(iotest.HalfReader(strings.NewReader(in)), Limits{})
	if _, err := d.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	first, err := d.Next()
	if err != nil {
		t.Fatal(err)
	}
	want := first.String()
	for {
		if _, err := d.Next(); err != nil {
			break
		}
	}
	if got := first.String(); got != want {
		t.Errorf("first element changed to %s", got)
	}
	// Appending to a returned slice never writes into a neighbour.
	p, err := Parse([]byte("<a><b x='1'><x/></b><c y='2'><y/></c></a>"), "", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	b, c := p.Children[0].Elem, p.Children[1].Elem
	b.Attrs = append(b.Attrs, at("", "z", "3"))
	b.Children = append(b.Children, stanza.Node{Text: "t"})
	if c.Attrs[0].Name.Local != "y" || c.Children[0].Elem.Name.Local != "y" || len(p.Children) != 2 {
		t.Errorf("append wrote into shared capacity: %s", p)
	}
}

// An idle decoder holds a small buffer; a big stanza grows it and it
// shrinks back afterwards.
func TestBufferShrinks(t *testing.T) {
	big := "<message><body>" + strings.Repeat("x", 100<<10) + "</body></message>"
	pr, pw := io.Pipe()
	d := NewDecoder(pr, Limits{})
	if len(d.buf) > 4096 {
		t.Errorf("new decoder holds %d bytes", len(d.buf))
	}
	go func() {
		pw.Write([]byte(headC + big))
		pw.Write([]byte("<presence/>"))
		pw.Close()
	}()
	if _, err := d.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Next(); err != nil {
		t.Fatal(err)
	}
	if len(d.buf) < 100<<10 {
		t.Errorf("buffer did not grow: %d", len(d.buf))
	}
	if _, err := d.Next(); err != nil {
		t.Fatal(err)
	}
	if len(d.buf) != idleBufSize {
		t.Errorf("buffer did not shrink: %d", len(d.buf))
	}
	// Scratch space for a stanza with many elements is not kept either.
	d.Reset(strings.NewReader(headC + "<a>" + strings.Repeat("<b x='1'/>text", 5000) + "</a>"))
	if _, err := d.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	if el, err := d.Next(); err != nil || el.NumElements() != 5000 {
		t.Fatal(err)
	}
	p := &d.p
	if max(cap(p.els), cap(p.attrs), cap(p.kids), cap(p.done), cap(p.raw), cap(p.open)) > maxScratch {
		t.Error("oversized scratch kept")
	}
}

func TestContent(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want *stanza.Element
	}{
		{"CRLF in text", "<a>x\r\ny\rz\n\r\n</a>", el("", "a", nil, "x\ny\nz\n\n")},
		{"CRLF in CDATA", "<a><![CDATA[x\r\ny\r]]></a>", el("", "a", nil, "x\ny\n")},
		{"CR from a reference is kept", "<a>x&#xD;&#10;y&#13;</a>", el("", "a", nil, "x\r\ny\r")},
		{"CR before CDATA", "<a>x\r<![CDATA[\ny]]></a>", el("", "a", nil, "x\n\ny")},
		{"attribute white space", "<a v=' x\ty\nz\r\nw\rv '/>", el("", "a", attrs(at("", "v", " x y z w v ")))},
		{"attribute references kept", "<a v='&#9;&#xA;&#xD;&#x20;'/>", el("", "a", attrs(at("", "v", "\t\n\r ")))},
		{"predefined entities", "<a v='&amp;&lt;&gt;&quot;&apos;'>&amp;&lt;&gt;&quot;&apos;</a>",
			el("", "a", attrs(at("", "v", `&<>"'`)), `&<>"'`)},
		{"character references", "<a>&#65;&#x42;&#x10FFFF;&#0000067;&#x1f600;</a>", el("", "a", nil, "AB\U0010FFFFC\U0001F600")},
		{"text merged with CDATA", "<a>x<![CDATA[<y>]]>z<![CDATA[]]></a>", el("", "a", nil, "x<y>z")},
		{"empty CDATA only", "<a><![CDATA[]]></a>", el("", "a", nil)},
		{"mixed content", "<p>Hi <b>you</b>, <i>there</i>!</p>",
			el("", "p", nil, "Hi ", el("", "b", nil, "you"), ", ", el("", "i", nil, "there"), "!")},
		{"white space kept inside elements", "<a> <b/> </a>", el("", "a", nil, " ", el("", "b", nil), " ")},
		{"non-ASCII names and text", "<café xmlns='urn:x' naïve='ü'>日本語</café>", el("urn:x", "café", attrs(at("", "naïve", "ü")), "日本語")},
		{"']' and ']]' in text", "<a>]x]]y]</a>", el("", "a", nil, "]x]]y]")},
		{"']]>' in attribute", "<a v=']]>'/>", el("", "a", attrs(at("", "v", "]]>")))},
		{"white space in tags", "<a\n\tv = 'x'\r\n></a\n>", el("", "a", attrs(at("", "v", "x")))},
		{"C1 controls are XML characters", "<a>\u0085\u0080</a>", el("", "a", nil, "\u0085\u0080")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := decodeString(headC+tt.in+Close, Limits{})
			if res.err != ErrStreamEnd || len(res.els) != 1 {
				t.Fatalf("got %d elements, %v", len(res.els), res.err)
			}
			if d := treeDiff(res.els[0], tt.want); d != "" {
				t.Errorf("%s", d)
			}
			p, err := Parse([]byte(tt.in), stanza.NSClient, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if d := treeDiff(p, tt.want); d != "" {
				t.Errorf("Parse: %s", d)
			}
		})
	}
}

func TestParseSurroundingSpace(t *testing.T) {
	el, err := Parse([]byte(" \r\n<presence/>\t "), stanza.NSServer, Limits{})
	if err != nil || el.Name.Local != "presence" {
		t.Fatal(el, err)
	}
	data := []byte("<a>text</a>")
	el, err = Parse(data, "", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	copy(data, "XXXXXXXXXXX")
	if el.Text() != "text" || el.Name.Local != "a" {
		t.Error("Parse result aliases its input")
	}
	if !bytes.Equal(data, []byte("XXXXXXXXXXX")) {
		t.Error("Parse changed its input")
	}
}
