package s2s_test

import (
	"context"
	"crypto/tls"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/starling-xmpp/starling/client"
	"github.com/starling-xmpp/starling/internal/dnstest"
	"github.com/starling-xmpp/starling/internal/testserver"
	"github.com/starling-xmpp/starling/resolve"
	"github.com/starling-xmpp/starling/stanza"
	"github.com/starling-xmpp/starling/xmlstream"
)

// recvWhere waits for a stanza for which match is true, skipping others.
func recvWhere(t *testing.T, c *client.Session, what string, match func(*stanza.Element) bool) *stanza.Element {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range 100 {
		el, err := c.Recv(ctx)
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		if match(el) {
			return el
		}
	}
	t.Fatalf("no %s among 100 stanzas", what)
	return nil
}

// presence waits for presence of type typ ("" for available) from from.
func presence(t *testing.T, c *client.Session, typ, from string) *stanza.Element {
	t.Helper()
	return recvWhere(t, c, "presence type '"+typ+"' from "+from, func(el *stanza.Element) bool {
		return el.Name.Local == "presence" && el.Attr("type") == typ && el.Attr("from") == from
	})
}

func send(t *testing.T, c *client.Session, xml string) {
	t.Helper()
	el, err := xmlstream.Parse([]byte(xml), stanza.NSClient, xmlstream.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Send(el); err != nil {
		t.Fatal(err)
	}
}

// TestSeed10_1_4_SubscriptionsAcrossServers: RFC 6121 subscriptions and presence
// between users of two servers, both ways, exactly as between local users:
// request, approval, the contact's presence, probes on login, unavailable.
func TestSeed10_1_4_SubscriptionsAcrossServers(t *testing.T) {
	f := startFed(t, certOpts{})
	alice := login(t, f.a, "alice@a.test/phone")
	bob := login(t, f.b, "bob@b.test/laptop")
	// Interested resources (RFC 6121 §2.1.6): they get subscription
	// approvals.
	for _, c := range []*client.Session{alice, bob} {
		send(t, c, "<iq type='get' id='r0'><query xmlns='jabber:iq:roster'/></iq>")
		recvWhere(t, c, "roster", func(el *stanza.Element) bool { return el.Attr("id") == "r0" })
	}
	send(t, alice, "<presence/>")
	send(t, bob, "<presence><status>at work</status></presence>")

	// alice → bob: request, approval, bob's presence.
	send(t, alice, "<presence type='subscribe' to='bob@b.test'/>")
	presence(t, bob, "subscribe", "alice@a.test")
	send(t, bob, "<presence type='subscribed' to='alice@a.test'/>")
	presence(t, alice, "subscribed", "bob@b.test")
	if p := presence(t, alice, "", "bob@b.test/laptop"); p.ChildText("", "status") != "at work" {
		t.Fatalf("alice got %s", p)
	}

	// bob → alice.
	send(t, bob, "<presence type='subscribe' to='alice@a.test'/>")
	presence(t, alice, "subscribe", "bob@b.test")
	send(t, alice, "<presence type='subscribed' to='bob@b.test'/>")
	presence(t, bob, "subscribed", "alice@a.test")
	presence(t, bob, "", "alice@a.test/phone")

	// Both rosters say both.
	for _, c := range []struct {
		s       *client.Session
		contact string
	}{{alice, "bob@b.test"}, {bob, "alice@a.test"}} {
		send(t, c.s, "<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>")
		res := recvWhere(t, c.s, "roster result", func(el *stanza.Element) bool { return el.Attr("id") == "r1" })
		if !strings.Contains(res.String(), "jid='"+c.contact+"'") || !strings.Contains(res.String(), "subscription='both'") {
			t.Fatalf("roster of %s: %s", c.s.JID(), res)
		}
	}

	// A second resource of bob's logs in: b.test probes alice across the
	// link, a.test answers with her presence.
	bob2 := login(t, f.b, "bob@b.test/tablet")
	send(t, bob2, "<presence/>")
	presence(t, bob2, "", "alice@a.test/phone")
	presence(t, alice, "", "bob@b.test/tablet")

	// alice leaves: both of bob's resources learn it.
	send(t, alice, "<presence type='unavailable'/>")
	presence(t, bob, "unavailable", "alice@a.test/phone")
	presence(t, bob2, "unavailable", "alice@a.test/phone")
}

// TestSeed8_Piggyback: a second domain of the same server is authenticated
// over the established link with another dialback request (XEP-0220 §4).
func TestSeed8_Piggyback(t *testing.T) {
	f := startFed(t, certOpts{hostsA: []string{"a.test", "a2.test"}, aUsers: []string{"carol@a2.test"}})
	alice := login(t, f.a, "alice@a.test/phone")
	carol := login(t, f.a, "carol@a2.test/phone")
	bob := login(t, f.b, "bob@b.test/laptop")
	exchange(t, alice, bob)
	exchange(t, carol, bob)
	var outs int
	for _, l := range f.a.Federation().Links() {
		if l.Direction == "out" && contains(l.Remote, "b.test") {
			outs++
			if strings.Join(l.Local, " ") != "a.test a2.test" {
				t.Errorf("outbound link carries %v, want both domains", l.Local)
			}
		}
	}
	if outs != 1 {
		t.Errorf("%d outbound links to b.test, want 1", outs)
	}
	found := false
	for _, l := range f.b.Federation().Links() {
		if l.Direction == "in" && strings.Join(l.Remote, " ") == "a.test a2.test" {
			found = true
		}
	}
	if !found {
		t.Errorf("no inbound link on b.test authenticated for both domains: %+v", f.b.Federation().Links())
	}
}

// TestSeed6_3_WrongDomainCertificate: a.test presents a certificate from a CA
// b.test trusts, but for another domain. b.test never accepts it as
// a.test: by default dialback authenticates a.test instead; when b.test
// requires a valid certificate from a.test, the link fails and alice's
// message comes back with an error.
func TestSeed6_3_WrongDomainCertificate(t *testing.T) {
	t.Run("dialback fallback", func(t *testing.T) {
		f := startFed(t, certOpts{aNames: []string{"wrong.test"}, trustB: true})
		alice := loginAnyCert(t, f.a, "alice@a.test/phone")
		bob := login(t, f.b, "bob@b.test/laptop")
		exchange(t, alice, bob)
		if in := linkAuth(t, f.b, "in", "a.test"); in.Auth != "dialback" {
			t.Errorf("b.test authenticated a.test by %q, want dialback", in.Auth)
		}
	})
	// The other direction: a.test requires a valid certificate from
	// b.test, which presents one for another domain.
	t.Run("outbound to a domain that must have a valid certificate", func(t *testing.T) {
		f := startFed(t, certOpts{bNames: []string{"wrong.test"}, trustA: true, extraA: "  secure_domains: [b.test]\n"})
		alice := login(t, f.a, "alice@a.test/phone")
		alice.Send(chat("bob@b.test/laptop", "should not leave").SetAttr("id", "m1"))
		e := recvWhere(t, alice, "an error", func(el *stanza.Element) bool { return el.Attr("id") == "m1" })
		if pe := stanza.ParseError(e); pe == nil || pe.Condition != stanza.RemoteServerNotFound || !strings.Contains(pe.Text, "certificate") {
			t.Fatalf("alice got %s, want remote-server-not-found about the certificate", e)
		}
	})
	t.Run("certificate required", func(t *testing.T) {
		f := startFed(t, certOpts{aNames: []string{"wrong.test"}, trustB: true, extraB: "  secure_domains: [a.test]\n"})
		alice := loginAnyCert(t, f.a, "alice@a.test/phone")
		bob := login(t, f.b, "bob@b.test/laptop")
		alice.Send(chat("bob@b.test/laptop", "should not arrive"))
		e := recv(t, alice, "message")
		if e.Attr("type") != "error" || stanza.ParseError(e).Condition != stanza.RemoteServerNotFound {
			t.Fatalf("alice got %s, want remote-server-not-found", e)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		if el, err := bob.Recv(ctx); err == nil {
			t.Fatalf("bob got %s", el)
		}
	})
}

// loginAnyCert logs in without checking the server's certificate (one
// made for another domain on purpose).
func loginAnyCert(t *testing.T, s *testserver.Server, addr string) *client.Session {
	t.Helper()
	cfg := s.ClientConfig(t, addr, "password-"+strings.SplitN(addr, "/", 2)[0])
	cfg.TLS = &tls.Config{InsecureSkipVerify: true}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseTimeout(time.Second) })
	return c
}

