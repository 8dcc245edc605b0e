// Package s2s carries stanzas between Starling and other XMPP servers
// (RFC 6120, seed §3.1, 3.2-6, 6-3, 6-4, §8, 10.1-4, 10.1-5, 10.7-2).
//
// Outbound links are opened on demand: the remote domain is resolved
// (s2s.hosts, else _xmpps-server and _xmpp-server SRV records, else the
// domain on port 5269), the stream is secured with STARTTLS or direct TLS,
// and this server authenticates with SASL EXTERNAL (XEP-0178) when the peer
// accepts its certificate, SASL DIGEST-MD5 with a shared secret when
// configured (seed 6-4), or server dialback (XEP-0220, keys per XEP-0185).
// Stanzas wait in a bounded queue while the link comes up and are bounced
// to their senders if it cannot.
//
// Inbound links accept the same three methods. Every stanza received must
// come from a domain the link authenticated and go to one of ours, or the
// stream ends with invalid-from, host-unknown or improper-addressing.
//
// One link carries several domain pairs: a second local domain is
// authenticated over an established outbound link with another dialback
// request (XEP-0220 §4, "piggybacking"), and an inbound link accepts such
// requests. Dialback verification requests are sent over the outbound link
// to the domain being verified, before or after that link authenticates
// itself.
package s2s

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/starling-xmpp/starling/config"
	"github.com/starling-xmpp/starling/internal/netutil"
	"github.com/starling-xmpp/starling/jid"
	"github.com/starling-xmpp/starling/resolve"
	"github.com/starling-xmpp/starling/router"
	"github.com/starling-xmpp/starling/stanza"
	"github.com/starling-xmpp/starling/tlsconf"
	"github.com/starling-xmpp/starling/xmlstream"
)

// Options is what a Manager needs.
type Options struct {
	Config *config.Config
	Router *router.Router
	Certs  *tlsconf.Certs
	// Roots verifies peer certificates (tlsconf.PeerRoots).
	Roots *x509.CertPool
	// Secret keys dialback (XEP-0185); it must stay the same while links
	// are being verified, and differ between servers.
	Secret []byte
	// Resolver finds remote servers; nil uses the system's DNS.
	Resolver *resolve.Resolver
	Logger   *slog.Logger
}

// Manager owns every server-to-server link. It implements
// router.Federation.
type Manager struct {
	opt    Options
	cfg    *config.S2S
	r      *router.Router
	log    *slog.Logger
	limits xmlstream.Limits
	// baseTLS is the server side of TLS on inbound links.
	baseTLS *tls.Config

	nextID    atomic.Uint64
	verifying atomic.Int32 // dialback verifications awaiting an answer

	mu      sync.Mutex
	closed  bool
	out     map[string][]*outConn // remote domain → its outbound links
	in      map[*inConn]struct{}
	backoff map[string]*retry // remote domains that could not be reached
	hosts   map[string]string // address overrides: s2s.hosts, SetAddress
	res     *resolve.Resolver
	lns     []net.Listener
	wg      sync.WaitGroup
}

// retry remembers a domain that could not be reached (RFC 6120 §3.3).
type retry struct {
	until time.Time
	delay time.Duration
	why   string // the last failure, told to senders bounced meanwhile
}

// New returns a manager; call Serve for each listener and install it with
// Router.SetFederation.
func New(opt Options) *Manager {
	m := &Manager{
		opt:     opt,
		cfg:     &opt.Config.S2S,
		r:       opt.Router,
		log:     opt.Logger,
		out:     map[string][]*outConn{},
		in:      map[*inConn]struct{}{},
		backoff: map[string]*retry{},
		baseTLS: tlsconf.ServerConfig(opt.Config.TLS, opt.Certs),
		hosts:   maps.Clone(opt.Config.S2S.Hosts),
		res:     opt.Resolver,
		limits: xmlstream.Limits{
			MaxStanzaBytes: opt.Config.XML.MaxStanzaBytes,
			MaxDepth:       opt.Config.XML.MaxDepth,
			MaxAttrs:       opt.Config.XML.MaxAttrs,
			StrictEscaping: opt.Config.XML.StrictEscaping,
		},
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	if m.res == nil {
		m.res = &resolve.Resolver{}
	}
	if m.hosts == nil {
		m.hosts = map[string]string{}
	}
	return m
}

// SetAddress makes links to domain connect to addr (host:port, with
// STARTTLS) instead of asking DNS, like an s2s.hosts entry; an empty addr
// removes the override. It affects links opened afterwards.
func (m *Manager) SetAddress(domain, addr string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if addr == "" {
		delete(m.hosts, domain)
	} else {
		m.hosts[domain] = addr
	}
	delete(m.backoff, domain)
}

// SetResolver replaces the DNS resolver for links opened afterwards.
func (m *Manager) SetResolver(r *resolve.Resolver) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.res = r
}

