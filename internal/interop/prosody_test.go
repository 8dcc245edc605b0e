package interop

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/starling-xmpp/starling/client"
	"github.com/starling-xmpp/starling/internal/dnstest"
	"github.com/starling-xmpp/starling/internal/netutil"
	"github.com/starling-xmpp/starling/internal/testca"
	"github.com/starling-xmpp/starling/stanza"
)

const prosodyPassword = "correct horse"

// chat builds a chat message.
func chat(to, body string) *stanza.Element {
	return stanza.New("", "message").SetAttr("to", to).SetAttr("type", "chat").
		Append(stanza.New("", "body").AppendText(body))
}

// awaitMessage returns the first message with a body that s receives
// within timeout, skipping other stanzas.
func awaitMessage(t *testing.T, s *client.Session, timeout time.Duration) *stanza.Element {
	t.Helper()
	return awaitStanza(t, s, timeout, func(el *stanza.Element) bool {
		return el.Name.Local == "message" && el.Child("", "body") != nil
	})
}

// awaitStanza returns the first stanza s receives within timeout for which
// match is true, skipping others.
func awaitStanza(t *testing.T, s *client.Session, timeout time.Duration, match func(*stanza.Element) bool) *stanza.Element {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		el, err := s.Recv(ctx)
		if err != nil {
			t.Fatalf("%s: waiting for a stanza: %v", s.JID(), err)
		}
		if match(el) {
			return el
		}
	}
}

// prosodyCert issues a certificate for domain (a dNSName SAN and the CN).
func prosodyCert(t *testing.T, ca *testca.CA, domain string) (certFile, keyFile string) {
	return ca.WriteFiles(t, t.TempDir(), domain, testca.Leaf{CommonName: domain, DNSNames: []string{domain}})
}

// TestProsodyC2S: Starling's client logs in to Prosody (STARTTLS verified
// against the test CA, SCRAM) as two users who exchange messages, which
// proves the harness starts Prosody with our certificate, accounts and
// ports.
func TestProsodyC2S(t *testing.T) {
	findProsody(t)
	ca := testca.New(t)
	for _, tc := range []struct {
		name string
		rsa  bool
	}{
		{"ECDSA certificate", false},
		{"RSA certificate", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cert, key := ca.WriteFiles(t, t.TempDir(), "prosody", testca.Leaf{
				CommonName: "prosody.test", DNSNames: []string{"prosody.test"}, RSA: tc.rsa,
			})
			p := StartProsody(t, ProsodyConfig{
				Domain:   "prosody.test",
				CertFile: cert, KeyFile: key,
				Users: map[string]string{"alice": prosodyPassword, "bob": prosodyPassword},
			})
			alice := p.Login(t, "alice", prosodyPassword, ca.Pool)
			bob := p.Login(t, "bob", prosodyPassword, ca.Pool)
			for _, s := range []*client.Session{alice, bob} {
				if !strings.HasPrefix(s.Mechanism(), "SCRAM-SHA-") {
					t.Errorf("%s logged in with %s, want SCRAM", s.JID(), s.Mechanism())
				}
				if s.TLS() == nil || !s.TLS().HandshakeComplete {
					t.Errorf("%s: no TLS", s.JID())
				}
			}
			if err := alice.Send(chat(bob.JID().String(), "hello from alice")); err != nil {
				t.Fatal(err)
			}
			got := awaitMessage(t, bob, 5*time.Second)
			if body := got.ChildText("", "body"); body != "hello from alice" || got.Attr("from") != alice.JID().String() {
				t.Errorf("bob got %q from %s", body, got.Attr("from"))
			}
			if err := bob.Send(chat(alice.JID().String(), "hello from bob")); err != nil {
				t.Fatal(err)
			}
			if body := awaitMessage(t, alice, 5*time.Second).ChildText("", "body"); body != "hello from bob" {
				t.Errorf("alice got %q", body)
			}
		})
	}
}

