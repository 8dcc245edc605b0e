package tlsconf

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/starling-xmpp/starling/internal/testca"
)

// rawSAN encodes a subjectAltName extension from GeneralName values the
// test builds by hand (URIs, malformed entries).
func rawSAN(t testing.TB, names ...asn1.RawValue) pkix.Extension {
	t.Helper()
	der, err := asn1.Marshal(names)
	if err != nil {
		t.Fatal(err)
	}
	return pkix.Extension{Id: testca.OIDSubjectAltName, Value: der}
}

func gn(tag int, compound bool, content []byte) asn1.RawValue {
	return asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: tag, IsCompound: compound, Bytes: content}
}

// otherNameGN builds an otherName GeneralName with a value of the given
// universal tag, wrapped in [0] EXPLICIT unless bare is set.
func otherNameGN(t testing.TB, oid asn1.ObjectIdentifier, tag int, value string, bare bool) asn1.RawValue {
	t.Helper()
	typeID, err := asn1.Marshal(oid)
	if err != nil {
		t.Fatal(err)
	}
	v, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: tag, Bytes: []byte(value)})
	if err != nil {
		t.Fatal(err)
	}
	if !bare {
		v, err = asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: v})
		if err != nil {
			t.Fatal(err)
		}
	}
	return gn(0, true, append(typeID, v...))
}

