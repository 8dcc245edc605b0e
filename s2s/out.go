package s2s

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/idna"

	"github.com/starling-xmpp/starling/resolve"
	"github.com/starling-xmpp/starling/router"
	"github.com/starling-xmpp/starling/sasl"
	"github.com/starling-xmpp/starling/stanza"
	"github.com/starling-xmpp/starling/xmlstream"
)

// queued is a stanza waiting for a link; tries counts links that died
// before writing it.
type queued struct {
	p     *router.Packet
	tries int
}

// pair is one (local domain, remote domain) pair an outbound link carries.
type pair struct {
	valid bool
	queue []queued
}

// verifyReq is a dialback verification we ask the authoritative server
// for (XEP-0220 §2.1.3): db:verify from our domain to the originating one.
type verifyReq struct {
	from, to, id, key string
	done              func(valid bool, err *stanza.Error)
	timer             *time.Timer
}

func (v *verifyReq) name() string { return v.from + " " + v.to + " " + v.id }

// outConn is one outbound link: the stream we initiate to a remote server.
// The goroutine in run negotiates, then reads; stanzas are queued from any
// goroutine.
type outConn struct {
	m       *Manager
	id      uint64
	local   string // the domain in our stream header
	remote  string
	log     *slog.Logger
	since   time.Time
	stanzas atomic.Uint64
	used    atomic.Int64 // unix nanoseconds of the last stanza

	mu         sync.Mutex
	pairs      map[string]*pair // local domain → pair
	queued     int
	ready      bool // authenticated: stanzas of valid pairs flow
	ended      bool // accepts nothing more
	dialback   bool // the peer offers dialback (for more pairs)
	streamID   string
	verifyOpen bool // db:verify may be sent now
	toVerify   []*verifyReq
	verifying  map[string]*verifyReq
	nc         net.Conn // the current transport (TLS once negotiated)
	w          *xmlstream.Writer
	dec        *xmlstream.Decoder
	secure     bool
	auth       string
	tlsInfo    string
	certErr    error
	addr       string
	idle       *time.Timer
	closeTimer *time.Timer
	retried    map[*stanza.Element]bool // written stanzas already requeued once
}

func newOutConn(m *Manager, local, remote string) *outConn {
	id := m.nextID.Add(1)
	o := &outConn{
		m:         m,
		id:        id,
		local:     local,
		remote:    remote,
		log:       m.linkLog("out", id).With("local", local, "remote", remote),
		since:     time.Now(),
		pairs:     map[string]*pair{local: {}},
		verifying: map[string]*verifyReq{},
		tlsInfo:   "none",
		certErr:   errors.New("no TLS"),
	}
	o.used.Store(time.Now().UnixNano())
	return o
}

// carries reports whether the link carries (or is bringing up) the pair
// from local. m.mu is held.
func (o *outConn) carries(local string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return !o.ended && o.pairs[local] != nil
}

// adopt takes a new local domain onto an established link by sending a
// dialback request for it (XEP-0220 §4). m.mu is held.
func (o *outConn) adopt(local string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.ready || o.ended || !o.dialback || !o.m.cfg.Dialback || o.streamID == "" {
		return false
	}
	o.pairs[local] = &pair{}
	o.log.Info("authenticating another domain over the link (dialback)", "domain", local)
	o.w.Send(dbElement("result", local, o.remote, "").AppendText(dialbackKey(o.m.opt.Secret, o.remote, local, o.streamID)))
	return true
}

// enqueue sends q on the link, or queues it until its pair is
// authenticated.
func (o *outConn) enqueue(local string, q queued) {
	o.mu.Lock()
	pr := o.pairs[local]
	switch {
	case (o.ended || pr == nil) && q.tries < 2:
		// The link closed since it was chosen: take another.
		o.mu.Unlock()
		o.m.send(q.p, q.tries+1)
	case o.ended || pr == nil:
		o.mu.Unlock()
		o.m.bounce(q.p, stanza.NewError(stanza.RemoteServerNotFound, "the link to the remote server closed"))
	case o.ready && pr.valid:
		ok := o.send(q)
		o.mu.Unlock()
		if !ok {
			o.m.bounce(q.p, stanza.NewError(stanza.ResourceConstraint, "too many stanzas waiting for the remote server"))
			return
		}
		o.stanzas.Add(1)
		o.used.Store(time.Now().UnixNano())
	case o.queued >= o.m.cfg.QueueSize:
		o.mu.Unlock()
		o.m.bounce(q.p, stanza.NewError(stanza.ResourceConstraint, "too many stanzas waiting for the remote server"))
	default:
		pr.queue = append(pr.queue, q)
		o.queued++
		o.mu.Unlock()
	}
}

