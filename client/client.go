// Package client is Starling's XMPP client (the client role of RFC 6120 and
// RFC 6121): it finds the server through _xmpps-client/_xmpp-client SRV
// records (or the domain on port 5222), opens a client-to-server stream,
// negotiates STARTTLS or direct TLS with certificate verification that is
// never skipped unless the configuration says so, authenticates with the
// strongest SASL mechanism both sides support (SCRAM-SHA-256-PLUS down to
// PLAIN, PLAIN only over TLS unless allowed), binds a requested or
// server-generated resource, and then sends and receives stanzas.
//
// A Session offers IQ requests with correlation and timeouts (IQ, Ping),
// handlers by stanza kind and payload namespace (Handle, HandleIQ, Serve),
// IM helpers (roster, subscriptions, presence, messages) and a clean close
// handshake. Errors are typed: *stanza.Error for an IQ error reply,
// *stanza.StreamError when the server ends the stream with an error,
// *AuthError for a SASL failure. Managed keeps a session up across drops.
//
// Starling's own tests, its load tool and `starling doctor` use it.
package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/starling-xmpp/starling/jid"
	"github.com/starling-xmpp/starling/resolve"
	"github.com/starling-xmpp/starling/sasl"
	"github.com/starling-xmpp/starling/stanza"
	"github.com/starling-xmpp/starling/tlsconf"
	"github.com/starling-xmpp/starling/xmlstream"
)

// Config says where and how to log in.
type Config struct {
	// JID is the account; a full JID asks for that resource, a bare one
	// lets the server generate it (seed 7-2).
	JID      jid.JID
	Password string
	// Addr is the host:port to connect to; empty means looking the
	// domain up: _xmpps-client and _xmpp-client SRV records, else the
	// domain on port 5222 (RFC 6120 §3.2, XEP-0368).
	Addr string
	// Resolver answers those lookups; nil uses the system's DNS.
	Resolver *resolve.Resolver
	// LocalAddr is the local address to connect from (net.Dialer's
	// LocalAddr, usually a *net.TCPAddr with port 0); nil lets the system
	// choose. A load generator uses it to spread many connections over
	// several local addresses (127.0.0.1, 127.0.0.2...), each with its
	// own range of ports.
	LocalAddr net.Addr
	// TLS configures certificate verification; nil verifies against the
	// system roots for the JID's domain. Verification is never skipped
	// unless this config says so.
	TLS *tls.Config
	// DirectTLS starts TLS before the stream (XEP-0368) instead of
	// STARTTLS.
	DirectTLS bool
	// Plaintext skips TLS entirely: only for servers on loopback that
	// allow it.
	Plaintext bool
	// AllowPLAIN permits SASL PLAIN without TLS (with TLS it is always
	// allowed as a last resort).
	AllowPLAIN bool
	// Mechanism forces a SASL mechanism; empty picks the strongest offered.
	Mechanism string
	// ChannelBinding forces the channel-binding type of -PLUS mechanisms
	// ("tls-exporter" or "tls-server-end-point"); empty picks the best.
	ChannelBinding string
	// Lang is the stream's xml:lang (seed 3.3.1-3); empty omits it.
	Lang string
	// Timeout bounds the whole negotiation; zero means 30 seconds.
	Timeout time.Duration
	// Limits bound what the server may send.
	Limits xmlstream.Limits
}

// AuthError is a SASL failure reported by the server.
type AuthError struct {
	Condition string
	Text      string
}

func (e *AuthError) Error() string {
	if e.Text != "" {
		return "authentication failed: " + e.Condition + ": " + e.Text
	}
	return "authentication failed: " + e.Condition
}

// Session is a negotiated stream with a bound resource.
type Session struct {
	cfg      Config
	raw      net.Conn
	conn     net.Conn
	dec      *xmlstream.Decoder
	jid      jid.JID
	features *stanza.Element
	mech     string
	tls      *tls.ConnectionState
	addr     string
	header   *xmlstream.Header // the server's last stream header

	dispatch // IQ correlation and handlers (dispatch.go)

	wmu    sync.Mutex
	closed bool // our closing tag is sent

	in      chan event
	errMu   sync.Mutex
	readErr error
	done    chan struct{} // reader goroutine exited
}

// event is what the reader goroutine hands to Next: an element, or the
// server's closing tag (err == xmlstream.ErrStreamEnd).
type event struct {
	el  *stanza.Element
	err error
}

