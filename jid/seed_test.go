package jid

import (
	"strings"
	"testing"
)

// Tests for the address items of draft-saintandre-xmpp-feature-set-00 §2,
// with the Stringprep profile.

// domainOfLength returns a domainpart of exactly n bytes whose labels are
// label repeated, separated by dots, then a last label of 'a's filling the
// rest. label must be at most 62 bytes.
func domainOfLength(n int, label string) string {
	var b strings.Builder
	for n-b.Len() > maxLabel {
		b.WriteString(label)
		b.WriteByte('.')
	}
	b.WriteString(strings.Repeat("a", n-b.Len()))
	if b.Len() != n || strings.HasSuffix(b.String(), ".") {
		panic("domainOfLength: bad arguments")
	}
	return b.String()
}

func TestSeed2_1_1_DomainNameprep(t *testing.T) {
	runParse(t, Stringprep, []parseCase{
		// Case folding (table B.2) and canonical forms.
		{name: "lower case kept", in: "example.com", want: "example.com"},
		{name: "upper case folded", in: "EXAMPLE.COM", want: "example.com"},
		{name: "mixed case folded", in: "Juliet@Example.COM/Balcony", want: "juliet@example.com/Balcony"},
		{name: "Unicode kept", in: "bücher.example", want: "bücher.example"},
		{name: "Unicode upper case folded", in: "BÜCHER.example", want: "bücher.example"},
		{name: "sharp s folded to ss", in: "faß.de", want: "fass.de"},
		{name: "final sigma folded", in: "ς.example", want: "σ.example"},
		{name: "NFKC composes", in: "bu\u0308cher.example", want: "bücher.example"},
		{name: "full-width letters", in: "ＥＸＡＭＰＬＥ.com", want: "example.com"},
		{name: "soft hyphen mapped to nothing", in: "ex\u00adample.com", want: "example.com"},
		{name: "ligature", in: "\ufb01sh.example", want: "fish.example"},
		{name: "digits and hyphens", in: "a-1.b--c.example", want: "a-1.b--c.example"},
		{name: "single label", in: "localhost", want: "localhost"},
		{name: "character unassigned in Unicode 3.2", in: "\u0221.example", want: "\u0221.example"},
		{name: "newer character that normalises to upper case", in: "\U0001F130.example", want: "a.example"},

		// ACE labels are decoded, so both spellings are one domain.
		{name: "ACE label", in: "xn--bcher-kva.example", want: "bücher.example"},
		{name: "upper-case ACE label", in: "XN--BCHER-KVA.EXAMPLE", want: "bücher.example"},
		{name: "full-width ACE label", in: "ｘｎ--bcher-kva.example", want: "bücher.example"},
		{name: "ACE label decoding to upper case", in: "xn--wca.example", wantErr: `jid: domainpart: invalid ACE label "xn--wca"`},
		{name: "ACE label decoding to a control", in: "xn--a.example", wantErr: `jid: domainpart: invalid ACE label "xn--a"`},
		{name: "ACE label that is not Punycode", in: "xn--zz.example", wantErr: `jid: domainpart: invalid ACE label "xn--zz"`},
		{name: "ACE prefix on a Unicode label", in: "xn--bü.example", wantErr: `label "xn--bü" begins with the ACE prefix`},

		// Label separators (RFC 3490 §3.1) and the trailing dot.
		{name: "ideographic full stop", in: "example\u3002com", want: "example.com"},
		{name: "full-width full stop", in: "example\uff0ecom", want: "example.com"},
		{name: "halfwidth ideographic full stop", in: "example\uff61com", want: "example.com"},
		{name: "trailing dot", in: "example.com.", want: "example.com"},
		{name: "trailing dot with localpart", in: "juliet@example.com.", want: "juliet@example.com"},
		{name: "trailing dot before resource", in: "juliet@example.com./balcony", want: "juliet@example.com/balcony"},
		{name: "trailing ideographic full stop", in: "bücher.example\u3002", want: "bücher.example"},
		{name: "two trailing dots", in: "example.com..", wantErr: "jid: domainpart: empty label"},
		{name: "leading dot", in: ".example.com", wantErr: "jid: domainpart: empty label"},
		{name: "empty label", in: "example..com", wantErr: "jid: domainpart: empty label"},
		{name: "empty label between wide separators", in: "bücher\uff0e\u3002com", wantErr: "jid: domainpart: empty label"},
		{name: "label of characters mapped to nothing", in: "a.\u200b.example", wantErr: "jid: domainpart: empty label"},
		{name: "newer character that normalises to a separator", in: "a\ufe12b.example", wantErr: "jid: domainpart: prohibited character U+3002"},

		// IP literals.
		{name: "IPv4", in: "juliet@192.0.2.1/r", want: "juliet@192.0.2.1/r"},
		{name: "full-width IPv4", in: "１９２．０．２．１", want: "192.0.2.1"},
		{name: "IPv6 loopback", in: "[::1]", want: "[::1]"},
		{name: "IPv6 lower-cased and shortened", in: "juliet@[2001:DB8:0:0:0:0:0:1]/r", want: "juliet@[2001:db8::1]/r"},
		{name: "IPv4-mapped IPv6", in: "[::FFFF:192.0.2.1]", want: "[::ffff:192.0.2.1]"},
		{name: "IPv6 without brackets", in: "2001:db8::1", wantErr: "jid: domainpart: prohibited character U+003A ':'"},
		{name: "IPv6 without closing bracket", in: "[::1", wantErr: "lacks its closing ']'"},
		{name: "IPv6 with trailing dot", in: "[::1].", wantErr: "lacks its closing ']'"},
		{name: "IPv6 with zone", in: "[fe80::1%eth0]", wantErr: "jid: domainpart: invalid IPv6 literal"},
		{name: "IPv4 in brackets", in: "[192.0.2.1]", wantErr: "jid: domainpart: invalid IPv6 literal"},
		{name: "IPvFuture", in: "[v1.fe80::a+en1]", wantErr: "jid: domainpart: invalid IPv6 literal"},
		{name: "empty brackets", in: "[]", wantErr: "jid: domainpart: invalid IPv6 literal"},

		// The STD3 rules (RFC 3490 §4.1 step 3).
		{name: "space", in: "exa mple.com", wantErr: "jid: domainpart: prohibited character U+0020 ' '"},
		{name: "ideographic space becomes a space", in: "exa\u3000mple.com", wantErr: "jid: domainpart: prohibited character U+0020 ' '"},
		{name: "underscore", in: "exa_mple.com", wantErr: "jid: domainpart: prohibited character U+005F '_'"},
		{name: "full-width solidus", in: "example.com／r", wantErr: "jid: domainpart: prohibited character U+002F '/'"},
		{name: "full-width at sign", in: "ｊ＠example.com", wantErr: "jid: domainpart: prohibited character U+0040 '@'"},
		{name: "ASCII control", in: "exa\x01mple.com", wantErr: "jid: domainpart: prohibited character U+0001"},
		{name: "leading hyphen", in: "-example.com", wantErr: `jid: domainpart: label "-example" begins with a hyphen`},
		{name: "trailing hyphen", in: "example-.com", wantErr: `jid: domainpart: label "example-" ends with a hyphen`},
		{name: "trailing hyphen on Unicode label", in: "bücher-.com", wantErr: `jid: domainpart: label "bücher-" ends with a hyphen`},
		{name: "label of 63 bytes", in: strings.Repeat("a", 63) + ".com", want: strings.Repeat("a", 63) + ".com"},
		{name: "label of 64 bytes", in: strings.Repeat("a", 64) + ".com", wantErr: "longer than 63 bytes"},
		{name: "Unicode label of 59 bytes in ACE form", in: "ü" + strings.Repeat("a", 51) + ".com", want: "ü" + strings.Repeat("a", 51) + ".com"},
		{name: "Unicode label of 64 bytes in ACE form", in: "ü" + strings.Repeat("a", 56) + ".com", wantErr: "longer than 63 bytes in ACE form"},

		// Nameprep prohibitions (RFC 3491 §5) and bidi (§6).
		{name: "non-ASCII control", in: "a\u0085b.com", wantErr: "jid: domainpart: prohibited character U+0085"},
		{name: "Ogham space mark", in: "a\u1680b.com", wantErr: "jid: domainpart: prohibited character U+1680"},
		{name: "private use", in: "a\ue000b.com", wantErr: "jid: domainpart: prohibited character U+E000"},
		{name: "non-character", in: "a\ufffeb.com", wantErr: "jid: domainpart: prohibited character U+FFFE"},
		{name: "replacement character", in: "a\ufffdb.com", wantErr: "jid: domainpart: prohibited character U+FFFD"},
		{name: "left-to-right mark", in: "a\u200eb.com", wantErr: "jid: domainpart: prohibited character U+200E"},
		{name: "tag character", in: "a\U000E0001b.com", wantErr: "jid: domainpart: prohibited character U+E0001"},
		{name: "right-to-left label", in: "\u05d0\u05d1.example", want: "\u05d0\u05d1.example"},
		{name: "mixed-direction label", in: "\u05d0a.example", wantErr: "jid: domainpart: mixes right-to-left and left-to-right characters"},
		{name: "right-to-left label ending in a digit", in: "\u05d01.example", wantErr: "must begin and end with a right-to-left character"},
	})
}

