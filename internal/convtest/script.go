// Package convtest runs conversation scripts against a real, in-process
// Starling server: readable dialogues of who sends what and who must
// receive what, in the spirit of Prosody's scansion. Every script in
// testdata/conv is a subtest of `go test ./...`.
//
// A script has a header of actors and settings, a line of dashes, then
// steps separated by blank lines:
//
//	# Seed 10.7-4: a chat message to a bare JID reaches the resource.
//	[Client] romeo
//		jid: romeo@localhost/orchard
//		password: pass
//	[Raw] eve
//	[Accounts]
//		juliet@localhost: pass
//	[Config]
//		c2s:
//		  resource_conflict: refuse
//	-----
//	romeo connects
//
//	romeo sends:
//		<presence/>
//
//	romeo receives:
//		<message from='juliet@localhost/{any}' type='chat'><body>hi</body></message>
//
// A Client actor logs in (STARTTLS, SCRAM, bind) when it connects; a Raw
// actor is a bare TCP connection that sends bytes verbatim, for stream-level
// and bad-input tests. Steps:
//
//	NAME connects [with direct tls]
//	NAME sends:            (indented block sent as is)
//	NAME receives:         (indented block: a stream header, elements, or </stream:stream>)
//	NAME receives nothing
//	NAME skips until quiet (discards what has been caused so far and is on
//	                        its way to NAME: for setting up state, not for
//	                        checking. For a Client actor, a ping round trip
//	                        with each Client actor that sent since its last
//	                        one, then with NAME; for a Raw actor, until
//	                        nothing has arrived for a moment)
//	NAME starts tls        (Raw: TLS handshake on the connection)
//	NAME authenticates     (Raw with jid and password: stream, STARTTLS, SASL
//	                        PLAIN and the restart, up to the features that
//	                        offer binding; the script binds)
//	NAME disconnects       (closing handshake; Raw: just closes)
//	NAME drops             (closes TCP without closing the stream)
//	NAME is disconnected   (the server ended the connection)
//
// In expected XML, attribute order does not matter, whitespace-only text is
// ignored, and {any} in an attribute value or text matches any characters.
// ${name} stands for a Client actor's bound full JID, ${name.bare} for its
// bare JID, and ${plain:user:password} for the base64 of a SASL PLAIN
// message.
package convtest

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
)

// stepActions maps each step's wording to its action and argument.
var stepActions = map[string][2]string{
	"connects":                 {"connects", ""},
	"connects with direct tls": {"connects", "direct tls"},
	"sends:":                   {"sends", ""},
	"receives:":                {"receives", ""},
	"receives nothing":         {"nothing", ""},
	"skips until quiet":        {"skip", ""},
	"starts tls":               {"starttls", ""},
	"authenticates":            {"authenticates", ""},
	"disconnects":              {"disconnects", ""},
	"drops":                    {"drops", ""},
	"is disconnected":          {"disconnected", ""},
}

// Script is a parsed conversation.
type Script struct {
	Name     string
	Config   string            // YAML over the test defaults
	Accounts map[string]string // account → password
	Actors   map[string]*Actor
	Order    []string // actor names in declaration order
	Steps    []Step
}

// Actor is a participant.
type Actor struct {
	Name    string
	Raw     bool
	Options map[string]string // jid, password, and client options
}

// Step is one action of an actor.
type Step struct {
	Line   int
	Actor  string
	Action string // connects, sends, receives, nothing, starttls, disconnects, drops, disconnected
	Arg    string // "direct tls" for connects
	Data   string
}

var (
	reHeader = regexp.MustCompile(`^\[(Client|Raw|Accounts|Config)\]\s*(\w*)\s*$`)
	reStep   = regexp.MustCompile(`^(\w+) (` + strings.Join(slices.Sorted(maps.Keys(stepActions)), "|") + `)$`)
)

