package c2s

import (
	"context"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/starling-xmpp/starling/jid"
	"github.com/starling-xmpp/starling/router"
	"github.com/starling-xmpp/starling/sasl"
	"github.com/starling-xmpp/starling/stanza"
	"github.com/starling-xmpp/starling/xmlstream"
)

// conn is one client connection. Fields below mu are touched only by the
// reader goroutine (serve), except where noted.
type conn struct {
	srv       *Server
	nc        net.Conn // the TCP connection (closing it ends everything)
	directTLS bool
	transport Transport                   // set by ServeConn; zero for TCP
	overLimit bool                        // accepted past c2s.max_connections
	logp      atomic.Pointer[slog.Logger] // lg, setLog: other goroutines log too
	w         *xmlstream.Writer
	dec       *xmlstream.Decoder
	ctx       context.Context
	cancel    context.CancelFunc

	// Stream state, owned by the reader goroutine.
	host          string // the domain the client asked for
	lang          string // the stream's xml:lang, "" if the client gave none
	secure        bool
	tlsLeaf       *x509.Certificate
	cb            map[string][]byte // channel-binding data of the TLS layer
	authenticated bool
	user          string // prepared localpart once authenticated
	auth          sasl.Server
	authMech      string
	failures      int
	cbUnavailable bool // a -PLUS attempt asked for a binding type we lack
	pings         int  // idle pings sent, for their ids

	// Shared with other goroutines.
	mu       sync.Mutex
	sessions []*router.Session // bound resources, in binding order
	parting  []*router.Session // the resources bound when the stream began to close
	closing  bool              // closeWith ran
	opened   bool              // our header for the current stream is queued
	timer    *time.Timer       // handshake, then close timeout
}

func newConn(s *Server, nc net.Conn, directTLS bool) *conn {
	id := s.nextID.Add(1)
	c := &conn{
		srv:       s,
		nc:        nc,
		directTLS: directTLS,
	}
	c.setLog(s.log.With("conn", id, "remote", nc.RemoteAddr().String()))
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.w = xmlstream.NewWriter(nc, s.cfg.C2S.QueueSize, s.cfg.C2S.WriteTimeout, stanza.NSClient, func(err error) {
		c.lg().Debug("write failed", "err", err)
		nc.Close()
	})
	c.dec = xmlstream.NewDecoder(nc, s.limits)
	return c
}

// lg is the connection's logger; the reader goroutine adds to it as the
// stream learns who the client is.
func (c *conn) lg() *slog.Logger { return c.logp.Load() }

func (c *conn) setLog(l *slog.Logger) { c.logp.Store(l) }

// serve runs the connection: negotiation, then stanzas, until the stream
// ends.
func (c *conn) serve() {
	defer c.finish()
	c.lg().Debug("connected", "direct_tls", c.directTLS)
	c.mu.Lock()
	c.timer = time.AfterFunc(c.srv.cfg.C2S.HandshakeTimeout, func() {
		c.closeWith(stanza.NewStreamError(stanza.StreamConnectionTimeout, "negotiation took too long"))
	})
	c.mu.Unlock()
	if c.directTLS {
		if !c.startTLS(c.nc) {
			return
		}
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
			if serr := c.streamOpened(h); serr != nil {
				// Then wait for the client's closing tag (or EOF).
				c.closeWith(serr)
			}
			continue
		}
		el, err := c.next()
		if errors.Is(err, xmlstream.ErrStreamEnd) {
			c.lg().Debug("client closed the stream")
			c.closeWith(nil)
			return
		}
		if err != nil {
			c.readFailed(err)
			return
		}
		if c.isClosing() {
			// RFC 6120 §4.4: after our closing tag, keep processing what
			// the client still sends until it closes too; replies go
			// nowhere.
			if len(c.partingSessions()) > 0 && stanza.IsStanza(el) {
				c.handleStanza(el)
			}
			continue
		}
		restart, serr := c.handle(el)
		if serr != nil {
			c.closeWith(serr)
			continue
		}
		needHeader = restart
	}
}

