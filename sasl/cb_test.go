package sasl

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"
)

func TestTLSServerEndPoint(t *testing.T) {
	raw := []byte("a certificate")
	s256, s384, s512 := sha256.Sum256(raw), sha512.Sum384(raw), sha512.Sum512(raw)
	for _, tc := range []struct {
		alg  x509.SignatureAlgorithm
		want []byte // nil: error
	}{
		{x509.MD5WithRSA, s256[:]},
		{x509.SHA1WithRSA, s256[:]},
		{x509.ECDSAWithSHA1, s256[:]},
		{x509.DSAWithSHA1, s256[:]},
		{x509.SHA256WithRSA, s256[:]},
		{x509.SHA256WithRSAPSS, s256[:]},
		{x509.ECDSAWithSHA256, s256[:]},
		{x509.SHA384WithRSA, s384[:]},
		{x509.SHA384WithRSAPSS, s384[:]},
		{x509.ECDSAWithSHA384, s384[:]},
		{x509.SHA512WithRSA, s512[:]},
		{x509.SHA512WithRSAPSS, s512[:]},
		{x509.ECDSAWithSHA512, s512[:]},
		{x509.PureEd25519, nil},
		{x509.MD2WithRSA, nil},
		{x509.UnknownSignatureAlgorithm, nil},
	} {
		t.Run(tc.alg.String(), func(t *testing.T) {
			got, err := TLSServerEndPoint(&x509.Certificate{Raw: raw, SignatureAlgorithm: tc.alg})
			if tc.want == nil {
				if err == nil {
					t.Fatalf("got %x, want an error", got)
				}
				return
			}
			if err != nil || !bytes.Equal(got, tc.want) {
				t.Fatalf("got %x, %v; want %x", got, err, tc.want)
			}
		})
	}
	if _, err := TLSServerEndPoint(nil); err == nil {
		t.Error("nil certificate accepted")
	}
}

func TestTLSExporterUnavailable(t *testing.T) {
	for name, cs := range map[string]*tls.ConnectionState{
		"nil":                nil,
		"handshake not done": {},
		"built by hand":      {HandshakeComplete: true, Version: tls.VersionTLS13},
		"TLS 1.1":            {HandshakeComplete: true, Version: tls.VersionTLS11},
	} {
		if _, err := TLSExporter(cs); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// tlsPair returns the two ends of a completed TLS handshake.
func tlsPair(t *testing.T, version uint16) (server, client tls.ConnectionState, leaf *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: testDomain},
		DNSNames:     []string{testDomain},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err = x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)

	sc, cc := net.Pipe()
	srv := tls.Server(sc, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: version, MaxVersion: version})
	cli := tls.Client(cc, &tls.Config{RootCAs: pool, ServerName: testDomain, MinVersion: version, MaxVersion: version})
	t.Cleanup(func() { sc.Close(); cc.Close() }) // not the TLS conns: close_notify would block on the pipe
	errc := make(chan error, 1)
	go func() { errc <- srv.Handshake() }()
	if err := cli.Handshake(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	return srv.ConnectionState(), cli.ConnectionState(), leaf
}

// bindings computes the channel-binding data one end of a connection has.
func bindings(t *testing.T, cs tls.ConnectionState, cert *x509.Certificate) map[string][]byte {
	t.Helper()
	exp, err := TLSExporter(&cs)
	if err != nil {
		t.Fatal(err)
	}
	sep, err := TLSServerEndPoint(cert)
	if err != nil {
		t.Fatal(err)
	}
	return map[string][]byte{CBTLSExporter: exp, CBTLSServerEndPoint: sep}
}

func TestTLSChannelBindingPLUS(t *testing.T) {
	for _, v := range []struct {
		name    string
		version uint16
	}{{"TLS 1.3", tls.VersionTLS13}, {"TLS 1.2 with EMS", tls.VersionTLS12}} {
		t.Run(v.name, func(t *testing.T) {
			scs, ccs, leaf := tlsPair(t, v.version)
			srvCB := bindings(t, scs, leaf)
			cliCB := bindings(t, ccs, ccs.PeerCertificates[0])
			for typ := range srvCB {
				if len(srvCB[typ]) != 32 || !bytes.Equal(srvCB[typ], cliCB[typ]) {
					t.Fatalf("%s: server %x, client %x", typ, srvCB[typ], cliCB[typ])
				}
			}
			// Another connection: the same certificate would give the
			// same tls-server-end-point data, but a MITM's would not.
			_, otherC, otherLeaf := tlsPair(t, v.version)
			otherCB := bindings(t, otherC, otherLeaf)

			for _, tc := range []struct {
				name   string
				client map[string][]byte
				want   string
			}{
				{"exporter", map[string][]byte{CBTLSExporter: cliCB[CBTLSExporter]}, ""},
				{"server-end-point", map[string][]byte{CBTLSServerEndPoint: cliCB[CBTLSServerEndPoint]}, ""},
				{"exporter of another connection", map[string][]byte{CBTLSExporter: otherCB[CBTLSExporter]}, NotAuthorized},
				{"server-end-point of another certificate", map[string][]byte{CBTLSServerEndPoint: otherCB[CBTLSServerEndPoint]}, NotAuthorized},
			} {
				for _, mech := range []string{SCRAMSHA1Plus, SCRAMSHA256Plus, SCRAMSHA512Plus} {
					t.Run(tc.name+"/"+mech, func(t *testing.T) {
						cfg := testServerConfig(t)
						cfg.ChannelBindings = srvCB
						_, serr, cerr := roundTrip(t, mech, cfg, ClientConfig{Username: "juliet", Password: "r0m30myr0m30", ChannelBindings: tc.client, ServerSupportsPlus: true})
						if cerr != nil {
							t.Fatal(cerr)
						}
						if tc.want == "" {
							if serr != nil {
								t.Fatal(serr)
							}
							return
						}
						if f := wantFailure(t, serr, tc.want); f.Text != "channel binding mismatch" {
							t.Fatalf("text %q", f.Text)
						}
					})
				}
			}
		})
	}
}
