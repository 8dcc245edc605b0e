package register

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/starling-xmpp/starling/account"
	"github.com/starling-xmpp/starling/c2s"
	"github.com/starling-xmpp/starling/config"
	"github.com/starling-xmpp/starling/internal/moduletest"
	"github.com/starling-xmpp/starling/jid"
	"github.com/starling-xmpp/starling/module"
	"github.com/starling-xmpp/starling/router"
	"github.com/starling-xmpp/starling/stanza"
	"github.com/starling-xmpp/starling/storage/memory"
)

// fixture is a host with the module installed over a memory store, and a
// clock the test moves.
type fixture struct {
	t     *testing.T
	h     *module.Host
	m     *registrar
	store *memory.Store
	mu    sync.Mutex
	clock time.Time
}

func setup(t *testing.T, yamlText string) *fixture {
	t.Helper()
	cfg, err := config.Parse([]byte(yamlText), "test")
	if err != nil {
		t.Fatal(err)
	}
	store := memory.New()
	log := slog.New(slog.DiscardHandler)
	accounts := &account.Manager{Store: store, Profile: cfg.Profile(), Hosts: cfg.Hosts, Iterations: 4096}
	r := router.New(router.Config{Hosts: cfg.Hosts, Accounts: store, Logger: log, MaxSessionsPerAccount: 10})
	f := &fixture{t: t, store: store, clock: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	f.h = module.NewHost(cfg, r, store, accounts, log)
	f.m = newRegistrar(f.h)
	f.m.now = func() time.Time {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.clock
	}
	f.m.install()
	return f
}

func (f *fixture) advance(d time.Duration) {
	f.mu.Lock()
	f.clock = f.clock.Add(d)
	f.mu.Unlock()
}

func (f *fixture) addUser(addr, pw string) {
	f.t.Helper()
	if _, err := f.h.Accounts.Add(context.Background(), addr, pw); err != nil {
		f.t.Fatal(err)
	}
}

// passwordIs reports whether user@localhost can log in with pw: it checks
// the stored SCRAM-SHA-256 key as PLAIN authentication would.
func (f *fixture) passwordIs(user, pw string) bool {
	f.t.Helper()
	c, err := f.store.Credentials(context.Background(), "localhost", user)
	if err != nil {
		return false
	}
	k := c.SHA256
	salted, err := pbkdf2.Key(sha256.New, pw, k.Salt, k.Iterations, sha256.Size)
	if err != nil {
		f.t.Fatal(err)
	}
	mac := hmac.New(sha256.New, salted)
	mac.Write([]byte("Client Key"))
	stored := sha256.Sum256(mac.Sum(nil))
	return hmac.Equal(stored[:], k.StoredKey)
}

func (f *fixture) exists(user string) bool {
	ok, err := f.store.AccountExists(context.Background(), "localhost", user)
	if err != nil {
		f.t.Fatal(err)
	}
	return ok
}

func stream(ip string) c2s.StreamInfo {
	return c2s.StreamInfo{Host: "localhost", Secure: true, Remote: &net.TCPAddr{IP: net.ParseIP(ip), Port: 40000}}
}

// preAuth sends a registration IQ on an unauthenticated stream from ip.
func (f *fixture) preAuth(ip, xml string) (*stanza.Element, *stanza.Element, error) {
	f.t.Helper()
	iq := moduletest.Parse(f.t, xml)
	res, handled, err := f.h.PreAuthIQ(context.Background(), stream(ip), iq)
	if !handled {
		f.t.Fatalf("pre-authentication IQ not handled: %s", xml)
	}
	return iq, res, err
}

// condition returns the stanza error condition of err, or "" for nil.
func condition(t *testing.T, err error) stanza.Condition {
	t.Helper()
	if err == nil {
		return ""
	}
	var se *stanza.Error
	if !errors.As(err, &se) {
		t.Fatalf("error %v is not a stanza error", err)
	}
	return se.Condition
}

func TestFeature(t *testing.T) {
	tests := []struct {
		name      string
		plaintext bool
		info      c2s.StreamInfo
		want      bool
	}{
		{"tls", false, c2s.StreamInfo{Secure: true}, true},
		{"no tls", false, c2s.StreamInfo{}, false},
		{"no tls, plaintext allowed", true, c2s.StreamInfo{}, true},
		{"authenticated", false, c2s.StreamInfo{Secure: true, Authenticated: true}, false},
		{"authenticated, plaintext allowed", true, c2s.StreamInfo{Authenticated: true}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			y := "modules:\n  register: true\n"
			if tt.plaintext {
				y += "c2s:\n  allow_plaintext: true\n"
			}
			f := setup(t, y)
			var got bool
			for _, el := range f.h.StreamFeatures(tt.info) {
				if el.Name == (stanza.Name{Space: NSFeature, Local: "register"}) {
					got = true
				}
			}
			if got != tt.want {
				t.Errorf("register feature offered = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestForm(t *testing.T) {
	f := setup(t, "")
	_, res, err := f.preAuth("192.0.2.1", `<iq type='get' id='r1' to='localhost'><query xmlns='jabber:iq:register'/></iq>`)
	if err != nil {
		t.Fatal(err)
	}
	if res.Name != (stanza.Name{Space: NS, Local: "query"}) {
		t.Fatalf("result payload %s, want a jabber:iq:register query", res)
	}
	for _, field := range []string{"instructions", "username", "password"} {
		if res.Child(NS, field) == nil {
			t.Errorf("form lacks <%s/>: %s", field, res)
		}
	}
	if res.ChildText(NS, "username") != "" || res.ChildText(NS, "password") != "" {
		t.Errorf("form fields must be empty: %s", res)
	}
}

func TestCreate(t *testing.T) {
	q := func(inner string) string {
		return `<iq type='set' id='r2'><query xmlns='jabber:iq:register'>` + inner + `</query></iq>`
	}
	tests := []struct {
		name    string
		iq      string
		want    stanza.Condition
		account string // created on success
		pw      string
	}{
		{"created", q(`<username>bill</username><password>Calliope1</password>`), "", "bill", "Calliope1"},
		{"created, prepared name", q(`<username>Bill</username><password>Calliope1</password>`), "", "bill", "Calliope1"},
		{"created, to the server", `<iq type='set' id='r2' to='localhost'><query xmlns='jabber:iq:register'><username>bill</username><password>Calliope1</password></query></iq>`, "", "bill", "Calliope1"},
		{"to another server", `<iq type='set' id='r2' to='elsewhere.example'><query xmlns='jabber:iq:register'><username>bill</username><password>Calliope1</password></query></iq>`, stanza.ServiceUnavailable, "", ""},
		{"taken", q(`<username>taken</username><password>Calliope1</password>`), stanza.Conflict, "", ""},
		{"taken, other case", q(`<username>TAKEN</username><password>Calliope1</password>`), stanza.Conflict, "", ""},
		{"no username", q(`<password>Calliope1</password>`), stanza.NotAcceptable, "", ""},
		{"empty username", q(`<username/><password>Calliope1</password>`), stanza.NotAcceptable, "", ""},
		{"no password", q(`<username>bill</username>`), stanza.NotAcceptable, "", ""},
		{"empty password", q(`<username>bill</username><password></password>`), stanza.NotAcceptable, "", ""},
		{"empty query", q(``), stanza.NotAcceptable, "", ""},
		{"username with @", q(`<username>bill@evil.example</username><password>Calliope1</password>`), stanza.JIDMalformed, "", ""},
		{"username with /", q(`<username>bill/x</username><password>Calliope1</password>`), stanza.JIDMalformed, "", ""},
		{"username with space", q(`<username>bill gates</username><password>Calliope1</password>`), stanza.JIDMalformed, "", ""},
		{"username too long", q(`<username>` + strings.Repeat("b", 1024) + `</username><password>Calliope1</password>`), stanza.JIDMalformed, "", ""},
		{"short password", q(`<username>bill</username><password>short</password>`), stanza.NotAcceptable, "", ""},
		{"password SASLprep refuses", q(`<username>bill</username><password>Calliope1` + "\ue000" + `</password>`), stanza.NotAcceptable, "", ""},
		{"remove before authentication", q(`<remove/>`), stanza.UnexpectedRequest, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setup(t, "")
			f.addUser("taken@localhost", "OldSecret1")
			iq, res, err := f.preAuth("192.0.2.1", tt.iq)
			if got := condition(t, err); got != tt.want {
				t.Fatalf("condition %q, want %q (err %v)", got, tt.want, err)
			}
			if res != nil {
				t.Errorf("result payload %s, want none", res)
			}
			if tt.want == "" {
				if !f.passwordIs(tt.account, tt.pw) {
					t.Errorf("%s cannot log in with the password it registered", tt.account)
				}
				return
			}
			if f.exists("bill") {
				t.Error("an account was created despite the error")
			}
			if !f.passwordIs("taken", "OldSecret1") {
				t.Error("the existing account's password changed")
			}
			// The request is echoed in the error reply; the password
			// must not be.
			if s := iq.String(); strings.Contains(s, "Calliope1") || strings.Contains(s, "short<") {
				t.Errorf("password left in the echoed request: %s", s)
			}
		})
	}
}

func TestCreateErrorTexts(t *testing.T) {
	f := setup(t, "register:\n  min_password_length: 12\n")
	_, _, err := f.preAuth("192.0.2.1", `<iq type='set' id='r'><query xmlns='jabber:iq:register'><username>bill</username><password>elevenchars</password></query></iq>`)
	var se *stanza.Error
	if !errors.As(err, &se) || se.Condition != stanza.NotAcceptable || se.Type != stanza.Modify {
		t.Fatalf("err %v, want not-acceptable of type modify", err)
	}
	if !strings.Contains(se.Text, "12") {
		t.Errorf("text %q does not say how long the password must be", se.Text)
	}
	_, _, err = f.preAuth("192.0.2.1", `<iq type='set' id='r'><query xmlns='jabber:iq:register'><username>bill</username><password>twelve chars</password></query></iq>`)
	if err != nil {
		t.Errorf("a password of exactly the minimum length was refused: %v", err)
	}
}

func TestRateLimit(t *testing.T) {
	f := setup(t, "register:\n  interval: 10m\n  burst: 2\n")
	reg := func(ip, user string) stanza.Condition {
		t.Helper()
		_, _, err := f.preAuth(ip, `<iq type='set' id='r'><query xmlns='jabber:iq:register'><username>`+user+`</username><password>Password1</password></query></iq>`)
		return condition(t, err)
	}
	f.addUser("taken@localhost", "Password1")
	steps := []struct {
		name    string
		advance time.Duration
		ip      string
		user    string
		want    stanza.Condition
	}{
		{"first of the burst", 0, "192.0.2.1", "a1", ""},
		{"a failed attempt costs nothing", 0, "192.0.2.1", "taken", stanza.Conflict},
		{"an invalid one neither", 0, "192.0.2.1", "bad@name", stanza.JIDMalformed},
		{"second of the burst", 0, "192.0.2.1", "a2", ""},
		{"burst spent", 0, "192.0.2.1", "a3", stanza.PolicyViolation},
		{"other address", 0, "192.0.2.2", "b1", ""},
		{"other IPv6 address", 0, "2001:db8::1", "c1", ""},
		{"not yet", 9 * time.Minute, "192.0.2.1", "a3", stanza.PolicyViolation},
		{"one more after the interval", time.Minute, "192.0.2.1", "a3", ""},
		{"but only one", 0, "192.0.2.1", "a4", stanza.PolicyViolation},
	}
	for _, s := range steps {
		f.advance(s.advance)
		if got := reg(s.ip, s.user); got != s.want {
			t.Fatalf("%s: condition %q, want %q", s.name, got, s.want)
		}
		if s.want == "" && !f.exists(s.user) {
			t.Fatalf("%s: account %s not created", s.name, s.user)
		}
		if s.want == stanza.PolicyViolation && f.exists(s.user) {
			t.Fatalf("%s: account %s created past the limit", s.name, s.user)
		}
	}
	// The refusal is a policy that passes: type wait.
	_, _, err := f.preAuth("192.0.2.1", `<iq type='set' id='r'><query xmlns='jabber:iq:register'><username>a9</username><password>Password1</password></query></iq>`)
	var se *stanza.Error
	if !errors.As(err, &se) || se.Type != stanza.Wait || se.Text == "" {
		t.Errorf("rate-limit error %#v, want policy-violation of type wait with a text", err)
	}
}

func TestRateLimitOff(t *testing.T) {
	f := setup(t, "register:\n  interval: 0s\n")
	for _, u := range []string{"a", "b", "c", "d"} {
		if _, _, err := f.preAuth("192.0.2.1", `<iq type='set' id='r'><query xmlns='jabber:iq:register'><username>`+u+`</username><password>Password1</password></query></iq>`); err != nil {
			t.Fatalf("%s: %v", u, err)
		}
	}
}

// recorder is a stream that records what happens to it, in order.
type recorder struct {
	mu     sync.Mutex
	events []string
	sent   []*stanza.Element
}

func (r *recorder) Send(el *stanza.Element) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, "send "+el.Attr("type"))
	r.sent = append(r.sent, el)
	return true
}

func (r *recorder) Replaced(*router.Session) {}

func (r *recorder) Close(se *stanza.StreamError) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, "close "+string(se.Condition))
}

