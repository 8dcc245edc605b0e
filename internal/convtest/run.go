package convtest

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/starling-xmpp/starling/client"
	"github.com/starling-xmpp/starling/internal/testserver"
	"github.com/starling-xmpp/starling/jid"
	"github.com/starling-xmpp/starling/stanza"
	"github.com/starling-xmpp/starling/xmlstream"
)

const (
	// recvTimeout bounds every expected receive.
	recvTimeout = 5 * time.Second
	// quietTime is how long "receives nothing" listens.
	quietTime = 300 * time.Millisecond
)

// RunDir runs every *.conv script in dir as a subtest named after the
// file.
func RunDir(t *testing.T, dir string) {
	files, err := filepath.Glob(filepath.Join(dir, "*.conv"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts in %s (%v)", dir, err)
	}
	sort.Strings(files)
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".conv")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			s, err := Parse(filepath.Base(f), string(data))
			if err != nil {
				t.Fatal(err)
			}
			Run(t, s)
		})
	}
}

// Run runs one script against a fresh server.
func Run(t *testing.T, s *Script) {
	srv := testserver.Start(t, s.Config)
	made := map[string]bool{}
	for acct, pw := range s.Accounts {
		srv.AddUser(t, acct, pw)
		made[acct] = true
	}
	for _, name := range s.Order {
		a := s.Actors[name]
		if a.Options["jid"] == "" || a.Options["account"] == "no" {
			continue
		}
		j, err := jid.Parse(a.Options["jid"])
		if err != nil {
			t.Fatalf("%s: actor %s: %v", s.Name, name, err)
		}
		if !made[j.Bare().String()] {
			srv.AddUser(t, j.Bare().String(), a.Options["password"])
			made[j.Bare().String()] = true
		}
	}
	r := &runner{t: t, srv: srv, s: s, actors: map[string]*actorState{}}
	t.Cleanup(r.closeAll)
	for _, st := range s.Steps {
		if err := r.step(st); err != nil {
			t.Fatalf("%s:%d: %s %s: %v", s.Name, st.Line, st.Actor, st.Action, err)
		}
	}
}

type runner struct {
	t      *testing.T
	srv    *testserver.Server
	s      *Script
	actors map[string]*actorState
}

type actorState struct {
	def *Actor
	// Client actors.
	sess *client.Session
	// pending holds what arrived while the runner synchronised with
	// another actor's skip, for the steps that come.
	pending []*stanza.Element
	// sent: the actor sent something since its last synchronisation.
	sent  bool
	syncs int
	// Raw actors.
	conn      net.Conn
	dec       *xmlstream.Decoder
	sawHeader bool
}

func (r *runner) closeAll() {
	for _, a := range r.actors {
		if a.sess != nil {
			a.sess.Abort()
		}
		if a.conn != nil {
			a.conn.Close()
		}
	}
}

func (r *runner) state(name string) *actorState {
	a := r.actors[name]
	if a == nil {
		a = &actorState{def: r.s.Actors[name]}
		r.actors[name] = a
	}
	return a
}

func (r *runner) step(st Step) error {
	a := r.state(st.Actor)
	if st.Action != "connects" && a.sess == nil && a.conn == nil {
		return errors.New("not connected")
	}
	switch st.Action {
	case "connects":
		return r.connect(a, st.Arg == "direct tls")
	case "sends":
		data, err := r.expand(st.Data)
		if err != nil {
			return err
		}
		if a.sess != nil {
			a.sent = true
			return a.sess.SendRaw([]byte(data))
		}
		a.conn.SetWriteDeadline(time.Now().Add(recvTimeout))
		_, err = a.conn.Write([]byte(data))
		return err
	case "receives":
		data, err := r.expand(st.Data)
		if err != nil {
			return err
		}
		exps, err := parseExpected(data)
		if err != nil {
			return fmt.Errorf("expected XML: %w", err)
		}
		for _, e := range exps {
			if err := r.receive(a, e); err != nil {
				return err
			}
		}
		return nil
	case "nothing":
		return r.nothing(a)
	case "skip":
		if a.sess != nil {
			return r.skip(a)
		}
		for range 1000 {
			if r.nothing(a) == nil {
				return nil
			}
		}
		return errors.New("never quiet")
	case "starttls":
		if a.conn == nil {
			return errors.New("starts tls is for Raw actors")
		}
		tc := tls.Client(a.conn, r.srv.TLSConfig())
		tc.SetDeadline(time.Now().Add(recvTimeout))
		if err := tc.Handshake(); err != nil {
			return fmt.Errorf("TLS handshake: %w", err)
		}
		tc.SetDeadline(time.Time{})
		a.conn = tc
		a.dec.Reset(tc)
		a.sawHeader = false
		return nil
	case "authenticates":
		return r.authenticate(a)
	case "disconnects":
		if a.sess != nil {
			return a.sess.CloseTimeout(2 * time.Second)
		}
		return a.conn.Close()
	case "drops":
		if a.sess != nil {
			a.sess.Abort()
			return nil
		}
		return a.conn.Close()
	case "disconnected":
		return r.disconnected(a)
	}
	return fmt.Errorf("unknown action %q", st.Action)
}