func TestVerifyPeerIdentity(t *testing.T) {
	ca := testca.New(t)
	uriSAN := rawSAN(t, gn(6, false, []byte("xmpp:other.example.net")))
	tests := []struct {
		name   string
		leaf   testca.Leaf
		domain string
		ok     bool
	}{
		// DNS-ID
		{name: "DNS-ID", leaf: testca.Leaf{DNSNames: []string{"example.net"}}, domain: "example.net", ok: true},
		{name: "DNS-ID second of several", leaf: testca.Leaf{DNSNames: []string{"other.net", "example.net"}}, domain: "example.net", ok: true},
		{name: "DNS-ID case", leaf: testca.Leaf{DNSNames: []string{"Example.NET"}}, domain: "eXample.net", ok: true},
		{name: "DNS-ID domain with trailing dot", leaf: testca.Leaf{DNSNames: []string{"example.net"}}, domain: "example.net.", ok: true},
		{name: "DNS-ID other domain", leaf: testca.Leaf{DNSNames: []string{"example.net"}}, domain: "example.org"},
		{name: "DNS-ID parent domain", leaf: testca.Leaf{DNSNames: []string{"example.net"}}, domain: "xmpp.example.net"},
		{name: "DNS-ID subdomain", leaf: testca.Leaf{DNSNames: []string{"xmpp.example.net"}}, domain: "example.net"},
		{name: "domain is a wildcard", leaf: testca.Leaf{DNSNames: []string{"*.example.net"}}, domain: "*.example.net"},

		// Wildcards (RFC 6125 §6.4.3)
		{name: "wildcard one label", leaf: testca.Leaf{DNSNames: []string{"*.example.net"}}, domain: "a.example.net", ok: true},
		{name: "wildcard case", leaf: testca.Leaf{DNSNames: []string{"*.Example.net"}}, domain: "A.example.NET", ok: true},
		{name: "wildcard not the bare domain", leaf: testca.Leaf{DNSNames: []string{"*.example.net"}}, domain: "example.net"},
		{name: "wildcard not two labels", leaf: testca.Leaf{DNSNames: []string{"*.example.net"}}, domain: "a.b.example.net"},
		{name: "wildcard not left-most", leaf: testca.Leaf{DNSNames: []string{"a.*.example.net"}}, domain: "a.b.example.net"},
		{name: "partial-label wildcard", leaf: testca.Leaf{DNSNames: []string{"f*.example.net"}}, domain: "foo.example.net"},
		{name: "wildcard suffix in label", leaf: testca.Leaf{DNSNames: []string{"*o.example.net"}}, domain: "foo.example.net"},
		{name: "wildcard over a TLD", leaf: testca.Leaf{DNSNames: []string{"*.net"}}, domain: "example.net"},
		{name: "bare wildcard", leaf: testca.Leaf{DNSNames: []string{"*"}}, domain: "example"},
		{name: "wildcard over an A-label", leaf: testca.Leaf{DNSNames: []string{"*.example.net"}}, domain: "bücher.example.net", ok: true},

		// SRV-ID (RFC 6120 §13.7.1.2.1, RFC 4985)
		{name: "SRV-ID", leaf: testca.Leaf{SRVNames: []string{"_xmpp-server.example.net"}}, domain: "example.net", ok: true},
		{name: "SRV-ID case", leaf: testca.Leaf{SRVNames: []string{"_XMPP-Server.Example.net"}}, domain: "example.NET", ok: true},
		{name: "SRV-ID client service", leaf: testca.Leaf{SRVNames: []string{"_xmpp-client.example.net"}}, domain: "example.net"},
		{name: "SRV-ID other service", leaf: testca.Leaf{SRVNames: []string{"_xmpps-server.example.net"}}, domain: "example.net"},
		{name: "SRV-ID without service", leaf: testca.Leaf{SRVNames: []string{"example.net"}}, domain: "example.net"},
		{name: "SRV-ID other domain", leaf: testca.Leaf{SRVNames: []string{"_xmpp-server.example.org"}}, domain: "example.net"},
		{name: "SRV-ID no wildcards", leaf: testca.Leaf{SRVNames: []string{"_xmpp-server.*.example.net"}}, domain: "a.example.net"},
		{name: "SRV-ID empty subject, critical SAN", leaf: testca.Leaf{SRVNames: []string{"_xmpp-server.example.net"}}, domain: "example.net", ok: true},

		// XmppAddr (RFC 6120 §13.7.1.4)
		{name: "XmppAddr", leaf: testca.Leaf{XmppAddrs: []string{"example.net"}}, domain: "example.net", ok: true},
		{name: "XmppAddr case", leaf: testca.Leaf{XmppAddrs: []string{"EXAMPLE.net"}}, domain: "example.net", ok: true},
		{name: "XmppAddr with localpart", leaf: testca.Leaf{XmppAddrs: []string{"admin@example.net"}}, domain: "example.net"},
		{name: "XmppAddr with resourcepart", leaf: testca.Leaf{XmppAddrs: []string{"example.net/server"}}, domain: "example.net"},
		{name: "XmppAddr other domain", leaf: testca.Leaf{XmppAddrs: []string{"example.org"}}, domain: "example.net"},
		{name: "XmppAddr no wildcards", leaf: testca.Leaf{XmppAddrs: []string{"*.example.net"}}, domain: "a.example.net"},

		// CN-ID (RFC 6125 §6.4.4)
		{name: "CN without SANs", leaf: testca.Leaf{CommonName: "example.net"}, domain: "example.net", ok: true},
		{name: "CN wildcard without SANs", leaf: testca.Leaf{CommonName: "*.example.net"}, domain: "a.example.net", ok: true},
		{name: "CN other domain", leaf: testca.Leaf{CommonName: "example.org"}, domain: "example.net"},
		{name: "CN ignored beside a DNS-ID", leaf: testca.Leaf{CommonName: "example.net", DNSNames: []string{"other.net"}}, domain: "example.net"},
		{name: "CN ignored beside an SRV-ID", leaf: testca.Leaf{CommonName: "example.net", SRVNames: []string{"_xmpp-server.other.net"}}, domain: "example.net"},
		{name: "CN ignored beside an XmppAddr", leaf: testca.Leaf{CommonName: "example.net", XmppAddrs: []string{"other.net"}}, domain: "example.net"},
		{name: "CN ignored beside a URI", leaf: testca.Leaf{CommonName: "example.net", Extensions: []pkix.Extension{uriSAN}}, domain: "example.net"},
		{name: "CN used beside only an IP", leaf: testca.Leaf{CommonName: "example.net", IPs: []net.IP{net.IPv4(192, 0, 2, 1)}}, domain: "example.net", ok: true},
		{name: "no identity at all", leaf: testca.Leaf{}, domain: "example.net"},

		// IDN: DNS-IDs and SRV-IDs are A-labels, XmppAddrs may be U-labels.
		{name: "A-label DNS-ID, U-label domain", leaf: testca.Leaf{DNSNames: []string{"xn--bcher-kva.example"}}, domain: "bücher.example", ok: true},
		{name: "A-label DNS-ID, A-label domain", leaf: testca.Leaf{DNSNames: []string{"XN--BCHER-KVA.example"}}, domain: "xn--bcher-kva.example", ok: true},
		{name: "A-label DNS-ID, upper-case U-label domain", leaf: testca.Leaf{DNSNames: []string{"xn--bcher-kva.example"}}, domain: "BÜCHER.example", ok: true},
		{name: "A-label DNS-ID, other U-label", leaf: testca.Leaf{DNSNames: []string{"xn--bcher-kva.example"}}, domain: "bucher.example"},
		{name: "A-label SRV-ID, U-label domain", leaf: testca.Leaf{SRVNames: []string{"_xmpp-server.xn--bcher-kva.example"}}, domain: "bücher.example", ok: true},
		{name: "U-label XmppAddr, U-label domain", leaf: testca.Leaf{XmppAddrs: []string{"bücher.example"}}, domain: "bücher.example", ok: true},
		{name: "U-label XmppAddr, A-label domain", leaf: testca.Leaf{XmppAddrs: []string{"bücher.example"}}, domain: "xn--bcher-kva.example", ok: true},
		{name: "upper-case U-label XmppAddr", leaf: testca.Leaf{XmppAddrs: []string{"BÜCHER.example"}}, domain: "bücher.example", ok: true},
		{name: "U-label XmppAddr, other domain", leaf: testca.Leaf{XmppAddrs: []string{"bücher.example"}}, domain: "bucher.example"},
		{name: "U-label CN", leaf: testca.Leaf{CommonName: "bücher.example"}, domain: "xn--bcher-kva.example", ok: true},
		{name: "invalid U-label domain", leaf: testca.Leaf{DNSNames: []string{"example.net"}}, domain: "\u05d0a.example"},

		// IP addresses
		{name: "IPv4 domain", leaf: testca.Leaf{IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}, domain: "127.0.0.1", ok: true},
		{name: "IPv6 domain in brackets", leaf: testca.Leaf{IPs: []net.IP{net.IPv6loopback}}, domain: "[::1]", ok: true},
		{name: "IPv4 domain, other IP", leaf: testca.Leaf{IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}, domain: "127.0.0.2"},
		{name: "IPv4 domain, DNS-ID of the same text", leaf: testca.Leaf{DNSNames: []string{"127.0.0.1"}}, domain: "127.0.0.1"},

		// Malformed otherNames fail verification.
		{name: "XmppAddr as IA5String", leaf: testca.Leaf{DNSNames: []string{"example.net"}, Extensions: []pkix.Extension{rawSAN(t,
			gn(2, false, []byte("example.net")), otherNameGN(t, testca.OIDXmppAddr, asn1.TagIA5String, "example.net", false))}}, domain: "example.net"},
		{name: "SRVName as UTF8String", leaf: testca.Leaf{Extensions: []pkix.Extension{rawSAN(t,
			otherNameGN(t, testca.OIDDNSSRV, asn1.TagUTF8String, "_xmpp-server.example.net", false))}}, domain: "example.net"},
		{name: "otherName without [0]", leaf: testca.Leaf{Extensions: []pkix.Extension{rawSAN(t,
			otherNameGN(t, testca.OIDXmppAddr, asn1.TagUTF8String, "example.net", true))}}, domain: "example.net"},
		{name: "unknown otherName ignored", leaf: testca.Leaf{Extensions: []pkix.Extension{rawSAN(t,
			otherNameGN(t, asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 1}, asn1.TagOctetString, "\x00\xff", false),
			otherNameGN(t, testca.OIDXmppAddr, asn1.TagUTF8String, "example.net", false))}}, domain: "example.net", ok: true},
	}
	now := time.Now()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			crt := ca.Issue(t, tc.leaf)
			before := slices.Clone(crt.Leaf.UnhandledCriticalExtensions)
			err := VerifyPeer([]*x509.Certificate{crt.Leaf}, tc.domain, ca.Pool, now)
			if tc.ok && err != nil {
				t.Fatalf("VerifyPeer(%v, %q) = %v, want nil", PeerIdentities(crt.Leaf), tc.domain, err)
			}
			if !tc.ok {
				if err == nil {
					t.Fatalf("VerifyPeer(%v, %q) = nil, want an error", PeerIdentities(crt.Leaf), tc.domain)
				}
				if !errors.Is(err, ErrNameMismatch) || errors.Is(err, ErrUntrusted) || errors.Is(err, ErrExpired) {
					t.Fatalf("VerifyPeer(%v, %q) = %v, want only ErrNameMismatch", PeerIdentities(crt.Leaf), tc.domain, err)
				}
			}
			// The name check alone agrees, whatever the chain.
			if err := MatchesDomain(crt.Leaf, tc.domain); (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrNameMismatch)) {
				t.Errorf("MatchesDomain(%v, %q) = %v, want ok %v", PeerIdentities(crt.Leaf), tc.domain, err, tc.ok)
			}
			if !slices.EqualFunc(before, crt.Leaf.UnhandledCriticalExtensions, asn1.ObjectIdentifier.Equal) {
				t.Errorf("VerifyPeer changed the certificate's UnhandledCriticalExtensions: %v, was %v", crt.Leaf.UnhandledCriticalExtensions, before)
			}
		})
	}
}

