package stanza

import (
	"errors"
	"strings"
)

// StreamCondition is a defined condition of a stream error (RFC 6120 §4.9.3).
type StreamCondition string

// The stream error conditions of RFC 6120 §4.9.3, all of them.
const (
	StreamBadFormat              StreamCondition = "bad-format"
	StreamBadNamespacePrefix     StreamCondition = "bad-namespace-prefix"
	StreamConflict               StreamCondition = "conflict"
	StreamConnectionTimeout      StreamCondition = "connection-timeout"
	StreamHostGone               StreamCondition = "host-gone"
	StreamHostUnknown            StreamCondition = "host-unknown"
	StreamImproperAddressing     StreamCondition = "improper-addressing"
	StreamInternalServerError    StreamCondition = "internal-server-error"
	StreamInvalidFrom            StreamCondition = "invalid-from"
	StreamInvalidNamespace       StreamCondition = "invalid-namespace"
	StreamInvalidXML             StreamCondition = "invalid-xml"
	StreamNotAuthorized          StreamCondition = "not-authorized"
	StreamNotWellFormed          StreamCondition = "not-well-formed"
	StreamPolicyViolation        StreamCondition = "policy-violation"
	StreamRemoteConnectionFailed StreamCondition = "remote-connection-failed"
	StreamReset                  StreamCondition = "reset"
	StreamResourceConstraint     StreamCondition = "resource-constraint"
	StreamRestrictedXML          StreamCondition = "restricted-xml"
	StreamSeeOtherHost           StreamCondition = "see-other-host"
	StreamSystemShutdown         StreamCondition = "system-shutdown"
	StreamUndefinedCondition     StreamCondition = "undefined-condition"
	StreamUnsupportedEncoding    StreamCondition = "unsupported-encoding"
	StreamUnsupportedFeature     StreamCondition = "unsupported-feature"
	StreamUnsupportedStanzaType  StreamCondition = "unsupported-stanza-type"
	StreamUnsupportedVersion     StreamCondition = "unsupported-version"
)

// StreamConditions lists every defined stream error condition, in RFC order.
var StreamConditions = []StreamCondition{
	StreamBadFormat, StreamBadNamespacePrefix, StreamConflict, StreamConnectionTimeout,
	StreamHostGone, StreamHostUnknown, StreamImproperAddressing, StreamInternalServerError,
	StreamInvalidFrom, StreamInvalidNamespace, StreamInvalidXML, StreamNotAuthorized,
	StreamNotWellFormed, StreamPolicyViolation, StreamRemoteConnectionFailed, StreamReset,
	StreamResourceConstraint, StreamRestrictedXML, StreamSeeOtherHost, StreamSystemShutdown,
	StreamUndefinedCondition, StreamUnsupportedEncoding, StreamUnsupportedFeature,
	StreamUnsupportedStanzaType, StreamUnsupportedVersion,
}

// StreamError is a stream-level error (RFC 6120 §4.9): it ends the stream.
type StreamError struct {
	Condition StreamCondition
	// Detail is the character data of the condition element; only
	// see-other-host carries one (the host to connect to).
	Detail string
	// Text is a human-readable description, sent in English.
	Text string
	// App is an optional application-specific condition element.
	App *Element
}

// NewStreamError returns a stream error with the given condition and text.
func NewStreamError(cond StreamCondition, text string) *StreamError {
	return &StreamError{Condition: cond, Text: text}
}

func (e *StreamError) Error() string {
	if e.Text != "" {
		return "stream error: " + string(e.Condition) + ": " + e.Text
	}
	return "stream error: " + string(e.Condition)
}

// Is reports whether target is a *StreamError with the same condition, so
// that errors.Is(err, &StreamError{Condition: StreamConflict}) works.
func (e *StreamError) Is(target error) bool {
	var t *StreamError
	if !errors.As(target, &t) {
		return false
	}
	return t.Condition == e.Condition
}

// Element returns the <stream:error/> element (RFC 6120 §4.9.2).
func (e *StreamError) Element() *Element {
	el := New(NSStream, "error")
	cond := New(NSStreams, string(e.Condition)).AppendText(e.Detail)
	el.Append(cond)
	if e.Text != "" {
		el.Append(New(NSStreams, "text").SetAttrNS(NSXML, "lang", "en").AppendText(e.Text))
	}
	el.Append(e.App)
	return el
}

