package xmlstream

import (
	"bytes"
	"errors"
	"io"
	"sync"
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
	// idleBufSize is the read buffer of an idle decoder: one that has
	// nothing buffered and whose last read did not fill its buffer.
	idleBufSize = 512
	// busyBufSize is the buffer of a decoder whose reads fill its buffer:
	// it comes from a pool, and goes back when the decoder is idle again.
	busyBufSize = 8192
	// minRead is the least free space offered to a Read call.
	minRead = 256
)

// busyPool holds busy buffers that idle decoders gave back.
var busyPool sync.Pool // of *[busyBufSize]byte

func getBusy() []byte {
	if b, ok := busyPool.Get().(*[busyBufSize]byte); ok {
		return b[:]
	}
	return make([]byte, busyBufSize)
}

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

// Framer states (Next). The parser reads each top-level element in one pass
// as soon as its first bytes are there; only when the element is
// incomplete does the framer take over, to find where it ends (or an error)
// without rescanning from the start on every read. The parser then reads
// the complete element.
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
	frTry                        // a top-level start tag at start: try the parser
)

// Decoder reads an XMPP stream: the stream header, then one top-level
// element (stanza, stream feature, negotiation element) at a time.
//
// It reads from its io.Reader into a buffer that starts small (512 bytes),
// grows while reads fill it and up to about Limits.MaxStanzaBytes for a
// large element, and shrinks back when the decoder is idle. Each element is
// parsed in one pass straight from that buffer; if the element is not
// complete yet, a framer scans only the new bytes of each read to find
// where it ends, so an element arriving in many small pieces costs linear
// time. Returned elements never alias the decoder's buffers.
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
	rd       io.Reader
	lim      Limits
	buf      []byte // buf[:w] holds data read, buf[r:w] what is not consumed
	small    []byte // the idle buffer, kept while buf is a bigger one
	r, w     int
	base     int64 // stream offset of buf[0]
	lastFull bool  // the last read filled the space it was offered

	err  error // sticky stream error
	rerr error // read error to report once the buffered data is used up

	phase phase
	ps    int  // prologue state
	decl  bool // the header had an XML declaration

	fs    int     // framer state
	tried bool    // the parser has seen the pending element, incomplete
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
	d := &Decoder{rd: r, lim: lim, buf: make([]byte, idleBufSize)}
	d.small = d.buf
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
	d.tried = false
	d.depth = 0
	d.open = d.open[:0]
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
	d.lastFull = false
	d.setBuf(d.small)
	d.p.releaseScratch()
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
// The elements, attributes, child nodes and strings of a typical stanza
// share one allocation: holding any part of the tree keeps the whole
// stanza alive. Appending to a returned slice never writes into memory
// shared with another part of the tree.
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
		res, ferr := d.frame()
		if ferr != nil {
			// The parser has the last word on what is wrong with an
			// element, so that the error does not depend on how the
			// input was split.
			if d.tried {
				if el, done, err := d.parse(); done || err != errMore {
					return el, err
				}
			}
			return nil, d.fail(ferr)
		}
		switch res {
		case frTry:
			if el, done, err := d.parse(); done || err != errMore {
				return el, err
			}
			if d.full() {
				return nil, d.fail(tooBig("element size", d.lim.MaxStanzaBytes, d.base+int64(d.start)))
			}
			d.tried = true
			continue
		case frElement:
			el, done, err := d.parse()
			if !done && err == errMore {
				err = d.fail(notWellFormed("unexpected end of element", d.base+int64(d.pos)))
			}
			return el, err
		case frEnd:
			if err := d.checkEndTag(d.start, d.pos); err != nil {
				return nil, d.fail(err)
			}
			d.r = d.pos
			d.phase = phaseEnded
			return nil, ErrStreamEnd
		}
		if err := d.fill(); err != nil {
			if err == io.ErrUnexpectedEOF && d.tried {
				if el, done, err := d.parse(); done || err != errMore {
					return el, err
				}
			}
			return nil, err
		}
	}
}

// parse runs the parser on the pending element. done reports an element
// returned; otherwise err is errMore or the decoder's error.
func (d *Decoder) parse() (el *stanza.Element, done bool, err error) {
	el, end, err := d.p.element(d.window(), d.start, d.base, false)
	if err == errMore {
		return nil, false, err
	}
	if err != nil {
		return nil, false, d.fail(err)
	}
	d.r, d.pos = end, end
	d.fs = fsTop
	d.tried = false
	d.open = d.open[:0]
	return el, true, nil
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
				if d.depth == 0 && !d.tried {
					d.pos = i
					return frTry, nil
				}
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
	d.tried = false
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
		free := len(d.buf) - d.w
		n, err := d.rd.Read(d.buf[d.w:])
		if n < 0 || n > free {
			return errors.New("xmlstream: invalid count from Read")
		}
		d.w += n
		d.lastFull = n == free
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

// makeRoom ensures at least minRead free bytes after buf[w]. An idle
// decoder (nothing pending, and its last read did not fill the space
// offered, so the peer has nothing more to send right now) goes back to the
// small idle buffer and gives its scratch space back. One whose reads fill
// its buffer moves to a busy buffer from the pool, so that a busy stream
// does not make many small reads. A large element grows the buffer up to
// about MaxStanzaBytes.
func (d *Decoder) makeRoom() {
	n := d.w - d.r
	idle := d.phase == phaseStream && d.fs == fsTop && !d.lastFull
	if idle && n <= idleBufSize/2 {
		if len(d.buf) > idleBufSize {
			copy(d.small, d.buf[d.r:d.w])
			d.setBuf(d.small)
			d.shift(d.r)
		}
		d.p.releaseScratch()
	}
	limit := d.lim.MaxStanzaBytes + idleBufSize
	if d.lastFull && len(d.buf) < busyBufSize && len(d.buf) < limit {
		d.grow(min(busyBufSize, limit))
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
	size := max(len(d.buf), idleBufSize)
	for size < need {
		size *= 2
	}
	if size > limit {
		size = max(limit, need)
	}
	d.grow(size)
}

// grow moves the buffered bytes to a buffer of the given size.
func (d *Decoder) grow(size int) {
	var nb []byte
	if size == busyBufSize {
		nb = getBusy()
	} else {
		nb = make([]byte, size)
	}
	copy(nb, d.buf[d.r:d.w])
	d.setBuf(nb)
	d.shift(d.r)
}

// setBuf makes b the buffer, giving a busy buffer back to the pool.
func (d *Decoder) setBuf(b []byte) {
	if len(d.buf) == busyBufSize && cap(d.buf) == busyBufSize {
		busyPool.Put((*[busyBufSize]byte)(d.buf))
	}
	d.buf = b
}

// shift accounts for dropping the first k bytes of the buffer.
func (d *Decoder) shift(k int) {
	d.base += int64(k)
	d.r -= k
	d.w -= k
	d.pos -= k
	d.start -= k
}