// target returns the address override for domain, if any, and the
// resolver otherwise.
func (m *Manager) target(domain string) (string, *resolve.Resolver) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.hosts[domain], m.res
}

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("s2s: closed")

// Serve accepts server connections on ln until Shutdown; with directTLS
// each starts with a TLS handshake (XEP-0368).
func (m *Manager) Serve(ln net.Listener, directTLS bool) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	m.lns = append(m.lns, ln)
	m.mu.Unlock()
	err := netutil.AcceptLoop(ln, m.log, func(nc net.Conn) {
		m.mu.Lock()
		if m.closed {
			m.mu.Unlock()
			nc.Close()
			return
		}
		c := newInConn(m, nc, directTLS)
		c.overLimit = m.linksLocked() >= m.cfg.MaxLinks
		m.in[c] = struct{}{}
		m.wg.Add(1)
		m.mu.Unlock()
		go c.serve()
	})
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrServerClosed
	}
	return err
}

func (m *Manager) linksLocked() int {
	n := len(m.in)
	for _, l := range m.out {
		n += len(l)
	}
	return n
}

func (m *Manager) removeIn(c *inConn) {
	m.mu.Lock()
	delete(m.in, c)
	m.mu.Unlock()
	m.wg.Done()
}

// SendRemote implements router.Federation: it queues p on the link from
// p.From's domain to p.To's, opening one if needed. Seed 10.1-4: what
// leaves always carries a 'from' on one of our domains.
func (m *Manager) SendRemote(ctx context.Context, p *router.Packet) {
	local, remote := p.From.Domain(), p.To.Domain()
	if !m.r.IsLocal(local) || m.r.IsLocal(remote) {
		return
	}
	// The router reuses p: queue a copy.
	q := *p
	if q.El.Attr("from") == "" || q.El.Attr("to") == "" {
		q.El = q.El.ShallowCopy()
		q.El.SetAttr("from", q.From.String())
		q.El.SetAttr("to", q.To.String())
	}
	m.send(&q, 0)
}

// send queues p; tries counts how often it was already queued on a link
// that died before writing it.
func (m *Manager) send(p *router.Packet, tries int) {
	local, remote := p.From.Domain(), p.To.Domain()
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		m.bounce(p, stanza.NewError(stanza.RemoteServerNotFound, "the server is shutting down"))
		return
	}
	if b := m.backoff[remote]; b != nil && time.Now().Before(b.until) {
		text := "the remote server could not be reached recently (" + b.why + "); retrying after " + time.Until(b.until).Round(time.Second).String()
		m.mu.Unlock()
		m.bounce(p, stanza.NewError(stanza.RemoteServerNotFound, text))
		return
	}
	o := m.linkFor(local, remote)
	if o == nil {
		m.mu.Unlock()
		m.bounce(p, stanza.NewError(stanza.RemoteServerNotFound, "too many server-to-server links"))
		return
	}
	m.mu.Unlock()
	o.enqueue(local, queued{p: p, tries: tries})
}

// linkFor finds or starts the outbound link that will carry stanzas from
// local to remote. A link that already carries the pair (or is bringing it
// up) is used; otherwise an established link to the same remote domain
// takes the new pair with a dialback request; otherwise a new link starts.
// It returns nil past s2s.max_links. m.mu is held.
func (m *Manager) linkFor(local, remote string) *outConn {
	links := m.out[remote]
	for _, o := range links {
		if o.carries(local) {
			return o
		}
	}
	for _, o := range links {
		if o.adopt(local) {
			return o
		}
	}
	if m.linksLocked() >= m.cfg.MaxLinks {
		return nil
	}
	o := newOutConn(m, local, remote)
	m.out[remote] = append(links, o)
	m.wg.Add(1)
	go o.run()
	return o
}

// removeOut forgets a finished outbound link.
func (m *Manager) removeOut(o *outConn) {
	m.mu.Lock()
	m.out[o.remote] = slices.DeleteFunc(m.out[o.remote], func(x *outConn) bool { return x == o })
	if len(m.out[o.remote]) == 0 {
		delete(m.out, o.remote)
	}
	m.mu.Unlock()
}

// failed records that remote could not be reached, and why: further
// attempts wait a randomised, doubling delay (RFC 6120 §3.3).
func (m *Manager) failed(remote, why string) time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	b := m.backoff[remote]
	if b == nil {
		b = &retry{delay: m.cfg.RetryDelay}
	} else {
		b.delay = min(2*b.delay, m.cfg.MaxRetryDelay)
	}
	d := b.delay/2 + rand.N(b.delay/2+1)
	b.until = time.Now().Add(d)
	b.why = why
	m.backoff[remote] = b
	return d
}

