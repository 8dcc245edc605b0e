package interop

import (
	"crypto/x509"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/starling-xmpp/starling/client"
	"github.com/starling-xmpp/starling/internal/dnstest"
	"github.com/starling-xmpp/starling/internal/testca"
	"github.com/starling-xmpp/starling/internal/testserver"
	"github.com/starling-xmpp/starling/resolve"
	"github.com/starling-xmpp/starling/stanza"
)

// TestStarlingProsodyFederation: Starling (starling.test) and Debian's
// Prosody (prosody.test) federate in both directions, found through SRV
// records in one in-test DNS server: a message each way and a
// subscription each way, with certificates from a CA both trust (SASL
// EXTERNAL, seed 6-3) and with certificates neither can verify (dialback,
// seed 8). Both servers' own accounts of each link name the method.
func TestStarlingProsodyFederation(t *testing.T) {
	findProsody(t)
	for _, tc := range []struct {
		name     string
		trusted  bool
		wantMech string // Prosody's name
		wantAuth string // Starling's
	}{
		{"certificates", true, "EXTERNAL", "SASL EXTERNAL"},
		{"dialback", false, "dialback", "dialback"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dns := dnstest.Start(t)
			ca := testca.New(t)
			dir := t.TempDir()
			caFile := ca.WriteCA(t, dir)

			// Prosody trusts the CA only in the certificate case.
			pCert, pKey := prosodyCert(t, ca, "prosody.test")
			pCA := ""
			if tc.trusted {
				pCA = caFile
			}
			p := StartProsody(t, ProsodyConfig{
				Domain: "prosody.test", CertFile: pCert, KeyFile: pKey, CAFile: pCA,
				DNS: dns.Addr, SecureAuth: tc.trusted, RequireEncryption: true, Dialback: !tc.trusted,
				Users: map[string]string{"juliet": prosodyPassword},
			})
			steer(t, dns, p)

			sCert, sKey := ca.WriteFiles(t, dir, "starling.test", testca.Leaf{CommonName: "starling.test", DNSNames: []string{"starling.test"}})
			yaml := fmt.Sprintf("hosts: [starling.test]\ntls:\n  certificates: [{cert: %s, key: %s}]\ns2s:\n", sCert, sKey)
			if tc.trusted {
				yaml += fmt.Sprintf("  ca_files: [%s]\n  secure_auth: true\n", caFile)
			}
			s := testserver.Start(t, yaml)
			s.Federation().SetResolver(&resolve.Resolver{DNS: dns.Resolver()})
			_, port, _ := net.SplitHostPort(s.S2SAddr)
			n, _ := strconv.ParseUint(port, 10, 16)
			dns.AddSRV("_xmpp-server._tcp.starling.test", "xmpp.starling.test", uint16(n), 0, 0)
			dns.AddA("xmpp.starling.test", netip.MustParseAddr("127.0.0.1"))
			s.AddUser(t, "romeo@starling.test", "romeo-pw")

			roots := x509.NewCertPool()
			roots.AppendCertsFromPEM(ca.CertPEM)
			juliet := p.Login(t, "juliet", prosodyPassword, roots)
			romeo := s.Login(t, "romeo@starling.test/phone", "romeo-pw")
			for _, c := range []*client.Session{juliet, romeo} {
				c.Send(stanza.New("", "iq").SetAttr("type", "get").SetAttr("id", "r0").Append(stanza.New("jabber:iq:roster", "query")))
				awaitStanza(t, c, 10*time.Second, func(el *stanza.Element) bool { return el.Attr("id") == "r0" })
				c.Send(stanza.New("", "presence"))
			}

			// A message each way.
			romeo.Send(chat(juliet.JID().String(), "from starling"))
			if m := awaitMessage(t, juliet, 15*time.Second); m.ChildText("", "body") != "from starling" || m.Attr("from") != romeo.JID().String() {
				t.Fatalf("juliet got %s", m)
			}
			juliet.Send(chat(romeo.JID().String(), "from prosody"))
			if m := awaitMessage(t, romeo, 15*time.Second); m.ChildText("", "body") != "from prosody" || m.Attr("from") != juliet.JID().String() {
				t.Fatalf("romeo got %s", m)
			}

			// A subscription each way (RFC 6121 §3.1).
			subscribe := func(who, whom *client.Session, whoBare, whomBare string) {
				t.Helper()
				who.Send(stanza.New("", "presence").SetAttr("type", "subscribe").SetAttr("to", whomBare))
				awaitStanza(t, whom, 15*time.Second, func(el *stanza.Element) bool {
					return el.Name.Local == "presence" && el.Attr("type") == "subscribe" && el.Attr("from") == whoBare
				})
				whom.Send(stanza.New("", "presence").SetAttr("type", "subscribed").SetAttr("to", whoBare))
				awaitStanza(t, who, 15*time.Second, func(el *stanza.Element) bool {
					return el.Name.Local == "presence" && el.Attr("type") == "subscribed" && el.Attr("from") == whomBare
				})
				// Then the contact's presence (RFC 6121 §3.1.5).
				awaitStanza(t, who, 15*time.Second, func(el *stanza.Element) bool {
					return el.Name.Local == "presence" && el.Attr("type") == "" && strings.HasPrefix(el.Attr("from"), whomBare+"/")
				})
			}
			subscribe(romeo, juliet, "romeo@starling.test", "juliet@prosody.test")
			subscribe(juliet, romeo, "juliet@prosody.test", "romeo@starling.test")

			// How each side authenticated the other.
			for _, dir := range []string{"outgoing", "incoming"} {
				a, ok := p.WaitS2SAuth(dir, "starling.test", 5*time.Second)
				if !ok || a.Mechanism != tc.wantMech || !a.Encrypted {
					t.Errorf("Prosody's %s stream: %+v (found %v), want %s over TLS", dir, a, ok, tc.wantMech)
				}
			}
			var outAuth, inAuth string
			for _, l := range s.Federation().Links() {
				if l.Direction == "out" {
					outAuth = l.Auth
				} else {
					inAuth = l.Auth
				}
			}
			if outAuth != tc.wantAuth || inAuth != tc.wantAuth {
				t.Errorf("Starling's links: out %q, in %q; want %q", outAuth, inAuth, tc.wantAuth)
			}
		})
	}
}
