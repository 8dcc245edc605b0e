package xmlstream

import (
	"bytes"
	"sync"
	"unicode/utf8"
	"unsafe"

	"github.com/starling-xmpp/starling/stanza"
)

// nsXMLNS is the namespace of namespace declarations; it can never be bound.
const nsXMLNS = "http://www.w3.org/2000/xmlns/"

var cdataOpen = []byte("<![CDATA[")

// binding is one namespace declaration in scope; prefix "" is the default
// namespace. prev is the index of the binding of the same prefix that this
// one shadows, or -1; it is kept up to date only while the index is on.
type binding struct {
	prefix, uri string
	prev        int
}

// nsLinear is how many bindings in scope are looked up by a linear scan.
// Beyond it a map indexes them, so that a peer cannot make every name cost
// thousands of comparisons by declaring MaxAttrs prefixes at every level.
const nsLinear = 16

// rawAttr is an attribute as written in a start tag: offsets into the
// stanza copy. The value has already been decoded in place.
type rawAttr struct {
	qs, qc, qe int  // name start, colon (or -1), end
	vs, ve     int  // decoded value
	decl       bool // a namespace declaration (xmlns or xmlns:prefix)
}

// pelem is an element under construction: the tree is assembled in scratch
// space first and materialised in one go once its size is known.
type pelem struct {
	name   stanza.Name
	a0, a1 int // attributes, in parser.attrs
	c0, c1 int // children, in parser.done
}

// pnode is a child under construction: an element index or text.
type pnode struct {
	elem int // index in parser.els, or -1 for text
	text string
}

type openElem struct {
	el     int // index in parser.els
	kids   int // where its children start in parser.kids
	ns     int // len(parser.ns) before its own declarations
	qs, qe int // raw qualified name, matched against the end tag
}

// parser builds one element tree from a complete, private copy of its bytes.
// It decodes character data and attribute values in place (decoding only
// ever shrinks) and the tree's strings point into that copy, which nothing
// writes to afterwards. Its scratch slices are reused from stanza to stanza
// and hold no references between calls.
type parser struct {
	lim       Limits
	contentNS string
	ns        []binding
	nsIndex   map[string]int // prefix → innermost binding, when len(ns) > nsLinear

	b   []byte
	i   int
	off int64 // stream offset of b[0], for error texts

	tStart, tEnd int // pending text in b[tStart:tEnd]; tStart < 0 if none

	raw   []rawAttr
	attrs []stanza.Attr
	els   []pelem
	open  []openElem
	kids  []pnode // children of the open elements, innermost last
	done  []pnode // children of closed elements, grouped by parent
}

func (p *parser) pos(i int) int64 { return p.off + int64(i) }

func (p *parser) str(s, e int) string {
	if e <= s {
		return ""
	}
	return unsafe.String(&p.b[s], e-s)
}

// syntax reports a syntax error at b[i], unless b[i] starts invalid UTF-8,
// which is unsupported-encoding wherever it appears.
func (p *parser) syntax(msg string, i int) error {
	return syntaxErr(p.b, i, stanza.StreamNotWellFormed, msg, p.off)
}

func syntaxErr(b []byte, i int, cond stanza.StreamCondition, msg string, off int64) *stanza.StreamError {
	if i < len(b) && b[i] >= utf8.RuneSelf {
		if r, n := utf8.DecodeRune(b[i:]); r == utf8.RuneError && n == 1 {
			return badEncoding(off + int64(i))
		}
	}
	return errAt(cond, msg, off+int64(i))
}

func (p *parser) eof() error {
	return notWellFormed("unexpected end of element", p.pos(len(p.b)))
}

// element parses the element starting at b[0] and returns it with the index
// just past its end. b must be a private copy that nobody changes later.
func (p *parser) element(b []byte, off int64) (*stanza.Element, int, error) {
	p.b, p.i, p.off = b, 0, off
	p.tStart = -1
	mark := len(p.ns)
	err := p.run()
	var el *stanza.Element
	if err == nil {
		el = p.materialize()
	}
	n := p.i
	p.popNS(mark)
	p.reset()
	return el, n, err
}

