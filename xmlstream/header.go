package xmlstream

import (
	"bytes"
	"strconv"
	"unicode/utf8"

	"github.com/starling-xmpp/starling/stanza"
)

// Header is an opening stream tag (<stream:stream ...>) as read by
// ReadHeader. It reports what the peer sent; checking it (the stream
// namespace and prefix, the content namespace, version, to/from) is the
// caller's job.
type Header struct {
	// Name is the resolved name of the root element:
	// {http://etherx.jabber.org/streams, stream} for a good header.
	Name stanza.Name
	// Prefix is the prefix written on the root element ("" if none).
	Prefix string
	// DefaultNS is the value of xmlns on the root element ("" if absent).
	// It becomes the stream's content namespace: elements in it get
	// Space "".
	DefaultNS string
	// Attrs holds every other attribute (to, from, id, version, and
	// xml:lang as {stanza.NSXML, lang}); namespace declarations are not
	// included.
	Attrs []stanza.Attr
	// XMLDecl reports whether an XML declaration preceded the tag.
	XMLDecl bool
}

// Attr returns the value of the unqualified attribute local, or "".
func (h *Header) Attr(local string) string {
	for _, a := range h.Attrs {
		if a.Name.Space == "" && a.Name.Local == local {
			return a.Value
		}
	}
	return ""
}

// Check applies the rules every stream header must meet (seed 3.2-1,
// 3.2-2, 3.2-4 to 3.2-6): the stream element, in the streams namespace,
// with a prefix, and contentNS (jabber:client or jabber:server) as the
// default namespace. The version is checked separately (VersionOK).
func (h *Header) Check(contentNS string) *stanza.StreamError {
	switch {
	case h.Name.Local != "stream":
		return stanza.NewStreamError(stanza.StreamBadFormat, "the stream must start with <stream:stream>")
	case h.Name.Space != stanza.NSStream:
		return stanza.NewStreamError(stanza.StreamInvalidNamespace, "the stream element must be in the namespace "+stanza.NSStream)
	case h.Prefix == "":
		return stanza.NewStreamError(stanza.StreamBadNamespacePrefix, "the stream element must have a namespace prefix (stream:)")
	case h.DefaultNS != contentNS:
		return stanza.NewStreamError(stanza.StreamInvalidNamespace, "the default namespace must be "+contentNS)
	}
	return nil
}

// Close is the closing stream tag.
const Close = "</stream:stream>"

// ReadHeader reads the opening stream tag: at the very start of the stream
// (after NewDecoder, Restart or Reset) an optional byte order mark (UTF-8
// only) and XML declaration (version 1.x, encoding UTF-8 if any), then
// optional white space, then the root start tag.
//
// The root's namespace declarations stay in scope for the whole stream, and
// its default namespace becomes the content namespace: every element in it,
// at any depth, gets Name.Space "". Elements in no namespace (under an
// explicit xmlns="") get "" as well. A root element with an undeclared
// prefix is not-well-formed; a self-closing one is bad-format.
func (d *Decoder) ReadHeader() (*Header, error) {
	if d.err != nil {
		return nil, d.err
	}
	if d.phase != phaseHeader {
		return nil, errHaveHeader
	}
	for {
		h, err := d.prologue()
		if err != nil {
			return nil, d.fail(err)
		}
		if h != nil {
			return h, nil
		}
		if err := d.fill(); err != nil {
			return nil, err
		}
	}
}

