package stanza_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/starling-xmpp/starling/stanza"
	"github.com/starling-xmpp/starling/xmlstream"
)

// Seed 3.6-2: every stream error condition of RFC 6120 §4.9.3 has the
// syntax of §4.9.2: <stream:error> holding the condition in the
// xmpp-streams namespace and an optional <text/>.
func TestSeed3_6_2_StreamErrorSyntax(t *testing.T) {
	if len(stanza.StreamConditions) != 25 {
		t.Fatalf("%d stream conditions, RFC 6120 §4.9.3 defines 25", len(stanza.StreamConditions))
	}
	for _, cond := range stanza.StreamConditions {
		t.Run(string(cond), func(t *testing.T) {
			se := stanza.NewStreamError(cond, "why it happened")
			if cond == stanza.StreamSeeOtherHost {
				se.Detail = "other.example:5222"
			}
			wire := string(se.Element().AppendXML(nil, stanza.NSClient))
			want := fmt.Sprintf("<stream:error><%s xmlns=", cond)
			if !strings.HasPrefix(wire, want) || !strings.HasSuffix(wire, "</stream:error>") {
				t.Fatalf("wire %s, want it to start with %s", wire, want)
			}
			el, err := xmlstream.Parse([]byte(wire), stanza.NSClient, xmlstream.Limits{})
			if err != nil {
				t.Fatalf("%s does not parse: %v", wire, err)
			}
			if el.Name != (stanza.Name{Space: stanza.NSStream, Local: "error"}) {
				t.Fatalf("element %v", el.Name)
			}
			c := el.FirstElement()
			if c.Name != (stanza.Name{Space: stanza.NSStreams, Local: string(cond)}) {
				t.Errorf("condition element %v", c.Name)
			}
			txt := el.Child(stanza.NSStreams, "text")
			if txt == nil || txt.Text() != "why it happened" || txt.Lang() != "en" {
				t.Errorf("text element %v", txt)
			}
			back := stanza.ParseStreamError(el)
			if back.Condition != cond || back.Text != "why it happened" || back.Detail != se.Detail {
				t.Errorf("parsed back as %+v", back)
			}
			if !errors.Is(back, &stanza.StreamError{Condition: cond}) {
				t.Error("errors.Is does not match the condition")
			}
		})
	}
}

// Seed 10.5-1, 10.5-3: every stanza error condition of RFC 6120 §8.3.3
// (and unknown-sender) serialises as <error type='...'> with the condition
// in the xmpp-stanzas namespace, and parses back.
func TestSeed10_5_3_StanzaErrorConditions(t *testing.T) {
	if len(stanza.Conditions) != 23 {
		t.Fatalf("%d conditions, want RFC 6120's 22 plus unknown-sender", len(stanza.Conditions))
	}
	for _, cond := range stanza.Conditions {
		t.Run(string(cond), func(t *testing.T) {
			e := stanza.NewError(cond, "details")
			switch e.Type {
			case stanza.Auth, stanza.Cancel, stanza.Continue, stanza.Modify, stanza.Wait:
			default:
				t.Fatalf("type %q", e.Type)
			}
			if cond == stanza.Gone || cond == stanza.Redirect {
				e.Detail = "xmpp:new@example.test"
			}
			msg := stanza.New("", "message").SetAttr("type", "error").Append(e.Element())
			wire := msg.AppendXML(nil, stanza.NSClient)
			el, err := xmlstream.Parse(wire, stanza.NSClient, xmlstream.Limits{})
			if err != nil {
				t.Fatalf("%s: %v", wire, err)
			}
			back := stanza.ParseError(el)
			if back == nil || back.Condition != cond || back.Type != e.Type || back.Text != "details" || back.Detail != e.Detail {
				t.Fatalf("%s parsed back as %+v", wire, back)
			}
			if !strings.Contains(string(wire), "<"+string(cond)+" xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'") &&
				!strings.Contains(string(wire), "<"+string(cond)+" xmlns=\"urn:ietf:params:xml:ns:xmpp-stanzas\"") {
				t.Errorf("condition not in the stanzas namespace: %s", wire)
			}
		})
	}
	// The types RFC 6120 §8.3.3 gives a few conditions.
	for cond, want := range map[stanza.Condition]stanza.ErrorType{
		stanza.BadRequest: stanza.Modify, stanza.Forbidden: stanza.Auth,
		stanza.ServiceUnavailable: stanza.Cancel, stanza.ResourceConstraint: stanza.Wait,
		stanza.RemoteServerTimeout: stanza.Wait, stanza.JIDMalformed: stanza.Modify,
	} {
		if got := stanza.NewError(cond, "").Type; got != want {
			t.Errorf("%s has type %s, want %s", cond, got, want)
		}
	}
}

func TestErrorReply(t *testing.T) {
	iq := stanza.New("", "iq").SetAttr("type", "get").SetAttr("id", "q1").
		SetAttr("from", "a@x/r").SetAttr("to", "x").Append(stanza.New("urn:q", "query"))
	r := stanza.ErrorReply(iq, stanza.NewError(stanza.ServiceUnavailable, ""))
	if r.Attr("type") != "error" || r.Attr("id") != "q1" || r.Attr("from") != "x" || r.Attr("to") != "a@x/r" {
		t.Errorf("reply attributes %v", r.Attrs)
	}
	if r.Child("urn:q", "query") == nil {
		t.Error("seed 10.4-6: the iq error does not echo the request's payload")
	}
	m := stanza.New("", "message").SetAttr("id", "m").Append(stanza.New("", "body").AppendText("secret"))
	if r := stanza.ErrorReply(m, stanza.NewError(stanza.BadRequest, "")); r.Child("", "body") != nil {
		t.Error("a message error echoes the body")
	}
	if !stanza.IsError(r) {
		t.Error("IsError is false for an error reply")
	}
}

func TestSanitizeText(t *testing.T) {
	if got := stanza.SanitizeText("ok\x00bad\uFFFEend"); got != "ok\uFFFDbad\uFFFDend" {
		t.Errorf("got %q", got)
	}
	if s := "plain text"; stanza.SanitizeText(s) != s {
		t.Error("clean text changed")
	}
}