func (r *recorder) take() ([]string, []*stanza.Element) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, s := r.events, r.sent
	r.events, r.sent = nil, nil
	return e, s
}

// bind makes a session for full on a recorder.
func (f *fixture) bind(full string) *recorder {
	f.t.Helper()
	rec := &recorder{}
	if _, err := f.h.Router.Bind(router.NewSession(jid.MustParse(full), rec), false); err != nil {
		f.t.Fatal(err)
	}
	return rec
}

// route sends iq from a bound session and returns what that session got.
func (f *fixture) route(from string, rec *recorder, xml string) ([]string, *stanza.Element) {
	f.t.Helper()
	moduletest.Send(f.t, f.h.Router, from, xml)
	events, sent := rec.take()
	if len(sent) == 0 {
		f.t.Fatalf("no reply to %s", xml)
	}
	return events, sent[0]
}

func TestRegistered(t *testing.T) {
	for _, to := range []string{"", " to='localhost'", " to='alice@localhost'"} {
		t.Run("to"+to, func(t *testing.T) {
			f := setup(t, "")
			f.addUser("alice@localhost", "Password1")
			rec := f.bind("alice@localhost/desk")
			_, reply := f.route("alice@localhost/desk", rec, `<iq type='get' id='g1'`+to+`><query xmlns='jabber:iq:register'/></iq>`)
			if reply.Attr("type") != "result" {
				t.Fatalf("reply %s, want a result", reply)
			}
			q := reply.Child(NS, "query")
			if q == nil || q.Child(NS, "registered") == nil || q.ChildText(NS, "username") != "alice" {
				t.Fatalf("reply %s, want <registered/> with username alice", reply)
			}
			if q.ChildText(NS, "password") != "" {
				t.Errorf("the password element must stay empty: %s", reply)
			}
		})
	}
}