func (p *parser) run() error {
	b := p.b
	for {
		if p.i >= len(b) {
			return p.eof()
		}
		if b[p.i] != '<' {
			if len(p.open) == 0 {
				return p.syntax("expected '<'", p.i)
			}
			if err := p.text(); err != nil {
				return err
			}
			continue
		}
		if p.i+1 >= len(b) {
			return p.eof()
		}
		switch b[p.i+1] {
		case '/':
			if len(p.open) == 0 {
				return notWellFormed("end tag without start tag", p.pos(p.i))
			}
			p.flush()
			if err := p.endTag(); err != nil {
				return err
			}
			if len(p.open) == 0 {
				return nil
			}
		case '!':
			if len(p.open) > 0 && bytes.HasPrefix(b[p.i:], cdataOpen) {
				if err := p.cdata(); err != nil {
					return err
				}
				continue
			}
			return markupErr(b, p.i, true, p.off)
		case '?':
			return markupErr(b, p.i, true, p.off)
		default:
			p.flush()
			empty, err := p.startTag()
			if err != nil {
				return err
			}
			if empty && len(p.open) == 0 {
				return nil
			}
		}
	}
}

// markupErr classifies a "<!" or "<?" construct that is not a CDATA
// section. Unless complete, it returns nil when b ends too early to tell.
func markupErr(b []byte, i int, complete bool, off int64) *stanza.StreamError {
	rest := b[i:]
	at := off + int64(i)
	if rest[1] == '?' {
		const decl = "<?xml"
		if n := min(len(rest), len(decl)); !complete && len(rest) <= len(decl) && string(rest[:n]) == decl[:n] {
			return nil
		}
		if len(rest) > len(decl) && string(rest[:5]) == decl && (isSpace(rest[5]) || rest[5] == '?') {
			return restricted("XML declaration not at start of stream", at)
		}
		return restricted("processing instruction", at)
	}
	if len(rest) < 3 {
		if complete {
			return notWellFormed("invalid markup", at)
		}
		return nil
	}
	c := rest[2]
	switch {
	case c == '-':
		if len(rest) < 4 && !complete {
			return nil
		}
		if len(rest) >= 4 && rest[3] == '-' {
			return restricted("comment", at)
		}
	case 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z':
		return restricted("document type or markup declaration", at)
	case c >= utf8.RuneSelf && !complete && !utf8.FullRune(rest[2:]):
		return nil
	}
	return syntaxErr(b, i+2, stanza.StreamNotWellFormed, "invalid markup", off)
}

// nameStart returns the length of the NameStartChar (other than ':') at
// b[i], or 0 if there is none.
func (p *parser) nameStart(i int) (int, error) {
	b := p.b
	if i >= len(b) {
		return 0, p.eof()
	}
	c := b[i]
	if class[c]&clNameStart != 0 {
		return 1, nil
	}
	if c < utf8.RuneSelf {
		return 0, nil
	}
	r, n := utf8.DecodeRune(b[i:])
	if r == utf8.RuneError && n == 1 {
		return 0, badEncoding(p.pos(i))
	}
	if isNameStartRune(r) {
		return n, nil
	}
	return 0, nil
}

