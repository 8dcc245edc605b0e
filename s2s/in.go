package s2s

import (
	"context"
	"crypto/hmac"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/starling-xmpp/starling/jid"
	"github.com/starling-xmpp/starling/sasl"
	"github.com/starling-xmpp/starling/stanza"
	"github.com/starling-xmpp/starling/xmlstream"
)

// domainPair is (remote domain, local domain): what an inbound stream may
// carry once authenticated.
type domainPair struct{ remote, local string }

// inConn is one inbound link: a stream another server initiated. Its
// reader goroutine (serve) owns the negotiation state; dialback answers
// arrive from other goroutines and only touch what mu guards.
type inConn struct {
	m         *Manager
	id        uint64
	nc        net.Conn
	directTLS bool
	overLimit bool
	logp      atomic.Pointer[slog.Logger] // lg, setLog: callbacks log too
	w         *xmlstream.Writer
	dec       *xmlstream.Decoder
	ctx       context.Context
	cancel    context.CancelFunc
	since     time.Time
	stanzas   atomic.Uint64

	// Reader state.
	local    string // the 'to' of the peer's header
	peer     string // the 'from' of the peer's header, "" if none
	secure   bool
	chain    []*x509.Certificate
	saslDone bool
	auth     sasl.Server
	failures int

	mu       sync.Mutex
	streamID string
	authed   map[domainPair]string // → how the pair authenticated
	method   string                // the first pair's method
	tlsInfo  string
	certNote string
	closing  bool
	opened   bool
	timer    *time.Timer
}

func newInConn(m *Manager, nc net.Conn, directTLS bool) *inConn {
	id := m.nextID.Add(1)
	c := &inConn{
		m:         m,
		id:        id,
		nc:        nc,
		directTLS: directTLS,
		since:     time.Now(),
		authed:    map[domainPair]string{},
		tlsInfo:   "none",
	}
	c.setLog(m.linkLog("in", id).With("addr", nc.RemoteAddr().String()))
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.w = xmlstream.NewWriter(nc, m.cfg.QueueSize, m.cfg.WriteTimeout, stanza.NSServer, func(err error) {
		c.lg().Debug("write failed", "err", err)
		nc.Close()
	})
	c.dec = xmlstream.NewDecoder(nc, m.limits)
	return c
}

// lg is the link's logger; the reader adds the peer's domain to it.
func (c *inConn) lg() *slog.Logger { return c.logp.Load() }

func (c *inConn) setLog(l *slog.Logger) { c.logp.Store(l) }

// serve runs the stream until it ends.
func (c *inConn) serve() {
	defer c.finish()
	c.mu.Lock()
	c.timer = time.AfterFunc(c.m.cfg.HandshakeTimeout, func() {
		c.closeWith(stanza.NewStreamError(stanza.StreamConnectionTimeout, "authentication took too long"))
	})
	c.mu.Unlock()
	if c.directTLS && !c.startTLS(c.nc) {
		return
	}
	needHeader := true
	for {
		if needHeader {
			h, err := c.dec.ReadHeader()
			if err != nil {
				c.readFailed(err)
				return
			}
			needHeader = false
			if se := c.streamOpened(h); se != nil {
				c.closeWith(se)
			}
			continue
		}
		el, err := c.next()
		if errors.Is(err, xmlstream.ErrStreamEnd) {
			c.lg().Debug("the remote server closed the stream")
			c.closeWith(nil)
			return
		}
		if err != nil {
			c.readFailed(err)
			return
		}
		if c.isClosing() {
			continue
		}
		restart, se := c.handle(el)
		if se != nil {
			c.closeWith(se)
			continue
		}
		needHeader = restart
	}
}

// next reads the next element; an authenticated link that carries nothing
// for s2s.idle_timeout is closed (RFC 6120 §4.4 lets either side close an
// idle stream).
func (c *inConn) next() (*stanza.Element, error) {
	if c.isClosing() || !c.isAuthenticated() {
		c.nc.SetReadDeadline(time.Time{})
		return c.dec.Next()
	}
	c.nc.SetReadDeadline(time.Now().Add(c.m.cfg.IdleTimeout))
	el, err := c.dec.Next()
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() && !c.isClosing() {
		c.lg().Info("closing an idle link")
		c.closeWith(nil)
		// Wait for the peer's closing tag.
		c.nc.SetReadDeadline(time.Now().Add(c.m.cfg.CloseTimeout))
		return c.dec.Next()
	}
	return el, err
}

