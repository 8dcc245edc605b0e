// Package testca is a certificate authority for tests: a root (or
// intermediate) CA that issues server certificates with the identities of
// RFC 6120 §13.7.1.2 and RFC 6125 §6 — DNS-IDs (dNSName), SRV-IDs
// (id-on-dnsSRV otherName, RFC 4985), XmppAddr identities (id-on-xmppAddr
// otherName, RFC 6120 §13.7.1.4), IP addresses, and a subject common name.
//
// crypto/x509 cannot write otherName entries, so the subjectAltName
// extension (RFC 5280 §4.2.1.6) is built here with encoding/asn1.
package testca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Object identifiers of the subjectAltName extension and of the two XMPP
// otherName forms.
var (
	// OIDSubjectAltName is the subjectAltName extension (RFC 5280 §4.2.1.6).
	OIDSubjectAltName = asn1.ObjectIdentifier{2, 5, 29, 17}
	// OIDDNSSRV is id-on-dnsSRV, the SRVName otherName (RFC 4985).
	OIDDNSSRV = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 8, 7}
	// OIDXmppAddr is id-on-xmppAddr (RFC 6120 §13.7.1.4).
	OIDXmppAddr = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 8, 5}
)

// CA is a certificate authority whose key lives only in memory.
type CA struct {
	// Cert is the CA's certificate.
	Cert *x509.Certificate
	// CertPEM is Cert in PEM form.
	CertPEM []byte
	// Pool contains only this CA (for an intermediate, only the
	// intermediate, which crypto/x509 then treats as a trust anchor).
	Pool *x509.CertPool

	key crypto.Signer
	// chain is this CA's certificate followed by its issuers', as DER.
	chain [][]byte
}

// New makes a root CA: an ECDSA P-256 key and a self-signed certificate
// valid from an hour ago for a year. It calls t.Fatal on error.
func New(t testing.TB) *CA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("testca: generate key: %v", err)
	}
	now := time.Now()
	tmpl := caTemplate(t, "Starling Test Root CA", now.Add(-time.Hour), now.AddDate(1, 0, 0))
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatalf("testca: create root certificate: %v", err)
	}
	return newCA(t, der, key, nil)
}

// Intermediate makes a CA whose certificate this CA signs: an ECDSA P-256
// key, valid from an hour ago for a year. Certificates it issues chain
// through it to this CA: Issue puts the leaf, the intermediate and this
// CA's chain in tls.Certificate.Certificate.
func (ca *CA) Intermediate(t testing.TB) *CA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("testca: generate key: %v", err)
	}
	now := time.Now()
	tmpl := caTemplate(t, "Starling Test Intermediate CA", now.Add(-time.Hour), now.AddDate(1, 0, 0))
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.key)
	if err != nil {
		t.Fatalf("testca: create intermediate certificate: %v", err)
	}
	return newCA(t, der, key, ca.chain)
}

// caTemplate describes a CA certificate. The name gets part of the serial
// number, so that the CAs of one test have distinct subjects and errors
// about them can be told apart.
func caTemplate(t testing.TB, name string, notBefore, notAfter time.Time) *x509.Certificate {
	t.Helper()
	sn := serial(t)
	return &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: fmt.Sprintf("%s %x", name, sn.Uint64()&0xffffffff), Organization: []string{"Starling tests"}},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
}

func newCA(t testing.TB, der []byte, key crypto.Signer, parentChain [][]byte) *CA {
	t.Helper()
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("testca: parse CA certificate: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &CA{
		Cert:    cert,
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		Pool:    pool,
		key:     key,
		chain:   append([][]byte{der}, parentChain...),
	}
}

func serial(t testing.TB) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		t.Fatalf("testca: serial number: %v", err)
	}
	return n
}

// Leaf describes a certificate to issue.
type Leaf struct {
	// CommonName is the subject's CN, the CN-ID of RFC 6125.
	CommonName string
	// DNSNames are dNSName SANs, written as given (so "*.example.net",
	// "a.*.example.net" or an upper-case name are possible).
	DNSNames []string
	// SRVNames are SRV-ID otherName SANs (id-on-dnsSRV, IA5String), such
	// as "_xmpp-server.example.net".
	SRVNames []string
	// XmppAddrs are XmppAddr otherName SANs (id-on-xmppAddr, UTF8String).
	XmppAddrs []string
	// IPs are iPAddress SANs.
	IPs []net.IP
	// NotBefore and NotAfter bound the validity; zero means an hour ago and
	// in a year.
	NotBefore, NotAfter time.Time
	// RSA asks for an RSA-2048 key instead of ECDSA P-256.
	RSA bool
	// Extensions are added to the certificate as they are. One with the
	// subjectAltName OID replaces the SAN built from the fields above, so
	// tests can present malformed names.
	Extensions []pkix.Extension
}