// qname scans a QName (Namespaces in XML §4) at b[i]: an NCName, optionally
// prefixed by another NCName and one colon.
func (p *parser) qname(i int) (colon, end int, err error) {
	b := p.b
	colon = -1
	n, err := p.nameStart(i)
	if err != nil {
		return 0, 0, err
	}
	if n == 0 {
		return 0, 0, p.syntax("expected a name", i)
	}
	i += n
	for i < len(b) {
		c := b[i]
		if class[c]&clName != 0 {
			i++
			continue
		}
		if c == ':' {
			if colon >= 0 {
				return 0, 0, notWellFormed("name with more than one colon", p.pos(i))
			}
			colon = i
			n, err := p.nameStart(i + 1)
			if err != nil {
				return 0, 0, err
			}
			if n == 0 {
				return 0, 0, p.syntax("expected a local name after ':'", i+1)
			}
			i += 1 + n
			continue
		}
		if c < utf8.RuneSelf {
			break
		}
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return 0, 0, badEncoding(p.pos(i))
		}
		if !isNameRune(r) {
			break
		}
		i += n
	}
	return colon, i, nil
}

func (p *parser) skipSpace(i int) int {
	b := p.b
	for i < len(b) && class[b[i]]&clSpace != 0 {
		i++
	}
	return i
}

func (p *parser) startTag() (empty bool, err error) {
	b := p.b
	qs := p.i + 1
	qc, qe, err := p.qname(qs)
	if err != nil {
		return false, err
	}
	raw := p.raw[:0]
	decls := false
	i := qe
	for {
		j := p.skipSpace(i)
		if j >= len(b) {
			return false, p.eof()
		}
		c := b[j]
		if c == '>' {
			i = j + 1
			break
		}
		if c == '/' {
			if j+1 < len(b) && b[j+1] == '>' {
				empty = true
				i = j + 2
				break
			}
			return false, p.syntax("expected '>' after '/'", j+1)
		}
		if j == i {
			return false, p.syntax("missing white space before attribute", j)
		}
		if len(raw) >= p.lim.MaxAttrs {
			return false, tooBig("number of attributes", p.lim.MaxAttrs, p.pos(j))
		}
		ac, ae, err := p.qname(j)
		if err != nil {
			return false, err
		}
		k := p.skipSpace(ae)
		if k >= len(b) {
			return false, p.eof()
		}
		if b[k] != '=' {
			return false, p.syntax("expected '=' after attribute name", k)
		}
		k = p.skipSpace(k + 1)
		if k >= len(b) {
			return false, p.eof()
		}
		if q := b[k]; q != '"' && q != '\'' {
			return false, p.syntax("attribute value not quoted", k)
		}
		ve, next, err := p.attrValue(k + 1)
		if err != nil {
			return false, err
		}
		a := rawAttr{qs: j, qc: ac, qe: ae, vs: k + 1, ve: ve}
		if a.decl = p.isDecl(a); a.decl {
			decls = true
		}
		raw = append(raw, a)
		i = next
	}
	p.raw = raw
	p.i = i
	if depth := len(p.open) + 1; depth > p.lim.MaxDepth {
		return false, tooBig("nesting depth", p.lim.MaxDepth, p.pos(qs-1))
	}

	nsMark := len(p.ns)
	if decls {
		if err := p.declare(); err != nil {
			return false, err
		}
	}
	space, err := p.resolve(qs, qc, true)
	if err != nil {
		return false, err
	}
	local := qs
	if qc >= 0 {
		local = qc + 1
	}
	name := stanza.Name{Space: space, Local: p.str(local, qe)}
	a0 := len(p.attrs)
	if p.attrs, err = p.appendAttrs(p.attrs); err != nil {
		return false, err
	}
	idx := len(p.els)
	p.els = append(p.els, pelem{name: name, a0: a0, a1: len(p.attrs)})
	if len(p.open) > 0 {
		p.kids = append(p.kids, pnode{elem: idx})
	}
	if empty {
		p.popNS(nsMark)
	} else {
		p.open = append(p.open, openElem{el: idx, kids: len(p.kids), ns: nsMark, qs: qs, qe: qe})
	}
	return empty, nil
}

