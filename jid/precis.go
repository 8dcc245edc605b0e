package jid

import (
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/text/secure/precis"
)

// The PRECIS profile of RFC 7622.

// localExclusions are the characters RFC 7622 §3.3.1 excludes from a
// localpart on top of the UsernameCaseMapped profile.
const localExclusions = `"&'/:<>@`

// precisLocal prepares a localpart (RFC 7622 §3.3): the UsernameCaseMapped
// profile of RFC 8265, then the exclusions.
func precisLocal(s string) (string, error) {
	out, err := enforce(precis.UsernameCaseMapped, "localpart", s)
	if err != nil {
		return "", err
	}
	if i := strings.IndexAny(out, localExclusions); i >= 0 {
		return "", prohibited("localpart", rune(out[i]))
	}
	return out, nil
}

// precisResource prepares a resourcepart (RFC 7622 §3.4): the OpaqueString
// profile of RFC 8265.
func precisResource(s string) (string, error) {
	return enforce(precis.OpaqueString, "resourcepart", s)
}

// enforce applies a PRECIS profile to s and checks that the result is
// stable, so that parsing the prepared address again gives the same address.
func enforce(p *precis.Profile, part, s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", malformed("%s: invalid UTF-8", part)
	}
	out, err := p.String(s)
	if err != nil {
		return "", malformed("%s: %v", part, err)
	}
	if out != s {
		if again, err := p.String(out); err != nil || again != out {
			return "", malformed("%s: preparation does not settle", part)
		}
	}
	return out, nil
}

// precisIDNA prepares domain names as RFC 7622 §3.2 asks: IDNA2008 with the
// mappings of RFC 5895 and UTS #46 (case, width, normalisation; label
// separators map to '.'), the STD3 rules for ASCII, and the Bidi Rule of
// RFC 5893. Lengths are checked here, against the XMPP limits.
var precisIDNA = idna.New(
	idna.MapForLookup(),
	idna.Transitional(false),
	idna.BidiRule(),
)

// idna2008Class stands in for the IDNA2008 derived property values (RFC
// 5892), which x/net/idna does not fully apply: it follows UTS #46, which
// also allows the symbols and punctuation that IDNA2008 disallows (U+265A
// BLACK CHESS KING, or emoji). The PRECIS IdentifierClass (RFC 8264 §4.2) is
// built from the same categories as IDNA2008 (letters and digits, the same
// exceptions and contextual rules, nothing with a compatibility mapping), so
// for a label that is already lower case and in NFC, which a U-label from
// x/net/idna is, it accepts the same code points outside ASCII.
var idna2008Class = precis.NewIdentifier()

// precisDomain prepares a domainpart that has no trailing separator and is not
// all ASCII, or has a label that needs IDNA processing. Each label must be 1
// to 63 bytes as an A-label, and is stored as a U-label (RFC 7622 §3.2.1).
func precisDomain(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", malformed("domainpart: invalid UTF-8")
	}
	a, err := precisIDNA.ToASCII(s)
	if err != nil {
		return "", malformed("domainpart: %v", err)
	}
	for rest := a; ; {
		label, after, more := strings.Cut(rest, ".")
		switch {
		case label == "":
			return "", malformed("domainpart: empty label")
		case len(label) > maxLabel:
			return "", malformed("domainpart: label %q longer than %d bytes in ACE form", label, maxLabel)
		}
		if !more {
			break
		}
		rest = after
	}
	u, err := precisIDNA.ToUnicode(a)
	if err != nil {
		return "", malformed("domainpart: %v", err)
	}
	for rest := u; ; {
		label, after, more := strings.Cut(rest, ".")
		if !isASCII(label) {
			if _, err := idna2008Class.String(label); err != nil {
				return "", malformed("domainpart: label %q is not valid in IDNA2008: %v", label, err)
			}
		}
		if !more {
			break
		}
		rest = after
	}
	if u != s {
		// Make sure that preparing the result gives it back.
		a2, err := precisIDNA.ToASCII(u)
		if err != nil || a2 != a {
			return "", malformed("domainpart: preparation does not settle")
		}
	}
	return u, nil
}
