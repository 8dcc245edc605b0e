package lastactivity

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/starling-xmpp/starling/config"
	"github.com/starling-xmpp/starling/internal/moduletest"
	"github.com/starling-xmpp/starling/jid"
	"github.com/starling-xmpp/starling/module"
	"github.com/starling-xmpp/starling/router"
	"github.com/starling-xmpp/starling/stanza"
)

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type env struct {
	h     *module.Host
	r     *router.Router
	store module.Store
	clock *clock
	accts moduletest.Accounts
}

// newEnv registers the module on a host for example.test where alice,
// bob, carol and dave exist; bob may see alice's presence; alice sees
// carol's but not the reverse.
func newEnv(t *testing.T, extra ...func(*module.Host)) *env {
	t.Helper()
	cfg := config.Default()
	cfg.Hosts = []string{"example.test"}
	accts := moduletest.Accounts{"alice@example.test": true, "bob@example.test": true, "carol@example.test": true, "dave@example.test": true}
	h := moduletest.NewHost(cfg, accts)
	c := &clock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	h.Started = c.Now()
	for _, f := range extra {
		f(h)
	}
	if err := (Module{Now: c.Now}).Register(h); err != nil {
		t.Fatal(err)
	}
	h.SetContacts(moduletest.Contacts{Subs: map[string]map[string][2]bool{
		"alice@example.test": {"bob@example.test": {true, false}, "carol@example.test": {false, true}},
		"dave@example.test":  {"bob@example.test": {true, true}},
	}})
	return &env{h: h, r: h.Router, store: h.Store, clock: c, accts: accts}
}

func (e *env) bind(t *testing.T, j string) (*router.Session, *moduletest.Stream) {
	t.Helper()
	return moduletest.Bind(t, e.r, j, false)
}

// ask sends a last activity query and returns "seconds|text" or the error
// condition.
func (e *env) ask(t *testing.T, fs *moduletest.Stream, from, to string) string {
	t.Helper()
	iq := stanza.New("", "iq").SetAttr("type", "get").SetAttr("id", "l1").Append(stanza.New(NS, "query"))
	var toJID jid.JID
	if to != "" {
		iq.SetAttr("to", to)
		toJID = jid.MustParse(to)
	}
	e.r.Route(context.Background(), iq, jid.MustParse(from), toJID)
	got := fs.Take()
	if len(got) != 1 {
		t.Fatalf("got %d replies: %v", len(got), got)
	}
	reply := got[0]
	if reply.Attr("type") == "error" {
		return string(stanza.ParseError(reply).Condition)
	}
	q := reply.Child(NS, "query")
	if q == nil {
		t.Fatalf("result without query: %s", reply)
	}
	return q.Attr("seconds") + "|" + q.Text()
}

// presence routes a broadcast presence from a bound session.
func (e *env) presence(from, typ string, children ...*stanza.Element) {
	p := stanza.New("", "presence").Append(children...)
	if typ != "" {
		p.SetAttr("type", typ)
	}
	e.r.Route(context.Background(), p, jid.MustParse(from), jid.JID{})
}

func statusEl(text, lang string) *stanza.Element {
	el := stanza.New("", "status").AppendText(text)
	if lang != "" {
		el.SetAttrNS(stanza.NSXML, "lang", lang)
	}
	return el
}

func (e *env) stored(t *testing.T, user string) (record, bool) {
	t.Helper()
	j := jid.MustParse(user)
	v, err := e.store.Get(context.Background(), j.Domain(), j.Local(), storeName, key)
	if err != nil {
		return record{}, false
	}
	var rec record
	if err := json.Unmarshal(v, &rec); err != nil {
		t.Fatal(err)
	}
	return rec, true
}

func TestUptime(t *testing.T) {
	e := newEnv(t)
	_, fs := e.bind(t, "bob@example.test/b")
	if !slices.Contains(e.h.Features(router.ToHost), NS) || !slices.Contains(e.h.Features(router.ToAccount), NS) {
		t.Errorf("%s not advertised for the server and accounts: %v, %v", NS, e.h.Features(router.ToHost), e.h.Features(router.ToAccount))
	}
	for _, tt := range []struct {
		after time.Duration
		want  string
	}{
		{0, "0|"},
		{1500 * time.Millisecond, "1|"},
		{34*time.Hour + 17*time.Minute + 36*time.Second, "123456|"},
	} {
		e.clock.t = e.h.Started.Add(tt.after)
		if got := e.ask(t, fs, "bob@example.test/b", "example.test"); got != tt.want {
			t.Errorf("after %v: got %q, want %q", tt.after, got, tt.want)
		}
	}
}

