package doctor

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/starling-xmpp/starling/stanza"
	"github.com/starling-xmpp/starling/tlsconf"
	"github.com/starling-xmpp/starling/xmlstream"
)

// closeWait bounds the wait for the server's closing tag after ours (RFC
// 6120 §4.4).
const closeWait = 2 * time.Second

// checks collects the checks of one group.
type checks struct {
	group string
	list  []Check
}

func (cs *checks) add(name string, st Status, detail, hint string, took time.Duration) {
	if st == OK {
		hint = ""
	}
	cs.list = append(cs.list, Check{Group: cs.group, Name: name, Status: st, Detail: detail, Hint: hint, Duration: took})
}

// stream is the doctor's side of one XMPP stream.
type stream struct {
	raw  net.Conn // TCP
	conn net.Conn // TCP or TLS over it
	dec  *xmlstream.Decoder
	ns   string
	to   string
	from string // "" for client streams
	tls  *tls.ConnectionState
}

// open sends an initial stream header (RFC 6120 §4.7) and reads the
// answer.
func (s *stream) open() (*xmlstream.Header, error) {
	var attrs []stanza.Attr
	if s.ns == stanza.NSServer {
		// XEP-0220 §2.1: declaring the prefix says we speak dialback.
		attrs = append(attrs, stanza.Attr{Name: stanza.Name{Local: "xmlns:db"}, Value: stanza.NSDialback})
	}
	if s.from != "" {
		attrs = append(attrs, stanza.Attr{Name: stanza.Name{Local: "from"}, Value: s.from})
	}
	attrs = append(attrs,
		stanza.Attr{Name: stanza.Name{Local: "to"}, Value: s.to},
		stanza.Attr{Name: stanza.Name{Local: "version"}, Value: "1.0"},
		stanza.Attr{Name: stanza.Name{Space: stanza.NSXML, Local: "lang"}, Value: "en"})
	if _, err := s.conn.Write(xmlstream.AppendOpen(nil, true, s.ns, attrs)); err != nil {
		return nil, err
	}
	return s.dec.ReadHeader()
}

// next reads one top-level element; a <stream:error/> is returned as a
// *stanza.StreamError.
func (s *stream) next() (*stanza.Element, error) { return s.dec.ReadElement() }

// close ends the stream politely (RFC 6120 §4.4): our closing tag, then
// the server's, for a short while.
func (s *stream) close() {
	s.raw.SetDeadline(time.Now().Add(closeWait))
	if _, err := s.conn.Write([]byte(xmlstream.Close)); err == nil && s.dec != nil {
		for range 16 {
			if _, err := s.dec.Next(); err != nil {
				break
			}
		}
	}
	s.raw.Close()
}

