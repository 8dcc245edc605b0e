package jid

import (
	"slices"
	"unicode/utf8"

	"github.com/xdg-go/stringprep"
	"golang.org/x/text/unicode/norm"
)

// sprep is a stringprep profile (RFC 3454) for one part of an address. All
// three profiles map with table B.1, normalise with NFKC, check the result
// against their prohibition tables and apply the bidi rules of RFC 3454 §6.
// Unassigned code points (table A.1) are allowed, as for queries.
type sprep struct {
	// fold also maps with table B.2, case folding for use with NFKC.
	fold bool
	// prohibited is the union of the profile's prohibition tables.
	prohibited stringprep.Set
}

var (
	// nodeprep is the Nodeprep profile (RFC 6122 Appendix A).
	nodeprep = &sprep{fold: true, prohibited: union(
		stringprep.TableC1_1, stringprep.TableC1_2,
		stringprep.TableC2_1, stringprep.TableC2_2,
		stringprep.TableC3, stringprep.TableC4, stringprep.TableC5,
		stringprep.TableC6, stringprep.TableC7, stringprep.TableC8,
		stringprep.TableC9,
		// RFC 6122 Appendix A.5: " & ' / : < > @
		stringprep.Set{{'"', '"'}, {'&', '&'}, {'\'', '\''}, {'/', '/'},
			{':', ':'}, {'<', '<'}, {'>', '>'}, {'@', '@'}},
	)}
	// resourceprep is the Resourceprep profile (RFC 6122 Appendix B). Unlike
	// Nodeprep it keeps case and allows the ASCII space.
	resourceprep = &sprep{prohibited: union(
		stringprep.TableC1_2,
		stringprep.TableC2_1, stringprep.TableC2_2,
		stringprep.TableC3, stringprep.TableC4, stringprep.TableC5,
		stringprep.TableC6, stringprep.TableC7, stringprep.TableC8,
		stringprep.TableC9,
	)}
	// nameprep is the Nameprep profile (RFC 3491 §§3-6), applied to one
	// label at a time. ASCII spaces and controls are left to the STD3 rules
	// of IDNA.
	nameprep = &sprep{fold: true, prohibited: union(
		stringprep.TableC1_2,
		stringprep.TableC2_2,
		stringprep.TableC3, stringprep.TableC4, stringprep.TableC5,
		stringprep.TableC6, stringprep.TableC7, stringprep.TableC8,
		stringprep.TableC9,
	)}
)

// randALCat and lCat are tables D.1 and D.2 of RFC 3454, the characters with
// bidirectional property R or AL, and L.
var (
	randALCat = union(stringprep.TableD1)
	lCat      = union(stringprep.TableD2)
)

// union merges sets of rune ranges into one sorted set of disjoint ranges, so
// that a rune needs one binary search instead of one per table.
func union(sets ...stringprep.Set) stringprep.Set {
	var all stringprep.Set
	for _, s := range sets {
		all = append(all, s...)
	}
	slices.SortFunc(all, func(a, b stringprep.RuneRange) int { return int(a[0] - b[0]) })
	var out stringprep.Set
	for _, r := range all {
		if n := len(out); n > 0 && r[0] <= out[n-1][1]+1 {
			out[n-1][1] = max(out[n-1][1], r[1])
			continue
		}
		out = append(out, r)
	}
	return out
}

// contains reports whether r is in set, which must be sorted and disjoint.
func contains(set stringprep.Set, r rune) bool {
	lo, hi := 0, len(set)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		switch {
		case r < set[m][0]:
			hi = m
		case r > set[m][1]:
			lo = m + 1
		default:
			return true
		}
	}
	return false
}

// maxRounds is how many times mapping and normalisation are repeated, looking
// for a stable string, before the input is rejected.
const maxRounds = 4

// prepare applies the profile to s, a part or label of an address; part
// names it in errors. The result is stable: preparing it again returns it
// unchanged, so a string that is already prepared is returned as is, without
// allocating.
//
// RFC 3454 maps and normalises once. Here the two steps are repeated until
// the string is one that neither changes, because x/text normalises with a
// newer Unicode than stringprep's 3.2, and a character that 3.2 did not
// assign may normalise to one that the mapping tables change (U+1F130 to
// "A"). x/text also inserts U+034F COMBINING GRAPHEME JOINER into a run of
// more than 30 combining marks (the Stream-Safe Text Format of UAX #15), and
// table B.1 maps it to nothing, so such a run never settles and is rejected.
func (p *sprep) prepare(part, s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", malformed("%s: invalid UTF-8", part)
	}
	out := s
	for round := 0; ; round++ {
		mapped := p.mapString(out)
		if mapped == out && isNFKC(out) {
			break
		}
		if round == maxRounds {
			return "", malformed("%s: preparation does not settle", part)
		}
		out = norm.NFKC.String(mapped)
	}
	return out, p.check(part, out)
}

// isNFKC reports whether s is in Normalization Form KC. The quick check
// settles most strings without allocating; IsNormalString, which does
// allocate, decides the rest.
func isNFKC(s string) bool {
	return norm.NFKC.QuickSpanString(s) == len(s) || norm.NFKC.IsNormalString(s)
}

// mapString applies table B.1 and, if p.fold is set, table B.2 to s. It
// returns s itself if nothing is mapped.
func (p *sprep) mapString(s string) string {
	var b []byte // the mapped string, once it differs from s
	for i, r := range s {
		to, mapped := p.mapRune(r)
		if !mapped {
			if b != nil {
				b = utf8.AppendRune(b, r)
			}
			continue
		}
		if b == nil {
			b = make([]byte, i, len(s)+8)
			copy(b, s[:i])
		}
		for _, t := range to {
			b = utf8.AppendRune(b, t)
		}
	}
	if b == nil {
		return s
	}
	return string(b)
}

// asciiFold maps the ASCII letters 'A' to 'Z' as table B.2 does.
var asciiFold = func() (m [26][]rune) {
	for i := range m {
		m[i] = []rune{rune('a' + i)}
	}
	return m
}()

// mapRune returns what r maps to, and whether it is mapped at all.
func (p *sprep) mapRune(r rune) ([]rune, bool) {
	if r < utf8.RuneSelf {
		if p.fold && 'A' <= r && r <= 'Z' {
			return asciiFold[r-'A'], true
		}
		return nil, false
	}
	if to, ok := stringprep.TableB1[r]; ok {
		return to, true
	}
	if p.fold {
		if to, ok := stringprep.TableB2[r]; ok {
			return to, true
		}
	}
	return nil, false
}

// check applies the prohibition tables and the bidi rules (RFC 3454 §§5-6)
// to a mapped and normalised string.
func (p *sprep) check(part, s string) error {
	var randAL, l bool
	for _, r := range s {
		if contains(p.prohibited, r) {
			return prohibited(part, r)
		}
		if contains(randALCat, r) {
			randAL = true
		} else if !l && contains(lCat, r) {
			l = true
		}
	}
	if !randAL {
		return nil
	}
	if l {
		return malformed("%s: mixes right-to-left and left-to-right characters", part)
	}
	first, _ := utf8.DecodeRuneInString(s)
	last, _ := utf8.DecodeLastRuneInString(s)
	if !contains(randALCat, first) || !contains(randALCat, last) {
		return malformed("%s: right-to-left text must begin and end with a right-to-left character", part)
	}
	return nil
}