func (c *inConn) readFailed(err error) {
	var se *stanza.StreamError
	if errors.As(err, &se) {
		c.lg().Info("stream error", "condition", string(se.Condition), "text", se.Text)
		c.closeWith(se)
		return
	}
	if !c.isClosing() {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			c.lg().Info("connection dropped by the remote server without closing the stream")
		} else {
			c.lg().Info("connection lost", "err", err)
		}
	}
}

func (c *inConn) isClosing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing
}

func (c *inConn) isAuthenticated() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.authed) > 0
}

// closeWith ends our side of the stream: the stream error (if any), the
// closing tag, then nothing more. Any goroutine may call it.
func (c *inConn) closeWith(se *stanza.StreamError) {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return
	}
	c.closing = true
	if c.timer != nil {
		c.timer.Stop()
	}
	if !c.opened {
		c.w.SendRaw(header(c.m.opt.Config.Hosts[0], "", xmlstream.NewStreamID()))
		c.opened = true
	}
	nc := c.nc
	c.timer = time.AfterFunc(c.m.cfg.CloseTimeout, func() { nc.Close() })
	c.mu.Unlock()
	var last *stanza.Element
	if se != nil {
		c.lg().Info("closing stream", "condition", string(se.Condition), "text", se.Text)
		last = se.Element()
	}
	c.w.Close(last)
}

// finish releases the connection once the reader is done.
func (c *inConn) finish() {
	c.closeWith(nil)
	c.cancel()
	select {
	case <-c.w.Done():
	case <-time.After(c.m.cfg.WriteTimeout):
	}
	c.w.Stop()
	c.nc.Close()
	c.mu.Lock()
	if c.timer != nil {
		c.timer.Stop()
	}
	c.mu.Unlock()
	c.m.removeIn(c)
	c.lg().Info("link closed", "stanzas", c.stanzas.Load())
}

// abort drops the connection at once.
func (c *inConn) abort() {
	c.mu.Lock()
	nc := c.nc
	c.mu.Unlock()
	nc.Close()
}

// send queues an element for the peer.
func (c *inConn) send(el *stanza.Element) { c.w.Send(el) }

// streamOpened checks the peer's header and answers with ours and the
// features (RFC 6120 §4.7, seed 3.2-6).
func (c *inConn) streamOpened(h *xmlstream.Header) *stanza.StreamError {
	if se := checkHeader(h); se != nil {
		c.sendHeader("")
		return se
	}
	profile := c.m.opt.Config.Profile()
	to := h.Attr("to")
	if to == "" {
		c.sendHeader("")
		return stanza.NewStreamError(stanza.StreamImproperAddressing, "the stream header needs a 'to' attribute naming our domain")
	}
	local, err := profile.Domain(to)
	switch {
	case err != nil:
		c.sendHeader("")
		return stanza.NewStreamError(stanza.StreamImproperAddressing, "the 'to' attribute is not a valid domain")
	case !c.m.r.IsLocal(local):
		c.sendHeader("")
		return stanza.NewStreamError(stanza.StreamHostUnknown, "this server does not serve "+stanza.SanitizeText(local))
	case c.local != "" && local != c.local:
		c.sendHeader("")
		return stanza.NewStreamError(stanza.StreamNotAuthorized, "the 'to' attribute must stay the same across stream restarts")
	}
	c.local = local
	if from := h.Attr("from"); from != "" {
		peer, err := profile.Domain(from)
		if err != nil || (c.peer != "" && peer != c.peer) {
			c.sendHeader("")
			return stanza.NewStreamError(stanza.StreamInvalidFrom, "the 'from' attribute is not a valid domain, or changed")
		}
		if c.peer == "" {
			c.setLog(c.lg().With("peer", peer))
		}
		c.peer = peer
	}
	if c.overLimit {
		c.sendHeader("")
		return stanza.NewStreamError(stanza.StreamResourceConstraint, "the server has too many server-to-server links")
	}
	c.sendHeader(c.peer)
	c.send(c.features())
	return nil
}

// sendHeader writes our response header with a fresh stream id (the nonce
// of dialback keys for this stream).
func (c *inConn) sendHeader(peer string) {
	host := c.local
	if host == "" {
		host = c.m.opt.Config.Hosts[0]
	}
	id := xmlstream.NewStreamID()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.opened {
		return
	}
	c.opened = true
	c.streamID = id
	c.w.SendRaw(header(host, peer, id))
}

// restarted prepares for the header that follows TLS or SASL.
func (c *inConn) restarted() {
	c.mu.Lock()
	c.opened = false
	c.mu.Unlock()
}

