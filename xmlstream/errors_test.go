package xmlstream

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/starling-xmpp/starling/stanza"
)

func TestNotWellFormed(t *testing.T) {
	tests := []struct{ name, in string }{
		{"mismatched end tag", "<message><body></message></body>"},
		{"end tag with other prefix", "<a:x xmlns:a='u' xmlns:b='u'></b:x>"},
		{"name starting with a digit", "<1message/>"},
		{"name starting with a hyphen", "<-x/>"},
		{"name starting with a colon", "<:x/>"},
		{"name ending with a colon", "<x:/>"},
		{"two colons", "<a:b:c xmlns:a='u'/>"},
		{"invalid name character", "<x\u00d7y/>"},
		{"space after '<'", "< message/>"},
		{"unquoted attribute", "<message to=a/>"},
		{"attribute without value", "<message to/>"},
		{"attribute without '='", "<message to 'a'/>"},
		{"missing white space between attributes", "<message to='a'from='b'/>"},
		{"duplicate attribute", "<message to='a' to='b'/>"},
		{"duplicate attribute after resolution", "<x xmlns:a='u' xmlns:b='u' a:y='1' b:y='2'/>"},
		{"duplicate default namespace declaration", "<x xmlns='u' xmlns='v'/>"},
		{"duplicate prefix declaration", "<x xmlns:p='u' xmlns:p='u'/>"},
		{"undeclared element prefix", "<p:x/>"},
		{"undeclared attribute prefix", "<x p:y='1'/>"},
		{"prefix undeclared", "<x xmlns:p=''/>"},
		{"xml prefix rebound", "<x xmlns:xml='urn:x'/>"},
		{"xmlns prefix declared", "<x xmlns:xmlns='urn:x'/>"},
		{"XML namespace bound to another prefix", "<x xmlns:p='http://www.w3.org/XML/1998/namespace'/>"},
		{"XML namespace as default", "<x xmlns='http://www.w3.org/XML/1998/namespace'/>"},
		{"xmlns namespace declared", "<x xmlns:p='http://www.w3.org/2000/xmlns/'/>"},
		{"element with the xmlns prefix", "<xmlns:x/>"},
		{"'<' in attribute value", "<message to='a<b'/>"},
		{"']]>' in text", "<body>a]]>b</body>"},
		{"control character in text", "<body>a\x01b</body>"},
		{"NUL in text", "<body>\x00</body>"},
		{"control character in attribute", "<body a='\x1f'/>"},
		{"U+FFFE in text", "<body>\uFFFE</body>"},
		{"U+FFFF in attribute", "<body a='\uFFFF'/>"},
		{"reference to NUL", "<body>&#0;</body>"},
		{"reference to a control character", "<body>&#x1;</body>"},
		{"reference to a surrogate", "<body>&#xD800;</body>"},
		{"reference to U+FFFE", "<body>&#xFFFE;</body>"},
		{"reference beyond Unicode", "<body>&#x110000;</body>"},
		{"huge reference", "<body>&#99999999999999999999;</body>"},
		{"empty decimal reference", "<body>&#;</body>"},
		{"empty hex reference", "<body>&#x;</body>"},
		{"upper-case X in reference", "<body>&#X41;</body>"},
		{"bad digit in reference", "<body>&#12a;</body>"},
		{"bare ampersand", "<body>fish & chips</body>"},
		{"empty entity name", "<body>&;</body>"},
		{"entity without semicolon", "<body>&amp</body>"},
		{"bare ampersand in attribute", "<body a='&'/>"},
		{"'/' not followed by '>'", "<message/ >"},
		{"junk in end tag", "<message></message x>"},
		{"invalid markup", "<message><!?></message>"},
		{"bad CDATA opener", "<message><![CDAT[x]]></message>"},
		{"empty tag", "<>"},
		{"root end tag mismatch", "</stream:streams>"},
		{"root end tag with other prefix", "</s:stream>"},
		{"end tag at top level after element", "<a/></a>"},
		{"tag inside tag", "<a <b/>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := decodeString(headC+tt.in+Close, Limits{})
			if c := condition(res.err); c != stanza.StreamNotWellFormed {
				t.Fatalf("got %v (%d elements), want not-well-formed", res.err, len(res.els))
			}
			if !strings.Contains(res.err.Error(), " at byte ") {
				t.Errorf("error text %q does not say where", res.err)
			}
		})
	}
}

func TestNotWellFormedParse(t *testing.T) {
	tests := []struct{ name, in string }{
		{"empty", ""},
		{"white space only", " \n"},
		{"text", "hello"},
		{"unterminated element", "<message><body>"},
		{"unterminated CDATA", "<message><![CDATA[abc</message>"},
		{"unterminated attribute", "<message to='abc"},
		{"two elements", "<a/><b/>"},
		{"text after element", "<a/>x"},
		{"end tag only", "</a>"},
		{"undeclared prefix", "<db:result/>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.in), stanza.NSClient, Limits{})
			if c := condition(err); c != stanza.StreamNotWellFormed {
				t.Fatalf("got %v, want not-well-formed", err)
			}
		})
	}
}

