package moduletest

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/starling-xmpp/starling/config"
	"github.com/starling-xmpp/starling/jid"
)

// A stanza routed to a bound session reaches its Stream, once.
func TestBindAndTake(t *testing.T) {
	cfg := config.Default()
	cfg.Hosts = []string{"example.test"}
	h := NewHost(cfg, Accounts{"alice@example.test": true, "bob@example.test": true})
	alice, aliceStream := Bind(t, h.Router, "alice@example.test/a", true)
	bob, _ := Bind(t, h.Router, "bob@example.test/b", false)
	if !alice.Available() || bob.Available() {
		t.Errorf("available: alice %v, bob %v; want true, false", alice.Available(), bob.Available())
	}
	msg := Parse(t, "<message to='alice@example.test/a' type='chat'><body>hi</body></message>")
	h.Router.Route(context.Background(), msg, bob.JID, alice.JID)
	if got := aliceStream.Take(); len(got) != 1 || got[0].ChildText("", "body") != "hi" {
		t.Fatalf("alice got %v, want the message", got)
	}
	if got := aliceStream.Take(); len(got) != 0 {
		t.Errorf("second Take returned %v, want nothing", got)
	}
}

func TestStreamConcurrent(t *testing.T) {
	var s Stream
	msg := Parse(t, "<message/>")
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() { s.Send(msg) })
	}
	wg.Wait()
	if got := s.Take(); len(got) != 10 {
		t.Errorf("took %d stanzas, want 10", len(got))
	}
}

func TestFakes(t *testing.T) {
	a := Accounts{"alice@example.test": true}
	for user, want := range map[string]bool{"alice": true, "bob": false} {
		if got, err := a.AccountExists(context.Background(), "example.test", user); got != want || err != nil {
			t.Errorf("AccountExists(%s) = %v, %v; want %v", user, got, err, want)
		}
	}
	down := errors.New("down")
	c := Contacts{Subs: map[string]map[string][2]bool{"alice@example.test": {"bob@example.test": {true, false}}}, Err: down}
	from, to, err := c.Subscription(context.Background(), jid.MustParse("alice@example.test"), jid.MustParse("bob@example.test"))
	if !from || to || err != down {
		t.Errorf("Subscription = %v, %v, %v; want true, false, %v", from, to, err, down)
	}
}

// Ask stamps the sender and returns the reply: here the router's own
// answer to a request nobody handles.
func TestAsk(t *testing.T) {
	cfg := config.Default()
	cfg.Hosts = []string{"example.test"}
	h := NewHost(cfg, Accounts{"alice@example.test": true})
	_, st := Bind(t, h.Router, "alice@example.test/a", true)
	reply := Ask(t, h.Router, "alice@example.test/a", st, "<iq type='get' id='q' to='example.test'><query xmlns='urn:example:nobody'/></iq>")
	if reply.Attr("type") != "error" || reply.Attr("id") != "q" || reply.Attr("to") != "alice@example.test/a" {
		t.Errorf("reply %v, want an error to alice for q", reply)
	}
}
