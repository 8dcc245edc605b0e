package doctor_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/starling-xmpp/starling/doctor"
	"github.com/starling-xmpp/starling/internal/dnstest"
	"github.com/starling-xmpp/starling/internal/testca"
	"github.com/starling-xmpp/starling/internal/testserver"
	"github.com/starling-xmpp/starling/jid"
	"github.com/starling-xmpp/starling/resolve"
)

const domain = "example.test"

// deployment is a Starling serving example.test with a certificate of a
// test CA, published in an in-test DNS server as xmpp.example.test.
type deployment struct {
	ca  *testca.CA
	srv *testserver.Server
	dns *dnstest.Server
}

// deploy starts the server with a certificate for leaf and extra YAML.
func deploy(t *testing.T, leaf testca.Leaf, extra string) *deployment {
	t.Helper()
	ca := testca.New(t)
	dir := t.TempDir()
	cert, key := ca.WriteFiles(t, dir, "server", leaf)
	yaml := fmt.Sprintf("hosts: [%s]\ntls:\n  certificates:\n    - cert: %q\n      key: %q\n%s", domain, cert, key, extra)
	return &deployment{ca: ca, srv: testserver.Start(t, yaml), dns: dnstest.Start(t)}
}

// publish adds the four SRV records, pointing at the server's listeners,
// and the address of their target.
func (d *deployment) publish(t *testing.T) {
	t.Helper()
	for _, r := range []struct{ name, addr string }{
		{"_xmpp-client._tcp." + domain, d.srv.Addr},
		{"_xmpps-client._tcp." + domain, d.srv.TLSAddr},
		{"_xmpp-server._tcp." + domain, d.srv.S2SAddr},
		{"_xmpps-server._tcp." + domain, d.srv.S2STLSAddr},
	} {
		d.dns.AddSRV(r.name, "xmpp."+domain, port(t, r.addr), 0, 5)
	}
	d.dns.AddA("xmpp."+domain, netip.MustParseAddr("127.0.0.1"))
}

func (d *deployment) options() doctor.Options {
	return doctor.Options{
		Domain:   domain,
		Resolver: &resolve.Resolver{DNS: d.dns.Resolver()},
		Roots:    d.ca.Pool,
		Timeout:  10 * time.Second,
	}
}

func port(t *testing.T, addr string) uint16 {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	var n uint16
	fmt.Sscan(p, &n)
	return n
}

func run(t *testing.T, opt doctor.Options) *doctor.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r := doctor.Run(ctx, opt)
	var b bytes.Buffer
	r.WriteText(&b, false)
	t.Logf("report:\n%s", b.String())
	return r
}

// only returns the single check of group (any, if "") named name.
func only(t *testing.T, r *doctor.Report, group, name string) doctor.Check {
	t.Helper()
	cs := r.Find(group, name)
	if len(cs) != 1 {
		t.Fatalf("%d checks %q in group %q, want 1", len(cs), name, group)
	}
	return cs[0]
}

func groupOf(kind, addr string, direct bool) string {
	mode := "STARTTLS"
	if direct {
		mode = "direct TLS"
	}
	return fmt.Sprintf("%s xmpp.%s:%s (%s)", kind, domain, addr[strings.LastIndex(addr, ":")+1:], mode)
}

var healthy = testca.Leaf{DNSNames: []string{domain}}

