// Package c2s serves client-to-server XML streams (RFC 6120): the stream
// header rules of seed §3, STARTTLS and direct TLS (§4), SASL (§5, §6),
// resource binding including several resources on one stream (§7), and the
// validation and 'from' stamping of every stanza a client sends (§10) before
// the router delivers it.
//
// Each connection has one goroutine that reads and negotiates (conn.serve)
// and one that writes (writer). The reader owns all stream state; other
// goroutines only queue stanzas for writing or ask the stream to close.
package c2s

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"

	"github.com/starling-xmpp/starling/config"
	"github.com/starling-xmpp/starling/internal/netutil"
	"github.com/starling-xmpp/starling/router"
	"github.com/starling-xmpp/starling/sasl"
	"github.com/starling-xmpp/starling/stanza"
	"github.com/starling-xmpp/starling/tlsconf"
	"github.com/starling-xmpp/starling/xmlstream"
)

// Credentials looks up an account's stored SASL credentials; it returns an
// error wrapping storage.ErrNotFound for unknown accounts.
type Credentials interface {
	Credentials(ctx context.Context, host, user string) (sasl.Credentials, error)
}

// StreamInfo describes a stream to extensions.
type StreamInfo struct {
	// Host is the domain the client asked for.
	Host string
	// Secure is true once TLS is on.
	Secure bool
	// Authenticated is true after SASL success.
	Authenticated bool
	// Remote is the client's address.
	Remote net.Addr
}

// Extensions lets modules add to streams: stream features, and IQs served
// before authentication (in-band registration). The module host implements
// it.
type Extensions interface {
	// StreamFeatures returns elements to add to <stream:features/>.
	StreamFeatures(s StreamInfo) []*stanza.Element
	// PreAuthIQ answers an IQ sent before authentication; handled is
	// false when no extension serves its payload.
	PreAuthIQ(ctx context.Context, s StreamInfo, iq *stanza.Element) (res *stanza.Element, handled bool, err error)
}

// Options is what a c2s Server needs.
type Options struct {
	Config      *config.Config
	Router      *router.Router
	Credentials Credentials
	Certs       *tlsconf.Certs
	// Secret keys the fake SCRAM salts given for unknown users.
	Secret []byte
	Logger *slog.Logger
	// Extensions may be nil.
	Extensions Extensions
}

// Server accepts client connections.
type Server struct {
	opt     Options
	cfg     *config.Config
	log     *slog.Logger
	baseTLS *tls.Config
	limits  xmlstream.Limits

	nextID atomic.Uint64
	mu     sync.Mutex
	conns  map[*conn]struct{}
	lns    []net.Listener
	closed bool
	wg     sync.WaitGroup
}

// NewServer returns a server; call Serve for each listener.
func NewServer(opt Options) *Server {
	s := &Server{
		opt:     opt,
		cfg:     opt.Config,
		log:     opt.Logger,
		baseTLS: tlsconf.ServerConfig(opt.Config.TLS, opt.Certs),
		conns:   map[*conn]struct{}{},
		limits: xmlstream.Limits{
			MaxStanzaBytes: opt.Config.XML.MaxStanzaBytes,
			MaxDepth:       opt.Config.XML.MaxDepth,
			MaxAttrs:       opt.Config.XML.MaxAttrs,
			StrictEscaping: opt.Config.XML.StrictEscaping,
		},
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s
}

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("c2s: server closed")

// Serve accepts connections on ln until Shutdown. With directTLS, every
// connection starts with a TLS handshake (XEP-0368); otherwise clients
// upgrade with STARTTLS.
func (s *Server) Serve(ln net.Listener, directTLS bool) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.lns = append(s.lns, ln)
	s.mu.Unlock()
	err := netutil.AcceptLoop(ln, s.log, func(nc net.Conn) {
		if c := s.newConn(nc, directTLS); c != nil {
			go c.serve()
		}
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrServerClosed
	}
	return err
}

func (s *Server) newConn(nc net.Conn, directTLS bool) *conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		nc.Close()
		return nil
	}
	c := newConn(s, nc, directTLS)
	c.overLimit = s.cfg.C2S.MaxConnections > 0 && len(s.conns) >= s.cfg.C2S.MaxConnections
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	return c
}

func (s *Server) remove(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.wg.Done()
}

// Connections returns the number of open client connections.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Shutdown stops accepting, closes every stream with a system-shutdown
// stream error, and waits for the connections to end (each waits up to
// c2s.close_timeout for its client's closing tag). When ctx ends first, the
// remaining connections are dropped.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	for _, ln := range s.lns {
		ln.Close()
	}
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.closeWith(stanza.NewStreamError(stanza.StreamSystemShutdown, "the server is shutting down"))
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		for c := range s.conns {
			c.nc.Close()
		}
		s.mu.Unlock()
		<-done
		return ctx.Err()
	}
}
