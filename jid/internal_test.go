package jid

import (
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/xdg-go/stringprep"
	"golang.org/x/net/idna"
)

// asciiInputs returns every ASCII string of one and two bytes and a set of
// random longer ones drawn mostly from the characters that matter to domain
// names.
func asciiInputs() []string {
	var in []string
	for a := range 128 {
		in = append(in, string(rune(a)))
		for b := range 128 {
			in = append(in, string([]byte{byte(a), byte(b)}))
		}
	}
	const alphabet = "abxnXN019-.-.@/ _A"
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		b := make([]byte, 1+r.IntN(12))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		in = append(in, string(b))
	}
	return append(in, "xn--bcher-kva", "XN--BCHER-KVA.com", "ab--cd", "xn--", "xn--a", "a.xn--zz")
}

// sameOutcome reports whether two preparations of one input agree: both fail,
// or both succeed with the same result.
func sameOutcome(out1 string, err1 error, out2 string, err2 error) bool {
	if err1 != nil || err2 != nil {
		return err1 != nil && err2 != nil
	}
	return out1 == out2
}

// fastPart returns asciiPart for one part and table, as a function giving
// the prepared part.
func fastPart(part string, t *asciiTable) func(string) (string, bool, error) {
	return func(s string) (string, bool, error) {
		lower, ok, err := asciiPart(part, s, t)
		out, err := lowered(s, lower, err)
		return out, ok, err
	}
}

// fastDomain is fastPart for asciiDomain.
func fastDomain(idna2008 bool) func(string) (string, bool, error) {
	return func(s string) (string, bool, error) {
		lower, ok, err := asciiDomain(s, idna2008)
		out, err := lowered(s, lower, err)
		return out, ok, err
	}
}

func TestASCIIFastPathAgreesWithSlowPath(t *testing.T) {
	// The slow paths, applied to ASCII input, are the reference.
	slowPart := func(prep func(string) (string, error)) func(string) (string, error) {
		return func(s string) (string, error) {
			out, err := prep(s)
			return checkLength("part", out, err)
		}
	}
	tests := []struct {
		name string
		fast func(s string) (string, bool, error)
		slow func(s string) (string, error)
	}{
		{
			"Nodeprep",
			fastPart("localpart", localASCII),
			slowPart(func(s string) (string, error) { return nodeprep.prepare("localpart", s) }),
		},
		{
			"Resourceprep",
			fastPart("resourcepart", resourceASCII),
			slowPart(func(s string) (string, error) { return resourceprep.prepare("resourcepart", s) }),
		},
		{
			"Nameprep",
			fastDomain(false),
			slowPart(nameprepDomain),
		},
		{
			"UsernameCaseMapped",
			fastPart("localpart", localASCII),
			slowPart(precisLocal),
		},
		{
			"OpaqueString",
			fastPart("resourcepart", resourceASCII),
			slowPart(precisResource),
		},
		{
			"IDNA2008",
			fastDomain(true),
			slowPart(precisDomain),
		},
	}
	inputs := asciiInputs()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			failures := 0
			for _, s := range inputs {
				fast, ok, errFast := tc.fast(s)
				if !ok {
					continue
				}
				slow, errSlow := tc.slow(s)
				if !sameOutcome(fast, errFast, slow, errSlow) {
					t.Errorf("%q: fast path gives %q, %v; slow path gives %q, %v", s, fast, errFast, slow, errSlow)
					if failures++; failures > 10 {
						t.FailNow()
					}
				}
			}
		})
	}
}