// send hands a stanza to the writer. o.mu is held.
func (o *outConn) send(q queued) bool {
	if ok, _ := o.w.Send(q.p.El); !ok {
		return false
	}
	if q.tries > 0 {
		if o.retried == nil {
			o.retried = map[*stanza.Element]bool{}
		}
		o.retried[q.p.El] = true
	}
	return true
}

// pairReady marks a pair authenticated and sends what waited for it.
func (o *outConn) pairReady(local string) {
	o.mu.Lock()
	pr := o.pairs[local]
	if pr == nil || o.ended {
		o.mu.Unlock()
		return
	}
	pr.valid = true
	q := pr.queue
	pr.queue = nil
	o.queued -= len(q)
	var refused []queued
	for _, x := range q {
		if o.send(x) {
			o.stanzas.Add(1)
		} else {
			refused = append(refused, x)
		}
	}
	o.mu.Unlock()
	o.used.Store(time.Now().UnixNano())
	for _, x := range refused {
		o.m.bounce(x.p, stanza.NewError(stanza.ResourceConstraint, "too many stanzas waiting for the remote server"))
	}
}

// pairFailed drops a pair whose authentication failed, bouncing its queue.
func (o *outConn) pairFailed(local string, err *stanza.Error) {
	o.mu.Lock()
	pr := o.pairs[local]
	delete(o.pairs, local)
	if pr != nil {
		o.queued -= len(pr.queue)
	}
	o.mu.Unlock()
	if pr != nil {
		for _, x := range pr.queue {
			o.m.bounce(x.p, err)
		}
	}
}

// requestVerify sends (or queues until the stream allows it) a dialback
// verification request.
func (o *outConn) requestVerify(v *verifyReq) {
	o.mu.Lock()
	if o.ended {
		o.mu.Unlock()
		v.done(false, stanza.NewError(stanza.RemoteServerNotFound, "the link to the authoritative server closed"))
		return
	}
	// Half the handshake time, so that the peer waiting on its inbound
	// stream hears the verdict before that stream times out.
	v.timer = time.AfterFunc(o.m.cfg.HandshakeTimeout/2, func() {
		o.mu.Lock()
		delete(o.verifying, v.name())
		o.toVerify = slices.DeleteFunc(o.toVerify, func(x *verifyReq) bool { return x == v })
		o.mu.Unlock()
		v.done(false, stanza.NewError(stanza.RemoteServerTimeout, "the authoritative server did not answer"))
	})
	if o.verifyOpen {
		o.sendVerifyLocked(v)
	} else {
		o.toVerify = append(o.toVerify, v)
	}
	o.mu.Unlock()
}

func (o *outConn) sendVerifyLocked(v *verifyReq) {
	o.verifying[v.name()] = v
	o.w.Send(dbElement("verify", v.from, v.to, "").SetAttr("id", v.id).AppendText(v.key))
}

// openVerify: the stream is secure (or may stay plain) and open, so queued
// verification requests go out.
func (o *outConn) openVerify() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.verifyOpen = true
	for _, v := range o.toVerify {
		o.sendVerifyLocked(v)
	}
	o.toVerify = nil
}

// verifyAnswered handles the authoritative server's db:verify answer.
func (o *outConn) verifyAnswered(el *stanza.Element) {
	name := el.Attr("to") + " " + el.Attr("from") + " " + el.Attr("id")
	o.mu.Lock()
	v := o.verifying[name]
	delete(o.verifying, name)
	o.mu.Unlock()
	if v == nil {
		o.log.Debug("dialback answer for no pending request")
		return
	}
	v.timer.Stop()
	switch el.Attr("type") {
	case "valid":
		v.done(true, nil)
	case "invalid":
		v.done(false, nil)
	default:
		e := stanza.ParseError(el)
		if e == nil {
			e = stanza.NewError(stanza.RemoteServerNotFound, "the authoritative server refused to verify")
		}
		v.done(false, e)
	}
}

