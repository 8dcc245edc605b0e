package jid

import (
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unsafe"
)

var (
	_ encoding.TextMarshaler   = JID{}
	_ encoding.TextUnmarshaler = (*JID)(nil)
	_ fmt.Stringer             = JID{}
	_ fmt.Stringer             = Profile(0)
)

// parseCase is one input to Parse and what should come of it: the canonical
// form want, or an error whose message contains wantErr.
type parseCase struct {
	name    string
	in      string
	want    string
	wantErr string
}

// runParse runs cases through p.Parse as subtests.
func runParse(t *testing.T, p Profile, cases []parseCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Helper()
			j, err := p.Parse(tc.in)
			checkResult(t, fmt.Sprintf("%v.Parse(%q)", p, tc.in), j.String(), err, tc.want, tc.wantErr)
			if err == nil {
				again, err := p.Parse(j.String())
				if err != nil || again != j {
					t.Errorf("%v.Parse(%q) = %#v, %v; want %#v again", p, j, again, err, j)
				}
			}
		})
	}
}

// partCase is one input to a part-preparing function such as Profile.Local.
type partCase struct {
	name    string
	in      string
	want    string
	wantErr string
}

// runPart runs cases through prep, which prepares one part, as subtests.
func runPart(t *testing.T, what string, prep func(string) (string, error), cases []partCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Helper()
			got, err := prep(tc.in)
			checkResult(t, fmt.Sprintf("%s(%q)", what, tc.in), got, err, tc.want, tc.wantErr)
			if err == nil {
				if again, err := prep(got); err != nil || again != got {
					t.Errorf("%s(%q) = %q, %v; want it unchanged", what, got, again, err)
				}
			}
		})
	}
}

// checkResult compares the outcome of a call, described by call, with the
// expected result or error.
func checkResult(t *testing.T, call, got string, err error, want, wantErr string) {
	t.Helper()
	if wantErr != "" {
		switch {
		case err == nil:
			t.Errorf("%s = %q, want an error containing %q", call, got, wantErr)
		case !errors.Is(err, ErrMalformed):
			t.Errorf("%s: got error %v, want one wrapping ErrMalformed", call, err)
		case !strings.Contains(err.Error(), wantErr):
			t.Errorf("%s: got error %q, want one containing %q", call, err, wantErr)
		}
		return
	}
	if err != nil {
		t.Errorf("%s: got error %v, want %q", call, err, want)
		return
	}
	if got != want {
		t.Errorf("%s: got %q, want %q", call, got, want)
	}
}

func TestParseSplit(t *testing.T) {
	// RFC 7622 §3.1: the first '/' starts the resourcepart; before it, the
	// first '@' ends the localpart.
	tests := []struct {
		name                    string
		in                      string
		local, domain, resource string
	}{
		{"domain", "example.com", "", "example.com", ""},
		{"bare", "juliet@example.com", "juliet", "example.com", ""},
		{"full", "juliet@example.com/balcony", "juliet", "example.com", "balcony"},
		{"domain and resource", "example.com/foobar", "", "example.com", "foobar"},
		{"at sign in resource", "juliet@example.com/foo@bar", "juliet", "example.com", "foo@bar"},
		{"slash in resource", "juliet@example.com/foo/bar", "juliet", "example.com", "foo/bar"},
		{"RFC 7622 example 15", "a.example.com/b@example.net", "", "a.example.com", "b@example.net"},
		{"server/resource@foo", "server/resource@foo", "", "server", "resource@foo"},
		{"resource of one space", "juliet@example.com/ ", "juliet", "example.com", " "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			j, err := Parse(tc.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.in, err)
			}
			if got := j.Local(); got != tc.local {
				t.Errorf("Local() of %q: got %q, want %q", tc.in, got, tc.local)
			}
			if got := j.Domain(); got != tc.domain {
				t.Errorf("Domain() of %q: got %q, want %q", tc.in, got, tc.domain)
			}
			if got := j.Resource(); got != tc.resource {
				t.Errorf("Resource() of %q: got %q, want %q", tc.in, got, tc.resource)
			}
			if got := j.String(); got != tc.in {
				t.Errorf("String() of %q: got %q, want it unchanged", tc.in, got)
			}
		})
	}
}