// probe checks one endpoint: connection, stream header, STARTTLS or direct
// TLS, certificate, and the features after TLS.
func (d *doctor) probe(ctx context.Context, ep endpoint) []Check {
	cs := &checks{group: ep.group()}
	ctx, cancel := context.WithTimeout(ctx, d.opt.Timeout)
	defer cancel()

	dialer := net.Dialer{Resolver: d.dns}
	t0 := time.Now()
	raw, err := dialer.DialContext(ctx, "tcp", ep.addr())
	if err != nil {
		cs.add("connect", Fail, "cannot connect: "+err.Error(), d.connectHint(ep, err), 0)
		return cs.list
	}
	cs.add("connect", OK, "connected to "+raw.RemoteAddr().String(), "", time.Since(t0))
	deadline, _ := ctx.Deadline()
	raw.SetDeadline(deadline)
	// Cancelling ctx interrupts any read or write.
	defer context.AfterFunc(ctx, func() { raw.SetDeadline(time.Unix(1, 0)) })()

	s := &stream{raw: raw, conn: raw, ns: ep.svc.ns, to: d.domain}
	if ep.svc == s2s {
		s.from = d.opt.From
	}
	defer func() {
		if s.raw != nil {
			s.close()
		}
	}()

	if ep.directTLS {
		if !d.handshake(ctx, cs, s, ep) {
			s.raw.Close()
			s.raw = nil
			return cs.list
		}
		s.dec = xmlstream.NewDecoder(s.conn, xmlstream.Limits{})
		f, ok := d.header(cs, s, ep, "stream header")
		if !ok {
			return cs.list
		}
		d.afterTLS(cs, ep, f)
		return cs.list
	}

	s.dec = xmlstream.NewDecoder(s.conn, xmlstream.Limits{})
	f, ok := d.header(cs, s, ep, "stream header")
	if !ok {
		return cs.list
	}
	st := f.Child(stanza.NSTLS, "starttls")
	if st == nil {
		cs.add("STARTTLS", Fail, "STARTTLS is not offered: the stream cannot be encrypted",
			fmt.Sprintf("enable TLS on %s: configure a certificate (tls.certificates) for %s", ep.addr(), d.domain), 0)
	} else if st.Child(stanza.NSTLS, "required") == nil {
		hint := "require TLS: set c2s.allow_plaintext: false"
		if ep.svc == s2s {
			hint = "require TLS: set s2s.require_encryption: true"
		}
		cs.add("STARTTLS", Warn, "STARTTLS is offered but not required (<required/> missing): peers may stay unencrypted", hint, 0)
	} else {
		cs.add("STARTTLS", OK, "offered and required", "", 0)
	}
	if ep.svc == c2s {
		if mechs := mechanisms(f); slices.Contains(mechs, "PLAIN") {
			cs.add("SASL before TLS", Warn, "PLAIN is offered before TLS: a client may send its password in clear text",
				"offer SASL only after TLS: set c2s.allow_plaintext: false", 0)
		}
	}
	if st == nil {
		return cs.list
	}

	if _, err := s.conn.Write([]byte("<starttls xmlns='" + stanza.NSTLS + "'/>")); err != nil {
		cs.add("TLS", Fail, "sending <starttls/>: "+err.Error(), "check the server's log", 0)
		return cs.list
	}
	el, err := s.next()
	if err != nil || el.Name != (stanza.Name{Space: stanza.NSTLS, Local: "proceed"}) {
		detail := "the server did not answer <starttls/> with <proceed/>"
		if err != nil {
			detail += ": " + err.Error()
		} else {
			detail += ": it sent <" + el.Name.Local + "/>"
		}
		cs.add("TLS", Fail, detail, "check the server's log: its certificate or key may not load", 0)
		return cs.list
	}
	if !d.handshake(ctx, cs, s, ep) {
		s.raw.Close()
		s.raw = nil
		return cs.list
	}
	// RFC 6120 §5.4.3.3: a new stream over TLS.
	s.dec.Reset(s.conn)
	f, ok = d.header(cs, s, ep, "stream header over TLS")
	if !ok {
		return cs.list
	}
	d.afterTLS(cs, ep, f)
	return cs.list
}

// header opens a stream and reads the features, checking the answer
// header (RFC 6120 §4.7: from, id, version 1.0). It reports false when the
// stream cannot continue.
func (d *doctor) header(cs *checks, s *stream, ep endpoint, name string) (*stanza.Element, bool) {
	h, err := s.open()
	if err != nil {
		detail := "the server did not answer with an XMPP stream header: " + describeReadErr(err)
		hint := fmt.Sprintf("check that %s is an XMPP %s port", ep.addr(), ep.svc.label)
		if errors.Is(err, io.EOF) {
			detail = "the server closed the connection instead of answering the stream header"
		}
		if ep.directTLS {
			hint += " for direct TLS (XEP-0368)"
		} else if looksLikeTLS(err) {
			hint += "; it seems to speak TLS at once: publish it as _xmpps-" + strings.TrimPrefix(ep.svc.name, "xmpp-") + " (direct TLS) instead"
		}
		cs.add(name, Fail, detail, hint, 0)
		return nil, false
	}
	if se := h.Check(ep.svc.ns); se != nil {
		cs.add(name, Fail, "not an XMPP "+ep.svc.label+" stream header: "+se.Text,
			fmt.Sprintf("check that %s is an XMPP %s port", ep.addr(), ep.svc.label), 0)
		return nil, false
	}
	var problems, hints []string
	status := OK
	from, version, id := h.Attr("from"), h.Attr("version"), h.Attr("id")
	if version != "1.0" {
		if !xmlstream.VersionOK(version) {
			cs.add(name, Fail, fmt.Sprintf("the server answers version %q, not 1.0: it does not speak XMPP 1.0 (RFC 6120 §4.7.5)", version),
				"upgrade the server to an XMPP 1.0 implementation", 0)
			return nil, false
		}
		status = Warn
		problems = append(problems, fmt.Sprintf("version %q instead of 1.0", version))
		hints = append(hints, "answer version='1.0' to a version 1.0 header (RFC 6120 §4.7.5)")
	}
	switch {
	case from == "":
		status = Warn
		problems = append(problems, "no 'from' attribute")
		hints = append(hints, "the server must say which domain it is (RFC 6120 §4.7.1)")
	case !strings.EqualFold(strings.TrimSuffix(from, "."), d.domain):
		status = Warn
		problems = append(problems, fmt.Sprintf("from %q, not %q", from, d.domain))
		hints = append(hints, fmt.Sprintf("add %s to the server's hosts", d.domain))
	}
	if id == "" {
		status = Warn
		problems = append(problems, "no 'id' attribute")
		hints = append(hints, "the server must give each stream an id (RFC 6120 §4.7.3)")
	}
	f, err := s.next()
	if err != nil {
		detail := "no stream features: " + describeReadErr(err)
		hint := "check the server's log"
		if se, ok := errors.AsType[*stanza.StreamError](err); ok {
			detail = "the server ended the stream: " + string(se.Condition)
			if se.Text != "" {
				detail += " (" + se.Text + ")"
			}
			if se.Condition == stanza.StreamHostUnknown {
				hint = fmt.Sprintf("the server does not serve %s: add it to hosts: in the configuration", d.domain)
			}
		}
		cs.add(name, Fail, detail, hint, 0)
		return nil, false
	}
	if f.Name != (stanza.Name{Space: stanza.NSStream, Local: "features"}) {
		cs.add(name, Fail, "expected <stream:features/>, got <"+f.Name.Local+"/>",
			"the server must send its stream features after the header (RFC 6120 §4.3.2)", 0)
		return nil, false
	}
	if status == OK {
		cs.add(name, OK, fmt.Sprintf("version 1.0 from %s, with features", from), "", 0)
	} else {
		cs.add(name, status, strings.Join(problems, "; "), strings.Join(hints, "; "), 0)
	}
	return f, true
}

