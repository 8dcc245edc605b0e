// Package jid parses, validates and normalises XMPP addresses (JIDs) of the
// form [localpart@]domainpart[/resourcepart].
//
// A JID is an immutable value holding the canonical string form of an
// address, so two JIDs that name the same entity compare equal with ==, and
// String, Bare and Domain return substrings without allocating.
//
// # Splitting
//
// An address is split as RFC 7622 §3.1 describes: the first '/' starts the
// resourcepart, which may itself contain '@' and '/'; in what precedes it, the
// first '@' ends the localpart. Each part is then prepared on its own and must
// be 1 to 1023 bytes of UTF-8 after preparation; the localpart and the
// resourcepart may be absent, but not empty ("a@", "example.com/" and
// "@example.com" are malformed). To bound the work done on hostile input, a
// part longer than 4092 bytes is rejected before it is prepared.
//
// # Profiles
//
// Two sets of preparation rules are available as a Profile.
//
// Stringprep, the default, follows RFC 3920 §3 and RFC 6122, as the XMPP
// feature set draft (draft-saintandre-xmpp-feature-set-00 §2) requires:
//
//   - 2.1-1, 2.1-2: the domainpart conforms to Nameprep (RFC 3491), applied
//     label by label with the checks of IDNA ToASCII (RFC 3490) under
//     UseSTD3ASCIIRules: letters, digits and hyphens only among ASCII
//     characters, no leading or trailing hyphen, and each label 1 to 63 bytes
//     in its ASCII-compatible (ACE) form. The label separators are U+002E,
//     U+3002, U+FF0E and U+FF61; they are stored as '.'. ACE labels
//     ("xn--…") are decoded, and rejected unless they are the ACE form of a
//     valid label, so the domainpart is stored lower-case in Unicode form and
//     the two spellings of a name are one address. It is at most 1023 bytes.
//   - 2.2-1, 2.2-2: the localpart conforms to Nodeprep (RFC 3920 Appendix A,
//     RFC 6122 Appendix A) and is at most 1023 bytes.
//   - 2.3-1, 2.3-2: the resourcepart conforms to Resourceprep (RFC 3920
//     Appendix B, RFC 6122 Appendix B) and is at most 1023 bytes.
//
// The stringprep tables of RFC 3454 come from github.com/xdg-go/stringprep.
// Two departures from a strict reading of RFC 3454 are deliberate:
//
//   - Unassigned code points (table A.1) are allowed, as stringprep allows
//     them in "queries". Prosody does the same by default, and it lets modern
//     emoji appear in resourceparts.
//   - NFKC comes from golang.org/x/text, which implements a newer Unicode
//     version than the 3.2 that stringprep is defined on. Characters added
//     since 3.2 may therefore normalise to something that the mapping step
//     would have changed (U+1F130 SQUARED LATIN CAPITAL LETTER A becomes "A").
//     To keep preparation idempotent, mapping and normalisation are repeated
//     until the string is stable; a string that does not settle within a few
//     rounds, such as one with more than 30 combining marks in a row, is
//     rejected.
//
// PRECIS follows RFC 7622, using golang.org/x/text/secure/precis and
// golang.org/x/net/idna: the localpart is prepared with the
// UsernameCaseMapped profile of RFC 8265 and must not contain any of
// " & ' / : < > @; the resourcepart uses the OpaqueString profile; the
// domainpart is processed as an IDNA2008 name (with the lookup mappings of
// UTS #46, non-transitional, and the Bidi Rule of RFC 5893), each label must
// be 1 to 63 bytes as an A-label, and it is stored as U-labels. x/net/idna
// follows UTS #46, which also allows symbols that IDNA2008 disallows, so
// each U-label is also checked against the PRECIS IdentifierClass, which is
// derived from the same rules as IDNA2008's; "♚.example" is rejected.
//
// In both profiles a single trailing label separator on the domainpart is
// removed, and the domainpart may be an IP literal: a dotted IPv4 address,
// which the label rules accept like any other name, or an IPv6 address in
// brackets (without a zone), which is stored in its RFC 5952 text form
// ("[::1]").
//
// # Errors
//
// Every error that reports a malformed address wraps ErrMalformed, so
// errors.Is(err, ErrMalformed) tells a caller to answer with the jid-malformed
// stanza error; the message names the part and the reason.
//
// # Speed
//
// Every stanza's 'to' and 'from' are parsed, so all three parts have an ASCII
// fast path, and an address that is already canonical is parsed without
// allocating: the JID keeps the input string.
package jid
