package s2s_test

import (
	"crypto/tls"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/starling-xmpp/starling/internal/testca"
	"github.com/starling-xmpp/starling/internal/testserver"
	"github.com/starling-xmpp/starling/stanza"
	"github.com/starling-xmpp/starling/xmlstream"
)

// rawPeer is a hand-driven remote server: whatever XML the test writes.
type rawPeer struct {
	t   *testing.T
	nc  net.Conn
	dec *xmlstream.Decoder
	id  string // the id of the server's latest stream header
}

func dialRaw(t *testing.T, addr string) *rawPeer {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	return &rawPeer{t: t, nc: nc, dec: xmlstream.NewDecoder(nc, xmlstream.DefaultLimits())}
}

func (p *rawPeer) write(s string) {
	p.t.Helper()
	if _, err := p.nc.Write([]byte(s)); err != nil {
		p.t.Fatal(err)
	}
}

// open sends a jabber:server header and returns the features.
func (p *rawPeer) open(from, to string) *stanza.Element {
	p.t.Helper()
	h := "<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' version='1.0' to='" + to + "'"
	if from != "" {
		h += " from='" + from + "'"
	}
	p.write(h + ">")
	hd, err := p.dec.ReadHeader()
	if err != nil {
		p.t.Fatalf("reading the header: %v", err)
	}
	p.id = hd.Attr("id")
	return p.next()
}

func (p *rawPeer) next() *stanza.Element {
	p.t.Helper()
	el, err := p.dec.Next()
	if err != nil {
		p.t.Fatalf("reading: %v", err)
	}
	return el
}