func TestPunycodeMatchesIDNA(t *testing.T) {
	inputs := []string{
		"bücher", "ü", "é", "faß", "παράδειγμα", "例え", "مثال", "उदाहरण",
		"\U0001F600", "a\U0010FFFDb", "ab-cd-ü", strings.Repeat("ü", 20),
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 5000 {
		var b strings.Builder
		for range 1 + r.IntN(10) {
			switch r.IntN(4) {
			case 0:
				b.WriteByte(byte('a' + r.IntN(26)))
			case 1:
				b.WriteRune(rune(0x80 + r.IntN(0x700)))
			case 2:
				b.WriteRune(rune(0x3000 + r.IntN(0x6000)))
			default:
				b.WriteRune(rune(0x10000 + r.IntN(0x10000)))
			}
		}
		inputs = append(inputs, b.String())
	}
	for _, s := range inputs {
		if isASCII(s) || !utf8.ValidString(s) {
			continue
		}
		want, err := idna.Punycode.ToASCII(s)
		if err != nil {
			t.Fatalf("idna.Punycode.ToASCII(%q): %v", s, err)
		}
		want = strings.TrimPrefix(want, acePrefix)
		got, ok := punyEncode(nil, s, 1000)
		if !ok || string(got) != want {
			t.Errorf("punyEncode(%q) = %q, %v; want %q", s, got, ok, want)
		}
		if _, ok := punyEncode(nil, s, len(want)); !ok {
			t.Errorf("punyEncode(%q) with limit %d: got false, want true", s, len(want))
		}
		if _, ok := punyEncode(nil, s, len(want)-1); ok {
			t.Errorf("punyEncode(%q) with limit %d: got true, want false", s, len(want)-1)
		}
	}
}

func TestUnion(t *testing.T) {
	got := union(
		stringprep.Set{{10, 20}, {40, 50}},
		stringprep.Set{{15, 25}, {26, 30}, {60, 60}},
		stringprep.Set{{1, 2}},
	)
	want := stringprep.Set{{1, 2}, {10, 30}, {40, 50}, {60, 60}}
	if len(got) != len(want) {
		t.Fatalf("union: got %v, want %v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("union: got %v, want %v", got, want)
		}
	}
	for r := rune(0); r < 70; r++ {
		if g, w := contains(got, r), inSets(r, want); g != w {
			t.Errorf("contains(%v, %d): got %v, want %v", got, r, g, w)
		}
	}
}

func inSets(r rune, sets ...stringprep.Set) bool {
	for _, s := range sets {
		for _, rr := range s {
			if rr[0] <= r && r <= rr[1] {
				return true
			}
		}
	}
	return false
}

func TestProhibitionTablesMatchRFC3454(t *testing.T) {
	// The merged tables must agree with the tables they were merged from.
	tables := []struct {
		name   string
		merged stringprep.Set
		from   []stringprep.Set
	}{
		{"Nodeprep", nodeprep.prohibited, []stringprep.Set{
			stringprep.TableC1_1, stringprep.TableC1_2, stringprep.TableC2_1, stringprep.TableC2_2,
			stringprep.TableC3, stringprep.TableC4, stringprep.TableC5, stringprep.TableC6,
			stringprep.TableC7, stringprep.TableC8, stringprep.TableC9,
		}},
		{"Resourceprep", resourceprep.prohibited, []stringprep.Set{
			stringprep.TableC1_2, stringprep.TableC2_1, stringprep.TableC2_2,
			stringprep.TableC3, stringprep.TableC4, stringprep.TableC5, stringprep.TableC6,
			stringprep.TableC7, stringprep.TableC8, stringprep.TableC9,
		}},
		{"Nameprep", nameprep.prohibited, []stringprep.Set{
			stringprep.TableC1_2, stringprep.TableC2_2,
			stringprep.TableC3, stringprep.TableC4, stringprep.TableC5, stringprep.TableC6,
			stringprep.TableC7, stringprep.TableC8, stringprep.TableC9,
		}},
		{"D.1", randALCat, []stringprep.Set{stringprep.TableD1}},
		{"D.2", lCat, []stringprep.Set{stringprep.TableD2}},
	}
	for _, tc := range tables {
		t.Run(tc.name, func(t *testing.T) {
			// Every rune at or next to the end of a range, and the
			// ASCII ones.
			var runes []rune
			for r := range rune(128) {
				runes = append(runes, r)
			}
			for _, set := range tc.from {
				for _, rr := range set {
					runes = append(runes, rr[0]-1, rr[0], rr[1], rr[1]+1)
				}
			}
			for _, r := range runes {
				want := inSets(r, tc.from...)
				if tc.name == "Nodeprep" && strings.ContainsRune(`"&'/:<>@`, r) {
					want = true
				}
				if got := contains(tc.merged, r); got != want {
					t.Fatalf("%U: got prohibited %v, want %v", r, got, want)
				}
			}
		})
	}
}