// Dial connects and negotiates a session. Without Config.Addr it tries the
// domain's SRV targets in order (seed 3.1-2) until one connects.
func Dial(ctx context.Context, cfg Config) (*Session, error) {
	if cfg.Addr != "" {
		return dialAddr(ctx, cfg, cfg.Addr)
	}
	res := cfg.Resolver
	if res == nil {
		res = &resolve.Resolver{}
	}
	targets, err := res.Lookup(ctx, resolve.ServiceClient, cfg.JID.Domain())
	if err != nil {
		return nil, fmt.Errorf("client: finding the server of %s: %w", cfg.JID.Domain(), err)
	}
	var errs []error
	for _, t := range targets {
		c := cfg
		c.DirectTLS = t.DirectTLS
		s, err := dialAddr(ctx, c, net.JoinHostPort(t.Host, strconv.Itoa(int(t.Port))), res.DNS)
		if err == nil {
			return s, nil
		}
		errs = append(errs, err)
		var ae *AuthError
		var se *stanza.StreamError
		if errors.As(err, &ae) || errors.As(err, &se) || ctx.Err() != nil {
			// The server answered: another address would answer the
			// same.
			break
		}
	}
	return nil, errors.Join(errs...)
}

// dialAddr connects to one address and negotiates.
func dialAddr(ctx context.Context, cfg Config, addr string, dns ...*net.Resolver) (*Session, error) {
	d := net.Dialer{LocalAddr: cfg.LocalAddr}
	if len(dns) > 0 {
		d.Resolver = dns[0]
	}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	s, err := NewSession(ctx, conn, cfg)
	if err != nil {
		conn.Close()
		return nil, err
	}
	s.addr = addr
	return s, nil
}

// NewSession negotiates a session over an established connection.
func NewSession(ctx context.Context, conn net.Conn, cfg Config) (*Session, error) {
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	s := &Session{cfg: cfg, raw: conn, conn: conn}
	deadline := time.Now().Add(cfg.Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	conn.SetDeadline(deadline)
	if cfg.DirectTLS {
		if err := s.startTLS(ctx); err != nil {
			return nil, err
		}
	}
	s.dec = xmlstream.NewDecoder(s.conn, cfg.Limits)
	if err := s.negotiate(ctx); err != nil {
		return nil, err
	}
	conn.SetDeadline(time.Time{})
	s.in = make(chan event, 64)
	s.done = make(chan struct{})
	go s.readLoop()
	return s, nil
}

func (s *Session) startTLS(ctx context.Context) error {
	cfg := s.cfg.TLS
	if cfg == nil {
		cfg = &tls.Config{}
	}
	cfg = cfg.Clone()
	if cfg.ServerName == "" {
		cfg.ServerName = s.cfg.JID.Domain()
	}
	if s.cfg.DirectTLS && len(cfg.NextProtos) == 0 {
		cfg.NextProtos = []string{"xmpp-client"}
	}
	if !cfg.InsecureSkipVerify && cfg.VerifyConnection == nil && cfg.VerifyPeerCertificate == nil {
		// RFC 6125 as RFC 6120 §13.7.2.1 applies it: DNS-IDs, and
		// also SRV-IDs (_xmpp-client) and XmppAddrs, which crypto/x509
		// does not know. The chain is still crypto/x509's.
		roots := cfg.RootCAs
		if roots == nil {
			sys, err := x509.SystemCertPool()
			if err != nil {
				return fmt.Errorf("client: TLS: no trusted roots: %w", err)
			}
			roots = sys
		}
		name := cfg.ServerName
		cfg.InsecureSkipVerify = true
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if err := tlsconf.VerifyServer(cs.PeerCertificates, name, roots, time.Now()); err != nil {
				return fmt.Errorf("certificate: %w", err)
			}
			return nil
		}
	}
	tc := tls.Client(s.raw, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return fmt.Errorf("client: TLS: %w", err)
	}
	cs := tc.ConnectionState()
	s.conn, s.tls = tc, &cs
	return nil
}