// extKeyUsage replaces the extended key usage testca sets (serverAuth and
// clientAuth) with the one given.
func extKeyUsage(t testing.TB, usage asn1.ObjectIdentifier) pkix.Extension {
	t.Helper()
	der, err := asn1.Marshal([]asn1.ObjectIdentifier{usage})
	if err != nil {
		t.Fatal(err)
	}
	return pkix.Extension{Id: asn1.ObjectIdentifier{2, 5, 29, 37}, Value: der}
}

func TestVerifyPeerChain(t *testing.T) {
	ca := testca.New(t)
	other := testca.New(t)
	inter := ca.Intermediate(t)
	now := time.Now()
	leaf := testca.Leaf{DNSNames: []string{"example.net"}}
	good := ca.Issue(t, leaf)
	viaInter := inter.Issue(t, leaf)
	expired := ca.Issue(t, testca.Leaf{DNSNames: []string{"example.net"}, NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-24 * time.Hour)})
	future := ca.Issue(t, testca.Leaf{DNSNames: []string{"example.net"}, NotBefore: now.Add(24 * time.Hour), NotAfter: now.Add(48 * time.Hour)})
	serverOnly := ca.Issue(t, testca.Leaf{DNSNames: []string{"example.net"}, Extensions: []pkix.Extension{extKeyUsage(t, asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 1})}})
	if got := serverOnly.Leaf.ExtKeyUsage; !slices.Equal(got, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) {
		t.Fatalf("serverAuth-only leaf has ExtKeyUsage %v", got)
	}
	clientOnly := ca.Issue(t, testca.Leaf{DNSNames: []string{"example.net"}, Extensions: []pkix.Extension{extKeyUsage(t, asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 2})}})
	if got := clientOnly.Leaf.ExtKeyUsage; !slices.Equal(got, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}) {
		t.Fatalf("clientAuth-only leaf has ExtKeyUsage %v", got)
	}

	parse := func(ders [][]byte) []*x509.Certificate {
		var out []*x509.Certificate
		for _, d := range ders {
			c, err := x509.ParseCertificate(d)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, c)
		}
		return out
	}
	tests := []struct {
		name    string
		chain   []*x509.Certificate
		roots   *x509.CertPool
		now     time.Time
		wantErr error // nil: must verify
	}{
		{name: "leaf alone", chain: []*x509.Certificate{good.Leaf}, roots: ca.Pool, now: now},
		{name: "leaf and root as presented", chain: parse(good.Certificate), roots: ca.Pool, now: now},
		{name: "serverAuth-only leaf as a client", chain: []*x509.Certificate{serverOnly.Leaf}, roots: ca.Pool, now: now},
		{name: "clientAuth-only leaf as a server", chain: []*x509.Certificate{clientOnly.Leaf}, roots: ca.Pool, now: now},
		{name: "through an intermediate", chain: parse(viaInter.Certificate), roots: ca.Pool, now: now},
		{name: "through an intermediate, root not presented", chain: parse(viaInter.Certificate[:2]), roots: ca.Pool, now: now},
		{name: "intermediate missing", chain: []*x509.Certificate{viaInter.Leaf}, roots: ca.Pool, now: now, wantErr: ErrUntrusted},
		{name: "wrong CA", chain: parse(good.Certificate), roots: other.Pool, now: now, wantErr: ErrUntrusted},
		{name: "self-presented root does not count", chain: parse(good.Certificate), roots: x509.NewCertPool(), now: now, wantErr: ErrUntrusted},
		{name: "nil roots", chain: []*x509.Certificate{good.Leaf}, roots: nil, now: now, wantErr: ErrUntrusted},
		{name: "no certificate", chain: nil, roots: ca.Pool, now: now, wantErr: ErrUntrusted},
		{name: "expired leaf", chain: []*x509.Certificate{expired.Leaf}, roots: ca.Pool, now: now, wantErr: ErrExpired},
		{name: "leaf not yet valid", chain: []*x509.Certificate{future.Leaf}, roots: ca.Pool, now: now, wantErr: ErrExpired},
		{name: "checked at the given time", chain: []*x509.Certificate{good.Leaf}, roots: ca.Pool, now: now.AddDate(2, 0, 0), wantErr: ErrExpired},
		{name: "CA expired at the given time", chain: []*x509.Certificate{expired.Leaf}, roots: ca.Pool, now: now.Add(-36 * time.Hour), wantErr: ErrExpired},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := VerifyPeer(tc.chain, "example.net", tc.roots, tc.now)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("VerifyPeer = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("VerifyPeer = %v, want %v", err, tc.wantErr)
			}
			for _, e := range []error{ErrUntrusted, ErrExpired, ErrNameMismatch} {
				if e != tc.wantErr && errors.Is(err, e) {
					t.Errorf("VerifyPeer = %v, also wraps %v", err, e)
				}
			}
		})
	}
}

