package client_test

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/starling-xmpp/starling/client"
	"github.com/starling-xmpp/starling/internal/testca"
	"github.com/starling-xmpp/starling/internal/testserver"
	"github.com/starling-xmpp/starling/jid"
	"github.com/starling-xmpp/starling/sasl"
	"github.com/starling-xmpp/starling/stanza"
	"github.com/starling-xmpp/starling/xmlstream"
)

// peer is the far end of a fake server connection, driven by the test.
type peer struct {
	t   *testing.T
	c   net.Conn
	dec *xmlstream.Decoder
	rec *recorder // what the client sent during negotiation
}

// recorder keeps a copy of what is read through it.
type recorder struct {
	r   io.Reader
	mu  sync.Mutex
	buf strings.Builder
	on  bool
}

func (r *recorder) Read(b []byte) (int, error) {
	n, err := r.r.Read(b)
	r.mu.Lock()
	if r.on {
		r.buf.Write(b[:n])
	}
	r.mu.Unlock()
	return n, err
}

func (r *recorder) stop() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.on = false
	return r.buf.String()
}

const fakeOpen = "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0' from='fake.test' id='x'>"

// fakeLogin starts a fake plaintext server and returns the client's
// session, logged in, and the server's side. The header the client sent
// first is returned too.
func fakeLogin(t *testing.T, lang string) (*client.Session, *peer, *xmlstream.Header) {
	t.Helper()
	return fakeLoginWith(t, lang, "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>")
}

// fakeLoginWith is fakeLogin with the stream features offered after SASL.
func fakeLoginWith(t *testing.T, lang, bindFeatures string) (*client.Session, *peer, *xmlstream.Header) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type accepted struct {
		p *peer
		h *xmlstream.Header
	}
	ch := make(chan accepted, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(ch)
			return
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		rec := &recorder{r: c, on: true}
		p := &peer{t: t, c: c, dec: xmlstream.NewDecoder(rec, xmlstream.Limits{}), rec: rec}
		var first *xmlstream.Header
		for i, st := range []struct{ features, reply string }{
			{"<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>",
				"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"},
			{bindFeatures, "<iq type='result' id='bind-1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>alice@fake.test/r</jid></bind></iq>"},
		} {
			h, err := p.dec.ReadHeader()
			if err != nil {
				close(ch)
				return
			}
			if first == nil {
				first = h
			}
			io.WriteString(c, fakeOpen+st.features)
			if _, err := p.dec.Next(); err != nil {
				close(ch)
				return
			}
			io.WriteString(c, st.reply)
			if i == 0 {
				p.dec.Restart()
			}
		}
		rec.stop()
		ch <- accepted{p, first}
	}()
	s, err := client.Dial(ctxT(t), client.Config{JID: jid.MustParse("alice@fake.test/r"), Password: "pw",
		Addr: ln.Addr().String(), Plaintext: true, AllowPLAIN: true, Lang: lang})
	if err != nil {
		t.Fatal(err)
	}
	a, ok := <-ch
	if !ok {
		t.Fatal("the fake server failed")
	}
	t.Cleanup(func() { a.p.c.Close() })
	return s, a.p, a.h
}

// readAll reads what the client writes until it closes the connection or
// the deadline passes.
func (p *peer) readAll(d time.Duration) (string, error) {
	p.c.SetReadDeadline(time.Now().Add(d))
	b, err := io.ReadAll(p.c)
	return string(b), err
}