// appendAttrs resolves the attributes of the start tag in p.raw, other than
// namespace declarations, and appends them to dst, refusing duplicates
// (also after namespace resolution).
func (p *parser) appendAttrs(dst []stanza.Attr) ([]stanza.Attr, error) {
	first := len(dst)
	for _, a := range p.raw {
		if a.decl {
			continue
		}
		var n stanza.Name
		if a.qc < 0 {
			n.Local = p.str(a.qs, a.qe)
		} else {
			var err error
			if n.Space, err = p.resolve(a.qs, a.qc, false); err != nil {
				return dst, err
			}
			n.Local = p.str(a.qc+1, a.qe)
		}
		for _, o := range dst[first:] {
			if o.Name == n {
				return dst, notWellFormed("duplicate attribute", p.pos(a.qs))
			}
		}
		dst = append(dst, stanza.Attr{Name: n, Value: p.str(a.vs, a.ve)})
	}
	return dst, nil
}

func (p *parser) isDecl(a rawAttr) bool {
	end := a.qc
	if end < 0 {
		end = a.qe
	}
	return end-a.qs == 5 && string(p.b[a.qs:end]) == "xmlns"
}

// declare pushes the namespace declarations of the start tag in p.raw,
// enforcing the constraints of Namespaces in XML 1.0 §3.
func (p *parser) declare() error {
	b := p.b
	for k, a := range p.raw {
		if !a.decl {
			continue
		}
		prefix := ""
		if a.qc >= 0 {
			prefix = p.str(a.qc+1, a.qe)
		}
		for _, o := range p.raw[:k] {
			if bytes.Equal(b[o.qs:o.qe], b[a.qs:a.qe]) {
				return notWellFormed("duplicate namespace declaration", p.pos(a.qs))
			}
		}
		uri := p.str(a.vs, a.ve)
		switch {
		case prefix == "xmlns":
			return notWellFormed("the xmlns prefix cannot be declared", p.pos(a.qs))
		case prefix == "xml":
			if uri != stanza.NSXML {
				return notWellFormed("the xml prefix cannot be rebound", p.pos(a.qs))
			}
			continue
		case uri == stanza.NSXML:
			return notWellFormed("the XML namespace cannot be bound to another prefix", p.pos(a.qs))
		case uri == nsXMLNS:
			return notWellFormed("the xmlns namespace cannot be declared", p.pos(a.qs))
		case prefix != "" && uri == "":
			return notWellFormed("a namespace prefix cannot be undeclared", p.pos(a.qs))
		}
		p.bind(prefix, uri)
	}
	return nil
}

// resolve returns the namespace of a name that starts at qs and has its
// colon at qc (-1 for none). Element names in the content namespace resolve
// to "".
func (p *parser) resolve(qs, qc int, elem bool) (string, error) {
	var prefix []byte
	if qc >= 0 {
		prefix = p.b[qs:qc]
		switch string(prefix) {
		case "xml":
			return stanza.NSXML, nil
		case "xmlns":
			return "", notWellFormed("element name with the xmlns prefix", p.pos(qs))
		}
	}
	if k, ok := p.lookup(prefix); ok {
		uri := p.ns[k].uri
		if elem && uri == p.contentNS {
			return "", nil
		}
		return uri, nil
	}
	if qc >= 0 {
		return "", notWellFormed("undeclared namespace prefix "+string(prefix), p.pos(qs))
	}
	return "", nil
}

// lookup returns the index of the innermost binding of prefix.
func (p *parser) lookup(prefix []byte) (int, bool) {
	if p.nsIndex != nil {
		k, ok := p.nsIndex[string(prefix)]
		return k, ok
	}
	for k := len(p.ns) - 1; k >= 0; k-- {
		if p.ns[k].prefix == string(prefix) {
			return k, true
		}
	}
	return 0, false
}

// bind brings a namespace declaration into scope.
func (p *parser) bind(prefix, uri string) {
	b := binding{prefix: prefix, uri: uri, prev: -1}
	if p.nsIndex != nil {
		if k, ok := p.nsIndex[prefix]; ok {
			b.prev = k
		}
		p.nsIndex[prefix] = len(p.ns)
	}
	p.ns = append(p.ns, b)
	if p.nsIndex == nil && len(p.ns) > nsLinear {
		p.nsIndex = make(map[string]int, 2*len(p.ns))
		for k := range p.ns {
			b := &p.ns[k]
			b.prev = -1
			if j, ok := p.nsIndex[b.prefix]; ok {
				b.prev = j
			}
			p.nsIndex[b.prefix] = k
		}
	}
}

