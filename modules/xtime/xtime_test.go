package xtime

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/starling-xmpp/starling/config"
	"github.com/starling-xmpp/starling/internal/moduletest"
	"github.com/starling-xmpp/starling/jid"
	"github.com/starling-xmpp/starling/router"
	"github.com/starling-xmpp/starling/stanza"
)

func TestAnswer(t *testing.T) {
	tests := []struct {
		name     string
		t        time.Time
		tzo, utc string
	}{
		// XEP-0202 §3's example.
		{"west of UTC", time.Date(2006, 12, 19, 11, 58, 35, 0, time.FixedZone("MDT", -6*3600)), "-06:00", "2006-12-19T17:58:35Z"},
		{"UTC", time.Date(1969, 7, 21, 2, 56, 15, 0, time.UTC), "+00:00", "1969-07-21T02:56:15Z"},
		{"east, across midnight, half hour", time.Date(2024, 1, 1, 3, 10, 0, 999_999_999, time.FixedZone("IST", 5*3600+1800)), "+05:30", "2023-12-31T21:40:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			el := Answer(tt.t)
			if el.Name != (stanza.Name{Space: NS, Local: "time"}) || el.NumElements() != 2 {
				t.Fatalf("got %s", el)
			}
			if got := el.ChildText(NS, "tzo"); got != tt.tzo {
				t.Errorf("tzo %q, want %q", got, tt.tzo)
			}
			if got := el.ChildText(NS, "utc"); got != tt.utc {
				t.Errorf("utc %q, want %q", got, tt.utc)
			}
		})
	}
}

// The module answers the server's time from its clock, for the server
// only, and advertises the namespace.
func TestModule(t *testing.T) {
	clock := time.Date(2006, 12, 19, 11, 58, 35, 0, time.FixedZone("", -6*3600))
	cfg := config.Default()
	cfg.Hosts = []string{"example.test"}
	h := moduletest.NewHost(cfg, moduletest.Accounts{"alice@example.test": true})
	r := h.Router
	if err := (Module{Now: func() time.Time { return clock }}).Register(h); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(h.Features(router.ToHost), NS) {
		t.Errorf("%s not advertised: %v", NS, h.Features(router.ToHost))
	}
	s, fs := moduletest.Bind(t, r, "alice@example.test/a", false)
	alice := s.JID
	tests := []struct {
		to   string
		want string // the reply's payload, or its error condition
	}{
		{"example.test", "<time xmlns='urn:xmpp:time'><tzo>-06:00</tzo><utc>2006-12-19T17:58:35Z</utc></time>"},
		{"alice@example.test", "service-unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.to, func(t *testing.T) {
			iq := stanza.New("", "iq").SetAttr("type", "get").SetAttr("id", "t1").SetAttr("to", tt.to).Append(stanza.New(NS, "time"))
			r.Route(context.Background(), iq, alice, jid.MustParse(tt.to))
			got := fs.Take()
			if len(got) != 1 {
				t.Fatalf("got %d replies: %v", len(got), got)
			}
			var g string
			switch reply := got[0]; reply.Attr("type") {
			case "result":
				g = reply.FirstElement().String()
			case "error":
				g = string(stanza.ParseError(reply).Condition)
			}
			if g != tt.want {
				t.Errorf("got %s, want %s", got[0], tt.want)
			}
		})
	}
}
