package stanza

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// nsXMLNS is the namespace of namespace declarations. Attributes in it are
// never written: the encoder makes its own declarations.
const nsXMLNS = "http://www.w3.org/2000/xmlns/"

// AppendXML appends e's XML form to dst and returns the extended slice.
// contentNS is the namespace that Space "" stands for on the destination
// stream ("jabber:client" or "jabber:server").
//
// e is written as if inside a stream whose default namespace is contentNS
// and which declares the stream: prefix:
//   - an element with Space "" (or contentNS) needs no xmlns at top level;
//     one with Space NSStream is written with the stream: prefix and no
//     declaration (stream:features, stream:error); one with Space NSXML
//     with the predeclared xml: prefix; any other gets xmlns='...'.
//   - a child gets xmlns='...' only when its namespace differs from the
//     default namespace in effect, so a Space "" child of a foreign-namespace
//     parent gets xmlns='contentNS'.
//   - unqualified attributes are written as they are; {NSXML, x} as xml:x;
//     an attribute in any other namespace gets a generated prefix (ns1, ns2,
//     ...) declared on its element. Namespace declarations found in Attrs are
//     skipped.
//
// Following seed 9-1, character data and attribute values escape all five
// predefined entities; a carriage return is written as &#xD;, and in
// attribute values tab, line feed and carriage return as &#x9;, &#xA; and
// &#xD;, so that they survive the parser's normalisation. Characters that
// XML cannot carry (see IsXMLChar) and invalid UTF-8 become U+FFFD. An
// element without content is written as <x/>. Comments, processing
// instructions and DTDs are never written. Names are written as they are:
// the caller must keep them valid.
func (e *Element) AppendXML(dst []byte, contentNS string) []byte {
	if e == nil {
		return dst
	}
	return e.appendXML(dst, contentNS, contentNS)
}

// AppendStandalone appends e as a document of its own, the way XMPP over
// WebSocket sends each element (RFC 7395 §3.3.3): the content namespace is
// declared on e itself (xmlns='jabber:client'), and so is the stream
// prefix for <stream:features/> and <stream:error/>.
func (e *Element) AppendStandalone(dst []byte, contentNS string) []byte {
	if e == nil {
		return dst
	}
	start := len(dst)
	dst = e.appendXML(dst, contentNS, "")
	if e.Name.Space == NSStream {
		at := start + len("<stream:") + len(e.Name.Local)
		decl := " xmlns:stream='" + NSStream + "'"
		dst = append(dst, decl...)
		copy(dst[at+len(decl):], dst[at:len(dst)-len(decl)])
		copy(dst[at:], decl)
	}
	return dst
}

// String returns e's XML form for the jabber:client namespace, for logs and
// tests.
func (e *Element) String() string {
	return string(e.AppendXML(nil, NSClient))
}

// appendXML writes e where defNS is the default namespace in effect.
func (e *Element) appendXML(dst []byte, contentNS, defNS string) []byte {
	dst = append(dst, '<')
	prefix := ""
	childNS := defNS
	decl := false
	switch sp := e.Name.Space; sp {
	case NSStream:
		prefix = "stream:"
	case NSXML:
		prefix = "xml:"
	default:
		if sp == "" {
			sp = contentNS
		}
		decl = sp != defNS
		childNS = sp
	}
	dst = append(dst, prefix...)
	dst = append(dst, e.Name.Local...)
	if decl {
		dst = append(dst, " xmlns='"...)
		dst = appendEscaped(dst, childNS, &attrRepl)
		dst = append(dst, '\'')
	}
	dst = e.appendAttrs(dst)
	empty := true
	for _, n := range e.Children {
		if n.Elem != nil || n.Text != "" {
			empty = false
			break
		}
	}
	if empty {
		return append(dst, "/>"...)
	}
	dst = append(dst, '>')
	for _, n := range e.Children {
		if n.Elem != nil {
			dst = n.Elem.appendXML(dst, contentNS, childNS)
		} else {
			dst = appendEscaped(dst, n.Text, &textRepl)
		}
	}
	dst = append(dst, "</"...)
	dst = append(dst, prefix...)
	dst = append(dst, e.Name.Local...)
	return append(dst, '>')
}

func (e *Element) appendAttrs(dst []byte) []byte {
	var buf [4]string
	spaces := buf[:0]
	for _, a := range e.Attrs {
		switch a.Name.Space {
		case "":
			if a.Name.Local == "xmlns" || strings.HasPrefix(a.Name.Local, "xmlns:") {
				continue
			}
			dst = append(dst, ' ')
		case NSXML:
			dst = append(dst, " xml:"...)
		case nsXMLNS:
			continue
		default:
			k := 0
			for k < len(spaces) && spaces[k] != a.Name.Space {
				k++
			}
			if k == len(spaces) {
				spaces = append(spaces, a.Name.Space)
				dst = append(dst, " xmlns:ns"...)
				dst = strconv.AppendInt(dst, int64(k+1), 10)
				dst = append(dst, "='"...)
				dst = appendEscaped(dst, a.Name.Space, &attrRepl)
				dst = append(dst, '\'')
			}
			dst = append(dst, " ns"...)
			dst = strconv.AppendInt(dst, int64(k+1), 10)
			dst = append(dst, ':')
		}
		dst = append(dst, a.Name.Local...)
		dst = append(dst, "='"...)
		dst = appendEscaped(dst, a.Value, &attrRepl)
		dst = append(dst, '\'')
	}
	return dst
}

// Replacements for ASCII bytes; "" means the byte is written as is.
var textRepl, attrRepl = func() (t, a [utf8.RuneSelf]string) {
	for c := range utf8.RuneSelf {
		if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
			t[c] = "\uFFFD"
		}
	}
	t['&'] = "&amp;"
	t['<'] = "&lt;"
	t['>'] = "&gt;"
	t['"'] = "&quot;"
	t['\''] = "&apos;"
	t['\r'] = "&#xD;"
	a = t
	a['\t'] = "&#x9;"
	a['\n'] = "&#xA;"
	return t, a
}()

// appendEscaped appends s with the replacements in repl and U+FFFD for
// anything XML cannot carry.
func appendEscaped(dst []byte, s string, repl *[utf8.RuneSelf]string) []byte {
	last := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if r := repl[c]; r != "" {
				dst = append(dst, s[last:i]...)
				dst = append(dst, r...)
				last = i + 1
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 || r == 0xFFFE || r == 0xFFFF {
			dst = append(dst, s[last:i]...)
			dst = append(dst, "\uFFFD"...)
			last = i + n
		}
		i += n
	}
	return append(dst, s[last:]...)
}
