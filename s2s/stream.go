package s2s

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/starling-xmpp/starling/stanza"
	"github.com/starling-xmpp/starling/tlsconf"
	"github.com/starling-xmpp/starling/xmlstream"
)

// Namespaces of server-to-server negotiation.
const (
	// nsDialbackFeature is the stream feature advertising dialback
	// (XEP-0220 §2.1.1).
	nsDialbackFeature = "urn:xmpp:features:dialback"
	// ALPNServer is the ALPN id of direct TLS server connections
	// (XEP-0368).
	ALPNServer = "xmpp-server"
)

// header serialises a server stream header: jabber:server content, the
// dialback prefix declared (XEP-0220 §2.1 — its presence says we support
// dialback), version 1.0.
func header(from, to, id string) []byte {
	attrs := []stanza.Attr{{Name: stanza.Name{Local: "xmlns:db"}, Value: stanza.NSDialback}}
	if from != "" {
		attrs = append(attrs, stanza.Attr{Name: stanza.Name{Local: "from"}, Value: from})
	}
	if to != "" {
		attrs = append(attrs, stanza.Attr{Name: stanza.Name{Local: "to"}, Value: to})
	}
	if id != "" {
		attrs = append(attrs, stanza.Attr{Name: stanza.Name{Local: "id"}, Value: id})
	}
	attrs = append(attrs,
		stanza.Attr{Name: stanza.Name{Local: "version"}, Value: "1.0"},
		stanza.Attr{Name: stanza.Name{Space: stanza.NSXML, Local: "lang"}, Value: "en"})
	return xmlstream.AppendOpen(nil, true, stanza.NSServer, attrs)
}

// checkHeader applies the rules every server stream header must meet
// (seed 3.2-1, 3.2-2, 3.2-6), and asks for version 1.0 or later.
func checkHeader(h *xmlstream.Header) *stanza.StreamError {
	if se := h.Check(stanza.NSServer); se != nil {
		return se
	}
	if !xmlstream.VersionOK(h.Attr("version")) {
		return stanza.NewStreamError(stanza.StreamUnsupportedVersion, "XMPP 1.0 or later is required")
	}
	return nil
}

// dialbackKey is XEP-0185's key: HMAC-SHA256 keyed with the hex SHA-256 of
// the secret, over "receiving originating streamID", in hex.
func dialbackKey(secret []byte, receiving, originating, streamID string) string {
	h := sha256.Sum256(secret)
	mac := hmac.New(sha256.New, []byte(hex.EncodeToString(h[:])))
	mac.Write([]byte(receiving + " " + originating + " " + streamID))
	return hex.EncodeToString(mac.Sum(nil))
}

// dbElement builds a dialback element (result or verify).
func dbElement(local, from, to, typ string) *stanza.Element {
	el := stanza.New(stanza.NSDialback, local).SetAttr("from", from).SetAttr("to", to)
	if typ != "" {
		el.SetAttr("type", typ)
	}
	return el
}

// dbError builds a dialback error answer (XEP-0220 §2.4).
func dbError(local, from, to, id string, err *stanza.Error) *stanza.Element {
	el := dbElement(local, from, to, "error")
	if id != "" {
		el.SetAttr("id", id)
	}
	return el.Append(err.Element())
}

// mechanisms lists the SASL mechanisms in a features element.
func mechanisms(features *stanza.Element) []string {
	var out []string
	if ms := features.Child(stanza.NSSASL, "mechanisms"); ms != nil {
		for m := range ms.Elements() {
			if m.Name.Local == "mechanism" {
				out = append(out, strings.TrimSpace(m.Text()))
			}
		}
	}
	return out
}

// tlsState describes a TLS connection for logs.
func tlsState(cs *tls.ConnectionState) string {
	if cs == nil {
		return "none"
	}
	return tls.VersionName(cs.Version) + " " + tls.CipherSuiteName(cs.CipherSuite)
}

// certStatus checks the peer's chain for domain; nil means valid (RFC 6125,
// XEP-0178 §3).
func (m *Manager) certStatus(chain []*x509.Certificate, domain string) error {
	if len(chain) == 0 {
		return fmt.Errorf("no certificate presented")
	}
	return tlsconf.VerifyPeer(chain, domain, m.opt.Roots, time.Now())
}

// describeCert is certStatus for logs.
func describeCert(err error) string {
	if err == nil {
		return "valid"
	}
	return err.Error()
}