func TestParseMalformed(t *testing.T) {
	for _, p := range []Profile{Stringprep, PRECIS} {
		t.Run(p.String(), func(t *testing.T) {
			runParse(t, p, []parseCase{
				{name: "empty", in: "", wantErr: "jid: empty address"},
				{name: "empty localpart", in: "@example.com", wantErr: "jid: empty localpart before '@'"},
				{name: "empty localpart with resource", in: "@example.com/r", wantErr: "jid: empty localpart before '@'"},
				{name: "empty domainpart after localpart", in: "a@", wantErr: "jid: empty domainpart"},
				{name: "empty domainpart before resource", in: "a@/r", wantErr: "jid: empty domainpart"},
				{name: "only a resource", in: "/foobar", wantErr: "jid: empty domainpart"},
				{name: "empty resourcepart", in: "example.com/", wantErr: "jid: empty resourcepart after '/'"},
				{name: "empty resourcepart of full", in: "juliet@example.com/", wantErr: "jid: empty resourcepart after '/'"},
				{name: "only '@'", in: "@", wantErr: "jid: empty localpart before '@'"},
				{name: "only '/'", in: "/", wantErr: "jid: empty domainpart"},
				{name: "only a dot", in: ".", wantErr: "jid: empty domainpart"},
				{name: "two at signs", in: "juliet@@example.com", wantErr: "jid: domainpart: prohibited character U+0040 '@'"},
				{name: "at sign in domain", in: "a@b@example.com", wantErr: "jid: domainpart: prohibited character U+0040 '@'"},
				{name: "quoted localpart", in: `"juliet"@example.com`, wantErr: `jid: localpart: prohibited character U+0022 '"'`},
				{name: "invalid UTF-8 in localpart", in: "\xffa@example.com", wantErr: "jid: localpart: invalid UTF-8"},
				{name: "invalid UTF-8 in domainpart", in: "a@\xff.example.com", wantErr: "jid: domainpart: invalid UTF-8"},
				{name: "invalid UTF-8 in resourcepart", in: "a@example.com/\xff", wantErr: "jid: resourcepart: invalid UTF-8"},
			})
		})
	}
}

func TestParseKeepsCanonicalInput(t *testing.T) {
	for _, in := range []string{
		"juliet@example.com/balcony",
		"example.com",
		"juliet@example.com",
		"fußball@bücher.example/♚",
		"[2001:db8::1]/r",
	} {
		j, err := PRECIS.Parse(in)
		if err != nil {
			t.Fatalf("PRECIS.Parse(%q): %v", in, err)
		}
		if got := j.String(); got != in {
			t.Errorf("PRECIS.Parse(%q): got %q, want the input", in, got)
		}
		if unsafeData(j.String()) != unsafeData(in) {
			t.Errorf("PRECIS.Parse(%q) copied the input; want it kept", in)
		}
	}
	// Dropping a trailing dot at the very end still keeps the input.
	in := "juliet@example.com."
	j := MustParse(in)
	if unsafeData(j.String()) != unsafeData(in) || j.String() != "juliet@example.com" {
		t.Errorf("Parse(%q) = %q; want a prefix of the input", in, j)
	}
}

func TestParseCaseFolding(t *testing.T) {
	for _, p := range []Profile{Stringprep, PRECIS} {
		t.Run(p.String(), func(t *testing.T) {
			runParse(t, p, []parseCase{
				{name: "RFC 6122 example", in: "Juliet@Example.COM/Balcony", want: "juliet@example.com/Balcony"},
				{name: "localpart only", in: "JULIET@example.com/Balcony", want: "juliet@example.com/Balcony"},
				{name: "domainpart only", in: "juliet@EXAMPLE.com/Balcony", want: "juliet@example.com/Balcony"},
				{name: "domain alone", in: "EXAMPLE.COM", want: "example.com"},
				{name: "with trailing dot", in: "Juliet@Example.COM.", want: "juliet@example.com"},
				{name: "with trailing dot and resource", in: "Juliet@Example.COM./Balcony", want: "juliet@example.com/Balcony"},
				{name: "ASCII localpart, Unicode domainpart", in: "JULIET@bücher.example", want: "juliet@bücher.example"},
				{name: "Unicode localpart, ASCII domainpart", in: "jürgen@EXAMPLE.com/R", want: "jürgen@example.com/R"},
				{name: "Unicode localpart to fold", in: "JÜRGEN@EXAMPLE.com/R", want: "jürgen@example.com/R"},
				{name: "ASCII localpart, IPv6 domainpart", in: "JULIET@[::1]/R", want: "juliet@[::1]/R"},
				{name: "resource kept", in: "example.com/ÜBER", want: "example.com/ÜBER"},
			})
		})
	}
}

