package client_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/starling-xmpp/starling/client"
	"github.com/starling-xmpp/starling/internal/dnstest"
	"github.com/starling-xmpp/starling/internal/testserver"
	"github.com/starling-xmpp/starling/jid"
	"github.com/starling-xmpp/starling/resolve"
	"github.com/starling-xmpp/starling/stanza"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func port(t *testing.T, addr string) uint16 {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return uint16(n)
}

// TestSeed3_1_2_SRV: with no address given, the client finds the server
// through SRV records: _xmpps-client first (direct TLS, XEP-0368), else
// _xmpp-client (STARTTLS), else the domain on 5222.
func TestSeed3_1_2_SRV(t *testing.T) {
	srv := testserver.Start(t, "")
	srv.AddUser(t, "alice@localhost", "pw")
	for _, tc := range []struct {
		name       string
		records    func(d *dnstest.Server)
		wantDirect bool
	}{
		{"xmpps-client preferred", func(d *dnstest.Server) {
			d.AddSRV("_xmpps-client._tcp.localhost", "xmpp.localhost", port(t, srv.TLSAddr), 5, 0)
			d.AddSRV("_xmpp-client._tcp.localhost", "xmpp.localhost", port(t, srv.Addr), 5, 0)
		}, true},
		{"xmpp-client", func(d *dnstest.Server) {
			d.AddSRV("_xmpp-client._tcp.localhost", "xmpp.localhost", port(t, srv.Addr), 5, 0)
		}, false},
		{"a dead target first", func(d *dnstest.Server) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			dead := port(t, ln.Addr().String())
			ln.Close()
			d.AddSRV("_xmpp-client._tcp.localhost", "xmpp.localhost", dead, 1, 0)
			d.AddSRV("_xmpp-client._tcp.localhost", "xmpp.localhost", port(t, srv.Addr), 2, 0)
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dns := dnstest.Start(t)
			dns.AddA("xmpp.localhost", netip.MustParseAddr("127.0.0.1"))
			tc.records(dns)
			cfg := srv.ClientConfig(t, "alice@localhost/srv", "pw")
			cfg.Addr = ""
			cfg.Resolver = &resolve.Resolver{DNS: dns.Resolver()}
			s, err := client.Dial(ctxT(t), cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if s.TLS() == nil {
				t.Fatal("no TLS")
			}
			direct := s.TLS().NegotiatedProtocol == "xmpp-client"
			if direct != tc.wantDirect {
				t.Errorf("direct TLS %v, want %v", direct, tc.wantDirect)
			}
		})
	}
}

// TestIQ: requests are correlated by id and sender; an error reply is a
// *stanza.Error; the context bounds the wait; handlers answer requests
// and may themselves send requests.
func TestIQ(t *testing.T) {
	srv := testserver.Start(t, "")
	for _, u := range []string{"alice", "bob", "carol"} {
		srv.AddUser(t, u+"@localhost", "pw")
	}
	alice := srv.Login(t, "alice@localhost/a", "pw")
	bob := srv.Login(t, "bob@localhost/b", "pw")
	carol := srv.Login(t, "carol@localhost/c", "pw")
	ctx := ctxT(t)

	if err := alice.Ping(ctx, jid.JID{}); err != nil {
		t.Fatalf("ping the server: %v", err)
	}
	// An error reply.
	_, err := alice.IQ(ctx, stanza.New("", "iq").SetAttr("type", "get").SetAttr("to", "nobody@localhost").
		Append(stanza.New("urn:example", "q")))
	var se *stanza.Error
	if !errors.As(err, &se) || se.Condition != stanza.ServiceUnavailable {
		t.Fatalf("got %v, want service-unavailable", err)
	}

	// A forged answer from carol, with the right id, is not taken for
	// bob's.
	bobName := stanza.Name{Space: "urn:example:echo", Local: "q"}
	bob.HandleIQ("get", bobName, func(ctx context.Context, iq *stanza.Element) (*stanza.Element, error) {
		// A handler may ask something itself.
		if err := bob.Ping(ctx, jid.JID{}); err != nil {
			return nil, err
		}
		return stanza.New(bobName.Space, "q").AppendText("from bob"), nil
	})
	carol.Send(stanza.New("", "iq").SetAttr("type", "result").SetAttr("id", "forged").SetAttr("to", alice.JID().String()))
	res, err := alice.IQ(ctx, stanza.New("", "iq").SetAttr("type", "get").SetAttr("id", "forged").
		SetAttr("to", bob.JID().String()).Append(stanza.New(bobName.Space, "q")))
	if err != nil || res.ChildText(bobName.Space, "q") != "from bob" || res.Attr("from") != bob.JID().String() {
		t.Fatalf("got %v, %v", res, err)
	}
	// carol's forgery was left for Recv.
	if el, err := alice.Recv(ctx); err != nil || el.Attr("from") != carol.JID().String() {
		t.Fatalf("Recv: %v, %v", el, err)
	}

	// Nobody answers: the context ends the wait.
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	_, err = alice.IQ(short, stanza.New("", "iq").SetAttr("type", "get").SetAttr("to", carol.JID().String()).
		Append(stanza.New("urn:example:silent", "q")))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want the deadline", err)
	}
}

