package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/starling-xmpp/starling/client"
	"github.com/starling-xmpp/starling/jid"
	"github.com/starling-xmpp/starling/stanza"
)

const nsRoster = "jabber:iq:roster"

// TestRestartKeepsIMState checks that what RFC 6121 asks the server to
// remember survives the process: a subscription request made while the
// contact was offline (12-6), a message stored for an offline user
// (10.7-4, XEP-0160), and roster items and their subscription states (11-1).
// The first restart follows SIGKILL, so nothing may depend on a clean
// shutdown.
func TestRestartKeepsIMState(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin, cfgPath := newInstance(t, "")
	dir := filepath.Dir(cfgPath)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// First run: alice, alone, asks for bob's presence, writes to him,
	// and adds carol with a name and a group.
	srv := startServe(t, bin, cfgPath)
	pool := trustSelfSigned(t, filepath.Join(dir, "data"))
	alice := imLogin(ctx, t, srv, pool, "alice@localhost", "laptop")
	getRoster(ctx, t, alice) // roster pushes go to interested resources only
	alice.Send(stanza.New("", "presence").SetAttr("to", "bob@localhost").SetAttr("type", "subscribe"))
	push := expect(ctx, t, alice, "roster push for bob", func(el *stanza.Element) bool {
		return el.Name.Local == "iq" && el.Attr("type") == "set"
	})
	if it := rosterItem(push, "bob@localhost"); it == nil || it.Attr("ask") != "subscribe" {
		t.Fatalf("push after subscribe: %v", push)
	}
	alice.Send(stanza.New("", "message").SetAttr("to", "bob@localhost").SetAttr("type", "chat").SetAttr("id", "m1").
		Append(stanza.New("", "body").AppendText("Are you there?")))
	alice.Send(stanza.New("", "iq").SetAttr("type", "set").SetAttr("id", "add").Append(
		stanza.New(nsRoster, "query").Append(stanza.New(nsRoster, "item").SetAttr("jid", "carol@localhost").SetAttr("name", "Carol").
			Append(stanza.New(nsRoster, "group").AppendText("Friends")))))
	// The reply to the roster set comes after the message was handled:
	// alice's stanzas are processed in order.
	expect(ctx, t, alice, "roster set result", func(el *stanza.Element) bool {
		return el.Name.Local == "iq" && el.Attr("id") == "add" && el.Attr("type") == "result"
	})
	srv.cmd.Process.Signal(syscall.SIGKILL)
	srv.wait(15 * time.Second)
	alice.Abort()

	// Second run: bob comes online and gets both.
	srv = startServe(t, bin, cfgPath)
	bob := imLogin(ctx, t, srv, pool, "bob@localhost", "phone")
	getRoster(ctx, t, bob)
	bob.Send(stanza.New("", "presence"))
	var gotRequest, gotMessage bool
	for i := 0; i < 10 && !(gotRequest && gotMessage); i++ {
		el, err := bob.Recv(ctx)
		if err != nil {
			t.Fatalf("bob after restart: %v (request %v, message %v)", err, gotRequest, gotMessage)
		}
		switch {
		case el.Name.Local == "presence" && el.Attr("type") == "subscribe":
			gotRequest = el.Attr("from") == "alice@localhost"
		case el.Name.Local == "message":
			gotMessage = el.ChildText("", "body") == "Are you there?" && el.Attr("from") == "alice@localhost/laptop" &&
				el.Child("urn:xmpp:delay", "delay") != nil
		}
	}
	if !gotRequest || !gotMessage {
		t.Fatalf("bob after restart: subscription request %v, offline message %v", gotRequest, gotMessage)
	}
	bob.Send(stanza.New("", "presence").SetAttr("to", "alice@localhost").SetAttr("type", "subscribed"))
	expect(ctx, t, bob, "roster push for alice", func(el *stanza.Element) bool {
		it := rosterItem(el, "alice@localhost")
		return it != nil && it.Attr("subscription") == "from"
	})
	bob.Close()
	srv.cmd.Process.Signal(syscall.SIGTERM)
	if err := srv.wait(15 * time.Second); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}

	// Third run: the rosters are as they were left, and the stored
	// message was delivered once only.
	srv = startServe(t, bin, cfgPath)
	alice = imLogin(ctx, t, srv, pool, "alice@localhost", "laptop")
	roster := getRoster(ctx, t, alice)
	if it := rosterItem(roster, "bob@localhost"); it == nil || it.Attr("subscription") != "to" || it.HasAttr("ask") {
		t.Errorf("alice's item for bob: %v", roster)
	}
	if it := rosterItem(roster, "carol@localhost"); it == nil || it.Attr("name") != "Carol" || it.ChildText(nsRoster, "group") != "Friends" || it.Attr("subscription") != "none" {
		t.Errorf("alice's item for carol: %v", roster)
	}
	bob = imLogin(ctx, t, srv, pool, "bob@localhost", "phone")
	bob.Send(stanza.New("", "presence"))
	bob.Send(stanza.New("", "iq").SetAttr("type", "get").SetAttr("id", "r").Append(stanza.New(nsRoster, "query")))
	for i := 0; i < 10; i++ {
		el, err := bob.Recv(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if el.Name.Local == "message" {
			t.Errorf("offline message delivered again: %v", el)
		}
		if el.Attr("id") == "r" {
			if it := rosterItem(el, "alice@localhost"); it == nil || it.Attr("subscription") != "from" {
				t.Errorf("bob's item for alice: %v", el)
			}
			break
		}
	}
	alice.Close()
	bob.Close()
}

// imLogin logs in with SCRAM over STARTTLS, trusting pool.
func imLogin(ctx context.Context, t *testing.T, srv *serve, pool *x509.CertPool, addr, res string) *client.Session {
	t.Helper()
	s, err := client.Dial(ctx, client.Config{
		JID:      jid.MustParse(addr + "/" + res),
		Password: "pw-" + addr,
		Addr:     srv.addrs["c2s"],
		TLS:      &tls.Config{RootCAs: pool, ServerName: "localhost"},
	})
	if err != nil {
		t.Fatalf("login %s: %v", addr, err)
	}
	return s
}

// expect reads stanzas until match accepts one, skipping up to ten others.
func expect(ctx context.Context, t *testing.T, s *client.Session, what string, match func(*stanza.Element) bool) *stanza.Element {
	t.Helper()
	for i := 0; i < 10; i++ {
		el, err := s.Recv(ctx)
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		if match(el) {
			return el
		}
	}
	t.Fatalf("no %s in ten stanzas", what)
	return nil
}

// getRoster asks for the roster and returns the result.
func getRoster(ctx context.Context, t *testing.T, s *client.Session) *stanza.Element {
	t.Helper()
	s.Send(stanza.New("", "iq").SetAttr("type", "get").SetAttr("id", "roster").Append(stanza.New(nsRoster, "query")))
	return expect(ctx, t, s, "roster result", func(el *stanza.Element) bool {
		return el.Attr("id") == "roster" && el.Attr("type") == "result"
	})
}

// rosterItem returns the roster item for addr in a roster result or push.
func rosterItem(iq *stanza.Element, addr string) *stanza.Element {
	q := iq.Child(nsRoster, "query")
	if q == nil {
		return nil
	}
	for it := range q.Elements() {
		if it.Attr("jid") == addr {
			return it
		}
	}
	return nil
}