// A healthy deployment: every SRV record, every port in both modes, a
// valid certificate; a login, a ping, and the server-to-server view. Seed
// 3.1-2 (SRV), 3.3.2-1 and 3.3.2-5 (answer header), 3.4-2 (<required/>),
// 4-1 and 4-3 (TLS, certificate), 5-1 (SASL), 8 (dialback offered).
func TestSeed3_1_2_DoctorHealthy(t *testing.T) {
	d := deploy(t, healthy, "")
	d.publish(t)
	d.srv.AddUser(t, "alice@"+domain, "secret")
	opt := d.options()
	opt.User = jid.MustParse("alice@" + domain)
	opt.Password = "secret"
	opt.S2S = true
	r := run(t, opt)

	if r.Status() != doctor.OK {
		t.Errorf("status %v, want OK with no warning", r.Status())
	}
	for _, c := range r.Checks {
		if c.Status != doctor.OK {
			t.Errorf("%s / %s: %v %s (hint %q)", c.Group, c.Name, c.Status, c.Detail, c.Hint)
		}
	}
	for _, name := range []string{"_xmpp-client._tcp.", "_xmpps-client._tcp.", "_xmpp-server._tcp.", "_xmpps-server._tcp."} {
		c := only(t, r, "DNS", name+domain)
		if !strings.Contains(c.Detail, "xmpp."+domain) {
			t.Errorf("%s: detail %q does not show the record", c.Name, c.Detail)
		}
	}
	groups := map[string]bool{}
	for _, g := range []struct {
		kind, addr string
		direct     bool
	}{{"c2s", d.srv.Addr, false}, {"c2s", d.srv.TLSAddr, true}, {"s2s", d.srv.S2SAddr, false}, {"s2s", d.srv.S2STLSAddr, true}} {
		group := groupOf(g.kind, g.addr, g.direct)
		groups[group] = true
		for _, name := range []string{"connect", "TLS", "certificate"} {
			only(t, r, group, name)
		}
		if c := only(t, r, group, "connect"); c.Duration <= 0 {
			t.Errorf("%s: connect not timed", group)
		}
		if c := only(t, r, group, "certificate"); !strings.Contains(c.Detail, "valid for "+domain) || !strings.Contains(c.Detail, "expires on") {
			t.Errorf("%s: certificate detail %q", group, c.Detail)
		}
		if c := only(t, r, group, "TLS"); !strings.Contains(c.Detail, "TLS 1.") {
			t.Errorf("%s: TLS detail %q", group, c.Detail)
		}
		if g.direct {
			only(t, r, group, "stream header")
			if c := only(t, r, group, "TLS"); !strings.Contains(c.Detail, "ALPN xmpp-") {
				t.Errorf("%s: no ALPN in %q", group, c.Detail)
			}
		} else {
			only(t, r, group, "stream header over TLS")
			if c := only(t, r, group, "STARTTLS"); c.Detail != "offered and required" {
				t.Errorf("%s: STARTTLS %q", group, c.Detail)
			}
		}
		if g.kind == "c2s" {
			if c := only(t, r, group, "SASL"); !strings.Contains(c.Detail, "SCRAM-SHA-256") {
				t.Errorf("%s: SASL %q", group, c.Detail)
			}
		} else {
			if c := only(t, r, group, "dialback"); !strings.Contains(c.Detail, "offered") {
				t.Errorf("%s: dialback %q", group, c.Detail)
			}
			// No certificate presented: no EXTERNAL.
			if c := only(t, r, group, "SASL EXTERNAL"); !strings.HasPrefix(c.Detail, "not offered to "+doctor.DefaultFrom) {
				t.Errorf("%s: EXTERNAL %q", group, c.Detail)
			}
		}
	}
	if len(groups) != 4 {
		t.Errorf("groups %v", groups)
	}
	login := only(t, r, "login alice@"+domain, "login")
	if !strings.Contains(login.Detail, "logged in as alice@"+domain+"/") {
		t.Errorf("login: %q", login.Detail)
	}
	if c := only(t, r, "login alice@"+domain, "ping"); c.Duration <= 0 {
		t.Errorf("ping not timed: %+v", c)
	}
}

