package convtest

import (
	"strings"
	"testing"

	"github.com/starling-xmpp/starling/stanza"
	"github.com/starling-xmpp/starling/xmlstream"
)

// TestConversations runs every script in testdata/conv; each subtest is
// named after its file, which starts with the seed item it checks.
func TestConversations(t *testing.T) {
	RunDir(t, "../../testdata/conv")
}

func TestGlob(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"abc", "abc", true},
		{"abc", "abd", false},
		{"{any}", "", true},
		{"{any}", "anything", true},
		{"alice@localhost/{any}", "alice@localhost/x1", true},
		{"alice@localhost/{any}", "bob@localhost/x1", false},
		{"a{any}c{any}e", "abcde", true},
		{"a{any}c{any}e", "abcdf", false},
		{"{any}x", "x", true},
	}
	for _, tt := range tests {
		if got := glob(tt.pattern, tt.s); got != tt.want {
			t.Errorf("glob(%q, %q) = %v, want %v", tt.pattern, tt.s, got, tt.want)
		}
	}
}

func el(t *testing.T, s string) *stanza.Element {
	t.Helper()
	e, err := xmlstream.Parse([]byte(s), stanza.NSClient, xmlstream.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// The matcher must catch every kind of difference, or the scripts prove
// nothing.
func TestMatch(t *testing.T) {
	want := `<message to='a@x' id='{any}' type='chat'>
		<body>hi</body>
	</message>`
	tests := []struct {
		got string
		ok  bool
	}{
		{`<message type='chat' id='7' to='a@x'><body>hi</body></message>`, true},
		{`<message type='chat' id='7' to='a@x'><body>ho</body></message>`, false},
		{`<message type='chat' to='a@x'><body>hi</body></message>`, false},
		{`<message type='chat' id='7' to='a@x' from='b@x'><body>hi</body></message>`, false},
		{`<message type='chat' id='7' to='a@x'><body>hi</body><x xmlns='y'/></message>`, false},
		{`<message type='chat' id='7' to='a@x'><body xmlns='other'>hi</body></message>`, false},
		{`<presence type='chat' id='7' to='a@x'><body>hi</body></presence>`, false},
	}
	w := el(t, want)
	for _, tt := range tests {
		err := match(w, el(t, tt.got))
		if (err == nil) != tt.ok {
			t.Errorf("match(%s): err = %v, want ok=%v", tt.got, err, tt.ok)
		}
	}
}

func TestParseScript(t *testing.T) {
	s, err := Parse("x.conv", `# comment
[Client] alice
	jid: alice@localhost/a
	password: pw
[Raw] eve
[Accounts]
	bob@localhost: secret
[Config]
	c2s:
	  resource_conflict: refuse
-----
alice connects

eve sends:
	<a/>
	<b/>

eve receives nothing
`)
	if err != nil {
		t.Fatal(err)
	}
	if s.Actors["alice"].Raw || !s.Actors["eve"].Raw || s.Accounts["bob@localhost"] != "secret" {
		t.Errorf("actors/accounts parsed wrong: %+v %+v", s.Actors, s.Accounts)
	}
	if !strings.Contains(s.Config, "  resource_conflict: refuse") {
		t.Errorf("config lost its indentation: %q", s.Config)
	}
	if len(s.Steps) != 3 || s.Steps[1].Data != "<a/>\n<b/>" || s.Steps[2].Action != "nothing" {
		t.Errorf("steps parsed wrong: %+v", s.Steps)
	}
	for _, bad := range []string{
		"[Client] x\n-----\nx connects\n",        // no jid/password
		"[Raw] x\n-----\ny connects\n",           // unknown actor
		"[Raw] x\n-----\nx dances\n",             // unknown step
		"[Raw] x\nx connects\n",                  // no separator
		"[Raw] x\n-----\nx sends:\nx connects\n", // sends without block
	} {
		if _, err := Parse("bad.conv", bad); err == nil {
			t.Errorf("Parse accepted %q", bad)
		}
	}
}