// popNS drops the bindings from mark on.
func (p *parser) popNS(mark int) {
	if p.nsIndex != nil {
		if mark <= nsLinear {
			p.nsIndex = nil
		} else {
			for k := len(p.ns) - 1; k >= mark; k-- {
				if b := p.ns[k]; b.prev >= 0 {
					p.nsIndex[b.prefix] = b.prev
				} else {
					delete(p.nsIndex, b.prefix)
				}
			}
		}
	}
	clear(p.ns[mark:])
	p.ns = p.ns[:mark]
}

func (p *parser) endTag() error {
	b := p.b
	qs := p.i + 2
	_, qe, err := p.qname(qs)
	if err != nil {
		return err
	}
	j := p.skipSpace(qe)
	if j >= len(b) {
		return p.eof()
	}
	if b[j] != '>' {
		return p.syntax("expected '>' in end tag", j)
	}
	top := p.open[len(p.open)-1]
	if !bytes.Equal(b[qs:qe], b[top.qs:top.qe]) {
		return notWellFormed("end tag </"+string(b[qs:qe])+"> does not match <"+string(b[top.qs:top.qe])+">", p.pos(p.i))
	}
	pe := &p.els[top.el]
	kids := p.kids[top.kids:]
	pe.c0 = len(p.done)
	p.done = append(p.done, kids...)
	pe.c1 = len(p.done)
	clear(kids)
	p.kids = p.kids[:top.kids]
	p.popNS(top.ns)
	p.open = p.open[:len(p.open)-1]
	p.i = j + 1
	return nil
}

// flush turns pending character data into a child node.
func (p *parser) flush() {
	if p.tStart >= 0 {
		if p.tEnd > p.tStart {
			p.kids = append(p.kids, pnode{elem: -1, text: p.str(p.tStart, p.tEnd)})
		}
		p.tStart = -1
	}
}

// text decodes character data from p.i up to the next '<', appending it to
// the pending text so that adjacent text and CDATA sections merge.
func (p *parser) text() error {
	b := p.b
	i := p.i
	if p.tStart < 0 {
		p.tStart, p.tEnd = i, i
	}
	w := p.tEnd
	plain := uint8(clTextPlain)
	if p.lim.StrictEscaping {
		plain = clTextStrict
	}
	for i < len(b) {
		c := b[i]
		if class[c]&plain != 0 {
			j := i + 1
			for j < len(b) && class[b[j]]&plain != 0 {
				j++
			}
			if w != i {
				copy(b[w:], b[i:j])
			}
			w += j - i
			i = j
			continue
		}
		switch {
		case c == '<':
			p.i, p.tEnd = i, w
			return nil
		case c == '&':
			r, next, err := p.ref(i)
			if err != nil {
				return err
			}
			w += utf8.EncodeRune(b[w:], r)
			i = next
		case c == '\r':
			b[w] = '\n'
			w++
			i++
			if i < len(b) && b[i] == '\n' {
				i++
			}
		case c == ']':
			if i+2 < len(b) && b[i+1] == ']' && b[i+2] == '>' {
				return notWellFormed("']]>' in character data", p.pos(i))
			}
			b[w] = c
			w++
			i++
		case c == '>' || c == '"' || c == '\'':
			// Only reached for quotes under StrictEscaping (seed 9-2).
			if p.lim.StrictEscaping {
				return restricted("unescaped "+quoteChar(c)+" in character data", p.pos(i))
			}
			b[w] = c
			w++
			i++
		default:
			n, err := p.char(i)
			if err != nil {
				return err
			}
			copy(b[w:], b[i:i+n])
			w += n
			i += n
		}
	}
	p.i, p.tEnd = i, w
	return nil
}