// Seed 6-3: the server offers SASL EXTERNAL to a peer whose certificate it
// trusts for the domain claimed, and only then.
func TestSeed6_3_DoctorExternal(t *testing.T) {
	ca := testca.New(t)
	caFile := ca.WriteCA(t, t.TempDir())
	d := deploy(t, healthy, fmt.Sprintf("s2s:\n  ca_files: [%q]\n", caFile))
	opt := d.options()
	opt.ServerAddr = d.srv.S2SAddr
	opt.ServerTLSAddr = d.srv.S2STLSAddr
	opt.ClientAddr = d.srv.Addr
	opt.S2S = true
	opt.From = "doctor.test"

	trusted := ca.Issue(t, testca.Leaf{DNSNames: []string{"doctor.test"}})
	opt.Certificate = &trusted
	r := run(t, opt)
	ext := r.Find("", "SASL EXTERNAL")
	if len(ext) != 2 {
		t.Fatalf("%d EXTERNAL checks, want 2 (STARTTLS and direct TLS)", len(ext))
	}
	for _, c := range ext {
		if c.Status != doctor.OK || !strings.HasPrefix(c.Detail, "offered to doctor.test") {
			t.Errorf("trusted certificate: %s: %v %q", c.Group, c.Status, c.Detail)
		}
	}

	// A certificate of a CA the server does not know.
	other := testca.New(t).Issue(t, testca.Leaf{DNSNames: []string{"doctor.test"}})
	opt.Certificate = &other
	r = run(t, opt)
	for _, c := range r.Find("", "SASL EXTERNAL") {
		if c.Status != doctor.Warn || !strings.HasPrefix(c.Detail, "not offered to doctor.test") || !strings.Contains(c.Hint, "s2s.ca_files") {
			t.Errorf("untrusted certificate: %s: %v %q %q", c.Group, c.Status, c.Detail, c.Hint)
		}
	}
	if r.Status() != doctor.Warn {
		t.Errorf("status %v, want WARN", r.Status())
	}
}

// Seed 4-3: an expired certificate is a FAIL with the renewal hint.
func TestSeed4_3_DoctorExpiredCertificate(t *testing.T) {
	notAfter := time.Now().Add(-48 * time.Hour)
	d := deploy(t, testca.Leaf{DNSNames: []string{domain}, NotBefore: notAfter.AddDate(0, -3, 0), NotAfter: notAfter}, "")
	opt := d.options()
	opt.ClientAddr = d.srv.Addr
	opt.ClientTLSAddr = d.srv.TLSAddr
	opt.ServerAddr = d.srv.S2SAddr
	r := run(t, opt)
	if r.Status() != doctor.Fail {
		t.Fatalf("status %v, want FAIL", r.Status())
	}
	certs := r.Find("", "certificate")
	if len(certs) != 3 {
		t.Fatalf("%d certificate checks, want 3", len(certs))
	}
	date := notAfter.UTC().Format("2006-01-02")
	for _, c := range certs {
		if c.Status != doctor.Fail || !strings.Contains(c.Hint, "expired on "+date) || !strings.Contains(c.Hint, "certbot renew") {
			t.Errorf("%s: %v %q hint %q", c.Group, c.Status, c.Detail, c.Hint)
		}
	}
	// The name is right: no name failure on top.
	if n := len(r.Find("", "certificate name")); n != 0 {
		t.Errorf("%d name failures for a certificate that names the domain", n)
	}
}

// A certificate that expires within 14 days is a WARN.
func TestSeed4_3_DoctorCertificateExpiresSoon(t *testing.T) {
	d := deploy(t, testca.Leaf{DNSNames: []string{domain}, NotAfter: time.Now().Add(5 * 24 * time.Hour)}, "")
	opt := d.options()
	opt.ClientAddr = d.srv.Addr
	opt.ServerAddr = d.srv.S2SAddr
	r := run(t, opt)
	for _, c := range r.Find("", "certificate") {
		if c.Status != doctor.Warn || !strings.Contains(c.Detail, "expires on") || !strings.Contains(c.Hint, "renew") {
			t.Errorf("%s: %v %q %q", c.Group, c.Status, c.Detail, c.Hint)
		}
	}
	if r.Status() != doctor.Warn {
		t.Errorf("status %v, want WARN", r.Status())
	}
}