// features lists what the peer may negotiate now (RFC 6120 §4.3.2).
func (c *inConn) features() *stanza.Element {
	f := stanza.New(stanza.NSStream, "features")
	cfg := c.m.cfg
	if !c.secure {
		st := stanza.New(stanza.NSTLS, "starttls")
		if cfg.RequireEncryption {
			st.Append(stanza.New(stanza.NSTLS, "required"))
			return f.Append(st)
		}
		f.Append(st)
	}
	if !c.saslDone {
		mechs := stanza.New(stanza.NSSASL, "mechanisms")
		if c.secure && c.peer != "" && c.m.certStatus(c.chain, c.peer) == nil {
			mechs.Append(stanza.New(stanza.NSSASL, "mechanism").AppendText("EXTERNAL"))
		}
		if cfg.DigestMD5 && cfg.DigestMD5Secrets[c.peer] != "" {
			mechs.Append(stanza.New(stanza.NSSASL, "mechanism").AppendText(sasl.DigestMD5))
		}
		if mechs.NumElements() > 0 {
			f.Append(mechs)
		}
	}
	if cfg.Dialback {
		f.Append(stanza.New(nsDialbackFeature, "dialback").Append(stanza.New(nsDialbackFeature, "errors")))
	}
	return f
}

// handle processes one top-level element; restart means a new header
// follows.
func (c *inConn) handle(el *stanza.Element) (restart bool, se *stanza.StreamError) {
	if el.Name.Space != stanza.NSTLS && !c.secure && c.m.cfg.RequireEncryption {
		return false, stanza.NewStreamError(stanza.StreamPolicyViolation, "negotiate TLS first")
	}
	switch el.Name.Space {
	case stanza.NSTLS:
		return c.handleTLS(el)
	case stanza.NSSASL:
		if c.saslDone {
			return false, stanza.NewStreamError(stanza.StreamUnsupportedStanzaType, "SASL is already complete")
		}
		return c.handleSASL(el)
	case stanza.NSDialback:
		switch el.Name.Local {
		case "result":
			return false, c.dialbackResult(el)
		case "verify":
			return false, c.dialbackVerify(el)
		}
		return false, stanza.NewStreamError(stanza.StreamUnsupportedStanzaType, "unknown dialback element")
	case "":
		if stanza.IsStanza(el) {
			return false, c.handleStanza(el)
		}
		return false, stanza.NewStreamError(stanza.StreamUnsupportedStanzaType, "unknown top-level element <"+stanza.SanitizeText(el.Name.Local)+">")
	}
	return false, stanza.NewStreamError(stanza.StreamUnsupportedStanzaType, "unknown top-level element in namespace "+stanza.SanitizeText(el.Name.Space))
}

// handleTLS answers <starttls/> (RFC 6120 §5.4).
func (c *inConn) handleTLS(el *stanza.Element) (bool, *stanza.StreamError) {
	if el.Name.Local != "starttls" {
		return false, stanza.NewStreamError(stanza.StreamUnsupportedStanzaType, "unknown element in the STARTTLS namespace")
	}
	if c.secure {
		c.send(stanza.New(stanza.NSTLS, "failure"))
		c.closeWith(nil)
		return false, nil
	}
	c.send(stanza.New(stanza.NSTLS, "proceed"))
	if err := c.w.Sync(c.m.cfg.WriteTimeout); err != nil {
		c.nc.Close()
		return false, nil
	}
	if !c.startTLS(c.dec.TLSTransport(c.nc)) {
		c.nc.Close()
		return false, nil
	}
	return true, nil
}

// startTLS runs the server side of TLS, asking for the peer's certificate
// (RFC 6120 §13.7.1.2: checked against the domain it claims, later).
func (c *inConn) startTLS(transport net.Conn) bool {
	cfg := c.m.baseTLS.Clone()
	cfg.ClientAuth = tls.RequestClientCert
	if c.directTLS {
		cfg.NextProtos = []string{ALPNServer}
	}
	tc := tls.Server(transport, cfg)
	tc.SetDeadline(time.Now().Add(c.m.cfg.HandshakeTimeout))
	if err := tc.HandshakeContext(c.ctx); err != nil {
		c.lg().Info("TLS handshake failed", "err", err)
		return false
	}
	tc.SetDeadline(time.Time{})
	cs := tc.ConnectionState()
	c.secure = true
	c.chain = cs.PeerCertificates
	c.mu.Lock()
	c.tlsInfo = tlsState(&cs)
	c.nc = tc
	c.mu.Unlock()
	c.w.SetConn(tc)
	c.dec.Reset(tc)
	c.restarted()
	c.lg().Debug("TLS established", "tls", c.tlsInfo, "client_certificate", len(c.chain) > 0)
	return true
}

