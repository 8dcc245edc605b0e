package testca

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"net"
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"
)

// otherNameSAN mirrors OtherName for decoding with encoding/asn1.
type otherNameSAN struct {
	TypeID asn1.ObjectIdentifier
	Value  asn1.RawValue `asn1:"explicit,tag:0"`
}

// decodeSAN decodes the subjectAltName independently of the encoder:
// dNSName, iPAddress, and otherName as (OID, universal tag, value).
func decodeSAN(t *testing.T, cert *x509.Certificate) (dns []string, others [][3]string, ips []net.IP, critical bool, count int) {
	t.Helper()
	for _, e := range cert.Extensions {
		if !e.Id.Equal(OIDSubjectAltName) {
			continue
		}
		count++
		critical = e.Critical
		var names []asn1.RawValue
		if rest, err := asn1.Unmarshal(e.Value, &names); err != nil || len(rest) > 0 {
			t.Fatalf("SAN: %v (%d bytes left)", err, len(rest))
		}
		for _, n := range names {
			switch n.Tag {
			case 2:
				dns = append(dns, string(n.Bytes))
			case 7:
				ips = append(ips, net.IP(n.Bytes))
			case 0:
				var on otherNameSAN
				if _, err := asn1.UnmarshalWithParams(n.FullBytes, &on, "tag:0"); err != nil {
					t.Fatalf("otherName: %v", err)
				}
				var v asn1.RawValue
				if _, err := asn1.Unmarshal(on.Value.Bytes, &v); err != nil {
					t.Fatalf("otherName value: %v", err)
				}
				tag := map[int]string{asn1.TagIA5String: "IA5String", asn1.TagUTF8String: "UTF8String"}[v.Tag]
				others = append(others, [3]string{on.TypeID.String(), tag, string(v.Bytes)})
			default:
				t.Fatalf("unexpected GeneralName tag %d", n.Tag)
			}
		}
	}
	return dns, others, ips, critical, count
}