// TestSeed3_3_1_Header: the client's header names the server and the
// language and asks for version 1.0, in jabber:client with the stream
// prefix (seed 3.2-1..5, 3.3.1-2..4); its own address ('from', 3.3.1-1) is
// sent only once TLS protects it, so not on this plaintext stream.
func TestSeed3_3_1_Header(t *testing.T) {
	s, _, h := fakeLogin(t, "de")
	defer s.Abort()
	got := map[string]string{"to": h.Attr("to"), "version": h.Attr("version"), "from": h.Attr("from"), "ns": h.DefaultNS, "prefix": h.Prefix}
	for _, a := range h.Attrs {
		if a.Name == (stanza.Name{Space: stanza.NSXML, Local: "lang"}) {
			got["lang"] = a.Value
		}
	}
	want := map[string]string{"to": "fake.test", "version": "1.0", "from": "", "ns": stanza.NSClient, "prefix": "stream", "lang": "de"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

// TestSeed5_2_NoWhitespace: nothing but elements, with no white space
// between them, from the first header to the bind request (seed 4-2, 5-2);
// after SASL success a new header follows (5-3).
func TestSeed5_2_NoWhitespace(t *testing.T) {
	s, p, _ := fakeLogin(t, "")
	defer s.Abort()
	sent := p.rec.stop()
	if sent == "" {
		t.Fatal("nothing recorded")
	}
	for i := 1; i < len(sent); i++ {
		if sent[i-1] == '>' && strings.ContainsRune(" \t\r\n", rune(sent[i])) {
			t.Fatalf("white space after element %d in %q", i, sent)
		}
	}
	if n := strings.Count(sent, "<stream:stream"); n != 2 {
		t.Errorf("%d stream headers, want 2 (before and after SASL): %q", n, sent)
	}
}

// TestSeed3_3_1_FromOverTLS: over TLS the header carries the account's
// bare JID, which the server echoes as 'to'.
func TestSeed3_3_1_FromOverTLS(t *testing.T) {
	srv := testserver.Start(t, "")
	srv.AddUser(t, "alice@localhost", "pw")
	// The server answers with to='<our from>' only if we sent one: check
	// by reading its own record of the session's stream.
	s := srv.Login(t, "alice@localhost/x", "pw")
	if s.TLS() == nil {
		t.Fatal("no TLS")
	}
	if got := s.ServerHeader().Attr("to"); got != "alice@localhost" {
		t.Errorf("the server's header has to=%q: our 'from' was not alice@localhost", got)
	}
}

// TestSeed3_5_Close: the client closes with </stream:stream>, sends
// nothing more, waits for the server's closing tag and then ends the
// connection (seed 3.5-1..4).
func TestSeed3_5_Close(t *testing.T) {
	s, p, _ := fakeLogin(t, "")
	done := make(chan error, 1)
	go func() { done <- s.CloseTimeout(5 * time.Second) }()
	p.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := p.dec.Next(); !errors.Is(err, xmlstream.ErrStreamEnd) {
		t.Fatalf("got %v, want the closing tag", err)
	}
	select {
	case <-done:
		t.Fatal("Close returned before the server's closing tag")
	case <-time.After(100 * time.Millisecond):
	}
	if err := s.Send(stanza.New("", "message")); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("Send after Close: %v, want ErrClosed", err)
	}
	io.WriteString(p.c, "</stream:stream>")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// The client ended the TCP connection.
	if rest, err := p.readAll(2 * time.Second); err != nil || rest != "" {
		t.Fatalf("after both closing tags: %q, %v", rest, err)
	}
}

// TestSeed3_5_ServerCloses: when the server closes first, the client
// answers with its closing tag and reports the end.
func TestSeed3_5_ServerCloses(t *testing.T) {
	s, p, _ := fakeLogin(t, "")
	defer s.Abort()
	io.WriteString(p.c, "</stream:stream>")
	if _, err := s.Recv(ctxT(t)); !errors.Is(err, xmlstream.ErrStreamEnd) {
		t.Fatalf("Recv: %v, want the end of the stream", err)
	}
	p.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := p.dec.Next(); !errors.Is(err, xmlstream.ErrStreamEnd) {
		t.Fatalf("the client answered %v, want its closing tag", err)
	}
	p.c.Close()
	if _, err := s.Recv(ctxT(t)); !errors.Is(err, io.EOF) {
		t.Fatalf("then %v, want EOF", err)
	}
}

// TestSeed3_6_StreamErrors: a stream error from the server is a typed Go
// error; broken XML from the server gets our own stream error, our
// closing tag and the end of the connection (seed 3.6-1, 3.6-2).
func TestSeed3_6_StreamErrors(t *testing.T) {
	t.Run("from the server", func(t *testing.T) {
		s, p, _ := fakeLogin(t, "")
		defer s.Abort()
		io.WriteString(p.c, "<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>replaced</text></stream:error></stream:stream>")
		_, err := s.Recv(ctxT(t))
		var se *stanza.StreamError
		if !errors.As(err, &se) || se.Condition != stanza.StreamConflict || se.Text != "replaced" {
			t.Fatalf("got %v, want a conflict stream error", err)
		}
	})
	t.Run("broken XML", func(t *testing.T) {
		s, p, _ := fakeLogin(t, "")
		defer s.Abort()
		io.WriteString(p.c, "<message><body>unclosed</message>")
		_, err := s.Recv(ctxT(t))
		var pe *client.PeerError
		if !errors.As(err, &pe) || pe.Err.Condition != stanza.StreamNotWellFormed {
			t.Fatalf("got %v, want a not-well-formed PeerError", err)
		}
		out, _ := p.readAll(2 * time.Second)
		if !strings.Contains(out, "<stream:error><not-well-formed xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>") || !strings.HasSuffix(out, "</stream:stream>") {
			t.Fatalf("the server got %q", out)
		}
	})
}

// TestSeed4_TLS: the client refuses a server that does not offer
// STARTTLS, and a certificate that is not valid for the domain; it never
// skips verification unless told to (seed 4-1, 4-3).
func TestSeed4_TLS(t *testing.T) {
	t.Run("STARTTLS not offered", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			d := xmlstream.NewDecoder(c, xmlstream.Limits{})
			d.ReadHeader()
			io.WriteString(c, fakeOpen+"<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>")
			io.Copy(io.Discard, c)
		}()
		_, err = client.Dial(ctxT(t), client.Config{JID: jid.MustParse("alice@fake.test"), Password: "pw", Addr: ln.Addr().String()})
		if err == nil || !strings.Contains(err.Error(), "STARTTLS") {
			t.Fatalf("got %v, want a refusal naming STARTTLS", err)
		}
	})
	// RFC 6120 §13.7.2.1: an SRV-ID for client streams is enough; one for
	// server streams is not.
	for _, tc := range []struct {
		srvID string
		ok    bool
	}{{"_xmpp-client.example.test", true}, {"_xmpp-server.example.test", false}} {
		t.Run("SRV-ID "+tc.srvID, func(t *testing.T) {
			ca := testca.New(t)
			cert, key := ca.WriteFiles(t, t.TempDir(), "srv", testca.Leaf{SRVNames: []string{tc.srvID}})
			srv := testserver.Start(t, "hosts: [example.test]\ntls:\n  certificates: [{cert: "+cert+", key: "+key+"}]\n")
			srv.AddUser(t, "alice@example.test", "pw")
			cfg := srv.ClientConfig(t, "alice@example.test", "pw")
			cfg.TLS = &tls.Config{RootCAs: ca.Pool}
			s, err := client.Dial(ctxT(t), cfg)
			if (err == nil) != tc.ok {
				t.Fatalf("Dial: %v, want success %v", err, tc.ok)
			}
			if err == nil {
				s.Close()
			}
		})
	}
	t.Run("certificate for another name", func(t *testing.T) {
		srv := testserver.Start(t, "")
		srv.AddUser(t, "alice@localhost", "pw")
		cfg := srv.ClientConfig(t, "alice@localhost", "pw")
		cfg.TLS = &tls.Config{RootCAs: srv.Pool, ServerName: "other.test"}
		if _, err := client.Dial(ctxT(t), cfg); err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("got %v, want a certificate error", err)
		}
		cfg.TLS = nil // the system roots do not know the self-signed one
		if _, err := client.Dial(ctxT(t), cfg); err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("got %v, want a certificate error", err)
		}
	})
}