func TestSeed2_1_2_DomainLength(t *testing.T) {
	ascii1023 := domainOfLength(1023, strings.Repeat("a", 62))
	ascii1024 := domainOfLength(1024, strings.Repeat("a", 62))
	label := "ü" + strings.Repeat("b", 40) // 42 bytes; 47 in ACE form
	uni1023 := domainOfLength(1023, label)
	uni1024 := domainOfLength(1024, label)
	runParse(t, Stringprep, []parseCase{
		{name: "1023 bytes", in: "juliet@" + ascii1023 + "/r", want: "juliet@" + ascii1023 + "/r"},
		{name: "1024 bytes", in: "juliet@" + ascii1024 + "/r", wantErr: "jid: domainpart longer than 1023 bytes"},
		{name: "1023 bytes and a trailing dot", in: ascii1023 + ".", want: ascii1023},
		{name: "1023 bytes upper case", in: strings.ToUpper(ascii1023), want: ascii1023},
		{name: "1023 bytes with two-byte characters", in: uni1023, want: uni1023},
		{name: "1024 bytes with two-byte characters", in: uni1024, wantErr: "jid: domainpart longer than 1023 bytes"},
		{name: "1023 bytes after mapping, more before", in: strings.Replace(ascii1023, "a", "a\u00ad", 200), want: ascii1023},
		{name: "1024 bytes after mapping", in: strings.Replace(ascii1024, "a", "a\u00ad", 200), wantErr: "jid: domainpart longer than 1023 bytes"},
		{name: "1023 bytes from full-width letters", in: strings.ReplaceAll(ascii1023, "a", "ａ"), want: ascii1023},
	})
}