// TestSeed6_4_DigestMD5: with s2s.digest_md5 and a shared secret on both
// sides, and no trusted certificates, the servers authenticate with SASL
// DIGEST-MD5 (seed 6-4); a wrong secret falls back to dialback.
func TestSeed6_4_DigestMD5(t *testing.T) {
	for _, tc := range []struct {
		name, secretB, want string
	}{
		{"same secret", "s3cret-shared", "SASL DIGEST-MD5"},
		{"wrong secret", "another", "dialback"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := startFed(t, certOpts{
				extraA: "  digest_md5: true\n  digest_md5_secrets: {b.test: s3cret-shared}\n",
				extraB: "  digest_md5: true\n  digest_md5_secrets: {a.test: " + tc.secretB + "}\n",
			})
			alice := login(t, f.a, "alice@a.test/phone")
			bob := login(t, f.b, "bob@b.test/laptop")
			exchange(t, alice, bob)
			if out := linkAuth(t, f.a, "out", "b.test"); out.Auth != tc.want {
				t.Errorf("a.test → b.test authenticated by %q, want %q", out.Auth, tc.want)
			}
		})
	}
}

// TestSeed10_7_2_Unreachable: stanzas for a domain that cannot be reached are
// bounced to their senders with remote-server-not-found, queued ones
// included; errors are never answered; the next attempt waits (RFC 6120
// §3.3).
func TestSeed10_7_2_Unreachable(t *testing.T) {
	a := testserver.Start(t, "hosts: [a.test]\ns2s:\n  retry_delay: 1m\n  max_retry_delay: 2m\n")
	a.AddUser(t, "alice@a.test", "password-alice@a.test")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	a.Federation().SetAddress("gone.test", closed)
	alice := login(t, a, "alice@a.test/phone")
	for i := range 3 {
		alice.Send(chat("bob@gone.test", "m"+strconv.Itoa(i)).SetAttr("id", "m"+strconv.Itoa(i)))
	}
	alice.Send(stanza.New("", "message").SetAttr("type", "error").SetAttr("to", "bob@gone.test").SetAttr("id", "e1").
		Append((&stanza.Error{Type: stanza.Cancel, Condition: stanza.ItemNotFound}).Element()))
	alice.Send(stanza.New("", "iq").SetAttr("type", "get").SetAttr("id", "q1").SetAttr("to", "bob@gone.test").
		Append(stanza.New("urn:xmpp:ping", "ping")))
	got := map[string]bool{}
	for range 4 {
		el := recvWhere(t, alice, "an error", func(el *stanza.Element) bool { return el.Attr("type") == "error" })
		if e := stanza.ParseError(el); e == nil || e.Condition != stanza.RemoteServerNotFound || el.Attr("from") != "bob@gone.test" {
			t.Fatalf("got %s", el)
		}
		got[el.Attr("id")] = true
	}
	for _, id := range []string{"m0", "m1", "m2", "q1"} {
		if !got[id] {
			t.Errorf("no error for %s", id)
		}
	}
	// Nothing answers the error we sent.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if el, err := alice.Recv(ctx); err == nil {
		t.Fatalf("unexpected %s", el)
	}
	// During the back-off: bounced at once, no new connection, saying
	// why the last attempt failed.
	alice.Send(chat("bob@gone.test", "again").SetAttr("id", "m3"))
	el := recvWhere(t, alice, "an error", func(el *stanza.Element) bool { return el.Attr("id") == "m3" })
	if e := stanza.ParseError(el); e == nil || !strings.Contains(e.Text, "retrying") || !strings.Contains(e.Text, "cannot reach gone.test") {
		t.Fatalf("got %s", el)
	}
}