// Seed 4-3: a certificate for another name is a FAIL naming both.
func TestSeed4_3_DoctorWrongName(t *testing.T) {
	d := deploy(t, testca.Leaf{DNSNames: []string{"other.example"}}, "")
	opt := d.options()
	opt.ClientAddr = d.srv.Addr
	opt.ServerTLSAddr = d.srv.S2STLSAddr
	r := run(t, opt)
	certs := r.Find("", "certificate")
	if len(certs) != 2 {
		t.Fatalf("%d certificate checks, want 2", len(certs))
	}
	for _, c := range certs {
		if c.Status != doctor.Fail || !strings.Contains(c.Hint, "the certificate is for other.example, not "+domain) {
			t.Errorf("%s: %v %q hint %q", c.Group, c.Status, c.Detail, c.Hint)
		}
	}
}

// Seed 4-3: an SRV-ID names the service it is for (RFC 6120 §13.7.1.2.1):
// one for client streams satisfies clients, not servers.
func TestSeed4_3_DoctorSRVIDPerService(t *testing.T) {
	d := deploy(t, testca.Leaf{SRVNames: []string{"_xmpp-client." + domain}}, "")
	opt := d.options()
	opt.ClientAddr = d.srv.Addr
	opt.ServerAddr = d.srv.S2SAddr
	r := run(t, opt)
	certs := r.Find("", "certificate")
	if len(certs) != 2 {
		t.Fatalf("%d certificate checks, want 2", len(certs))
	}
	for _, c := range certs {
		wantOK := !strings.Contains(c.Group, "s2s")
		if (c.Status == doctor.OK) != wantOK {
			t.Errorf("%s: %v %q, want OK=%v", c.Group, c.Status, c.Detail, wantOK)
		}
	}
}

// Seed 4-3: a chain that leads to no trusted root, and a self-signed
// certificate, are FAILs pointing at --ca and a public CA.
func TestSeed4_3_DoctorUntrusted(t *testing.T) {
	d := deploy(t, healthy, "")
	opt := d.options()
	opt.ClientAddr = d.srv.Addr
	opt.ServerAddr = d.srv.S2SAddr
	opt.Roots = testca.New(t).Pool // not the server's CA
	r := run(t, opt)
	for _, c := range r.Find("", "certificate") {
		if c.Status != doctor.Fail || !strings.Contains(c.Detail, "not trusted") || !strings.Contains(c.Hint, "--ca") {
			t.Errorf("%s: %v %q %q", c.Group, c.Status, c.Detail, c.Hint)
		}
	}

	// Starling's generated self-signed certificate.
	self := testserver.Start(t, "hosts: ["+domain+"]\n")
	opt.ClientAddr, opt.ServerAddr = self.Addr, ""
	r = run(t, opt)
	if c := only(t, r, "", "certificate"); c.Status != doctor.Fail || !strings.Contains(c.Detail, "self-signed") {
		t.Errorf("self-signed: %v %q", c.Status, c.Detail)
	}
}