// TestProsodyC2SRejects: the harness's Prosody is not a pushover: a wrong
// password fails, and a client that trusts another CA refuses Prosody's
// certificate.
func TestProsodyC2SRejects(t *testing.T) {
	findProsody(t)
	ca, other := testca.New(t), testca.New(t)
	cert, key := prosodyCert(t, ca, "prosody.test")
	p := StartProsody(t, ProsodyConfig{
		Domain: "prosody.test", CertFile: cert, KeyFile: key,
		Users: map[string]string{"alice": prosodyPassword},
	})
	for _, tc := range []struct {
		name, password string
		ca             *testca.CA
		want           string
	}{
		{"wrong password", "battery staple", ca, "not-authorized"},
		{"untrusted certificate", prosodyPassword, other, "certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			s, err := client.Dial(ctx, p.ClientConfig(t, "alice", tc.password, tc.ca.Pool))
			if err == nil {
				s.Close()
				t.Fatal("logged in")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want one mentioning %q", err, tc.want)
			}
		})
	}
}

// steer adds the DNS records that lead other servers to p: an SRV record
// _xmpp-server._tcp.DOMAIN pointing at xmpp.DOMAIN on p's s2s port, and an
// A record 127.0.0.1 for xmpp.DOMAIN.
func steer(t *testing.T, dns *dnstest.Server, p *Prosody) {
	t.Helper()
	_, port, err := net.SplitHostPort(p.S2SAddr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		t.Fatal(err)
	}
	dns.AddSRV("_xmpp-server._tcp."+p.Domain, "xmpp."+p.Domain, uint16(n), 0, 0)
	dns.AddA("xmpp."+p.Domain, netip.MustParseAddr("127.0.0.1"))
}

// TestProsodyFederation: two Prosody servers, steered to each other's s2s
// ports by one dnstest server (SRV and A records), federate in both
// directions: with certificates from a CA both trust and s2s_secure_auth
// (SASL EXTERNAL, XEP-0178), and with certificates neither can verify,
// falling back to dialback (XEP-0220), over TLS or, with s2s TLS switched
// off, without it.
func TestProsodyFederation(t *testing.T) {
	findProsody(t)
	for _, tc := range []struct {
		name string
		// trusted: both servers trust the CA that issued both
		// certificates.
		trusted, secureAuth, requireTLS, dialback bool
		extra                                     string
		wantMech                                  string
		wantTLS                                   bool
		wantChain                                 string
	}{
		{name: "certificates", trusted: true, secureAuth: true, requireTLS: true,
			wantMech: "EXTERNAL", wantTLS: true, wantChain: "valid"},
		{name: "certificates with dialback loaded", trusted: true, secureAuth: true, requireTLS: true, dialback: true,
			wantMech: "EXTERNAL", wantTLS: true, wantChain: "valid"},
		{name: "dialback over TLS, untrusted certificates", requireTLS: true, dialback: true,
			wantMech: "dialback", wantTLS: true, wantChain: "invalid"},
		{name: "dialback without TLS", dialback: true, extra: "s2s_allow_encryption = false",
			wantMech: "dialback", wantTLS: false, wantChain: "none"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dns := dnstest.Start(t)
			ca := testca.New(t)
			caFile := ""
			if tc.trusted {
				caFile = ca.WriteCA(t, t.TempDir())
			}
			domains := []string{"a.test", "b.test"}
			var servers []*Prosody
			var sessions []*client.Session
			for _, d := range domains {
				cert, key := prosodyCert(t, ca, d)
				p := StartProsody(t, ProsodyConfig{
					Domain:   d,
					CertFile: cert, KeyFile: key,
					CAFile:            caFile,
					DNS:               dns.Addr,
					SecureAuth:        tc.secureAuth,
					RequireEncryption: tc.requireTLS,
					Dialback:          tc.dialback,
					Users:             map[string]string{"user": prosodyPassword},
					Extra:             tc.extra,
				})
				steer(t, dns, p)
				s := p.Login(t, "user", prosodyPassword, ca.Pool)
				// Available presence, so that messages to the bare JID are
				// delivered rather than stored offline.
				if err := s.Send(stanza.New("", "presence")); err != nil {
					t.Fatal(err)
				}
				servers, sessions = append(servers, p), append(sessions, s)
			}
			// a -> b, then b -> a.
			for i := range 2 {
				from, to := sessions[i], sessions[1-i]
				body := fmt.Sprintf("hello %s from %s", domains[1-i], domains[i])
				if err := from.Send(chat("user@"+domains[1-i], body)); err != nil {
					t.Fatal(err)
				}
				got := awaitMessage(t, to, 10*time.Second)
				if got.ChildText("", "body") != body || got.Attr("from") != from.JID().String() {
					t.Fatalf("%s got %q from %s, want %q from %s", to.JID(), got.ChildText("", "body"), got.Attr("from"), body, from.JID())
				}
			}
			// Each server reports both of its streams, with the expected
			// method.
			for i, p := range servers {
				for _, dir := range []string{"outgoing", "incoming"} {
					a, ok := p.WaitS2SAuth(dir, domains[1-i], 5*time.Second)
					if !ok {
						t.Errorf("%s: no %s stream with %s; streams: %+v", domains[i], dir, domains[1-i], p.S2SAuths())
						continue
					}
					if a.Local != domains[i] || a.Mechanism != tc.wantMech || a.Encrypted != tc.wantTLS || a.Chain != tc.wantChain {
						t.Errorf("%s: %s stream %+v, want mechanism %s, encrypted %v, chain %s",
							domains[i], dir, a, tc.wantMech, tc.wantTLS, tc.wantChain)
					}
				}
			}
			if dns.Queries() == 0 {
				t.Error("Prosody sent no query to the test DNS server")
			}
		})
	}
}

