package tlsconf

// Peer certificate checks for server-to-server streams: RFC 6120 §13.7.1.2
// and §13.7.2 (which identities a server certificate carries and how a peer
// checks them), RFC 6125 §6 (DNS-ID, SRV-ID and CN-ID matching, wildcards),
// RFC 7590 §3.3 and XEP-0178 (the checks SASL EXTERNAL relies on).

import (
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// Errors VerifyPeer wraps, so that callers can tell the failures apart with
// errors.Is (to fall back to dialback, say, or to pick a stream error).
var (
	// ErrUntrusted: no certificate, or the chain does not lead to a trusted
	// root (unknown issuer, bad signature, a CA constraint broken).
	ErrUntrusted = errors.New("certificate not trusted")
	// ErrExpired: the leaf or a certificate of the chain is outside its
	// validity period.
	ErrExpired = errors.New("certificate expired or not yet valid")
	// ErrNameMismatch: the chain is trusted but the leaf is not valid for
	// the domain, or its subjectAltName is malformed.
	ErrNameMismatch = errors.New("certificate not valid for the domain")
)

var (
	oidSubjectAltName = asn1.ObjectIdentifier{2, 5, 29, 17}
	oidDNSSRV         = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 8, 7} // RFC 4985
	oidXmppAddr       = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 8, 5} // RFC 6120 §13.7.1.4
)

// srvService is the service label of the SRV-ID a server presents for
// server-to-server streams (RFC 6120 §13.7.1.2.1). Direct TLS (XEP-0368)
// uses the same identities as STARTTLS.
const srvService = "_xmpp-server"

// srvClientService is the SRV-ID service label of a server's certificate
// for client streams (RFC 6120 §13.7.1.2.1).
const srvClientService = "_xmpp-client"

// PeerRoots builds the pool that peer certificates are verified against:
// the system roots (when system is true) plus every certificate in the PEM
// files (a file with no certificate, or unreadable, is an error naming the
// file).
func PeerRoots(system bool, pemFiles []string) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	if system {
		sys, err := x509.SystemCertPool()
		if err != nil {
			return nil, fmt.Errorf("tlsconf: system roots: %w", err)
		}
		pool = sys
	}
	for _, f := range pemFiles {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("tlsconf: trust file: %w", err)
		}
		n := 0
		for len(data) > 0 {
			var b *pem.Block
			b, data = pem.Decode(data)
			if b == nil {
				break
			}
			if b.Type != "CERTIFICATE" {
				continue
			}
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("tlsconf: trust file %s: certificate %d: %w", f, n+1, err)
			}
			pool.AddCert(c)
			n++
		}
		if n == 0 {
			return nil, fmt.Errorf("tlsconf: trust file %s: no PEM certificate in it", f)
		}
	}
	return pool, nil
}

// VerifyPeer checks that chain (leaf first, as presented in the TLS
// handshake) chains to roots at time now (intermediates from the rest of
// chain; any extended key usage accepted, since servers often present
// serverAuth-only certificates as TLS clients) and that the leaf is valid
// for the XMPP domain per RFC 6125 §6 and RFC 6120 §13.7.1.2: a DNS-ID
// (dNSName; a wildcard only as the whole left-most label, matching exactly
// one label), an SRV-ID "_xmpp-server.<domain>" (id-on-dnsSRV otherName),
// or an XmppAddr equal to the domain (id-on-xmppAddr otherName). A CN-ID is
// used only when the certificate has no dNSName, SRV-ID, URI or XmppAddr
// SAN at all. Comparison is case-insensitive on A-labels: domain and
// XmppAddr values may be U-labels and are converted (IDNA2008 with the
// UTS #46 lookup mappings). A domain that is an IP address (IPv6 in
// brackets or not) matches only an iPAddress SAN.
//
// The error wraps ErrUntrusted, ErrExpired or ErrNameMismatch and says what
// was wrong; a name mismatch lists the identities the certificate has. A
// nil roots is an error, never the system pool.
func VerifyPeer(chain []*x509.Certificate, domain string, roots *x509.CertPool, now time.Time) error {
	return verify(chain, domain, srvService, roots, now)
}

// VerifyServer checks a server's certificate as an XMPP client does (RFC
// 6120 §13.7.2.1): the rules of VerifyPeer, with the SRV-ID
// "_xmpp-client.<domain>" instead of "_xmpp-server.<domain>".
func VerifyServer(chain []*x509.Certificate, domain string, roots *x509.CertPool, now time.Time) error {
	return verify(chain, domain, srvClientService, roots, now)
}