// char validates the character at b[i], which is not plain ASCII, and
// returns its length.
func (p *parser) char(i int) (int, error) {
	c := p.b[i]
	if c < utf8.RuneSelf {
		return 0, notWellFormed("character "+quoteRune(rune(c))+" not allowed in XML", p.pos(i))
	}
	r, n := utf8.DecodeRune(p.b[i:])
	if r == utf8.RuneError && n == 1 {
		return 0, badEncoding(p.pos(i))
	}
	if r == 0xFFFE || r == 0xFFFF {
		return 0, notWellFormed("character "+quoteRune(r)+" not allowed in XML", p.pos(i))
	}
	return n, nil
}

// cdata decodes a CDATA section at p.i into the pending text.
func (p *parser) cdata() error {
	b := p.b
	start := p.i + len(cdataOpen)
	end := bytes.Index(b[start:], []byte("]]>"))
	if end < 0 {
		return notWellFormed("unterminated CDATA section", p.pos(p.i))
	}
	end += start
	if p.tStart < 0 {
		p.tStart, p.tEnd = p.i, p.i
	}
	w := p.tEnd
	for i := start; i < end; {
		c := b[i]
		if class[c]&clCDATAPlain != 0 {
			b[w] = c
			w++
			i++
			continue
		}
		if c == '\r' {
			b[w] = '\n'
			w++
			i++
			if i < end && b[i] == '\n' {
				i++
			}
			continue
		}
		n, err := p.char(i)
		if err != nil {
			return err
		}
		copy(b[w:], b[i:i+n])
		w += n
		i += n
	}
	p.tEnd = w
	p.i = end + 3
	return nil
}

// attrValue decodes an attribute value starting at i (after the quote) in
// place, normalising white space as XML 1.0 §3.3.3 says for CDATA
// attributes. It returns the end of the decoded value and the index after
// the closing quote.
func (p *parser) attrValue(i int) (end, next int, err error) {
	b := p.b
	q := b[i-1]
	w := i
	for i < len(b) {
		c := b[i]
		if class[c]&clAttrPlain != 0 {
			j := i + 1
			for j < len(b) && class[b[j]]&clAttrPlain != 0 {
				j++
			}
			if w != i {
				copy(b[w:], b[i:j])
			}
			w += j - i
			i = j
			continue
		}
		switch c {
		case q:
			return w, i + 1, nil
		case '<':
			return 0, 0, notWellFormed("'<' in attribute value", p.pos(i))
		case '&':
			r, next, err := p.ref(i)
			if err != nil {
				return 0, 0, err
			}
			w += utf8.EncodeRune(b[w:], r)
			i = next
			continue
		case '\t', '\n':
			b[w] = ' '
		case '\r':
			b[w] = ' '
			if i+1 < len(b) && b[i+1] == '\n' {
				i++
			}
		case '"', '\'', '>':
			if p.lim.StrictEscaping {
				return 0, 0, restricted("unescaped "+quoteChar(c)+" in attribute value", p.pos(i))
			}
			b[w] = c
		default:
			n, err := p.char(i)
			if err != nil {
				return 0, 0, err
			}
			copy(b[w:], b[i:i+n])
			w += n
			i += n
			continue
		}
		w++
		i++
	}
	return 0, 0, notWellFormed("unterminated attribute value", p.pos(i))
}

func quoteChar(c byte) string {
	switch c {
	case '"':
		return `'"'`
	case '\'':
		return `"'"`
	}
	return "'" + string(rune(c)) + "'"
}