// Issue makes a key and a certificate for l, signed by ca, usable for both
// serverAuth and clientAuth (servers present it in both roles). The
// result's Certificate holds the leaf followed by the CA chain (the CA, its
// issuers for an intermediate), and Leaf is set.
func (ca *CA) Issue(t testing.TB, l Leaf) tls.Certificate {
	t.Helper()
	var key crypto.Signer
	var err error
	if l.RSA {
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	} else {
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		t.Fatalf("testca: generate key: %v", err)
	}
	now := time.Now()
	notBefore, notAfter := l.NotBefore, l.NotAfter
	if notBefore.IsZero() {
		notBefore = now.Add(-time.Hour)
	}
	if notAfter.IsZero() {
		notAfter = now.AddDate(1, 0, 0)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(t),
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		// DNSNames and IPAddresses stay empty: the SAN comes from
		// ExtraExtensions, and the standard library would add a second one.
		BasicConstraintsValid: true,
	}
	if l.CommonName != "" {
		tmpl.Subject = pkix.Name{CommonName: l.CommonName}
	}
	if l.RSA {
		tmpl.KeyUsage |= x509.KeyUsageKeyEncipherment
	}
	ownSAN := false
	for _, e := range l.Extensions {
		if e.Id.Equal(OIDSubjectAltName) {
			ownSAN = true
		}
	}
	if !ownSAN {
		san, err := SubjectAltName(l.DNSNames, l.SRVNames, l.XmppAddrs, l.IPs)
		if err != nil {
			t.Fatalf("testca: %v", err)
		}
		if san != nil {
			// RFC 5280 §4.2.1.6: critical when the subject is empty.
			tmpl.ExtraExtensions = append(tmpl.ExtraExtensions, pkix.Extension{Id: OIDSubjectAltName, Critical: l.CommonName == "", Value: san})
		}
	}
	tmpl.ExtraExtensions = append(tmpl.ExtraExtensions, l.Extensions...)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.key)
	if err != nil {
		t.Fatalf("testca: create certificate: %v", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("testca: parse certificate: %v", err)
	}
	return tls.Certificate{
		Certificate: append([][]byte{der}, ca.chain...),
		PrivateKey:  key,
		Leaf:        leaf,
	}
}

// generalName is one GeneralName as encoding/asn1 writes it: the class and
// tag of the CHOICE arm and its content.
func generalName(tag int, compound bool, content []byte) asn1.RawValue {
	return asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: tag, IsCompound: compound, Bytes: content}
}

// otherName encodes OtherName ::= SEQUENCE { type-id OID, value [0]
// EXPLICIT ANY } as the [0] arm of GeneralName, with value holding a string
// of the given universal tag.
func otherName(oid asn1.ObjectIdentifier, stringTag int, value string) (asn1.RawValue, error) {
	typeID, err := asn1.Marshal(oid)
	if err != nil {
		return asn1.RawValue{}, err
	}
	inner, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: stringTag, Bytes: []byte(value)})
	if err != nil {
		return asn1.RawValue{}, err
	}
	explicit, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: inner})
	if err != nil {
		return asn1.RawValue{}, err
	}
	return generalName(0, true, append(typeID, explicit...)), nil
}

// SubjectAltName encodes a subjectAltName extension value (GeneralNames)
// holding dNSName, SRVName and XmppAddr otherName, and iPAddress entries,
// in that order. It returns nil when there are none. Values are written as
// given; an SRV name must be ASCII (IA5String).
func SubjectAltName(dnsNames, srvNames, xmppAddrs []string, ips []net.IP) ([]byte, error) {
	var names []asn1.RawValue
	for _, n := range dnsNames {
		names = append(names, generalName(2, false, []byte(n)))
	}
	for _, n := range srvNames {
		for i := 0; i < len(n); i++ {
			if n[i] >= 0x80 {
				return nil, fmt.Errorf("SRV name %q is not ASCII", n)
			}
		}
		gn, err := otherName(OIDDNSSRV, asn1.TagIA5String, n)
		if err != nil {
			return nil, err
		}
		names = append(names, gn)
	}
	for _, n := range xmppAddrs {
		gn, err := otherName(OIDXmppAddr, asn1.TagUTF8String, n)
		if err != nil {
			return nil, err
		}
		names = append(names, gn)
	}
	for _, ip := range ips {
		b := ip.To4()
		if b == nil {
			b = ip.To16()
		}
		if b == nil {
			return nil, fmt.Errorf("invalid IP address %v", ip)
		}
		names = append(names, generalName(7, false, b))
	}
	if len(names) == 0 {
		return nil, nil
	}
	return asn1.Marshal(names)
}

// WriteFiles issues a certificate for l and writes it as PEM files in dir:
// name.crt holds the leaf then the CA chain, name.key the private key in
// PKCS#8 ("PRIVATE KEY", which OpenSSL-based servers such as Prosody load
// for RSA and EC keys alike). Both files have mode 0600.
func (ca *CA) WriteFiles(t testing.TB, dir string, name string, l Leaf) (certFile, keyFile string) {
	t.Helper()
	crt := ca.Issue(t, l)
	var certPEM []byte
	for _, der := range crt.Certificate {
		certPEM = append(certPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(crt.PrivateKey)
	if err != nil {
		t.Fatalf("testca: marshal key: %v", err)
	}
	certFile = filepath.Join(dir, name+".crt")
	keyFile = filepath.Join(dir, name+".key")
	writeFile(t, certFile, certPEM)
	writeFile(t, keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	return certFile, keyFile
}

// WriteCA writes the CA certificate as a PEM file in dir and returns its
// path. The name derives from the certificate, so several CAs can share a
// directory.
func (ca *CA) WriteCA(t testing.TB, dir string) string {
	t.Helper()
	sum := sha256.Sum256(ca.Cert.Raw)
	p := filepath.Join(dir, fmt.Sprintf("ca-%x.pem", sum[:6]))
	writeFile(t, p, ca.CertPEM)
	return p
}

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatalf("testca: %v", err)
	}
	// WriteFile keeps the mode of an existing file.
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatalf("testca: %v", err)
	}
}
