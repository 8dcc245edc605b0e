package lastactivity_test

import (
	"context"
	"testing"
	"time"

	"github.com/starling-xmpp/starling/internal/testserver"
	"github.com/starling-xmpp/starling/jid"
	"github.com/starling-xmpp/starling/modules/lastactivity"
	"github.com/starling-xmpp/starling/stanza"
)

// bobSeesAlice: bob has a presence subscription to alice.
type bobSeesAlice struct{}

func (bobSeesAlice) Subscription(_ context.Context, user, contact jid.JID) (from, to bool, err error) {
	return user.String() == "alice@localhost" && contact.String() == "bob@localhost", false, nil
}

// Through real streams: the status of the unavailable presence alice
// sends before closing her stream is what bob, her contact, is told, with
// the seconds since; before alice ever logged in there was nothing to
// tell. With the roster module on, it handles (consumes) the presence
// broadcast; the status must be seen all the same.
func TestLogoutThroughStreams(t *testing.T) {
	for _, roster := range []bool{false, true} {
		t.Run(map[bool]string{false: "roster off", true: "roster on"}[roster], func(t *testing.T) {
			testLogout(t, roster)
		})
	}
}

func testLogout(t *testing.T, roster bool) {
	srv := testserver.Start(t, "modules:\n  roster: "+map[bool]string{false: "false", true: "true"}[roster]+"\n")
	// The test decides who is subscribed (replacing the roster's answers).
	srv.Host().SetContacts(bobSeesAlice{})
	srv.AddUser(t, "alice@localhost", "pw")
	srv.AddUser(t, "bob@localhost", "pw")
	bob := srv.Login(t, "bob@localhost/b", "pw")

	ask := func() *stanza.Element {
		t.Helper()
		if err := bob.SendRaw([]byte("<iq type='get' id='l1' to='alice@localhost'><query xmlns='jabber:iq:last'/></iq>")); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		el, err := bob.Recv(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return el
	}
	if e := stanza.ParseError(ask()); e == nil || e.Condition != stanza.ServiceUnavailable {
		t.Fatalf("before any login: got %v, want service-unavailable", e)
	}

	alice := srv.Login(t, "alice@localhost/a", "pw")
	if q := ask().Child(lastactivity.NS, "query"); q == nil || q.Attr("seconds") != "0" || q.Text() != "" {
		t.Fatalf("alice online: got %v", q)
	}
	if err := alice.SendRaw([]byte("<presence type='unavailable'><status>Heading Home</status></presence>")); err != nil {
		t.Fatal(err)
	}
	if err := alice.CloseTimeout(2 * time.Second); err != nil {
		t.Fatal(err)
	}
	// The session ends on the server's side a moment after the stream.
	deadline := time.Now().Add(5 * time.Second)
	for {
		q := ask().Child(lastactivity.NS, "query")
		if q != nil && q.Text() == "Heading Home" && q.Attr("seconds") != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after logout: got %v", q)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
