package jid

import (
	"strings"
	"testing"
)

func TestPRECIS_RFC7622ValidExamples(t *testing.T) {
	// RFC 7622 §3.5.1, each already in canonical form.
	runParse(t, PRECIS, []parseCase{
		{name: "1 bare", in: "juliet@example.com", want: "juliet@example.com"},
		{name: "2 full", in: "juliet@example.com/foo", want: "juliet@example.com/foo"},
		{name: "3 space in resourcepart", in: "juliet@example.com/foo bar", want: "juliet@example.com/foo bar"},
		{name: "4 at sign in resourcepart", in: "juliet@example.com/foo@bar", want: "juliet@example.com/foo@bar"},
		{name: "5 escaped space in localpart", in: `foo\20bar@example.com`, want: `foo\20bar@example.com`},
		{name: "6 fussball", in: "fussball@example.com", want: "fussball@example.com"},
		{name: "7 sharp s", in: "fußball@example.com", want: "fußball@example.com"},
		{name: "8 pi", in: "π@example.com", want: "π@example.com"},
		{name: "9 capital sigma", in: "Σ@example.com/foo", want: "σ@example.com/foo"},
		{name: "10 small sigma", in: "σ@example.com/foo", want: "σ@example.com/foo"},
		{name: "11 final sigma", in: "ς@example.com/foo", want: "ς@example.com/foo"},
		{name: "12 chess king in resourcepart", in: "king@example.com/♚", want: "king@example.com/♚"},
		{name: "13 domain", in: "example.com", want: "example.com"},
		{name: "14 domain and resource", in: "example.com/foobar", want: "example.com/foobar"},
		{name: "15 JID-like resource", in: "a.example.com/b@example.net", want: "a.example.com/b@example.net"},
	})
}

func TestPRECIS_RFC7622InvalidExamples(t *testing.T) {
	// RFC 7622 §3.5.2.
	runParse(t, PRECIS, []parseCase{
		{name: "16 quotation marks", in: `"juliet"@example.com`, wantErr: `jid: localpart: prohibited character U+0022 '"'`},
		{name: "17 space in localpart", in: "foo bar@example.com", wantErr: "jid: localpart: prohibited character U+0020 ' '"},
		{name: "18 empty resourcepart", in: "juliet@example.com/", wantErr: "jid: empty resourcepart after '/'"},
		{name: "19 empty localpart", in: "@example.com/", wantErr: "jid: empty localpart before '@'"},
		{name: "20 roman numeral", in: "henryⅣ@example.com", wantErr: "jid: localpart: precis: disallowed rune"},
		{name: "21 chess king in localpart", in: "♚@example.com", wantErr: "jid: localpart: "},
		{name: "22 empty domainpart", in: "juliet@", wantErr: "jid: empty domainpart"},
		{name: "23 no domainpart", in: "/foobar", wantErr: "jid: empty domainpart"},
	})
}