// TestSeed5_SASL: the strongest mechanism is chosen (SCRAM with channel
// binding), PLAIN works over TLS (6-2), a wrong password is an
// *AuthError, and PLAIN is never sent in the clear unless allowed.
func TestSeed5_SASL(t *testing.T) {
	srv := testserver.Start(t, "c2s:\n  allow_plaintext: true\n")
	srv.AddUser(t, "alice@localhost", "pw")
	ctx := ctxT(t)
	s := srv.Login(t, "alice@localhost", "pw")
	if !sasl.IsPlus(s.Mechanism()) {
		t.Errorf("chose %s, want a -PLUS mechanism", s.Mechanism())
	}
	// Seed 7-2: the server generated the resource.
	if !s.JID().IsFull() || s.JID().Bare().String() != "alice@localhost" {
		t.Errorf("bound %s", s.JID())
	}
	cfg := srv.ClientConfig(t, "alice@localhost/p", "pw")
	cfg.Mechanism = sasl.PLAIN
	if p, err := client.Dial(ctx, cfg); err != nil {
		t.Fatalf("PLAIN over TLS: %v", err)
	} else {
		p.Close()
	}
	cfg = srv.ClientConfig(t, "alice@localhost/w", "wrong")
	_, err := client.Dial(ctx, cfg)
	var ae *client.AuthError
	if !errors.As(err, &ae) || ae.Condition != "not-authorized" {
		t.Fatalf("wrong password: %v, want not-authorized", err)
	}
	cfg = srv.ClientConfig(t, "alice@localhost/plain", "pw")
	cfg.Plaintext, cfg.Mechanism = true, sasl.PLAIN
	if _, err := client.Dial(ctx, cfg); err == nil || !strings.Contains(err.Error(), "PLAIN") {
		t.Fatalf("PLAIN in the clear: %v, want a refusal", err)
	}
}