func TestVerifyPeerErrorNamesIdentities(t *testing.T) {
	ca := testca.New(t)
	crt := ca.Issue(t, testca.Leaf{
		CommonName: "example.net",
		DNSNames:   []string{"example.net", "*.example.net"},
		SRVNames:   []string{"_xmpp-server.example.net"},
		XmppAddrs:  []string{"example.net"},
	})
	err := VerifyPeer([]*x509.Certificate{crt.Leaf}, "example.org", ca.Pool, time.Now())
	if !errors.Is(err, ErrNameMismatch) {
		t.Fatalf("VerifyPeer for the wrong domain = %v, want ErrNameMismatch", err)
	}
	for _, want := range []string{"example.org", "DNS:example.net", "DNS:*.example.net", "SRV:_xmpp-server.example.net", "XmppAddr:example.net", "CN:example.net"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if err := VerifyPeer([]*x509.Certificate{crt.Leaf}, "example.net", ca.Pool, time.Now()); err != nil {
		t.Errorf("VerifyPeer for the right domain = %v", err)
	}
}

func TestPeerIdentities(t *testing.T) {
	ca := testca.New(t)
	tests := []struct {
		name string
		leaf testca.Leaf
		want []string
	}{
		{name: "none", leaf: testca.Leaf{}, want: nil},
		{name: "CN only", leaf: testca.Leaf{CommonName: "example.net"}, want: []string{"CN:example.net"}},
		{name: "all kinds", leaf: testca.Leaf{
			CommonName: "example.net",
			DNSNames:   []string{"example.net", "*.example.net"},
			SRVNames:   []string{"_xmpp-server.example.net"},
			XmppAddrs:  []string{"bücher.example"},
			IPs:        []net.IP{net.IPv4(192, 0, 2, 7), net.ParseIP("2001:db8::1")},
		}, want: []string{"DNS:example.net", "DNS:*.example.net", "SRV:_xmpp-server.example.net", "XmppAddr:bücher.example", "IP:192.0.2.7", "IP:2001:db8::1", "CN:example.net"}},
		{name: "control characters replaced", leaf: testca.Leaf{XmppAddrs: []string{"example.net\nlevel=ERROR"}}, want: []string{"XmppAddr:example.net\uFFFDlevel=ERROR"}},
		{name: "URI", leaf: testca.Leaf{Extensions: []pkix.Extension{rawSAN(t, gn(6, false, []byte("xmpp:example.net")))}}, want: []string{"URI:xmpp:example.net"}},
		{name: "malformed after a good one", leaf: testca.Leaf{CommonName: "example.net", Extensions: []pkix.Extension{rawSAN(t,
			gn(2, false, []byte("example.net")),
			otherNameGN(t, testca.OIDDNSSRV, asn1.TagUTF8String, "_xmpp-server.example.net", false))}},
			want: []string{"DNS:example.net", "CN:example.net", "SAN:malformed"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			crt := ca.Issue(t, tc.leaf)
			if got := PeerIdentities(crt.Leaf); !slices.Equal(got, tc.want) {
				t.Errorf("PeerIdentities = %q, want %q", got, tc.want)
			}
		})
	}
	// crypto/x509 refuses to parse a certificate with two subjectAltName
	// extensions, but a hand-made one reaches PeerIdentities and VerifyPeer.
	two := *ca.Issue(t, testca.Leaf{DNSNames: []string{"example.net"}}).Leaf
	two.Extensions = append(slices.Clone(two.Extensions), rawSAN(t, gn(2, false, []byte("example.org"))))
	if got, want := PeerIdentities(&two), []string{"DNS:example.net", "SAN:malformed"}; !slices.Equal(got, want) {
		t.Errorf("PeerIdentities with two SAN extensions = %q, want %q", got, want)
	}
	if err := VerifyPeer([]*x509.Certificate{&two}, "example.net", ca.Pool, time.Now()); !errors.Is(err, ErrNameMismatch) {
		t.Errorf("VerifyPeer with two SAN extensions = %v, want ErrNameMismatch", err)
	}
	if err := MatchesDomain(nil, "example.net"); !errors.Is(err, ErrNameMismatch) {
		t.Errorf("MatchesDomain(nil) = %v, want ErrNameMismatch", err)
	}
	if got := PeerIdentities(nil); got != nil {
		t.Errorf("PeerIdentities(nil) = %q, want nil", got)
	}
}

func TestPeerRoots(t *testing.T) {
	dir := t.TempDir()
	ca := testca.New(t)
	other := testca.New(t)
	caFile := ca.WriteCA(t, dir)
	otherFile := other.WriteCA(t, dir)
	_, keyFile := ca.WriteFiles(t, dir, "server", testca.Leaf{DNSNames: []string{"example.net"}})
	textFile := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(textFile, []byte("no certificates here\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	badFile := filepath.Join(dir, "bad.pem")
	if err := os.WriteFile(badFile, []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")

	fromCA := ca.Issue(t, testca.Leaf{DNSNames: []string{"example.net"}}).Leaf
	fromOther := other.Issue(t, testca.Leaf{DNSNames: []string{"example.net"}}).Leaf

	tests := []struct {
		name      string
		system    bool
		files     []string
		wantErr   string // a file the error must name
		trusts    []*x509.Certificate
		distrusts []*x509.Certificate
	}{
		{name: "one CA file", files: []string{caFile}, trusts: []*x509.Certificate{fromCA}, distrusts: []*x509.Certificate{fromOther}},
		{name: "two CA files", files: []string{caFile, otherFile}, trusts: []*x509.Certificate{fromCA, fromOther}},
		{name: "system roots plus a file", system: true, files: []string{otherFile}, trusts: []*x509.Certificate{fromOther}, distrusts: []*x509.Certificate{fromCA}},
		{name: "nothing", distrusts: []*x509.Certificate{fromCA, fromOther}},
		{name: "missing file", files: []string{caFile, missing}, wantErr: missing},
		{name: "text file", files: []string{textFile}, wantErr: textFile},
		{name: "key file", files: []string{keyFile}, wantErr: keyFile},
		{name: "corrupt certificate", files: []string{badFile}, wantErr: badFile},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pool, err := PeerRoots(tc.system, tc.files)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("PeerRoots = %v, want an error naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("PeerRoots = %v", err)
			}
			for _, c := range tc.trusts {
				if err := VerifyPeer([]*x509.Certificate{c}, "example.net", pool, time.Now()); err != nil {
					t.Errorf("certificate from %s not trusted: %v", c.Issuer, err)
				}
			}
			for _, c := range tc.distrusts {
				if err := VerifyPeer([]*x509.Certificate{c}, "example.net", pool, time.Now()); !errors.Is(err, ErrUntrusted) {
					t.Errorf("certificate from %s: VerifyPeer = %v, want ErrUntrusted", c.Issuer, err)
				}
			}
		})
	}
}

// TestVerifyPeerAfterHandshake runs real TLS handshakes, each server asking
// for the client's certificate as an s2s receiving server does, and checks
// the chains each side received, the way a stream would after STARTTLS.
func TestVerifyPeerAfterHandshake(t *testing.T) {
	ca := testca.New(t)
	inter := ca.Intermediate(t)
	tests := []struct {
		name           string
		server, client tls.Certificate
		serverDomain   string // the receiving server's domain
		clientDomain   string // the initiating server's domain
	}{
		{
			name:         "DNS-IDs, ECDSA",
			server:       ca.Issue(t, testca.Leaf{DNSNames: []string{"a.example"}}),
			client:       ca.Issue(t, testca.Leaf{DNSNames: []string{"b.example"}}),
			serverDomain: "a.example", clientDomain: "b.example",
		},
		{
			name:         "otherName identities, RSA, via an intermediate",
			server:       inter.Issue(t, testca.Leaf{SRVNames: []string{"_xmpp-server.a.example"}, RSA: true}),
			client:       ca.Issue(t, testca.Leaf{XmppAddrs: []string{"bücher.example"}, RSA: true}),
			serverDomain: "a.example", clientDomain: "bücher.example",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			serverSaw, clientSaw := peerHandshake(t, tc.server, tc.client, tc.serverDomain)
			now := time.Now()
			checks := []struct {
				side   string
				chain  []*x509.Certificate
				domain string
				ok     bool
			}{
				{"server checks client", serverSaw, tc.clientDomain, true},
				{"server checks client for another domain", serverSaw, "c.example", false},
				{"server checks client for the server's domain", serverSaw, tc.serverDomain, false},
				{"client checks server", clientSaw, tc.serverDomain, true},
				{"client checks server for another domain", clientSaw, "c.example", false},
			}
			for _, c := range checks {
				err := VerifyPeer(c.chain, c.domain, ca.Pool, now)
				if c.ok && err != nil {
					t.Errorf("%s (%s): %v", c.side, c.domain, err)
				}
				if !c.ok && !errors.Is(err, ErrNameMismatch) {
					t.Errorf("%s (%s): VerifyPeer = %v, want ErrNameMismatch", c.side, c.domain, err)
				}
			}
		})
	}
}

// peerHandshake connects a tls.Client to a tls.Server over 127.0.0.1 and
// returns the chain each received from the other.
func peerHandshake(t *testing.T, serverCert, clientCert tls.Certificate, serverName string) (serverSaw, clientSaw []*x509.Certificate) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()

	type result struct {
		chain []*x509.Certificate
		err   error
	}
	done := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- result{err: err}
			return
		}
		defer c.Close()
		srv := tls.Server(c, &tls.Config{
			Certificates: []tls.Certificate{serverCert},
			// Verification is VerifyPeer's job, after the handshake.
			ClientAuth: tls.RequireAnyClientCert,
			MinVersion: tls.VersionTLS12,
		})
		if err := srv.HandshakeContext(ctx); err != nil {
			done <- result{err: err}
			return
		}
		done <- result{chain: srv.ConnectionState().PeerCertificates}
	}()

	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cl := tls.Client(c, &tls.Config{
		ServerName:   serverName,
		Certificates: []tls.Certificate{clientCert},
		// Verification is VerifyPeer's job, after the handshake.
		InsecureSkipVerify: true,
		MinVersion:         tls.VersionTLS12,
	})
	if err := cl.HandshakeContext(ctx); err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	clientSaw = cl.ConnectionState().PeerCertificates
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatalf("server handshake: %v", r.err)
		}
		serverSaw = r.chain
	case <-ctx.Done():
		t.Fatal("server handshake did not finish")
	}
	if len(serverSaw) == 0 || len(clientSaw) == 0 {
		t.Fatalf("chains: server saw %d certificates, client %d", len(serverSaw), len(clientSaw))
	}
	return serverSaw, clientSaw
}

