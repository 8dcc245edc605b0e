package sasl

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
)

// TLSExporter returns the "tls-exporter" channel-binding data of a TLS
// connection (RFC 9266): 32 bytes of keying material exported with the label
// "EXPORTER-Channel-Binding" and no context. It fails when the handshake is
// not complete, and when crypto/tls refuses to export, which it does on TLS
// 1.2 connections without the extended master secret (RFC 7627), where
// RFC 9266 forbids this binding. (Setting GODEBUG=tlsunsafeekm=1 lifts that
// refusal, and then this function cannot tell.)
func TLSExporter(cs *tls.ConnectionState) (data []byte, err error) {
	if cs == nil || !cs.HandshakeComplete {
		return nil, errors.New("sasl: tls-exporter: TLS handshake not complete")
	}
	if cs.Version < tls.VersionTLS12 {
		return nil, errors.New("sasl: tls-exporter: TLS version too old")
	}
	defer func() {
		// A ConnectionState built by hand rather than taken from a
		// tls.Conn has no exporter and panics; report that as an error.
		if recover() != nil {
			data, err = nil, errors.New("sasl: tls-exporter: connection state has no exporter")
		}
	}()
	data, err = cs.ExportKeyingMaterial("EXPORTER-Channel-Binding", nil, 32)
	if err != nil {
		return nil, fmt.Errorf("sasl: tls-exporter: %w", err)
	}
	return data, nil
}

// TLSServerEndPoint returns the "tls-server-end-point" channel-binding data
// (RFC 5929 §4.1): the hash of the server's certificate, using the hash of
// its signature algorithm, or SHA-256 where that is MD5 or SHA-1. The server
// passes its own leaf certificate, the client the first of the peer
// certificates. It fails for certificates whose signature algorithm has no
// single hash function, such as Ed25519.
func TLSServerEndPoint(cert *x509.Certificate) ([]byte, error) {
	if cert == nil || len(cert.Raw) == 0 {
		return nil, errors.New("sasl: tls-server-end-point: no certificate")
	}
	var h crypto.Hash
	switch cert.SignatureAlgorithm {
	case x509.MD5WithRSA, x509.SHA1WithRSA, x509.DSAWithSHA1, x509.ECDSAWithSHA1,
		x509.SHA256WithRSA, x509.SHA256WithRSAPSS, x509.DSAWithSHA256, x509.ECDSAWithSHA256:
		h = crypto.SHA256
	case x509.SHA384WithRSA, x509.SHA384WithRSAPSS, x509.ECDSAWithSHA384:
		h = crypto.SHA384
	case x509.SHA512WithRSA, x509.SHA512WithRSAPSS, x509.ECDSAWithSHA512:
		h = crypto.SHA512
	default:
		return nil, fmt.Errorf("sasl: tls-server-end-point: undefined for signature algorithm %v", cert.SignatureAlgorithm)
	}
	d := h.New()
	d.Write(cert.Raw)
	return d.Sum(nil), nil
}