// handshake runs TLS on s and reports the version, the cipher and the
// certificate. It reports false when the handshake failed.
func (d *doctor) handshake(ctx context.Context, cs *checks, s *stream, ep endpoint) bool {
	cfg := &tls.Config{
		ServerName: d.domain,
		// Verified below with package tlsconf against the same roots,
		// so that a bad certificate is described instead of ending the
		// handshake with a bare error.
		InsecureSkipVerify: true, //nolint:gosec // see above
		MinVersion:         tls.VersionTLS10,
	}
	if net.ParseIP(strings.Trim(d.domain, "[]")) != nil {
		cfg.ServerName = ""
	}
	if ep.directTLS {
		cfg.NextProtos = []string{ep.svc.alpn}
	}
	if ep.svc == s2s && d.opt.Certificate != nil {
		crt := d.opt.Certificate
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return crt, nil }
	}
	tc := tls.Client(s.raw, cfg)
	t0 := time.Now()
	if err := tc.HandshakeContext(ctx); err != nil {
		hint := "check the certificate and key the server is configured with (tls.certificates)"
		if looksLikeNotTLS(err) {
			hint = fmt.Sprintf("%s does not speak TLS at once: if it is a STARTTLS port, publish it as _%s, not _xmpps-", ep.addr(), ep.svc.name)
		}
		if strings.Contains(err.Error(), "protocol version") {
			hint = "enable TLS 1.2 or 1.3 on the server"
		}
		cs.add("TLS", Fail, "TLS handshake failed: "+err.Error(), hint, 0)
		return false
	}
	took := time.Since(t0)
	st := tc.ConnectionState()
	s.conn, s.tls = tc, &st
	detail := tls.VersionName(st.Version) + ", " + tls.CipherSuiteName(st.CipherSuite)
	if ep.directTLS {
		if st.NegotiatedProtocol != "" {
			detail += ", ALPN " + st.NegotiatedProtocol
		} else {
			detail += ", no ALPN"
		}
	}
	switch {
	case st.Version < tls.VersionTLS12:
		cs.add("TLS", Fail, detail+": TLS older than 1.2 is deprecated (RFC 8996)", "enable TLS 1.2 or 1.3 on the server", took)
	case slices.ContainsFunc(tls.InsecureCipherSuites(), func(c *tls.CipherSuite) bool { return c.ID == st.CipherSuite }):
		cs.add("TLS", Warn, detail+": a weak cipher suite was chosen", "prefer ECDHE-AES-GCM or ChaCha20 suites (tls.legacy_ciphers: false)", took)
	default:
		cs.add("TLS", OK, detail, "", took)
	}
	d.certificate(cs, st.PeerCertificates, ep.svc == s2s)
	return true
}

