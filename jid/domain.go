package jid

import (
	"net/netip"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// ipLiteral prepares a domainpart that begins with '[': an IPv6 address in
// brackets (RFC 3986 IP-literal, without IPvFuture or zones). It is stored in
// the text form of RFC 5952, which is lower-case and as short as possible.
func ipLiteral(s string) (string, error) {
	if len(s) < 2 || s[len(s)-1] != ']' {
		return "", malformed("domainpart: IPv6 literal %q lacks its closing ']'", s)
	}
	inner := s[1 : len(s)-1]
	a, err := netip.ParseAddr(inner)
	if err != nil || !a.Is6() || a.Zone() != "" {
		return "", malformed("domainpart: invalid IPv6 literal %q", s)
	}
	var buf [64]byte
	canon := a.AppendTo(buf[:0])
	if string(canon) == inner {
		return s, nil
	}
	return "[" + string(canon) + "]", nil
}

// nameprepDomain prepares a domainpart with Nameprep and the IDNA ToASCII
// checks (RFC 3490 §4.1, UseSTD3ASCIIRules set), one label at a time; the
// domainpart is stored with each label in Unicode form. s has no trailing
// separator and is not all ASCII, or has an ACE label.
func nameprepDomain(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", malformed("domainpart: invalid UTF-8")
	}
	var b []byte // the prepared domainpart, once it differs from s
	start := 0
	for {
		end, next := cutLabel(s, start)
		label := s[start:end]
		out, err := nameprepLabel(label)
		if err != nil {
			return "", err
		}
		if b == nil && out != label {
			b = append(make([]byte, 0, len(s)), s[:start]...)
		}
		if b != nil {
			b = append(b, out...)
		}
		if next < 0 {
			break
		}
		if b == nil && s[end] != '.' {
			b = append(make([]byte, 0, len(s)), s[:end]...)
		}
		if b != nil {
			b = append(b, '.')
		}
		start = next
	}
	if b == nil {
		return s, nil
	}
	return string(b), nil
}

// cutLabel finds the end of the label of s that begins at start. It returns
// the index of the label separator that ends it and the index of the next
// label, or len(s) and -1 for the last label.
func cutLabel(s string, start int) (end, next int) {
	for i := start; i < len(s); i++ {
		switch s[i] {
		case '.':
			return i, i + 1
		case 0xe3, 0xef: // the first byte of U+3002, U+FF0E and U+FF61
			for _, sep := range wideSeparators {
				if strings.HasPrefix(s[i:], sep) {
					return i, i + len(sep)
				}
			}
		}
	}
	return len(s), -1
}

// nameprepLabel prepares one label as IDNA ToASCII would (RFC 3490 §4.1), but
// returns its Unicode form.
func nameprepLabel(label string) (string, error) {
	if isASCII(label) {
		// ToASCII skips Nameprep for an ASCII label (step 2); Nameprep
		// would only fold its case.
		return asciiLabel(label)
	}
	out, err := nameprep.prepare("domainpart", label)
	if err != nil {
		return "", err
	}
	if isASCII(out) {
		// Such as a label of full-width letters.
		return asciiLabel(out)
	}
	if err := checkUnicodeLabel(out); err != nil {
		return "", err
	}
	return out, nil
}

// asciiLabel checks an ASCII label (RFC 3490 §4.1 steps 3 and 8) and folds it
// to lower case. An ACE label is decoded to its Unicode form.
func asciiLabel(label string) (string, error) {
	for i := 0; i < len(label); i++ {
		if c := label[i]; !isLDH(c) && !('A' <= c && c <= 'Z') {
			return "", prohibited("domainpart", rune(c))
		}
	}
	if err := checkASCIILabel(label); err != nil {
		return "", err
	}
	label = lowerASCII(label)
	if strings.HasPrefix(label, acePrefix) {
		return decodeACE(label)
	}
	return label, nil
}