// handleSASL authenticates the peer's domain with EXTERNAL (XEP-0178) or
// DIGEST-MD5 and a shared secret (seed 6-4).
func (c *inConn) handleSASL(el *stanza.Element) (bool, *stanza.StreamError) {
	switch el.Name.Local {
	case "auth":
		c.auth = nil
		switch mech := el.Attr("mechanism"); mech {
		case "EXTERNAL":
			return c.saslExternal(el)
		case sasl.DigestMD5:
			if !c.m.cfg.DigestMD5 || c.m.cfg.DigestMD5Secrets[c.peer] == "" {
				return c.saslFail(sasl.InvalidMechanism, "DIGEST-MD5 is not configured for your domain")
			}
			srv, err := sasl.NewServer(sasl.DigestMD5, sasl.ServerConfig{Lookup: c.digestLookup, Realm: c.local})
			if err != nil {
				return c.saslFail(sasl.InvalidMechanism, "")
			}
			c.auth = srv
			data, ok := sasl.DecodePayload(el.Text())
			if !ok {
				c.auth = nil
				return c.saslFail(sasl.IncorrectEncoding, "")
			}
			return c.saslStep(data)
		default:
			return c.saslFail(sasl.InvalidMechanism, "mechanism not supported between servers")
		}
	case "response":
		if c.auth == nil {
			return c.saslFail(sasl.MalformedRequest, "no authentication in progress")
		}
		data, ok := sasl.DecodePayload(el.Text())
		if !ok {
			c.auth = nil
			return c.saslFail(sasl.IncorrectEncoding, "")
		}
		return c.saslStep(data)
	case "abort":
		c.auth = nil
		c.send(stanza.SASLFailure(sasl.Aborted, ""))
		return false, nil
	}
	return c.saslFail(sasl.MalformedRequest, "unknown element in the SASL namespace")
}

// saslExternal accepts the peer's certificate for the domain in its
// header (or the authorization identity it names, which must be the same).
func (c *inConn) saslExternal(el *stanza.Element) (bool, *stanza.StreamError) {
	if !c.secure {
		return c.saslFail(sasl.EncryptionRequired, "EXTERNAL needs TLS with a certificate")
	}
	data, ok := sasl.DecodePayload(el.Text())
	if !ok {
		return c.saslFail(sasl.IncorrectEncoding, "")
	}
	identity := c.peer
	if len(data) > 0 {
		d, err := c.m.opt.Config.Profile().Domain(string(data))
		if err != nil || (c.peer != "" && d != c.peer) {
			return c.saslFail(sasl.InvalidAuthzid, "the authorization identity must be the domain in your stream header")
		}
		identity = d
	}
	if identity == "" {
		return c.saslFail(sasl.NotAuthorized, "put your domain in the stream header's 'from'")
	}
	if err := c.m.certStatus(c.chain, identity); err != nil {
		c.lg().Info("certificate refused", "domain", identity, "reason", err.Error())
		return c.saslFail(sasl.NotAuthorized, "your certificate is not valid for "+identity)
	}
	c.peer = identity
	return c.saslSucceeded("SASL EXTERNAL", nil)
}

// digestLookup gives DIGEST-MD5 the secret shared with the peer domain.
func (c *inConn) digestLookup(_ context.Context, username string) (sasl.Credentials, error) {
	secret := c.m.cfg.DigestMD5Secrets[c.peer]
	if username != c.peer || secret == "" {
		return sasl.Credentials{}, sasl.ErrNoSuchUser
	}
	return sasl.Derive(secret, sasl.DeriveOptions{Iterations: 4096, DigestMD5: true, Username: c.peer, Realm: c.local})
}

func (c *inConn) saslStep(in []byte) (bool, *stanza.StreamError) {
	out, done, err := c.auth.Step(c.ctx, in)
	if err != nil {
		c.auth = nil
		var f *sasl.Failure
		if errors.As(err, &f) {
			return c.saslFail(f.Condition, f.Text)
		}
		c.lg().Error("authentication failed internally", "err", err)
		return c.saslFail(sasl.TemporaryAuthFailure, "")
	}
	if !done {
		c.send(stanza.New(stanza.NSSASL, "challenge").AppendText(sasl.EncodePayload(out)))
		return false, nil
	}
	auth := c.auth
	c.auth = nil
	if auth.Username() != c.peer || auth.Authzid() != "" && auth.Authzid() != c.peer {
		return c.saslFail(sasl.NotAuthorized, "")
	}
	return c.saslSucceeded("SASL DIGEST-MD5", out)
}