func TestMethods(t *testing.T) {
	tests := []struct {
		name                    string
		j                       JID
		local, domain, resource string
		bare, domainJID         string
		isZero, isBare, isFull  bool
	}{
		{"zero", JID{}, "", "", "", "", "", true, false, false},
		{"domain", MustParse("example.com"), "", "example.com", "", "example.com", "example.com", false, true, false},
		{"domain and resource", MustParse("example.com/r"), "", "example.com", "r", "example.com", "example.com", false, false, true},
		{"bare", MustParse("juliet@example.com"), "juliet", "example.com", "", "juliet@example.com", "example.com", false, true, false},
		{"full", MustParse("juliet@example.com/balcony"), "juliet", "example.com", "balcony", "juliet@example.com", "example.com", false, false, true},
		{"resource with at sign and slash", MustParse("a@b/c@d/e"), "a", "b", "c@d/e", "a@b", "b", false, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			j := tc.j
			for _, c := range []struct {
				name      string
				got, want any
			}{
				{"Local", j.Local(), tc.local},
				{"Domain", j.Domain(), tc.domain},
				{"Resource", j.Resource(), tc.resource},
				{"Bare", j.Bare().String(), tc.bare},
				{"DomainJID", j.DomainJID().String(), tc.domainJID},
				{"IsZero", j.IsZero(), tc.isZero},
				{"IsBare", j.IsBare(), tc.isBare},
				{"IsFull", j.IsFull(), tc.isFull},
			} {
				if c.got != c.want {
					t.Errorf("%s() of %q: got %v, want %v", c.name, j, c.got, c.want)
				}
			}
			if !j.IsZero() {
				if want := MustParse(tc.bare); j.Bare() != want {
					t.Errorf("Bare() of %q: got %#v, want %#v", j, j.Bare(), want)
				}
				if want := MustParse(tc.domainJID); j.DomainJID() != want {
					t.Errorf("DomainJID() of %q: got %#v, want %#v", j, j.DomainJID(), want)
				}
			}
		})
	}
}

func TestEquality(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		p    Profile
		want bool
	}{
		{"case of localpart and domainpart", "Juliet@Example.COM/Balcony", "juliet@example.com/Balcony", Stringprep, true},
		{"case of resourcepart", "juliet@example.com/Balcony", "juliet@example.com/balcony", Stringprep, false},
		{"trailing dot", "juliet@example.com.", "juliet@example.com", Stringprep, true},
		{"ACE and Unicode domain", "xn--bcher-kva.example", "bücher.example", Stringprep, true},
		{"IPv6 spellings", "[2001:DB8:0:0::1]", "[2001:db8::1]", Stringprep, true},
		{"sharp s, stringprep", "fuß@example.com", "fuss@example.com", Stringprep, true},
		{"sharp s, PRECIS", "fuß@example.com", "fuss@example.com", PRECIS, false},
		{"final sigma, stringprep", "ς@example.com", "σ@example.com", Stringprep, true},
		{"final sigma, PRECIS", "ς@example.com", "σ@example.com", PRECIS, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := tc.p.Parse(tc.a)
			if err != nil {
				t.Fatal(err)
			}
			b, err := tc.p.Parse(tc.b)
			if err != nil {
				t.Fatal(err)
			}
			if got := a == b; got != tc.want {
				t.Errorf("%v: %q == %q: got %v, want %v", tc.p, a, b, got, tc.want)
			}
		})
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name                    string
		local, domain, resource string
		want                    string
		wantErr                 string
	}{
		{"domain", "", "example.com", "", "example.com", ""},
		{"bare", "juliet", "example.com", "", "juliet@example.com", ""},
		{"full", "Juliet", "Example.com.", "Balcony", "juliet@example.com/Balcony", ""},
		{"domain and resource", "", "example.com", "r", "example.com/r", ""},
		{"resource with slash", "a", "example.com", "b/c", "a@example.com/b/c", ""},
		{"no domain", "juliet", "", "", "", "jid: empty domainpart"},
		{"at sign in localpart", "a@b", "example.com", "", "", "jid: localpart: prohibited character U+0040 '@'"},
		{"slash in localpart", "a/b", "example.com", "", "", "jid: localpart: prohibited character U+002F '/'"},
		{"slash in domain", "", "example.com/r", "", "", "jid: domainpart: prohibited character U+002F '/'"},
		{"bad resource", "", "example.com", "a\x00b", "", "jid: resourcepart: prohibited character U+0000"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			j, err := New(tc.local, tc.domain, tc.resource)
			checkResult(t, fmt.Sprintf("New(%q, %q, %q)", tc.local, tc.domain, tc.resource), j.String(), err, tc.want, tc.wantErr)
			if err == nil && j != MustParse(tc.want) {
				t.Errorf("New(%q, %q, %q) = %#v, want %#v", tc.local, tc.domain, tc.resource, j, MustParse(tc.want))
			}
		})
	}
}