func TestSeed2_2_1_Nodeprep(t *testing.T) {
	runParse(t, Stringprep, []parseCase{
		// Mapping: case folding (B.2), characters mapped to nothing (B.1),
		// NFKC.
		{name: "lower case kept", in: "juliet@example.com", want: "juliet@example.com"},
		{name: "upper case folded", in: "JULIET@example.com", want: "juliet@example.com"},
		{name: "full-width letters", in: "ＪＵＬＩＥＴ@example.com", want: "juliet@example.com"},
		{name: "sharp s folded to ss", in: "fußball@example.com", want: "fussball@example.com"},
		{name: "capital sigma", in: "Σ@example.com/foo", want: "σ@example.com/foo"},
		{name: "small sigma", in: "σ@example.com/foo", want: "σ@example.com/foo"},
		{name: "final sigma", in: "ς@example.com/foo", want: "σ@example.com/foo"},
		{name: "pi", in: "π@example.com", want: "π@example.com"},
		{name: "roman numeral", in: "henryⅣ@example.com", want: "henryiv@example.com"},
		{name: "chess king", in: "♚@example.com", want: "♚@example.com"},
		{name: "escaped space (XEP-0106)", in: `foo\20bar@example.com`, want: `foo\20bar@example.com`},
		{name: "percent", in: "foo%bar@example.com", want: "foo%bar@example.com"},
		{name: "angstrom sign", in: "\u212bngstr\u00f6m@example.com", want: "\u00e5ngstr\u00f6m@example.com"},
		{name: "decomposed accent composed", in: "jose\u0301@example.com", want: "jos\u00e9@example.com"},
		{name: "soft hyphen", in: "ju\u00adliet@example.com", want: "juliet@example.com"},
		{name: "zero-width space", in: "ju\u200bliet@example.com", want: "juliet@example.com"},
		{name: "variation selector", in: "\u2764\ufe0f@example.com", want: "\u2764@example.com"},
		{name: "less-than with combining solidus", in: "a<\u0338b@example.com", want: "a\u226eb@example.com"},
		{name: "character unassigned in Unicode 3.2", in: "\u0221@example.com", want: "\u0221@example.com"},
		{name: "emoji", in: "\U0001F600@example.com", want: "\U0001F600@example.com"},
		{name: "newer character that normalises to upper case", in: "\U0001F130b@example.com", want: "ab@example.com"},
		{name: "30 combining marks", in: "a" + strings.Repeat("\u0301", 30) + "@example.com", want: "\u00e1" + strings.Repeat("\u0301", 29) + "@example.com"},
		{name: "31 combining marks", in: "a" + strings.Repeat("\u0301", 31) + "@example.com", wantErr: "jid: localpart: preparation does not settle"},

		// Prohibited: the XMPP additions (" & ' / : < > @), spaces,
		// controls and the tables of RFC 3454.
		{name: "quotation mark", in: `"juliet"@example.com`, wantErr: `jid: localpart: prohibited character U+0022 '"'`},
		{name: "ampersand", in: "a&b@example.com", wantErr: "jid: localpart: prohibited character U+0026 '&'"},
		{name: "apostrophe", in: "o'hara@example.com", wantErr: "jid: localpart: prohibited character U+0027 '''"},
		{name: "colon", in: "a:b@example.com", wantErr: "jid: localpart: prohibited character U+003A ':'"},
		{name: "less-than", in: "a<b@example.com", wantErr: "jid: localpart: prohibited character U+003C '<'"},
		{name: "greater-than", in: "a>b@example.com", wantErr: "jid: localpart: prohibited character U+003E '>'"},
		{name: "full-width at sign", in: "a＠b@example.com", wantErr: "jid: localpart: prohibited character U+0040 '@'"},
		{name: "full-width solidus", in: "a／b@example.com", wantErr: "jid: localpart: prohibited character U+002F '/'"},
		{name: "space", in: "foo bar@example.com", wantErr: "jid: localpart: prohibited character U+0020 ' '"},
		{name: "no-break space becomes a space", in: "foo\u00a0bar@example.com", wantErr: "jid: localpart: prohibited character U+0020 ' '"},
		{name: "Ogham space mark", in: "foo\u1680bar@example.com", wantErr: "jid: localpart: prohibited character U+1680"},
		{name: "ASCII control", in: "jul\u0001iet@example.com", wantErr: "jid: localpart: prohibited character U+0001"},
		{name: "delete", in: "jul\u007fiet@example.com", wantErr: "jid: localpart: prohibited character U+007F"},
		{name: "non-ASCII control", in: "jul\u0085iet@example.com", wantErr: "jid: localpart: prohibited character U+0085"},
		{name: "private use", in: "\ue000@example.com", wantErr: "jid: localpart: prohibited character U+E000"},
		{name: "non-character", in: "\U0001FFFF@example.com", wantErr: "jid: localpart: prohibited character U+1FFFF"},
		{name: "replacement character", in: "\ufffd@example.com", wantErr: "jid: localpart: prohibited character U+FFFD"},
		{name: "ideographic description character", in: "\u2ff0@example.com", wantErr: "jid: localpart: prohibited character U+2FF0"},
		{name: "left-to-right mark", in: "a\u200eb@example.com", wantErr: "jid: localpart: prohibited character U+200E"},
		{name: "tag character", in: "a\U000E0041@example.com", wantErr: "jid: localpart: prohibited character U+E0041"},

		// Bidi (RFC 3454 §6).
		{name: "right-to-left", in: "\u05d0\u05d1@example.com", want: "\u05d0\u05d1@example.com"},
		{name: "right-to-left with a digit inside", in: "\u0627\u0031\u0628@example.com", want: "\u0627\u0031\u0628@example.com"},
		{name: "mixed direction", in: "\u05d0a@example.com", wantErr: "jid: localpart: mixes right-to-left and left-to-right characters"},
		{name: "right-to-left ending in a digit", in: "\u05d01@example.com", wantErr: "jid: localpart: right-to-left text must begin and end with a right-to-left character"},
	})
	// '@' and '/' cannot reach a localpart through Parse, which splits on
	// them, but can through Local and New.
	runPart(t, "Stringprep.Local", Stringprep.Local, []partCase{
		{name: "at sign", in: "a@b", wantErr: "jid: localpart: prohibited character U+0040 '@'"},
		{name: "solidus", in: "a/b", wantErr: "jid: localpart: prohibited character U+002F '/'"},
		{name: "upper case", in: "Juliet", want: "juliet"},
	})
}

