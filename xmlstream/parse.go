package xmlstream

import (
	"bytes"
	"errors"
	"sync"
	"unicode/utf8"
	"unsafe"

	"github.com/starling-xmpp/starling/stanza"
)

// nsXMLNS is the namespace of namespace declarations; it can never be bound.
const nsXMLNS = "http://www.w3.org/2000/xmlns/"

var cdataOpen = []byte("<![CDATA[")

// staticXML is the index of stanza.NSXML in parser.statics.
const staticXML = 0

// errMore is what the parser returns when the input ends before the element
// does, and more input may follow.
var errMore = errors.New("xmlstream: more input needed")

// pstr is a string found while parsing, as offsets, so that the scratch
// space holds no pointers (and costs the garbage collector nothing). Its n
// bytes are raw input at the element's start+at (src < 0), decoded bytes at
// parser.dec[src:], or, if at < 0, the string parser.statics[src]. In the
// element's private copy the string goes at offset at: the raw bytes it
// was read from start there, and a decoded string is never longer than
// they are.
type pstr struct {
	at, n, src int32
}

// binding is one namespace declaration in scope; prefix "" is the default
// namespace. prev is the index of the binding of the same prefix that this
// one shadows, or -1; it is kept up to date only while the index is on.
type binding struct {
	prefix string
	uri    pstr
	prev   int
}

// nsLinear is how many bindings in scope are looked up by a linear scan.
// Beyond it a map indexes them, so that a peer cannot make every name cost
// thousands of comparisons by declaring MaxAttrs prefixes at every level.
const nsLinear = 16

// rawAttr is a namespace declaration as written in a start tag: the name
// as offsets into the input, the value already decoded.
type rawAttr struct {
	qs, qc, qe int // name start, colon (or -1), end
	val        pstr
}

// pattr is an attribute; qs and qc locate its raw name until its prefix
// (if qc >= 0) is resolved.
type pattr struct {
	space, local, value pstr
	qs, qc              int32
}

// pelem is an element under construction: the tree is assembled in scratch
// space first and materialised in one go once its size is known.
type pelem struct {
	space, local pstr
	a0, a1       int // attributes, in scratch.attrs
	c0, c1       int // children, in scratch.done
}

// pnode is a child under construction: an element index or text.
type pnode struct {
	elem int // index in scratch.els, or -1 for text
	text pstr
}

type openElem struct {
	el     int // index in scratch.els
	kids   int // where its children start in scratch.kids
	ns     int // len(parser.ns) before its own declarations
	qs, qe int // raw qualified name, matched against the end tag
}