func TestWithResource(t *testing.T) {
	full := MustParse("juliet@example.com/balcony")
	tests := []struct {
		name     string
		j        JID
		resource string
		want     string
		wantErr  string
	}{
		{"replace", full, "Orchard", "juliet@example.com/Orchard", ""},
		{"add", full.Bare(), "orchard", "juliet@example.com/orchard", ""},
		{"to a domain", MustParse("example.com"), "r", "example.com/r", ""},
		{"prepared", full, "ＯＲＣＨＡＲＤ", "juliet@example.com/ORCHARD", ""},
		{"remove", full, "", "juliet@example.com", ""},
		{"zero", JID{}, "r", "", "jid: empty domainpart"},
		{"bad resource", full, "a\u1680b", "", "jid: resourcepart: prohibited character U+1680"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			j, err := Stringprep.WithResource(tc.j, tc.resource)
			checkResult(t, fmt.Sprintf("WithResource(%q, %q)", tc.j, tc.resource), j.String(), err, tc.want, tc.wantErr)
			if err == nil && j != MustParse(tc.want) {
				t.Errorf("WithResource(%q, %q) = %#v, want %#v", tc.j, tc.resource, j, MustParse(tc.want))
			}
		})
	}
}

func TestPartFunctionsRejectEmpty(t *testing.T) {
	for _, p := range []Profile{Stringprep, PRECIS} {
		for _, c := range []struct {
			name string
			f    func(string) (string, error)
			want string
		}{
			{"Local", p.Local, "jid: empty localpart"},
			{"Domain", p.Domain, "jid: empty domainpart"},
			{"Resource", p.Resource, "jid: empty resourcepart"},
		} {
			_, err := c.f("")
			if err == nil || !errors.Is(err, ErrMalformed) || err.Error() != c.want {
				t.Errorf("%v.%s(\"\"): got error %v, want %q", p, c.name, err, c.want)
			}
		}
	}
}

func TestMustParse(t *testing.T) {
	defer func() {
		r := recover()
		err, ok := r.(error)
		if !ok || !errors.Is(err, ErrMalformed) {
			t.Errorf("MustParse(\"@\"): got panic %v, want an error wrapping ErrMalformed", r)
		}
	}()
	MustParse("@")
}