// startTLS upgrades, presenting cert (nil for none), and reopens.
func (p *rawPeer) startTLS(cert *tls.Certificate, from, to string) *stanza.Element {
	p.t.Helper()
	p.write("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
	if el := p.next(); el.Name.Local != "proceed" {
		p.t.Fatalf("got %s, want <proceed/>", el)
	}
	cfg := &tls.Config{InsecureSkipVerify: true, ServerName: to}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	tc := tls.Client(p.nc, cfg)
	if err := tc.Handshake(); err != nil {
		p.t.Fatal(err)
	}
	p.nc = tc
	p.dec.Reset(tc)
	return p.open(from, to)
}

// expectStreamError reads until the stream error and checks its condition.
func (p *rawPeer) expectStreamError(cond stanza.StreamCondition) {
	p.t.Helper()
	for range 10 {
		el, err := p.dec.Next()
		if err != nil {
			var se *stanza.StreamError
			if errors.As(err, &se) {
				p.t.Fatalf("our decoder failed: %v", err)
			}
			p.t.Fatalf("no stream error %s: %v", cond, err)
		}
		if el.Name == (stanza.Name{Space: stanza.NSStream, Local: "error"}) {
			if got := stanza.ParseStreamError(el).Condition; got != cond {
				p.t.Fatalf("stream error %s, want %s (%s)", got, cond, el)
			}
			if _, err := p.dec.Next(); !errors.Is(err, xmlstream.ErrStreamEnd) {
				p.t.Errorf("after the stream error: %v, want the closing tag", err)
			}
			return
		}
	}
	p.t.Fatalf("no stream error %s", cond)
}

// externalPeer is a raw peer authenticated as domain with SASL EXTERNAL,
// using a certificate from a CA the server trusts.
func externalPeer(t *testing.T, f *fed, ca *testca.CA, domain string) *rawPeer {
	t.Helper()
	cert := ca.Issue(t, testca.Leaf{CommonName: domain, DNSNames: []string{domain}})
	p := dialRaw(t, f.b.S2SAddr)
	p.open(domain, "b.test")
	feats := p.startTLS(&cert, domain, "b.test")
	if !strings.Contains(feats.String(), "EXTERNAL") {
		t.Fatalf("EXTERNAL not offered: %s", feats)
	}
	p.write("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>" + base64.StdEncoding.EncodeToString([]byte(domain)) + "</auth>")
	if el := p.next(); el.Name.Local != "success" {
		t.Fatalf("got %s, want <success/>", el)
	}
	p.dec.Restart()
	p.open(domain, "b.test")
	return p
}

// TestSeed10_1_5_Spoofing: what a hostile or broken remote server sends is
// refused with the stream error RFC 6120 §4.9.3 names (seed 10.1-5).
func TestSeed10_1_5_Spoofing(t *testing.T) {
	ca := testca.New(t)
	f := startFed(t, certOpts{ca: ca, trustB: true})
	for _, tc := range []struct {
		name   string
		stanza string
		want   stanza.StreamCondition
	}{
		{"from another domain", "<message from='alice@a.test/x' to='bob@b.test'><body>spoofed</body></message>", stanza.StreamInvalidFrom},
		{"to a domain not served", "<message from='mallory@evil.test' to='someone@c.test'/>", stanza.StreamHostUnknown},
		{"no from", "<message to='bob@b.test'/>", stanza.StreamImproperAddressing},
		{"no to", "<message from='mallory@evil.test'/>", stanza.StreamImproperAddressing},
		{"malformed from", "<message from='@@' to='bob@b.test'/>", stanza.StreamInvalidFrom},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := externalPeer(t, f, ca, "evil.test")
			p.write(tc.stanza)
			p.expectStreamError(tc.want)
		})
	}

	t.Run("stanza before authentication", func(t *testing.T) {
		p := dialRaw(t, f.b.S2SAddr)
		p.open("a.test", "b.test")
		p.startTLS(nil, "a.test", "b.test")
		p.write("<message from='alice@a.test' to='bob@b.test'><body>spoofed</body></message>")
		p.expectStreamError(stanza.StreamNotAuthorized)
	})
	t.Run("stanza before TLS", func(t *testing.T) {
		p := dialRaw(t, f.b.S2SAddr)
		p.open("a.test", "b.test")
		p.write("<message from='alice@a.test' to='bob@b.test'/>")
		p.expectStreamError(stanza.StreamPolicyViolation)
	})
	t.Run("client namespace", func(t *testing.T) {
		p := dialRaw(t, f.b.S2SAddr)
		p.write("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0' to='b.test'>")
		if _, err := p.dec.ReadHeader(); err != nil {
			t.Fatal(err)
		}
		p.expectStreamError(stanza.StreamInvalidNamespace)
	})
	t.Run("unknown host", func(t *testing.T) {
		p := dialRaw(t, f.b.S2SAddr)
		p.write("<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' version='1.0' to='c.test' from='a.test'>")
		if _, err := p.dec.ReadHeader(); err != nil {
			t.Fatal(err)
		}
		p.expectStreamError(stanza.StreamHostUnknown)
	})
	t.Run("certificate for another domain", func(t *testing.T) {
		cert := ca.Issue(t, testca.Leaf{CommonName: "evil.test", DNSNames: []string{"evil.test"}})
		p := dialRaw(t, f.b.S2SAddr)
		p.open("a.test", "b.test")
		feats := p.startTLS(&cert, "a.test", "b.test")
		if strings.Contains(feats.String(), "EXTERNAL") {
			t.Fatalf("EXTERNAL offered for a certificate of another domain: %s", feats)
		}
		p.write("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>=</auth>")
		if el := p.next(); el.Name.Local != "failure" || el.Child(stanza.NSSASL, "not-authorized") == nil {
			t.Fatalf("got %s, want <failure><not-authorized/>", el)
		}
		p.write("<message from='alice@a.test' to='bob@b.test'/>")
		p.expectStreamError(stanza.StreamNotAuthorized)
	})

	// A forged dialback key: b.test asks a.test (the real one), which
	// says invalid; nothing from a.test is then accepted on this stream.
	t.Run("forged dialback key", func(t *testing.T) {
		p := dialRaw(t, f.b.S2SAddr)
		p.open("a.test", "b.test")
		p.startTLS(nil, "a.test", "b.test")
		p.write("<db:result from='a.test' to='b.test'>0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef</db:result>")
		el := p.next()
		if el.Name != (stanza.Name{Space: stanza.NSDialback, Local: "result"}) || el.Attr("type") != "invalid" {
			t.Fatalf("got %s, want db:result type=invalid", el)
		}
		p.write("<message from='alice@a.test' to='bob@b.test'><body>spoofed</body></message>")
		p.expectStreamError(stanza.StreamNotAuthorized)
	})
	// Asking the authoritative server about a key it never made.
	t.Run("forged db:verify", func(t *testing.T) {
		p := dialRaw(t, f.a.S2SAddr)
		p.open("b.test", "a.test")
		p.startTLS(nil, "b.test", "a.test")
		p.write("<db:verify from='b.test' to='a.test' id='made-up'>0123456789abcdef</db:verify>")
		el := p.next()
		if el.Name != (stanza.Name{Space: stanza.NSDialback, Local: "verify"}) || el.Attr("type") != "invalid" || el.Attr("id") != "made-up" {
			t.Fatalf("got %s, want db:verify type=invalid", el)
		}
		p.write("<db:verify from='b.test' to='c.test' id='x'>00</db:verify>")
		el = p.next()
		if el.Attr("type") != "error" || stanza.ParseError(el) == nil || stanza.ParseError(el).Condition != stanza.ItemNotFound {
			t.Fatalf("got %s, want an item-not-found dialback error", el)
		}
	})
	// A dialback request for a domain we do not serve.
	t.Run("dialback to an unknown domain", func(t *testing.T) {
		p := dialRaw(t, f.b.S2SAddr)
		p.open("a.test", "b.test")
		p.startTLS(nil, "a.test", "b.test")
		p.write("<db:result from='a.test' to='c.test'>00</db:result>")
		el := p.next()
		if el.Attr("type") != "error" || stanza.ParseError(el).Condition != stanza.ItemNotFound {
			t.Fatalf("got %s, want an item-not-found dialback error", el)
		}
	})
}