func (r *runner) connect(a *actorState, directTLS bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), recvTimeout)
	defer cancel()
	if a.def.Raw {
		addr := r.srv.Addr
		if directTLS {
			addr = r.srv.TLSAddr
		}
		conn, err := net.DialTimeout("tcp", addr, recvTimeout)
		if err != nil {
			return err
		}
		if directTLS {
			tc := tls.Client(conn, r.srv.TLSConfig())
			if err := tc.HandshakeContext(ctx); err != nil {
				conn.Close()
				return err
			}
			conn = tc
		}
		a.conn = conn
		a.dec = xmlstream.NewDecoder(conn, xmlstream.Limits{})
		return nil
	}
	o := a.def.Options
	cfg := r.srv.ClientConfig(r.t, o["jid"], o["password"])
	cfg.Mechanism = o["mechanism"]
	cfg.Lang = o["lang"]
	if o["direct_tls"] == "yes" || directTLS {
		cfg.DirectTLS, cfg.Addr = true, r.srv.TLSAddr
	}
	if o["plaintext"] == "yes" {
		cfg.Plaintext, cfg.AllowPLAIN = true, true
	}
	s, err := client.Dial(ctx, cfg)
	if err != nil {
		return err
	}
	a.sess = s
	return nil
}

var reVar = regexp.MustCompile(`\$\{([^}]+)\}`)

// expand replaces ${actor}, ${actor.bare}, ${actor.resource} and
// ${plain:user:password}.
func (r *runner) expand(s string) (string, error) {
	var err error
	out := reVar.ReplaceAllStringFunc(s, func(m string) string {
		v := m[2 : len(m)-1]
		if rest, ok := strings.CutPrefix(v, "plain:"); ok {
			user, pw, _ := strings.Cut(rest, ":")
			return base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pw))
		}
		name, field, _ := strings.Cut(v, ".")
		a := r.actors[name]
		if a == nil || a.sess == nil {
			err = fmt.Errorf("%s: no connected Client actor %q", m, name)
			return m
		}
		switch field {
		case "":
			return a.sess.JID().String()
		case "bare":
			return a.sess.JID().Bare().String()
		case "resource":
			return a.sess.JID().Resource()
		}
		err = fmt.Errorf("%s: unknown field %q", m, field)
		return m
	})
	return out, err
}

