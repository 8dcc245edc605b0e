// Package server assembles a Starling server from its configuration: the
// store, the certificates, the router and the client listeners, started in
// that order and stopped in reverse. It is a library first: cmd/starling
// and the tests start servers the same way, several per process if needed.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"

	"github.com/starling-xmpp/starling/account"
	"github.com/starling-xmpp/starling/c2s"
	"github.com/starling-xmpp/starling/config"
	"github.com/starling-xmpp/starling/module"
	"github.com/starling-xmpp/starling/router"
	"github.com/starling-xmpp/starling/s2s"
	"github.com/starling-xmpp/starling/sasl"
	"github.com/starling-xmpp/starling/storage/memory"
	"github.com/starling-xmpp/starling/storage/sqlstore"
	"github.com/starling-xmpp/starling/tlsconf"
	"github.com/starling-xmpp/starling/web"
)

// Store is everything the server needs from its database.
type Store interface {
	account.Store
	module.Store
	Credentials(ctx context.Context, host, user string) (sasl.Credentials, error)
	AccountExists(ctx context.Context, host, user string) (bool, error)
	Secret(ctx context.Context, name string, size int) ([]byte, error)
	Close() error
}

// OpenStore opens the configured store, creating the data directory.
func OpenStore(ctx context.Context, cfg *config.Config) (Store, error) {
	switch cfg.Storage.Driver {
	case "memory":
		return memory.New(), nil
	case "sqlite":
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("data directory: %w", err)
		}
		return sqlstore.OpenSQLite(ctx, cfg.StoragePath())
	}
	return nil, fmt.Errorf("unknown storage driver %q", cfg.Storage.Driver)
}

// Accounts returns the account manager for cfg over store.
func Accounts(cfg *config.Config, store account.Store) *account.Manager {
	return &account.Manager{
		Store:      store,
		Profile:    cfg.Profile(),
		Hosts:      cfg.Hosts,
		Iterations: cfg.SASL.ScramIterations,
		DigestMD5:  cfg.SASL.DigestMD5,
	}
}