// ref decodes the entity or character reference at b[i] == '&'.
func (p *parser) ref(i int) (rune, int, error) {
	b := p.b
	j := i + 1
	if j < len(b) && b[j] == '#' {
		j++
		base := rune(10)
		if j < len(b) && b[j] == 'x' {
			base = 16
			j++
		}
		ds := j
		var v rune
		for ; j < len(b); j++ {
			c := b[j]
			var d rune
			switch {
			case '0' <= c && c <= '9':
				d = rune(c - '0')
			case base == 16 && 'a' <= c && c <= 'f':
				d = rune(c-'a') + 10
			case base == 16 && 'A' <= c && c <= 'F':
				d = rune(c-'A') + 10
			default:
				d = -1
			}
			if d < 0 {
				break
			}
			if v <= utf8.MaxRune {
				v = v*base + d
			}
		}
		if j == ds || j >= len(b) || b[j] != ';' {
			return 0, 0, notWellFormed("malformed character reference", p.pos(i))
		}
		if v > utf8.MaxRune || !stanza.IsXMLChar(v) {
			return 0, 0, notWellFormed("character reference to a character not allowed in XML", p.pos(i))
		}
		return v, j + 1, nil
	}
	ns := j
	for j < len(b) && (class[b[j]]&clName != 0 || b[j] == ':' || b[j] >= utf8.RuneSelf) {
		j++
	}
	if j == ns || j >= len(b) || b[j] != ';' {
		if !utf8.Valid(b[ns:j]) {
			return 0, 0, badEncoding(p.pos(ns))
		}
		return 0, 0, p.syntax("'&' not starting a reference", j)
	}
	switch string(b[ns:j]) {
	case "amp":
		return '&', j + 1, nil
	case "lt":
		return '<', j + 1, nil
	case "gt":
		return '>', j + 1, nil
	case "quot":
		return '"', j + 1, nil
	case "apos":
		return '\'', j + 1, nil
	}
	if !utf8.Valid(b[ns:j]) {
		return 0, 0, badEncoding(p.pos(ns))
	}
	return 0, 0, restricted("reference to undefined entity &"+string(b[ns:j])+";", p.pos(i))
}

// materialize turns the scratch tree into the result: at most one
// allocation for the elements, attributes and child nodes of a typical
// stanza (see allocTree).
func (p *parser) materialize() *stanza.Element {
	elems, attrs, nodes := allocTree(len(p.els), len(p.attrs), len(p.done))
	copy(attrs, p.attrs)
	for k := range p.els {
		pe := &p.els[k]
		el := &elems[k]
		el.Name = pe.name
		if pe.a1 > pe.a0 {
			el.Attrs = attrs[pe.a0:pe.a1:pe.a1]
		}
		if pe.c1 > pe.c0 {
			el.Children = nodes[pe.c0:pe.c1:pe.c1]
		}
	}
	for k, n := range p.done {
		if n.elem >= 0 {
			nodes[k].Elem = &elems[n.elem]
		} else {
			nodes[k].Text = n.text
		}
	}
	return &elems[0]
}

// Size classes for allocTree: one allocation holds the elements, attributes
// and nodes of a small tree. Anything bigger gets one exact allocation each.
type (
	treeS struct {
		e [2]stanza.Element
		a [5]stanza.Attr
		n [3]stanza.Node
	}
	treeM struct {
		e [4]stanza.Element
		a [8]stanza.Attr
		n [7]stanza.Node
	}
	treeL struct {
		e [8]stanza.Element
		a [16]stanza.Attr
		n [14]stanza.Node
	}
)

func allocTree(ne, na, nn int) ([]stanza.Element, []stanza.Attr, []stanza.Node) {
	switch {
	case ne <= 2 && na <= 5 && nn <= 3:
		t := new(treeS)
		return t.e[:ne:ne], t.a[:na:na], t.n[:nn:nn]
	case ne <= 4 && na <= 8 && nn <= 7:
		t := new(treeM)
		return t.e[:ne:ne], t.a[:na:na], t.n[:nn:nn]
	case ne <= 8 && na <= 16 && nn <= 14:
		t := new(treeL)
		return t.e[:ne:ne], t.a[:na:na], t.n[:nn:nn]
	}
	e := make([]stanza.Element, ne)
	var a []stanza.Attr
	if na > 0 {
		a = make([]stanza.Attr, na)
	}
	var n []stanza.Node
	if nn > 0 {
		n = make([]stanza.Node, nn)
	}
	return e, a, n
}