// TestTimeout: a remote server that accepts TCP and says nothing: queued
// stanzas come back with remote-server-timeout once the handshake time is
// up.
func TestTimeout(t *testing.T) {
	a := testserver.Start(t, "hosts: [a.test]\ns2s:\n  handshake_timeout: 500ms\n")
	a.AddUser(t, "alice@a.test", "password-alice@a.test")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for range 5 {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	a.Federation().SetAddress("silent.test", ln.Addr().String())
	alice := login(t, a, "alice@a.test/phone")
	alice.Send(chat("bob@silent.test", "hello").SetAttr("id", "m1"))
	el := recvWhere(t, alice, "an error", func(el *stanza.Element) bool { return el.Attr("id") == "m1" })
	if e := stanza.ParseError(el); e == nil || e.Condition != stanza.RemoteServerTimeout {
		t.Fatalf("got %s", el)
	}
}

// TestSeed3_1_2_SRV: the remote server is found through DNS: an
// _xmpps-server SRV record (direct TLS, XEP-0368) preferred over an
// _xmpp-server one at the same priority, both pointing at b.test's
// listeners through a host name (seed 3.1-2, RFC 6120 §3.2).
func TestSeed3_1_2_SRV(t *testing.T) {
	f := startFed(t, certOpts{noAddress: true})
	dns := dnstest.Start(t)
	port := func(addr string) uint16 {
		_, p, _ := net.SplitHostPort(addr)
		n, _ := strconv.Atoi(p)
		return uint16(n)
	}
	dns.AddA("xmpp.b.test", netip.MustParseAddr("127.0.0.1"))
	dns.AddSRV("_xmpps-server._tcp.b.test", "xmpp.b.test", port(f.b.S2STLSAddr), 10, 0)
	dns.AddSRV("_xmpp-server._tcp.b.test", "xmpp.b.test", port(f.b.S2SAddr), 10, 0)
	dns.AddA("a.test", netip.MustParseAddr("127.0.0.1"))
	dns.AddSRV("_xmpp-server._tcp.a.test", "a.test", port(f.a.S2SAddr), 0, 0)
	f.a.Federation().SetResolver(&resolve.Resolver{DNS: dns.Resolver()})
	f.b.Federation().SetResolver(&resolve.Resolver{DNS: dns.Resolver()})
	alice := login(t, f.a, "alice@a.test/phone")
	bob := login(t, f.b, "bob@b.test/laptop")
	exchange(t, alice, bob)
	if out, want := linkAuth(t, f.a, "out", "b.test"), net.JoinHostPort("xmpp.b.test", strconv.Itoa(int(port(f.b.S2STLSAddr)))); out.Addr != want {
		t.Errorf("a.test reached b.test at %s, want its direct TLS port (%s)", out.Addr, want)
	}
	if out, want := linkAuth(t, f.b, "out", "a.test"), net.JoinHostPort("a.test", strconv.Itoa(int(port(f.a.S2SAddr)))); out.Addr != want {
		t.Errorf("b.test reached a.test at %s, want %s", out.Addr, want)
	}
}

// TestIdleLinksClose: links that carry nothing for s2s.idle_timeout
// close, and the next stanza opens a new one.
func TestIdleLinksClose(t *testing.T) {
	f := startFed(t, certOpts{extraA: "  idle_timeout: 300ms\n", extraB: "  idle_timeout: 300ms\n"})
	alice := login(t, f.a, "alice@a.test/phone")
	bob := login(t, f.b, "bob@b.test/laptop")
	exchange(t, alice, bob)
	deadline := time.Now().Add(5 * time.Second)
	for len(f.a.Federation().Links())+len(f.b.Federation().Links()) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("links still open: %+v %+v", f.a.Federation().Links(), f.b.Federation().Links())
		}
		time.Sleep(50 * time.Millisecond)
	}
	exchange(t, alice, bob)
}

