package jid

import (
	"errors"
	"fmt"
	"strings"
)

// ErrMalformed is wrapped by every error that reports a malformed address or
// address part.
var ErrMalformed = errors.New("jid: malformed")

// maxPart is the longest a prepared part may be, in bytes (RFC 6122 §2.1).
const maxPart = 1023

// JID is an immutable, comparable (==) XMPP address. The zero value is the
// empty JID, which has no parts.
//
// A JID holds the canonical string form of the address and where its parts
// begin and end, so the accessors return substrings without allocating.
type JID struct {
	s string
	// local is the length of the localpart; 0 when there is none (a present
	// localpart is never empty).
	local uint16
	// slash is the index just past the domainpart: the '/' before the
	// resourcepart, or len(s) when there is no resourcepart.
	slash uint16
}

// makeJID returns the JID whose canonical form is s; local is the length of
// the localpart (0 if absent) and domainEnd the index just past the domainpart.
func makeJID(s string, local, domainEnd int) JID {
	return JID{s: s, local: uint16(local), slash: uint16(domainEnd)}
}

// join builds a JID from prepared parts with a single allocation.
func join(local, domain, resource string) JID {
	switch {
	case local == "" && resource == "":
		return makeJID(domain, 0, len(domain))
	case local == "":
		return makeJID(domain+"/"+resource, 0, len(domain))
	case resource == "":
		return makeJID(local+"@"+domain, len(local), len(local)+1+len(domain))
	default:
		return makeJID(local+"@"+domain+"/"+resource, len(local), len(local)+1+len(domain))
	}
}

// Parse parses and prepares an address with the Stringprep profile.
func Parse(s string) (JID, error) {
	return Stringprep.Parse(s)
}

// MustParse is like Parse but panics if s is not a valid address. It is meant
// for tests and for addresses written into the program.
func MustParse(s string) JID {
	j, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return j
}

// New builds an address from its parts with the Stringprep profile; see
// Profile.New.
func New(local, domain, resource string) (JID, error) {
	return Stringprep.New(local, domain, resource)
}

// Local returns the localpart, or "" if there is none.
func (j JID) Local() string {
	return j.s[:j.local]
}

// domainStart returns the index of the first byte of the domainpart.
func (j JID) domainStart() int {
	if j.local == 0 {
		return 0
	}
	return int(j.local) + 1
}

// Domain returns the domainpart, or "" for the zero JID.
func (j JID) Domain() string {
	return j.s[j.domainStart():j.slash]
}

// Resource returns the resourcepart, or "" if there is none.
func (j JID) Resource() string {
	if int(j.slash) == len(j.s) {
		return ""
	}
	return j.s[j.slash+1:]
}

// String returns the canonical string form of the address, or "" for the zero
// JID.
func (j JID) String() string {
	return j.s
}

// Bare returns the address without its resourcepart.
func (j JID) Bare() JID {
	return JID{s: j.s[:j.slash], local: j.local, slash: j.slash}
}

// DomainJID returns the address made of the domainpart alone.
func (j JID) DomainJID() JID {
	d := j.Domain()
	return makeJID(d, 0, len(d))
}

// IsZero reports whether j is the zero (empty) JID.
func (j JID) IsZero() bool {
	return j.s == ""
}

// IsBare reports whether j is a non-zero address without a resourcepart.
func (j JID) IsBare() bool {
	return j.s != "" && int(j.slash) == len(j.s)
}

// IsFull reports whether j has a resourcepart.
func (j JID) IsFull() bool {
	return int(j.slash) < len(j.s)
}

// MarshalText implements encoding.TextMarshaler. The zero JID marshals to
// empty text.
func (j JID) MarshalText() ([]byte, error) {
	return []byte(j.s), nil
}

// UnmarshalText implements encoding.TextUnmarshaler, parsing with the
// Stringprep profile. Empty text gives the zero JID. On error, j is left
// unchanged.
func (j *JID) UnmarshalText(text []byte) error {
	if len(text) == 0 {
		*j = JID{}
		return nil
	}
	p, err := Parse(string(text))
	if err != nil {
		return err
	}
	*j = p
	return nil
}

// malformedError is the error for a malformed address; it wraps ErrMalformed.
type malformedError struct {
	msg string
}

func (e *malformedError) Error() string {
	return "jid: " + e.msg
}

func (e *malformedError) Unwrap() error {
	return ErrMalformed
}

// malformed returns an error wrapping ErrMalformed whose message is "jid: "
// followed by the formatted text.
func malformed(format string, args ...any) error {
	return &malformedError{msg: fmt.Sprintf(format, args...)}
}

// prohibited reports a character that a part may not contain.
func prohibited(part string, r rune) error {
	return malformed("%s: prohibited character %#U", part, r)
}

// tooLong reports a part longer than maxPart bytes.
func tooLong(part string) error {
	return malformed("%s longer than %d bytes", part, maxPart)
}