func TestAccountQuery(t *testing.T) {
	e := newEnv(t)
	_, bobFS := e.bind(t, "bob@example.test/b")
	_, carolFS := e.bind(t, "carol@example.test/c")
	_, aliceFS := e.bind(t, "alice@example.test/a")

	// alice is online.
	for _, tt := range []struct {
		name     string
		fs       *moduletest.Stream
		from, to string
		want     string
	}{
		{"self", aliceFS, "alice@example.test/a", "alice@example.test", "0|"},
		{"self, no to", aliceFS, "alice@example.test/a", "", "0|"},
		{"contact, user online", bobFS, "bob@example.test/b", "alice@example.test", "0|"},
		{"subscribed to but not from", carolFS, "carol@example.test/c", "alice@example.test", "forbidden"},
		{"stranger", carolFS, "carol@example.test/c", "bob@example.test", "forbidden"},
		{"contact, never logged in", bobFS, "bob@example.test/b", "dave@example.test", "service-unavailable"},
		{"stranger, never logged in", carolFS, "carol@example.test/c", "dave@example.test", "forbidden"},
		{"no such account", bobFS, "bob@example.test/b", "nobody@example.test", "service-unavailable"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := e.ask(t, tt.fs, tt.from, tt.to); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}

	// alice logs out with a status; 903 seconds later (XEP-0012 §3).
	e.presence("alice@example.test/a", "unavailable", statusEl("Heading Home", ""))
	e.r.Unbind(e.r.Session(jid.MustParse("alice@example.test/a")))
	e.clock.Add(903 * time.Second)
	if got, want := e.ask(t, bobFS, "bob@example.test/b", "alice@example.test"), "903|Heading Home"; got != want {
		t.Errorf("contact after logout: got %q, want %q", got, want)
	}
	if got, want := e.ask(t, carolFS, "carol@example.test/c", "alice@example.test"), "forbidden"; got != want {
		t.Errorf("non-contact after logout: got %q, want %q", got, want)
	}
	// A clock set back never gives negative seconds.
	e.clock.Add(-time.Hour)
	if got, want := e.ask(t, bobFS, "bob@example.test/b", "alice@example.test"), "0|Heading Home"; got != want {
		t.Errorf("clock set back: got %q, want %q", got, want)
	}
	// Back online: 0 again, for the contact and for alice herself.
	_, aliceFS = e.bind(t, "alice@example.test/again")
	if got := e.ask(t, bobFS, "bob@example.test/b", "alice@example.test"); got != "0|" {
		t.Errorf("contact after login: got %q", got)
	}
	if got := e.ask(t, aliceFS, "alice@example.test/again", ""); got != "0|" {
		t.Errorf("self after login: got %q", got)
	}
}

func TestSubscriptionError(t *testing.T) {
	e := newEnv(t)
	e.h.SetContacts(moduletest.Contacts{Err: errors.New("roster store down")})
	_, fs := e.bind(t, "bob@example.test/b")
	if got := e.ask(t, fs, "bob@example.test/b", "alice@example.test"); got != "internal-server-error" {
		t.Errorf("got %q, want internal-server-error", got)
	}
}

func TestCorruptRecord(t *testing.T) {
	e := newEnv(t)
	e.store.Put(context.Background(), "example.test", "alice", storeName, key, []byte("{"))
	_, fs := e.bind(t, "bob@example.test/b")
	if got := e.ask(t, fs, "bob@example.test/b", "alice@example.test"); got != "internal-server-error" {
		t.Errorf("got %q, want internal-server-error", got)
	}
}

// What is recorded when sessions end.
func TestRecording(t *testing.T) {
	bind := func(res string) func(*env) {
		return func(e *env) {
			s := router.NewSession(jid.MustParse("alice@example.test/"+res), &moduletest.Stream{})
			e.r.Bind(s, false)
		}
	}
	unbind := func(res string) func(*env) {
		return func(e *env) { e.r.Unbind(e.r.Session(jid.MustParse("alice@example.test/" + res))) }
	}
	send := func(res, typ string, children ...*stanza.Element) func(*env) {
		return func(e *env) { e.presence("alice@example.test/"+res, typ, children...) }
	}
	tick := func(e *env) { e.clock.Add(time.Minute) }
	tests := []struct {
		name       string
		steps      []func(*env)
		want       bool
		wantStatus string
		wantAfter  time.Duration // logout time after start
	}{
		{"no sessions", nil, false, "", 0},
		{"still online", []func(*env){bind("a")}, false, "", 0},
		{"logout without presence", []func(*env){bind("a"), tick, unbind("a")}, true, "", time.Minute},
		{"logout with status", []func(*env){bind("a"), send("a", "unavailable", statusEl("Heading Home", "")), tick, unbind("a")}, true, "Heading Home", time.Minute},
		{"unavailable without status", []func(*env){bind("a"), send("a", "unavailable"), unbind("a")}, true, "", 0},
		{"available again clears the status", []func(*env){bind("a"), send("a", "unavailable", statusEl("away", "")), send("a", ""), unbind("a")}, true, "", 0},
		{"a later unavailable replaces the status", []func(*env){bind("a"), send("a", "unavailable", statusEl("one", "")), send("a", "unavailable", statusEl("two", "")), unbind("a")}, true, "two", 0},
		{"directed unavailable presence is not a logout status", []func(*env){bind("a"), func(e *env) {
			p := stanza.New("", "presence").SetAttr("type", "unavailable").SetAttr("to", "bob@example.test").Append(statusEl("bye bob", ""))
			e.r.Route(context.Background(), p, jid.MustParse("alice@example.test/a"), jid.MustParse("bob@example.test"))
		}, unbind("a")}, true, "", 0},
		{"status in the stanza's language", []func(*env){bind("a"), func(e *env) {
			p := stanza.New("", "presence").SetAttr("type", "unavailable").SetAttrNS(stanza.NSXML, "lang", "fr").
				Append(statusEl("gone", "en"), statusEl("parti", "fr"))
			e.r.Route(context.Background(), p, jid.MustParse("alice@example.test/a"), jid.JID{})
		}, unbind("a")}, true, "parti", 0},
		{"other languages only: the first", []func(*env){bind("a"), send("a", "unavailable", statusEl("gone", "en"), statusEl("parti", "fr")), unbind("a")}, true, "gone", 0},
		{"the last session's status counts", []func(*env){
			bind("a"), bind("b"),
			send("a", "unavailable", statusEl("from a", "")), unbind("a"),
			tick,
			send("b", "unavailable", statusEl("from b", "")), tick, unbind("b"),
		}, true, "from b", 2 * time.Minute},
		{"first of two sessions ends", []func(*env){bind("a"), bind("b"), send("a", "unavailable", statusEl("from a", "")), unbind("a")}, false, "", 0},
		{"account deleted", []func(*env){bind("a"), func(e *env) {
			delete(e.accts, "alice@example.test")
		}, unbind("a")}, false, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			for _, f := range tt.steps {
				f(e)
			}
			rec, ok := e.stored(t, "alice@example.test")
			if ok != tt.want {
				t.Fatalf("recorded %v (%+v), want %v", ok, rec, tt.want)
			}
			if !ok {
				return
			}
			if rec.Status != tt.wantStatus || rec.Time != e.h.Started.Add(tt.wantAfter).Unix() {
				t.Errorf("got %+v, want status %q at start+%v", rec, tt.wantStatus, tt.wantAfter)
			}
		})
	}
}

// A module that consumes broadcast presence (as the presence module
// does) must not hide the status from last activity, whichever registers
// first.
func TestObserverRunsBeforeConsumers(t *testing.T) {
	for _, prio := range []int{-100, 0, 100} {
		e := newEnv(t, func(h *module.Host) {
			h.Router.Hook(router.Outbound, prio, func(_ context.Context, p *router.Packet) bool {
				return p.El.Name.Local == "presence"
			})
		})
		s, _ := e.bind(t, "alice@example.test/a")
		e.presence("alice@example.test/a", "unavailable", statusEl("Heading Home", ""))
		e.r.Unbind(s)
		if rec, _ := e.stored(t, "alice@example.test"); rec.Status != "Heading Home" {
			t.Errorf("consumer at priority %d: recorded %+v", prio, rec)
		}
	}
}
