package server

import (
	"errors"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// startPprof serves Go's profiler on the loopback address of
// cfg.PprofListen (config check refuses any other), for profiling the
// server under load (docs/performance.md). It is off by default.
func (s *Server) startPprof() error {
	ln, err := net.Listen("tcp", s.cfg.PprofListen)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	s.pprof = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	s.pprofAddr = ln.Addr()
	s.log.Info("profiler listening", "addr", ln.Addr().String())
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.pprof.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("profiler failed", "err", err)
		}
	}()
	return nil
}

// PprofAddr is the profiler's address, nil when pprof_listen is empty.
func (s *Server) PprofAddr() net.Addr { return s.pprofAddr }