// authenticate logs a Raw actor in by hand: stream, STARTTLS, SASL PLAIN,
// restart, and the post-authentication features.
func (r *runner) authenticate(a *actorState) error {
	if a.conn == nil || a.def.Options["jid"] == "" {
		return errors.New("authenticates needs a connected Raw actor with jid and password")
	}
	j, err := jid.Parse(a.def.Options["jid"])
	if err != nil {
		return err
	}
	open := "<stream:stream to='" + j.Domain() + "' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
	send := func(s string) error {
		a.conn.SetWriteDeadline(time.Now().Add(recvTimeout))
		_, err := a.conn.Write([]byte(s))
		return err
	}
	features := func() (*stanza.Element, error) {
		a.conn.SetReadDeadline(time.Now().Add(recvTimeout))
		defer a.conn.SetReadDeadline(time.Time{})
		if a.sawHeader {
			a.dec.Restart()
		}
		if _, err := a.dec.ReadHeader(); err != nil {
			return nil, err
		}
		a.sawHeader = true
		return a.dec.Next()
	}
	next := func() (*stanza.Element, error) {
		a.conn.SetReadDeadline(time.Now().Add(recvTimeout))
		defer a.conn.SetReadDeadline(time.Time{})
		return a.dec.Next()
	}
	if err := send(open); err != nil {
		return err
	}
	f, err := features()
	if err != nil {
		return err
	}
	if f.Child(stanza.NSTLS, "starttls") != nil {
		if err := send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"); err != nil {
			return err
		}
		if el, err := next(); err != nil || el.Name.Local != "proceed" {
			return fmt.Errorf("STARTTLS: got %v, %v", el, err)
		}
		if err := r.step(Step{Actor: a.def.Name, Action: "starttls"}); err != nil {
			return err
		}
		if err := send(open); err != nil {
			return err
		}
		if _, err := features(); err != nil {
			return err
		}
	}
	plain := base64.StdEncoding.EncodeToString([]byte("\x00" + j.Local() + "\x00" + a.def.Options["password"]))
	if err := send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + plain + "</auth>"); err != nil {
		return err
	}
	if el, err := next(); err != nil || el.Name.Local != "success" {
		return fmt.Errorf("SASL: got %v, %v", el, err)
	}
	if err := send(open); err != nil {
		return err
	}
	f, err = features()
	if err != nil {
		return err
	}
	if f.Child(stanza.NSBind, "bind") == nil {
		return fmt.Errorf("no bind feature after authentication: %s", f)
	}
	return nil
}

// expectation is one thing an actor must receive.
type expectation struct {
	kind   string // "header", "element", "close"
	el     *stanza.Element
	prefix string // header
	defNS  string // header
}

var (
	reOpen  = regexp.MustCompile(`<stream:stream\b[^>]*>`)
	reClose = regexp.MustCompile(`</stream:stream>`)
	reDecl  = regexp.MustCompile(`^\s*<\?xml[^>]*\?>`)
	reXMLNS = regexp.MustCompile(`\sxmlns=['"]([^'"]*)['"]`)
)

const wrapOpen = `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`

func parseExpected(data string) ([]expectation, error) {
	data = reDecl.ReplaceAllString(data, "")
	var out []expectation
	for len(strings.TrimSpace(data)) > 0 {
		data = strings.TrimLeft(data, " \t\r\n")
		switch {
		case reOpen.MatchString(data) && reOpen.FindStringIndex(data)[0] == 0:
			tag := reOpen.FindString(data)
			el, err := xmlstream.Parse([]byte(tag+"</stream:stream>"), stanza.NSClient, xmlstream.Limits{})
			if err != nil {
				return nil, fmt.Errorf("%s: %w", tag, err)
			}
			e := expectation{kind: "header", el: el, prefix: "stream"}
			if m := reXMLNS.FindStringSubmatch(tag); m != nil {
				e.defNS = m[1]
			}
			out = append(out, e)
			data = data[len(tag):]
		case strings.HasPrefix(data, "</stream:stream>"):
			out = append(out, expectation{kind: "close"})
			data = data[len("</stream:stream>"):]
		default:
			end := len(data)
			for _, re := range []*regexp.Regexp{reOpen, reClose} {
				if loc := re.FindStringIndex(data); loc != nil && loc[0] < end {
					end = loc[0]
				}
			}
			chunk := data[:end]
			data = data[end:]
			d := xmlstream.NewDecoder(strings.NewReader(wrapOpen+chunk+"</stream:stream>"), xmlstream.Limits{})
			if _, err := d.ReadHeader(); err != nil {
				return nil, err
			}
			for {
				el, err := d.Next()
				if errors.Is(err, xmlstream.ErrStreamEnd) {
					break
				}
				if err != nil {
					return nil, fmt.Errorf("%q: %w", chunk, err)
				}
				out = append(out, expectation{kind: "element", el: el})
			}
		}
	}
	return out, nil
}