// TestQueueLimit: while a link comes up, at most s2s.queue_size stanzas
// wait for it; the rest are bounced at once with resource-constraint, and
// the queued ones are bounced when the link fails.
func TestQueueLimit(t *testing.T) {
	a := testserver.Start(t, "hosts: [a.test]\ns2s:\n  queue_size: 2\n  handshake_timeout: 1s\n")
	a.AddUser(t, "alice@a.test", "password-alice@a.test")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			defer c.Close()
			time.Sleep(3 * time.Second) // says nothing
		}
	}()
	a.Federation().SetAddress("slow.test", ln.Addr().String())
	alice := login(t, a, "alice@a.test/phone")
	for i := range 4 {
		alice.Send(chat("bob@slow.test", "m").SetAttr("id", "m"+strconv.Itoa(i)))
	}
	conds := map[string]stanza.Condition{}
	for range 4 {
		el := recvWhere(t, alice, "an error", func(el *stanza.Element) bool { return el.Attr("type") == "error" })
		conds[el.Attr("id")] = stanza.ParseError(el).Condition
	}
	want := map[string]stanza.Condition{"m0": stanza.RemoteServerTimeout, "m1": stanza.RemoteServerTimeout,
		"m2": stanza.ResourceConstraint, "m3": stanza.ResourceConstraint}
	for id, c := range want {
		if conds[id] != c {
			t.Errorf("%s: %s, want %s", id, conds[id], c)
		}
	}
}