// NewLogger builds the structured log the configuration asks for.
func NewLogger(cfg config.Log, w io.Writer) *slog.Logger {
	level := slog.LevelInfo
	level.UnmarshalText([]byte(cfg.Level))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// Server is a running (or ready to run) Starling.
type Server struct {
	cfg    *config.Config
	log    *slog.Logger
	store  Store
	certs  *tlsconf.Certs
	router *router.Router
	host   *module.Host
	c2s    *c2s.Server
	s2s    *s2s.Manager // nil when federation is off
	web    *web.Server  // nil when http.enabled is off

	mu        sync.Mutex
	listeners map[string][]net.Listener
	admin     net.Listener
	pprof     *http.Server // PprofListen; nil when off
	pprofAddr net.Addr
	wg        sync.WaitGroup
}

// New prepares a server: it opens the store and loads (or generates) the
// certificates, but listens on nothing until Start.
func New(ctx context.Context, cfg *config.Config, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	store, err := OpenStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	certs, err := tlsconf.LoadCerts(cfg.TLS, cfg.Hosts, cfg.DataDir)
	if err != nil {
		store.Close()
		return nil, err
	}
	if certs.SelfSigned {
		log.Warn("using a self-signed certificate; clients will ask to trust it (set tls.certificates for a real one)", "files", certs.Files)
	}
	secret, err := store.Secret(ctx, "sasl-fake-credentials", 32)
	if err != nil {
		store.Close()
		return nil, err
	}
	r := router.New(router.Config{
		Hosts:                 cfg.Hosts,
		Accounts:              store,
		Logger:                log.With("component", "router"),
		MaxSessionsPerAccount: cfg.C2S.MaxSessionsPerAccount,
	})
	s := &Server{
		cfg:       cfg,
		log:       log,
		store:     store,
		certs:     certs,
		router:    r,
		listeners: map[string][]net.Listener{},
	}
	s.host = module.NewHost(cfg, r, store, Accounts(cfg, store), log.With("component", "modules"))
	if err := registerModules(s.host, cfg); err != nil {
		store.Close()
		return nil, err
	}
	if cfg.S2S.Enabled {
		if s.s2s, err = newFederation(ctx, cfg, store, certs, r, log); err != nil {
			store.Close()
			return nil, err
		}
	}
	s.c2s = c2s.NewServer(c2s.Options{
		Config:      cfg,
		Router:      r,
		Credentials: store,
		Certs:       certs,
		Secret:      secret,
		Logger:      log.With("component", "c2s"),
		Extensions:  s.host,
	})
	if cfg.HTTP.Enabled {
		s.web = web.New(web.Options{Config: cfg, C2S: s.c2s, Certs: certs, Logger: log.With("component", "http")})
	}
	return s, nil
}

// newFederation builds the s2s manager: a dialback secret kept in the
// store (so that keys stay valid across a restart), the CAs trusted for
// peer certificates, and the router's route to remote domains.
func newFederation(ctx context.Context, cfg *config.Config, store Store, certs *tlsconf.Certs, r *router.Router, log *slog.Logger) (*s2s.Manager, error) {
	secret, err := store.Secret(ctx, "dialback", 32)
	if err != nil {
		return nil, err
	}
	roots, err := tlsconf.PeerRoots(cfg.S2S.SystemRoots, cfg.S2S.CAFiles)
	if err != nil {
		return nil, fmt.Errorf("s2s.ca_files: %w", err)
	}
	m := s2s.New(s2s.Options{
		Config: cfg,
		Router: r,
		Certs:  certs,
		Roots:  roots,
		Secret: secret,
		Logger: log.With("component", "s2s"),
	})
	r.SetFederation(m)
	return m, nil
}

// Listener kinds.
const (
	C2S          = "c2s"
	C2SDirectTLS = "c2s_direct_tls"
	S2S          = "s2s"
	S2SDirectTLS = "s2s_direct_tls"
	HTTP         = "http"
	HTTPS        = "https"
)

// Start opens the listeners and serves them in the background. If one
// address cannot be bound, nothing is left listening.
func (s *Server) Start() error {
	type spec struct {
		kind  string
		addrs []string
	}
	var opened []net.Listener
	specs := []spec{{C2S, s.cfg.C2S.Listen}, {C2SDirectTLS, s.cfg.C2S.DirectTLS}}
	if s.s2s != nil {
		specs = append(specs, spec{S2S, s.cfg.S2S.Listen}, spec{S2SDirectTLS, s.cfg.S2S.DirectTLS})
	}
	if s.web != nil {
		specs = append(specs, spec{HTTP, s.cfg.HTTP.Listen}, spec{HTTPS, s.cfg.HTTP.TLSListen})
	}
	for _, sp := range specs {
		for _, a := range sp.addrs {
			ln, err := net.Listen("tcp", a)
			if err != nil {
				for _, l := range opened {
					l.Close()
				}
				return fmt.Errorf("listen %s (%s): %w", a, sp.kind, err)
			}
			opened = append(opened, ln)
			s.mu.Lock()
			s.listeners[sp.kind] = append(s.listeners[sp.kind], ln)
			s.mu.Unlock()
		}
	}
	if path := s.cfg.AdminSocketPath(); path != "" {
		ln, err := listenAdmin(path)
		if err != nil {
			for _, l := range opened {
				l.Close()
			}
			return err
		}
		s.admin = ln
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serveAdmin(ln)
		}()
	}
	if s.cfg.PprofListen != "" {
		if err := s.startPprof(); err != nil {
			for _, l := range opened {
				l.Close()
			}
			if s.admin != nil {
				s.admin.Close()
			}
			return fmt.Errorf("pprof_listen: %w", err)
		}
	}
	for kind, lns := range s.listeners {
		for _, ln := range lns {
			s.log.Info("listening", "kind", kind, "addr", ln.Addr().String())
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				var err error
				switch kind {
				case S2S, S2SDirectTLS:
					err = s.s2s.Serve(ln, kind == S2SDirectTLS)
				case HTTP, HTTPS:
					err = s.web.Serve(ln, kind == HTTPS)
				default:
					err = s.c2s.Serve(ln, kind == C2SDirectTLS)
				}
				if err != nil && !errors.Is(err, c2s.ErrServerClosed) && !errors.Is(err, s2s.ErrServerClosed) {
					s.log.Error("listener failed", "addr", ln.Addr().String(), "err", err)
				}
			}()
		}
	}
	s.log.Info("serving", "hosts", s.cfg.Hosts)
	return nil
}

// Addrs returns the bound addresses of one kind of listener (C2S,
// C2SDirectTLS, S2S, S2SDirectTLS, HTTP, HTTPS), useful when the configuration asked for port 0.
func (s *Server) Addrs(kind string) []net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []net.Addr
	for _, ln := range s.listeners[kind] {
		out = append(out, ln.Addr())
	}
	return out
}

// Router returns the router, for tests and in-process extensions.
func (s *Server) Router() *router.Router { return s.router }

// Host returns the module host, for tests.
func (s *Server) Host() *module.Host { return s.host }

// Accounts returns the account manager over this server's store.
func (s *Server) Accounts() *account.Manager { return Accounts(s.cfg, s.store) }

// Federation returns the s2s manager, nil when s2s.enabled is off.
func (s *Server) Federation() *s2s.Manager { return s.s2s }

// Connections returns the number of open client connections.
func (s *Server) Connections() int { return s.c2s.Connections() }

// Certificates returns the certificates the server presents.
func (s *Server) Certificates() *tlsconf.Certs { return s.certs }

// Shutdown closes every stream with system-shutdown, waits for the
// connections to end (or for ctx), then closes the store.
func (s *Server) Shutdown(ctx context.Context) error {
	s.log.Info("shutting down")
	if s.admin != nil {
		s.admin.Close() // also removes the socket file
	}
	if s.pprof != nil {
		s.pprof.Close()
	}
	if s.web != nil {
		// Stop taking new requests; the WebSocket streams are client
		// streams, closed with the others.
		s.web.Shutdown(ctx)
	}
	err := s.c2s.Shutdown(ctx)
	if s.s2s != nil {
		// After the clients: their last presence still goes out.
		if serr := s.s2s.Shutdown(ctx); serr != nil && err == nil {
			err = serr
		}
	}
	s.wg.Wait()
	if cerr := s.store.Close(); cerr != nil && err == nil {
		err = cerr
	}
	s.log.Info("stopped")
	return err
}