// TestSeed10_4_IQRules: requests carry one child (10.4-4) and an id
// (10.4-1); a malformed request from a peer gets bad-request; an error
// reply echoes the request's payload (10.4-6); errors are never answered
// (10.5-2).
func TestSeed10_4_IQRules(t *testing.T) {
	s, p, _ := fakeLogin(t, "")
	defer s.Abort()
	ctx := ctxT(t)
	if _, err := s.IQ(ctx, stanza.New("", "iq").SetAttr("type", "get")); err == nil {
		t.Fatal("an IQ without a child was sent")
	}
	go s.Serve(ctx)
	io.WriteString(p.c, "<iq type='get' id='e' from='fake.test'/>"+
		"<iq type='set' id='u' from='fake.test'><q xmlns='urn:example'/></iq>"+
		"<iq type='error' id='z' from='fake.test'><error type='cancel'><bad-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"+
		"<message type='error' from='fake.test'><error type='cancel'><bad-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>"+
		"<iq type='get' id='last' from='fake.test'><ping xmlns='urn:xmpp:ping'/></iq>")
	var got []*stanza.Element
	p.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for len(got) < 3 {
		el, err := p.dec.Next()
		if err != nil {
			t.Fatalf("after %d answers: %v", len(got), err)
		}
		got = append(got, el)
	}
	if e := stanza.ParseError(got[0]); got[0].Attr("id") != "e" || e == nil || e.Condition != stanza.BadRequest {
		t.Errorf("answer 1: %s, want bad-request", got[0])
	}
	if e := stanza.ParseError(got[1]); got[1].Attr("id") != "u" || e == nil || e.Condition != stanza.ServiceUnavailable || got[1].Child("urn:example", "q") == nil {
		t.Errorf("answer 2: %s, want service-unavailable echoing the payload", got[1])
	}
	// The two errors got nothing; the ping its result.
	if got[2].Attr("id") != "last" || got[2].Attr("type") != "result" {
		t.Errorf("answer 3: %s, want the ping's result", got[2])
	}
}
