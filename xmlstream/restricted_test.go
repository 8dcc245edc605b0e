package xmlstream

import (
	"strings"
	"testing"

	"github.com/starling-xmpp/starling/stanza"
)

// Seed 9-2 (RFC 6120 §11.1): comments, processing instructions, DTDs,
// entity references other than the predefined ones, and (with
// StrictEscaping) unescaped characters that map to predefined entities are
// restricted-xml, wherever they appear.
func TestSeed9_2_RestrictedXML(t *testing.T) {
	const decl = "<?xml version='1.0'?>"
	tests := []struct {
		name   string
		in     string
		strict bool
	}{
		{"comment in stanza", headC + "<message><body>hi</body><!-- note --></message>", false},
		{"comment in text", headC + "<message><body>a<!--x-->b</body></message>", false},
		{"comment at top level", headC + "<!-- keepalive -->", false},
		{"empty comment", headC + "<message><!----></message>", false},
		{"comment before header", "<!-- hello -->" + headC, false},
		{"comment after XML declaration", decl + "<!-- hello -->" + headC, false},
		{"comment after white space before header", decl + "\n  <!--x-->" + headC, false},
		{"processing instruction in stanza", headC + "<message><?php echo 1; ?></message>", false},
		{"processing instruction at top level", headC + "<?foo bar?>", false},
		{"processing instruction before header", "<?xml-stylesheet href='a'?>" + headC, false},
		{"processing instruction after XML declaration", decl + "<?foo?>" + headC, false},
		{"XML declaration at top level", headC + decl, false},
		{"XML declaration in stanza", headC + "<message>" + decl + "</message>", false},
		{"XML declaration after white space", " " + decl + headC, false},
		{"XML declaration twice", decl + decl + headC, false},
		{"XML declaration after a stanza", headC + "<presence/>" + decl, false},
		{"DOCTYPE before header", "<!DOCTYPE stream:stream>" + headC, false},
		{"DOCTYPE with internal subset", decl + "<!DOCTYPE stream [<!ENTITY x 'y'>]>" + headC, false},
		{"DOCTYPE at top level", headC + "<!DOCTYPE x>", false},
		{"DOCTYPE in stanza", headC + "<message><!DOCTYPE x></message>", false},
		{"ENTITY declaration in stanza", headC + "<message><!ENTITY x 'y'></message>", false},
		{"ELEMENT declaration at top level", headC + "<!ELEMENT x ANY>", false},
		{"entity reference in text", headC + "<message><body>a&nbsp;b</body></message>", false},
		{"entity reference in attribute", headC + "<message to='&host;'/>", false},
		{"entity reference in CDATA-adjacent text", headC + "<m><![CDATA[x]]>&copy;</m>", false},
		{"entity reference in header attribute", strings.Replace(headC, "example.com", "&host;", 1), false},
		{"strict: '>' in text", headC + "<message><body>a > b</body></message>", true},
		{"strict: apostrophe in double-quoted attribute", headC + `<message to="o'hara@example.com"/>`, true},
		{"strict: quote in single-quoted attribute", headC + `<message id='a"b'/>`, true},
		{"strict: '>' in attribute", headC + "<message id='a>b'/>", true},
		{"strict: '>' in header attribute", strings.Replace(headC, "example.com", "a>b", 1), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := decodeString(tt.in, Limits{StrictEscaping: tt.strict})
			if c := condition(res.err); c != stanza.StreamRestrictedXML {
				t.Fatalf("got %v (%d elements), want restricted-xml", res.err, len(res.els))
			}
			if !strings.Contains(res.err.Error(), " at byte ") {
				t.Errorf("error text %q does not say where", res.err)
			}
		})
	}
}

// The same constructs inside an element given to Parse.
func TestSeed9_2_RestrictedXMLParse(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		strict bool
	}{
		{"comment", "<message><!-- x --></message>", false},
		{"comment after element", "<message/><!-- x -->", false},
		{"processing instruction", "<message><?pi?></message>", false},
		{"XML declaration before element", "<?xml version='1.0'?><message/>", false},
		{"DOCTYPE before element", "<!DOCTYPE message><message/>", false},
		{"undefined entity", "<message><body>&eacute;</body></message>", false},
		{"strict: '>' in text", "<message><body>></body></message>", true},
		{"strict: quote in attribute", `<message id='"'/>`, true},
		{"strict: apostrophe in text", "<message><body>it's</body></message>", true},
		{"strict: quote in text", `<message><body>say "hi"</body></message>`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.in), stanza.NSClient, Limits{StrictEscaping: tt.strict})
			if c := condition(err); c != stanza.StreamRestrictedXML {
				t.Fatalf("got %v, want restricted-xml", err)
			}
		})
	}
}

// Without StrictEscaping the raw characters that seed 9-2 forbids are
// accepted (RFC 6120 §11.1 final text), and CDATA is exempt even with it.
func TestSeed9_2_LenientEscaping(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		strict bool
		attr   string
		text   string
	}{
		{"'>' in text", "<message id='x'><body>a > b</body></message>", false, "x", "a > b"},
		{"quotes in text", `<message id='x'><body>it's "so"</body></message>`, false, "x", `it's "so"`},
		{"apostrophe in attribute", `<message id="o'hara"><body/></message>`, false, "o'hara", ""},
		{"quote in attribute", `<message id='say "hi"'><body/></message>`, false, `say "hi"`, ""},
		{"'>' in attribute", "<message id='a>b'><body/></message>", false, "a>b", ""},
		{"strict: '>' in CDATA", "<message id='x'><body><![CDATA[a > b]]></body></message>", true, "x", "a > b"},
		{"strict: escaped", "<message id='&apos;&quot;&gt;'><body>&gt;</body></message>", true, `'">`, ">"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := decodeString(headC+tt.in, Limits{StrictEscaping: tt.strict})
			if len(res.els) != 1 {
				t.Fatalf("got %v", res.err)
			}
			el := res.els[0]
			if got := el.Attr("id"); got != tt.attr {
				t.Errorf("id = %q, want %q", got, tt.attr)
			}
			if got := el.ChildText("", "body"); got != tt.text {
				t.Errorf("body = %q, want %q", got, tt.text)
			}
		})
	}
}