// TestAuthenticatedPeerDelivers: the same raw peer, authenticated as
// evil.test, may send as evil.test (the control for the spoofing cases).
func TestAuthenticatedPeerDelivers(t *testing.T) {
	ca := testca.New(t)
	f := startFed(t, certOpts{ca: ca, trustB: true})
	bob := login(t, f.b, "bob@b.test/laptop")
	p := externalPeer(t, f, ca, "evil.test")
	p.write("<message from='mallory@evil.test/x' to='bob@b.test/laptop' type='chat'><body>hi</body></message>")
	m := recv(t, bob, "message")
	if m.Attr("from") != "mallory@evil.test/x" || m.ChildText("", "body") != "hi" {
		t.Fatalf("bob got %s", m)
	}
}

// TestSeed3_3_1_InitiatingHeader: the header of a stream we initiate
// names our domain and theirs, our language and version 1.0, in the
// jabber:server namespace with the dialback prefix declared (seed 3.3.1-1
// to 3.3.1-4, 3.2-6, XEP-0220 §2.1).
func TestSeed3_3_1_InitiatingHeader(t *testing.T) {
	a := testserver.Start(t, "hosts: [a.test]\n")
	a.AddUser(t, "alice@a.test", "password-alice@a.test")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	a.Federation().SetAddress("peer.test", ln.Addr().String())
	alice := login(t, a, "alice@a.test/phone")
	alice.Send(chat("x@peer.test", "hi"))
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(10 * time.Second))
	nc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	raw := make([]byte, 4096)
	n, err := nc.Read(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw[:n]), "xmlns:db='jabber:server:dialback'") {
		t.Errorf("no dialback namespace declaration in %q", raw[:n])
	}
	h, err := xmlstream.NewDecoder(strings.NewReader(string(raw[:n])), xmlstream.DefaultLimits()).ReadHeader()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{"from": h.Attr("from"), "to": h.Attr("to"), "version": h.Attr("version"),
		"lang": lang(h), "ns": h.DefaultNS, "prefix": h.Prefix}
	want := map[string]string{"from": "a.test", "to": "peer.test", "version": "1.0", "lang": "en", "ns": stanza.NSServer, "prefix": "stream"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

func lang(h *xmlstream.Header) string {
	for _, a := range h.Attrs {
		if a.Name == (stanza.Name{Space: stanza.NSXML, Local: "lang"}) {
			return a.Value
		}
	}
	return ""
}

// TestBadPeersLeaveNothingBehind: garbage, half streams, peers that vanish
// during TLS or while their dialback key is being verified: the server
// keeps federating, and once links go idle every connection and goroutine
// is released.
func TestBadPeersLeaveNothingBehind(t *testing.T) {
	opts := "  idle_timeout: 1s\n  handshake_timeout: 2s\n  close_timeout: 500ms\n"
	f := startFed(t, certOpts{extraA: opts, extraB: opts})
	before := runtime.NumGoroutine()
	open := "<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' version='1.0' to='b.test' from='a.test'>"
	bad := []string{
		"\x00\x01\x02 binary garbage",
		open[:50],
		open + "<db:result from='a.test' to='b.test'>",
		open + "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>\x16\x03\x01 not a tls hello",
		open + "<message from='x@a.test' to='bob@b.test'/>",
		open + "<db:verify from='a.test' to='b.test' id='x'>00</db:verify>",
		open + strings.Repeat("<a>", 200),
		"",
	}
	var wg sync.WaitGroup
	for i, b := range bad {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", f.b.S2SAddr)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			io.WriteString(c, b)
			if i%2 == 0 {
				return // vanish
			}
			io.Copy(io.Discard, c)
		}()
	}
	// A peer that asks for dialback after TLS and vanishes before the
	// verdict.
	p := dialRaw(t, f.b.S2SAddr)
	p.open("a.test", "b.test")
	p.startTLS(nil, "a.test", "b.test")
	p.write("<db:result from='a.test' to='b.test'>00</db:result>")
	p.nc.Close()
	wg.Wait()

	alice := login(t, f.a, "alice@a.test/phone")
	bob := login(t, f.b, "bob@b.test/laptop")
	exchange(t, alice, bob)
	alice.Close()
	bob.Close()

	deadline := time.Now().Add(10 * time.Second)
	for len(f.a.Federation().Links())+len(f.b.Federation().Links()) > 0 || runtime.NumGoroutine() > before+2 {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			n := runtime.Stack(buf, true)
			t.Fatalf("links %+v %+v and %d goroutines (was %d) left:\n%s", f.a.Federation().Links(), f.b.Federation().Links(),
				runtime.NumGoroutine(), before, buf[:n])
		}
		time.Sleep(50 * time.Millisecond)
	}
}
