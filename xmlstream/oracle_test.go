package xmlstream

import (
	"bytes"
	"encoding/xml"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/starling-xmpp/starling/stanza"
)

// The differential oracle: encoding/xml (Strict) reads the same stream, and
// its tokens are turned into trees the way the decoder is supposed to build
// them. encoding/xml is laxer than XML 1.0 and Namespaces in XML in a few
// known ways; a second, raw-token pass spots those inputs so that the fuzz
// test does not insist that Starling accept them.

const oracleHead = "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"

type verdict int

const (
	// vAccept: encoding/xml reads it without restricted constructs; the
	// decoder must accept and build the same trees.
	vAccept verdict = iota
	// vReject: encoding/xml rejects it, or it holds restricted constructs
	// or character data at top level; the decoder must reject it.
	vReject
	// vLax: encoding/xml accepts something that XML 1.0 or Namespaces in
	// XML forbid, or that XML 1.0 fifth edition allows and encoding/xml's
	// older name tables do not. The decoder may go either way; if both
	// accept, the trees must agree.
	vLax
	// vUnknown: encoding/xml rejects it, but possibly only because of its
	// older name tables; any outcome is fine.
	vUnknown
)

func (v verdict) String() string {
	return [...]string{"accept", "reject", "lax", "unknown"}[v]
}

// oracle decides what the decoder should do with content placed inside a
// fixed stream header, and returns encoding/xml's trees.
func oracle(content []byte) ([]*stanza.Element, verdict, string) {
	in := append(append([]byte(oracleHead), content...), Close...)
	d := xml.NewDecoder(bytes.NewReader(in))
	d.Strict = true
	var (
		out        []*stanza.Element
		stack      []*stanza.Element
		depth      int
		prev       int64
		restricted string
	)
	for {
		tok, err := d.Token()
		if err != nil {
			if lax := laxReason(in); lax != "" && restricted == "" {
				return nil, vUnknown, "encoding/xml: " + err.Error() + "; " + lax
			}
			if strings.Contains(err.Error(), "invalid XML name") && hasNonASCIIName(err.Error()) {
				return nil, vUnknown, err.Error()
			}
			return nil, vReject, "encoding/xml: " + err.Error()
		}
		off := d.InputOffset()
		raw := in[prev:off]
		prev = off
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth == 1 {
				continue
			}
			e := &stanza.Element{Name: oracleName(t.Name)}
			for _, a := range t.Attr {
				if a.Name.Space == "xmlns" || a.Name.Space == "" && a.Name.Local == "xmlns" {
					continue
				}
				e.Attrs = append(e.Attrs, stanza.Attr{Name: stanza.Name{Space: a.Name.Space, Local: a.Name.Local}, Value: a.Value})
			}
			if len(stack) == 0 {
				out = append(out, e)
			} else {
				p := stack[len(stack)-1]
				p.Children = append(p.Children, stanza.Node{Elem: e})
			}
			stack = append(stack, e)
		case xml.EndElement:
			depth--
			if depth == 0 {
				if restricted != "" {
					return nil, vReject, restricted
				}
				if lax := laxReason(in[:off]); lax == laxXMLNSElement {
					return nil, vUnknown, lax
				} else if lax != "" {
					return out, vLax, lax
				}
				return out, vAccept, ""
			}
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if depth == 1 {
				if !isSpaceOnly(raw) && restricted == "" {
					restricted = "character data at top level"
				}
				continue
			}
			if len(t) == 0 {
				continue
			}
			p := stack[len(stack)-1]
			if n := len(p.Children); n > 0 && p.Children[n-1].Elem == nil {
				p.Children[n-1].Text += string(t)
			} else {
				p.Children = append(p.Children, stanza.Node{Text: string(t)})
			}
		case xml.Comment, xml.ProcInst, xml.Directive:
			if restricted == "" {
				restricted = "restricted construct"
			}
		}
	}
}

// oracleName maps encoding/xml's resolved element name to ours: the
// content namespace and no namespace are both "".
func oracleName(n xml.Name) stanza.Name {
	if n.Space == stanza.NSClient {
		n.Space = ""
	}
	return stanza.Name{Space: n.Space, Local: n.Local}
}