// TestHandleAndServe: handlers by kind and namespace; Serve answers pings
// and refuses unknown requests (RFC 6120 §8.4); it returns the server's
// stream error.
func TestHandleAndServe(t *testing.T) {
	srv := testserver.Start(t, "")
	srv.AddUser(t, "alice@localhost", "pw")
	srv.AddUser(t, "bob@localhost", "pw")
	alice := srv.Login(t, "alice@localhost/a", "pw")
	bob := srv.Login(t, "bob@localhost/b", "pw")
	ctx := ctxT(t)

	got := make(chan string, 4)
	bob.Handle("message", "urn:example:x", func(_ context.Context, m *stanza.Element) { got <- "x:" + m.ChildText("", "body") })
	bob.Handle("message", "", func(_ context.Context, m *stanza.Element) { got <- "any:" + m.ChildText("", "body") })
	served := make(chan error, 1)
	go func() { served <- bob.Serve(ctx) }()

	alice.Send(stanza.New("", "message").SetAttr("to", bob.JID().String()).Append(stanza.New("", "body").AppendText("1")).Append(stanza.New("urn:example:x", "x")))
	alice.Send(stanza.New("", "message").SetAttr("to", bob.JID().String()).Append(stanza.New("", "body").AppendText("2")))
	for _, want := range []string{"x:1", "any:2"} {
		select {
		case g := <-got:
			if g != want {
				t.Fatalf("handler got %q, want %q", g, want)
			}
		case <-ctx.Done():
			t.Fatal("no message")
		}
	}
	if err := alice.Ping(ctx, bob.JID()); err != nil {
		t.Fatalf("ping bob: %v", err)
	}
	_, err := alice.IQ(ctx, stanza.New("", "iq").SetAttr("type", "get").SetAttr("to", bob.JID().String()).Append(stanza.New("urn:example:unknown", "q")))
	var se *stanza.Error
	if !errors.As(err, &se) || se.Condition != stanza.ServiceUnavailable {
		t.Fatalf("got %v, want service-unavailable", err)
	}
	// The server goes away: Serve reports its stream error.
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(sctx)
	var ste *stanza.StreamError
	if err := <-served; !errors.As(err, &ste) || ste.Condition != stanza.StreamSystemShutdown {
		t.Fatalf("Serve returned %v, want system-shutdown", err)
	}
}