// TestPendingVerificationLimit: past s2s.max_pending_verifications,
// dialback requests are refused at once rather than queued.
func TestPendingVerificationLimit(t *testing.T) {
	b := testserver.Start(t, "hosts: [b.test]\ns2s:\n  max_pending_verifications: 1\n  handshake_timeout: 2s\n")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for range 2 {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
		time.Sleep(3 * time.Second)
	}()
	// The authoritative servers of x.test and y.test never answer.
	b.Federation().SetAddress("x.test", ln.Addr().String())
	b.Federation().SetAddress("y.test", ln.Addr().String())
	p1 := dialRaw(t, b.S2SAddr)
	p1.open("x.test", "b.test")
	p1.startTLS(nil, "x.test", "b.test")
	p1.write("<db:result from='x.test' to='b.test'>00</db:result>")
	time.Sleep(100 * time.Millisecond) // the first verification is under way
	p2 := dialRaw(t, b.S2SAddr)
	p2.open("y.test", "b.test")
	p2.startTLS(nil, "y.test", "b.test")
	p2.write("<db:result from='y.test' to='b.test'>00</db:result>")
	el := p2.next()
	if e := stanza.ParseError(el); el.Attr("type") != "error" || e == nil || e.Condition != stanza.ResourceConstraint {
		t.Fatalf("got %s, want resource-constraint", el)
	}
	// The first one times out with remote-server-timeout.
	el = p1.next()
	if e := stanza.ParseError(el); el.Attr("type") != "error" || e == nil || e.Condition != stanza.RemoteServerTimeout {
		t.Fatalf("got %s, want remote-server-timeout", el)
	}
}

// TestMaxLinks: past s2s.max_links a server refuses new inbound links with
// resource-constraint.
func TestMaxLinks(t *testing.T) {
	f := startFed(t, certOpts{extraB: "  max_links: 1\n"})
	p1 := dialRaw(t, f.b.S2SAddr)
	p1.open("a.test", "b.test")
	p2 := dialRaw(t, f.b.S2SAddr)
	p2.write("<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' version='1.0' to='b.test' from='a.test'>")
	if _, err := p2.dec.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	p2.expectStreamError(stanza.StreamResourceConstraint)
}