func hasNonASCIIName(msg string) bool {
	for i := 0; i < len(msg); i++ {
		if msg[i] >= utf8.RuneSelf {
			return true
		}
	}
	return false
}

// laxXMLNSElement is the one laxness after which encoding/xml's tree is
// wrong rather than merely accepted: it never puts an element named xmlns
// in the default namespace.
const laxXMLNSElement = "element named xmlns"

// laxReason reads the stream with raw tokens and reports the first thing
// encoding/xml lets through that XML 1.0 (fifth edition) and Namespaces in
// XML 1.0 do not, or that the two XML editions treat differently.
func laxReason(in []byte) string {
	if s := surrogateRef(in); s != "" {
		return s
	}
	d := xml.NewDecoder(bytes.NewReader(in))
	d.Strict = true
	type scope struct{ prefix, uri string }
	var (
		ns    []scope
		marks []int
		prev  int64
	)
	lookup := func(p string) (string, bool) {
		if p == "xml" {
			return stanza.NSXML, true
		}
		for k := len(ns) - 1; k >= 0; k-- {
			if ns[k].prefix == p {
				return ns[k].uri, true
			}
		}
		return "", p == ""
	}
	for {
		tok, err := d.RawToken()
		if err != nil {
			return ""
		}
		off := d.InputOffset()
		raw := in[prev:off]
		prev = off
		switch t := tok.(type) {
		case xml.StartElement:
			if s := laxTag(raw); s != "" {
				return s
			}
			marks = append(marks, len(ns))
			names := []xml.Name{t.Name}
			for i, a := range t.Attr {
				names = append(names, a.Name)
				for _, b := range t.Attr[:i] {
					if a.Name == b.Name {
						return "duplicate attribute (raw)"
					}
				}
				prefix, isDecl := "", false
				switch {
				case a.Name.Space == "xmlns":
					prefix, isDecl = a.Name.Local, true
				case a.Name.Space == "" && a.Name.Local == "xmlns":
					isDecl = true
				}
				if !isDecl {
					continue
				}
				switch v := normAttr(a.Value); {
				case prefix == "xmlns":
					return "xmlns prefix declared"
				case prefix == "xml" && v != stanza.NSXML:
					return "xml prefix rebound"
				case prefix != "xml" && v == stanza.NSXML:
					return "XML namespace bound elsewhere"
				case v == nsXMLNS:
					return "xmlns namespace bound"
				case prefix != "" && v == "":
					return "prefix undeclared"
				}
				// XML normalises namespace declarations like any
				// attribute value; encoding/xml does not.
				ns = append(ns, scope{prefix, normAttr(a.Value)})
			}
			for _, n := range names {
				if strings.Contains(n.Local, ":") || strings.Contains(n.Space, ":") {
					return "colon misplaced in a name"
				}
				if !isASCII(n.Local) || !isASCII(n.Space) {
					return "non-ASCII name"
				}
				// encoding/xml checks prefix:local as one Name, so the
				// local part may start with a digit, '-' or '.'.
				if n.Space != "" && n.Local != "" && class[n.Local[0]]&clNameStart == 0 {
					return "local part not an NCName"
				}
			}
			if t.Name.Space == "xmlns" {
				return "element with the xmlns prefix"
			}
			if t.Name.Space == "" && t.Name.Local == "xmlns" {
				return laxXMLNSElement
			}
			if _, ok := lookup(t.Name.Space); !ok {
				return "undeclared element prefix"
			}
			seen := map[xml.Name]bool{}
			for _, a := range t.Attr {
				if a.Name.Space == "xmlns" || a.Name.Space == "" && a.Name.Local == "xmlns" {
					continue
				}
				n := a.Name
				if n.Space != "" {
					uri, ok := lookup(n.Space)
					if !ok {
						return "undeclared attribute prefix"
					}
					n.Space = uri
				}
				if seen[n] {
					return "duplicate attribute (resolved)"
				}
				seen[n] = true
			}
		case xml.EndElement:
			if len(marks) == 0 {
				return ""
			}
			ns = ns[:marks[len(marks)-1]]
			marks = marks[:len(marks)-1]
			if len(marks) == 0 {
				return ""
			}
		}
	}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// laxTag reports a start tag whose attributes are not separated by white
// space, which encoding/xml allows.
func laxTag(raw []byte) string {
	var q byte
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case q != 0:
			if c == q {
				q = 0
				if i+1 < len(raw) && !isSpace(raw[i+1]) && raw[i+1] != '/' && raw[i+1] != '>' {
					return "no white space between attributes"
				}
			}
		case c == '"' || c == '\'':
			q = c
		}
	}
	return ""
}