func (r *runner) receive(a *actorState, e expectation) error {
	if a.sess != nil {
		ctx, cancel := context.WithTimeout(context.Background(), recvTimeout)
		defer cancel()
		el, err := a.next(ctx)
		switch e.kind {
		case "close":
			if errors.Is(err, xmlstream.ErrStreamEnd) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("want </stream:stream>, got %w", err)
			}
			return fmt.Errorf("want </stream:stream>, got %s", el)
		case "header":
			return errors.New("Client actors receive no stream headers (use a Raw actor)")
		}
		if err != nil {
			return fmt.Errorf("want %s\n got error: %w", e.el, err)
		}
		return match(e.el, el)
	}
	a.conn.SetReadDeadline(time.Now().Add(recvTimeout))
	defer a.conn.SetReadDeadline(time.Time{})
	switch e.kind {
	case "header":
		if a.sawHeader {
			a.dec.Restart()
		}
		h, err := a.dec.ReadHeader()
		if err != nil {
			return fmt.Errorf("want a stream header, got %w", err)
		}
		a.sawHeader = true
		got := &stanza.Element{Name: h.Name, Attrs: h.Attrs}
		if err := match(e.el, got); err != nil {
			return err
		}
		if h.Prefix != e.prefix || h.DefaultNS != e.defNS {
			return fmt.Errorf("stream header prefix %q default namespace %q, want %q and %q", h.Prefix, h.DefaultNS, e.prefix, e.defNS)
		}
		return nil
	case "close":
		el, err := a.dec.Next()
		if errors.Is(err, xmlstream.ErrStreamEnd) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("want </stream:stream>, got %w", err)
		}
		return fmt.Errorf("want </stream:stream>, got %s", el)
	}
	el, err := a.dec.Next()
	if err != nil {
		return fmt.Errorf("want %s\n got error: %w", e.el, err)
	}
	return match(e.el, el)
}

// next returns the Client actor's next element: one kept by a
// synchronisation first.
func (a *actorState) next(ctx context.Context) (*stanza.Element, error) {
	if len(a.pending) > 0 {
		el := a.pending[0]
		a.pending = a.pending[1:]
		return el, nil
	}
	return a.sess.Next(ctx)
}

// skip makes everything that is on its way to Client actor a arrive, and
// discards it. A server handles each stream's stanzas in order, and
// everything a stanza causes (deliveries to other local sessions, pushes,
// presence) is queued before the next one is read; so a ping round trip
// with each actor that has sent something since its last round trip, then
// one with a, guarantees that nothing caused so far is still to come: no
// timing involved. What the other actors receive meanwhile is kept for
// their next steps.
func (r *runner) skip(a *actorState) error {
	for _, name := range r.s.Order {
		o := r.actors[name]
		if o != nil && o != a && o.sess != nil && o.sent {
			if err := r.sync(o, true); err != nil {
				return fmt.Errorf("synchronising with %s: %w", name, err)
			}
		}
	}
	a.pending = nil
	return r.sync(a, false)
}

// sync does a ping round trip (XEP-0199; any answer will do) with a,
// keeping what arrives before the answer in a.pending, or dropping it.
func (r *runner) sync(a *actorState, keep bool) error {
	a.syncs++
	id := fmt.Sprintf("convtest-sync-%d", a.syncs)
	ping := stanza.New("", "iq").SetAttr("type", "get").SetAttr("id", id).Append(stanza.New("urn:xmpp:ping", "ping"))
	if err := a.sess.Send(ping); err != nil {
		return err
	}
	a.sent = false
	ctx, cancel := context.WithTimeout(context.Background(), recvTimeout)
	defer cancel()
	for range 1000 {
		el, err := a.sess.Next(ctx)
		if err != nil {
			return err
		}
		if el.Name.Local == "iq" && el.Attr("id") == id {
			return nil
		}
		if keep {
			a.pending = append(a.pending, el)
		}
	}
	return errors.New("no answer to the synchronising ping")
}

func (r *runner) nothing(a *actorState) error {
	if a.sess != nil {
		ctx, cancel := context.WithTimeout(context.Background(), quietTime)
		defer cancel()
		// Silence, or the end of the stream: either way no element.
		if el, err := a.next(ctx); err == nil {
			return fmt.Errorf("want nothing, got %s", el)
		}
		return nil
	}
	a.conn.SetReadDeadline(time.Now().Add(quietTime))
	defer a.conn.SetReadDeadline(time.Time{})
	if el, err := a.dec.Next(); err == nil {
		return fmt.Errorf("want nothing, got %s", el)
	}
	return nil
}

