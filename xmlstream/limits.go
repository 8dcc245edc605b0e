package xmlstream

import (
	"strconv"
	"strings"

	"github.com/starling-xmpp/starling/stanza"
)

// Default limits, used for zero fields of Limits.
const (
	defaultMaxStanzaBytes = 256 << 10
	defaultMaxDepth       = 64
	defaultMaxAttrs       = 64
	// maxStanzaLimit caps MaxStanzaBytes: the parser keeps offsets into
	// an element as 32-bit integers.
	maxStanzaLimit = 1 << 30
)

// Limits bounds what a peer can make the decoder hold. Exceeding any of them
// is a policy-violation stream error. Zero fields take the defaults.
type Limits struct {
	// MaxStanzaBytes bounds the raw size of one top-level element, from its
	// '<' to the '>' that closes it, and of the stream header (the XML
	// declaration and the opening stream tag are bounded separately). The
	// decoder never buffers much more than this. Values above 1 GiB are
	// taken as 1 GiB.
	MaxStanzaBytes int
	// MaxDepth bounds nesting: a top-level element is at depth 1, its
	// children at depth 2, and so on.
	MaxDepth int
	// MaxAttrs bounds the attributes of one element, namespace
	// declarations included.
	MaxAttrs int
	// StrictEscaping enforces seed 9-2 literally: a '>' or a quote
	// character of either kind, in character data or inside an attribute
	// value, not written as an entity or character reference, is
	// restricted-xml. It is off by default because RFC 6120 §11.1 (final
	// text) dropped that rule and libstrophe-based clients send raw '\''.
	// CDATA sections, where references cannot be written, are exempt.
	StrictEscaping bool
}

// DefaultLimits returns the limits used for zero fields: 256 KiB stanzas,
// depth 64, 64 attributes, lenient escaping.
func DefaultLimits() Limits {
	return Limits{
		MaxStanzaBytes: defaultMaxStanzaBytes,
		MaxDepth:       defaultMaxDepth,
		MaxAttrs:       defaultMaxAttrs,
	}
}

func (l Limits) withDefaults() Limits {
	if l.MaxStanzaBytes <= 0 {
		l.MaxStanzaBytes = defaultMaxStanzaBytes
	}
	l.MaxStanzaBytes = min(l.MaxStanzaBytes, maxStanzaLimit)
	if l.MaxDepth <= 0 {
		l.MaxDepth = defaultMaxDepth
	}
	if l.MaxAttrs <= 0 {
		l.MaxAttrs = defaultMaxAttrs
	}
	return l
}

// errAt builds a stream error whose text says what went wrong and at which
// byte of the stream (or of the data given to Parse).
func errAt(cond stanza.StreamCondition, what string, off int64) *stanza.StreamError {
	return &stanza.StreamError{Condition: cond, Text: what + " at byte " + strconv.FormatInt(off, 10)}
}

func notWellFormed(what string, off int64) *stanza.StreamError {
	return errAt(stanza.StreamNotWellFormed, what, off)
}

func restricted(what string, off int64) *stanza.StreamError {
	return errAt(stanza.StreamRestrictedXML, what, off)
}

func badEncoding(off int64) *stanza.StreamError {
	return errAt(stanza.StreamUnsupportedEncoding, "invalid UTF-8", off)
}

func tooBig(what string, limit int, off int64) *stanza.StreamError {
	return errAt(stanza.StreamPolicyViolation, what+" exceeds the limit of "+strconv.Itoa(limit), off)
}

// quoteRune formats r as U+XXXX for error texts.
func quoteRune(r rune) string {
	s := strings.ToUpper(strconv.FormatInt(int64(r), 16))
	for len(s) < 4 {
		s = "0" + s
	}
	return "U+" + s
}