// prologue advances over buffered input in the header phase. It returns
// nil, nil when it needs more input.
func (d *Decoder) prologue() (*Header, error) {
	b := d.buf[:d.w]
	for {
		i := d.pos
		switch d.ps {
		case psStart:
			a := b[i:]
			if len(a) == 0 {
				return nil, nil
			}
			switch a[0] {
			case 0xEF:
				if len(a) < 3 {
					return nil, nil
				}
				if a[1] == 0xBB && a[2] == 0xBF {
					i += 3
					d.r, d.pos = i, i
				}
			case 0xFE, 0xFF:
				if len(a) < 2 {
					return nil, nil
				}
				if a[0]^a[1] == 0xFE^0xFF {
					return nil, errAt(stanza.StreamUnsupportedEncoding, "UTF-16 or UTF-32 byte order mark", d.base+int64(i))
				}
			case 0:
				return nil, errAt(stanza.StreamUnsupportedEncoding, "UTF-16 or UTF-32 encoding", d.base+int64(i))
			case '<':
				if len(a) < 2 {
					return nil, nil
				}
				if a[1] == 0 {
					return nil, errAt(stanza.StreamUnsupportedEncoding, "UTF-16 or UTF-32 encoding", d.base+int64(i))
				}
			}
			d.ps = psDecl
		case psDecl:
			a := b[i:]
			const decl = "<?xml"
			if n := min(len(a), len(decl)); string(a[:n]) == decl[:n] {
				if len(a) <= len(decl) {
					return nil, nil
				}
				if c := a[len(decl)]; isSpace(c) || c == '?' {
					d.start = i
					d.pos = i + len(decl)
					d.ps = psDeclBody
					continue
				}
			}
			d.ps = psSpace
		case psDeclBody:
			b := d.window()
			k := bytes.Index(b[i:], []byte("?>"))
			if k < 0 {
				d.pos = max(i, len(b)-1)
				if d.full() {
					return nil, tooBig("XML declaration size", d.lim.MaxStanzaBytes, d.base+int64(d.start))
				}
				return nil, nil
			}
			end := i + k + 2
			if err := checkDecl(b[d.start:end], d.base+int64(d.start)); err != nil {
				return nil, err
			}
			d.decl = true
			d.r, d.pos = end, end
			d.ps = psSpace
		case psSpace:
			for i < len(b) && isSpace(b[i]) {
				i++
			}
			d.r, d.pos = i, i
			if i == len(b) {
				return nil, nil
			}
			if b[i] != '<' {
				if b[i] >= utf8.RuneSelf && !utf8.FullRune(b[i:]) {
					return nil, nil
				}
				return nil, syntaxErr(b, i, stanza.StreamNotWellFormed, "character data before the stream header", d.base)
			}
			d.start = i
			d.ps = psRootLT
		case psRootLT:
			if i+1 >= len(b) {
				if d.full() {
					return nil, tooBig("stream header size", d.lim.MaxStanzaBytes, d.base+int64(d.start))
				}
				return nil, nil
			}
			switch b[i+1] {
			case '?', '!':
				b := d.window()
				if err := markupErr(b, i, false, d.base); err != nil {
					return nil, err
				}
				if d.full() {
					return nil, tooBig("stream header size", d.lim.MaxStanzaBytes, d.base+int64(d.start))
				}
				return nil, nil
			case '/':
				return nil, notWellFormed("end tag before the stream header", d.base+int64(i))
			}
			d.pos = i + 1
			d.quote = 0
			d.ps = psRootTag
		case psRootTag:
			b := d.window()
			for i < len(b) {
				c := b[i]
				if d.quote != 0 {
					k := bytes.IndexByte(b[i:], d.quote)
					if k < 0 {
						i = len(b)
						break
					}
					i += k + 1
					d.quote = 0
					continue
				}
				if c == '>' {
					break
				}
				if c == '"' || c == '\'' {
					d.quote = c
				}
				i++
			}
			if i == len(b) {
				d.pos = i
				if d.full() {
					return nil, tooBig("stream header size", d.lim.MaxStanzaBytes, d.base+int64(d.start))
				}
				return nil, nil
			}
			end := i + 1
			if b[i-1] == '/' {
				return nil, errAt(stanza.StreamBadFormat, "self-closing stream header", d.base+int64(d.start))
			}
			raw := make([]byte, end-d.start)
			copy(raw, b[d.start:end])
			h, err := d.header(raw, d.base+int64(d.start))
			if err != nil {
				return nil, err
			}
			h.XMLDecl = d.decl
			d.r, d.pos = end, end
			d.phase = phaseStream
			d.fs = fsTop
			return h, nil
		}
	}
}