// FuzzPeerIdentities feeds DER certificates to the identity parser and the
// matcher: whatever the subjectAltName holds, nothing panics and every
// identity listed is printable, valid UTF-8.
func FuzzPeerIdentities(f *testing.F) {
	ca := testca.New(f)
	for _, l := range []testca.Leaf{
		{CommonName: "example.net"},
		{DNSNames: []string{"example.net", "*.example.net"}, SRVNames: []string{"_xmpp-server.example.net"}, XmppAddrs: []string{"bücher.example"}, IPs: []net.IP{net.IPv6loopback}},
		{XmppAddrs: []string{"admin@example.net"}, RSA: true},
		{Extensions: []pkix.Extension{rawSAN(f, otherNameGN(f, testca.OIDXmppAddr, asn1.TagIA5String, "example.net", true))}},
	} {
		f.Add(ca.Issue(f, l).Leaf.Raw)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	now := time.Now()
	f.Fuzz(func(t *testing.T, der []byte) {
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return
		}
		for _, id := range PeerIdentities(cert) {
			for _, r := range id {
				if !unicode.IsPrint(r) {
					t.Errorf("identity %q has the unprintable rune %U", id, r)
				}
			}
			if !utf8.ValidString(id) {
				t.Errorf("identity %q is not UTF-8", id)
			}
		}
		for _, d := range []string{"example.net", "a.example.net", "bücher.example", "[::1]"} {
			_ = VerifyPeer([]*x509.Certificate{cert}, d, pool, now)
			ids, err := parseIdentities(cert)
			if err == nil {
				_ = ids.match(d, srvService)
			}
		}
	})
}