// run brings the link up, then reads until it ends.
func (o *outConn) run() {
	defer o.m.wg.Done()
	defer o.finish()
	if err := o.establish(); err != nil {
		cond := stanza.RemoteServerNotFound
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) {
			cond = stanza.RemoteServerTimeout
		}
		why := "cannot reach " + o.remote + ": " + err.Error()
		d := o.m.failed(o.remote, why)
		o.log.Warn("link failed", "err", err, "retry_after", d.Round(time.Millisecond))
		o.fail(stanza.NewError(cond, why))
		return
	}
	o.m.succeeded(o.remote)
	o.mu.Lock()
	o.ready = true
	o.idle = time.AfterFunc(o.m.cfg.IdleTimeout, o.checkIdle)
	o.mu.Unlock()
	o.log.Info("link established", "direction", "out", "auth", o.auth, "tls", o.tlsInfo, "certificate", describeCert(o.certErr), "addr", o.addr)
	o.pairReady(o.local)
	o.readLoop()
}

// targets returns where to connect: s2s.hosts, else DNS (RFC 6120 §3.2).
func (o *outConn) targets(ctx context.Context) ([]resolve.Target, error) {
	addr, res := o.m.target(o.remote)
	if addr != "" {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		p, err := strconv.ParseUint(port, 10, 16)
		if err != nil {
			return nil, err
		}
		return []resolve.Target{{Host: host, Port: uint16(p)}}, nil
	}
	return res.Lookup(ctx, "xmpp-server", o.remote)
}

// errNextTarget marks failures after which the next address is tried.
type errNextTarget struct{ err error }

func (e errNextTarget) Error() string { return e.err.Error() }
func (e errNextTarget) Unwrap() error { return e.err }

// establish connects to the first target that answers and authenticates
// the first pair.
func (o *outConn) establish() error {
	ctx, cancel := context.WithTimeout(context.Background(), o.m.cfg.ConnectTimeout)
	defer cancel()
	targets, err := o.targets(ctx)
	if err != nil {
		return err
	}
	_, res := o.m.target(o.remote)
	var lastErr error = errors.New("no address to connect to")
	for _, t := range targets {
		addr := net.JoinHostPort(t.Host, strconv.Itoa(int(t.Port)))
		d := net.Dialer{Resolver: res.DNS}
		nc, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			lastErr = err
			o.log.Debug("connect failed", "addr", addr, "err", err)
			continue
		}
		err = o.attempt(nc, addr, t.DirectTLS)
		var next errNextTarget
		if err == nil || !errors.As(err, &next) {
			return err
		}
		lastErr = err
		o.log.Debug("TLS with this address failed", "addr", addr, "err", err)
		if ctx.Err() != nil {
			break
		}
	}
	return lastErr
}

// attempt negotiates over one connection. On failure the connection is
// closed.
func (o *outConn) attempt(nc net.Conn, addr string, directTLS bool) error {
	o.mu.Lock()
	if o.ended {
		o.mu.Unlock()
		nc.Close()
		return errors.New("shutting down")
	}
	o.nc, o.addr = nc, addr
	o.w = xmlstream.NewWriter(nc, o.m.cfg.QueueSize, o.m.cfg.WriteTimeout, stanza.NSServer, func(err error) {
		o.log.Debug("write failed", "err", err)
		nc.Close()
	})
	o.dec = xmlstream.NewDecoder(nc, o.m.limits)
	o.mu.Unlock()
	nc.SetDeadline(time.Now().Add(o.m.cfg.HandshakeTimeout))
	err := o.negotiate(directTLS)
	if err != nil {
		o.mu.Lock()
		w := o.w
		// Verification requests sent on this connection go again on
		// the next one, once it is secure.
		o.verifyOpen = false
		for _, v := range o.verifying {
			o.toVerify = append(o.toVerify, v)
		}
		clear(o.verifying)
		o.secure, o.tlsInfo, o.certErr, o.auth = false, "none", errors.New("no TLS"), ""
		o.mu.Unlock()
		var se *stanza.StreamError
		if !errors.As(err, &se) {
			// Our own reasons to give up: say goodbye properly.
			w.Close(nil)
			select {
			case <-w.Done():
			case <-time.After(time.Second):
			}
		}
		w.Stop()
		o.nc.Close()
		return err
	}
	o.nc.SetDeadline(time.Time{})
	return nil
}

