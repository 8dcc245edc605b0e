// Package tlsconf builds the server's TLS configuration (seed §4 and 6-1,
// RFC 7590): certificates from PEM files or a self-signed set generated on
// first start, TLS 1.2 or newer, and, only when asked for, the legacy
// TLS_RSA_WITH_3DES_EDE_CBC_SHA suite the seed names as mandatory. It also
// checks the certificates other servers present (RFC 6120 §13.7.1.2 and
// §13.7.2, RFC 6125 §6, RFC 7590 §3.3, XEP-0178): VerifyPeer.
package tlsconf

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/starling-xmpp/starling/config"
)

// ALPNClient is the ALPN protocol id of direct-TLS client connections
// (XEP-0368).
const ALPNClient = "xmpp-client"

// Certs is the set of certificates the server presents.
type Certs struct {
	list []tls.Certificate
	// SelfSigned is true when the certificates were generated.
	SelfSigned bool
	// Files names where they came from, for logs.
	Files []string
}

// Pick chooses the certificate for a handshake the way crypto/tls does by
// default: the first that suits the client (server name, signature
// algorithms, cipher suites), else the first.
func (c *Certs) Pick(hi *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if len(c.list) == 0 {
		return nil, errors.New("tlsconf: no certificate")
	}
	for i := range c.list {
		if hi.SupportsCertificate(&c.list[i]) == nil {
			return &c.list[i], nil
		}
	}
	return &c.list[0], nil
}

// Leaves returns the parsed leaf certificates.
func (c *Certs) Leaves() []*x509.Certificate {
	var out []*x509.Certificate
	for _, crt := range c.list {
		out = append(out, crt.Leaf)
	}
	return out
}

// LoadCerts reads the configured PEM files, or, when none are configured,
// loads (generating if missing, expired or not covering hosts) a self-signed
// ECDSA certificate and an RSA one in dataDir. The RSA one serves clients
// that only offer RSA key exchange, such as the legacy 3DES suite.
func LoadCerts(cfg config.TLS, hosts []string, dataDir string) (*Certs, error) {
	if len(cfg.Certificates) > 0 {
		cs := &Certs{}
		for _, p := range cfg.Certificates {
			crt, err := tls.LoadX509KeyPair(p.Cert, p.Key)
			if err != nil {
				return nil, fmt.Errorf("tlsconf: certificate %s / key %s: %w", p.Cert, p.Key, err)
			}
			cs.list = append(cs.list, crt)
			cs.Files = append(cs.Files, p.Cert)
		}
		return cs, nil
	}
	cs := &Certs{SelfSigned: true}
	for _, kind := range []string{"ecdsa", "rsa"} {
		path := filepath.Join(dataDir, "selfsigned-"+kind+".pem")
		crt, err := loadOrGenerate(path, kind, hosts)
		if err != nil {
			return nil, err
		}
		cs.list = append(cs.list, crt)
		cs.Files = append(cs.Files, path)
	}
	return cs, nil
}

func loadOrGenerate(path, kind string, hosts []string) (tls.Certificate, error) {
	if data, err := os.ReadFile(path); err == nil {
		if crt, err := tls.X509KeyPair(data, data); err == nil && covers(crt.Leaf, hosts) && time.Now().Add(24*time.Hour).Before(crt.Leaf.NotAfter) {
			return crt, nil
		}
	}
	pemData, err := generate(kind, hosts)
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return tls.Certificate{}, fmt.Errorf("tlsconf: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, pemData, 0o600); err != nil {
		return tls.Certificate{}, fmt.Errorf("tlsconf: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return tls.Certificate{}, fmt.Errorf("tlsconf: %w", err)
	}
	return tls.X509KeyPair(pemData, pemData)
}

func covers(leaf *x509.Certificate, hosts []string) bool {
	for _, h := range hosts {
		if leaf.VerifyHostname(h) != nil {
			return false
		}
	}
	return true
}

// generate makes a self-signed certificate and key for hosts, as one PEM
// blob (certificate then key).
func generate(kind string, hosts []string) ([]byte, error) {
	var key crypto.Signer
	var err error
	switch kind {
	case "rsa":
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		return nil, fmt.Errorf("tlsconf: generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: hosts[0], Organization: []string{"Starling self-signed"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(5, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	if kind == "rsa" {
		tmpl.KeyUsage |= x509.KeyUsageKeyEncipherment // RSA key exchange
	}
	for _, h := range hosts {
		if ip := net.ParseIP(trimBrackets(h)); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("tlsconf: create certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	out := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return append(out, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})...), nil
}

func trimBrackets(h string) string {
	if len(h) > 2 && h[0] == '[' && h[len(h)-1] == ']' {
		return h[1 : len(h)-1]
	}
	return h
}

// Legacy3DES is the suite seed 6-1 requires implementations to support.
const Legacy3DES = tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA

// ServerConfig returns the base server-side TLS configuration. Certificates
// are chosen per connection through certs (see Certs.Pick); callers that
// need to know which one was presented (for tls-server-end-point channel
// binding) clone it and wrap GetCertificate.
func ServerConfig(cfg config.TLS, certs *Certs) *tls.Config {
	c := &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(hi *tls.ClientHelloInfo) (*tls.Certificate, error) {
			return certs.Pick(hi)
		},
	}
	if cfg.MinVersion == "1.3" {
		c.MinVersion = tls.VersionTLS13
	}
	if cfg.LegacyCiphers {
		// Naming suites replaces Go's default TLS 1.2 list, so list the
		// forward-secret defaults first and the legacy suite last (TLS 1.3 suites
		// are not configurable and stay on).
		for _, s := range tls.CipherSuites() {
			if slices.Contains(s.SupportedVersions, tls.VersionTLS12) && strings.HasPrefix(s.Name, "TLS_ECDHE_") {
				c.CipherSuites = append(c.CipherSuites, s.ID)
			}
		}
		c.CipherSuites = append(c.CipherSuites, Legacy3DES)
	}
	return c
}

// ForHost returns the certificate to present as host when this server is
// the TLS client (server-to-server): the first valid for host, else the
// first.
func (c *Certs) ForHost(host string) *tls.Certificate {
	if len(c.list) == 0 {
		return nil
	}
	for i := range c.list {
		if leaf := c.list[i].Leaf; leaf != nil && MatchesDomain(leaf, host) == nil {
			return &c.list[i]
		}
	}
	return &c.list[0]
}