// Parse reads a script.
func Parse(name, text string) (*Script, error) {
	s := &Script{Name: name, Accounts: map[string]string{}, Actors: map[string]*Actor{}}
	lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	i := 0
	block := func() (string, int) {
		start := i
		var b []string
		for i < len(lines) && (isIndented(lines[i]) || strings.TrimSpace(lines[i]) == "" && i+1 < len(lines) && isIndented(lines[i+1]) && len(b) > 0) {
			b = append(b, lines[i])
			i++
		}
		return dedent(b), start
	}
	bad := func(line int, format string, args ...any) error {
		return fmt.Errorf("%s:%d: %s", name, line+1, fmt.Sprintf(format, args...))
	}
	// Header.
	for ; i < len(lines); i++ {
		l := strings.TrimRight(lines[i], " \t")
		switch {
		case l == "" || strings.HasPrefix(l, "#"):
			continue
		case strings.HasPrefix(l, "---"):
			i++
			goto steps
		}
		m := reHeader.FindStringSubmatch(l)
		if m == nil {
			return nil, bad(i, "expected [Client] NAME, [Raw] NAME, [Accounts], [Config] or -----, got %q", l)
		}
		at := i
		i++
		body, _ := block()
		i--
		switch m[1] {
		case "Config":
			s.Config = body
		case "Accounts":
			for _, kv := range nonEmptyLines(body) {
				k, v, ok := strings.Cut(kv, ":")
				if !ok {
					return nil, bad(at, "account line %q is not ACCOUNT: PASSWORD", kv)
				}
				s.Accounts[strings.TrimSpace(k)] = strings.TrimSpace(v)
			}
		default:
			if m[2] == "" || s.Actors[m[2]] != nil {
				return nil, bad(at, "actor needs a new name")
			}
			a := &Actor{Name: m[2], Raw: m[1] == "Raw", Options: map[string]string{}}
			for _, kv := range nonEmptyLines(body) {
				k, v, ok := strings.Cut(kv, ":")
				if !ok {
					return nil, bad(at, "option line %q is not KEY: VALUE", kv)
				}
				a.Options[strings.TrimSpace(k)] = strings.TrimSpace(v)
			}
			if (!a.Raw || a.Options["jid"] != "") && (a.Options["jid"] == "" || a.Options["password"] == "") {
				return nil, bad(at, "%s needs jid and password", a.Name)
			}
			s.Actors[a.Name] = a
			s.Order = append(s.Order, a.Name)
		}
	}
	return nil, fmt.Errorf("%s: no ----- line before the steps", name)
steps:
	for i < len(lines) {
		l := strings.TrimRight(lines[i], " \t")
		if l == "" || strings.HasPrefix(l, "#") {
			i++
			continue
		}
		m := reStep.FindStringSubmatch(l)
		if m == nil {
			return nil, bad(i, "unknown step %q", l)
		}
		if s.Actors[m[1]] == nil {
			return nil, bad(i, "unknown actor %q", m[1])
		}
		st := Step{Line: i + 1, Actor: m[1]}
		st.Action, st.Arg = stepActions[m[2]][0], stepActions[m[2]][1]
		i++
		if st.Action == "sends" || st.Action == "receives" {
			st.Data, _ = block()
			if strings.TrimSpace(st.Data) == "" {
				return nil, bad(st.Line-1, "%s needs an indented block", l)
			}
		}
		s.Steps = append(s.Steps, st)
	}
	if len(s.Steps) == 0 {
		return nil, fmt.Errorf("%s: no steps", name)
	}
	return s, nil
}

func isIndented(l string) bool {
	return strings.HasPrefix(l, "\t") || strings.HasPrefix(l, "    ")
}

func nonEmptyLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "#") {
			out = append(out, t)
		}
	}
	return out
}

// dedent removes the indentation common to all non-empty lines.
func dedent(lines []string) string {
	prefix := ""
	first := true
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		ws := l[:len(l)-len(strings.TrimLeft(l, " \t"))]
		if first || strings.HasPrefix(prefix, ws) {
			prefix = ws
			first = false
		} else {
			for !strings.HasPrefix(ws, prefix) {
				prefix = prefix[:len(prefix)-1]
			}
		}
	}
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = strings.TrimPrefix(l, prefix)
	}
	return strings.TrimRight(strings.Join(out, "\n"), "\n \t")
}