// surrogateRef reports a character reference to a surrogate, which
// encoding/xml turns into U+FFFD instead of rejecting.
func surrogateRef(in []byte) string {
	for i := 0; ; {
		k := bytes.Index(in[i:], []byte("&#"))
		if k < 0 {
			return ""
		}
		i += k + 2
		base, j := 10, i
		if j < len(in) && in[j] == 'x' {
			base, j = 16, j+1
		}
		e := j
		for e < len(in) && e-j < 12 && (in[e] >= '0' && in[e] <= '9' || base == 16 && (in[e]|0x20 >= 'a' && in[e]|0x20 <= 'f')) {
			e++
		}
		if v, err := strconv.ParseUint(string(in[j:e]), base, 32); err == nil && v >= 0xD800 && v <= 0xDFFF {
			return "reference to a surrogate"
		}
	}
}

// ours decodes content placed inside the oracle's stream header.
func ours(content []byte, r func(io.Reader) io.Reader) ([]*stanza.Element, error) {
	in := append(append([]byte(oracleHead), content...), Close...)
	lim := Limits{MaxStanzaBytes: 1 << 30, MaxDepth: 1 << 30, MaxAttrs: 1 << 30}
	res := decodeAll(r(bytes.NewReader(in)), lim)
	if res.err == ErrStreamEnd {
		res.err = nil
	}
	return res.els, res.err
}

// oracleDiff compares trees the way the fuzz test promises: names with
// namespaces, attributes as sets after attribute-value normalisation (tab,
// CR and LF to space, which also hides the difference between literal and
// referenced white space that encoding/xml does not make), text after
// merging.
func oracleDiff(ours, theirs *stanza.Element) string {
	if !sameName(ours.Name, theirs.Name) {
		return "name " + nameString(ours.Name) + " != " + nameString(theirs.Name)
	}
	if len(ours.Attrs) != len(theirs.Attrs) {
		return ours.Name.Local + ": attribute count " + strconv.Itoa(len(ours.Attrs)) + " != " + strconv.Itoa(len(theirs.Attrs))
	}
	for _, a := range ours.Attrs {
		found := false
		for _, b := range theirs.Attrs {
			if sameName(a.Name, b.Name) {
				found = normAttr(a.Value) == normAttr(b.Value)
				break
			}
		}
		if !found {
			return ours.Name.Local + ": attribute " + attrString(a) + " missing or different"
		}
	}
	if len(ours.Children) != len(theirs.Children) {
		return ours.Name.Local + ": child count " + strconv.Itoa(len(ours.Children)) + " != " + strconv.Itoa(len(theirs.Children))
	}
	for i := range ours.Children {
		a, b := ours.Children[i], theirs.Children[i]
		if (a.Elem == nil) != (b.Elem == nil) {
			return ours.Name.Local + ": child kinds differ"
		}
		if a.Elem == nil {
			if a.Text != b.Text {
				return ours.Name.Local + ": text " + strconv.Quote(a.Text) + " != " + strconv.Quote(b.Text)
			}
			continue
		}
		if s := oracleDiff(a.Elem, b.Elem); s != "" {
			return s
		}
	}
	return ""
}

// sameName compares names, the namespace after attribute-value
// normalisation (it comes from an xmlns attribute).
func sameName(a, b stanza.Name) bool {
	return a.Local == b.Local && normAttr(a.Space) == normAttr(b.Space)
}

func normAttr(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, s)
}