// Seed 3.1-2: without SRV records the report warns, names the fallback
// and says what to publish; without an address for the domain either, the
// connection fails with the hint to publish one.
func TestSeed3_1_2_DoctorMissingSRV(t *testing.T) {
	dns := dnstest.Start(t)
	r := run(t, doctor.Options{Domain: domain, Resolver: &resolve.Resolver{DNS: dns.Resolver()}, Roots: testca.New(t).Pool, Timeout: 5 * time.Second})
	want := map[string]string{
		"_xmpp-client._tcp.":  "the fallback example.test:5222 is used",
		"_xmpps-client._tcp.": "no direct TLS",
		"_xmpp-server._tcp.":  "the fallback example.test:5269 is used",
		"_xmpps-server._tcp.": "no direct TLS",
	}
	for name, detail := range want {
		c := only(t, r, "DNS", name+domain)
		if c.Status != doctor.Warn || !strings.Contains(c.Detail, detail) || !strings.Contains(c.Hint, "publish "+name+domain+". SRV") {
			t.Errorf("%s: %v %q %q", c.Name, c.Status, c.Detail, c.Hint)
		}
	}
	for _, group := range []string{"c2s example.test:5222 (STARTTLS)", "s2s example.test:5269 (STARTTLS)"} {
		c := only(t, r, group, "connect")
		if c.Status != doctor.Fail || !strings.Contains(c.Hint, "publish an A or AAAA record for example.test") {
			t.Errorf("%s: %v %q %q", group, c.Status, c.Detail, c.Hint)
		}
	}

	// Records for STARTTLS only: the direct-TLS ones are missing, the
	// others are fine, and a "." says federation is off on purpose.
	d := deploy(t, healthy, "")
	d.dns.AddSRV("_xmpp-client._tcp."+domain, "xmpp."+domain, port(t, d.srv.Addr), 0, 5)
	d.dns.AddSRV("_xmpp-server._tcp."+domain, ".", 0, 0, 0)
	d.dns.AddSRV("_xmpps-server._tcp."+domain, ".", 0, 0, 0)
	d.dns.AddA("xmpp."+domain, netip.MustParseAddr("127.0.0.1"))
	r = run(t, d.options())
	if c := only(t, r, "DNS", "_xmpps-client._tcp."+domain); c.Status != doctor.Warn {
		t.Errorf("missing _xmpps-client: %v %q", c.Status, c.Detail)
	}
	for _, name := range []string{"_xmpp-client._tcp.", "_xmpp-server._tcp.", "_xmpps-server._tcp."} {
		if c := only(t, r, "DNS", name+domain); c.Status != doctor.OK {
			t.Errorf("%s: %v %q", name, c.Status, c.Detail)
		}
	}
	if c := only(t, r, "DNS", "_xmpp-server._tcp."+domain); !strings.Contains(c.Detail, "no s2s service at all") {
		t.Errorf("declared absent: %q", c.Detail)
	}
	for _, c := range r.Checks {
		if strings.HasPrefix(c.Group, "s2s") {
			t.Errorf("s2s probed although declared absent: %s", c.Group)
		}
	}
	if r.Status() != doctor.Warn {
		t.Errorf("status %v, want WARN", r.Status())
	}
}

// fakeServer accepts connections on 127.0.0.1:0 and answers each with a
// stream header and features, refuses <starttls/> with <failure/>, and
// echoes a closing tag when the client closes.
func fakeServer(t *testing.T, header, features string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				br := bufio.NewReader(c)
				// The header: up to the '>' closing <stream:stream ...>.
				for range 2 {
					if _, err := br.ReadString('>'); err != nil {
						return
					}
				}
				io.WriteString(c, header+features)
				buf := make([]byte, 512)
				for {
					n, err := br.Read(buf)
					if n > 0 && strings.Contains(string(buf[:n]), "<starttls") {
						// RFC 6120 §5.4.2.2: refused.
						io.WriteString(c, "<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:stream>")
						return
					}
					if n > 0 && strings.Contains(string(buf[:n]), "</stream:stream>") {
						io.WriteString(c, "</stream:stream>")
						return
					}
					if err != nil {
						return
					}
				}
			})
		}
	})
	return l.Addr().String()
}

const fakeHeader = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' from='example.test' id='s1' version='1.0'>"

// Seed 4-1 and 3.4-2: a server that does not offer STARTTLS is a FAIL
// with the hint to enable TLS; PLAIN offered in the clear is a WARN.
func TestSeed4_1_DoctorNoSTARTTLS(t *testing.T) {
	addr := fakeServer(t, fakeHeader,
		"<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>")
	dns := dnstest.Start(t)
	// Federation declared absent: only the fake client port is probed.
	dns.AddSRV("_xmpp-server._tcp."+domain, ".", 0, 0, 0)
	r := run(t, doctor.Options{Domain: domain, ClientAddr: addr, Resolver: &resolve.Resolver{DNS: dns.Resolver()}, Roots: testca.New(t).Pool, Timeout: 5 * time.Second})
	group := "c2s " + addr + " (STARTTLS)"
	if c := only(t, r, group, "stream header"); c.Status != doctor.OK {
		t.Errorf("header: %v %q", c.Status, c.Detail)
	}
	c := only(t, r, group, "STARTTLS")
	if c.Status != doctor.Fail || !strings.Contains(c.Detail, "STARTTLS is not offered") || !strings.Contains(c.Hint, "enable TLS") {
		t.Errorf("STARTTLS: %v %q %q", c.Status, c.Detail, c.Hint)
	}
	c = only(t, r, group, "SASL before TLS")
	if c.Status != doctor.Warn || !strings.Contains(c.Detail, "PLAIN is offered before TLS") {
		t.Errorf("PLAIN: %v %q %q", c.Status, c.Detail, c.Hint)
	}
	if len(r.Find(group, "TLS")) != 0 {
		t.Error("TLS reported without STARTTLS")
	}
	if r.Status() != doctor.Fail {
		t.Errorf("status %v, want FAIL", r.Status())
	}
}

