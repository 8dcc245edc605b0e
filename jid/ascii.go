package jid

import "strings"

// The ASCII fast path. Most addresses are ASCII, and for ASCII every profile
// reduces to a table lookup per byte and, at most, folding to lower case.

// Byte classes, as bit flags so a scan can OR them together.
const (
	cUpper    = 1 << iota // 'A' to 'Z': folded to lower case
	cBad                  // prohibited
	cNonASCII             // 0x80 and above: take the slow path
)

// asciiTable gives the class of every byte value; 0 means allowed unchanged.
type asciiTable [256]uint8

// newASCIITable builds a table in which the bytes for which bad reports true
// are prohibited. Upper-case letters are folded if fold is set.
func newASCIITable(fold bool, bad func(b byte) bool) *asciiTable {
	var t asciiTable
	for i := range t {
		b := byte(i)
		switch {
		case b >= 0x80:
			t[i] = cNonASCII
		case bad(b):
			t[i] = cBad
		case fold && 'A' <= b && b <= 'Z':
			t[i] = cUpper
		}
	}
	return &t
}

var (
	// localASCII is Nodeprep restricted to ASCII (RFC 6122 Appendix A): B.2
	// folds case; C.1.1 (space), C.2.1 (controls) and " & ' / : < > @ are
	// prohibited. The PRECIS IdentifierClass and the RFC 7622 exclusions
	// allow the same ASCII characters.
	localASCII = newASCIITable(true, func(b byte) bool {
		return b <= ' ' || b == 0x7f || strings.IndexByte(`"&'/:<>@`, b) >= 0
	})
	// resourceASCII is Resourceprep restricted to ASCII (RFC 6122 Appendix
	// B): C.2.1 (controls) is prohibited and nothing is mapped. The PRECIS
	// FreeformClass allows the same ASCII characters.
	resourceASCII = newASCIITable(false, func(b byte) bool {
		return b < ' ' || b == 0x7f
	})
	// domainASCII is the STD3 rule for ASCII (RFC 3490 §4.1 step 3): letters,
	// digits and hyphen, plus the label separator.
	domainASCII = newASCIITable(true, func(b byte) bool {
		return !isLDH(b) && b != '.' && !('A' <= b && b <= 'Z')
	})
)

// isLDH reports whether b is a lower-case letter, a digit or a hyphen.
func isLDH(b byte) bool {
	return 'a' <= b && b <= 'z' || '0' <= b && b <= '9' || b == '-'
}

// scan returns the union of the classes of the bytes of s.
func scan(s string, t *asciiTable) uint8 {
	var f uint8
	for i := 0; i < len(s); i++ {
		f |= t[s[i]]
	}
	return f
}

// firstBad returns the first prohibited byte in s, or 0 if there is none.
func firstBad(s string, t *asciiTable) byte {
	for i := 0; i < len(s); i++ {
		if t[s[i]] == cBad {
			return s[i]
		}
	}
	return 0
}

// asciiPart prepares a non-empty part that is all ASCII with table t. If ok
// is set and err is nil, the prepared part is s itself, folded to lower case
// if lower is set. It reports ok false, leaving the work to the slow path, if
// s is not all ASCII: a prohibited ASCII character can still combine with a
// following non-ASCII one under normalisation ('<' and U+0338 make U+226E),
// so only the slow path can judge such a string.
func asciiPart(part, s string, t *asciiTable) (lower, ok bool, err error) {
	f := scan(s, t)
	switch {
	case f&cNonASCII != 0:
		return false, false, nil
	case f&cBad != 0:
		return false, true, prohibited(part, rune(firstBad(s, t)))
	case len(s) > maxPart:
		return false, true, tooLong(part)
	}
	return f&cUpper != 0, true, nil
}

// lowerASCII returns s with the letters 'A' to 'Z' folded to lower case.
func lowerASCII(s string) string {
	return lowerASCIIPrefix(s, len(s))
}

// lowerASCIIPrefix returns s with the letters 'A' to 'Z' in s[:n] folded to
// lower case, allocating at most once.
func lowerASCIIPrefix(s string, n int) string {
	i := 0
	for i < n && !('A' <= s[i] && s[i] <= 'Z') {
		i++
	}
	if i == n {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	b.WriteString(s[:i])
	for ; i < n; i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b.WriteByte(c)
	}
	b.WriteString(s[n:])
	return b.String()
}

// acePrefix starts every ACE label (RFC 3490 §5).
const acePrefix = "xn--"

// maxLabel is the longest a label may be in its ACE form (RFC 3490 §4.1).
const maxLabel = 63

// asciiDomain prepares a domainpart that is all ASCII and has no trailing
// dot. If ok is set and err is nil, the prepared domainpart is s itself,
// folded to lower case if lower is set. It reports ok false, leaving the work
// to the slow path, if s is not all ASCII or has a label that needs IDNA
// processing: an ACE label, or, for IDNA2008, any label with hyphens in its
// third and fourth positions.
func asciiDomain(s string, idna2008 bool) (lower, ok bool, err error) {
	f := scan(s, domainASCII)
	switch {
	case f&cNonASCII != 0:
		return false, false, nil
	case f&cBad != 0:
		return false, true, prohibited("domainpart", rune(firstBad(s, domainASCII)))
	case len(s) > maxPart:
		return false, true, tooLong("domainpart")
	}
	for rest := s; ; {
		label, after, more := strings.Cut(rest, ".")
		if err := checkASCIILabel(label); err != nil {
			return false, true, err
		}
		if len(label) >= 4 && label[2] == '-' && label[3] == '-' &&
			(idna2008 || strings.EqualFold(label[:2], "xn")) {
			return false, false, nil
		}
		if !more {
			break
		}
		rest = after
	}
	return f&cUpper != 0, true, nil
}

// checkASCIILabel checks the length and hyphens of an ASCII label whose bytes
// are all letters, digits or hyphens (RFC 3490 §4.1 steps 3 and 8).
func checkASCIILabel(label string) error {
	switch {
	case label == "":
		return malformed("domainpart: empty label")
	case len(label) > maxLabel:
		return malformed("domainpart: label %q longer than %d bytes", label, maxLabel)
	case label[0] == '-':
		return malformed("domainpart: label %q begins with a hyphen", label)
	case label[len(label)-1] == '-':
		return malformed("domainpart: label %q ends with a hyphen", label)
	}
	return nil
}

// trimSeparator removes one trailing label separator (RFC 3490 §3.1: U+002E,
// U+3002, U+FF0E or U+FF61) from a domainpart.
func trimSeparator(s string) string {
	if strings.HasSuffix(s, ".") {
		return s[:len(s)-1]
	}
	for _, sep := range wideSeparators {
		if strings.HasSuffix(s, sep) {
			return s[:len(s)-len(sep)]
		}
	}
	return s
}

// wideSeparators are the label separators other than '.' (RFC 3490 §3.1).
var wideSeparators = [...]string{"\u3002", "\uff0e", "\uff61"}