// TestParseSANDamaged feeds the subjectAltName parser every truncation and
// every single-byte change of a real extension: each either parses or
// returns an error, without panicking, and the intact one parses fully.
func TestParseSANDamaged(t *testing.T) {
	ca := testca.New(t)
	crt := ca.Issue(t, testca.Leaf{
		DNSNames:  []string{"example.net"},
		SRVNames:  []string{"_xmpp-server.example.net"},
		XmppAddrs: []string{"bücher.example"},
		IPs:       []net.IP{net.IPv6loopback},
	})
	var san []byte
	for _, e := range crt.Leaf.Extensions {
		if e.Id.Equal(testca.OIDSubjectAltName) {
			san = e.Value
		}
	}
	var ids identities
	if err := ids.parseSAN(san); err != nil || len(ids.dns) != 1 || len(ids.srv) != 1 || len(ids.xmpp) != 1 || len(ids.ips) != 1 {
		t.Fatalf("intact SAN: %+v, %v", ids, err)
	}
	for n := range len(san) {
		var ids identities
		if err := ids.parseSAN(san[:n]); err == nil {
			t.Errorf("SAN truncated to %d of %d bytes parsed without error: %+v", n, len(san), ids)
		}
	}
	for i := range san {
		for _, b := range []byte{0x00, 0x01, 0x7f, 0x80, 0xff, san[i] ^ 0x20} {
			damaged := slices.Clone(san)
			damaged[i] = b
			var ids identities
			_ = ids.parseSAN(damaged)
		}
	}
}