// Parse parses an address and prepares each of its parts with profile p.
//
// If s is already canonical, the returned JID holds s itself and Parse does
// not allocate; an ASCII address whose only change is case folding, or the
// removal of a trailing dot, takes at most one allocation.
func (p Profile) Parse(s string) (JID, error) {
	if err := p.check(); err != nil {
		return JID{}, err
	}
	if s == "" {
		return JID{}, malformed("empty address")
	}
	head, rawRes, hasRes := strings.Cut(s, "/")
	rawLocal, rawDomain, hasLocal := strings.Cut(head, "@")
	if !hasLocal {
		rawLocal, rawDomain = "", head
	}

	var local, domain, res string
	var lowerLocal, lowerDomain bool
	var err error
	if hasLocal {
		if rawLocal == "" {
			return JID{}, malformed("empty localpart before '@'")
		}
		if local, lowerLocal, err = p.local(rawLocal); err != nil {
			return JID{}, err
		}
	}
	if rawDomain == "" {
		return JID{}, malformed("empty domainpart")
	}
	if domain, lowerDomain, err = p.domain(rawDomain); err != nil {
		return JID{}, err
	}
	if hasRes {
		if rawRes == "" {
			return JID{}, malformed("empty resourcepart after '/'")
		}
		if res, err = p.resource(rawRes); err != nil {
			return JID{}, err
		}
	}

	// When preparation changed nothing, or only dropped a trailing dot from
	// the domainpart at the very end, the address is the input, or a prefix
	// of it. If the localpart or domainpart still has to be folded to lower
	// case, that takes the one allocation. Folding ASCII letters across both
	// parts is right even if only one needs it, because the other is then
	// canonical and has no upper-case ASCII letters.
	if local == rawLocal && res == rawRes {
		dropped := len(rawDomain) - len(domain)
		keep := dropped == 0 && domain == rawDomain ||
			!hasRes && dropped > 0 && rawDomain[:len(domain)] == domain
		if keep {
			out := s[:len(s)-dropped]
			domainEnd := len(head) - dropped
			if lowerLocal || lowerDomain {
				out = lowerASCIIPrefix(out, domainEnd)
			}
			return makeJID(out, len(local), domainEnd), nil
		}
	}
	if lowerLocal {
		local = lowerASCII(local)
	}
	if lowerDomain {
		domain = lowerASCII(domain)
	}
	return join(local, domain, res), nil
}

// New builds an address from its parts, preparing each with profile p. The
// domainpart is required; local and resource may be "" for an address without
// that part.
func (p Profile) New(local, domain, resource string) (JID, error) {
	if err := p.check(); err != nil {
		return JID{}, err
	}
	var err error
	if local != "" {
		if local, err = lowered(p.local(local)); err != nil {
			return JID{}, err
		}
	}
	if domain == "" {
		return JID{}, malformed("empty domainpart")
	}
	if domain, err = lowered(p.domain(domain)); err != nil {
		return JID{}, err
	}
	if resource != "" {
		if resource, err = p.resource(resource); err != nil {
			return JID{}, err
		}
	}
	return join(local, domain, resource), nil
}

// WithResource returns j's bare address with resource as its resourcepart,
// prepared with profile p; an empty resource gives j.Bare(). The localpart and
// domainpart of j are kept as they are.
func (p Profile) WithResource(j JID, resource string) (JID, error) {
	if err := p.check(); err != nil {
		return JID{}, err
	}
	if j.IsZero() {
		return JID{}, malformed("empty domainpart")
	}
	bare := j.Bare()
	if resource == "" {
		return bare, nil
	}
	r, err := p.resource(resource)
	if err != nil {
		return JID{}, err
	}
	return JID{s: bare.s + "/" + r, local: bare.local, slash: bare.slash}, nil
}

// Local prepares s for use as a localpart with profile p. An empty s is
// malformed. If s is already prepared, it is returned without allocating.
func (p Profile) Local(s string) (string, error) {
	if err := p.check(); err != nil {
		return "", err
	}
	if s == "" {
		return "", malformed("empty localpart")
	}
	return lowered(p.local(s))
}

// Domain prepares s for use as a domainpart with profile p. An empty s is
// malformed. If s is already prepared, it is returned without allocating.
func (p Profile) Domain(s string) (string, error) {
	if err := p.check(); err != nil {
		return "", err
	}
	if s == "" {
		return "", malformed("empty domainpart")
	}
	return lowered(p.domain(s))
}

// Resource prepares s for use as a resourcepart with profile p. An empty s is
// malformed. If s is already prepared, it is returned without allocating.
func (p Profile) Resource(s string) (string, error) {
	if err := p.check(); err != nil {
		return "", err
	}
	if s == "" {
		return "", malformed("empty resourcepart")
	}
	return p.resource(s)
}