// Seed 3.3.2-1: an answer header without 'from' or 'id' is a WARN; one
// from another domain says to add the domain to the hosts.
func TestSeed3_3_2_DoctorHeader(t *testing.T) {
	features := "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>"
	for _, tc := range []struct{ header, detail string }{
		{strings.Replace(fakeHeader, "from='example.test' ", "", 1), "no 'from' attribute"},
		{strings.Replace(fakeHeader, "id='s1' ", "", 1), "no 'id' attribute"},
		{strings.Replace(fakeHeader, "example.test", "other.example", 1), `from "other.example"`},
	} {
		addr := fakeServer(t, tc.header, features)
		dns := dnstest.Start(t)
		dns.AddSRV("_xmpp-server._tcp."+domain, ".", 0, 0, 0)
		r := run(t, doctor.Options{Domain: domain, ClientAddr: addr, Resolver: &resolve.Resolver{DNS: dns.Resolver()}, Roots: testca.New(t).Pool, Timeout: 5 * time.Second})
		c := only(t, r, "", "stream header")
		if c.Status != doctor.Warn || !strings.Contains(c.Detail, tc.detail) || c.Hint == "" {
			t.Errorf("%q: %v %q %q", tc.detail, c.Status, c.Detail, c.Hint)
		}
		// The fake refuses STARTTLS.
		if c := only(t, r, "", "TLS"); c.Status != doctor.Fail || !strings.Contains(c.Detail, "it sent <failure/>") {
			t.Errorf("refused STARTTLS: %v %q", c.Status, c.Detail)
		}
	}
}

// Seed 3.4-2: STARTTLS offered but not required, and PLAIN offered before
// TLS (c2s.allow_plaintext), are WARNs.
func TestSeed3_4_2_DoctorTLSNotRequired(t *testing.T) {
	d := deploy(t, healthy, "c2s:\n  allow_plaintext: true\n")
	opt := d.options()
	opt.ClientAddr = d.srv.Addr
	opt.ServerAddr = d.srv.S2SAddr
	r := run(t, opt)
	group := "c2s " + d.srv.Addr + " (STARTTLS)"
	if c := only(t, r, group, "STARTTLS"); c.Status != doctor.Warn || !strings.Contains(c.Hint, "allow_plaintext: false") {
		t.Errorf("STARTTLS: %v %q %q", c.Status, c.Detail, c.Hint)
	}
	if c := only(t, r, group, "SASL before TLS"); c.Status != doctor.Warn {
		t.Errorf("PLAIN before TLS: %v %q", c.Status, c.Detail)
	}
	if c := only(t, r, "s2s "+d.srv.S2SAddr+" (STARTTLS)", "STARTTLS"); c.Status != doctor.OK {
		t.Errorf("s2s STARTTLS: %v %q", c.Status, c.Detail)
	}
	if r.Status() != doctor.Warn {
		t.Errorf("status %v, want WARN", r.Status())
	}
}