// TestVerifyServer: clients check the _xmpp-client SRV-ID, servers the
// _xmpp-server one; DNS-IDs serve both (RFC 6120 §13.7.1.2.1).
func TestVerifyServer(t *testing.T) {
	ca := testca.New(t)
	now := time.Now()
	for _, tc := range []struct {
		name           string
		leaf           testca.Leaf
		client, server bool
	}{
		{"client SRV-ID", testca.Leaf{SRVNames: []string{"_xmpp-client.example.net"}}, true, false},
		{"server SRV-ID", testca.Leaf{SRVNames: []string{"_xmpp-server.example.net"}}, false, true},
		{"DNS-ID", testca.Leaf{DNSNames: []string{"example.net"}}, true, true},
		{"XmppAddr", testca.Leaf{XmppAddrs: []string{"example.net"}}, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			crt := ca.Issue(t, tc.leaf)
			var chain []*x509.Certificate
			for _, der := range crt.Certificate {
				c, err := x509.ParseCertificate(der)
				if err != nil {
					t.Fatal(err)
				}
				chain = append(chain, c)
			}
			if err := VerifyServer(chain, "example.net", ca.Pool, now); (err == nil) != tc.client {
				t.Errorf("VerifyServer: %v, want ok=%v", err, tc.client)
			}
			if err := VerifyPeer(chain, "example.net", ca.Pool, now); (err == nil) != tc.server {
				t.Errorf("VerifyPeer: %v, want ok=%v", err, tc.server)
			}
		})
	}
}
