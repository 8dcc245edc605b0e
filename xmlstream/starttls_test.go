package xmlstream

import (
	"errors"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/starling-xmpp/starling/stanza"
)

func TestVersionOK(t *testing.T) {
	for v, want := range map[string]bool{
		"1.0": true, "1.1": true, "2.0": true, "1.10": true,
		"": false, "0.9": false, "1": false, "1.": false, ".0": false, "a.b": false, "12345.0": false, "1.0.0": false,
	} {
		if got := VersionOK(v); got != want {
			t.Errorf("VersionOK(%q) = %v, want %v", v, got, want)
		}
	}
}

// TestTLSTransport: bytes read past <starttls/> go to the TLS layer first;
// white space alone is dropped.
func TestTLSTransport(t *testing.T) {
	for _, tc := range []struct{ after, want string }{
		{"\x16\x03\x01hello", "\x16\x03\x01hello|rest"},
		{"  \n", "|rest"},
		{"", "|rest"},
	} {
		a, b := net.Pipe()
		d := NewDecoder(strings.NewReader("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"+tc.after), Limits{})
		if _, err := d.ReadHeader(); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Next(); err != nil {
			t.Fatal(err)
		}
		go func() { b.Write([]byte("|rest")); b.Close() }()
		got, _ := io.ReadAll(d.TLSTransport(a))
		if string(got) != tc.want {
			t.Errorf("after %q: read %q, want %q", tc.after, got, tc.want)
		}
		a.Close()
	}
}

func TestNewStreamIDUnique(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := NewStreamID()
		if seen[id] || len(id) != 22 {
			t.Fatalf("id %q repeated or of the wrong length", id)
		}
		seen[id] = true
	}
}

// TestReadElement: a peer's stream error is an error, other elements are
// elements.
func TestReadElement(t *testing.T) {
	d := NewDecoder(strings.NewReader("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"+
		"<message/><stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>"), Limits{})
	if _, err := d.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	if el, err := d.ReadElement(); err != nil || el.Name.Local != "message" {
		t.Fatalf("got %v, %v", el, err)
	}
	_, err := d.ReadElement()
	var se *stanza.StreamError
	if !errors.As(err, &se) || se.Condition != stanza.StreamConflict {
		t.Fatalf("got %v, want the conflict stream error", err)
	}
}