func verify(chain []*x509.Certificate, domain, service string, roots *x509.CertPool, now time.Time) error {
	if len(chain) == 0 || chain[0] == nil {
		return fmt.Errorf("tlsconf: peer %q: no certificate: %w", domain, ErrUntrusted)
	}
	if roots == nil {
		return fmt.Errorf("tlsconf: peer %q: no trust roots configured: %w", domain, ErrUntrusted)
	}
	leaf := chain[0]
	if now.Before(leaf.NotBefore) {
		return fmt.Errorf("tlsconf: peer %q: certificate not valid before %s: %w", domain, leaf.NotBefore.UTC().Format(time.RFC3339), ErrExpired)
	}
	if now.After(leaf.NotAfter) {
		return fmt.Errorf("tlsconf: peer %q: certificate expired at %s: %w", domain, leaf.NotAfter.UTC().Format(time.RFC3339), ErrExpired)
	}
	ids, sanErr := parseIdentities(leaf)

	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		if c != nil {
			inter.AddCert(c)
		}
	}
	opts := x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	}
	if _, err := handledSAN(leaf, sanErr == nil).Verify(opts); err != nil {
		if inv, ok := errors.AsType[x509.CertificateInvalidError](err); ok && inv.Reason == x509.Expired {
			return fmt.Errorf("tlsconf: peer %q: chain: %w: %w", domain, ErrExpired, err)
		}
		return fmt.Errorf("tlsconf: peer %q: %w: %w", domain, ErrUntrusted, err)
	}

	return nameError(ids, sanErr, domain, service)
}

// MatchesDomain checks only the name half of VerifyPeer: whether cert is
// valid for the XMPP domain by the same rules (DNS-ID, SRV-ID
// "_xmpp-server.<domain>", XmppAddr, CN-ID only without those SANs), with
// no chain or validity check. Use it to pick which of our own certificates
// to present for a domain; crypto/x509's VerifyHostname ignores SRV-IDs and
// XmppAddrs. The error wraps ErrNameMismatch and lists the identities cert
// has.
func MatchesDomain(cert *x509.Certificate, domain string) error {
	if cert == nil {
		return fmt.Errorf("tlsconf: %q: no certificate: %w", domain, ErrNameMismatch)
	}
	ids, err := parseIdentities(cert)
	return nameError(ids, err, domain, srvService)
}

// MatchesServer is MatchesDomain as a client checks a server's certificate:
// the SRV-ID it accepts is "_xmpp-client.<domain>" (VerifyServer's name
// half).
func MatchesServer(cert *x509.Certificate, domain string) error {
	if cert == nil {
		return fmt.Errorf("tlsconf: %q: no certificate: %w", domain, ErrNameMismatch)
	}
	ids, err := parseIdentities(cert)
	return nameError(ids, err, domain, srvClientService)
}

func nameError(ids identities, sanErr error, domain, service string) error {
	if sanErr != nil {
		return fmt.Errorf("tlsconf: certificate for %q: malformed subjectAltName (%v): %w", domain, sanErr, ErrNameMismatch)
	}
	if err := ids.match(domain, service); err != nil {
		return fmt.Errorf("tlsconf: certificate for %q: %w; it presents %s: %w", domain, err, describe(ids.list()), ErrNameMismatch)
	}
	return nil
}

// handledSAN returns leaf, or, when the subjectAltName was parsed here but
// crypto/x509 left it among the unhandled critical extensions (it does so
// when the SAN holds only otherName entries, as an SRV-ID/XmppAddr-only
// certificate with an empty subject must mark it critical), a shallow copy
// without it, so that Verify does not refuse an extension this package
// processes. The caller's certificate is never changed.
func handledSAN(leaf *x509.Certificate, parsed bool) *x509.Certificate {
	if !parsed {
		return leaf
	}
	for i, id := range leaf.UnhandledCriticalExtensions {
		if id.Equal(oidSubjectAltName) {
			c := *leaf
			c.UnhandledCriticalExtensions = append(append([]asn1.ObjectIdentifier(nil), leaf.UnhandledCriticalExtensions[:i]...), leaf.UnhandledCriticalExtensions[i+1:]...)
			return &c
		}
	}
	return leaf
}

// PeerIdentities lists the identities a certificate presents (DNS-IDs,
// SRV-IDs, XmppAddrs, and the CN) for logs and errors, each prefixed with
// its kind: "DNS:", "SRV:", "XmppAddr:", "URI:", "IP:", "CN:". A malformed
// subjectAltName shows as "SAN:malformed" after whatever could be read.
func PeerIdentities(cert *x509.Certificate) []string {
	if cert == nil {
		return nil
	}
	ids, err := parseIdentities(cert)
	out := ids.list()
	if err != nil {
		out = append(out, "SAN:malformed")
	}
	return out
}

func describe(list []string) string {
	if len(list) == 0 {
		return "no identity"
	}
	return strings.Join(list, ", ")
}

// identities are the reference-comparable names of a certificate.
type identities struct {
	dns, srv, xmpp, uri []string
	ips                 []net.IP
	cn                  string
}