// A wrong password is a FAIL naming not-authorized (seed 5-4: the SASL
// failure condition is reported).
func TestSeed5_4_DoctorWrongPassword(t *testing.T) {
	d := deploy(t, healthy, "")
	d.srv.AddUser(t, "alice@"+domain, "secret")
	opt := d.options()
	opt.ClientTLSAddr = d.srv.TLSAddr // the login uses direct TLS then
	opt.ServerAddr = d.srv.S2SAddr
	opt.User = jid.MustParse("alice@" + domain)
	opt.Password = "wrong"
	r := run(t, opt)
	c := only(t, r, "login alice@"+domain, "login")
	if c.Status != doctor.Fail || !strings.Contains(c.Detail, "not-authorized") || !strings.Contains(c.Hint, "starling user passwd alice@"+domain) {
		t.Errorf("login: %v %q %q", c.Status, c.Detail, c.Hint)
	}
	if len(r.Find("", "ping")) != 0 {
		t.Error("ping reported after a failed login")
	}

	opt.Password = "secret"
	r = run(t, opt)
	if c := only(t, r, "login alice@"+domain, "login"); c.Status != doctor.OK {
		t.Errorf("direct TLS login: %v %q", c.Status, c.Detail)
	}
}

// Wrong ports: a STARTTLS port probed as direct TLS, and a closed port.
func TestDoctorWrongPorts(t *testing.T) {
	d := deploy(t, healthy, "")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	opt := d.options()
	opt.ClientTLSAddr = d.srv.Addr
	opt.ServerAddr = closed
	r := run(t, opt)
	if c := only(t, r, "c2s "+d.srv.Addr+" (direct TLS)", "TLS"); c.Status != doctor.Fail || !strings.Contains(c.Hint, "does not speak TLS at once") {
		t.Errorf("direct TLS on a STARTTLS port: %v %q %q", c.Status, c.Detail, c.Hint)
	}
	if c := only(t, r, "s2s "+closed+" (STARTTLS)", "connect"); c.Status != doctor.Fail || !strings.Contains(c.Hint, "nothing listens") {
		t.Errorf("closed port: %v %q %q", c.Status, c.Detail, c.Hint)
	}
}

// A domain the server does not serve: the stream error is reported with
// the hint to add the host.
func TestDoctorHostUnknown(t *testing.T) {
	d := deploy(t, healthy, "")
	opt := d.options()
	opt.Domain = "elsewhere.test"
	opt.ClientAddr = d.srv.Addr
	opt.ServerAddr = d.srv.S2SAddr
	r := run(t, opt)
	for _, c := range r.Find("", "stream header") {
		if c.Status != doctor.Fail || !strings.Contains(c.Detail, "host-unknown") || !strings.Contains(c.Hint, "add it to hosts") {
			t.Errorf("%s: %v %q %q", c.Group, c.Status, c.Detail, c.Hint)
		}
	}
}

// The JSON report carries every check with the same statuses.
func TestDoctorJSON(t *testing.T) {
	d := deploy(t, testca.Leaf{DNSNames: []string{"other.example"}}, "")
	opt := d.options()
	opt.ClientAddr = d.srv.Addr
	r := run(t, opt)
	var b bytes.Buffer
	if err := r.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Domain string
		Status string
		Checks []struct {
			Group, Name, Status, Detail, Hint string
			MS                                float64
		}
	}
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	if got.Domain != domain || got.Status != "FAIL" || len(got.Checks) != len(r.Checks) {
		t.Fatalf("domain %q status %q, %d checks (want %d)", got.Domain, got.Status, len(got.Checks), len(r.Checks))
	}
	for i, c := range got.Checks {
		w := r.Checks[i]
		if c.Group != w.Group || c.Name != w.Name || c.Status != w.Status.String() || c.Detail != w.Detail || c.Hint != w.Hint {
			t.Errorf("check %d: %+v, want %+v", i, c, w)
		}
		if (c.MS > 0) != (w.Duration > 0) {
			t.Errorf("check %d: ms %v for duration %v", i, c.MS, w.Duration)
		}
	}
}

// An invalid domain is one FAIL, not a crash.
func TestDoctorBadDomain(t *testing.T) {
	r := doctor.Run(context.Background(), doctor.Options{Domain: "user@example.test"})
	if r.Status() != doctor.Fail || len(r.Checks) != 1 {
		t.Errorf("%+v", r.Checks)
	}
}
