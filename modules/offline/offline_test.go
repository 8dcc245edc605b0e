package offline

import (
	"testing"

	"github.com/starling-xmpp/starling/stanza"
	"github.com/starling-xmpp/starling/xmlstream"
)

func TestWorthKeeping(t *testing.T) {
	for _, tc := range []struct {
		msg  string
		keep bool
	}{
		{`<message><body>hi</body></message>`, true},
		{`<message><composing xmlns='http://jabber.org/protocol/chatstates'/></message>`, false},
		{`<message><active xmlns='http://jabber.org/protocol/chatstates'/><body>hi</body></message>`, true},
		{`<message><body>hi</body><no-store xmlns='urn:xmpp:hints'/></message>`, false},
		{`<message><body>hi</body><no-permanent-store xmlns='urn:xmpp:hints'/></message>`, false},
		{`<message><composing xmlns='http://jabber.org/protocol/chatstates'/><store xmlns='urn:xmpp:hints'/></message>`, true},
		{`<message><x xmlns='jabber:x:conference' jid='room@conference.localhost'/></message>`, true},
		{`<message/>`, false},
	} {
		el, err := xmlstream.Parse([]byte(tc.msg), stanza.NSClient, xmlstream.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if got := worthKeeping(el); got != tc.keep {
			t.Errorf("worthKeeping(%s) = %v, want %v", tc.msg, got, tc.keep)
		}
	}
}