func TestSeed2_2_2_NodeLength(t *testing.T) {
	runPart(t, "Stringprep.Local", Stringprep.Local, []partCase{
		{name: "1023 bytes", in: strings.Repeat("a", 1023), want: strings.Repeat("a", 1023)},
		{name: "1024 bytes", in: strings.Repeat("a", 1024), wantErr: "jid: localpart longer than 1023 bytes"},
		{name: "1023 bytes of two-byte characters", in: "a" + strings.Repeat("é", 511), want: "a" + strings.Repeat("é", 511)},
		{name: "1024 bytes of two-byte characters", in: strings.Repeat("é", 512), wantErr: "jid: localpart longer than 1023 bytes"},
		{name: "1023 bytes of three-byte characters", in: strings.Repeat("€", 341), want: strings.Repeat("€", 341)},
		{name: "1026 bytes of three-byte characters", in: strings.Repeat("€", 342), wantErr: "jid: localpart longer than 1023 bytes"},
		{name: "1023 bytes of four-byte characters", in: "abc" + strings.Repeat("\U0001F600", 255), want: "abc" + strings.Repeat("\U0001F600", 255)},
		{name: "1024 bytes of four-byte characters", in: strings.Repeat("\U0001F600", 256), wantErr: "jid: localpart longer than 1023 bytes"},
		{name: "1023 bytes after mapping full-width letters", in: strings.Repeat("Ａ", 1023), want: strings.Repeat("a", 1023)},
		{name: "1024 bytes after mapping full-width letters", in: strings.Repeat("Ａ", 1024), wantErr: "jid: localpart longer than 1023 bytes"},
		{name: "1024 bytes after expanding sharp s", in: strings.Repeat("ß", 512), wantErr: "jid: localpart longer than 1023 bytes"},
		{name: "more than 4092 bytes before preparation", in: strings.Repeat("\u00ad", 2100) + "a", wantErr: "jid: localpart longer than 1023 bytes"},
	})
	j, err := Parse(strings.Repeat("a", 1023) + "@example.com")
	if err != nil || len(j.Local()) != 1023 {
		t.Errorf("Parse of a 1023-byte localpart: got %q, %v; want it accepted", j.Local(), err)
	}
	if _, err := Parse(strings.Repeat("a", 1024) + "@example.com"); err == nil {
		t.Errorf("Parse of a 1024-byte localpart: got no error, want one")
	}
}