func TestIssue(t *testing.T) {
	ca := New(t)
	tests := []struct {
		name         string
		leaf         Leaf
		wantDNS      []string
		wantOthers   [][3]string
		wantIPs      int
		wantSANs     int
		wantCritical bool
	}{
		{name: "no names", leaf: Leaf{}, wantSANs: 0},
		{name: "CN only", leaf: Leaf{CommonName: "example.net"}, wantSANs: 0},
		{name: "DNS names", leaf: Leaf{CommonName: "example.net", DNSNames: []string{"example.net", "*.example.net"}}, wantDNS: []string{"example.net", "*.example.net"}, wantSANs: 1},
		{
			name:     "all kinds, RSA",
			leaf:     Leaf{CommonName: "x", DNSNames: []string{"a.example"}, SRVNames: []string{"_xmpp-server.a.example"}, XmppAddrs: []string{"bücher.example"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}, RSA: true},
			wantDNS:  []string{"a.example"},
			wantIPs:  2,
			wantSANs: 1,
			wantOthers: [][3]string{
				{"1.3.6.1.5.5.7.8.7", "IA5String", "_xmpp-server.a.example"},
				{"1.3.6.1.5.5.7.8.5", "UTF8String", "bücher.example"},
			},
		},
		{name: "empty subject makes the SAN critical", leaf: Leaf{XmppAddrs: []string{"a.example"}}, wantSANs: 1, wantCritical: true,
			wantOthers: [][3]string{{"1.3.6.1.5.5.7.8.5", "UTF8String", "a.example"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			crt := ca.Issue(t, tc.leaf)
			if len(crt.Certificate) != 2 || !bytes.Equal(crt.Certificate[1], ca.Cert.Raw) || !bytes.Equal(crt.Certificate[0], crt.Leaf.Raw) {
				t.Fatalf("chain of %d certificates is not leaf, CA", len(crt.Certificate))
			}
			if crt.Leaf.Subject.CommonName != tc.leaf.CommonName {
				t.Errorf("CN = %q, want %q", crt.Leaf.Subject.CommonName, tc.leaf.CommonName)
			}
			if !slices.Equal(crt.Leaf.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}) {
				t.Errorf("ExtKeyUsage = %v, want serverAuth and clientAuth", crt.Leaf.ExtKeyUsage)
			}
			switch crt.PrivateKey.(type) {
			case *rsa.PrivateKey:
				if !tc.leaf.RSA {
					t.Error("RSA key, want ECDSA")
				}
			case *ecdsa.PrivateKey:
				if tc.leaf.RSA {
					t.Error("ECDSA key, want RSA")
				}
			default:
				t.Errorf("key of type %T", crt.PrivateKey)
			}
			dns, others, ips, critical, n := decodeSAN(t, crt.Leaf)
			if n != tc.wantSANs || critical != tc.wantCritical {
				t.Errorf("%d SAN extensions (critical %v), want %d (critical %v)", n, critical, tc.wantSANs, tc.wantCritical)
			}
			if !slices.Equal(dns, tc.wantDNS) || !slices.Equal(others, tc.wantOthers) || len(ips) != tc.wantIPs {
				t.Errorf("SAN: DNS %q, otherNames %q, %d IPs; want %q, %q, %d", dns, others, len(ips), tc.wantDNS, tc.wantOthers, tc.wantIPs)
			}
			// The standard library reads the same dNSNames and addresses.
			if !slices.Equal(crt.Leaf.DNSNames, tc.wantDNS) || len(crt.Leaf.IPAddresses) != tc.wantIPs {
				t.Errorf("crypto/x509 reads DNS %q and %d IPs", crt.Leaf.DNSNames, len(crt.Leaf.IPAddresses))
			}
			if _, err := crt.Leaf.Verify(x509.VerifyOptions{Roots: ca.Pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil && !tc.wantCritical {
				t.Errorf("leaf does not verify against the CA: %v", err)
			}
		})
	}
}

func TestValidity(t *testing.T) {
	ca := New(t)
	now := time.Now()
	if !ca.Cert.IsCA || ca.Cert.NotBefore.After(now.Add(-50*time.Minute)) || ca.Cert.NotAfter.Before(now.AddDate(1, 0, -1)) {
		t.Errorf("CA: IsCA %v, valid %v to %v", ca.Cert.IsCA, ca.Cert.NotBefore, ca.Cert.NotAfter)
	}
	def := ca.Issue(t, Leaf{CommonName: "a.example"}).Leaf
	if def.NotBefore.After(now.Add(-50*time.Minute)) || def.NotAfter.Before(now.AddDate(1, 0, -1)) {
		t.Errorf("default validity %v to %v, want an hour ago to a year ahead", def.NotBefore, def.NotAfter)
	}
	nb, na := now.Add(-72*time.Hour).Truncate(time.Second), now.Add(-24*time.Hour).Truncate(time.Second)
	old := ca.Issue(t, Leaf{CommonName: "a.example", NotBefore: nb, NotAfter: na}).Leaf
	if !old.NotBefore.Equal(nb) || !old.NotAfter.Equal(na) {
		t.Errorf("validity %v to %v, want %v to %v", old.NotBefore, old.NotAfter, nb, na)
	}
}

func TestIntermediate(t *testing.T) {
	root := New(t)
	inter := root.Intermediate(t)
	crt := inter.Issue(t, Leaf{DNSNames: []string{"a.example"}})
	if len(crt.Certificate) != 3 || !bytes.Equal(crt.Certificate[1], inter.Cert.Raw) || !bytes.Equal(crt.Certificate[2], root.Cert.Raw) {
		t.Fatalf("chain of %d certificates is not leaf, intermediate, root", len(crt.Certificate))
	}
	ip := x509.NewCertPool()
	ip.AddCert(inter.Cert)
	chains, err := crt.Leaf.Verify(x509.VerifyOptions{Roots: root.Pool, Intermediates: ip, DNSName: "a.example"})
	if err != nil || len(chains[0]) != 3 {
		t.Fatalf("Verify through the intermediate: %v", err)
	}
	if _, err := crt.Leaf.Verify(x509.VerifyOptions{Roots: root.Pool, DNSName: "a.example"}); err == nil {
		t.Error("leaf verifies without its intermediate")
	}
}

func TestWriteFiles(t *testing.T) {
	dir := t.TempDir()
	ca := New(t)
	for _, rsaKey := range []bool{false, true} {
		name := map[bool]string{false: "ecdsa", true: "rsa"}[rsaKey]
		t.Run(name, func(t *testing.T) {
			certFile, keyFile := ca.WriteFiles(t, dir, name, Leaf{DNSNames: []string{"a.example"}, RSA: rsaKey})
			for _, f := range []string{certFile, keyFile} {
				fi, err := os.Stat(f)
				if err != nil {
					t.Fatal(err)
				}
				if fi.Mode().Perm() != 0o600 {
					t.Errorf("%s has mode %v, want 0600", f, fi.Mode().Perm())
				}
			}
			pair, err := tls.LoadX509KeyPair(certFile, keyFile)
			if err != nil {
				t.Fatal(err)
			}
			if len(pair.Certificate) != 2 || !bytes.Equal(pair.Certificate[1], ca.Cert.Raw) {
				t.Errorf("certificate file holds %d certificates, want leaf then CA", len(pair.Certificate))
			}
			keyPEM, err := os.ReadFile(keyFile)
			if err != nil {
				t.Fatal(err)
			}
			if b, _ := pem.Decode(keyPEM); b == nil || b.Type != "PRIVATE KEY" {
				t.Errorf("key file is not a PKCS#8 PEM block")
			}
			// OpenSSL, which Prosody's TLS library uses, must read the key too.
			if openssl, err := exec.LookPath("openssl"); err == nil {
				if out, err := exec.Command(openssl, "pkey", "-in", keyFile, "-noout").CombinedOutput(); err != nil {
					t.Errorf("openssl pkey: %v: %s", err, out)
				}
			}
		})
	}
	caFile := ca.WriteCA(t, dir)
	got, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, ca.CertPEM) {
		t.Error("WriteCA did not write CertPEM")
	}
	if other := New(t).WriteCA(t, dir); other == caFile {
		t.Errorf("two CAs wrote the same file %s", other)
	}
}
