package router

import (
	"context"
	"testing"

	"github.com/starling-xmpp/starling/jid"
	"github.com/starling-xmpp/starling/stanza"
)

// discard is a stream that takes everything and keeps nothing.
type discard struct{}

func (discard) Send(*stanza.Element) bool { return true }
func (discard) Replaced(*Session)         {}
func (discard) Close(*stanza.StreamError) {}

// BenchmarkRouteMessage: one chat message from a local full JID to
// another, through the outbound hooks (none here), the session table and
// delivery: the router's own cost per message.
func BenchmarkRouteMessage(b *testing.B) {
	for _, tc := range []struct {
		name string
		to   string
	}{{"full JID", "bob@example.test/b"}, {"bare JID", "bob@example.test"}} {
		b.Run(tc.name, func(b *testing.B) {
			r := newTestRouter()
			from := jid.MustParse("alice@example.test/a")
			bob := NewSession(jid.MustParse("bob@example.test/b"), discard{})
			if _, err := r.Bind(bob, false); err != nil {
				b.Fatal(err)
			}
			r.SetPresence(bob, true, 0)
			to := jid.MustParse(tc.to)
			msg := stanza.New("", "message").SetAttr("type", "chat").SetAttr("to", tc.to).SetAttr("from", from.String()).
				Append(stanza.New("", "body").AppendText("hello"))
			ctx := context.Background()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					r.Route(ctx, msg, from, to)
				}
			})
		})
	}
}
