package tlsconf

import (
	"bytes"
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/starling-xmpp/starling/config"
)

func TestSelfSignedGeneratedOnceAndReused(t *testing.T) {
	dir := t.TempDir()
	hosts := []string{"localhost", "chat.example.test"}
	a, err := LoadCerts(config.TLS{}, hosts, dir)
	if err != nil {
		t.Fatal(err)
	}
	if !a.SelfSigned || len(a.Leaves()) != 2 {
		t.Fatalf("got %d certificates, self-signed %v; want 2 generated", len(a.Leaves()), a.SelfSigned)
	}
	for _, leaf := range a.Leaves() {
		for _, h := range hosts {
			if err := leaf.VerifyHostname(h); err != nil {
				t.Errorf("certificate does not cover %s: %v", h, err)
			}
		}
	}
	b, err := LoadCerts(config.TLS{}, hosts, dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := range a.Leaves() {
		if !bytes.Equal(a.Leaves()[i].Raw, b.Leaves()[i].Raw) {
			t.Errorf("certificate %d was regenerated on the second start", i)
		}
	}
	// A new host makes the old certificate unsuitable.
	c, err := LoadCerts(config.TLS{}, append(hosts, "new.example.test"), dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Leaves()[0].VerifyHostname("new.example.test"); err != nil {
		t.Errorf("certificate not regenerated for a new host: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "selfsigned-ecdsa.pem")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode = %v (%v), want 0600", fi.Mode().Perm(), err)
	}
}

func TestLoadFromFiles(t *testing.T) {
	dir := t.TempDir()
	pemData, err := generate("ecdsa", []string{"example.test"})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "both.pem")
	if err := os.WriteFile(p, pemData, 0o600); err != nil {
		t.Fatal(err)
	}
	cs, err := LoadCerts(config.TLS{Certificates: []config.Certificate{{Cert: p, Key: p}}}, []string{"example.test"}, dir)
	if err != nil {
		t.Fatal(err)
	}
	if cs.SelfSigned || cs.Leaves()[0].Subject.CommonName != "example.test" {
		t.Errorf("loaded %+v", cs.Leaves()[0].Subject)
	}
	if _, err := LoadCerts(config.TLS{Certificates: []config.Certificate{{Cert: p + ".missing", Key: p}}}, nil, dir); err == nil {
		t.Error("a missing certificate file loaded")
	}
}

// handshake runs one TLS handshake over loopback and returns the client's
// error and negotiated suite.
func handshake(t *testing.T, server, client *tls.Config) (uint16, error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		tls.Server(c, server).Handshake()
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	tc := tls.Client(c, client)
	err = tc.Handshake()
	tc.Close()
	<-done
	return tc.ConnectionState().CipherSuite, err
}

// Seed 6-1: TLS_RSA_WITH_3DES_EDE_CBC_SHA works when tls.legacy_ciphers is
// on, and is refused when it is off (the default).
func TestSeed6_1_Legacy3DES(t *testing.T) {
	certs, err := LoadCerts(config.TLS{}, []string{"localhost"}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	only3DES := &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{Legacy3DES}}
	if _, err := handshake(t, ServerConfig(config.TLS{MinVersion: "1.2"}, certs), only3DES); err == nil {
		t.Error("3DES-only client connected with legacy_ciphers off")
	}
	suite, err := handshake(t, ServerConfig(config.TLS{MinVersion: "1.2", LegacyCiphers: true}, certs), only3DES)
	if err != nil || suite != Legacy3DES {
		t.Errorf("with legacy_ciphers on: suite %s, err %v; want TLS_RSA_WITH_3DES_EDE_CBC_SHA", tls.CipherSuiteName(suite), err)
	}
	// A modern client still gets a modern suite when 3DES is allowed.
	suite, err = handshake(t, ServerConfig(config.TLS{MinVersion: "1.2", LegacyCiphers: true}, certs), &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12})
	if err != nil || suite == Legacy3DES {
		t.Errorf("modern client: suite %s, err %v", tls.CipherSuiteName(suite), err)
	}
}

func TestMinVersion(t *testing.T) {
	certs, err := LoadCerts(config.TLS{}, []string{"localhost"}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tls12 := &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12}
	if _, err := handshake(t, ServerConfig(config.TLS{MinVersion: "1.3"}, certs), tls12); err == nil {
		t.Error("TLS 1.2 client accepted with min_version 1.3")
	}
	tls11 := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}
	if _, err := handshake(t, ServerConfig(config.TLS{MinVersion: "1.2"}, certs), tls11); err == nil {
		t.Error("TLS 1.1 client accepted")
	}
	if _, err := handshake(t, ServerConfig(config.TLS{MinVersion: "1.2"}, certs), tls12); err != nil {
		t.Errorf("TLS 1.2 client refused: %v", err)
	}
}
