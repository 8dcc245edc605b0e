package disco

import (
	"cmp"
	"crypto/sha1"
	"encoding/base64"
	"slices"
	"strings"
)

// capsIdentity is an identity as XEP-0115 §5.1 hashes it.
type capsIdentity struct {
	Category, Type, Lang, Name string
}

// capsForm is an XEP-0128 extended information form as XEP-0115 §5.1
// hashes it: its FORM_TYPE and its other fields' values by var.
type capsForm struct {
	Type   string
	Fields map[string][]string
}

// verificationString builds the string S of XEP-0115 §5.1. Every sort is
// by octets (i;octet, RFC 4790 §9.3), which is how Go compares strings.
func verificationString(ids []capsIdentity, features []string, forms []capsForm) string {
	var b strings.Builder
	ids = slices.Clone(ids)
	slices.SortFunc(ids, func(a, b capsIdentity) int {
		return cmp.Or(
			strings.Compare(a.Category, b.Category),
			strings.Compare(a.Type, b.Type),
			strings.Compare(a.Lang, b.Lang),
			strings.Compare(a.Name, b.Name),
		)
	})
	for _, id := range ids {
		b.WriteString(id.Category + "/" + id.Type + "/" + id.Lang + "/" + id.Name + "<")
	}
	features = slices.Clone(features)
	slices.Sort(features)
	for _, f := range features {
		b.WriteString(f + "<")
	}
	forms = slices.Clone(forms)
	slices.SortFunc(forms, func(a, b capsForm) int { return strings.Compare(a.Type, b.Type) })
	for _, f := range forms {
		b.WriteString(f.Type + "<")
		vars := make([]string, 0, len(f.Fields))
		for v := range f.Fields {
			if v != "FORM_TYPE" {
				vars = append(vars, v)
			}
		}
		slices.Sort(vars)
		for _, v := range vars {
			b.WriteString(v + "<")
			values := slices.Clone(f.Fields[v])
			slices.Sort(values)
			for _, val := range values {
				b.WriteString(val + "<")
			}
		}
	}
	return b.String()
}

// capsVer is the verification string's SHA-1 hash in base64 (XEP-0115
// §5.1 steps 8 and 9), the value of the 'ver' attribute with hash='sha-1'.
func capsVer(ids []capsIdentity, features []string, forms []capsForm) string {
	// SHA-1 is XEP-0115's mandatory-to-implement hash; the result is an
	// identifier for caching, not a security check.
	sum := sha1.Sum([]byte(verificationString(ids, features, forms)))
	return base64.StdEncoding.EncodeToString(sum[:])
}