func TestPRECISLocalpart(t *testing.T) {
	runPart(t, "PRECIS.Local", PRECIS.Local, []partCase{
		{name: "upper case", in: "Juliet", want: "juliet"},
		{name: "full-width letters", in: "ＪＵＬＩＥＴ", want: "juliet"},
		{name: "Unicode upper case", in: "ÀNGEL", want: "àngel"},
		{name: "decomposed accent composed", in: "jose\u0301", want: "jos\u00e9"},
		{name: "right-to-left", in: "\u05d0\u05d1", want: "\u05d0\u05d1"},
		{name: "mixed direction", in: "\u05d0a", wantErr: "jid: localpart: bidirule"},
		{name: "emoji", in: "\U0001F600", wantErr: "jid: localpart: "},
		{name: "soft hyphen", in: "ju\u00adliet", wantErr: "jid: localpart: precis: disallowed rune"},
		{name: "no-break space", in: "foo\u00a0bar", wantErr: "jid: localpart: precis: disallowed rune"},
		{name: "control", in: "jul\u0001iet", wantErr: "jid: localpart: prohibited character U+0001"},
		{name: "ampersand", in: "a&b", wantErr: "jid: localpart: prohibited character U+0026 '&'"},
		{name: "apostrophe", in: "o'hara", wantErr: "jid: localpart: prohibited character U+0027"},
		{name: "solidus", in: "a/b", wantErr: "jid: localpart: prohibited character U+002F '/'"},
		{name: "colon", in: "a:b", wantErr: "jid: localpart: prohibited character U+003A ':'"},
		{name: "less-than", in: "a<b", wantErr: "jid: localpart: prohibited character U+003C '<'"},
		{name: "greater-than", in: "a>b", wantErr: "jid: localpart: prohibited character U+003E '>'"},
		{name: "at sign", in: "a@b", wantErr: "jid: localpart: prohibited character U+0040 '@'"},
		{name: "full-width at sign", in: "a＠b", wantErr: "jid: localpart: prohibited character U+0040 '@'"},
		{name: "full-width ampersand", in: "ａ＆ｂ", wantErr: "jid: localpart: prohibited character U+0026 '&'"},
		{name: "1023 bytes", in: strings.Repeat("ä", 511) + "a", want: strings.Repeat("ä", 511) + "a"},
		{name: "1024 bytes", in: strings.Repeat("ä", 512), wantErr: "jid: localpart longer than 1023 bytes"},
		{name: "1023 bytes after width mapping", in: strings.Repeat("Ａ", 1023), want: strings.Repeat("a", 1023)},
	})
}

func TestPRECISResourcepart(t *testing.T) {
	runPart(t, "PRECIS.Resource", PRECIS.Resource, []partCase{
		{name: "case kept", in: "Balcony", want: "Balcony"},
		{name: "spaces", in: " foo bar ", want: " foo bar "},
		{name: "at sign and solidus", in: "a@b/c", want: "a@b/c"},
		{name: "no-break space becomes a space", in: "a\u00a0b", want: "a b"},
		{name: "ideographic space becomes a space", in: "a\u3000b", want: "a b"},
		{name: "full-width letters kept", in: "ＢＡＬＣＯＮＹ", want: "ＢＡＬＣＯＮＹ"},
		{name: "decomposed accent composed", in: "jose\u0301", want: "jos\u00e9"},
		{name: "emoji", in: "\U0001F37A", want: "\U0001F37A"},
		{name: "chess king", in: "♚", want: "♚"},
		{name: "sharp s kept", in: "fuß", want: "fuß"},
		{name: "control", in: "a\x00b", wantErr: "jid: resourcepart: prohibited character U+0000"},
		{name: "tab", in: "a\tb", wantErr: "jid: resourcepart: prohibited character U+0009"},
		{name: "non-ASCII control", in: "a\u0085b", wantErr: "jid: resourcepart: precis: disallowed rune"},
		{name: "private use", in: "\ue000", wantErr: "jid: resourcepart: precis: disallowed rune"},
		{name: "1023 bytes", in: strings.Repeat("♚", 341), want: strings.Repeat("♚", 341)},
		{name: "1026 bytes", in: strings.Repeat("♚", 342), wantErr: "jid: resourcepart longer than 1023 bytes"},
	})
}

