package xmlstream

import (
	"bytes"
	"errors"
	"io"
	"unicode/utf8"

	"github.com/starling-xmpp/starling/stanza"
)

// ErrStreamEnd is returned by Decoder.Next when the peer has sent its closing
// stream tag (</stream:stream>). Further calls to Next return it again.
var ErrStreamEnd = errors.New("xmlstream: end of stream")

var (
	errNoHeader   = errors.New("xmlstream: Next called before ReadHeader")
	errHaveHeader = errors.New("xmlstream: ReadHeader called twice without Restart or Reset")
)

const (
	// initialBufSize is the read buffer of an idle decoder. The buffer
	// grows for a large stanza and shrinks back once it has been read.
	initialBufSize = 4096
	// minRead is the least free space offered to a Read call.
	minRead = 512
)

type phase uint8

const (
	phaseHeader phase = iota // the next call must be ReadHeader
	phaseStream              // inside a stream: Next returns elements
	phaseEnded               // the peer closed its stream
)

// Prologue states (ReadHeader).
const (
	psStart    = iota // very start of a stream: byte order mark, encoding sniffing
	psDecl            // an XML declaration may follow
	psDeclBody        // inside "<?xml", looking for "?>"
	psSpace           // white space before the root start tag
	psRootLT          // at the '<' of the root start tag
	psRootTag         // inside the root start tag
)

// Framer states (Next). The framer only finds where a top-level element
// ends; the parser then reads it properly.
const (
	fsTop    = iota // between top-level elements
	fsLT            // at a '<'
	fsTag           // in a start tag, outside attribute values
	fsQuote         // in an attribute value
	fsEndTag        // in an end tag
	fsText          // in character data
	fsCDATA         // in a CDATA section
)

type frameResult uint8

const (
	frMore    frameResult = iota // need more input
	frElement                    // buf[start:pos] is a complete top-level element
	frEnd                        // buf[start:pos] is the root's end tag
)

// Decoder reads an XMPP stream: the stream header, then one top-level
// element (stanza, stream feature, negotiation element) at a time.
//
// It reads from its io.Reader into a buffer that starts small, grows up to
// about Limits.MaxStanzaBytes for a large element and shrinks back after it.
// A framer scans only the new bytes of each read to find where the pending
// element ends, so an element arriving in many small pieces costs linear
// time; the complete element is then copied once and parsed from that copy.
// Returned elements never alias the decoder's buffers.
//
// Errors in the XML are *stanza.StreamError values whose condition the
// caller sends to the peer; after one, the decoder is dead and every call
// returns the same error. Errors from the io.Reader are returned unchanged
// (io.EOF between elements; io.ErrUnexpectedEOF for an EOF inside one), and
// are not sticky: after a read deadline expires, extending the deadline and
// calling again resumes where the decoder stopped.
//
// A Decoder is not safe for concurrent use.
type Decoder struct {
	rd   io.Reader
	lim  Limits
	buf  []byte // buf[:w] holds data read, buf[r:w] what is not consumed
	r, w int
	base int64 // stream offset of buf[0]

	err  error // sticky stream error
	rerr error // read error to report once the buffered data is used up

	phase phase
	ps    int  // prologue state
	decl  bool // the header had an XML declaration

	fs    int     // framer state
	quote byte    // closing quote in fsQuote (and psRootTag)
	pos   int     // next byte for the framer or prologue to look at
	start int     // start of the pending element, end tag, declaration or header
	depth int     // open elements in the pending top-level element
	name  int     // start of the current tag's name, relative to start
	open  []int32 // open elements' names as (offset from start, length) pairs

	rootName string // raw qualified name of the root element
	p        parser
}

// NewDecoder returns a decoder reading from r under the given limits (zero
// fields take the defaults). The first call must be ReadHeader.
func NewDecoder(r io.Reader, lim Limits) *Decoder {
	lim = lim.withDefaults()
	d := &Decoder{rd: r, lim: lim, buf: make([]byte, initialBufSize)}
	d.p.lim = lim
	return d
}

// Restart prepares for a new stream on the same transport, as after SASL
// success: the next call must be ReadHeader, which may again see an XML
// declaration. Namespace declarations of the old stream are forgotten;
// bytes already buffered are kept. A dead decoder stays dead.
func (d *Decoder) Restart() {
	d.phase = phaseHeader
	d.ps = psStart
	d.decl = false
	d.fs = fsTop
	d.depth = 0
	d.pos, d.start = d.r, d.r
	d.rootName = ""
	d.p.popNS(0)
	d.p.contentNS = ""
}