// certificate checks the chain for the domain (RFC 6120 §13.7.2, RFC 6125)
// as a peer server (tlsconf.VerifyPeer, for s2s ports) or a client
// (tlsconf.VerifyServer) would, and reports its names and expiry.
func (d *doctor) certificate(cs *checks, chain []*x509.Certificate, forServers bool) {
	verify, matches := tlsconf.VerifyServer, tlsconf.MatchesServer
	if forServers {
		verify, matches = tlsconf.VerifyPeer, tlsconf.MatchesDomain
	}
	if len(chain) == 0 {
		cs.add("certificate", Fail, "the server presented no certificate", "configure a certificate (tls.certificates)", 0)
		return
	}
	leaf := chain[0]
	names := sortedNames(tlsconf.PeerIdentities(leaf))
	nameList := strings.Join(names, ", ")
	if nameList == "" {
		nameList = "no name"
	}
	expires := leaf.NotAfter.UTC().Format("2006-01-02")
	err := verify(chain, d.domain, d.roots, d.now)
	renew := "renew it (certbot renew) and restart the server"
	switch {
	case err == nil:
		left := leaf.NotAfter.Sub(d.now)
		if left < d.opt.ExpiryWarning {
			cs.add("certificate", Warn,
				fmt.Sprintf("valid for %s, but expires on %s (in %s)", d.domain, expires, days(left)),
				"renew it soon (certbot renew) and restart the server", 0)
			return
		}
		cs.add("certificate", OK, fmt.Sprintf("valid for %s (names: %s), issued by %s, expires on %s (in %s)",
			d.domain, nameList, issuer(leaf), expires, days(left)), "", 0)
		return
	case errors.Is(err, tlsconf.ErrExpired):
		switch {
		case d.now.After(leaf.NotAfter):
			cs.add("certificate", Fail, fmt.Sprintf("the certificate expired on %s (%s)", expires, nameList),
				fmt.Sprintf("the certificate expired on %s: %s", expires, renew), 0)
		case d.now.Before(leaf.NotBefore):
			cs.add("certificate", Fail, "the certificate is not valid before "+leaf.NotBefore.UTC().Format(time.RFC3339),
				"check the clocks of the server and of this machine, or use a certificate valid now", 0)
		default:
			cs.add("certificate", Fail, "a certificate of the chain has expired: "+err.Error(),
				"serve the current intermediate certificates (the full chain: fullchain.pem)", 0)
		}
	case errors.Is(err, tlsconf.ErrNameMismatch):
		cs.add("certificate", Fail, fmt.Sprintf("the certificate is for %s, not %s", nameList, d.domain),
			fmt.Sprintf("the certificate is for %s, not %s: get one that names %s and configure it (tls.certificates)", nameList, d.domain, d.domain), 0)
		return // no other name check needed
	default: // tlsconf.ErrUntrusted
		if selfSigned(leaf) {
			cs.add("certificate", Fail, fmt.Sprintf("the certificate is self-signed (%s)", nameList),
				"use a certificate from a public CA (Let's Encrypt: certbot certonly -d "+d.domain+") in tls.certificates; for a private CA, pass its certificate with --ca", 0)
		} else {
			cs.add("certificate", Fail, fmt.Sprintf("the certificate (%s, issued by %s) is not trusted: %s", nameList, issuer(leaf), unwrapLast(err)),
				"serve the full chain (fullchain.pem, not cert.pem) from a public CA; for a private CA, pass its certificate with --ca", 0)
		}
	}
	// The verdict above stops at the first fault; say also whether the
	// name is right, so that one renewal fixes everything.
	if matches(leaf, d.domain) != nil {
		cs.add("certificate name", Fail, fmt.Sprintf("the certificate is for %s, not %s", nameList, d.domain),
			fmt.Sprintf("get a certificate that names %s", d.domain), 0)
	}
}