func TestPRECISDomainpart(t *testing.T) {
	long := domainOfLength(1023, strings.Repeat("b", 62))
	runPart(t, "PRECIS.Domain", PRECIS.Domain, []partCase{
		{name: "lower case kept", in: "example.com", want: "example.com"},
		{name: "upper case folded", in: "EXAMPLE.COM", want: "example.com"},
		{name: "Unicode upper case folded", in: "BÜCHER.example", want: "bücher.example"},
		{name: "A-label to U-label", in: "xn--bcher-kva.example", want: "bücher.example"},
		{name: "upper-case A-label", in: "XN--BCHER-KVA.example", want: "bücher.example"},
		{name: "sharp s kept (non-transitional)", in: "faß.de", want: "faß.de"},
		{name: "full-width letters", in: "ｅｘａｍｐｌｅ.com", want: "example.com"},
		{name: "ideographic full stop", in: "example\u3002com", want: "example.com"},
		{name: "full-width full stop", in: "example\uff0ecom", want: "example.com"},
		{name: "halfwidth ideographic full stop", in: "example\uff61com", want: "example.com"},
		{name: "trailing dot", in: "example.com.", want: "example.com"},
		{name: "trailing ideographic full stop", in: "bücher.example\u3002", want: "bücher.example"},
		{name: "IPv4", in: "192.0.2.1", want: "192.0.2.1"},
		{name: "IPv6", in: "[2001:DB8::0:1]", want: "[2001:db8::1]"},
		{name: "1023 bytes", in: long, want: long},
		{name: "1024 bytes", in: long + "b", wantErr: "jid: domainpart longer than 1023 bytes"},
		{name: "hyphens in third and fourth places", in: "ab--cd.example", wantErr: `jid: domainpart: idna: invalid label "ab--cd"`},
		{name: "invalid A-label", in: "xn--zz.example", wantErr: "jid: domainpart: idna:"},
		{name: "A-label of ASCII", in: "xn--abc-.example", wantErr: "ends with a hyphen"},
		{name: "underscore", in: "exa_mple.com", wantErr: "jid: domainpart: prohibited character U+005F '_'"},
		{name: "underscore in Unicode name", in: "bü_cher.com", wantErr: "jid: domainpart: idna: disallowed rune U+005F"},
		{name: "space", in: "exa mple.com", wantErr: "jid: domainpart: prohibited character U+0020 ' '"},
		{name: "symbol (valid in UTS #46, not in IDNA2008)", in: "♚.example", wantErr: `jid: domainpart: label "♚" is not valid in IDNA2008`},
		{name: "emoji", in: "i\u2764.example", wantErr: "jid: domainpart: label \"i\u2764\" is not valid in IDNA2008"},
		{name: "Greek", in: "ΠΑΡΆΔΕΙΓΜΑ.δοκιμή", want: "παράδειγμα.δοκιμή"},
		{name: "Japanese", in: "例え.テスト", want: "例え.テスト"},
		{name: "Arabic", in: "مثال.إختبار", want: "مثال.إختبار"},
		{name: "Devanagari", in: "उदाहरण.परीक्षा", want: "उदाहरण.परीक्षा"},
		{name: "Hangul", in: "실례.테스트", want: "실례.테스트"},
		{name: "Cyrillic", in: "ПРИМЕР.испытание", want: "пример.испытание"},
		{name: "Catalan middle dot", in: "l·l.example", want: "l·l.example"},
		{name: "middle dot out of context", in: "a·b.example", wantErr: "jid: domainpart: "},
		{name: "leading hyphen", in: "-bücher.example", wantErr: "jid: domainpart: idna: invalid label"},
		{name: "empty label", in: "bücher..example", wantErr: "jid: domainpart: empty label"},
		{name: "two trailing dots", in: "bücher.example..", wantErr: "jid: domainpart: empty label"},
		{name: "label of 64 bytes", in: strings.Repeat("a", 64) + ".com", wantErr: "longer than 63 bytes"},
		{name: "Unicode label of 64 bytes in ACE form", in: "ü" + strings.Repeat("a", 56) + ".com", wantErr: "longer than 63 bytes in ACE form"},
		{name: "mixed-direction label", in: "\u05d0a.example", wantErr: "jid: domainpart: idna:"},
	})
}

func TestPRECISAndStringprepAgreeOnASCII(t *testing.T) {
	// For plain ASCII addresses without IDNA2008's reserved labels the two
	// profiles give the same result.
	for _, in := range []string{
		"Juliet@Example.COM/Balcony",
		`foo\20bar@example.com/ x `,
		"a.example.com/b@example.net",
		"user@192.0.2.1/r",
		"[::1]",
		"example.com.",
	} {
		a, errA := Stringprep.Parse(in)
		b, errB := PRECIS.Parse(in)
		if errA != nil || errB != nil || a != b {
			t.Errorf("Parse(%q): Stringprep gives %q, %v; PRECIS gives %q, %v; want the same", in, a, errA, b, errB)
		}
	}
}