// Reset switches the decoder to a new transport, as after STARTTLS: it reads
// from r from now on, drops any buffered bytes, forgets any error and
// expects ReadHeader next. It is as good as NewDecoder(r, limits) but reuses
// memory.
func (d *Decoder) Reset(r io.Reader) {
	d.rd = r
	d.r, d.w, d.base = 0, 0, 0
	d.err, d.rerr = nil, nil
	if len(d.buf) != initialBufSize {
		d.buf = make([]byte, initialBufSize)
	}
	d.Restart()
}

// Buffered returns a copy of the bytes read from the transport but not yet
// consumed, or nil if there are none. A server checks after <starttls/> that
// the client sent nothing (but white space) before the TLS handshake.
func (d *Decoder) Buffered() []byte {
	if d.r == d.w {
		return nil
	}
	return bytes.Clone(d.buf[d.r:d.w])
}

func (d *Decoder) fail(err error) error {
	d.err = err
	return err
}

// Next returns the next complete top-level element of the stream, as soon
// as it is complete, reading more input as needed. White space between
// elements (keepalives) is skipped; other character data at top level is
// bad-format. It returns ErrStreamEnd when the peer closes the stream.
//
// Names are resolved: elements in the stream's content namespace (the
// header's DefaultNS), and elements in no namespace (under xmlns=""), get
// Name.Space ""; others carry their namespace URI. Attributes keep their
// namespace in Name.Space (NSXML for xml:lang); namespace declarations are
// not attributes. Text has its references decoded and line endings
// normalised (XML 1.0 §2.11), attribute values are normalised (§3.3.3),
// CDATA sections are text, and adjacent text is one Node.
//
// The elements, attributes and child nodes of a typical stanza share one
// allocation, and its strings one copy of its bytes: holding any part of
// the tree keeps the whole stanza alive. Appending to a returned slice
// never writes into memory shared with another part of the tree.
func (d *Decoder) Next() (*stanza.Element, error) {
	if d.err != nil {
		return nil, d.err
	}
	switch d.phase {
	case phaseHeader:
		return nil, errNoHeader
	case phaseEnded:
		return nil, ErrStreamEnd
	}
	for {
		res, err := d.frame()
		if err != nil {
			return nil, d.fail(err)
		}
		switch res {
		case frElement:
			s, e := d.start, d.pos
			raw := make([]byte, e-s)
			copy(raw, d.buf[s:e])
			d.r = e
			el, n, err := d.p.element(raw, d.base+int64(s))
			if err != nil {
				return nil, d.fail(err)
			}
			if n != len(raw) {
				return nil, d.fail(notWellFormed("data after element", d.base+int64(s+n)))
			}
			return el, nil
		case frEnd:
			if err := d.checkEndTag(d.start, d.pos); err != nil {
				return nil, d.fail(err)
			}
			d.r = d.pos
			d.phase = phaseEnded
			return nil, ErrStreamEnd
		}
		if err := d.fill(); err != nil {
			return nil, err
		}
	}
}

// ReadElement is Next for the side that negotiates: a <stream:error/>
// from the peer comes back as a *stanza.StreamError instead of an element.
func (d *Decoder) ReadElement() (*stanza.Element, error) {
	el, err := d.Next()
	if err != nil {
		return nil, err
	}
	if el.Name == (stanza.Name{Space: stanza.NSStream, Local: "error"}) {
		return nil, stanza.ParseStreamError(el)
	}
	return el, nil
}