func TestNotWellFormedHeader(t *testing.T) {
	tests := []struct{ name, in string }{
		{"text before header", "hello" + headC},
		{"end tag before header", "</stream:stream>"},
		{"undeclared root prefix", "<stream:stream xmlns='jabber:client'>"},
		{"missing white space between attributes", "<stream:stream xmlns='jabber:client'xmlns:stream='http://etherx.jabber.org/streams'>"},
		{"duplicate attribute", "<stream xmlns='jabber:client' to='a' to='b'>"},
		{"unquoted attribute", "<stream xmlns='jabber:client' to=a>"},
		{"bad root name", "<1stream>"},
		{"'<' in header attribute", "<stream xmlns='jabber:client' to='<'>"},
		{"XML declaration version 2.0", "<?xml version='2.0'?>" + headC},
		{"XML declaration without version", "<?xml encoding='UTF-8'?>" + headC},
		{"XML declaration out of order", "<?xml encoding='UTF-8' version='1.0'?>" + headC},
		{"XML declaration with junk", "<?xml version='1.0' foo='bar'?>" + headC},
		{"XML declaration bad standalone", "<?xml version='1.0' standalone='maybe'?>" + headC},
		{"XML declaration unquoted", "<?xml version=1.0?>" + headC},
		{"empty XML declaration", "<?xml?>" + headC},
		{"invalid markup before header", "<!?>" + headC},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewDecoder(stringsReader(tt.in), Limits{}).ReadHeader()
			if c := condition(err); c != stanza.StreamNotWellFormed {
				t.Fatalf("got %v, want not-well-formed", err)
			}
		})
	}
}

func TestBadFormat(t *testing.T) {
	tests := []struct{ name, in string }{
		{"text at top level", headC + "hello"},
		{"text after a stanza", headC + "<presence/>x"},
		{"character reference at top level", headC + "&#32;"},
		{"entity at top level", headC + "&amp;"},
		{"CDATA at top level", headC + "<![CDATA[ ]]>"},
		{"byte order mark at top level", headC + "\uFEFF"},
		{"self-closing stream header", "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'/>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := decodeString(tt.in, Limits{})
			if c := condition(res.err); c != stanza.StreamBadFormat {
				t.Fatalf("got %v, want bad-format", res.err)
			}
		})
	}
}

func TestUnsupportedEncoding(t *testing.T) {
	tests := []struct{ name, in string }{
		{"UTF-16BE byte order mark", "\xFE\xFF\x00<"},
		{"UTF-16LE byte order mark", "\xFF\xFE<\x00"},
		{"UTF-32BE byte order mark", "\x00\x00\xFE\xFF"},
		{"UTF-32LE byte order mark", "\xFF\xFE\x00\x00"},
		{"UTF-16BE without byte order mark", "\x00<\x00?"},
		{"UTF-16LE without byte order mark", "<\x00?\x00"},
		{"declared ISO-8859-1", "<?xml version='1.0' encoding='ISO-8859-1'?>" + headC},
		{"declared UTF-16", "<?xml version='1.0' encoding='UTF-16'?>" + headC},
		{"declared UTF8", "<?xml version='1.0' encoding='UTF8'?>" + headC},
		{"invalid UTF-8 in text", headC + "<body>\xff</body>"},
		{"invalid UTF-8 in attribute", headC + "<body a='\xc3'/>"},
		{"invalid UTF-8 in name", headC + "<b\xc3dy/>"},
		{"invalid UTF-8 starting a name", headC + "<\xc3/>"},
		{"invalid UTF-8 in CDATA", headC + "<body><![CDATA[\xe2\x82]]></body>"},
		{"invalid UTF-8 in header attribute", "<stream xmlns='jabber:client' to='\xfe'>"},
		{"invalid UTF-8 in entity name", headC + "<body>&\xff;</body>"},
		{"overlong encoding", headC + "<body>\xc0\xaf</body>"},
		{"encoded surrogate", headC + "<body>\xed\xa0\x80</body>"},
		{"beyond U+10FFFF", headC + "<body>\xf4\x90\x80\x80</body>"},
		{"truncated sequence", headC + "<body>\xe2\x82</body>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := decodeString(tt.in, Limits{})
			if c := condition(res.err); c != stanza.StreamUnsupportedEncoding {
				t.Fatalf("got %v, want unsupported-encoding", res.err)
			}
		})
	}
	for _, enc := range []string{"UTF-8", "utf-8", "Utf-8"} {
		in := "<?xml version='1.0' encoding='" + enc + "'?>" + headC
		if _, err := NewDecoder(stringsReader(in), Limits{}).ReadHeader(); err != nil {
			t.Errorf("encoding %s: %v", enc, err)
		}
	}
}

