package jid

import (
	"fmt"
	"strconv"
	"strings"
)

// Profile selects the rules used to prepare the parts of an address.
type Profile uint8

const (
	// Stringprep prepares addresses with the stringprep profiles of RFC 3920
	// and RFC 6122: Nodeprep, Nameprep and Resourceprep. It is the default.
	Stringprep Profile = iota
	// PRECIS prepares addresses as RFC 7622 specifies: the
	// UsernameCaseMapped and OpaqueString profiles of RFC 8265 and IDNA2008.
	PRECIS
)

// ParseProfile returns the profile named name: "stringprep" or "precis",
// in any case. It is meant for configuration files.
func ParseProfile(name string) (Profile, error) {
	switch {
	case strings.EqualFold(name, "stringprep"):
		return Stringprep, nil
	case strings.EqualFold(name, "precis"):
		return PRECIS, nil
	}
	return 0, fmt.Errorf("jid: unknown profile %q (want \"stringprep\" or \"precis\")", name)
}

// String returns the name of the profile as ParseProfile accepts it.
func (p Profile) String() string {
	switch p {
	case Stringprep:
		return "stringprep"
	case PRECIS:
		return "precis"
	}
	return "Profile(" + strconv.Itoa(int(p)) + ")"
}

// check returns an error for a value that is not one of the defined profiles.
// The error does not wrap ErrMalformed: it is the caller's mistake, not the
// address's.
func (p Profile) check() error {
	if p > PRECIS {
		return fmt.Errorf("jid: unknown profile %v", p)
	}
	return nil
}

// maxRaw bounds the length of a part before preparation. Preparation can
// shrink a string (by dropping characters mapped to nothing, or by
// composition), but not by this much for any sensible input, and the bound
// keeps the slow path's work small.
const maxRaw = 4 * maxPart

// local prepares a non-empty localpart. The result is to be folded to lower
// case if lower is set, which the caller may do as part of building the
// address, saving an allocation.
func (p Profile) local(s string) (out string, lower bool, err error) {
	const part = "localpart"
	// Nodeprep and UsernameCaseMapped agree on ASCII: printable characters
	// other than space and " & ' / : < > @, folded to lower case.
	if lower, ok, err := asciiPart(part, s, localASCII); ok {
		if err != nil {
			return "", false, err
		}
		return s, lower, nil
	}
	if len(s) > maxRaw {
		return "", false, tooLong(part)
	}
	if p == PRECIS {
		out, err = precisLocal(s)
	} else {
		out, err = nodeprep.prepare(part, s)
	}
	out, err = checkLength(part, out, err)
	return out, false, err
}

// resource prepares a non-empty resourcepart.
func (p Profile) resource(s string) (string, error) {
	const part = "resourcepart"
	// Resourceprep and OpaqueString agree on ASCII: printable characters
	// and space, unchanged.
	if _, ok, err := asciiPart(part, s, resourceASCII); ok {
		if err != nil {
			return "", err
		}
		return s, nil
	}
	if len(s) > maxRaw {
		return "", tooLong(part)
	}
	var out string
	var err error
	if p == PRECIS {
		out, err = precisResource(s)
	} else {
		out, err = resourceprep.prepare(part, s)
	}
	return checkLength(part, out, err)
}

// domain prepares a non-empty domainpart. The result is to be folded to
// lower case if lower is set, as for local.
func (p Profile) domain(s string) (out string, lower bool, err error) {
	const part = "domainpart"
	if s[0] == '[' {
		out, err = ipLiteral(s)
		return out, false, err
	}
	s = trimSeparator(s)
	if s == "" {
		return "", false, malformed("empty domainpart")
	}
	if lower, ok, err := asciiDomain(s, p == PRECIS); ok {
		if err != nil {
			return "", false, err
		}
		return s, lower, nil
	}
	if len(s) > maxRaw {
		return "", false, tooLong(part)
	}
	if p == PRECIS {
		out, err = precisDomain(s)
	} else {
		out, err = nameprepDomain(s)
	}
	out, err = checkLength(part, out, err)
	return out, false, err
}

// lowered finishes the preparation of a part by folding it to lower case if
// lower is set.
func lowered(s string, lower bool, err error) (string, error) {
	switch {
	case err != nil:
		return "", err
	case lower:
		return lowerASCII(s), nil
	}
	return s, nil
}

// checkLength passes on the result of preparing a part, checking that it is
// 1 to maxPart bytes long.
func checkLength(part, s string, err error) (string, error) {
	switch {
	case err != nil:
		return "", err
	case s == "":
		return "", malformed("%s: empty after preparation", part)
	case len(s) > maxPart:
		return "", tooLong(part)
	}
	return s, nil
}