// ParseStreamError reads a <stream:error/> element. An element with no known
// condition yields undefined-condition, as RFC 6120 §4.9.3.21 suggests.
func ParseStreamError(el *Element) *StreamError {
	se := &StreamError{Condition: StreamUndefinedCondition}
	found := false
	for c := range el.Elements() {
		switch {
		case c.Name.Space == NSStreams && c.Name.Local == "text":
			se.Text = c.Text()
		case c.Name.Space == NSStreams && !found:
			se.Condition = StreamCondition(c.Name.Local)
			se.Detail = c.Text()
			found = true
		case c.Name.Space != NSStreams && se.App == nil:
			se.App = c
		}
	}
	return se
}

// ErrorType is the type attribute of a stanza error (RFC 6120 §8.3.2).
type ErrorType string

// The stanza error types.
const (
	Auth     ErrorType = "auth"
	Cancel   ErrorType = "cancel"
	Continue ErrorType = "continue"
	Modify   ErrorType = "modify"
	Wait     ErrorType = "wait"
)

// Condition is a defined condition of a stanza error (RFC 6120 §8.3.3).
type Condition string

// The stanza error conditions of RFC 6120 §8.3.3, and unknown-sender, which
// rfc3920bis-04 §8.5 (multiple resources on one stream) adds.
const (
	BadRequest            Condition = "bad-request"
	Conflict              Condition = "conflict"
	FeatureNotImplemented Condition = "feature-not-implemented"
	Forbidden             Condition = "forbidden"
	Gone                  Condition = "gone"
	InternalServerError   Condition = "internal-server-error"
	ItemNotFound          Condition = "item-not-found"
	JIDMalformed          Condition = "jid-malformed"
	NotAcceptable         Condition = "not-acceptable"
	NotAllowed            Condition = "not-allowed"
	NotAuthorized         Condition = "not-authorized"
	PolicyViolation       Condition = "policy-violation"
	RecipientUnavailable  Condition = "recipient-unavailable"
	Redirect              Condition = "redirect"
	RegistrationRequired  Condition = "registration-required"
	RemoteServerNotFound  Condition = "remote-server-not-found"
	RemoteServerTimeout   Condition = "remote-server-timeout"
	ResourceConstraint    Condition = "resource-constraint"
	ServiceUnavailable    Condition = "service-unavailable"
	SubscriptionRequired  Condition = "subscription-required"
	UndefinedCondition    Condition = "undefined-condition"
	UnexpectedRequest     Condition = "unexpected-request"
	UnknownSender         Condition = "unknown-sender"
)

// defaultTypes gives each condition the error type RFC 6120 §8.3.3 names
// for it.
var defaultTypes = map[Condition]ErrorType{
	BadRequest:            Modify,
	Conflict:              Cancel,
	FeatureNotImplemented: Cancel,
	Forbidden:             Auth,
	Gone:                  Cancel,
	InternalServerError:   Cancel,
	ItemNotFound:          Cancel,
	JIDMalformed:          Modify,
	NotAcceptable:         Modify,
	NotAllowed:            Cancel,
	NotAuthorized:         Auth,
	PolicyViolation:       Modify,
	RecipientUnavailable:  Wait,
	Redirect:              Modify,
	RegistrationRequired:  Auth,
	RemoteServerNotFound:  Cancel,
	RemoteServerTimeout:   Wait,
	ResourceConstraint:    Wait,
	ServiceUnavailable:    Cancel,
	SubscriptionRequired:  Auth,
	UndefinedCondition:    Cancel,
	UnexpectedRequest:     Wait,
	UnknownSender:         Modify,
}

// Conditions lists every stanza error condition Starling knows, in RFC order
// (unknown-sender last).
var Conditions = []Condition{
	BadRequest, Conflict, FeatureNotImplemented, Forbidden, Gone, InternalServerError,
	ItemNotFound, JIDMalformed, NotAcceptable, NotAllowed, NotAuthorized, PolicyViolation,
	RecipientUnavailable, Redirect, RegistrationRequired, RemoteServerNotFound,
	RemoteServerTimeout, ResourceConstraint, ServiceUnavailable, SubscriptionRequired,
	UndefinedCondition, UnexpectedRequest, UnknownSender,
}

// Error is a stanza error (RFC 6120 §8.3). It is a Go error, so handlers can
// return one and have it sent back to the sender.
type Error struct {
	Type      ErrorType
	Condition Condition
	// Detail is the character data of the condition element: the new
	// address for gone and redirect.
	Detail string
	Text   string
	// By is the entity that generated the error, when not the recipient.
	By string
	// App is an optional application-specific condition element.
	App *Element
}