// Scratch slices larger than this are dropped after use rather than kept.
const maxScratch = 128

// reset forgets the current stanza: it clears every scratch reference into
// it so that an idle decoder pins nothing, and drops oversized scratch.
func (p *parser) reset() {
	p.b = nil
	p.raw = p.raw[:0]
	clear(p.attrs)
	p.attrs = p.attrs[:0]
	clear(p.els)
	p.els = p.els[:0]
	p.open = p.open[:0]
	clear(p.kids)
	p.kids = p.kids[:0]
	clear(p.done)
	p.done = p.done[:0]
	if cap(p.attrs) > maxScratch || cap(p.els) > maxScratch || cap(p.kids) > maxScratch ||
		cap(p.done) > maxScratch || cap(p.raw) > maxScratch || cap(p.open) > maxScratch {
		p.attrs, p.els, p.kids, p.done, p.raw, p.open = nil, nil, nil, nil, nil, nil
	}
}

var parserPool = sync.Pool{New: func() any { return new(parser) }}

// ParseStored parses an element the server serialised itself, in the
// jabber:client content namespace: a stored message, roster request or
// private XML element. The data is trusted and was bounded when it arrived,
// perhaps under larger configured limits than the defaults, so the only
// bounds are the data's own size and generous depth and attribute counts.
func ParseStored(data []byte) (*stanza.Element, error) {
	return Parse(data, stanza.NSClient, Limits{
		MaxStanzaBytes: max(len(data), 1),
		MaxDepth:       1 << 10,
		MaxAttrs:       1 << 10,
	})
}

// Parse parses one complete element from data, which may be surrounded by
// white space and nothing else. It is used for WebSocket framing (RFC 7395),
// tests and expected-stanza scripts.
//
// The element is read as if it appeared inside a stream whose default
// namespace is contentNS and which declares the stream: prefix, mirroring
// what Element.AppendXML writes: elements in contentNS (or in no namespace)
// get Space "", and stream:features needs no declaration. The result does
// not alias data. Errors are *stanza.StreamError, as for Decoder.Next.
func Parse(data []byte, contentNS string, lim Limits) (*stanza.Element, error) {
	lim = lim.withDefaults()
	s, e := 0, len(data)
	for s < e && isSpace(data[s]) {
		s++
	}
	for e > s && isSpace(data[e-1]) {
		e--
	}
	if s == e {
		return nil, notWellFormed("no element", int64(s))
	}
	if data[s] != '<' {
		return nil, syntaxErr(data, s, stanza.StreamNotWellFormed, "character data outside the element", 0)
	}
	if e-s > lim.MaxStanzaBytes {
		return nil, tooBig("element size", lim.MaxStanzaBytes, int64(s))
	}
	buf := make([]byte, e-s)
	copy(buf, data[s:e])
	p := parserPool.Get().(*parser)
	p.lim = lim
	p.contentNS = contentNS
	p.popNS(0)
	p.bind("", contentNS)
	p.bind("stream", stanza.NSStream)
	el, n, err := p.element(buf, int64(s))
	p.popNS(0)
	parserPool.Put(p)
	if err != nil {
		return nil, err
	}
	if n < len(buf) {
		rest := n
		for isSpace(buf[rest]) {
			rest++
		}
		if buf[rest] == '<' && rest+1 < len(buf) && (buf[rest+1] == '!' || buf[rest+1] == '?') {
			return nil, markupErr(buf, rest, true, int64(s))
		}
		return nil, syntaxErr(buf, rest, stanza.StreamNotWellFormed, "data after the element", int64(s))
	}
	return el, nil
}
