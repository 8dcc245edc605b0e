package client_test

import (
	"net"
	"testing"

	"github.com/starling-xmpp/starling/client"
	"github.com/starling-xmpp/starling/internal/testserver"
	"github.com/starling-xmpp/starling/jid"
)

// TestLocalAddr: Config.LocalAddr chooses the address the connection
// comes from (here 127.0.0.2, another loopback address on Linux), and a
// session dialled from it works.
func TestLocalAddr(t *testing.T) {
	local := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}
	if l, err := net.Listen("tcp", "127.0.0.2:0"); err != nil {
		// Linux routes all of 127.0.0.0/8 to loopback; other systems
		// may have 127.0.0.1 alone.
		t.Skipf("127.0.0.2 is not a local address here: %v", err)
	} else {
		l.Close()
	}

	// The address the server sees.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	seen := make(chan net.Addr, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			seen <- nil
			return
		}
		seen <- c.RemoteAddr()
		c.Close()
	}()
	cfg := client.Config{JID: jid.MustParse("alice@localhost"), Addr: ln.Addr().String(), LocalAddr: local, Plaintext: true}
	if s, err := client.Dial(ctxT(t), cfg); err == nil {
		s.Abort()
		t.Fatal("Dial succeeded against a listener that closes at once")
	}
	if a, _ := (<-seen).(*net.TCPAddr); a == nil || !a.IP.Equal(local.IP) {
		t.Errorf("the server saw a connection from %v, want %v", a, local.IP)
	}

	// A whole session from that address.
	srv := testserver.Start(t, "")
	srv.AddUser(t, "alice@localhost", "pw")
	cfg = srv.ClientConfig(t, "alice@localhost", "pw")
	cfg.LocalAddr = local
	s, err := client.Dial(ctxT(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Ping(ctxT(t), jid.JID{}); err != nil {
		t.Fatal(err)
	}
}