// TestProsodySecureAuthRefusesUntrusted: with s2s_secure_auth and no trust
// in the peer's CA, no stream is established and the message bounces,
// which shows that the certificate case above does not pass for any
// certificate.
func TestProsodySecureAuthRefusesUntrusted(t *testing.T) {
	findProsody(t)
	dns := dnstest.Start(t)
	ca := testca.New(t)
	var servers []*Prosody
	for _, d := range []string{"a.test", "b.test"} {
		cert, key := prosodyCert(t, ca, d)
		p := StartProsody(t, ProsodyConfig{
			Domain: d, CertFile: cert, KeyFile: key, DNS: dns.Addr,
			SecureAuth: true, RequireEncryption: true, Dialback: true,
			Users: map[string]string{"user": prosodyPassword},
		})
		steer(t, dns, p)
		servers = append(servers, p)
	}
	s := servers[0].Login(t, "user", prosodyPassword, ca.Pool)
	if err := s.Send(chat("user@b.test", "not delivered")); err != nil {
		t.Fatal(err)
	}
	got := awaitStanza(t, s, 10*time.Second, func(el *stanza.Element) bool { return el.Name.Local == "message" })
	if got.Attr("type") != "error" || got.Attr("from") != "user@b.test" {
		t.Fatalf("got %v, want an error bounce from user@b.test", got)
	}
	// Prosody 0.12 bounces what it queued for a failed stream with
	// remote-server-timeout and the reason.
	if e := stanza.ParseError(got); e == nil || e.Condition != "remote-server-timeout" || !strings.Contains(e.Text, "certificate is not trusted") {
		t.Errorf("bounce %v, want remote-server-timeout because the certificate is not trusted", got)
	}
	if !servers[0].WaitLog("Forbidding insecure connection to/from b.test", 5*time.Second) {
		t.Error("a.test did not log why it refused b.test")
	}
	if auths := append(servers[0].S2SAuths(), servers[1].S2SAuths()...); len(auths) != 0 {
		t.Errorf("streams established: %+v", auths)
	}
}

