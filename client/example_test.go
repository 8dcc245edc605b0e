package client_test

import (
	"context"
	"log"
	"os"
	"os/signal"

	"github.com/starling-xmpp/starling/client"
	"github.com/starling-xmpp/starling/jid"
	"github.com/starling-xmpp/starling/stanza"
)

// An echo bot: it logs in (finding the server through DNS and verifying
// its certificate), says it is online, and sends every chat message back
// to whoever sent it, until interrupted.
func Example_echoBot() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	s, err := client.Dial(ctx, client.Config{JID: jid.MustParse("echo@example.org"), Password: os.Getenv("ECHO_PASSWORD")})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	s.Handle("message", "", func(ctx context.Context, m *stanza.Element) {
		if body := m.ChildText("", "body"); body != "" && m.Attr("type") != "error" {
			s.Send(stanza.New("", "message").SetAttr("to", m.Attr("from")).SetAttr("type", "chat").
				Append(stanza.New("", "body").AppendText(body)))
		}
	})
	s.Send(stanza.New("", "presence"))
	if err := s.Serve(ctx); err != nil && ctx.Err() == nil {
		log.Fatal(err)
	}
}

// Asking something and waiting for the answer: the reply is matched to the
// request, and an error reply is a *stanza.Error.
func ExampleSession_IQ() {
	ctx := context.Background()
	s, err := client.Dial(ctx, client.Config{JID: jid.MustParse("alice@example.org"), Password: os.Getenv("PASSWORD")})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	res, err := s.IQ(ctx, stanza.New("", "iq").SetAttr("type", "get").SetAttr("to", "example.org").
		Append(stanza.New("jabber:iq:version", "query")))
	if err != nil {
		log.Fatal(err)
	}
	log.Println("the server runs", res.FirstElement().ChildText("jabber:iq:version", "name"))
}

// A connection that comes back by itself after the network drops it.
func ExampleConnect() {
	ctx := context.Background()
	m, err := client.Connect(ctx, client.Config{JID: jid.MustParse("alice@example.org/desk"), Password: os.Getenv("PASSWORD")},
		client.ManagedOptions{
			Presence: stanza.New("", "presence"),
			OnConnect: func(ctx context.Context, s *client.Session) error {
				s.Handle("message", "", func(_ context.Context, m *stanza.Element) { log.Println(m.ChildText("", "body")) })
				return nil
			},
		})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	select {}
}