// checkUnicodeLabel applies the checks of IDNA ToASCII (RFC 3490 §4.1 steps
// 3, 5 and 8) to a label that Nameprep has prepared and that is not all
// ASCII.
func checkUnicodeLabel(label string) error {
	for i := 0; i < len(label); i++ {
		if c := label[i]; c < utf8.RuneSelf && !isLDH(c) {
			return prohibited("domainpart", rune(c))
		}
	}
	for _, sep := range wideSeparators {
		// Characters that Unicode 3.2 did not have can normalise to
		// U+3002 (U+FE12 does); left in, the label would split in two
		// when the address is parsed again.
		if strings.Contains(label, sep) {
			r, _ := utf8.DecodeRuneInString(sep)
			return prohibited("domainpart", r)
		}
	}
	switch {
	case label[0] == '-':
		return malformed("domainpart: label %q begins with a hyphen", label)
	case label[len(label)-1] == '-':
		return malformed("domainpart: label %q ends with a hyphen", label)
	case strings.HasPrefix(label, acePrefix):
		return malformed("domainpart: label %q begins with the ACE prefix", label)
	}
	var buf [maxLabel]byte
	if _, ok := punyEncode(buf[:0], label, maxLabel-len(acePrefix)); !ok {
		return malformed("domainpart: label %q longer than %d bytes in ACE form", label, maxLabel)
	}
	return nil
}

// decodeACE returns the Unicode form of an ACE label, which must be lower
// case. As IDNA ToUnicode does (RFC 3490 §4.2), it accepts the label only if
// ToASCII of the result gives the label back.
func decodeACE(label string) (string, error) {
	u, err := idna.Punycode.ToUnicode(label)
	if err != nil || isASCII(u) {
		return "", malformed("domainpart: invalid ACE label %q", label)
	}
	if p, err := nameprep.prepare("domainpart", u); err != nil || p != u {
		return "", malformed("domainpart: invalid ACE label %q", label)
	}
	if err := checkUnicodeLabel(u); err != nil {
		return "", malformed("domainpart: invalid ACE label %q", label)
	}
	var buf [maxLabel]byte
	enc, ok := punyEncode(buf[:0], u, maxLabel-len(acePrefix))
	if !ok || string(enc) != label[len(acePrefix):] {
		return "", malformed("domainpart: invalid ACE label %q", label)
	}
	return u, nil
}

// isASCII reports whether s has no byte above 0x7f.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// Punycode parameters (RFC 3492 §5).
const (
	punyBase        = 36
	punyTMin        = 1
	punyTMax        = 26
	punySkew        = 38
	punyDamp        = 700
	punyInitialBias = 72
	punyInitialN    = 0x80
)

// punyEncode appends the Punycode encoding (RFC 3492 §6.3) of s, which must
// be valid UTF-8, to dst. It gives up, reporting false, as soon as the
// encoding would be longer than limit bytes, so that its work stays small
// whatever the length of s.
func punyEncode(dst []byte, s string, limit int) ([]byte, bool) {
	start := len(dst)
	runes, basic := 0, 0
	for _, r := range s {
		runes++
		if r < punyInitialN {
			basic++
		}
	}
	// Every code point takes at least one byte, and a delimiter follows
	// the basic ones.
	if runes > limit || basic > 0 && basic+1 > limit {
		return dst, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < punyInitialN {
			dst = append(dst, s[i])
		}
	}
	if basic > 0 {
		dst = append(dst, '-')
	}
	n, delta, bias := rune(punyInitialN), 0, punyInitialBias
	for h := basic; h < runes; {
		m := rune(utf8.MaxRune + 1)
		for _, r := range s {
			if r >= n && r < m {
				m = r
			}
		}
		delta += int(m-n) * (h + 1)
		n = m
		for _, r := range s {
			if r < n {
				delta++
			}
			if r != n {
				continue
			}
			q := delta
			for k := punyBase; ; k += punyBase {
				t := min(max(k-bias, punyTMin), punyTMax)
				if q < t {
					break
				}
				dst = append(dst, punyDigit(t+(q-t)%(punyBase-t)))
				q = (q - t) / (punyBase - t)
			}
			dst = append(dst, punyDigit(q))
			if len(dst)-start > limit {
				return dst, false
			}
			bias = punyAdapt(delta, h+1, h == basic)
			delta = 0
			h++
		}
		delta++
		n++
	}
	return dst, true
}

// punyDigit returns the character for a Punycode digit: 'a' to 'z' for 0 to
// 25, '0' to '9' for 26 to 35.
func punyDigit(d int) byte {
	if d < 26 {
		return byte('a' + d)
	}
	return byte('0' + d - 26)
}

// punyAdapt is the bias adaptation function of RFC 3492 §6.1.
func punyAdapt(delta, points int, first bool) int {
	if first {
		delta /= punyDamp
	} else {
		delta /= 2
	}
	delta += delta / points
	k := 0
	for delta > (punyBase-punyTMin)*punyTMax/2 {
		delta /= punyBase - punyTMin
		k += punyBase
	}
	return k + (punyBase-punyTMin+1)*delta/(delta+punySkew)
}