// openStream sends our stream header (seed 3.3.1) and reads the server's
// header and features.
func (s *Session) openStream() error {
	attrs := []stanza.Attr{
		{Name: stanza.Name{Local: "to"}, Value: s.cfg.JID.Domain()},
		{Name: stanza.Name{Local: "version"}, Value: "1.0"},
	}
	if s.tls != nil {
		// Seed 3.3.1-1; RFC 6120 §4.7.1: only once the stream is
		// protected, so the account name is not sent in the clear.
		attrs = append(attrs, stanza.Attr{Name: stanza.Name{Local: "from"}, Value: s.cfg.JID.Bare().String()})
	}
	if s.cfg.Lang != "" {
		attrs = append(attrs, stanza.Attr{Name: stanza.Name{Space: stanza.NSXML, Local: "lang"}, Value: s.cfg.Lang})
	}
	if err := s.write(xmlstream.AppendOpen(nil, true, stanza.NSClient, attrs)); err != nil {
		return err
	}
	h, err := s.dec.ReadHeader()
	if err != nil {
		return err
	}
	if h.Name != (stanza.Name{Space: stanza.NSStream, Local: "stream"}) || h.DefaultNS != stanza.NSClient {
		return errors.New("client: the server's stream header is not an XMPP client stream")
	}
	if h.Attr("version") != "1.0" {
		return fmt.Errorf("client: the server speaks stream version %q, not 1.0", h.Attr("version"))
	}
	s.header = h
	el, err := s.next()
	if err != nil {
		return err
	}
	if el.Name != (stanza.Name{Space: stanza.NSStream, Local: "features"}) {
		return fmt.Errorf("client: expected stream features, got <%s>", el.Name.Local)
	}
	s.features = el
	return nil
}

// next reads one element during negotiation, turning a stream error into a
// Go error.
func (s *Session) next() (*stanza.Element, error) { return s.dec.ReadElement() }

func (s *Session) negotiate(ctx context.Context) error {
	if err := s.openStream(); err != nil {
		return err
	}
	// STARTTLS (seed §4).
	if st := s.features.Child(stanza.NSTLS, "starttls"); st != nil && s.tls == nil && !s.cfg.Plaintext {
		if err := s.send(stanza.New(stanza.NSTLS, "starttls")); err != nil {
			return err
		}
		el, err := s.next()
		if err != nil {
			return err
		}
		if el.Name != (stanza.Name{Space: stanza.NSTLS, Local: "proceed"}) {
			return errors.New("client: the server refused STARTTLS")
		}
		if err := s.startTLS(ctx); err != nil {
			return err
		}
		s.dec.Reset(s.conn)
		if err := s.openStream(); err != nil {
			return err
		}
	} else if s.tls == nil && !s.cfg.Plaintext {
		return errors.New("client: the server does not offer STARTTLS; refusing to log in without TLS")
	}
	if err := s.authenticate(); err != nil {
		return err
	}
	s.dec.Restart()
	if err := s.openStream(); err != nil {
		return err
	}
	return s.bindResource()
}

func (s *Session) authenticate() error {
	mechs := s.features.Child(stanza.NSSASL, "mechanisms")
	if mechs == nil {
		return errors.New("client: the server offers no SASL mechanisms")
	}
	var offered []string
	for m := range mechs.Elements() {
		if m.Name.Local == "mechanism" {
			offered = append(offered, strings.TrimSpace(m.Text()))
		}
	}
	cb := map[string][]byte{}
	if s.tls != nil {
		if d, err := sasl.TLSExporter(s.tls); err == nil {
			cb[sasl.CBTLSExporter] = d
		}
		if len(s.tls.PeerCertificates) > 0 {
			if d, err := sasl.TLSServerEndPoint(s.tls.PeerCertificates[0]); err == nil {
				cb[sasl.CBTLSServerEndPoint] = d
			}
		}
		if s.tls.Version == tls.VersionTLS12 && len(s.tls.TLSUnique) > 0 {
			cb[sasl.CBTLSUnique] = s.tls.TLSUnique
		}
	}
	// XEP-0440: use only binding types the server says it supports.
	if l := s.features.Child(stanza.NSSASLCB, "sasl-channel-binding"); l != nil {
		for t := range cb {
			ok := false
			for c := range l.Elements() {
				ok = ok || c.Attr("type") == t
			}
			if !ok {
				delete(cb, t)
			}
		}
	}
	if t := s.cfg.ChannelBinding; t != "" {
		for k := range cb {
			if k != t {
				delete(cb, k)
			}
		}
	}
	var cbTypes []string
	for t := range cb {
		cbTypes = append(cbTypes, t)
	}
	mech := s.cfg.Mechanism
	if mech == "" {
		var ok bool
		mech, ok = sasl.Choose(offered, cbTypes, s.tls != nil || s.cfg.AllowPLAIN)
		if !ok {
			return fmt.Errorf("client: no usable SASL mechanism among %v", offered)
		}
	} else if !slices.Contains(offered, mech) {
		return fmt.Errorf("client: the server does not offer %s", mech)
	}
	if mech == sasl.PLAIN && s.tls == nil && !s.cfg.AllowPLAIN {
		// Seed 6-2: PLAIN only over TLS, unless explicitly allowed.
		return errors.New("client: refusing to send the password with PLAIN without TLS (Config.AllowPLAIN)")
	}
	plus := slices.ContainsFunc(offered, sasl.IsPlus)
	sc, err := sasl.NewClient(mech, sasl.ClientConfig{
		Username:           s.cfg.JID.Local(),
		Password:           s.cfg.Password,
		Host:               s.cfg.JID.Domain(),
		ChannelBindings:    cb,
		ServerSupportsPlus: plus,
	})
	if err != nil {
		return err
	}
	resp, err := sc.Step(nil)
	if err != nil {
		return err
	}
	auth := stanza.New(stanza.NSSASL, "auth").SetAttr("mechanism", mech)
	if resp != nil {
		auth.AppendText(sasl.EncodePayload(resp))
	}
	if err := s.send(auth); err != nil {
		return err
	}
	for {
		el, err := s.next()
		if err != nil {
			return err
		}
		if el.Name.Space != stanza.NSSASL {
			return fmt.Errorf("client: unexpected <%s> during SASL", el.Name.Local)
		}
		data, dok := sasl.DecodePayload(strings.TrimSpace(el.Text()))
		switch el.Name.Local {
		case "challenge":
			if !dok {
				return errors.New("client: bad base64 in challenge")
			}
			resp, err := sc.Step(data)
			if err != nil {
				s.send(stanza.New(stanza.NSSASL, "abort"))
				return err
			}
			if err := s.send(stanza.New(stanza.NSSASL, "response").AppendText(sasl.EncodePayload(resp))); err != nil {
				return err
			}
		case "success":
			if !dok {
				return errors.New("client: bad base64 in success")
			}
			if err := sc.Verify(data); err != nil {
				return fmt.Errorf("client: the server's success could not be verified: %w", err)
			}
			s.mech = mech
			return nil
		case "failure":
			ae := &AuthError{Condition: "not-authorized"}
			for c := range el.Elements() {
				if c.Name.Local == "text" {
					ae.Text = c.Text()
				} else {
					ae.Condition = c.Name.Local
				}
			}
			return ae
		default:
			return fmt.Errorf("client: unexpected <%s> during SASL", el.Name.Local)
		}
	}
}