// NewError returns a stanza error with the condition's usual type.
func NewError(cond Condition, text string) *Error {
	t, ok := defaultTypes[cond]
	if !ok {
		t = Cancel
	}
	return &Error{Type: t, Condition: cond, Text: text}
}

func (e *Error) Error() string {
	if e.Text != "" {
		return string(e.Condition) + ": " + e.Text
	}
	return string(e.Condition)
}

// Is reports whether target is an *Error with the same condition.
func (e *Error) Is(target error) bool {
	var t *Error
	if !errors.As(target, &t) {
		return false
	}
	return t.Condition == e.Condition
}

// Element returns the <error/> child element (RFC 6120 §8.3.2).
func (e *Error) Element() *Element {
	el := New("", "error").SetAttr("type", string(e.Type))
	if e.By != "" {
		el.SetAttr("by", e.By)
	}
	el.Append(New(NSStanzas, string(e.Condition)).AppendText(e.Detail))
	if e.Text != "" {
		el.Append(New(NSStanzas, "text").SetAttrNS(NSXML, "lang", "en").AppendText(e.Text))
	}
	el.Append(e.App)
	return el
}

// ParseError reads the <error/> child of an error stanza. It returns nil if
// st has no <error/> child.
func ParseError(st *Element) *Error {
	el := st.Child("", "error")
	if el == nil {
		return nil
	}
	e := &Error{Type: ErrorType(el.Attr("type")), Condition: UndefinedCondition, By: el.Attr("by")}
	found := false
	for c := range el.Elements() {
		switch {
		case c.Name.Space == NSStanzas && c.Name.Local == "text":
			e.Text = c.Text()
		case c.Name.Space == NSStanzas && !found:
			e.Condition = Condition(c.Name.Local)
			e.Detail = c.Text()
			found = true
		case c.Name.Space != NSStanzas && e.App == nil:
			e.App = c
		}
	}
	return e
}

// ErrorReply builds the error stanza answering st (RFC 6120 §8.3.1): same
// kind and id, 'from' and 'to' swapped, type "error". For an IQ request the
// original payload is echoed, as seed 10.4-6 recommends.
//
// The caller must not call ErrorReply for a stanza that is itself of type
// error (seed 10.5-2); IsError tells.
func ErrorReply(st *Element, err *Error) *Element {
	r := New(st.Name.Space, st.Name.Local)
	if id := st.Attr("id"); id != "" || st.HasAttr("id") {
		r.SetAttr("id", id)
	}
	if to := st.Attr("to"); to != "" {
		r.SetAttr("from", to)
	}
	if from := st.Attr("from"); from != "" {
		r.SetAttr("to", from)
	}
	r.SetAttr("type", "error")
	if st.Name.Local == "iq" {
		r.Append(st.FirstElement())
	}
	return r.Append(err.Element())
}

// IsError reports whether st is an error stanza, which must never be
// answered with another error.
func IsError(st *Element) bool { return st.Attr("type") == "error" }

// IsStanza reports whether el is a message, presence or iq in the stream's
// content namespace.
func IsStanza(el *Element) bool {
	if el.Name.Space != "" {
		return false
	}
	switch el.Name.Local {
	case "message", "presence", "iq":
		return true
	}
	return false
}

// SanitizeText replaces characters that XML 1.0 cannot carry (control
// characters, unpaired surrogates, U+FFFE/U+FFFF) with U+FFFD. Use it for
// human-readable text built from peer input.
func SanitizeText(s string) string {
	ok := true
	for _, r := range s {
		if !IsXMLChar(r) {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	return strings.Map(func(r rune) rune {
		if IsXMLChar(r) {
			return r
		}
		return '\uFFFD'
	}, s)
}

// IsXMLChar reports whether r matches the XML 1.0 Char production.
func IsXMLChar(r rune) bool {
	switch {
	case r == 0x9 || r == 0xA || r == 0xD:
		return true
	case r >= 0x20 && r <= 0xD7FF:
		return true
	case r >= 0xE000 && r <= 0xFFFD:
		return true
	case r >= 0x10000 && r <= 0x10FFFF:
		return true
	}
	return false
}

// SASLFailure builds <failure/> in the SASL namespace with a condition of
// RFC 6120 §6.5 and optional text.
func SASLFailure(cond, text string) *Element {
	f := New(NSSASL, "failure").Append(New(NSSASL, cond))
	if text != "" {
		f.Append(New(NSSASL, "text").SetAttrNS(NSXML, "lang", "en").AppendText(text))
	}
	return f
}
