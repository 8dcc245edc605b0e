package netutil

import (
	"errors"
	"log/slog"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
)

// scripted is a listener whose Accept returns the given errors, then
// connections, then net.ErrClosed.
type scripted struct {
	net.Listener
	errs  []error
	conns int
}

func (s *scripted) Accept() (net.Conn, error) {
	if len(s.errs) > 0 {
		err := s.errs[0]
		s.errs = s.errs[1:]
		return nil, err
	}
	if s.conns > 0 {
		s.conns--
		a, b := net.Pipe()
		b.Close()
		return a, nil
	}
	return nil, net.ErrClosed
}

// TestAcceptLoop: passing failures are retried, every connection is
// handed over, and a closed listener ends the loop with its error.
func TestAcceptLoop(t *testing.T) {
	ln := &scripted{errs: []error{syscall.EMFILE, syscall.ENFILE}, conns: 3}
	var handled atomic.Int32
	err := AcceptLoop(ln, slog.New(slog.DiscardHandler), func(c net.Conn) {
		handled.Add(1)
		c.Close()
	})
	if !errors.Is(err, net.ErrClosed) || handled.Load() != 3 {
		t.Fatalf("err %v, %d handled; want net.ErrClosed after 3", err, handled.Load())
	}
	ln = &scripted{errs: []error{errors.New("something else")}, conns: 1}
	if err := AcceptLoop(ln, slog.New(slog.DiscardHandler), func(c net.Conn) { c.Close() }); err == nil || err.Error() != "something else" {
		t.Fatalf("got %v, want the lasting error", err)
	}
}
