package server_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/starling-xmpp/starling/client"
	"github.com/starling-xmpp/starling/internal/testserver"
	"github.com/starling-xmpp/starling/sasl"
	"github.com/starling-xmpp/starling/stanza"
	"github.com/starling-xmpp/starling/tlsconf"
	"github.com/starling-xmpp/starling/xmlstream"
)

const open = `<?xml version='1.0'?><stream:stream to='localhost' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func chat(to, body string) *stanza.Element {
	return stanza.New("", "message").SetAttr("to", to).SetAttr("type", "chat").Append(stanza.New("", "body").AppendText(body))
}

// recvStanza skips nothing: the next element must be a stanza.
func recvStanza(t *testing.T, s *client.Session) *stanza.Element {
	t.Helper()
	el, err := s.Recv(ctxT(t))
	if err != nil {
		t.Fatalf("%s: recv: %v", s.JID(), err)
	}
	return el
}

// Seed 3.3.2-4: stream ids are unique within the server.
func TestSeed3_3_2_4_UniqueStreamIDs(t *testing.T) {
	srv := testserver.Start(t, "")
	re := regexp.MustCompile(`<stream:stream [^>]*id='([^']+)'`)
	seen := map[string]bool{}
	for i := range 100 {
		c, err := net.Dial("tcp", srv.Addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, open)
		buf := make([]byte, 0, 1024)
		tmp := make([]byte, 512)
		for !re.Match(buf) {
			n, err := c.Read(tmp)
			if err != nil {
				t.Fatalf("connection %d: %v (read %q)", i, err, buf)
			}
			buf = append(buf, tmp[:n]...)
		}
		id := re.FindSubmatch(buf)[1]
		if seen[string(id)] {
			t.Fatalf("stream id %q repeated", id)
		}
		if len(id) < 16 {
			t.Errorf("stream id %q is short; ids should be unguessable", id)
		}
		seen[string(id)] = true
		c.Close()
	}
}

// recorder keeps a copy of everything read from a connection.
type recorder struct {
	net.Conn
	mu  sync.Mutex
	buf bytes.Buffer
}

func (r *recorder) Read(b []byte) (int, error) {
	n, err := r.Conn.Read(b)
	r.mu.Lock()
	r.buf.Write(b[:n])
	r.mu.Unlock()
	return n, err
}

func (r *recorder) bytes() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]byte(nil), r.buf.Bytes()...)
}