// Each limit at limit-1, limit and limit+1.
func TestPolicyViolation(t *testing.T) {
	type gen func(n int) string
	sized := func(n int) string { // a stanza of exactly n bytes
		return "<a>" + strings.Repeat("x", n-7) + "</a>"
	}
	nested := func(n int) string { // n levels of elements
		return strings.Repeat("<a>", n-1) + "<a/>" + strings.Repeat("</a>", n-1)
	}
	nestedText := func(n int) string {
		return strings.Repeat("<a>", n) + "x" + strings.Repeat("</a>", n)
	}
	manyAttrs := func(n int) string { // n attributes, one a declaration
		s := "<a xmlns:p='urn:p'"
		for i := 1; i < n; i++ {
			s += " p:a" + strconv.Itoa(i) + "=''"
		}
		return s + "/>"
	}
	tests := []struct {
		name  string
		lim   Limits
		limit int
		head  gen
		body  gen
	}{
		{"stanza bytes", Limits{MaxStanzaBytes: 100}, 100, nil, sized},
		{"stanza bytes self-closing", Limits{MaxStanzaBytes: 50}, 50, nil, func(n int) string {
			return "<a b='" + strings.Repeat("y", n-9) + "'/>"
		}},
		{"depth", Limits{MaxDepth: 5}, 5, nil, nested},
		{"depth with text", Limits{MaxDepth: 4}, 4, nil, nestedText},
		{"attributes", Limits{MaxAttrs: 6}, 6, nil, manyAttrs},
		{"nested attributes", Limits{MaxAttrs: 3}, 3, nil, func(n int) string { return "<x><y>" + manyAttrs(n) + "</y></x>" }},
		{"header bytes", Limits{MaxStanzaBytes: 200}, 200, func(n int) string {
			s := "<stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='"
			return s + strings.Repeat("i", n-len(s)-2) + "'>"
		}, nil},
		{"XML declaration bytes", Limits{MaxStanzaBytes: 40}, 40, func(n int) string {
			return "<?xml version='1.0'" + strings.Repeat(" ", n-21) + "?>" + "<stream xmlns='jabber:client'>"
		}, nil},
		{"header attributes", Limits{MaxAttrs: 4}, 4, func(n int) string {
			s := "<stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'"
			for i := 2; i < n; i++ {
				s += " a" + strconv.Itoa(i) + "=''"
			}
			return s + ">"
		}, nil},
	}
	for _, tt := range tests {
		for _, n := range []int{tt.limit - 1, tt.limit, tt.limit + 1} {
			t.Run(tt.name+"/"+strconv.Itoa(n), func(t *testing.T) {
				// A short header, so that it fits the small limits.
				in := "<stream xmlns='jabber:client'>"
				if tt.head != nil {
					in = tt.head(n)
				} else {
					in += tt.body(n)
				}
				in += "</stream>"
				for _, r := range []struct {
					name string
					res  result
				}{
					{"whole", decodeString(in, tt.lim)},
					{"one byte at a time", decodeAll(&chunkReader{data: []byte(in), sizes: []int{1}}, tt.lim)},
				} {
					if n <= tt.limit {
						if r.res.err != ErrStreamEnd {
							t.Errorf("%s: got %v, want success", r.name, r.res.err)
						}
						continue
					}
					if c := condition(r.res.err); c != stanza.StreamPolicyViolation {
						t.Errorf("%s: got %v, want policy-violation", r.name, r.res.err)
					}
				}
				if tt.head == nil {
					_, err := Parse([]byte(tt.body(n)), stanza.NSClient, tt.lim)
					if n <= tt.limit && err != nil {
						t.Errorf("Parse: %v", err)
					}
					if n > tt.limit && condition(err) != stanza.StreamPolicyViolation {
						t.Errorf("Parse: got %v, want policy-violation", err)
					}
				}
			})
		}
	}
}

// A peer cannot make the decoder buffer more than about MaxStanzaBytes.
func TestBufferBounded(t *testing.T) {
	lim := Limits{MaxStanzaBytes: 10000}
	in := headC + "<a>" + strings.Repeat("x", 1<<20)
	d := NewDecoder(&chunkReader{data: []byte(in), sizes: []int{4096, 1, 70000}}, lim)
	if _, err := d.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	_, err := d.Next()
	if condition(err) != stanza.StreamPolicyViolation {
		t.Fatalf("got %v", err)
	}
	if len(d.buf) > lim.MaxStanzaBytes+idleBufSize {
		t.Errorf("buffer grew to %d bytes", len(d.buf))
	}
}