// disconnected waits for the server to end the connection, allowing its
// closing tag on the way.
func (r *runner) disconnected(a *actorState) error {
	deadline := time.Now().Add(recvTimeout)
	if a.sess != nil {
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		defer cancel()
		for {
			el, err := a.next(ctx)
			switch {
			case errors.Is(err, context.DeadlineExceeded):
				return errors.New("still connected")
			case errors.Is(err, xmlstream.ErrStreamEnd):
				continue
			case err != nil:
				return nil
			default:
				return fmt.Errorf("want the connection to end, got %s", el)
			}
		}
	}
	a.conn.SetReadDeadline(deadline)
	for {
		el, err := a.dec.Next()
		var ne net.Error
		switch {
		case errors.As(err, &ne) && ne.Timeout():
			return errors.New("still connected")
		case errors.Is(err, xmlstream.ErrStreamEnd):
			// The closing tag; now the TCP connection must end.
			buf := make([]byte, 1)
			_, err := a.conn.Read(buf)
			if errors.As(err, &ne) && ne.Timeout() {
				return errors.New("closing tag received but the connection stays open")
			}
			return nil
		case err != nil:
			return nil
		default:
			return fmt.Errorf("want the connection to end, got %s", el)
		}
	}
}

// match compares an expected element with a received one: same names,
// same attributes in any order, same children ignoring whitespace-only
// text; {any} in expected values matches anything.
func match(exp, got *stanza.Element) error {
	if err := matchEl(exp, got); err != nil {
		return fmt.Errorf("%v\nwant %s\n got %s", err, exp, got)
	}
	return nil
}

func matchEl(exp, got *stanza.Element) error {
	if exp.Name != got.Name {
		return fmt.Errorf("element {%s}%s, want {%s}%s", got.Name.Space, got.Name.Local, exp.Name.Space, exp.Name.Local)
	}
	for _, ea := range exp.Attrs {
		i := slices.IndexFunc(got.Attrs, func(a stanza.Attr) bool { return a.Name == ea.Name })
		if i < 0 {
			return fmt.Errorf("<%s> lacks attribute %s", exp.Name.Local, attrName(ea.Name))
		}
		if !glob(ea.Value, got.Attrs[i].Value) {
			return fmt.Errorf("<%s %s='%s'>, want '%s'", exp.Name.Local, attrName(ea.Name), got.Attrs[i].Value, ea.Value)
		}
	}
	for _, ga := range got.Attrs {
		if !slices.ContainsFunc(exp.Attrs, func(a stanza.Attr) bool { return a.Name == ga.Name }) {
			return fmt.Errorf("<%s> has unexpected attribute %s='%s'", exp.Name.Local, attrName(ga.Name), ga.Value)
		}
	}
	ec, gc := significant(exp), significant(got)
	if len(ec) != len(gc) {
		return fmt.Errorf("<%s> has %d children, want %d", exp.Name.Local, len(gc), len(ec))
	}
	for i := range ec {
		switch {
		case ec[i].Elem == nil && gc[i].Elem == nil:
			if !glob(ec[i].Text, gc[i].Text) {
				return fmt.Errorf("<%s> text %q, want %q", exp.Name.Local, gc[i].Text, ec[i].Text)
			}
		case ec[i].Elem != nil && gc[i].Elem != nil:
			if err := matchEl(ec[i].Elem, gc[i].Elem); err != nil {
				return err
			}
		default:
			return fmt.Errorf("<%s> child %d differs in kind (text vs element)", exp.Name.Local, i)
		}
	}
	return nil
}

func attrName(n stanza.Name) string {
	switch n.Space {
	case "":
		return n.Local
	case stanza.NSXML:
		return "xml:" + n.Local
	}
	return "{" + n.Space + "}" + n.Local
}

// significant returns the children without whitespace-only text.
func significant(e *stanza.Element) []stanza.Node {
	var out []stanza.Node
	for _, n := range e.Children {
		if n.Elem == nil && strings.TrimSpace(n.Text) == "" {
			continue
		}
		out = append(out, n)
	}
	return out
}

// glob matches s against pattern, where {any} matches any run of
// characters.
func glob(pattern, s string) bool {
	parts := strings.Split(pattern, "{any}")
	if len(parts) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return strings.HasSuffix(s, parts[len(parts)-1])
}
