// Package netutil holds the network plumbing client and server listeners
// share, and FreePorts for tests and tools that start other servers.
package netutil

import (
	"errors"
	"log/slog"
	"net"
	"syscall"
	"time"
)

// AcceptLoop accepts connections on ln and hands each to handle until
// Accept fails for good (the listener was closed), returning that error.
// Passing failures, a timeout or running out of file descriptors, are
// retried after a pause that doubles from 5 ms to 1 s, as net/http does.
func AcceptLoop(ln net.Listener, log *slog.Logger, handle func(net.Conn)) error {
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if !passing(err) {
				return err
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			log.Warn("accept failed; retrying", "err", err, "delay", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		handle(nc)
	}
}

func passing(err error) bool {
	if errors.Is(err, net.ErrClosed) {
		return false
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}