// next reads the next top-level element. Once a resource is bound, a
// client silent for half of c2s.idle_timeout is pinged (XEP-0199: every
// client must answer an IQ), and one silent for the whole of it is
// disconnected with <connection-timeout/>: a peer that vanished without
// closing TCP is not kept forever.
func (c *conn) next() (*stanza.Element, error) {
	idle := c.srv.cfg.C2S.IdleTimeout
	if idle <= 0 || c.isClosing() || len(c.boundSessions()) == 0 {
		c.nc.SetReadDeadline(time.Time{})
		return c.dec.Next()
	}
	pinged := false
	for {
		c.nc.SetReadDeadline(time.Now().Add(idle / 2))
		el, err := c.dec.Next()
		if err == nil {
			return el, nil
		}
		if !isTimeout(err) || c.isClosing() {
			return el, err
		}
		if pinged {
			c.closeWith(stanza.NewStreamError(stanza.StreamConnectionTimeout, "no data from the client for "+idle.String()))
			return nil, err
		}
		pinged = true
		c.pings++
		ss := c.boundSessions()
		if len(ss) == 0 {
			continue
		}
		c.send(stanza.New("", "iq").SetAttr("type", "get").SetAttr("id", "ping-"+strconv.Itoa(c.pings)).
			SetAttr("from", c.host).SetAttr("to", ss[0].JID.String()).Append(stanza.New(nsPing, "ping")))
	}
}

// isTimeout reports whether err is a read deadline expiring.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// nsPing is XEP-0199's namespace.
const nsPing = "urn:xmpp:ping"

// readFailed handles a read error: a stream error from the decoder is sent
// to the client; anything else means the transport is gone.
func (c *conn) readFailed(err error) {
	var se *stanza.StreamError
	if errors.As(err, &se) {
		// The reader stops here, so the connection ends as soon as
		// the error is written (finish).
		c.lg().Info("stream error", "condition", string(se.Condition), "text", se.Text)
		c.closeWith(se)
		return
	}
	if !c.isClosing() {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			c.lg().Info("connection dropped by the client without closing the stream")
		} else {
			c.lg().Info("connection lost", "err", err)
		}
	}
}

func (c *conn) isClosing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing
}

func (c *conn) boundSessions() []*router.Session {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sessions
}

// partingSessions are the resources that were bound when the stream began
// to close: stanzas the client still sends until its closing tag come from
// them, and are routed.
func (c *conn) partingSessions() []*router.Session {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.parting
}

// closeWith ends our side of the stream: the stream error (if any) and the
// closing tag, then nothing more (seed 3.5-3). The connection is dropped
// when the client closes its side or after close_timeout (3.5-2, 3.5-4).
// Any goroutine may call it; only the first call counts.
func (c *conn) closeWith(se *stanza.StreamError) {
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
		// RFC 6120 §4.9.1.3: an error before our header still needs a
		// header; this one names our default host.
		c.w.SendRaw(c.header(c.srv.cfg.Hosts[0], "", ""))
		c.opened = true
	}
	c.timer = time.AfterFunc(c.srv.cfg.C2S.CloseTimeout, func() { c.nc.Close() })
	c.mu.Unlock()

	// Nothing can be routed to a closing stream.
	c.unbindAll()
	if se != nil && se.Condition != stanza.StreamConflict {
		c.lg().Info("closing stream", "condition", string(se.Condition), "text", se.Text)
	}
	var last *stanza.Element
	if se != nil {
		last = se.Element()
	}
	c.w.Close(last)
}

// finish releases everything once the reader is done.
func (c *conn) finish() {
	c.closeWith(nil)
	c.cancel()
	// Give the writer a moment to put out the closing tag before the TCP
	// connection goes (seed 3.5-4: terminate after both closing tags).
	select {
	case <-c.w.Done():
	case <-time.After(c.srv.cfg.C2S.WriteTimeout):
	}
	left := c.w.Stop()
	c.nc.Close()
	c.mu.Lock()
	if c.timer != nil {
		c.timer.Stop()
	}
	c.mu.Unlock()
	c.rerouteUnwritten(left)
	c.srv.remove(c)
	c.lg().Debug("disconnected")
}