// next reads the next element, answering dialback verification replies
// on the way; a stream error from the peer is returned as the error.
func (o *outConn) next() (*stanza.Element, error) {
	for {
		el, err := o.dec.ReadElement()
		if err != nil {
			return nil, err
		}
		if el.Name == (stanza.Name{Space: stanza.NSDialback, Local: "verify"}) {
			o.verifyAnswered(el)
			continue
		}
		return el, nil
	}
}

// openStream sends our header and reads the peer's header and features.
func (o *outConn) openStream() (*stanza.Element, error) {
	o.w.SendRaw(header(o.local, o.remote, ""))
	h, err := o.dec.ReadHeader()
	if err != nil {
		return nil, err
	}
	if se := checkHeader(h); se != nil {
		o.closeWithError(se)
		return nil, se
	}
	if from := h.Attr("from"); from != "" && !equalDomain(from, o.remote) {
		o.log.Info("the remote server's stream names another domain", "from", from)
	}
	o.mu.Lock()
	o.streamID = h.Attr("id")
	o.mu.Unlock()
	f, err := o.next()
	if err != nil {
		return nil, err
	}
	if f.Name != (stanza.Name{Space: stanza.NSStream, Local: "features"}) {
		return nil, fmt.Errorf("expected stream features, got <%s>", f.Name.Local)
	}
	return f, nil
}

func (o *outConn) setAuth(method string) {
	o.mu.Lock()
	o.auth = method
	o.mu.Unlock()
}

// closeWithError ends the stream we opened with a stream error.
func (o *outConn) closeWithError(se *stanza.StreamError) {
	o.w.Close(se.Element())
}

// equalDomain compares domains as prepared names.
func equalDomain(a, b string) bool {
	pa, err1 := idna.Lookup.ToASCII(a)
	pb, err2 := idna.Lookup.ToASCII(b)
	return err1 == nil && err2 == nil && pa == pb
}

// negotiate runs TLS and authentication of the first pair (RFC 6120 §5,
// §6; XEP-0178; XEP-0220).
func (o *outConn) negotiate(directTLS bool) error {
	if directTLS {
		if err := o.startTLS(true); err != nil {
			return errNextTarget{err}
		}
	}
	for range 4 { // bounded: TLS, SASL, and one spare restart
		f, err := o.openStream()
		if err != nil {
			return err
		}
		if o.auth != "" {
			// The stream after SASL success.
			return nil
		}
		if !o.secure {
			if f.Child(stanza.NSTLS, "starttls") != nil {
				o.w.Send(stanza.New(stanza.NSTLS, "starttls"))
				el, err := o.next()
				if err != nil {
					return err
				}
				if el.Name != (stanza.Name{Space: stanza.NSTLS, Local: "proceed"}) {
					return errors.New("the remote server refused STARTTLS")
				}
				if err := o.startTLS(false); err != nil {
					return err
				}
				continue
			}
			if o.m.cfg.RequireEncryption {
				o.closeWithError(stanza.NewStreamError(stanza.StreamPolicyViolation, "TLS is required"))
				return errors.New("the remote server does not offer TLS, and s2s.require_encryption is on")
			}
		}
		if o.certErr != nil && o.m.secure(o.remote) {
			o.closeWithError(stanza.NewStreamError(stanza.StreamPolicyViolation, "your certificate is not valid for "+o.remote))
			return fmt.Errorf("certificate not valid for %s and the domain requires one: %v", o.remote, o.certErr)
		}
		o.mu.Lock()
		o.dialback = f.Child(nsDialbackFeature, "dialback") != nil
		o.mu.Unlock()
		o.openVerify()
		mechs := mechanisms(f)
		if o.secure && slices.Contains(mechs, "EXTERNAL") {
			ok, err := o.saslExternal()
			if err != nil {
				return err
			}
			if ok {
				continue
			}
		}
		if o.m.cfg.DigestMD5 && o.m.cfg.DigestMD5Secrets[o.remote] != "" && slices.Contains(mechs, sasl.DigestMD5) {
			ok, err := o.saslDigest()
			if err != nil {
				return err
			}
			if ok {
				continue
			}
		}
		if o.m.cfg.Dialback && (o.dialback || len(mechs) == 0) {
			return o.dialbackAuth()
		}
		o.closeWithError(stanza.NewStreamError(stanza.StreamPolicyViolation, "no common authentication method"))
		return errors.New("no way to authenticate: the remote server accepts neither our certificate nor dialback")
	}
	return errors.New("too many stream restarts")
}