func TestChangePassword(t *testing.T) {
	set := func(to, inner string) string {
		return `<iq type='set' id='c1'` + to + `><query xmlns='jabber:iq:register'>` + inner + `</query></iq>`
	}
	tests := []struct {
		name string
		iq   string
		want stanza.Condition
	}{
		{"changed", set("", `<username>alice</username><password>NewPassword</password>`), ""},
		{"changed, to the server", set(" to='localhost'", `<username>alice</username><password>NewPassword</password>`), ""},
		{"changed, to own bare JID", set(" to='alice@localhost'", `<username>alice</username><password>NewPassword</password>`), ""},
		{"changed, name in other case", set("", `<username>ALICE</username><password>NewPassword</password>`), ""},
		{"no username", set("", `<password>NewPassword</password>`), stanza.BadRequest},
		{"no password", set("", `<username>alice</username>`), stanza.BadRequest},
		{"empty password", set("", `<username>alice</username><password/>`), stanza.BadRequest},
		{"empty query", set("", ``), stanza.BadRequest},
		{"someone else's name", set("", `<username>bob</username><password>NewPassword</password>`), stanza.Forbidden},
		{"invalid name", set("", `<username>a@b</username><password>NewPassword</password>`), stanza.Forbidden},
		{"short password", set("", `<username>alice</username><password>NewPass</password>`), stanza.NotAcceptable},
		{"to another account", set(" to='bob@localhost'", `<username>bob</username><password>NewPassword</password>`), stanza.ServiceUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setup(t, "")
			f.addUser("alice@localhost", "Password1")
			f.addUser("bob@localhost", "Password1")
			rec := f.bind("alice@localhost/desk")
			_, reply := f.route("alice@localhost/desk", rec, tt.iq)
			got := stanza.Condition("")
			if reply.Attr("type") == "error" {
				got = stanza.ParseError(reply).Condition
			}
			if got != tt.want {
				t.Fatalf("reply %s, want condition %q", reply, tt.want)
			}
			changed := f.passwordIs("alice", "NewPassword")
			if changed != (tt.want == "") {
				t.Errorf("password changed = %v, want %v", changed, tt.want == "")
			}
			if tt.want == "" {
				if f.passwordIs("alice", "Password1") {
					t.Error("the old password still works")
				}
			} else if !f.passwordIs("alice", "Password1") {
				t.Error("the old password was lost")
			}
			if !f.passwordIs("bob", "Password1") {
				t.Error("bob's password changed")
			}
			// The router, not the module, answers IQs to other accounts.
			if s := reply.String(); strings.Contains(s, "NewPass") && tt.want != stanza.ServiceUnavailable {
				t.Errorf("the reply echoes the password: %s", s)
			}
		})
	}
}

