package c2s

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"time"

	"github.com/starling-xmpp/starling/sasl"
	"github.com/starling-xmpp/starling/stanza"
	"github.com/starling-xmpp/starling/tlsconf"
)

// cbTypes are the channel-binding types offered, preferred first.
var cbTypes = []string{sasl.CBTLSExporter, sasl.CBTLSServerEndPoint, sasl.CBTLSUnique}

// handleTLS answers <starttls/> (seed §4, RFC 6120 §5.4).
func (c *conn) handleTLS(el *stanza.Element) (restart bool, err *stanza.StreamError) {
	if el.Name.Local != "starttls" {
		return false, stanza.NewStreamError(stanza.StreamUnsupportedStanzaType, "unknown element in the STARTTLS namespace")
	}
	if c.secure || c.authenticated || c.transport.Framed {
		// RFC 6120 §5.4.2.2: <failure/>, then close the stream.
		c.send(stanza.New(stanza.NSTLS, "failure"))
		c.closeWith(nil)
		return false, nil
	}
	c.send(stanza.New(stanza.NSTLS, "proceed"))
	if err := c.w.Sync(c.srv.cfg.C2S.WriteTimeout); err != nil {
		c.nc.Close()
		return false, nil
	}
	// Seed 4-2: nothing but the TLS handshake may follow <starttls/>. A
	// client that did not wait for <proceed/> may have sent its TLS hello
	// already; those bytes belong to the TLS layer, never to XML.
	if !c.startTLS(c.dec.TLSTransport(c.nc)) {
		c.nc.Close()
		return false, nil
	}
	return true, nil
}

// startTLS runs the server side of a TLS handshake on raw and switches the
// stream to it. It reports false if the handshake failed (RFC 6120 §5.4.3.2:
// the TCP connection is then simply terminated).
func (c *conn) startTLS(transport net.Conn) bool {
	cfg := c.srv.baseTLS.Clone()
	var leaf *x509.Certificate
	cfg.GetCertificate = func(hi *tls.ClientHelloInfo) (*tls.Certificate, error) {
		crt, err := c.srv.opt.Certs.Pick(hi)
		if crt != nil {
			leaf = crt.Leaf
		}
		return crt, err
	}
	if c.directTLS {
		cfg.NextProtos = []string{tlsconf.ALPNClient}
	}
	tc := tls.Server(transport, cfg)
	tc.SetDeadline(time.Now().Add(c.srv.cfg.C2S.HandshakeTimeout))
	if err := tc.HandshakeContext(c.ctx); err != nil {
		c.lg().Info("TLS handshake failed", "err", err)
		return false
	}
	tc.SetDeadline(time.Time{})
	cs := tc.ConnectionState()
	c.secure = true
	c.cb = map[string][]byte{}
	if data, err := sasl.TLSExporter(&cs); err == nil {
		c.cb[sasl.CBTLSExporter] = data
	}
	if leaf != nil {
		if data, err := sasl.TLSServerEndPoint(leaf); err == nil {
			c.cb[sasl.CBTLSServerEndPoint] = data
		}
	}
	if cs.Version == tls.VersionTLS12 && len(cs.TLSUnique) > 0 {
		// Defined for TLS 1.2 only (RFC 5929 §3, RFC 9266 §1).
		c.cb[sasl.CBTLSUnique] = cs.TLSUnique
	}
	c.w.SetConn(tc)
	c.dec.Reset(tc)
	c.restarted()
	c.lg().Debug("TLS established", "version", tls.VersionName(cs.Version), "cipher", tls.CipherSuiteName(cs.CipherSuite))
	return true
}