// succeeded forgets past failures to reach remote.
func (m *Manager) succeeded(remote string) {
	m.mu.Lock()
	delete(m.backoff, remote)
	m.mu.Unlock()
}

// bounce answers a stanza that cannot be delivered to a remote domain.
func (m *Manager) bounce(p *router.Packet, err *stanza.Error) {
	m.r.Bounce(p, err)
}

// deliver routes a stanza that arrived on an inbound link.
func (m *Manager) deliver(ctx context.Context, el *stanza.Element, from, to jid.JID) {
	m.r.RouteRemote(ctx, el, from, to)
}

// secure reports whether domain must prove itself with a certificate.
func (m *Manager) secure(domain string) bool { return m.opt.Config.SecureDomain(domain) }

// verify asks the authoritative server of originating whether key is the
// one it generated for a stream to local with id streamID (XEP-0220 §2.1.3).
// done is called once, from another goroutine, with "valid", "invalid" or
// an error.
func (m *Manager) verify(local, originating, streamID, key string, done func(valid bool, err *stanza.Error)) {
	if int(m.verifying.Add(1)) > m.cfg.MaxPendingVerifications {
		m.verifying.Add(-1)
		done(false, stanza.NewError(stanza.ResourceConstraint, "too many dialback verifications in progress"))
		return
	}
	var once sync.Once
	finish := func(valid bool, err *stanza.Error) {
		once.Do(func() {
			m.verifying.Add(-1)
			done(valid, err)
		})
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		finish(false, stanza.NewError(stanza.RemoteServerNotFound, "the server is shutting down"))
		return
	}
	o := m.linkFor(local, originating)
	m.mu.Unlock()
	if o == nil {
		finish(false, stanza.NewError(stanza.ResourceConstraint, "too many server-to-server links"))
		return
	}
	o.requestVerify(&verifyReq{from: local, to: originating, id: streamID, key: key, done: finish})
}

// LinkInfo describes one live link, for operators.
type LinkInfo struct {
	ID        uint64
	Direction string // "in" or "out"
	// Local and Remote are the authenticated domain pairs' two sides:
	// for an outbound link, our domains and the peer's; for an inbound
	// link, the same (our domains it may address, the peer's domains).
	Local, Remote []string
	// Auth is how the link authenticated: "SASL EXTERNAL", "SASL
	// DIGEST-MD5", "dialback", or "" while negotiating.
	Auth string
	// TLS is the protocol version and cipher suite, or "none".
	TLS string
	// Certificate says whether the peer's certificate is valid for its
	// domain ("valid", or why not).
	Certificate string
	Addr        string
	Since       time.Time
	Stanzas     uint64 // stanzas carried so far
}

// Links returns the live links, outbound first.
func (m *Manager) Links() []LinkInfo {
	m.mu.Lock()
	var outs []*outConn
	for _, l := range m.out {
		outs = append(outs, l...)
	}
	ins := make([]*inConn, 0, len(m.in))
	for c := range m.in {
		ins = append(ins, c)
	}
	m.mu.Unlock()
	var infos []LinkInfo
	for _, o := range outs {
		infos = append(infos, o.info())
	}
	for _, c := range ins {
		infos = append(infos, c.info())
	}
	slices.SortFunc(infos, func(a, b LinkInfo) int {
		if a.Direction != b.Direction {
			if a.Direction == "out" {
				return -1
			}
			return 1
		}
		return int(a.ID) - int(b.ID)
	})
	return infos
}

// Shutdown stops accepting, closes every link (inbound ones with
// system-shutdown), bounces what is still queued, and waits for the links
// to end or for ctx.
func (m *Manager) Shutdown(ctx context.Context) error {
	m.mu.Lock()
	m.closed = true
	for _, ln := range m.lns {
		ln.Close()
	}
	var outs []*outConn
	for _, l := range m.out {
		outs = append(outs, l...)
	}
	var ins []*inConn
	for c := range m.in {
		ins = append(ins, c)
	}
	m.mu.Unlock()
	for _, o := range outs {
		o.shutdown()
	}
	for _, c := range ins {
		c.closeWith(stanza.NewStreamError(stanza.StreamSystemShutdown, "the server is shutting down"))
	}
	done := make(chan struct{})
	go func() { m.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		m.mu.Lock()
		for c := range m.in {
			c.abort()
		}
		for _, l := range m.out {
			for _, o := range l {
				o.abort()
			}
		}
		m.mu.Unlock()
		<-done
		return ctx.Err()
	}
}

// linkLog returns the logger of a new link.
func (m *Manager) linkLog(dir string, id uint64) *slog.Logger {
	return m.log.With("link", dir+"-"+strconv.FormatUint(id, 10))
}