func TestSeed2_3_1_Resourceprep(t *testing.T) {
	runParse(t, Stringprep, []parseCase{
		{name: "case kept", in: "juliet@example.com/Balcony", want: "juliet@example.com/Balcony"},
		{name: "capital sigma kept", in: "juliet@example.com/Σ", want: "juliet@example.com/Σ"},
		{name: "space", in: "juliet@example.com/foo bar", want: "juliet@example.com/foo bar"},
		{name: "leading and trailing spaces", in: "juliet@example.com/ foo ", want: "juliet@example.com/ foo "},
		{name: "at sign", in: "juliet@example.com/foo@bar", want: "juliet@example.com/foo@bar"},
		{name: "solidus", in: "juliet@example.com/foo/bar", want: "juliet@example.com/foo/bar"},
		{name: "XMPP localpart exclusions are fine", in: `example.com/"&'/:<>@`, want: `example.com/"&'/:<>@`},
		{name: "chess king", in: "king@example.com/♚", want: "king@example.com/♚"},
		{name: "emoji", in: "juliet@example.org/\U0001F37A", want: "juliet@example.org/\U0001F37A"},
		{name: "emoji with variation selector", in: "juliet@example.org/\u2764\ufe0f", want: "juliet@example.org/\u2764"},
		{name: "full-width letters to ASCII, case kept", in: "juliet@example.com/ＢＡＬＣＯＮＹ", want: "juliet@example.com/BALCONY"},
		{name: "ligature", in: "juliet@example.com/\ufb01", want: "juliet@example.com/fi"},
		{name: "no-break space becomes a space", in: "juliet@example.com/a\u00a0b", want: "juliet@example.com/a b"},
		{name: "ideographic space becomes a space", in: "juliet@example.com/a\u3000b", want: "juliet@example.com/a b"},
		{name: "zero-width space", in: "juliet@example.com/a\u200bb", want: "juliet@example.com/ab"},
		{name: "sharp s kept", in: "juliet@example.com/fuß", want: "juliet@example.com/fuß"},
		{name: "right-to-left", in: "juliet@example.com/\u05d0\u05d1", want: "juliet@example.com/\u05d0\u05d1"},

		{name: "Ogham space mark", in: "juliet@example.com/a\u1680b", wantErr: "jid: resourcepart: prohibited character U+1680"},
		{name: "NUL", in: "juliet@example.com/a\x00b", wantErr: "jid: resourcepart: prohibited character U+0000"},
		{name: "tab", in: "juliet@example.com/a\tb", wantErr: "jid: resourcepart: prohibited character U+0009"},
		{name: "delete", in: "juliet@example.com/a\x7fb", wantErr: "jid: resourcepart: prohibited character U+007F"},
		{name: "non-ASCII control", in: "juliet@example.com/a\u0085b", wantErr: "jid: resourcepart: prohibited character U+0085"},
		{name: "private use", in: "juliet@example.com/\ue000", wantErr: "jid: resourcepart: prohibited character U+E000"},
		{name: "non-character", in: "juliet@example.com/\ufffe", wantErr: "jid: resourcepart: prohibited character U+FFFE"},
		{name: "replacement character", in: "juliet@example.com/\ufffd", wantErr: "jid: resourcepart: prohibited character U+FFFD"},
		{name: "right-to-left override", in: "juliet@example.com/a\u202eb", wantErr: "jid: resourcepart: prohibited character U+202E"},
		{name: "mixed direction", in: "juliet@example.com/\u05d0a", wantErr: "jid: resourcepart: mixes right-to-left and left-to-right characters"},
		{name: "31 combining marks", in: "juliet@example.com/a" + strings.Repeat("\u0301", 31), wantErr: "jid: resourcepart: preparation does not settle"},
	})
}