// Invalid UTF-8 is unsupported-encoding wherever it appears, even where
// any other byte would be a syntax error.
func TestUnsupportedEncodingAnywhere(t *testing.T) {
	tests := []struct{ name, in string }{
		{"top level", headC + "<a/>\xff"},
		{"top level, truncated sequence", headC + "\xe2\x82<a/>"},
		{"before header", "\xff" + headC},
		{"lone byte order mark byte", "\xFE" + headC},
		{"after attribute", headC + "<a x='1'\xff/>"},
		{"after '/'", headC + "<a/\xff></a>"},
		{"in end tag", headC + "<a></a \xff>"},
		{"root end tag", headC + "</stream:stream\xff>"},
		{"after '<!'", headC + "<a><!\xff></a>"},
		{"after '&'", headC + "<a>&\xff </a>"},
		{"in place of '='", headC + "<a x\xff'1'/>"},
		{"in place of a quote", headC + "<a x=\xff1/>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, res := range []result{
				decodeString(tt.in, Limits{}),
				decodeAll(&chunkReader{data: []byte(tt.in), sizes: []int{1}}, Limits{}),
			} {
				if c := condition(res.err); c != stanza.StreamUnsupportedEncoding {
					t.Fatalf("got %v, want unsupported-encoding", res.err)
				}
			}
		})
	}
	if _, err := Parse([]byte("<a/>\xff"), "", Limits{}); condition(err) != stanza.StreamUnsupportedEncoding {
		t.Errorf("Parse: %v", err)
	}
}

// Seed 3.6: the decoder's errors are stream errors that can be sent as
// they are: each is a *stanza.StreamError matched by errors.Is on its
// condition, with a text saying what and where, and its <stream:error/>
// survives serialisation.
func TestSeed3_6_StreamErrors(t *testing.T) {
	tests := []struct {
		in   string
		want stanza.StreamCondition
	}{
		{headC + "<a><!--x--></a>", stanza.StreamRestrictedXML},
		{headC + "<a></b>", stanza.StreamNotWellFormed},
		{headC + "<a>\xff</a>", stanza.StreamUnsupportedEncoding},
		{headC + "x", stanza.StreamBadFormat},
		{headC + strings.Repeat("<a>", 100), stanza.StreamPolicyViolation},
	}
	for _, tt := range tests {
		t.Run(string(tt.want), func(t *testing.T) {
			err := decodeString(tt.in, Limits{}).err
			if !errors.Is(err, &stanza.StreamError{Condition: tt.want}) {
				t.Fatalf("got %v, want %s", err, tt.want)
			}
			var se *stanza.StreamError
			errors.As(err, &se)
			out := se.Element().AppendXML(nil, stanza.NSClient)
			back, perr := Parse(out, stanza.NSClient, Limits{})
			if perr != nil {
				t.Fatalf("%v\n%s", perr, out)
			}
			if got := stanza.ParseStreamError(back); got.Condition != tt.want || got.Text != se.Text {
				t.Errorf("read back %+v from %s", got, out)
			}
		})
	}
}

// errBlocked stands for a peer that has stopped sending.
var errBlocked = errors.New("the peer sends nothing more")

// stalled returns data, then errBlocked forever.
type stalled struct{ data []byte }

func (s *stalled) Read(p []byte) (int, error) {
	if len(s.data) == 0 {
		return 0, errBlocked
	}
	n := copy(p, s.data)
	s.data = s.data[n:]
	return n, nil
}

// Malformed markup is reported as soon as it arrives, not when (if ever) the
// top-level element would be complete: a client that sends a bad end tag
// and waits must get its error.
func TestEarlyNotWellFormed(t *testing.T) {
	tests := []struct{ name, in string }{
		{"mismatched end tag", "<message><body>text</message>"},
		{"mismatched nested end tag", "<message><x><y></x>"},
		{"space before slash", "<message><a/ ></message>"},
		{"quote outside value", "<message><a b=c'd'></a>"},
		{"lt inside tag", "<message><a <b>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewDecoder(&stalled{data: []byte(headC + tt.in)}, Limits{})
			if _, err := d.ReadHeader(); err != nil {
				t.Fatal(err)
			}
			_, err := d.Next()
			if c := condition(err); c != stanza.StreamNotWellFormed {
				t.Fatalf("got %v, want not-well-formed without waiting for more input", err)
			}
		})
	}
	// Well-formed nesting still waits for the rest.
	d := NewDecoder(&stalled{data: []byte(headC + "<message><a><b/></a><c>")}, Limits{})
	d.ReadHeader()
	if _, err := d.Next(); !errors.Is(err, errBlocked) {
		t.Fatalf("incomplete but well-formed: got %v, want to wait for more", err)
	}
}