// afterTLS reports what the features over TLS offer: SASL mechanisms for
// clients (RFC 6120 §6), EXTERNAL and dialback for servers.
func (d *doctor) afterTLS(cs *checks, ep endpoint, f *stanza.Element) {
	mechs := mechanisms(f)
	if ep.svc == c2s {
		switch {
		case len(mechs) == 0:
			cs.add("SASL", Fail, "no SASL mechanism is offered after TLS: nobody can log in",
				"check sasl.mechanisms in the configuration", 0)
		case !slices.ContainsFunc(mechs, isSCRAM):
			cs.add("SASL", Warn, "offered: "+strings.Join(mechs, " ")+"; no SCRAM mechanism",
				"offer SCRAM-SHA-256 (sasl.mechanisms): with SCRAM the server never sees the password", 0)
		default:
			detail := "offered: " + strings.Join(mechs, " ")
			if !slices.ContainsFunc(mechs, func(m string) bool { return strings.HasSuffix(m, "-PLUS") }) {
				detail += " (no -PLUS channel binding; fine)"
			}
			cs.add("SASL", OK, detail, "", 0)
		}
		return
	}
	if !d.opt.S2S {
		return
	}
	from := d.opt.From
	external := slices.Contains(mechs, "EXTERNAL")
	switch {
	case external && d.opt.Certificate != nil:
		cs.add("SASL EXTERNAL", OK, fmt.Sprintf("offered to %s: the server trusts the certificate presented", from), "", 0)
	case external:
		cs.add("SASL EXTERNAL", Warn, fmt.Sprintf("offered to %s although no certificate was presented", from),
			"offer EXTERNAL only to peers whose certificate is valid for their domain (XEP-0178)", 0)
	case d.opt.Certificate != nil:
		cs.add("SASL EXTERNAL", Warn, fmt.Sprintf("not offered to %s: the server does not accept the certificate presented", from),
			fmt.Sprintf("the server must trust its CA (s2s.ca_files) and the certificate must name %s", from), 0)
	default:
		cs.add("SASL EXTERNAL", OK, fmt.Sprintf("not offered to %s, which presented no certificate (as expected)", from), "", 0)
	}
	if f.Child("urn:xmpp:features:dialback", "dialback") != nil {
		cs.add("dialback", OK, "offered (XEP-0220)", "", 0)
	} else {
		cs.add("dialback", Warn, "not offered: servers whose certificate this server cannot verify cannot federate with it",
			"enable dialback (s2s.dialback: true) unless every peer must present a valid certificate", 0)
	}
}

// mechanisms lists the SASL mechanisms of a features element.
func mechanisms(f *stanza.Element) []string {
	var out []string
	if ms := f.Child(stanza.NSSASL, "mechanisms"); ms != nil {
		for m := range ms.Elements() {
			if m.Name == (stanza.Name{Space: stanza.NSSASL, Local: "mechanism"}) {
				out = append(out, strings.TrimSpace(m.Text()))
			}
		}
	}
	return out
}

func isSCRAM(m string) bool { return strings.HasPrefix(m, "SCRAM-") }

// connectHint says what to do about a failed connection.
func (d *doctor) connectHint(ep endpoint, err error) string {
	key := ep.svc.listen
	if ep.directTLS {
		key = ep.svc.tlsKey
	}
	if dnsErr, ok := errors.AsType[*net.DNSError](err); ok {
		if dnsErr.IsNotFound {
			return fmt.Sprintf("publish an A or AAAA record for %s", ep.host)
		}
		return "check the domain's DNS servers: " + dnsErr.Err
	}
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("no answer from %s: a firewall may drop connections to port %d", ep.addr(), ep.port)
	case strings.Contains(err.Error(), "refused"):
		return fmt.Sprintf("nothing listens on %s: start the server, check %s, and open port %d in the firewall", ep.addr(), key, ep.port)
	}
	return fmt.Sprintf("check that the server listens on %s (%s) and that the firewall lets port %d through", ep.addr(), key, ep.port)
}

// describeReadErr words an error of the decoder for the report.
func describeReadErr(err error) string {
	switch {
	case errors.Is(err, io.EOF):
		return "the connection was closed"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "no answer before the timeout"
	}
	return err.Error()
}

// looksLikeTLS reports whether a failed header read probably met a TLS
// record instead of XML.
func looksLikeTLS(err error) bool {
	return err != nil && strings.Contains(err.Error(), "not-well-formed")
}

// looksLikeNotTLS reports whether a handshake failed because the peer
// speaks something else (XML, HTTP).
func looksLikeNotTLS(err error) bool {
	_, ok := errors.AsType[tls.RecordHeaderError](err)
	return ok || strings.Contains(err.Error(), "first record does not look like a TLS handshake")
}

func selfSigned(c *x509.Certificate) bool {
	return string(c.RawIssuer) == string(c.RawSubject) &&
		c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
}

func issuer(c *x509.Certificate) string {
	if c.Issuer.CommonName != "" {
		return c.Issuer.CommonName
	}
	return c.Issuer.String()
}

// unwrapLast returns the innermost message of a wrapped error (the
// crypto/x509 reason behind tlsconf's prefix).
func unwrapLast(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": x509: "); i >= 0 {
		return s[i+2:]
	}
	return s
}

// days words a duration in days (hours below two days).
func days(d time.Duration) string {
	if d < 48*time.Hour {
		return fmt.Sprintf("%d hours", int(d.Hours()))
	}
	return fmt.Sprintf("%d days", int(d.Hours()/24))
}