// frame advances the framer over buffered input.
//
// While an element is pending the framer looks at no byte beyond
// start+MaxStanzaBytes, so what it finds, errors included, does not depend
// on how the input was split into reads.
func (d *Decoder) frame() (frameResult, error) {
	b := d.buf[:d.w]
	if d.fs != fsTop {
		b = d.window()
	}
	i := d.pos
	for {
		switch d.fs {
		case fsTop:
			for i < len(b) && isSpace(b[i]) {
				i++
			}
			d.r, d.pos = i, i
			if i == len(b) {
				return frMore, nil
			}
			if b[i] != '<' {
				if b[i] >= utf8.RuneSelf && !utf8.FullRune(b[i:]) {
					return frMore, nil
				}
				return 0, syntaxErr(b, i, stanza.StreamBadFormat, "character data at top level", d.base)
			}
			d.start, d.depth, d.fs = i, 0, fsLT
			b = d.window()
		case fsLT:
			if i+1 >= len(b) {
				return d.more(i)
			}
			switch b[i+1] {
			case '/':
				d.fs = fsEndTag
				i += 2
				d.name = i - d.start
			case '!':
				if i+2 >= len(b) {
					return d.more(i)
				}
				if b[i+2] == '[' {
					if d.depth == 0 {
						return 0, errAt(stanza.StreamBadFormat, "CDATA section at top level", d.base+int64(i))
					}
					n := min(len(b)-i, len(cdataOpen))
					if bytes.Equal(b[i:i+n], cdataOpen[:n]) {
						if n < len(cdataOpen) {
							return d.more(i)
						}
						d.fs = fsCDATA
						i += n
						continue
					}
				}
				if err := markupErr(b, i, false, d.base); err != nil {
					return 0, err
				}
				return d.more(i)
			case '?':
				if err := markupErr(b, i, false, d.base); err != nil {
					return 0, err
				}
				return d.more(i)
			default:
				if d.depth >= d.lim.MaxDepth {
					return 0, tooBig("nesting depth", d.lim.MaxDepth, d.base+int64(i))
				}
				d.fs = fsTag
				i++
				d.name = i - d.start
			}
		case fsTag:
			for i < len(b) && b[i] != '>' && b[i] != '"' && b[i] != '\'' && b[i] != '<' {
				i++
			}
			if i == len(b) {
				return d.more(i)
			}
			switch c := b[i]; c {
			case '<':
				// Caught here rather than when the element is complete,
				// which it may never be.
				return 0, notWellFormed("'<' inside a tag", d.base+int64(i))
			case '"', '\'':
				j := i - 1
				for j > d.start && isSpace(b[j]) {
					j--
				}
				if b[j] != '=' {
					if b[j] >= utf8.RuneSelf {
						// Perhaps not UTF-8 at all: let that be the error.
						return 0, syntaxErr(b, j-utf8BackOff(b[:j+1]), stanza.StreamNotWellFormed, "quote outside an attribute value", d.base)
					}
					return 0, notWellFormed("quote outside an attribute value", d.base+int64(i))
				}
				d.quote, d.fs = c, fsQuote
				i++
				continue
			}
			i++
			if b[i-2] != '/' {
				if d.depth > 0 {
					d.pushName(b)
				}
				d.depth++
			} else if d.depth == 0 {
				return d.complete(i, frElement)
			}
			d.fs = fsText
		case fsQuote:
			k := bytes.IndexByte(b[i:], d.quote)
			if k < 0 {
				return d.more(len(b))
			}
			i += k + 1
			d.fs = fsTag
		case fsEndTag:
			k := bytes.IndexByte(b[i:], '>')
			if k < 0 {
				return d.more(len(b))
			}
			i += k + 1
			if d.depth == 0 {
				return d.complete(i, frEnd)
			}
			if d.depth > 1 {
				if err := d.popName(b, i-1); err != nil {
					return 0, err
				}
			}
			d.depth--
			if d.depth == 0 {
				return d.complete(i, frElement)
			}
			d.fs = fsText
		case fsText:
			k := bytes.IndexByte(b[i:], '<')
			if k < 0 {
				return d.more(len(b))
			}
			i += k
			d.fs = fsLT
		case fsCDATA:
			k := bytes.Index(b[i:], []byte("]]>"))
			if k < 0 {
				return d.more(max(i, len(b)-2))
			}
			i += k + 3
			d.fs = fsText
		}
	}
}

// window returns the buffered bytes that may belong to the pending
// construct starting at d.start: at most MaxStanzaBytes of them.
func (d *Decoder) window() []byte {
	return d.buf[:min(d.w, d.start+d.lim.MaxStanzaBytes)]
}

// full reports whether the window is at its limit, so that a construct
// still incomplete is too big.
func (d *Decoder) full() bool {
	return d.w-d.start >= d.lim.MaxStanzaBytes
}

// more records where the framer stopped and checks the size limit: an
// element still incomplete after MaxStanzaBytes bytes is too big.
func (d *Decoder) more(i int) (frameResult, error) {
	d.pos = i
	if d.full() {
		return 0, tooBig("element size", d.lim.MaxStanzaBytes, d.base+int64(d.start))
	}
	return frMore, nil
}