// startTLS runs the client side of TLS, presenting our certificate for
// the local domain, and checks the peer's for the remote domain (RFC 6125).
func (o *outConn) startTLS(direct bool) error {
	name, err := idna.Lookup.ToASCII(o.remote)
	if err != nil {
		name = o.remote
	}
	cert := o.m.opt.Certs.ForHost(o.local)
	cfg := &tls.Config{
		ServerName: name,
		// Verified below against the remote domain, with our roots.
		InsecureSkipVerify: true,
		MinVersion:         tls.VersionTLS12,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			if cert == nil {
				return &tls.Certificate{}, nil
			}
			return cert, nil
		},
	}
	if o.m.opt.Config.TLS.MinVersion == "1.3" {
		cfg.MinVersion = tls.VersionTLS13
	}
	if direct {
		cfg.NextProtos = []string{ALPNServer}
	}
	tc := tls.Client(o.dec.TLSTransport(o.nc), cfg)
	ctx, cancel := context.WithTimeout(context.Background(), o.m.cfg.HandshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		return fmt.Errorf("TLS handshake: %w", err)
	}
	cs := tc.ConnectionState()
	o.mu.Lock()
	o.secure = true
	o.nc = tc
	o.tlsInfo = tlsState(&cs)
	o.certErr = o.m.certStatus(cs.PeerCertificates, o.remote)
	o.mu.Unlock()
	o.w.SetConn(tc)
	o.dec.Reset(tc)
	o.log.Debug("TLS established", "tls", o.tlsInfo, "certificate", describeCert(o.certErr))
	return nil
}

// saslExternal authenticates with our certificate (XEP-0178 §2). It
// reports false when the peer refused, so that the caller can fall back.
func (o *outConn) saslExternal() (bool, error) {
	o.w.Send(stanza.New(stanza.NSSASL, "auth").SetAttr("mechanism", "EXTERNAL").
		AppendText(base64.StdEncoding.EncodeToString([]byte(o.local))))
	el, err := o.next()
	if err != nil {
		return false, err
	}
	switch el.Name {
	case stanza.Name{Space: stanza.NSSASL, Local: "success"}:
		o.setAuth("SASL EXTERNAL")
		o.dec.Restart()
		return true, nil
	case stanza.Name{Space: stanza.NSSASL, Local: "failure"}:
		o.log.Info("the remote server refused our certificate (SASL EXTERNAL)")
		return false, nil
	}
	return false, fmt.Errorf("unexpected <%s> during SASL", el.Name.Local)
}