func (s *Session) bindResource() error {
	if s.features.Child(stanza.NSBind, "bind") == nil {
		return errors.New("client: the server does not offer resource binding")
	}
	bind := stanza.New(stanza.NSBind, "bind")
	if r := s.cfg.JID.Resource(); r != "" {
		bind.Append(stanza.New(stanza.NSBind, "resource").AppendText(r))
	}
	iq := stanza.New("", "iq").SetAttr("type", "set").SetAttr("id", "bind-1").Append(bind)
	if err := s.send(iq); err != nil {
		return err
	}
	el, err := s.next()
	if err != nil {
		return err
	}
	if el.Name.Local != "iq" || el.Attr("id") != "bind-1" {
		return fmt.Errorf("client: unexpected %s while binding", el)
	}
	if e := stanza.ParseError(el); e != nil && el.Attr("type") == "error" {
		return e
	}
	b := el.Child(stanza.NSBind, "bind")
	if b == nil {
		return errors.New("client: bind result without a JID")
	}
	j, err := jid.Parse(strings.TrimSpace(b.ChildText(stanza.NSBind, "jid")))
	if err != nil || j.Bare() != s.cfg.JID.Bare() || !j.IsFull() {
		return fmt.Errorf("client: the server bound an unexpected JID %q", b.ChildText(stanza.NSBind, "jid"))
	}
	s.jid = j
	return nil
}

func (s *Session) write(b []byte) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.closed {
		return ErrClosed
	}
	_, err := s.conn.Write(b)
	return err
}

func (s *Session) send(el *stanza.Element) error {
	return s.write(el.AppendXML(nil, stanza.NSClient))
}

// ErrClosed is returned for writes after Close.
var ErrClosed = errors.New("client: stream closed")

// JID returns the bound full JID.
func (s *Session) JID() jid.JID { return s.jid }

// Features returns the stream features the server sent last.
func (s *Session) Features() *stanza.Element { return s.features }

// ServerHeader returns the stream header the server sent last (its 'to'
// echoes the 'from' we sent, RFC 6120 §4.7.2).
func (s *Session) ServerHeader() *xmlstream.Header { return s.header }

// Addr returns the address the session connected to.
func (s *Session) Addr() string { return s.addr }

// Mechanism returns the SASL mechanism used.
func (s *Session) Mechanism() string { return s.mech }

// TLS returns the TLS connection state, or nil without TLS.
func (s *Session) TLS() *tls.ConnectionState { return s.tls }