func (c *inConn) saslSucceeded(method string, out []byte) (bool, *stanza.StreamError) {
	success := stanza.New(stanza.NSSASL, "success")
	if len(out) > 0 {
		success.AppendText(base64.StdEncoding.EncodeToString(out))
	}
	c.send(success)
	c.saslDone = true
	c.authorize(domainPair{c.peer, c.local}, method)
	c.dec.Restart()
	c.restarted()
	return true, nil
}

func (c *inConn) saslFail(cond, text string) (bool, *stanza.StreamError) {
	c.send(stanza.SASLFailure(cond, text))
	c.failures++
	c.lg().Info("authentication failed", "condition", cond)
	if c.failures >= 3 {
		return false, stanza.NewStreamError(stanza.StreamPolicyViolation, "too many failed authentication attempts")
	}
	return false, nil
}

// authorize records an authenticated pair.
func (c *inConn) authorize(p domainPair, method string) {
	cert := describeCert(c.m.certStatus(c.chain, p.remote))
	c.mu.Lock()
	first := len(c.authed) == 0
	c.authed[p] = method
	if first {
		c.method = method
		c.certNote = cert
		if c.timer != nil && !c.closing {
			c.timer.Stop()
		}
	}
	tlsInfo := c.tlsInfo
	c.mu.Unlock()
	c.lg().Info("remote domain authenticated", "direction", "in", "remote", p.remote, "local", p.local, "auth", method, "tls", tlsInfo, "certificate", cert)
}

func (c *inConn) authedBy(p domainPair) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.authed[p]
}

// dialbackResult is the receiving server's side of dialback (XEP-0220
// §2.1.2): verify the key with the authoritative server, then tell the
// originating server the verdict.
func (c *inConn) dialbackResult(el *stanza.Element) *stanza.StreamError {
	if el.Attr("type") != "" {
		return stanza.NewStreamError(stanza.StreamUnsupportedStanzaType, "a dialback verdict on a stream we did not initiate")
	}
	profile := c.m.opt.Config.Profile()
	remote, err1 := profile.Domain(el.Attr("from"))
	local, err2 := profile.Domain(el.Attr("to"))
	if err1 != nil || err2 != nil {
		return stanza.NewStreamError(stanza.StreamImproperAddressing, "a dialback request needs valid 'from' and 'to' domains")
	}
	if !c.m.r.IsLocal(local) {
		c.send(dbError("result", local, remote, "", stanza.NewError(stanza.ItemNotFound, "this server does not serve "+local)))
		return nil
	}
	p := domainPair{remote, local}
	reply := func(typ string) { c.send(dbElement("result", local, remote, typ)) }
	if c.authedBy(p) != "" {
		reply("valid")
		return nil
	}
	certErr := c.m.certStatus(c.chain, remote)
	if certErr == nil {
		// XEP-0344 §2.4: a certificate valid for the domain needs no
		// callback.
		c.authorize(p, "dialback (certificate)")
		reply("valid")
		return nil
	}
	if c.m.secure(remote) {
		c.lg().Info("refusing dialback: the domain must present a valid certificate", "remote", remote, "reason", certErr.Error())
		c.send(dbError("result", local, remote, "", stanza.NewError(stanza.NotAuthorized, "a valid certificate is required for "+remote)))
		return nil
	}
	if !c.m.cfg.Dialback {
		c.send(dbError("result", local, remote, "", stanza.NewError(stanza.PolicyViolation, "dialback is disabled here")))
		return nil
	}
	c.mu.Lock()
	id := c.streamID
	c.mu.Unlock()
	c.lg().Debug("verifying a dialback key", "remote", remote, "local", local)
	c.m.verify(local, remote, id, el.Text(), func(valid bool, err *stanza.Error) {
		switch {
		case err != nil:
			c.lg().Info("dialback verification failed", "remote", remote, "err", err.Error())
			c.send(dbError("result", local, remote, "", err))
		case valid:
			c.authorize(p, "dialback")
			reply("valid")
		default:
			c.lg().Warn("dialback key invalid: possible spoofing", "remote", remote, "local", local)
			reply("invalid")
		}
	})
	return nil
}