// saslDigest authenticates with the secret shared with the peer (seed 6-4).
func (o *outConn) saslDigest() (bool, error) {
	cl, err := sasl.NewClient(sasl.DigestMD5, sasl.ClientConfig{
		Username: o.local,
		Password: o.m.cfg.DigestMD5Secrets[o.remote],
		Host:     o.remote,
	})
	if err != nil {
		return false, err
	}
	resp, err := cl.Step(nil)
	if err != nil {
		return false, err
	}
	auth := stanza.New(stanza.NSSASL, "auth").SetAttr("mechanism", sasl.DigestMD5)
	if resp != nil {
		auth.AppendText(sasl.EncodePayload(resp))
	}
	o.w.Send(auth)
	for range 4 {
		el, err := o.next()
		if err != nil {
			return false, err
		}
		data, dok := sasl.DecodePayload(el.Text())
		switch el.Name {
		case stanza.Name{Space: stanza.NSSASL, Local: "challenge"}:
			if !dok {
				return false, errors.New("bad base64 in a SASL challenge")
			}
			r, err := cl.Step(data)
			if err != nil {
				o.w.Send(stanza.New(stanza.NSSASL, "abort"))
				return false, err
			}
			o.w.Send(stanza.New(stanza.NSSASL, "response").AppendText(sasl.EncodePayload(r)))
		case stanza.Name{Space: stanza.NSSASL, Local: "success"}:
			if !dok || cl.Verify(data) != nil {
				return false, errors.New("the remote server's DIGEST-MD5 success did not prove it knows the secret")
			}
			o.setAuth("SASL DIGEST-MD5")
			o.dec.Restart()
			return true, nil
		case stanza.Name{Space: stanza.NSSASL, Local: "failure"}:
			o.log.Info("the remote server refused our DIGEST-MD5 secret")
			return false, nil
		default:
			return false, fmt.Errorf("unexpected <%s> during SASL", el.Name.Local)
		}
	}
	return false, errors.New("too many SASL challenges")
}

// dialbackAuth sends our dialback key and waits for the verdict
// (XEP-0220 §2.1.1, §2.1.4).
func (o *outConn) dialbackAuth() error {
	if o.streamID == "" {
		return errors.New("the remote server's stream has no id, needed for dialback")
	}
	o.w.Send(dbElement("result", o.local, o.remote, "").AppendText(dialbackKey(o.m.opt.Secret, o.remote, o.local, o.streamID)))
	for range 64 {
		el, err := o.next()
		if err != nil {
			return err
		}
		if el.Name != (stanza.Name{Space: stanza.NSDialback, Local: "result"}) {
			return fmt.Errorf("unexpected <%s> while waiting for the dialback result", el.Name.Local)
		}
		if el.Attr("to") != o.local || !equalDomain(el.Attr("from"), o.remote) {
			continue
		}
		switch el.Attr("type") {
		case "valid":
			o.setAuth("dialback")
			return nil
		case "invalid":
			return errors.New("the remote server found our dialback key invalid")
		default:
			if e := stanza.ParseError(el); e != nil {
				return fmt.Errorf("dialback refused: %v", e)
			}
			return errors.New("dialback refused")
		}
	}
	return errors.New("no dialback result")
}

// readLoop reads what the peer sends on our stream once it is up: answers
// to dialback requests (verifications, further pairs) and the end.
func (o *outConn) readLoop() {
	for {
		el, err := o.next()
		if err != nil {
			var se *stanza.StreamError
			switch {
			case errors.Is(err, xmlstream.ErrStreamEnd):
				o.log.Debug("the remote server closed the stream")
			case errors.As(err, &se):
				o.log.Info("stream error from the remote server", "condition", string(se.Condition), "text", se.Text)
			default:
				o.log.Debug("link lost", "err", err)
			}
			return
		}
		if el.Name == (stanza.Name{Space: stanza.NSDialback, Local: "result"}) {
			local := el.Attr("to")
			switch el.Attr("type") {
			case "valid":
				o.log.Info("domain authenticated over the link (dialback)", "domain", local)
				o.pairReady(local)
			default:
				o.log.Info("the remote server refused a domain over the link", "domain", local)
				o.pairFailed(local, stanza.NewError(stanza.RemoteServerNotFound, "the remote server did not accept "+local))
			}
			continue
		}
		o.log.Info("unexpected element on an outbound stream", "name", el.Name.Local)
		o.closeWithError(stanza.NewStreamError(stanza.StreamUnsupportedStanzaType, "this stream carries stanzas from us to you only"))
	}
}

// checkIdle closes the link once it has carried nothing for
// s2s.idle_timeout.
func (o *outConn) checkIdle() {
	idle := time.Since(time.Unix(0, o.used.Load()))
	o.mu.Lock()
	busy := o.queued > 0 || len(o.verifying) > 0 || len(o.toVerify) > 0
	if o.ended {
		o.mu.Unlock()
		return
	}
	if busy || idle < o.m.cfg.IdleTimeout {
		o.idle.Reset(max(o.m.cfg.IdleTimeout-idle, time.Second))
		o.mu.Unlock()
		return
	}
	o.mu.Unlock()
	o.log.Info("closing an idle link", "idle", idle.Round(time.Second))
	o.shutdown()
}