// TestProsodyRetriesBusyPort: when a chosen port is taken before Prosody
// binds it (here, on purpose, on the first attempt), StartProsody notices
// the failed bind in the log and starts again on other ports.
func TestProsodyRetriesBusyPort(t *testing.T) {
	findProsody(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyPort := busy.Addr().(*net.TCPAddr).Port
	calls := 0
	prosodyPorts = func(n int) ([]int, error) {
		calls++
		ports, err := netutil.FreePorts(n)
		if calls == 1 && err == nil {
			ports[1] = busyPort
		}
		return ports, err
	}
	defer func() { prosodyPorts = netutil.FreePorts }()
	p := StartProsody(t, ProsodyConfig{Domain: "prosody.test"})
	if calls != 2 {
		t.Errorf("%d starts, want 2", calls)
	}
	if p.S2SAddr == busy.Addr().String() {
		t.Errorf("s2s on the busy port %s", p.S2SAddr)
	}
	// The server answers on both ports with a stream header.
	for _, addr := range []string{p.C2SAddr, p.S2SAddr} {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(c, "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='prosody.test' version='1.0'>")
		buf := make([]byte, 512)
		n, _ := io.ReadAtLeast(c, buf, 20)
		c.Close()
		if !strings.Contains(string(buf[:n]), "<stream:stream") {
			t.Errorf("%s answered %q", addr, buf[:n])
		}
	}
}

// TestProsodyConfig: the generated configuration quotes what it is given
// and says what the options ask for.
func TestProsodyConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  ProsodyConfig
		want []string
		not  []string
	}{
		{"defaults", ProsodyConfig{Domain: "p.test"},
			[]string{`VirtualHost "p.test"`, "s2s_require_encryption = false", "s2s_secure_auth = false", "c2s_ports = { 1 }", "s2s_ports = { 2 }", `"test_harness"`, "run_as_root = true"},
			[]string{"unbound", "dialback", "cafile"}},
		{"everything", ProsodyConfig{Domain: "p.test", CertFile: "/c.crt", KeyFile: "/c.key", CAFile: "/ca.pem", DNS: "127.0.0.1:5353",
			SecureAuth: true, RequireEncryption: true, Dialback: true, Modules: []string{"s2s_bidi"}, Extra: "use_ipv6 = false", HostExtra: "\tfoo = 1"},
			[]string{`forward = "127.0.0.1@5353"`, "resolvconf = false", `ssl = { cafile = "/ca.pem" }`, `ssl = { certificate = "/c.crt"; key = "/c.key" }`,
				"s2s_secure_auth = true", "s2s_require_encryption = true", `"dialback"`, `"s2s_bidi"`, "use_ipv6 = false\n\nVirtualHost", "VirtualHost \"p.test\"\n\tssl = { certificate = \"/c.crt\"; key = \"/c.key\" }\n\tfoo = 1"},
			nil},
		{"quoting", ProsodyConfig{Domain: "a\"b\\c\nd"}, []string{`VirtualHost "a\"b\\c\010d"`}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := prosodyConfig("/dir", tc.cfg, 1, 2)
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("config lacks %q:\n%s", w, got)
				}
			}
			for _, w := range tc.not {
				if strings.Contains(got, w) {
					t.Errorf("config has %q:\n%s", w, got)
				}
			}
		})
	}
}

// TestProsodyLifeline: when its standard input closes, as it does when the
// test process dies without cleaning up, Prosody shuts itself down.
func TestProsodyLifeline(t *testing.T) {
	findProsody(t)
	p := StartProsody(t, ProsodyConfig{Domain: "prosody.test"})
	p.stdin.Close()
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("prosody still runs 10s after its standard input closed")
	}
	if !strings.Contains(p.Log(), "Standard input closed") {
		t.Error("prosody exited for another reason")
	}
}

// TestRequireLuaUnbound: the DNS option needs lua-unbound in the Lua that
// runs prosody (named on the script's #! line); without it the test skips.
func TestRequireLuaUnbound(t *testing.T) {
	for _, tc := range []struct {
		name, shebang string
		skip          bool
	}{
		{"interpreter has it", "#!/usr/bin/env true", false},
		{"interpreter lacks it", "#!/usr/bin/env false", true},
		{"direct path, lacks it", "#!/bin/false", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			script := filepath.Join(t.TempDir(), "prosody")
			if err := os.WriteFile(script, []byte(tc.shebang+"\n-- Lua\n"), 0o700); err != nil {
				t.Fatal(err)
			}
			var skipped bool
			t.Run("check", func(t *testing.T) {
				defer func() { skipped = t.Skipped() }()
				requireLuaUnbound(t, script)
			})
			if skipped != tc.skip {
				t.Errorf("skipped %v, want %v", skipped, tc.skip)
			}
		})
	}
}