// Send writes a stanza.
func (s *Session) Send(el *stanza.Element) error { return s.send(el) }

// SendRaw writes bytes as they are (for testing how a server handles bad
// input).
func (s *Session) SendRaw(b []byte) error { return s.write(b) }

func (s *Session) readLoop() {
	defer close(s.done)
	defer close(s.in)
	defer s.endDispatch()
	for {
		el, err := s.dec.Next()
		var se *stanza.StreamError
		if errors.As(err, &se) {
			// The server sent what XMPP forbids (seed 9-2: comments,
			// processing instructions, DTDs are restricted-xml) or
			// broken XML: tell it, close our stream, and stop.
			s.wmu.Lock()
			if !s.closed {
				s.closed = true
				s.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
				s.conn.Write(se.Element().AppendXML(nil, stanza.NSClient))
				s.conn.Write([]byte(xmlstream.Close))
			}
			s.wmu.Unlock()
			// Seed 3.6-1: and the connection ends.
			s.raw.Close()
			err = &PeerError{Err: se}
		}
		if errors.Is(err, xmlstream.ErrStreamEnd) {
			// The server closed its stream: answer with ours (seed
			// 3.5-1) and wait for it to end the connection (3.5-4).
			s.in <- event{err: err}
			s.wmu.Lock()
			first := s.closed // we had sent our closing tag already
			if !s.closed {
				s.closed = true
				s.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
				s.conn.Write([]byte(xmlstream.Close))
			}
			s.wmu.Unlock()
			if first {
				// Both closing tags are out: the one who closed first
				// ends the connection (seed 3.5-4).
				s.raw.Close()
				err = io.EOF
			} else {
				s.raw.SetReadDeadline(time.Now().Add(30 * time.Second))
				_, err = io.Copy(io.Discard, s.conn)
				if err == nil {
					err = io.EOF
				}
			}
		}
		if err != nil {
			s.errMu.Lock()
			s.readErr = err
			s.errMu.Unlock()
			return
		}
		if s.route(el) {
			continue
		}
		s.in <- event{el: el}
	}
}

// PeerError reports that the server broke the protocol (for instance sent
// a comment or a DTD, seed 9-2); the Session answered with the stream
// error Err and closed the stream.
type PeerError struct {
	Err *stanza.StreamError
}

func (e *PeerError) Error() string {
	return "client: the server broke the protocol; sent " + e.Err.Error()
}

func (e *PeerError) Unwrap() error { return e.Err }

// Next returns the next element the server sends (stanzas, and also a
// <stream:error/>). When the server closes its stream Next returns
// xmlstream.ErrStreamEnd once, and then, when the connection has ended, the
// transport's error (io.EOF after a clean close).
func (s *Session) Next(ctx context.Context) (*stanza.Element, error) {
	select {
	case ev, ok := <-s.in:
		if ok {
			return ev.el, ev.err
		}
		s.errMu.Lock()
		defer s.errMu.Unlock()
		return nil, s.readErr
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Recv returns the next stanza; a stream error from the server is returned
// as a *stanza.StreamError.
func (s *Session) Recv(ctx context.Context) (*stanza.Element, error) {
	el, err := s.Next(ctx)
	if err != nil {
		return nil, err
	}
	if el.Name == (stanza.Name{Space: stanza.NSStream, Local: "error"}) {
		return nil, stanza.ParseStreamError(el)
	}
	return el, nil
}

// Close closes the stream (seed 3.5): it sends the closing tag, waits up to
// timeout for the server's, then closes the connection.
func (s *Session) Close() error { return s.CloseTimeout(5 * time.Second) }

// CloseTimeout is Close with a custom wait for the server's closing tag.
func (s *Session) CloseTimeout(timeout time.Duration) error {
	s.wmu.Lock()
	var err error
	if !s.closed {
		s.closed = true
		s.conn.SetWriteDeadline(time.Now().Add(timeout))
		_, err = s.conn.Write([]byte(xmlstream.Close))
	}
	s.wmu.Unlock()
	t := time.NewTimer(timeout)
	defer t.Stop()
	// Drain until the server's closing tag (or the end of the connection).
wait:
	for {
		select {
		case _, ok := <-s.in:
			if !ok {
				break wait
			}
		case <-t.C:
			break wait
		}
	}
	s.raw.Close()
	<-s.done
	return err
}

// Abort drops the connection without closing the stream, as a crashed
// client would.
func (s *Session) Abort() {
	s.wmu.Lock()
	s.closed = true
	s.wmu.Unlock()
	s.raw.Close()
	<-s.done
}