// Seed 4-2 and 5-2: no whitespace between the elements the server sends
// while negotiating TLS and SASL. The client records the plaintext part of
// the connection (up to TLS) and, through a second recorder over the TLS
// layer, the SASL negotiation.
func TestSeed4_2_5_2_NoWhitespaceDuringNegotiation(t *testing.T) {
	srv := testserver.Start(t, "c2s:\n  allow_plaintext: true\n")
	srv.AddUser(t, "alice@localhost", "pw")

	// STARTTLS: everything the server sends before the TLS handshake.
	raw, err := net.Dial("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{Conn: raw}
	cfg := srv.ClientConfig(t, "alice@localhost/ws", "pw")
	s, err := client.NewSession(ctxT(t), rec, cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	plain := rec.bytes()
	end := bytes.Index(plain, []byte("<proceed"))
	if end < 0 {
		t.Fatalf("no <proceed/> in %q", plain)
	}
	checkNoWhitespace(t, "TLS negotiation", plain[:end+len("<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")])

	// SASL, on a plaintext stream so the bytes are visible.
	raw, err = net.Dial("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	rec = &recorder{Conn: raw}
	cfg.Plaintext, cfg.AllowPLAIN, cfg.Mechanism = true, true, sasl.SCRAMSHA256
	s, err = client.NewSession(ctxT(t), rec, cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	all := rec.bytes()
	end = bytes.Index(all, []byte("</success>"))
	if end < 0 {
		t.Fatalf("no </success> in %q", all)
	}
	checkNoWhitespace(t, "SASL negotiation", all[:end+len("</success>")])
}

func checkNoWhitespace(t *testing.T, what string, b []byte) {
	t.Helper()
	if m := regexp.MustCompile(`>\s+<`).Find(b); m != nil {
		t.Errorf("%s: whitespace between elements (%q) in %q", what, m, b)
	}
}

// Seed 9-1 on the wire: a plaintext stream shows exactly what the server
// writes.
func TestSeed9_1_WireEscaping(t *testing.T) {
	srv := testserver.Start(t, "c2s:\n  allow_plaintext: true\n")
	srv.AddUser(t, "alice@localhost", "pw")
	srv.AddUser(t, "bob@localhost", "pw")
	alice := srv.Login(t, "alice@localhost/a", "pw")
	raw, err := net.Dial("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{Conn: raw}
	cfg := srv.ClientConfig(t, "bob@localhost/b", "pw")
	cfg.Plaintext, cfg.AllowPLAIN = true, true
	bob, err := client.NewSession(ctxT(t), rec, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()
	m := chat("bob@localhost/b", `it's <b> & "q" > 1`)
	m.SetAttr("id", `a'b"c<d>&`)
	if err := alice.Send(m); err != nil {
		t.Fatal(err)
	}
	recvStanza(t, bob)
	wire := string(rec.bytes())
	for _, want := range []string{
		"<body>it&apos;s &lt;b&gt; &amp; &quot;q&quot; &gt; 1</body>",
		`id="a&apos;b&quot;c&lt;d&gt;&amp;"`,
	} {
		if !strings.Contains(wire, want) && !strings.Contains(wire, strings.ReplaceAll(want, `"`, "'")) {
			t.Errorf("wire lacks %s:\n%s", want, wire)
		}
	}
}

// Seed 6-1 through the server: a client offering only
// TLS_RSA_WITH_3DES_EDE_CBC_SHA completes STARTTLS when tls.legacy_ciphers
// is on, and is refused when it is off (the default).
func TestSeed6_1_3DESOverSTARTTLS(t *testing.T) {
	for _, on := range []bool{false, true} {
		t.Run(fmt.Sprintf("legacy_ciphers=%v", on), func(t *testing.T) {
			srv := testserver.Start(t, fmt.Sprintf("tls:\n  legacy_ciphers: %v\n", on))
			srv.AddUser(t, "alice@localhost", "pw")
			cfg := srv.ClientConfig(t, "alice@localhost/old", "pw")
			cfg.TLS.MaxVersion = tls.VersionTLS12
			cfg.TLS.CipherSuites = []uint16{tlsconf.Legacy3DES}
			s, err := client.Dial(ctxT(t), cfg)
			if on {
				if err != nil {
					t.Fatalf("3DES client refused with legacy_ciphers on: %v", err)
				}
				defer s.Close()
				if got := s.TLS().CipherSuite; got != tlsconf.Legacy3DES {
					t.Errorf("negotiated %s", tls.CipherSuiteName(got))
				}
				return
			}
			if err == nil {
				s.Close()
				t.Fatal("3DES client connected with legacy_ciphers off")
			}
		})
	}
}

// Seed 5-1, 6-2: every mechanism and channel-binding type logs in.
func TestSeed5_1_EveryMechanism(t *testing.T) {
	srv := testserver.Start(t, "sasl:\n  digest_md5: true\n")
	srv.AddUser(t, "alice@localhost", "pässwörd")
	for _, mech := range sasl.Mechanisms() {
		cbs := []string{""}
		if sasl.IsPlus(mech) {
			cbs = []string{sasl.CBTLSExporter, sasl.CBTLSServerEndPoint}
		}
		for _, cb := range cbs {
			t.Run(mech+"/"+cb, func(t *testing.T) {
				cfg := srv.ClientConfig(t, "alice@localhost/"+mech, "pässwörd")
				cfg.Mechanism, cfg.ChannelBinding = mech, cb
				s, err := client.Dial(ctxT(t), cfg)
				if err != nil {
					t.Fatalf("login: %v", err)
				}
				defer s.Close()
				if s.Mechanism() != mech {
					t.Errorf("used %s", s.Mechanism())
				}
				cfg.Password = "wrong"
				cfg.JID = cfg.JID.Bare()
				if _, err := client.Dial(ctxT(t), cfg); err == nil {
					t.Error("a wrong password logged in")
				}
			})
		}
	}
}

// Graceful shutdown closes every stream with <system-shutdown/>.
func TestShutdownSendsSystemShutdown(t *testing.T) {
	srv := testserver.Start(t, "")
	srv.AddUser(t, "alice@localhost", "pw")
	alice := srv.Login(t, "alice@localhost/a", "pw")
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- srv.Shutdown(ctx)
	}()
	_, err := alice.Recv(ctxT(t))
	var se *stanza.StreamError
	if !errors.As(err, &se) || se.Condition != stanza.StreamSystemShutdown {
		t.Fatalf("got %v, want a system-shutdown stream error", err)
	}
	if _, err := alice.Next(ctxT(t)); !errors.Is(err, xmlstream.ErrStreamEnd) {
		t.Fatalf("after the error: %v, want the closing tag", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if _, err := net.DialTimeout("tcp", srv.Addr, time.Second); err == nil {
		t.Error("still accepting connections after shutdown")
	}
}

// Bad input from one client never costs another client anything, and
// every connection is cleaned up: no goroutine or descriptor stays behind.
func TestBadInputLeavesServerServing(t *testing.T) {
	srv := testserver.Start(t, "xml:\n  max_stanza_bytes: 10000\nc2s:\n  handshake_timeout: 2s\n")
	srv.AddUser(t, "alice@localhost", "pw")
	srv.AddUser(t, "bob@localhost", "pw")
	before := runtime.NumGoroutine()

	bad := []string{
		"\x00\x01\x02 binary garbage",
		open + "<message><body>unclosed",
		open + "<!DOCTYPE x>",
		open + strings.Repeat("<a>", 200),
		open + "<message>" + strings.Repeat("x", 20000) + "</message>",
		"<?xml version='1.0' encoding='UTF-16'?>",
		open + "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>\x16\x03\x01 not a tls hello",
		open + "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGFsaWNlAHB3</auth>",
		open[:40],
		"",
		"\xff\xfe<\x00s\x00",
	}
	var wg sync.WaitGroup
	for _, b := range bad {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", srv.Addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			io.WriteString(c, b)
			if len(b)%2 == 0 {
				// Vanish mid-stream half of the time; read the
				// server's answer otherwise.
				return
			}
			io.Copy(io.Discard, c)
		}()
	}
	// Logged-in clients that vanish without closing.
	for range 3 {
		s := srv.Login(t, "alice@localhost", "pw")
		s.Abort()
	}
	wg.Wait()

	// Service continues.
	alice := srv.Login(t, "alice@localhost/a", "pw")
	bob := srv.Login(t, "bob@localhost/b", "pw")
	if err := alice.Send(chat("bob@localhost/b", "still up")); err != nil {
		t.Fatal(err)
	}
	if got := recvStanza(t, bob); got.ChildText("", "body") != "still up" {
		t.Fatalf("got %s", got)
	}
	alice.Close()
	bob.Close()

	// Everything is released (bounded wait: handshake_timeout cleans up
	// the connections that sent half a header).
	deadline := time.Now().Add(8 * time.Second)
	for srv.Connections() > 0 || runtime.NumGoroutine() > before+2 {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			n := runtime.Stack(buf, true)
			t.Fatalf("%d connections and %d goroutines (was %d) left:\n%s", srv.Connections(), runtime.NumGoroutine(), before, buf[:n])
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A client that stops reading is disconnected once c2s.queue_size stanzas
// wait for it, and the senders of what could not be queued are told
// (recipient-unavailable); the router never blocks on it.
func TestSlowReaderIsCutOff(t *testing.T) {
	srv := testserver.Start(t, "c2s:\n  queue_size: 8\n  write_timeout: 2s\n")
	srv.AddUser(t, "alice@localhost", "pw")
	srv.AddUser(t, "bob@localhost", "pw")
	alice := srv.Login(t, "alice@localhost/a", "pw")

	// bob logs in over a connection whose reads we hold back.
	raw, err := net.Dial("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	gate := &gatedConn{Conn: raw, open: make(chan struct{})}
	close(gate.open) // negotiate normally
	bob, err := client.NewSession(ctxT(t), gate, srv.ClientConfig(t, "bob@localhost/b", "pw"))
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Abort()
	gate.block()

	big := strings.Repeat("x", 60000)
	errs := 0
	deadline := time.Now().Add(15 * time.Second)
	for i := 0; errs == 0 && time.Now().Before(deadline); i++ {
		if err := alice.Send(chat("bob@localhost/b", big)); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		el, err := alice.Recv(ctx)
		cancel()
		if err == nil && stanza.IsError(el) {
			if e := stanza.ParseError(el); e.Condition != stanza.RecipientUnavailable {
				t.Fatalf("bounce condition %s, want recipient-unavailable", e.Condition)
			}
			errs++
		}
	}
	if errs == 0 {
		t.Fatal("the sender never heard that the recipient could not take more")
	}
	// bob's session is gone from the router.
	deadline = time.Now().Add(5 * time.Second)
	for srv.Router().Session(bob.JID()) != nil {
		if time.Now().After(deadline) {
			t.Fatal("the slow client is still bound")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// gatedConn can stop delivering reads, like a client that stops reading.
type gatedConn struct {
	net.Conn
	mu   sync.Mutex
	open chan struct{}
}

func (g *gatedConn) block() {
	g.mu.Lock()
	g.open = make(chan struct{})
	g.mu.Unlock()
}

func (g *gatedConn) Close() error {
	g.mu.Lock()
	select {
	case <-g.open:
	default:
		close(g.open)
	}
	g.mu.Unlock()
	return g.Conn.Close()
}

func (g *gatedConn) Read(b []byte) (int, error) {
	g.mu.Lock()
	ch := g.open
	g.mu.Unlock()
	<-ch
	return g.Conn.Read(b)
}

// Seed §3 (RFC 6120 §4.6.1): whitespace between stanzas is a keepalive and
// is ignored, before and after negotiation.
func TestWhitespaceKeepalives(t *testing.T) {
	srv := testserver.Start(t, "")
	srv.AddUser(t, "alice@localhost", "pw")
	srv.AddUser(t, "bob@localhost", "pw")
	alice := srv.Login(t, "alice@localhost/a", "pw")
	bob := srv.Login(t, "bob@localhost/b", "pw")
	for i := range 3 {
		if err := alice.SendRaw([]byte(" \n\t \r\n ")); err != nil {
			t.Fatal(err)
		}
		if err := alice.Send(chat("bob@localhost/b", fmt.Sprint("after keepalive ", i))); err != nil {
			t.Fatal(err)
		}
		if got := recvStanza(t, bob); got.ChildText("", "body") != fmt.Sprint("after keepalive ", i) {
			t.Fatalf("got %s", got)
		}
	}
}