// header parses the root start tag in raw, a private copy that the
// header's and the stream's namespace strings point into.
func (d *Decoder) header(raw []byte, off int64) (*Header, error) {
	p := &d.p
	p.getScratch()
	p.b, p.base, p.off, p.final = raw, 0, off, true
	p.dec = p.dec[:0]
	defer p.reset()
	p.popNS(0)
	p.contentNS = ""
	qc, qe, _, _, err := p.scanTag(0)
	if err != nil {
		return nil, err
	}
	if err := p.declare(); err != nil {
		p.popNS(0)
		return nil, err
	}
	// The bindings keep strings that stay valid for the stream.
	m := mater{p: p, out: make([]byte, len(raw)), last: pstr{n: -1}}
	p.statics = append(p.statics[:0], stanza.NSXML)
	for k := range p.ns {
		p.statics = append(p.statics, m.str(p.ns[k].uri))
		p.ns[k].uri = p.static(len(p.statics) - 1)
	}
	h := &Header{}
	qs := 1
	space, err := p.resolve(qs, qc, false)
	if err != nil {
		p.popNS(0)
		return nil, err
	}
	h.Name.Space = m.str(space)
	local := qs
	if qc >= 0 {
		h.Prefix = p.str(qs, qc)
		local = qc + 1
	}
	h.Name.Local = p.str(local, qe)
	for _, a := range p.raw {
		if a.qc < 0 {
			h.DefaultNS = m.str(a.val)
		}
	}
	if err := p.resolveAttrs(0); err != nil {
		p.popNS(0)
		return nil, err
	}
	if len(p.attrs) > 0 {
		h.Attrs = make([]stanza.Attr, 0, len(p.attrs))
		for _, a := range p.attrs {
			h.Attrs = append(h.Attrs, stanza.Attr{Name: stanza.Name{Space: m.str(a.space), Local: m.str(a.local)}, Value: m.str(a.value)})
		}
	}
	p.contentNS = h.DefaultNS
	d.rootName = p.str(qs, qe)
	return h, nil
}

// checkDecl checks an XML declaration, "<?xml" through "?>" (XML 1.0 §2.8):
// version 1.x, an optional encoding that must be UTF-8, an optional
// standalone.
func checkDecl(b []byte, off int64) error {
	c := declCursor{b: b[:len(b)-2], i: len("<?xml")}
	bad := func() error { return notWellFormed("malformed XML declaration", off+int64(c.i)) }
	v, ok := c.pseudoAttr("version")
	if !ok || len(v) < 3 || string(v[:2]) != "1." || !allDigits(v[2:]) {
		return bad()
	}
	save := c.i
	if v, ok := c.pseudoAttr("encoding"); ok {
		if !bytes.EqualFold(v, []byte("UTF-8")) {
			return errAt(stanza.StreamUnsupportedEncoding, "encoding "+string(v)+" declared; only UTF-8 is supported", off+int64(save))
		}
		save = c.i
	} else {
		c.i = save
	}
	if v, ok := c.pseudoAttr("standalone"); ok {
		if string(v) != "yes" && string(v) != "no" {
			return bad()
		}
	} else {
		c.i = save
	}
	for c.i < len(c.b) && isSpace(c.b[c.i]) {
		c.i++
	}
	if c.i != len(c.b) {
		return bad()
	}
	return nil
}

type declCursor struct {
	b []byte
	i int
}

