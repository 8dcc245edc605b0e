package s2s_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/starling-xmpp/starling/client"
	"github.com/starling-xmpp/starling/internal/testca"
	"github.com/starling-xmpp/starling/internal/testserver"
	"github.com/starling-xmpp/starling/s2s"
	"github.com/starling-xmpp/starling/stanza"
)

// fed is two federating test servers, a.test and b.test, each told where
// the other listens (s2s address override: no DNS).
type fed struct {
	a, b *testserver.Server
}

// certs issues certificates for both domains from one test CA, written as
// files; trust says whether each server trusts that CA.
type certOpts struct {
	ca        *testca.CA
	aNames    []string // names in a.test's certificate (nil: no CA certificate)
	bNames    []string
	trustA    bool // a.test trusts the CA
	trustB    bool
	extraA    string
	extraB    string
	hostsA    []string // a's hosts; default [a.test]
	hostsB    []string
	aUsers    []string
	bUsers    []string
	noAddress bool // don't set address overrides
}

func serverYAML(t *testing.T, o certOpts, hosts []string, names []string, trust bool, extra string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "hosts: [%s]\n", strings.Join(hosts, ", "))
	dir := t.TempDir()
	if names != nil {
		cert, key := o.ca.WriteFiles(t, dir, hosts[0], testca.Leaf{CommonName: names[0], DNSNames: names})
		fmt.Fprintf(&b, "tls:\n  certificates:\n    - cert: %s\n      key: %s\n", cert, key)
	}
	b.WriteString("s2s:\n")
	if trust {
		fmt.Fprintf(&b, "  ca_files: [%s]\n", o.ca.WriteCA(t, dir))
	}
	b.WriteString(extra)
	return b.String()
}

func startFed(t *testing.T, o certOpts) *fed {
	t.Helper()
	if o.ca == nil {
		o.ca = testca.New(t)
	}
	if o.hostsA == nil {
		o.hostsA = []string{"a.test"}
	}
	if o.hostsB == nil {
		o.hostsB = []string{"b.test"}
	}
	f := &fed{
		a: testserver.Start(t, serverYAML(t, o, o.hostsA, o.aNames, o.trustA, o.extraA)),
		b: testserver.Start(t, serverYAML(t, o, o.hostsB, o.bNames, o.trustB, o.extraB)),
	}
	if !o.noAddress {
		for _, h := range o.hostsB {
			f.a.Federation().SetAddress(h, f.b.S2SAddr)
		}
		for _, h := range o.hostsA {
			f.b.Federation().SetAddress(h, f.a.S2SAddr)
		}
	}
	for _, u := range append([]string{"alice@" + o.hostsA[0]}, o.aUsers...) {
		f.a.AddUser(t, u, "password-"+u)
	}
	for _, u := range append([]string{"bob@" + o.hostsB[0]}, o.bUsers...) {
		f.b.AddUser(t, u, "password-"+u)
	}
	return f
}

func login(t *testing.T, s *testserver.Server, addr string) *client.Session {
	t.Helper()
	return s.Login(t, addr, "password-"+strings.SplitN(addr, "/", 2)[0])
}

// recv waits for the next stanza matching name, skipping others.
func recv(t *testing.T, c *client.Session, name string) *stanza.Element {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range 50 {
		el, err := c.Recv(ctx)
		if err != nil {
			t.Fatalf("waiting for <%s>: %v", name, err)
		}
		if el.Name.Local == name {
			return el
		}
	}
	t.Fatalf("no <%s> among 50 stanzas", name)
	return nil
}

func chat(to, body string) *stanza.Element {
	return stanza.New("", "message").SetAttr("type", "chat").SetAttr("to", to).
		Append(stanza.New("", "body").AppendText(body))
}

// exchange sends a message each way and checks both arrive intact.
func exchange(t *testing.T, alice, bob *client.Session) {
	t.Helper()
	if err := alice.Send(chat(bob.JID().String(), "hello from a")); err != nil {
		t.Fatal(err)
	}
	m := recv(t, bob, "message")
	if got := m.ChildText("", "body"); got != "hello from a" || m.Attr("from") != alice.JID().String() {
		t.Fatalf("bob got %s", m)
	}
	if err := bob.Send(chat(alice.JID().String(), "hello from b")); err != nil {
		t.Fatal(err)
	}
	m = recv(t, alice, "message")
	if got := m.ChildText("", "body"); got != "hello from b" || m.Attr("from") != bob.JID().String() {
		t.Fatalf("alice got %s", m)
	}
}

// linkAuth returns how the outbound link from s to remote authenticated.
func linkAuth(t *testing.T, s *testserver.Server, dir, remote string) s2s.LinkInfo {
	t.Helper()
	for _, l := range s.Federation().Links() {
		if l.Direction == dir && contains(l.Remote, remote) {
			return l
		}
	}
	t.Fatalf("no %s link to %s in %+v", dir, remote, s.Federation().Links())
	return s2s.LinkInfo{}
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// TestSeed8_Dialback: self-signed certificates neither side trusts, so both
// directions authenticate with server dialback (seed 8, XEP-0220).
func TestSeed8_Dialback(t *testing.T) {
	f := startFed(t, certOpts{})
	alice := login(t, f.a, "alice@a.test/phone")
	bob := login(t, f.b, "bob@b.test/laptop")
	exchange(t, alice, bob)
	// The remote server itself answers (RFC 6120 §10.3 across servers).
	bob.Send(stanza.New("", "iq").SetAttr("type", "get").SetAttr("id", "p1").SetAttr("to", "a.test").
		Append(stanza.New("urn:xmpp:ping", "ping")))
	if r := recv(t, bob, "iq"); r.Attr("type") != "result" || r.Attr("from") != "a.test" || r.Attr("id") != "p1" {
		t.Fatalf("bob got %s", r)
	}
	for _, s := range []struct {
		srv    *testserver.Server
		remote string
	}{{f.a, "b.test"}, {f.b, "a.test"}} {
		out := linkAuth(t, s.srv, "out", s.remote)
		if out.Auth != "dialback" || !strings.HasPrefix(out.TLS, "TLS") {
			t.Errorf("outbound link to %s: %+v", s.remote, out)
		}
		in := linkAuth(t, s.srv, "in", s.remote)
		if in.Auth != "dialback" {
			t.Errorf("inbound link from %s: %+v", s.remote, in)
		}
	}
}

// TestSeed6_3_SASLExternal: certificates from a CA both servers trust: SASL
// EXTERNAL both ways (seed 6-3, XEP-0178).
func TestSeed6_3_SASLExternal(t *testing.T) {
	f := startFed(t, certOpts{aNames: []string{"a.test"}, bNames: []string{"b.test"}, trustA: true, trustB: true})
	alice := login(t, f.a, "alice@a.test/phone")
	bob := login(t, f.b, "bob@b.test/laptop")
	exchange(t, alice, bob)
	for _, s := range []struct {
		srv    *testserver.Server
		remote string
	}{{f.a, "b.test"}, {f.b, "a.test"}} {
		out := linkAuth(t, s.srv, "out", s.remote)
		if out.Auth != "SASL EXTERNAL" || out.Certificate != "valid" {
			t.Errorf("outbound link to %s: %+v", s.remote, out)
		}
	}
}