// shutdown closes our stream: nothing more is accepted, and the
// connection ends when the peer closes too or after close_timeout.
func (o *outConn) shutdown() {
	o.mu.Lock()
	if o.ended {
		o.mu.Unlock()
		return
	}
	o.ended = true
	w, nc := o.w, o.nc
	if nc != nil {
		o.closeTimer = time.AfterFunc(o.m.cfg.CloseTimeout, func() { nc.Close() })
	}
	o.mu.Unlock()
	if w != nil {
		w.Close(nil)
	}
}

// abort drops the connection at once.
func (o *outConn) abort() {
	o.mu.Lock()
	o.ended = true
	nc := o.nc
	o.mu.Unlock()
	if nc != nil {
		nc.Close()
	}
}

// fail bounces everything queued with err.
func (o *outConn) fail(err *stanza.Error) {
	o.mu.Lock()
	o.ended = true
	var lost []queued
	for _, pr := range o.pairs {
		lost = append(lost, pr.queue...)
		pr.queue = nil
	}
	o.queued = 0
	o.mu.Unlock()
	for _, q := range lost {
		o.m.bounce(q.p, err)
	}
}

// finish releases the link once its goroutine is done: stanzas never
// written are sent again on a new link (once), the rest bounced, and
// pending verifications fail.
func (o *outConn) finish() {
	o.mu.Lock()
	o.ended = true
	w, nc := o.w, o.nc
	if o.idle != nil {
		o.idle.Stop()
	}
	verifies := append(o.toVerify, slices.Collect(maps.Values(o.verifying))...)
	o.toVerify, o.verifying = nil, map[string]*verifyReq{}
	retried := o.retried
	o.mu.Unlock()
	o.m.removeOut(o)
	var left []*stanza.Element
	if w != nil {
		w.Close(nil)
		select {
		case <-w.Done():
		case <-time.After(o.m.cfg.WriteTimeout):
		}
		left = w.Stop()
	}
	if nc != nil {
		nc.Close()
	}
	o.mu.Lock()
	if o.closeTimer != nil {
		o.closeTimer.Stop()
	}
	o.mu.Unlock()
	o.fail(stanza.NewError(stanza.RemoteServerNotFound, "the link to the remote server closed"))
	for _, v := range verifies {
		if v.timer != nil {
			v.timer.Stop()
		}
		v.done(false, stanza.NewError(stanza.RemoteServerNotFound, "the link to the authoritative server closed"))
	}
	o.resend(left, retried)
	o.log.Info("link closed", "stanzas", o.stanzas.Load())
}

// resend routes stanzas a dead link never wrote onto a new link, once;
// those that already had their second chance are bounced.
func (o *outConn) resend(left []*stanza.Element, retried map[*stanza.Element]bool) {
	profile := o.m.opt.Config.Profile()
	for _, el := range left {
		from, err1 := profile.Parse(el.Attr("from"))
		to, err2 := profile.Parse(el.Attr("to"))
		if err1 != nil || err2 != nil {
			continue
		}
		p := &router.Packet{El: el, From: from, To: to}
		if retried[el] {
			o.m.bounce(p, stanza.NewError(stanza.RemoteServerTimeout, "the link to the remote server failed twice"))
			continue
		}
		o.m.send(p, 1)
	}
}

// info describes the link.
func (o *outConn) info() LinkInfo {
	o.mu.Lock()
	defer o.mu.Unlock()
	li := LinkInfo{
		ID: o.id, Direction: "out", Remote: []string{o.remote}, Auth: o.auth, TLS: o.tlsInfo,
		Certificate: describeCert(o.certErr), Addr: o.addr, Since: o.since, Stanzas: o.stanzas.Load(),
	}
	for d, pr := range o.pairs {
		if pr.valid {
			li.Local = append(li.Local, d)
		}
	}
	slices.Sort(li.Local)
	return li
}