// pseudoAttr reads S name Eq quoted-value.
func (c *declCursor) pseudoAttr(name string) ([]byte, bool) {
	i := c.i
	if i >= len(c.b) || !isSpace(c.b[i]) {
		return nil, false
	}
	for i < len(c.b) && isSpace(c.b[i]) {
		i++
	}
	if !bytes.HasPrefix(c.b[i:], []byte(name)) {
		return nil, false
	}
	i += len(name)
	for i < len(c.b) && isSpace(c.b[i]) {
		i++
	}
	if i >= len(c.b) || c.b[i] != '=' {
		return nil, false
	}
	i++
	for i < len(c.b) && isSpace(c.b[i]) {
		i++
	}
	if i >= len(c.b) || c.b[i] != '"' && c.b[i] != '\'' {
		return nil, false
	}
	q := c.b[i]
	k := bytes.IndexByte(c.b[i+1:], q)
	if k < 0 {
		return nil, false
	}
	v := c.b[i+1 : i+1+k]
	c.i = i + 1 + k + 1
	for _, ch := range v {
		if !(class[ch]&clName != 0) {
			return nil, false
		}
	}
	return v, true
}

func allDigits(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// AppendOpen appends an opening stream tag to dst: an optional XML
// declaration <?xml version='1.0'?>, then
// <stream:stream xmlns='contentNS' xmlns:stream='http://etherx.jabber.org/streams' ...>
// with attrs escaped as Element.AppendXML escapes attribute values.
// {stanza.NSXML, x} is written as xml:x; an attribute in another namespace
// gets a generated prefix declared on the tag. An unqualified attribute
// named xmlns:prefix is written as is, so that a caller can declare an extra
// prefix (xmlns:db for dialback).
func AppendOpen(dst []byte, decl bool, contentNS string, attrs []stanza.Attr) []byte {
	if decl {
		dst = append(dst, "<?xml version='1.0'?>"...)
	}
	dst = append(dst, "<stream:stream xmlns='"...)
	dst = appendEscapedAttr(dst, contentNS)
	dst = append(dst, "' xmlns:stream='"+stanza.NSStream+"'"...)
	var spaces []string
	for _, a := range attrs {
		dst = append(dst, ' ')
		switch a.Name.Space {
		case "":
		case stanza.NSXML:
			dst = append(dst, "xml:"...)
		default:
			k := 0
			for k < len(spaces) && spaces[k] != a.Name.Space {
				k++
			}
			prefix := "ns" + strconv.Itoa(k+1)
			if k == len(spaces) {
				spaces = append(spaces, a.Name.Space)
				dst = append(dst, "xmlns:"+prefix+"='"...)
				dst = appendEscapedAttr(dst, a.Name.Space)
				dst = append(dst, "' "...)
			}
			dst = append(dst, prefix+":"...)
		}
		dst = append(dst, a.Name.Local...)
		dst = append(dst, "='"...)
		dst = appendEscapedAttr(dst, a.Value)
		dst = append(dst, '\'')
	}
	return append(dst, '>')
}

// appendEscapedAttr appends s escaped for an attribute value, with the same
// rules as stanza.Element.AppendXML (seed 9-1).
func appendEscapedAttr(dst []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch c {
			case '&':
				dst = append(dst, "&amp;"...)
			case '<':
				dst = append(dst, "&lt;"...)
			case '>':
				dst = append(dst, "&gt;"...)
			case '"':
				dst = append(dst, "&quot;"...)
			case '\'':
				dst = append(dst, "&apos;"...)
			case '\t':
				dst = append(dst, "&#x9;"...)
			case '\n':
				dst = append(dst, "&#xA;"...)
			case '\r':
				dst = append(dst, "&#xD;"...)
			default:
				if c < 0x20 {
					dst = append(dst, "\uFFFD"...)
				} else {
					dst = append(dst, c)
				}
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 || r == 0xFFFE || r == 0xFFFF {
			dst = append(dst, "\uFFFD"...)
		} else {
			dst = append(dst, s[i:i+n]...)
		}
		i += n
	}
	return dst
}