// rerouteUnwritten deals with stanzas that were queued for this client but
// never written. Messages are routed again: the session is gone, so they
// reach another resource of the account or offline storage, and nothing is
// lost. An IQ request is answered with service-unavailable; the rest is
// dropped, as it would have been had the client left a moment earlier.
func (c *conn) rerouteUnwritten(left []*stanza.Element) {
	r := c.srv.opt.Router
	for _, el := range left {
		from, err := c.profile().Parse(el.Attr("from"))
		if err != nil {
			continue
		}
		to, err := c.profile().Parse(el.Attr("to"))
		if err != nil {
			continue
		}
		switch el.Name.Local {
		case "message":
			if el.Attr("type") != "error" {
				r.Send(context.Background(), el, from, to)
			}
		case "iq":
			if t := el.Attr("type"); t == "get" || t == "set" {
				r.Bounce(&router.Packet{El: el, From: from, To: to}, stanza.NewError(stanza.ServiceUnavailable, "the recipient disconnected"))
			}
		}
	}
}

// send queues a stanza or negotiation element for this client. Called by
// the reader, and by the router through session streams.
func (c *conn) send(el *stanza.Element) bool {
	ok, full := c.w.Send(el)
	if full {
		c.lg().Warn("client is not reading; closing its stream", "queued", c.srv.cfg.C2S.QueueSize)
		go c.closeWith(stanza.NewStreamError(stanza.StreamPolicyViolation, "too many stanzas waiting for the client to read them"))
	}
	return ok
}

// streamOpened checks the client's stream header (seed §3.2, §3.3) and
// answers with ours and the stream features (§3.4).
func (c *conn) streamOpened(h *xmlstream.Header) *stanza.StreamError {
	first := c.host == ""
	if se := h.Check(stanza.NSClient); se != nil {
		return c.headerError(se.Condition, se.Text)
	}
	for _, a := range h.Attrs {
		if a.Name == (stanza.Name{Space: stanza.NSXML, Local: "lang"}) && a.Value != "" {
			c.lang = a.Value
		}
	}
	to := h.Attr("to")
	if to == "" {
		return c.headerError(stanza.StreamImproperAddressing, "the stream header needs a 'to' attribute naming the server")
	}
	host, err := c.srv.cfg.Profile().Domain(to)
	switch {
	case err != nil:
		return c.headerError(stanza.StreamImproperAddressing, "the 'to' attribute is not a valid domain")
	case !c.srv.opt.Router.IsLocal(host):
		return c.headerError(stanza.StreamHostUnknown, "this server does not serve "+stanza.SanitizeText(host))
	case !first && host != c.host:
		return c.headerError(stanza.StreamNotAuthorized, "the 'to' attribute must stay the same across stream restarts")
	}
	c.host = host
	var peer string
	if from := h.Attr("from"); from != "" {
		j, err := c.srv.cfg.Profile().Parse(from)
		if err != nil {
			return c.headerError(stanza.StreamInvalidFrom, "the 'from' attribute is not a valid JID")
		}
		peer = j.String()
	}
	if !xmlstream.VersionOK(h.Attr("version")) {
		return c.headerError(stanza.StreamUnsupportedVersion, "XMPP 1.0 or later is required")
	}
	if c.overLimit {
		return c.headerError(stanza.StreamResourceConstraint, "the server has too many connections")
	}
	if c.transport.Framed && !c.secure && !c.srv.cfg.C2S.AllowPlaintext {
		// There is no STARTTLS over WebSocket (RFC 7395 §3.7) or BOSH.
		return c.headerError(stanza.StreamPolicyViolation, "this connection is not encrypted: use https:// or wss://")
	}
	c.sendHeaderTo(peer)
	c.send(c.features())
	return nil
}

// headerError sends our header (addressed as well as we can) before the
// error, as RFC 6120 §4.9.1.3 requires.
func (c *conn) headerError(cond stanza.StreamCondition, text string) *stanza.StreamError {
	c.sendHeaderTo("")
	return stanza.NewStreamError(cond, text)
}

