package jid

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParse checks, for both profiles, that Parse never panics, that every
// error wraps ErrMalformed, and that an address it accepts is canonical:
// parsing its string form again gives the same JID, whose parts rebuild it.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"juliet@example.com/balcony",
		"Juliet@Example.COM/Balcony",
		"example.com",
		"example.com.",
		"a@b/c@d/e",
		"[::1]",
		"[2001:DB8::0:1]/r",
		"192.0.2.1",
		"xn--bcher-kva.example",
		"ＪＵＬＩＥＴ@ｅｘａｍｐｌｅ．ｃｏｍ",
		"\u05d0\u05d1@example.com",
		"a<\u0338b@example.com",
		"\U0001F130@example.com",
		"a@\u3002",
		"caf\u00e9@b\u00fccher.example/\U0001F600",
		"\u212bngstr\u00f6m@example.com",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, p := range []Profile{Stringprep, PRECIS} {
			j, err := p.Parse(s)
			if err != nil {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("%v: Parse(%q): error %v does not wrap ErrMalformed", p, s, err)
				}
				if !j.IsZero() {
					t.Fatalf("%v: Parse(%q): got %q with error %v, want the zero JID", p, s, j, err)
				}
				continue
			}
			// Parse must agree with preparing the parts one by one.
			head, rawRes, _ := strings.Cut(s, "/")
			rawLocal, rawDomain, hasLocal := strings.Cut(head, "@")
			if !hasLocal {
				rawLocal, rawDomain = "", head
			}
			if byParts, err := p.New(rawLocal, rawDomain, rawRes); err != nil || byParts != j {
				t.Fatalf("%v: Parse(%q) = %q, but New(%q, %q, %q) = %q, %v", p, s, j, rawLocal, rawDomain, rawRes, byParts, err)
			}
			str := j.String()
			j2, err := p.Parse(str)
			if err != nil {
				t.Fatalf("%v: Parse(%q) = %q, but parsing that fails: %v", p, s, str, err)
			}
			if j2 != j {
				t.Fatalf("%v: Parse(%q) = %#v, but Parse(%q) = %#v", p, s, j, str, j2)
			}
			if got := j2.String(); got != str {
				t.Fatalf("%v: String unstable: got %q, want %q", p, got, str)
			}
			rebuilt, err := p.New(j.Local(), j.Domain(), j.Resource())
			if err != nil || rebuilt != j {
				t.Fatalf("%v: New(%q, %q, %q) = %q, %v; want %q", p, j.Local(), j.Domain(), j.Resource(), rebuilt, err, j)
			}
			if b := j.Bare(); !b.IsBare() || b.IsFull() || b.Resource() != "" || b.Local() != j.Local() || b.Domain() != j.Domain() {
				t.Fatalf("%v: Bare of %q = %#v", p, str, b)
			}
			for _, part := range []string{j.Local(), j.Domain(), j.Resource()} {
				if len(part) > maxPart {
					t.Fatalf("%v: Parse(%q) has a part of %d bytes", p, s, len(part))
				}
			}
		}
	})
}