func TestSeed2_3_2_ResourceLength(t *testing.T) {
	runPart(t, "Stringprep.Resource", Stringprep.Resource, []partCase{
		{name: "1023 bytes", in: strings.Repeat("R", 1023), want: strings.Repeat("R", 1023)},
		{name: "1024 bytes", in: strings.Repeat("R", 1024), wantErr: "jid: resourcepart longer than 1023 bytes"},
		{name: "1023 bytes with spaces", in: strings.Repeat("a ", 511) + "b", want: strings.Repeat("a ", 511) + "b"},
		{name: "1023 bytes of two-byte characters", in: "a" + strings.Repeat("é", 511), want: "a" + strings.Repeat("é", 511)},
		{name: "1024 bytes of two-byte characters", in: strings.Repeat("é", 512), wantErr: "jid: resourcepart longer than 1023 bytes"},
		{name: "1023 bytes of three-byte characters", in: strings.Repeat("♚", 341), want: strings.Repeat("♚", 341)},
		{name: "1026 bytes of three-byte characters", in: strings.Repeat("♚", 342), wantErr: "jid: resourcepart longer than 1023 bytes"},
		{name: "1023 bytes of four-byte characters", in: "abc" + strings.Repeat("\U0001F37A", 255), want: "abc" + strings.Repeat("\U0001F37A", 255)},
		{name: "1024 bytes of four-byte characters", in: strings.Repeat("\U0001F37A", 256), wantErr: "jid: resourcepart longer than 1023 bytes"},
		{name: "1023 bytes after dropping zero-width spaces", in: strings.Repeat("a\u200b", 1023), want: strings.Repeat("a", 1023)},
		// U+FDFA is 3 bytes and expands to 33 under NFKC.
		{name: "short input expanding past 1023 bytes", in: strings.Repeat("\ufdfa", 32), wantErr: "jid: resourcepart longer than 1023 bytes"},
	})
	full := "juliet@example.com/" + strings.Repeat("R", 1023)
	if j, err := Parse(full); err != nil || j.String() != full {
		t.Errorf("Parse of a 1023-byte resourcepart: got %q, %v; want it accepted", j, err)
	}
	if _, err := Parse(full + "R"); err == nil {
		t.Errorf("Parse of a 1024-byte resourcepart: got no error, want one")
	}
}

func TestLongestAddress(t *testing.T) {
	local := strings.Repeat("l", 1023)
	domain := domainOfLength(1023, strings.Repeat("d", 62))
	resource := strings.Repeat("r", 1023)
	in := local + "@" + domain + "/" + resource
	for _, p := range []Profile{Stringprep, PRECIS} {
		j, err := p.Parse(in)
		if err != nil {
			t.Fatalf("%v.Parse of a 3071-byte address: %v", p, err)
		}
		if j.Local() != local || j.Domain() != domain || j.Resource() != resource {
			t.Errorf("%v.Parse of a 3071-byte address: parts do not match the input", p)
		}
		if b := j.Bare(); b.String() != local+"@"+domain {
			t.Errorf("%v: Bare of a 3071-byte address: got %d bytes, want %d", p, len(b.String()), len(local)+1+len(domain))
		}
	}
}