func TestText(t *testing.T) {
	type config struct {
		Admin JID `json:"admin"`
		Empty JID `json:"empty"`
	}
	in := `{"admin":"Juliet@Example.COM/Balcony","empty":""}`
	var c config
	if err := json.Unmarshal([]byte(in), &c); err != nil {
		t.Fatalf("json.Unmarshal(%s): %v", in, err)
	}
	if want := MustParse("juliet@example.com/Balcony"); c.Admin != want {
		t.Errorf("Admin: got %#v, want %#v", c.Admin, want)
	}
	if !c.Empty.IsZero() {
		t.Errorf("Empty: got %#v, want the zero JID", c.Empty)
	}
	out, err := json.Marshal(c)
	if err != nil {
		t.Fatalf("json.Marshal: %v", err)
	}
	if want := `{"admin":"juliet@example.com/Balcony","empty":""}`; string(out) != want {
		t.Errorf("json.Marshal: got %s, want %s", out, want)
	}

	j := MustParse("example.com")
	err = j.UnmarshalText([]byte("a@"))
	if !errors.Is(err, ErrMalformed) {
		t.Errorf("UnmarshalText(\"a@\"): got error %v, want one wrapping ErrMalformed", err)
	}
	if j != MustParse("example.com") {
		t.Errorf("UnmarshalText(\"a@\") changed the JID to %#v", j)
	}
}

func TestProfileNames(t *testing.T) {
	tests := []struct {
		name    string
		want    Profile
		wantErr bool
	}{
		{"stringprep", Stringprep, false},
		{"precis", PRECIS, false},
		{"PRECIS", PRECIS, false},
		{"StringPrep", Stringprep, false},
		{"nodeprep", 0, true},
		{"", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ParseProfile(tc.name)
			if tc.wantErr {
				if err == nil {
					t.Errorf("ParseProfile(%q) = %v, want an error", tc.name, p)
				}
				return
			}
			if err != nil || p != tc.want {
				t.Errorf("ParseProfile(%q) = %v, %v; want %v", tc.name, p, err, tc.want)
			}
			if !strings.EqualFold(p.String(), tc.name) {
				t.Errorf("String() of %v: got %q, want %q", p, p.String(), strings.ToLower(tc.name))
			}
		})
	}
	if got, want := Profile(9).String(), "Profile(9)"; got != want {
		t.Errorf("Profile(9).String(): got %q, want %q", got, want)
	}
}

func TestUnknownProfile(t *testing.T) {
	p := Profile(9)
	checks := []struct {
		name string
		err  error
	}{
		{"Parse", second(p.Parse("example.com"))},
		{"New", second(p.New("", "example.com", ""))},
		{"WithResource", second(p.WithResource(MustParse("example.com"), "r"))},
		{"Local", second(p.Local("a"))},
		{"Domain", second(p.Domain("example.com"))},
		{"Resource", second(p.Resource("r"))},
	}
	for _, c := range checks {
		if c.err == nil || errors.Is(c.err, ErrMalformed) {
			t.Errorf("Profile(9).%s: got error %v, want one not wrapping ErrMalformed", c.name, c.err)
		}
	}
}

// unsafeData returns a pointer to the bytes of s, to tell whether two strings
// share memory.
func unsafeData(s string) *byte { return unsafe.StringData(s) }

func second[T any](_ T, err error) error { return err }

func TestZeroAllocsForCanonicalInput(t *testing.T) {
	tests := []struct {
		p  Profile
		in string
	}{
		{Stringprep, "juliet@example.com/balcony"},
		{Stringprep, "juliet@example.com."},
		{Stringprep, "example.com"},
		{Stringprep, "192.0.2.1"},
		{Stringprep, "[2001:db8::1]"},
		{Stringprep, "fussball-σ@bücher.example/♚ \U0001F600"},
		{Stringprep, "\u05d0\u05d1@example.com"},
		{PRECIS, "juliet@example.com/balcony"},
		{PRECIS, "juliet@example.com."},
	}
	for _, tc := range tests {
		allocs := testing.AllocsPerRun(100, func() {
			if _, err := tc.p.Parse(tc.in); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%v.Parse(%q): got %v allocations, want 0", tc.p, tc.in, allocs)
		}
	}
}

func TestOneAllocForASCIICaseFolding(t *testing.T) {
	for _, p := range []Profile{Stringprep, PRECIS} {
		for _, in := range []string{"Juliet@Example.COM/Balcony", "JULIET@example.com.", "juliet@EXAMPLE.COM"} {
			allocs := testing.AllocsPerRun(100, func() {
				if _, err := p.Parse(in); err != nil {
					t.Fatal(err)
				}
			})
			if allocs != 1 {
				t.Errorf("%v.Parse(%q): got %v allocations, want 1", p, in, allocs)
			}
		}
	}
}