// utf8BackOff returns how many bytes before the end of b the last rune
// starts.
func utf8BackOff(b []byte) int {
	_, n := utf8.DecodeLastRune(b)
	return n - 1
}

// pushName records the name of the start tag just completed, so that a
// mismatched end tag is reported when it arrives rather than when (if ever)
// the top-level element completes. The top-level element's own name is
// checked by the parser.
func (d *Decoder) pushName(b []byte) {
	s := d.start + d.name
	e := s
	for e < len(b) && !isSpace(b[e]) && b[e] != '/' && b[e] != '>' {
		e++
	}
	d.open = append(d.open, int32(d.name), int32(e-s))
}

// popName checks that the end tag whose '>' is at gt closes the innermost
// open element.
func (d *Decoder) popName(b []byte, gt int) error {
	s := d.start + d.name
	e := gt
	for e > s && isSpace(b[e-1]) {
		e--
	}
	n := len(d.open)
	os, ol := d.start+int(d.open[n-2]), int(d.open[n-1])
	d.open = d.open[:n-2]
	if !bytes.Equal(b[s:e], b[os:os+ol]) {
		return notWellFormed("end tag </"+string(b[s:e])+"> does not match <"+string(b[os:os+ol])+">", d.base+int64(s-2))
	}
	return nil
}

func (d *Decoder) complete(i int, res frameResult) (frameResult, error) {
	d.pos = i
	d.open = d.open[:0]
	d.fs = fsTop
	return res, nil
}

// checkEndTag verifies that buf[s:e] closes the root element.
func (d *Decoder) checkEndTag(s, e int) error {
	name := d.buf[s+2 : e-1]
	for len(name) > 0 && isSpace(name[len(name)-1]) {
		name = name[:len(name)-1]
	}
	if !utf8.Valid(name) {
		return badEncoding(d.base + int64(s))
	}
	if string(name) != d.rootName {
		return notWellFormed("end tag </"+string(name)+"> does not match <"+d.rootName+">", d.base+int64(s))
	}
	return nil
}

// fill reads more input, making room first. It returns a read error, or
// io.ErrUnexpectedEOF for an EOF in the middle of something.
func (d *Decoder) fill() error {
	if d.rerr != nil {
		err := d.rerr
		if err != io.EOF {
			d.rerr = nil
		}
		return d.readErr(err)
	}
	d.makeRoom()
	for range 100 {
		n, err := d.rd.Read(d.buf[d.w:])
		if n < 0 || n > len(d.buf)-d.w {
			return errors.New("xmlstream: invalid count from Read")
		}
		d.w += n
		if err != nil {
			if n > 0 {
				d.rerr = err
				return nil
			}
			return d.readErr(err)
		}
		if n > 0 {
			return nil
		}
	}
	return io.ErrNoProgress
}

func (d *Decoder) readErr(err error) error {
	if err != io.EOF {
		return err
	}
	var mid bool
	switch d.phase {
	case phaseHeader:
		mid = d.ps != psStart || d.w > d.r
	case phaseStream:
		mid = d.fs != fsTop || d.w > d.r
	}
	if mid {
		return io.ErrUnexpectedEOF
	}
	return io.EOF
}

// makeRoom ensures at least minRead free bytes after buf[w], by dropping
// consumed bytes, growing for a large element, or shrinking back to the
// initial size when idle.
func (d *Decoder) makeRoom() {
	n := d.w - d.r
	idle := d.phase == phaseStream && d.fs == fsTop
	if idle && len(d.buf) > initialBufSize && n <= initialBufSize/2 {
		nb := make([]byte, initialBufSize)
		copy(nb, d.buf[d.r:d.w])
		d.buf = nb
		d.shift(d.r)
		return
	}
	if len(d.buf)-d.w >= minRead {
		return
	}
	need := n + minRead
	if need <= len(d.buf) {
		copy(d.buf, d.buf[d.r:d.w])
		d.shift(d.r)
		return
	}
	size := len(d.buf)
	for size < need {
		size *= 2
	}
	if lim := d.lim.MaxStanzaBytes + initialBufSize; size > lim {
		size = max(lim, need)
	}
	nb := make([]byte, size)
	copy(nb, d.buf[d.r:d.w])
	d.buf = nb
	d.shift(d.r)
}

// shift accounts for dropping the first k bytes of the buffer.
func (d *Decoder) shift(k int) {
	d.base += int64(k)
	d.r -= k
	d.w -= k
	d.pos -= k
	d.start -= k
}