// scratch is the parser's working memory. A busy decoder keeps it from
// element to element; an idle one gives it back to a pool.
type scratch struct {
	raw   []rawAttr
	attrs []pattr
	els   []pelem
	open  []openElem
	kids  []pnode // children of the open elements, innermost last
	done  []pnode // children of closed elements, grouped by parent
	dec   []byte  // decoded text and attribute values of the element
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// parser builds one element tree in a single pass over its bytes, which it
// only reads. Text and attribute values that need decoding (references,
// line ends, attribute white space) are decoded into scratch space. Once
// the element is complete, its bytes are copied once, decoded values are
// written over their raw form in that copy, and the tree's strings point
// into it. The input may end before the element does: the parser then
// returns errMore, and is run again from the element's start once the
// element is complete (see Decoder.frame).
type parser struct {
	*scratch
	lim       Limits
	contentNS string
	statics   []string // strings of the stream's scope: staticXML, then the stream's namespaces
	ns        []binding
	nsIndex   map[string]int // prefix → innermost binding, when len(ns) > nsLinear

	b     []byte // the input; never written to
	base  int    // the element's first byte in b
	off   int64  // stream offset of b[0], for error texts
	final bool   // b holds all the input there will be

	// Pending character data: raw bytes b[tAt:tEnd] while tDec < 0, else
	// decoded bytes dec[tDec:]. tAt < 0 if there is none.
	tAt, tEnd, tDec int
}

func (p *parser) pos(i int) int64 { return p.off + int64(i) }

// str returns b[s:e] as a string pointing into the input.
func (p *parser) str(s, e int) string {
	if e <= s {
		return ""
	}
	return unsafe.String(&p.b[s], e-s)
}

// rawStr returns b[s:e] as a pstr.
func (p *parser) rawStr(s, e int) pstr {
	return pstr{at: int32(s - p.base), n: int32(e - s), src: -1}
}

// static returns a pstr for a string that needs no copy.
func (p *parser) static(k int) pstr {
	return pstr{at: -1, n: int32(len(p.statics[k])), src: int32(k)}
}

// get returns the string of s, valid while the parse runs.
func (p *parser) get(s pstr) string {
	switch {
	case s.n == 0:
		return ""
	case s.at < 0:
		return p.statics[s.src]
	case s.src < 0:
		return unsafe.String(&p.b[p.base+int(s.at)], int(s.n))
	}
	return unsafe.String(&p.dec[s.src], int(s.n))
}

// syntax reports a syntax error at b[i], unless b[i] starts invalid UTF-8,
// which is unsupported-encoding wherever it appears.
func (p *parser) syntax(msg string, i int) error {
	if !p.final && i < len(p.b) && p.b[i] >= utf8.RuneSelf && !utf8.FullRune(p.b[i:]) {
		return errMore
	}
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

// eof is the error for input that ends too early.
func (p *parser) eof() error {
	if !p.final {
		return errMore
	}
	return notWellFormed("unexpected end of element", p.pos(len(p.b)))
}

func (p *parser) getScratch() {
	if p.scratch == nil {
		p.scratch = scratchPool.Get().(*scratch)
	}
}

// releaseScratch gives the scratch space back to the pool.
func (p *parser) releaseScratch() {
	if p.scratch != nil {
		scratchPool.Put(p.scratch)
		p.scratch = nil
	}
}

// element parses the element starting at b[start] and returns it with the
// index just past its end. off is the stream offset of b[0]. Unless final,
// b may end before the element does (errMore).
func (p *parser) element(b []byte, start int, off int64, final bool) (*stanza.Element, int, error) {
	p.getScratch()
	p.b, p.base, p.off, p.final = b, start, off, final
	p.tAt = -1
	p.dec = p.dec[:0]
	mark := len(p.ns)
	end, err := p.run(start)
	var el *stanza.Element
	if err == nil {
		el = p.materialize(end)
	}
	p.popNS(mark)
	p.reset()
	return el, end, err
}

func (p *parser) run(i int) (int, error) {
	b := p.b
	var err error
	for {
		if i >= len(b) {
			return 0, p.eof()
		}
		if b[i] != '<' {
			if len(p.open) == 0 {
				return 0, p.syntax("expected '<'", i)
			}
			if i, err = p.text(i); err != nil {
				return 0, err
			}
			continue
		}
		if i+1 >= len(b) {
			return 0, p.eof()
		}
		switch b[i+1] {
		case '/':
			if len(p.open) == 0 {
				return 0, notWellFormed("end tag without start tag", p.pos(i))
			}
			p.flush()
			if i, err = p.endTag(i); err != nil {
				return 0, err
			}
			if len(p.open) == 0 {
				return i, nil
			}
		case '!':
			if i+2 < len(b) && b[i+2] == '[' {
				if len(p.open) == 0 {
					return 0, errAt(stanza.StreamBadFormat, "CDATA section at top level", p.pos(i))
				}
				n := min(len(b)-i, len(cdataOpen))
				if bytes.Equal(b[i:i+n], cdataOpen[:n]) {
					if n < len(cdataOpen) {
						return 0, p.eof()
					}
					if i, err = p.cdata(i); err != nil {
						return 0, err
					}
					continue
				}
			}
			if err := markupErr(b, i, p.final, p.off); err != nil {
				return 0, err
			}
			return 0, p.eof()
		case '?':
			if err := markupErr(b, i, p.final, p.off); err != nil {
				return 0, err
			}
			return 0, p.eof()
		default:
			p.flush()
			var empty bool
			if empty, i, err = p.startTag(i); err != nil {
				return 0, err
			}
			if empty && len(p.open) == 0 {
				return i, nil
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

// rune decodes the character at b[i], which is not ASCII. n is 0 if b ends
// inside it and more input may follow.
func (p *parser) rune(i int) (r rune, n int, err error) {
	b := p.b[i:]
	r, n = utf8.DecodeRune(b)
	if r == utf8.RuneError && n == 1 {
		if !p.final && !utf8.FullRune(b) {
			return 0, 0, errMore
		}
		return 0, 0, badEncoding(p.pos(i))
	}
	return r, n, nil
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
	r, n, err := p.rune(i)
	if err != nil {
		return 0, err
	}
	if isNameStartRune(r) {
		return n, nil
	}
	return 0, nil
}

// qname scans a QName (Namespaces in XML §4) at b[i]: an NCName, optionally
// prefixed by another NCName and one colon. It may end at the end of the
// input, where the caller finds out that it needs more.
func (p *parser) qname(i int) (colon, end int, err error) {
	b := p.b
	colon = -1
	if i < len(b) && class[b[i]]&clNameStart != 0 {
		i++
	} else {
		n, err := p.nameStart(i)
		if err != nil {
			return 0, 0, err
		}
		if n == 0 {
			if b[i] == '<' {
				return 0, 0, notWellFormed("'<' inside a tag", p.pos(i))
			}
			return 0, 0, p.syntax("expected a name", i)
		}
		i += n
	}
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
		r, n, err := p.rune(i)
		if err != nil {
			return 0, 0, err
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

// scanTag reads the name and attributes of the start tag at b[lt] == '<',
// decoding attribute values: namespace declarations go to p.raw, other
// attributes to p.attrs, unresolved. It returns the index after the tag.
func (p *parser) scanTag(lt int) (qc, qe, next int, empty bool, err error) {
	b := p.b
	qs := lt + 1
	if qc, qe, err = p.qname(qs); err != nil {
		return
	}
	// Local copies of the scratch slices, stored back once.
	raw, attrs := p.raw[:0], p.attrs
	defer func() { p.raw, p.attrs = raw, attrs }()
	n := 0 // attributes, declarations included
	i := qe
	for {
		j := i
		for j < len(b) && class[b[j]]&clSpace != 0 {
			j++
		}
		if j >= len(b) {
			err = p.eof()
			return
		}
		c := b[j]
		if c == '>' {
			next = j + 1
			break
		}
		if c == '/' {
			if j+1 >= len(b) {
				err = p.eof()
				return
			}
			if b[j+1] == '>' {
				empty = true
				next = j + 2
				break
			}
			err = p.syntax("expected '>' after '/'", j+1)
			return
		}
		if j == i {
			err = p.syntax("missing white space before attribute", j)
			return
		}
		if n >= p.lim.MaxAttrs {
			err = tooBig("number of attributes", p.lim.MaxAttrs, p.pos(j))
			return
		}
		n++
		// An ASCII name without a colon is the common case.
		ac, ae := -1, j+1
		if class[c]&clNameStart != 0 {
			for ae < len(b) && class[b[ae]]&clName != 0 {
				ae++
			}
		}
		if ae >= len(b) || class[c]&clNameStart == 0 || b[ae] == ':' || b[ae] >= utf8.RuneSelf {
			var err2 error
			if ac, ae, err2 = p.qname(j); err2 != nil {
				err = err2
				return
			}
		}
		k := ae
		if k < len(b) && b[k] != '=' {
			k = p.skipSpace(k)
		}
		if k >= len(b) {
			err = p.eof()
			return
		}
		if b[k] != '=' {
			err = p.syntax("expected '=' after attribute name", k)
			return
		}
		k++
		if k < len(b) && b[k] != '\'' && b[k] != '"' {
			k = p.skipSpace(k)
		}
		if k >= len(b) {
			err = p.eof()
			return
		}
		if q := b[k]; q != '"' && q != '\'' {
			err = p.syntax("attribute value not quoted", k)
			return
		}
		val, next2, err2 := p.attrValue(k + 1)
		if err2 != nil {
			err = err2
			return
		}
		if end := ae; (ac < 0 && end-j == 5 || ac-j == 5) && b[j] == 'x' && string(b[j:j+5]) == "xmlns" {
			raw = append(raw, rawAttr{qs: j, qc: ac, qe: ae, val: val})
		} else {
			local := j
			if ac >= 0 {
				local = ac + 1
			}
			attrs = append(attrs, pattr{local: p.rawStr(local, ae), value: val, qs: int32(j), qc: int32(ac)})
		}
		i = next2
	}
	return
}

func (p *parser) startTag(lt int) (empty bool, next int, err error) {
	if len(p.open) >= p.lim.MaxDepth {
		return false, 0, tooBig("nesting depth", p.lim.MaxDepth, p.pos(lt))
	}
	qs := lt + 1
	a0 := len(p.attrs)
	qc, qe, next, empty, err := p.scanTag(lt)
	if err != nil {
		return false, 0, err
	}
	nsMark := len(p.ns)
	if len(p.raw) > 0 {
		if err := p.declare(); err != nil {
			return false, 0, err
		}
	}
	space, err := p.resolve(qs, qc, true)
	if err != nil {
		return false, 0, err
	}
	local := qs
	if qc >= 0 {
		local = qc + 1
	}
	if len(p.attrs)-a0 > 0 {
		if err := p.resolveAttrs(a0); err != nil {
			return false, 0, err
		}
	}
	idx := len(p.els)
	p.els = append(p.els, pelem{space: space, local: p.rawStr(local, qe), a0: a0, a1: len(p.attrs)})
	if len(p.open) > 0 {
		p.kids = append(p.kids, pnode{elem: idx})
	}
	if empty {
		p.popNS(nsMark)
	} else {
		p.open = append(p.open, openElem{el: idx, kids: len(p.kids), ns: nsMark, qs: qs, qe: qe})
	}
	return empty, next, nil
}

// resolveAttrs resolves the prefixes of the attributes p.attrs[a0:] and
// refuses duplicates (also after namespace resolution).
func (p *parser) resolveAttrs(a0 int) error {
	attrs := p.attrs[a0:]
	for k := range attrs {
		a := &attrs[k]
		if a.qc >= 0 {
			var err error
			if a.space, err = p.resolve(int(a.qs), int(a.qc), false); err != nil {
				return err
			}
		}
		for _, o := range attrs[:k] {
			if o.local.n == a.local.n && p.get(o.local) == p.get(a.local) && p.get(o.space) == p.get(a.space) {
				return notWellFormed("duplicate attribute", p.pos(int(a.qs)))
			}
		}
	}
	return nil
}

// declare pushes the namespace declarations of the start tag in p.raw,
// enforcing the constraints of Namespaces in XML 1.0 §3.
func (p *parser) declare() error {
	b := p.b
	for k, a := range p.raw {
		prefix := ""
		if a.qc >= 0 {
			prefix = p.str(a.qc+1, a.qe)
		}
		for _, o := range p.raw[:k] {
			if bytes.Equal(b[o.qs:o.qe], b[a.qs:a.qe]) {
				return notWellFormed("duplicate namespace declaration", p.pos(a.qs))
			}
		}
		uri := p.get(a.val)
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
		p.bind(prefix, a.val)
	}
	return nil
}

// resolve returns the namespace of a name that starts at qs and has its
// colon at qc (-1 for none). Element names in the content namespace resolve
// to "".
func (p *parser) resolve(qs, qc int, elem bool) (pstr, error) {
	var prefix []byte
	if qc >= 0 {
		prefix = p.b[qs:qc]
		switch string(prefix) {
		case "xml":
			return p.static(staticXML), nil
		case "xmlns":
			return pstr{}, notWellFormed("element name with the xmlns prefix", p.pos(qs))
		}
	}
	if k, ok := p.lookup(prefix); ok {
		uri := p.ns[k].uri
		if elem && p.get(uri) == p.contentNS {
			return pstr{}, nil
		}
		return uri, nil
	}
	if qc >= 0 {
		return pstr{}, notWellFormed("undeclared namespace prefix "+string(prefix), p.pos(qs))
	}
	return pstr{}, nil
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
func (p *parser) bind(prefix string, uri pstr) {
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

func (p *parser) endTag(lt int) (int, error) {
	b := p.b
	qs := lt + 2
	top := p.open[len(p.open)-1]
	name := b[top.qs:top.qe]
	var j int
	if e := qs + len(name); e < len(b) && (b[e] == '>' || isSpace(b[e])) && bytes.Equal(b[qs:e], name) {
		j = e
		if b[j] != '>' {
			j = p.skipSpace(j)
		}
	} else {
		_, qe, err := p.qname(qs)
		if err != nil {
			return 0, err
		}
		j = p.skipSpace(qe)
		if j < len(b) && b[j] == '>' && !bytes.Equal(b[qs:qe], name) {
			return 0, notWellFormed("end tag </"+string(b[qs:qe])+"> does not match <"+string(name)+">", p.pos(lt))
		}
	}
	if j >= len(b) {
		return 0, p.eof()
	}
	if b[j] != '>' {
		return 0, p.syntax("expected '>' in end tag", j)
	}
	pe := &p.els[top.el]
	kids := p.kids[top.kids:]
	pe.c0 = len(p.done)
	p.done = append(p.done, kids...)
	pe.c1 = len(p.done)
	p.kids = p.kids[:top.kids]
	p.popNS(top.ns)
	p.open = p.open[:len(p.open)-1]
	return j + 1, nil
}

// addRaw appends the raw bytes b[s:e] to the pending text.
func (p *parser) addRaw(s, e int) {
	if s == e {
		return
	}
	if p.tAt < 0 {
		p.tAt, p.tEnd, p.tDec = s, e, -1
		return
	}
	if p.tDec < 0 {
		if p.tEnd == s {
			p.tEnd = e
			return
		}
		p.toDec(s)
	}
	p.dec = append(p.dec, p.b[s:e]...)
}

// toDec switches the pending text to decoded form; at is where text
// starts in the input if none is pending.
func (p *parser) toDec(at int) {
	if p.tAt < 0 {
		p.tAt, p.tDec = at, len(p.dec)
		return
	}
	if p.tDec < 0 {
		p.tDec = len(p.dec)
		p.dec = append(p.dec, p.b[p.tAt:p.tEnd]...)
	}
}

// flush turns pending character data into a child node.
func (p *parser) flush() {
	if p.tAt < 0 {
		return
	}
	t := pstr{at: int32(p.tAt - p.base), n: int32(p.tEnd - p.tAt), src: -1}
	if p.tDec >= 0 {
		t.n, t.src = int32(len(p.dec)-p.tDec), int32(p.tDec)
	}
	if t.n > 0 {
		p.kids = append(p.kids, pnode{elem: -1, text: t})
	}
	p.tAt = -1
}

// text reads character data from b[i] up to the next '<', adding it to the
// pending text so that adjacent text and CDATA sections merge.
func (p *parser) text(i int) (int, error) {
	b := p.b
	plain := uint8(clTextPlain)
	if p.lim.StrictEscaping {
		plain = clTextStrict
	}
	s := i
	for {
		for i < len(b) && class[b[i]]&plain != 0 {
			i++
		}
		if i >= len(b) {
			return 0, p.eof()
		}
		switch c := b[i]; {
		case c == '<':
			p.addRaw(s, i)
			return i, nil
		case c >= utf8.RuneSelf:
			n, err := p.char(i)
			if err != nil {
				return 0, err
			}
			i += n
		case c == '&':
			p.addRaw(s, i)
			r, next, err := p.ref(i)
			if err != nil {
				return 0, err
			}
			p.toDec(i)
			p.dec = utf8.AppendRune(p.dec, r)
			i, s = next, next
		case c == '\r':
			p.addRaw(s, i)
			p.toDec(i)
			p.dec = append(p.dec, '\n')
			i++
			if i < len(b) && b[i] == '\n' {
				i++
			}
			s = i
		case c == ']':
			if i+2 < len(b) && b[i+1] == ']' && b[i+2] == '>' {
				return 0, notWellFormed("']]>' in character data", p.pos(i))
			}
			i++
		case c == '>' || c == '"' || c == '\'':
			// Quotes only reach here under StrictEscaping (seed 9-2).
			if p.lim.StrictEscaping {
				return 0, restricted("unescaped "+quoteChar(c)+" in character data", p.pos(i))
			}
			i++
		default:
			_, err := p.char(i)
			return 0, err
		}
	}
}

// char validates the character at b[i], which is not plain ASCII, and
// returns its length.
func (p *parser) char(i int) (int, error) {
	c := p.b[i]
	if c < utf8.RuneSelf {
		return 0, notWellFormed("character "+quoteRune(rune(c))+" not allowed in XML", p.pos(i))
	}
	r, n, err := p.rune(i)
	if err != nil {
		return 0, err
	}
	if r == 0xFFFE || r == 0xFFFF {
		return 0, notWellFormed("character "+quoteRune(r)+" not allowed in XML", p.pos(i))
	}
	return n, nil
}

// cdata reads a CDATA section at b[lt] into the pending text.
func (p *parser) cdata(lt int) (int, error) {
	b := p.b
	start := lt + len(cdataOpen)
	end := bytes.Index(b[start:], []byte("]]>"))
	if end < 0 {
		if !p.final {
			return 0, errMore
		}
		return 0, notWellFormed("unterminated CDATA section", p.pos(lt))
	}
	end += start
	s := start
	for i := start; i < end; {
		c := b[i]
		if class[c]&clCDATAPlain != 0 {
			i++
			continue
		}
		if c == '\r' {
			p.addRaw(s, i)
			p.toDec(i)
			p.dec = append(p.dec, '\n')
			i++
			if i < end && b[i] == '\n' {
				i++
			}
			s = i
			continue
		}
		n, err := p.char(i)
		if err != nil {
			return 0, err
		}
		i += n
	}
	p.addRaw(s, end)
	return end + 3, nil
}

// attrValue reads an attribute value starting at b[i] (after the quote),
// normalising white space as XML 1.0 §3.3.3 says for CDATA attributes. It
// returns the value and the index after the closing quote.
func (p *parser) attrValue(i int) (pstr, int, error) {
	b := p.b
	q := b[i-1]
	start := i
	for i < len(b) && class[b[i]]&clAttrPlain != 0 {
		i++
	}
	if i < len(b) && b[i] == q {
		return p.rawStr(start, i), i + 1, nil
	}
	d0 := -1 // start of the decoded value in dec, once there is one
	s := start
	dec := func(i int) {
		if d0 < 0 {
			d0 = len(p.dec)
		}
		p.dec = append(p.dec, b[s:i]...)
	}
	for {
		for i < len(b) && class[b[i]]&clAttrPlain != 0 {
			i++
		}
		if i >= len(b) {
			if p.final {
				return pstr{}, 0, notWellFormed("unterminated attribute value", p.pos(i))
			}
			return pstr{}, 0, errMore
		}
		switch c := b[i]; c {
		case q:
			if d0 < 0 {
				return p.rawStr(start, i), i + 1, nil
			}
			dec(i)
			return pstr{at: int32(start - p.base), n: int32(len(p.dec) - d0), src: int32(d0)}, i + 1, nil
		case '<':
			return pstr{}, 0, notWellFormed("'<' in attribute value", p.pos(i))
		case '&':
			dec(i)
			r, next, err := p.ref(i)
			if err != nil {
				return pstr{}, 0, err
			}
			p.dec = utf8.AppendRune(p.dec, r)
			i, s = next, next
		case '\t', '\n', '\r':
			dec(i)
			p.dec = append(p.dec, ' ')
			if c == '\r' && i+1 < len(b) && b[i+1] == '\n' {
				i++
			}
			i++
			s = i
		case '"', '\'', '>':
			if p.lim.StrictEscaping {
				return pstr{}, 0, restricted("unescaped "+quoteChar(c)+" in attribute value", p.pos(i))
			}
			i++
		default:
			n, err := p.char(i)
			if err != nil {
				return pstr{}, 0, err
			}
			i += n
		}
	}
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
		if j >= len(b) && !p.final {
			return 0, 0, errMore
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
	if j >= len(b) && !p.final {
		return 0, 0, errMore
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

// mater makes the strings of a tree in out, which is sized for them. It
// lives on the stack and, in the common case, stores no pointers, so that
// it costs no write barriers while the garbage collector runs.
type mater struct {
	p     *parser
	out   []byte // the strings' bytes: out[:w] are taken
	w     int
	last  pstr // the string made last, at out[lastW:]
	lastW int
}

// str returns the string of s, copied into m.out unless it is static.
func (m *mater) str(s pstr) string {
	switch {
	case s.n == 0:
		return ""
	case s.at < 0:
		return m.p.statics[s.src]
	case s == m.last:
		return unsafe.String(&m.out[m.lastW], int(s.n))
	}
	var src []byte
	if s.src < 0 {
		src = m.p.b[m.p.base+int(s.at):]
	} else {
		src = m.p.dec[s.src:]
	}
	n := int(s.n)
	if m.w+n > len(m.out) {
		// Strings already made keep the old array.
		m.out, m.w = make([]byte, max(n, 2*len(m.out))), 0
	}
	copy(m.out[m.w:m.w+n], src[:n])
	m.last, m.lastW = s, m.w
	m.w += n
	return unsafe.String(&m.out[m.lastW], n)
}

// strBytes returns how many bytes the strings of s need in the copy.
func strBytes(s pstr) int {
	if s.at < 0 {
		return 0
	}
	return int(s.n)
}

// materialize turns the scratch tree into the result. The elements,
// attributes, child nodes and string bytes of a typical stanza share one
// allocation (see allocTree).
func (p *parser) materialize(end int) *stanza.Element {
	nb := 0
	for k := range p.attrs {
		a := &p.attrs[k]
		nb += strBytes(a.space) + strBytes(a.local) + strBytes(a.value)
	}
	for k := range p.els {
		nb += strBytes(p.els[k].space) + strBytes(p.els[k].local)
	}
	for k := range p.done {
		nb += strBytes(p.done[k].text)
	}
	elems, attrs, nodes, out := allocTree(len(p.els), len(p.attrs), len(p.done), nb)
	m := mater{p: p, out: out, last: pstr{n: -1}}
	for k := range p.attrs {
		a := &p.attrs[k]
		attrs[k] = stanza.Attr{Name: stanza.Name{Space: m.str(a.space), Local: m.str(a.local)}, Value: m.str(a.value)}
	}
	for k := range p.els {
		pe := &p.els[k]
		el := &elems[k]
		el.Name = stanza.Name{Space: m.str(pe.space), Local: m.str(pe.local)}
		if pe.a1 > pe.a0 {
			el.Attrs = attrs[pe.a0:pe.a1:pe.a1]
		}
		if pe.c1 > pe.c0 {
			el.Children = nodes[pe.c0:pe.c1:pe.c1]
		}
	}
	for k := range p.done {
		n := &p.done[k]
		if n.elem >= 0 {
			nodes[k].Elem = &elems[n.elem]
		} else {
			nodes[k].Text = m.str(n.text)
		}
	}
	return &elems[0]
}

// block holds the elements, attributes, child nodes and string bytes of a
// small tree in one allocation: E, A, N and S are arrays of stanza.Element,
// stanza.Attr, stanza.Node and byte. The bytes come last, where the garbage
// collector does not look.
type block[E, A, N, S any] struct {
	e E
	a A
	n N
	s S
}

// treeClass is a block type and the counts it holds.
type treeClass struct {
	ne, na, nn, nb int
	alloc          func() (*stanza.Element, *stanza.Attr, *stanza.Node, *byte)
}

func class4[E, A, N, S any]() func() (*stanza.Element, *stanza.Attr, *stanza.Node, *byte) {
	return func() (*stanza.Element, *stanza.Attr, *stanza.Node, *byte) {
		b := new(block[E, A, N, S])
		return (*stanza.Element)(unsafe.Pointer(&b.e)), (*stanza.Attr)(unsafe.Pointer(&b.a)),
			(*stanza.Node)(unsafe.Pointer(&b.n)), (*byte)(unsafe.Pointer(&b.s))
	}
}

// treeClasses are the block shapes, smallest first. The counts follow the
// shapes of real stanzas (a tree has about as many attributes and child
// nodes as elements), and the bytes fill the block up to the allocator's
// size class (counting its 8-byte header above 512 bytes), so that little
// of a block goes unused.
var treeClasses = [...]treeClass{
	{1, 2, 1, 56, class4[[1]stanza.Element, [2]stanza.Attr, [1]stanza.Node, [56]byte]()},
	{1, 2, 1, 152, class4[[1]stanza.Element, [2]stanza.Attr, [1]stanza.Node, [152]byte]()},
	{1, 5, 2, 144, class4[[1]stanza.Element, [5]stanza.Attr, [2]stanza.Node, [144]byte]()},
	{2, 3, 2, 128, class4[[2]stanza.Element, [3]stanza.Attr, [2]stanza.Node, [128]byte]()},
	{2, 4, 2, 168, class4[[2]stanza.Element, [4]stanza.Attr, [2]stanza.Node, [168]byte]()},
	{2, 6, 4, 152, class4[[2]stanza.Element, [6]stanza.Attr, [4]stanza.Node, [152]byte]()},
	{3, 3, 3, 112, class4[[3]stanza.Element, [3]stanza.Attr, [3]stanza.Node, [112]byte]()},
	{3, 4, 4, 168, class4[[3]stanza.Element, [4]stanza.Attr, [4]stanza.Node, [168]byte]()},
	{4, 5, 5, 208, class4[[4]stanza.Element, [5]stanza.Attr, [5]stanza.Node, [208]byte]()},
	{5, 9, 6, 296, class4[[5]stanza.Element, [9]stanza.Attr, [6]stanza.Node, [296]byte]()},
	{5, 9, 6, 424, class4[[5]stanza.Element, [9]stanza.Attr, [6]stanza.Node, [424]byte]()},
	{6, 7, 10, 344, class4[[6]stanza.Element, [7]stanza.Attr, [10]stanza.Node, [344]byte]()},
	{6, 10, 8, 376, class4[[6]stanza.Element, [10]stanza.Attr, [8]stanza.Node, [376]byte]()},
	{8, 14, 12, 440, class4[[8]stanza.Element, [14]stanza.Attr, [12]stanza.Node, [440]byte]()},
	{12, 16, 24, 760, class4[[12]stanza.Element, [16]stanza.Attr, [24]stanza.Node, [760]byte]()},
	{16, 24, 32, 888, class4[[16]stanza.Element, [24]stanza.Attr, [32]stanza.Node, [888]byte]()},
}

// allocTree returns room for ne elements, na attributes, nn nodes and nb
// string bytes: one allocation if a
// block class fits, else one each.
func allocTree(ne, na, nn, nb int) ([]stanza.Element, []stanza.Attr, []stanza.Node, []byte) {
	for k := range treeClasses {
		c := &treeClasses[k]
		if ne <= c.ne && na <= c.na && nn <= c.nn && nb <= c.nb {
			e, a, n, b := c.alloc()
			var as []stanza.Attr
			var ns []stanza.Node
			if na > 0 {
				as = unsafe.Slice(a, na)
			}
			if nn > 0 {
				ns = unsafe.Slice(n, nn)
			}
			return unsafe.Slice(e, ne), as, ns, unsafe.Slice(b, nb)
		}
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
	return e, a, n, make([]byte, nb)
}

// Scratch slices larger than this are dropped after use rather than kept.
const (
	maxScratch = 128
	maxDec     = 1024
)

// reset forgets the current element: it clears every scratch reference into
// it so that nothing is pinned, and drops oversized scratch.
func (p *parser) reset() {
	p.b = nil
	s := p.scratch
	s.raw = s.raw[:0]
	s.attrs = s.attrs[:0]
	s.els = s.els[:0]
	s.open = s.open[:0]
	s.kids = s.kids[:0]
	s.done = s.done[:0]
	s.dec = s.dec[:0]
	if cap(s.attrs) > maxScratch || cap(s.els) > maxScratch || cap(s.kids) > maxScratch ||
		cap(s.done) > maxScratch || cap(s.raw) > maxScratch || cap(s.open) > maxScratch {
		s.attrs, s.els, s.kids, s.done, s.raw, s.open = nil, nil, nil, nil, nil, nil
	}
	if cap(s.dec) > maxDec {
		s.dec = nil
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
	b := data[:e:e]
	p := parserPool.Get().(*parser)
	p.lim = lim
	p.contentNS = contentNS
	p.popNS(0)
	p.statics = append(p.statics[:0], stanza.NSXML, contentNS, stanza.NSStream)
	p.bind("", p.static(1))
	p.bind("stream", p.static(2))
	el, n, err := p.element(b, s, 0, true)
	p.popNS(0)
	parserPool.Put(p)
	if err != nil {
		return nil, err
	}
	if n < e {
		rest := n
		for isSpace(b[rest]) {
			rest++
		}
		if b[rest] == '<' && rest+1 < len(b) && (b[rest+1] == '!' || b[rest+1] == '?') {
			return nil, markupErr(b, rest, true, 0)
		}
		return nil, syntaxErr(b, rest, stanza.StreamNotWellFormed, "data after the element", 0)
	}
	return el, nil
}