// sendHeaderTo writes our response stream header (seed 3.3.2): from our
// domain, to the client's JID if it gave one, a fresh unique id, version 1.0
// and the stream language. Called by the reader only.
func (c *conn) sendHeaderTo(peer string) {
	host := c.host
	if host == "" {
		host = c.srv.cfg.Hosts[0]
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.opened {
		return // another goroutine closed the stream meanwhile
	}
	c.opened = true
	c.w.SendRaw(c.header(host, peer, c.lang))
}

// header serialises a response stream header with a fresh id.
func (c *conn) header(host, peer, lang string) []byte {
	if lang == "" {
		lang = "en"
	}
	attrs := []stanza.Attr{
		{Name: stanza.Name{Local: "from"}, Value: host},
		{Name: stanza.Name{Local: "id"}, Value: xmlstream.NewStreamID()},
		{Name: stanza.Name{Local: "version"}, Value: "1.0"},
		{Name: stanza.Name{Space: stanza.NSXML, Local: "lang"}, Value: lang},
	}
	if peer != "" {
		attrs = append(attrs, stanza.Attr{Name: stanza.Name{Local: "to"}, Value: peer})
	}
	if c.transport.Framed {
		return openFrame(attrs)
	}
	return xmlstream.AppendOpen(nil, true, stanza.NSClient, attrs)
}

// restarted prepares for the new stream that follows STARTTLS or SASL
// success.
func (c *conn) restarted() {
	c.mu.Lock()
	c.opened = false
	c.mu.Unlock()
}

// features lists what the client can negotiate now (seed 3.4-1), marking
// mandatory steps with <required/> (3.4-2).
func (c *conn) features() *stanza.Element {
	f := stanza.New(stanza.NSStream, "features")
	cfg := c.srv.cfg
	switch {
	case !c.authenticated:
		if !c.secure {
			st := stanza.New(stanza.NSTLS, "starttls")
			if !cfg.C2S.AllowPlaintext {
				st.Append(stanza.New(stanza.NSTLS, "required"))
			}
			f.Append(st)
			if !cfg.C2S.AllowPlaintext {
				// RFC 6120 §5.3.1: nothing else before mandatory TLS.
				return f
			}
		}
		mechs := stanza.New(stanza.NSSASL, "mechanisms")
		for _, m := range c.offered() {
			mechs.Append(stanza.New(stanza.NSSASL, "mechanism").AppendText(m))
		}
		mechs.Append(stanza.New(stanza.NSSASL, "required"))
		f.Append(mechs)
		c.extFeatures(f)
		if len(c.cb) > 0 {
			// XEP-0440: which channel bindings the -PLUS mechanisms use.
			cbs := stanza.New(stanza.NSSASLCB, "sasl-channel-binding")
			for _, t := range cbTypes {
				if c.cb[t] != nil {
					cbs.Append(stanza.New(stanza.NSSASLCB, "channel-binding").SetAttr("type", t))
				}
			}
			f.Append(cbs)
		}
	default:
		f.Append(stanza.New(stanza.NSBind, "bind").Append(stanza.New(stanza.NSBind, "required")))
		if cfg.C2S.MultiResourceBinding {
			f.Append(stanza.New(stanza.NSBind, "unbind"))
		}
		// RFC 3921 session establishment, optional since RFC 6121.
		f.Append(stanza.New(stanza.NSSession, "session").Append(stanza.New(stanza.NSSession, "optional")))
		c.extFeatures(f)
	}
	return f
}

// info describes this stream to extensions.
func (c *conn) info() StreamInfo {
	return StreamInfo{Host: c.host, Secure: c.secure, Authenticated: c.authenticated, Remote: c.nc.RemoteAddr()}
}

// extFeatures appends the modules' stream features.
func (c *conn) extFeatures(f *stanza.Element) {
	if ext := c.srv.opt.Extensions; ext != nil {
		f.Append(ext.StreamFeatures(c.info())...)
	}
}

// preAuthIQ serves an IQ sent before authentication (in-band registration)
// when an extension handles its payload, and reports whether one did.
func (c *conn) preAuthIQ(el *stanza.Element) bool {
	ext := c.srv.opt.Extensions
	if ext == nil || el.Name.Local != "iq" || stanza.CheckShape(el) != nil || (!c.secure && !c.srv.cfg.C2S.AllowPlaintext) {
		return false
	}
	typ := el.Attr("type")
	if typ != "get" && typ != "set" {
		return false
	}
	res, handled, err := ext.PreAuthIQ(c.ctx, c.info(), el)
	if !handled {
		return false
	}
	if err != nil {
		var se *stanza.Error
		if !errors.As(err, &se) {
			c.lg().Error("pre-authentication IQ failed", "err", err)
			se = stanza.NewError(stanza.InternalServerError, "")
		}
		c.replyError(el, se)
		return true
	}
	c.send(result(el, res))
	return true
}

// handle processes one top-level element. restart means a new stream header
// follows (after STARTTLS or SASL success).
func (c *conn) handle(el *stanza.Element) (restart bool, err *stanza.StreamError) {
	switch el.Name.Space {
	case stanza.NSTLS:
		return c.handleTLS(el)
	case stanza.NSSASL:
		if c.authenticated {
			return false, stanza.NewStreamError(stanza.StreamUnsupportedStanzaType, "SASL is already complete")
		}
		return c.handleSASL(el)
	case "":
		if !stanza.IsStanza(el) {
			return false, stanza.NewStreamError(stanza.StreamUnsupportedStanzaType, "unknown top-level element <"+stanza.SanitizeText(el.Name.Local)+">")
		}
	default:
		return false, stanza.NewStreamError(stanza.StreamUnsupportedStanzaType, "unknown top-level element in namespace "+stanza.SanitizeText(el.Name.Space))
	}
	if !c.authenticated {
		if c.preAuthIQ(el) {
			return false, nil
		}
		return false, stanza.NewStreamError(stanza.StreamNotAuthorized, "authenticate before sending stanzas")
	}
	if el.Name.Local == "iq" && el.Attr("type") == "set" {
		if p := el.FirstElement(); p != nil {
			switch p.Name {
			case stanza.Name{Space: stanza.NSBind, Local: "bind"}:
				return false, c.bind(el, p)
			case stanza.Name{Space: stanza.NSBind, Local: "unbind"}:
				if len(c.boundSessions()) > 0 {
					return false, c.unbind(el, p)
				}
			case stanza.Name{Space: stanza.NSSession, Local: "session"}:
				if len(c.boundSessions()) > 0 {
					c.send(result(el, nil))
					return false, nil
				}
			}
		}
	}
	if len(c.boundSessions()) == 0 {
		return false, stanza.NewStreamError(stanza.StreamNotAuthorized, "bind a resource before sending stanzas")
	}
	return false, c.handleStanza(el)
}

// result builds an IQ result for request iq.
func result(iq *stanza.Element, payload *stanza.Element) *stanza.Element {
	r := stanza.New("", "iq").SetAttr("type", "result").SetAttr("id", iq.Attr("id"))
	return r.Append(payload)
}

// replyError answers st on this stream (for errors found before routing).
func (c *conn) replyError(st *stanza.Element, err *stanza.Error) {
	if stanza.IsError(st) {
		return // seed 10.5-2
	}
	c.send(stanza.ErrorReply(st, err))
}

// Send implements router.Stream.
func (c *conn) Send(el *stanza.Element) bool { return c.send(el) }

// Close implements router.Stream: it ends the stream with se.
func (c *conn) Close(se *stanza.StreamError) { c.closeWith(se) }

// Replaced implements router.Stream: another client bound this session's
// full JID (resource_conflict: replace). A stream with several resources
// just loses that one; otherwise the stream ends with <conflict/>.
func (c *conn) Replaced(s *router.Session) {
	c.mu.Lock()
	rest := c.sessions[:0:0]
	for _, o := range c.sessions {
		if o != s {
			rest = append(rest, o)
		}
	}
	c.sessions = rest
	if len(rest) == 0 {
		c.parting = []*router.Session{s}
	}
	c.mu.Unlock()
	c.lg().Info("resource taken over by a new login", "jid", s.JID.String())
	if len(rest) == 0 {
		c.closeWith(stanza.NewStreamError(stanza.StreamConflict, "replaced by a new connection for the same resource"))
	}
}

func (c *conn) unbindAll() {
	c.mu.Lock()
	sessions := c.sessions
	c.sessions = nil
	if len(sessions) > 0 {
		c.parting = sessions
	}
	c.mu.Unlock()
	for _, s := range sessions {
		c.srv.opt.Router.Unbind(s)
	}
}

// profile is the server's JID profile.
func (c *conn) profile() jid.Profile { return c.srv.cfg.Profile() }