func (ids *identities) list() []string {
	var out []string
	for _, s := range ids.dns {
		out = append(out, "DNS:"+s)
	}
	for _, s := range ids.srv {
		out = append(out, "SRV:"+s)
	}
	for _, s := range ids.xmpp {
		out = append(out, "XmppAddr:"+s)
	}
	for _, s := range ids.uri {
		out = append(out, "URI:"+s)
	}
	for _, ip := range ids.ips {
		out = append(out, "IP:"+ip.String())
	}
	if ids.cn != "" {
		out = append(out, "CN:"+ids.cn)
	}
	for i, s := range out {
		out[i] = printable(s)
	}
	return out
}

// printable replaces invalid UTF-8 and unprintable runes (controls, line
// breaks) with U+FFFD, so that a name from a certificate cannot forge log
// lines.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			return utf8.RuneError
		}
		return r
	}, s)
}

// parseIdentities reads the subjectAltName extension of cert (RFC 5280
// §4.2.1.6) itself, since crypto/x509 drops otherName entries. Entries read
// before an error are kept, for PeerIdentities.
func parseIdentities(cert *x509.Certificate) (identities, error) {
	ids := identities{cn: cert.Subject.CommonName}
	seen := false
	for _, ext := range cert.Extensions {
		if !ext.Id.Equal(oidSubjectAltName) {
			continue
		}
		if seen {
			return ids, errors.New("two subjectAltName extensions")
		}
		seen = true
		if err := ids.parseSAN(ext.Value); err != nil {
			return ids, err
		}
	}
	return ids, nil
}

func (ids *identities) parseSAN(der []byte) error {
	var seq asn1.RawValue
	rest, err := asn1.Unmarshal(der, &seq)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return errors.New("trailing data")
	}
	if seq.Class != asn1.ClassUniversal || seq.Tag != asn1.TagSequence || !seq.IsCompound {
		return errors.New("not a SEQUENCE")
	}
	for b := seq.Bytes; len(b) > 0; {
		var gn asn1.RawValue
		b, err = asn1.Unmarshal(b, &gn)
		if err != nil {
			return err
		}
		if gn.Class != asn1.ClassContextSpecific {
			return fmt.Errorf("GeneralName of class %d", gn.Class)
		}
		switch gn.Tag {
		case 0: // otherName
			if !gn.IsCompound {
				return errors.New("primitive otherName")
			}
			if err := ids.parseOtherName(gn.Bytes); err != nil {
				return err
			}
		case 2: // dNSName
			if gn.IsCompound || !isIA5(gn.Bytes) {
				return errors.New("dNSName is not an IA5String")
			}
			ids.dns = append(ids.dns, string(gn.Bytes))
		case 6: // uniformResourceIdentifier
			if gn.IsCompound || !isIA5(gn.Bytes) {
				return errors.New("URI is not an IA5String")
			}
			ids.uri = append(ids.uri, string(gn.Bytes))
		case 7: // iPAddress
			if gn.IsCompound || (len(gn.Bytes) != net.IPv4len && len(gn.Bytes) != net.IPv6len) {
				return fmt.Errorf("iPAddress of %d bytes", len(gn.Bytes))
			}
			ids.ips = append(ids.ips, net.IP(append([]byte(nil), gn.Bytes...)))
		default:
			// rfc822Name, x400Address, directoryName, ediPartyName,
			// registeredID: not identities of a server.
		}
	}
	return nil
}

// parseOtherName reads the content of OtherName ::= SEQUENCE { type-id
// OBJECT IDENTIFIER, value [0] EXPLICIT ANY DEFINED BY type-id }, keeping
// SRVName (IA5String) and XmppAddr (UTF8String) values.
func (ids *identities) parseOtherName(b []byte) error {
	var oid asn1.ObjectIdentifier
	b, err := asn1.Unmarshal(b, &oid)
	if err != nil {
		return fmt.Errorf("otherName type-id: %w", err)
	}
	var v asn1.RawValue
	rest, err := asn1.Unmarshal(b, &v)
	if err != nil {
		return fmt.Errorf("otherName value: %w", err)
	}
	if len(rest) > 0 || v.Class != asn1.ClassContextSpecific || v.Tag != 0 || !v.IsCompound {
		return errors.New("otherName value is not [0] EXPLICIT")
	}
	want, kind := 0, ""
	switch {
	case oid.Equal(oidDNSSRV):
		want, kind = asn1.TagIA5String, "SRVName"
	case oid.Equal(oidXmppAddr):
		want, kind = asn1.TagUTF8String, "XmppAddr"
	default:
		return nil // some other otherName: not ours to judge
	}
	var s asn1.RawValue
	rest, err = asn1.Unmarshal(v.Bytes, &s)
	if err != nil {
		return fmt.Errorf("%s: %w", kind, err)
	}
	if len(rest) > 0 || s.Class != asn1.ClassUniversal || s.Tag != want || s.IsCompound {
		return fmt.Errorf("%s has the wrong type", kind)
	}
	if want == asn1.TagIA5String {
		if !isIA5(s.Bytes) {
			return errors.New("SRVName is not ASCII")
		}
		ids.srv = append(ids.srv, string(s.Bytes))
	} else {
		if !utf8.Valid(s.Bytes) {
			return errors.New("XmppAddr is not UTF-8")
		}
		ids.xmpp = append(ids.xmpp, string(s.Bytes))
	}
	return nil
}