// dialbackVerify is the authoritative server's side (XEP-0220 §2.1.3):
// was this key made by us for that stream?
func (c *inConn) dialbackVerify(el *stanza.Element) *stanza.StreamError {
	if el.Attr("type") != "" {
		return stanza.NewStreamError(stanza.StreamUnsupportedStanzaType, "a dialback verdict on a stream we did not initiate")
	}
	profile := c.m.opt.Config.Profile()
	receiving, err1 := profile.Domain(el.Attr("from"))
	originating, err2 := profile.Domain(el.Attr("to"))
	id := el.Attr("id")
	if err1 != nil || err2 != nil || id == "" {
		return stanza.NewStreamError(stanza.StreamImproperAddressing, "a dialback verification needs valid 'from', 'to' and 'id'")
	}
	if !c.m.r.IsLocal(originating) {
		c.send(dbError("verify", originating, receiving, id, stanza.NewError(stanza.ItemNotFound, "this server does not serve "+originating)))
		return nil
	}
	want := dialbackKey(c.m.opt.Secret, receiving, originating, id)
	typ := "invalid"
	if hmac.Equal([]byte(want), []byte(el.Text())) {
		typ = "valid"
	} else {
		c.lg().Info("answered a dialback verification: key invalid", "receiving", receiving, "originating", originating)
	}
	c.send(dbElement("verify", originating, receiving, typ).SetAttr("id", id))
	return nil
}

// handleStanza checks a stanza's addresses against what the link
// authenticated (seed 10.1-5, RFC 6120 §8.1.1.2, §8.1.2.2) and routes it.
func (c *inConn) handleStanza(el *stanza.Element) *stanza.StreamError {
	if !c.isAuthenticated() {
		return stanza.NewStreamError(stanza.StreamNotAuthorized, "authenticate before sending stanzas")
	}
	fromS, toS := el.Attr("from"), el.Attr("to")
	if fromS == "" || toS == "" {
		return stanza.NewStreamError(stanza.StreamImproperAddressing, "stanzas between servers need 'from' and 'to'")
	}
	profile := c.m.opt.Config.Profile()
	from, err := profile.Parse(fromS)
	if err != nil {
		return stanza.NewStreamError(stanza.StreamInvalidFrom, "the 'from' address is not a valid JID")
	}
	to, err := profile.Parse(toS)
	if err != nil {
		to, err = jid.New("", c.local, "")
		if err == nil && !stanza.IsError(el) {
			reply := stanza.ErrorReply(el, stanza.NewError(stanza.JIDMalformed, "the 'to' address is not a valid JID"))
			reply.SetAttr("from", c.local)
			c.m.r.Send(c.ctx, reply, to, from)
		}
		return nil
	}
	if !c.m.r.IsLocal(to.Domain()) {
		return stanza.NewStreamError(stanza.StreamHostUnknown, "this server does not serve "+stanza.SanitizeText(to.Domain()))
	}
	if c.authedBy(domainPair{from.Domain(), to.Domain()}) == "" {
		c.lg().Warn("stanza from a domain this link did not authenticate", "from", from.Domain(), "to", to.Domain())
		return stanza.NewStreamError(stanza.StreamInvalidFrom, "this link is not authenticated for "+stanza.SanitizeText(from.Domain())+" to "+to.Domain())
	}
	if fromS != from.String() {
		el.SetAttr("from", from.String())
	}
	if toS != to.String() {
		el.SetAttr("to", to.String())
	}
	if serr := stanza.CheckShape(el); serr != nil {
		if !stanza.IsError(el) {
			c.m.r.Send(c.ctx, stanza.ErrorReply(el, serr), to, from)
		}
		return nil
	}
	c.stanzas.Add(1)
	c.m.deliver(c.ctx, el, from, to)
	return nil
}

// info describes the link.
func (c *inConn) info() LinkInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	li := LinkInfo{
		ID: c.id, Direction: "in", Auth: c.method, TLS: c.tlsInfo, Addr: c.nc.RemoteAddr().String(),
		Since: c.since, Stanzas: c.stanzas.Load(), Certificate: c.certNote,
	}
	for p := range c.authed {
		if !slices.Contains(li.Local, p.local) {
			li.Local = append(li.Local, p.local)
		}
		if !slices.Contains(li.Remote, p.remote) {
			li.Remote = append(li.Remote, p.remote)
		}
	}
	slices.Sort(li.Local)
	slices.Sort(li.Remote)
	return li
}
