// Package web is Starling's HTTP listener: XMPP over WebSocket (RFC 7395)
// at /xmpp-websocket, and the discovery files of XEP-0156
// (/.well-known/host-meta and host-meta.json). A WebSocket stream is a
// client stream like any other: package c2s negotiates, authenticates and
// routes it (c2s.Server.ServeConn); this package only frames it.
package web

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/starling-xmpp/starling/c2s"
	"github.com/starling-xmpp/starling/config"
	"github.com/starling-xmpp/starling/tlsconf"
)

// Options is what a web Server needs.
type Options struct {
	Config *config.Config
	C2S    *c2s.Server
	Certs  *tlsconf.Certs
	Logger *slog.Logger
}

// Server serves the HTTP endpoints.
type Server struct {
	opt     Options
	cfg     *config.Config
	log     *slog.Logger
	http    *http.Server
	proxies []netip.Prefix
	limits  sessions // web sessions per client address
	bosh    boshTable
}

// New returns a server; call Serve for each listener.
func New(opt Options) *Server {
	s := &Server{opt: opt, cfg: opt.Config, log: opt.Logger}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	for _, p := range opt.Config.HTTP.TrustedProxies {
		if pfx, err := netip.ParsePrefix(p); err == nil {
			s.proxies = append(s.proxies, pfx)
		} else if a, err := netip.ParseAddr(p); err == nil {
			s.proxies = append(s.proxies, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
		}
	}
	mux := http.NewServeMux()
	if s.cfg.HTTP.WebSocket {
		mux.HandleFunc("GET /xmpp-websocket", s.serveWebSocket)
	}
	mux.HandleFunc("GET /.well-known/host-meta", s.hostMeta)
	mux.HandleFunc("GET /.well-known/host-meta.json", s.hostMetaJSON)
	mux.Handle("GET /", s.page())
	s.http = &http.Server{
		Handler:           s.accessLog(mux),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.enableBOSH(mux)
	return s
}

// Serve answers HTTP on ln (HTTPS with the server's certificates when
// useTLS) until Shutdown.
func (s *Server) Serve(ln net.Listener, useTLS bool) error {
	if useTLS {
		cfg := tlsconf.ServerConfig(s.cfg.TLS, s.opt.Certs)
		cfg.NextProtos = []string{"http/1.1"}
		ln = tls.NewListener(ln, cfg)
	}
	err := s.http.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting requests. WebSocket streams are client
// streams: c2s.Server.Shutdown closes them, with <close/>.
func (s *Server) Shutdown(ctx context.Context) error { return s.http.Shutdown(ctx) }

// clientAddr is the client's address: the connection's peer, or what a
// trusted proxy says in X-Forwarded-For.
func (s *Server) clientAddr(r *http.Request) net.Addr {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return &net.TCPAddr{}
	}
	if s.trusted(peer.Addr()) {
		if fwd := r.Header.Get("X-Forwarded-For"); fwd != "" {
			// The right-most address is the one the proxy saw.
			parts := strings.Split(fwd, ",")
			if a, err := netip.ParseAddr(strings.TrimSpace(parts[len(parts)-1])); err == nil {
				return net.TCPAddrFromAddrPort(netip.AddrPortFrom(a, 0))
			}
		}
	}
	return net.TCPAddrFromAddrPort(peer)
}

func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.proxies {
		if p.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}

// secure reports whether the request reached us protected: over HTTPS,
// through a trusted proxy that says it terminated TLS, or from this very
// machine.
func (s *Server) secure(r *http.Request, client net.Addr) bool {
	if r.TLS != nil {
		return true
	}
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	if s.trusted(peer.Addr()) {
		return strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
	}
	c, ok := client.(*net.TCPAddr)
	return ok && c.IP.IsLoopback() && peer.Addr().IsLoopback()
}

// origins are the page origins allowed to open a WebSocket besides the
// request's own host.
func (s *Server) origins(*http.Request) []string { return s.cfg.HTTP.AllowedOrigins }

// endpoint is the WebSocket URL as the client reached us.
func (s *Server) endpoint(r *http.Request) string {
	scheme := "ws"
	if r.TLS != nil || s.secure(r, s.clientAddr(r)) && r.Header.Get("X-Forwarded-Proto") == "https" {
		scheme = "wss"
	}
	host := r.Host
	if fh := r.Header.Get("X-Forwarded-Host"); fh != "" && s.trustedRequest(r) {
		host = fh
	}
	return scheme + "://" + host + "/xmpp-websocket"
}

func (s *Server) trustedRequest(r *http.Request) bool {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	return err == nil && s.trusted(peer.Addr())
}

const (
	relWebSocket = "urn:xmpp:alt-connections:websocket"
	relBOSH      = "urn:xmpp:alt-connections:xbosh"
)

// boshEndpoint is the BOSH URL as the client reached us.
func (s *Server) boshEndpoint(r *http.Request) string {
	ws := s.endpoint(r)
	scheme := "http"
	if strings.HasPrefix(ws, "wss:") {
		scheme = "https"
	}
	_, rest, _ := strings.Cut(ws, "://")
	return scheme + "://" + strings.TrimSuffix(rest, "/xmpp-websocket") + "/http-bind"
}

// hostMeta serves XEP-0156's XRD document.
func (s *Server) hostMeta(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/xrd+xml; charset=utf-8")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	var links strings.Builder
	if s.cfg.HTTP.WebSocket {
		fmt.Fprintf(&links, "  <Link rel='%s' href='%s'/>\n", relWebSocket, xmlEscape(s.endpoint(r)))
	}
	if s.cfg.HTTP.BOSH {
		fmt.Fprintf(&links, "  <Link rel='%s' href='%s'/>\n", relBOSH, xmlEscape(s.boshEndpoint(r)))
	}
	fmt.Fprintf(w, "<?xml version='1.0' encoding='utf-8'?>\n<XRD xmlns='http://docs.oasis-open.org/ns/xri/xrd-1.0'>\n%s</XRD>\n", links.String())
}

// hostMetaJSON serves the JSON form (RFC 6415 §3.2).
func (s *Server) hostMetaJSON(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	type link struct {
		Rel  string `json:"rel"`
		Href string `json:"href"`
	}
	doc := struct {
		Links []link `json:"links"`
	}{Links: []link{}}
	if s.cfg.HTTP.WebSocket {
		doc.Links = append(doc.Links, link{relWebSocket, s.endpoint(r)})
	}
	if s.cfg.HTTP.BOSH {
		doc.Links = append(doc.Links, link{relBOSH, s.boshEndpoint(r)})
	}
	json.NewEncoder(w).Encode(doc)
}

func xmlEscape(s string) string {
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "'", "&apos;", "\"", "&quot;")
	return r.Replace(s)
}

// accessLog logs each request in the server's structured log.
func (s *Server) accessLog(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(rec, r)
		level := slog.LevelInfo
		if r.URL.Path == "/http-bind" {
			// A long poll every `wait` seconds per BOSH client.
			level = slog.LevelDebug
		}
		s.log.Log(r.Context(), level, "http", "method", r.Method, "path", r.URL.Path, "status", rec.status,
			"client", s.clientAddr(r).String(), "duration", time.Since(start).Round(time.Millisecond))
	})
}

// statusRecorder remembers the status code; it passes Hijack through for
// the WebSocket upgrade.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Hijack lets the WebSocket upgrade take the connection over.
func (r *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := r.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("web: the connection cannot be taken over")
	}
	r.status = http.StatusSwitchingProtocols
	return h.Hijack()
}
