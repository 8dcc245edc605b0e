package interop

import (
	"context"
	"crypto/x509"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/starling-xmpp/starling/client"
	"github.com/starling-xmpp/starling/internal/testca"
	"github.com/starling-xmpp/starling/stanza"
)

// cutter forwards TCP connections to target and can drop them all at
// once, as a network failure would.
type cutter struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func newCutter(t *testing.T, target string) *cutter {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &cutter{ln: ln}
	t.Cleanup(func() { ln.Close(); c.cut() })
	go func() {
		for {
			a, err := ln.Accept()
			if err != nil {
				return
			}
			b, err := net.Dial("tcp", target)
			if err != nil {
				a.Close()
				continue
			}
			c.mu.Lock()
			c.conns = append(c.conns, a, b)
			c.mu.Unlock()
			go func() { io.Copy(b, a); b.Close() }()
			go func() { io.Copy(a, b); a.Close() }()
		}
	}()
	return c
}

func (c *cutter) cut() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, x := range c.conns {
		x.Close()
	}
	c.conns = nil
}

// TestProsodyClientReconnects: Starling's managed client connection to
// Prosody comes back after the test kills it, logs in again, re-sends
// initial presence and receives messages again (seed 3.1-3).
func TestProsodyClientReconnects(t *testing.T) {
	findProsody(t)
	ca := testca.New(t)
	cert, key := prosodyCert(t, ca, "prosody.test")
	p := StartProsody(t, ProsodyConfig{Domain: "prosody.test", CertFile: cert, KeyFile: key,
		Users: map[string]string{"romeo": prosodyPassword, "juliet": prosodyPassword}})
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca.CertPEM)
	cut := newCutter(t, p.C2SAddr)
	cfg := p.ClientConfig(t, "romeo", prosodyPassword, roots)
	cfg.Addr = cut.ln.Addr().String()
	msgs := make(chan string, 64)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, err := client.Connect(ctx, cfg, client.ManagedOptions{
		MinBackoff: 50 * time.Millisecond, MaxBackoff: 500 * time.Millisecond,
		Presence: stanza.New("", "presence"),
		OnConnect: func(ctx context.Context, s *client.Session) error {
			s.Handle("message", "", func(_ context.Context, m *stanza.Element) {
				if b := m.ChildText("", "body"); b != "" {
					msgs <- b
				}
			})
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	juliet := p.Login(t, "juliet", prosodyPassword, roots)
	say := func(body string) {
		t.Helper()
		// To the bare JID: delivered only once romeo's initial presence
		// is in, so this also checks that it was re-sent.
		deadline := time.Now().Add(10 * time.Second)
		for {
			juliet.Send(chat("romeo@prosody.test", body))
			select {
			case got := <-msgs:
				if got == body {
					return
				}
			case <-time.After(300 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				t.Fatalf("%q never arrived", body)
			}
		}
	}
	say("before")
	cut.cut()
	deadline := time.Now().Add(15 * time.Second)
	for m.Reconnects() < 1 {
		if time.Now().After(deadline) {
			t.Fatal("no reconnection")
		}
		time.Sleep(50 * time.Millisecond)
	}
	say("after")
}