// TestSeed9_2_RestrictedXMLFromServer: a server that sends a comment, a
// processing instruction or a DTD gets <restricted-xml/> and our closing
// tag, the connection ends, and the session reports it.
func TestSeed9_2_RestrictedXMLFromServer(t *testing.T) {
	for _, bad := range []string{"<!-- hi -->", "<?pi x?>", "<!DOCTYPE x>"} {
		t.Run(bad, func(t *testing.T) {
			s, p, _ := fakeLogin(t, "")
			defer s.Abort()
			io.WriteString(p.c, bad)
			_, err := s.Recv(ctxT(t))
			var pe *client.PeerError
			if !errors.As(err, &pe) || pe.Err.Condition != stanza.StreamRestrictedXML {
				t.Fatalf("Recv: %v, want a restricted-xml PeerError", err)
			}
			w, _ := p.readAll(5 * time.Second)
			if !strings.Contains(w, "<restricted-xml") || !strings.HasSuffix(w, "</stream:stream>") {
				t.Fatalf("the server got %q", w)
			}
		})
	}
}

// proxy forwards TCP connections to target, records what clients write,
// and can cut them all.
type proxy struct {
	ln     net.Listener
	mu     sync.Mutex
	conns  []net.Conn
	sent   bytes.Buffer // what the clients wrote
	target string
	// done is closed when the first connection's client-to-server
	// copy ends.
	done chan struct{}
	once sync.Once
}

func newProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, done: make(chan struct{})}
	t.Cleanup(func() { ln.Close(); p.cut() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			go func() {
				io.Copy(io.MultiWriter(u, p), c)
				u.Close()
				p.once.Do(func() { close(p.done) })
			}()
			go func() { io.Copy(c, u); c.Close() }()
		}
	}()
	return p
}

// addr is where clients connect.
func (p *proxy) addr() string { return p.ln.Addr().String() }

// Write records what a client wrote.
func (p *proxy) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sent.Write(b)
}

// bytes returns what the clients wrote so far.
func (p *proxy) bytes() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return bytes.Clone(p.sent.Bytes())
}

// cut drops every connection, as a network failure would.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// TestSeed3_1_3_Reconnect: a managed connection comes back after the
// network drops it, runs OnConnect again and re-sends initial presence;
// Close stops it for good.
func TestSeed3_1_3_Reconnect(t *testing.T) {
	srv := testserver.Start(t, "")
	srv.AddUser(t, "alice@localhost", "pw")
	srv.AddUser(t, "bob@localhost", "pw")
	p := newProxy(t, srv.Addr)
	cfg := srv.ClientConfig(t, "alice@localhost/m", "pw")
	cfg.Addr = p.addr()
	var mu sync.Mutex
	connects := 0
	msgs := make(chan string, 4)
	m, err := client.Connect(ctxT(t), cfg, client.ManagedOptions{
		MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
		Presence: stanza.New("", "presence"),
		OnConnect: func(ctx context.Context, s *client.Session) error {
			mu.Lock()
			connects++
			mu.Unlock()
			s.Handle("message", "", func(_ context.Context, m *stanza.Element) { msgs <- m.ChildText("", "body") })
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	bob := srv.Login(t, "bob@localhost/b", "pw")
	ctx := ctxT(t)
	send := func(body string) {
		bob.Send(stanza.New("", "message").SetAttr("to", "alice@localhost/m").SetAttr("type", "chat").Append(stanza.New("", "body").AppendText(body)))
		select {
		case got := <-msgs:
			if got != body {
				t.Fatalf("got %q, want %q", got, body)
			}
		case <-ctx.Done():
			t.Fatalf("%q not received", body)
		}
	}
	send("before")
	p.cut()
	deadline := time.Now().Add(8 * time.Second)
	for m.Reconnects() < 1 || m.Session() == nil || srv.Router().Session(jid.MustParse("alice@localhost/m")) == nil ||
		!srv.Router().Session(jid.MustParse("alice@localhost/m")).Available() {
		if time.Now().After(deadline) {
			t.Fatal("no reconnection")
		}
		time.Sleep(20 * time.Millisecond)
	}
	send("after")
	mu.Lock()
	if connects != 2 {
		t.Errorf("OnConnect ran %d times, want 2", connects)
	}
	mu.Unlock()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if m.Reconnects() != 1 || m.Session() != nil {
		t.Errorf("after Close: %d reconnects, session %v", m.Reconnects(), m.Session())
	}
}