func isIA5(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// match reports whether ids include the reference identifier domain, and
// why not.
func (ids *identities) match(domain, service string) error {
	if ip := parseIPDomain(domain); ip != nil {
		for _, have := range ids.ips {
			if have.Equal(ip) {
				return nil
			}
		}
		return errors.New("no iPAddress identity for the IP address")
	}
	ref, err := referenceName(domain)
	if err != nil {
		return err
	}
	for _, p := range ids.dns {
		if matchDNSID(p, ref) {
			return nil
		}
	}
	for _, p := range ids.srv {
		// RFC 4985: "_Service.Name", no wildcards; the service label is
		// compared without regard to case.
		svc, name, ok := strings.Cut(p, ".")
		if ok && strings.EqualFold(svc, service) && strings.EqualFold(strings.TrimSuffix(name, "."), ref) {
			return nil
		}
	}
	for _, p := range ids.xmpp {
		// A server's XmppAddr is a bare domain (RFC 6120 §13.7.1.2.1); one
		// with a localpart or resourcepart names an account, not the
		// server.
		if strings.ContainsAny(p, "@/") {
			continue
		}
		if a, err := toALabels(p); err == nil && a == ref {
			return nil
		}
	}
	if len(ids.dns) == 0 && len(ids.srv) == 0 && len(ids.xmpp) == 0 && len(ids.uri) == 0 && ids.cn != "" {
		// RFC 6125 §6.4.4: the CN-ID only when there is no other
		// identifier of a supported kind.
		if matchDNSID(ids.cn, ref) {
			return nil
		}
	}
	return errors.New("no matching identity")
}

// referenceName turns the peer's domain into the reference identifier: A-
// labels, lower case, without a trailing dot. A name with a wildcard or an
// empty label is refused.
func referenceName(domain string) (string, error) {
	ref, err := toALabels(domain)
	if err != nil {
		return "", fmt.Errorf("invalid domain: %w", err)
	}
	for l := range strings.SplitSeq(ref, ".") {
		if l == "" || l == "*" {
			return "", errors.New("invalid domain: empty or wildcard label")
		}
	}
	return ref, nil
}

// lookupIDNA converts names the way RFC 7622 §3.2 prepares XMPP domains
// (the same profile as package jid).
var lookupIDNA = idna.New(
	idna.MapForLookup(),
	idna.Transitional(false),
	idna.BidiRule(),
)

// toALabels converts a domain name to lower-case A-labels without a
// trailing dot. All-ASCII names are only lower-cased, so A-labels compare
// as they are and ASCII names that IDNA would refuse (an underscore, say)
// still compare exactly.
func toALabels(s string) (string, error) {
	s = strings.TrimSuffix(s, ".")
	if s == "" {
		return "", errors.New("empty name")
	}
	if isIA5([]byte(s)) {
		return strings.ToLower(s), nil
	}
	a, err := lookupIDNA.ToASCII(s)
	if err != nil {
		return "", err
	}
	return strings.ToLower(a), nil
}

// matchDNSID compares a presented DNS-ID (or CN-ID) with the reference
// identifier ref (lower-case A-labels), per RFC 6125 §6.4: without regard
// to case, a trailing dot ignored, and with a wildcard only as the whole
// left-most label, standing for exactly one label, and followed by at least
// two labels ("*.net" matches nothing).
func matchDNSID(presented, ref string) bool {
	rest, wild := strings.CutPrefix(presented, "*.")
	if strings.Contains(rest, "*") {
		return false
	}
	p, err := toALabels(rest)
	if err != nil {
		return false
	}
	if !wild {
		return p == ref
	}
	if !strings.Contains(p, ".") {
		return false
	}
	first, refRest, ok := strings.Cut(ref, ".")
	return ok && first != "" && refRest == p
}

// parseIPDomain returns the address when domain is an IP literal (an IPv6
// address may be in brackets, as in a JID), else nil.
func parseIPDomain(domain string) net.IP {
	d := domain
	if len(d) > 2 && d[0] == '[' && d[len(d)-1] == ']' {
		d = d[1 : len(d)-1]
	}
	return net.ParseIP(d)
}
