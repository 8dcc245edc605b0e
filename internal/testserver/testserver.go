// Package testserver starts real Starling servers inside tests: listening on
// 127.0.0.1 port 0 (clients and servers), with a memory store, its own
// self-signed certificate in a temporary directory, an empty in-test DNS
// server for remote domains, and its log routed to the test's log.
package testserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/starling-xmpp/starling/client"
	"github.com/starling-xmpp/starling/config"
	"github.com/starling-xmpp/starling/internal/dnstest"
	"github.com/starling-xmpp/starling/jid"
	"github.com/starling-xmpp/starling/resolve"
	"github.com/starling-xmpp/starling/server"
)

// Server is a running test server.
type Server struct {
	*server.Server
	Config *config.Config
	// Addr and TLSAddr are the STARTTLS and direct-TLS listeners.
	Addr, TLSAddr string
	// S2SAddr and S2STLSAddr are the server-to-server listeners.
	S2SAddr, S2STLSAddr string
	// HTTPAddr is the web listener (WebSocket, discovery).
	HTTPAddr string
	// Pool trusts the server's certificate.
	Pool *x509.CertPool
}

// Start starts a server configured by yamlText (over the defaults, with
// listeners, data directory, store and SCRAM iterations set for tests
// unless yamlText sets them) and stops it when the test ends.
func Start(t testing.TB, yamlText string) *Server {
	t.Helper()
	cfg, err := config.Parse([]byte(yamlText), "test config")
	if err != nil {
		t.Fatalf("test config: %v", err)
	}
	var given map[string]any
	yaml.Unmarshal([]byte(yamlText), &given)
	set := func(section, key string) bool {
		m, _ := given[section].(map[string]any)
		_, ok := m[key]
		return ok
	}
	if !set("c2s", "listen") {
		cfg.C2S.Listen = []string{"127.0.0.1:0"}
	}
	if !set("c2s", "direct_tls") {
		cfg.C2S.DirectTLS = []string{"127.0.0.1:0"}
	}
	if !set("s2s", "listen") {
		cfg.S2S.Listen = []string{"127.0.0.1:0"}
	}
	if !set("s2s", "direct_tls") {
		cfg.S2S.DirectTLS = []string{"127.0.0.1:0"}
	}
	if _, ok := given["admin_socket"]; !ok {
		cfg.AdminSocket = ""
	}
	if !set("http", "listen") {
		cfg.HTTP.Listen = []string{"127.0.0.1:0"}
	}
	if !set("s2s", "system_roots") {
		cfg.S2S.SystemRoots = false
	}
	if !strings.Contains(yamlText, "data_dir:") {
		cfg.DataDir = t.TempDir()
	}
	if !strings.Contains(yamlText, "driver:") {
		cfg.Storage.Driver = "memory"
	}
	if !strings.Contains(yamlText, "scram_iterations:") {
		cfg.SASL.ScramIterations = 4096
	}
	if !strings.Contains(yamlText, "close_timeout:") {
		cfg.C2S.CloseTimeout = time.Second
	}
	if !strings.Contains(yamlText, "level:") {
		cfg.Log.Level = "debug"
	}
	lw := &logWriter{t: t}
	log := server.NewLogger(cfg.Log, lw)
	srv, err := server.New(context.Background(), cfg, log)
	if err != nil {
		t.Fatalf("server: %v", err)
	}
	if fed := srv.Federation(); fed != nil {
		// Remote domains resolve through an empty in-test DNS server
		// (tests add records or address overrides): no query leaves
		// the loopback interface.
		fed.SetResolver(&resolve.Resolver{DNS: dnstest.Start(t).Resolver()})
	}
	if err := srv.Start(); err != nil {
		t.Fatalf("server start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		lw.stop()
	})
	s := &Server{Server: srv, Config: cfg, Pool: x509.NewCertPool()}
	if a := srv.Addrs(server.C2S); len(a) > 0 {
		s.Addr = a[0].String()
	}
	if a := srv.Addrs(server.C2SDirectTLS); len(a) > 0 {
		s.TLSAddr = a[0].String()
	}
	if a := srv.Addrs(server.HTTP); len(a) > 0 {
		s.HTTPAddr = a[0].String()
	}
	if a := srv.Addrs(server.S2S); len(a) > 0 {
		s.S2SAddr = a[0].String()
	}
	if a := srv.Addrs(server.S2SDirectTLS); len(a) > 0 {
		s.S2STLSAddr = a[0].String()
	}
	for _, leaf := range srv.Certificates().Leaves() {
		s.Pool.AddCert(leaf)
	}
	return s
}

// AddUser creates an account.
func (s *Server) AddUser(t testing.TB, addr, password string) {
	t.Helper()
	if _, err := s.Accounts().Add(context.Background(), addr, password); err != nil {
		t.Fatalf("add user %s: %v", addr, err)
	}
}

// TLSConfig returns a client TLS configuration that trusts this server.
func (s *Server) TLSConfig() *tls.Config {
	return &tls.Config{RootCAs: s.Pool, ServerName: s.Config.Hosts[0]}
}

// ClientConfig returns a client configuration for addr (user@host[/res])
// that connects to this server over STARTTLS, verifying its certificate.
func (s *Server) ClientConfig(t testing.TB, addr, password string) client.Config {
	t.Helper()
	j, err := jid.Parse(addr)
	if err != nil {
		t.Fatalf("bad JID %q: %v", addr, err)
	}
	return client.Config{JID: j, Password: password, Addr: s.Addr, TLS: s.TLSConfig(), Timeout: 10 * time.Second}
}

// Login connects and logs in as addr, closing the session when the test
// ends.
func (s *Server) Login(t testing.TB, addr, password string) *client.Session {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, s.ClientConfig(t, addr, password))
	if err != nil {
		t.Fatalf("login %s: %v", addr, err)
	}
	t.Cleanup(func() { c.CloseTimeout(time.Second) })
	return c
}

// logWriter sends the server's log lines to the test log while the test
// runs, and drops them afterwards (late goroutines must not call t.Log).
type logWriter struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func (w *logWriter) stop() {
	w.mu.Lock()
	w.done = true
	w.mu.Unlock()
}

var _ io.Writer = (*logWriter)(nil)