func TestRemove(t *testing.T) {
	tests := []struct {
		name string
		iq   string
		want stanza.Condition
	}{
		{"removed", `<iq type='set' id='u1'><query xmlns='jabber:iq:register'><remove/></query></iq>`, ""},
		{"removed, to the server", `<iq type='set' id='u1' to='localhost'><query xmlns='jabber:iq:register'><remove/></query></iq>`, ""},
		{"remove not alone", `<iq type='set' id='u1'><query xmlns='jabber:iq:register'><remove/><username>alice</username></query></iq>`, stanza.BadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setup(t, "")
			f.addUser("alice@localhost", "Password1")
			f.addUser("bob@localhost", "Password1")
			desk := f.bind("alice@localhost/desk")
			phone := f.bind("alice@localhost/phone")
			bob := f.bind("bob@localhost/b")
			events, reply := f.route("alice@localhost/desk", desk, tt.iq)
			if tt.want != "" {
				if reply.Attr("type") != "error" || stanza.ParseError(reply).Condition != tt.want {
					t.Fatalf("reply %s, want %s", reply, tt.want)
				}
				if !f.exists("alice") || len(events) != 1 {
					t.Fatalf("account removed or streams closed after an error: %v", events)
				}
				return
			}
			// The result first, then the stream error (§3.2).
			if want := []string{"send result", "close not-authorized"}; strings.Join(events, ",") != strings.Join(want, ",") {
				t.Errorf("requesting stream saw %v, want %v", events, want)
			}
			if e, _ := phone.take(); strings.Join(e, ",") != "close not-authorized" {
				t.Errorf("other session saw %v, want its stream closed with not-authorized", e)
			}
			if e, _ := bob.take(); len(e) != 0 {
				t.Errorf("bob's stream saw %v, want nothing", e)
			}
			if f.exists("alice") {
				t.Error("the account still exists")
			}
			if !f.exists("bob") {
				t.Error("bob's account was removed")
			}
		})
	}
}
