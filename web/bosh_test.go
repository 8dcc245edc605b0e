package web_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/starling-xmpp/starling/internal/testserver"
	"github.com/starling-xmpp/starling/sasl"
	"github.com/starling-xmpp/starling/stanza"
	"github.com/starling-xmpp/starling/xmlstream"
)

const (
	nsHTTPBind = "http://jabber.org/protocol/httpbind"
	nsXBOSH    = "urn:xmpp:xbosh"
)

// boshClient is a hand-driven BOSH client (XEP-0124, XEP-0206).
type boshClient struct {
	t   *testing.T
	url string
	sid string
	rid uint64 // the last rid sent
	hdr http.Header
}

func newBOSH(t *testing.T, srv *testserver.Server) *boshClient {
	return &boshClient{t: t, url: "http://" + srv.HTTPAddr + "/http-bind", rid: 1<<40 + rand.Uint64N(1<<40)}
}

// post sends a raw request and returns the answer, parsed, and its text.
func (c *boshClient) post(ctx context.Context, body string) (*stanza.Element, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, "POST", c.url, strings.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	for k, v := range c.hdr {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, data, fmt.Errorf("HTTP %d: %s", resp.StatusCode, data)
	}
	el, err := xmlstream.Parse(data, "", xmlstream.DefaultLimits())
	if err != nil {
		return nil, data, fmt.Errorf("answer %q: %v", data, err)
	}
	if el.Name.Space != nsHTTPBind || el.Name.Local != "body" {
		return nil, data, fmt.Errorf("answer %q is not a BOSH body", data)
	}
	return el, data, nil
}

// request builds a request of the session with rid.
func (c *boshClient) request(rid uint64, attrs, payload string) string {
	return fmt.Sprintf("<body xmlns='%s' xmlns:xmpp='%s' sid='%s' rid='%d'%s>%s</body>", nsHTTPBind, nsXBOSH, c.sid, rid, attrs, payload)
}

// send sends the next request and returns the answer.
func (c *boshClient) send(attrs, payload string) *stanza.Element {
	c.t.Helper()
	c.rid++
	el, _, err := c.post(c.ctx(), c.request(c.rid, attrs, payload))
	if err != nil {
		c.t.Fatal(err)
	}
	return el
}

// sendAsync sends the next request from a goroutine.
func (c *boshClient) sendAsync(attrs, payload string) <-chan *stanza.Element {
	c.rid++
	body := c.request(c.rid, attrs, payload)
	ch := make(chan *stanza.Element, 1)
	go func() {
		el, _, err := c.post(c.ctx(), body)
		if err != nil {
			c.t.Error(err)
		}
		ch <- el
	}()
	return ch
}

func (c *boshClient) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	c.t.Cleanup(cancel)
	return ctx
}

// create opens a session; extra are more attributes of the request.
func (c *boshClient) create(extra string) (*stanza.Element, []byte) {
	c.t.Helper()
	c.rid++
	el, raw, err := c.post(c.ctx(), fmt.Sprintf("<body xmlns='%s' xmlns:xmpp='%s' rid='%d' to='localhost' xml:lang='en' ver='1.6' xmpp:version='1.0'%s/>",
		nsHTTPBind, nsXBOSH, c.rid, extra))
	if err != nil {
		c.t.Fatal(err)
	}
	c.sid = el.Attr("sid")
	return el, raw
}

// only returns the single child of an answer, checking its name.
func only(t *testing.T, body *stanza.Element, space, local string) *stanza.Element {
	t.Helper()
	if body.NumElements() != 1 {
		t.Fatalf("answer %s: want one {%s}%s", body, space, local)
	}
	el := body.FirstElement()
	if el.Name.Space != space || el.Name.Local != local {
		t.Fatalf("answer %s: want {%s}%s", body, space, local)
	}
	return el
}

func terminated(t *testing.T, body *stanza.Element, cond string) {
	t.Helper()
	if body.Attr("type") != "terminate" || body.Attr("condition") != cond {
		t.Fatalf("answer %s: want type='terminate' condition='%s'", body, cond)
	}
}

// login opens a session, authenticates with SCRAM-SHA-256, restarts the
// stream and binds resource res.
func (c *boshClient) login(user, password, res, extra string) string {
	c.t.Helper()
	body, _ := c.create(extra)
	f := only(c.t, body, stanza.NSStream, "features")
	if !strings.Contains(f.String(), "SCRAM-SHA-256") || f.Child(stanza.NSTLS, "starttls") != nil {
		c.t.Fatalf("features: %s", f)
	}
	sc, err := sasl.NewClient(sasl.SCRAMSHA256, sasl.ClientConfig{Username: user, Password: password})
	if err != nil {
		c.t.Fatal(err)
	}
	resp, _ := sc.Step(nil)
	ch := only(c.t, c.send("", "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-256'>"+base64.StdEncoding.EncodeToString(resp)+"</auth>"), stanza.NSSASL, "challenge")
	data, _ := base64.StdEncoding.DecodeString(ch.Text())
	if resp, err = sc.Step(data); err != nil {
		c.t.Fatal(err)
	}
	ok := only(c.t, c.send("", "<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"+base64.StdEncoding.EncodeToString(resp)+"</response>"), stanza.NSSASL, "success")
	data, _ = base64.StdEncoding.DecodeString(ok.Text())
	if err := sc.Verify(data); err != nil {
		c.t.Fatal(err)
	}
	// XEP-0206 §5: the restart request, answered with the new features.
	if f := only(c.t, c.send(" to='localhost' xml:lang='en' xmpp:restart='true'", ""), stanza.NSStream, "features"); f.Child(stanza.NSBind, "bind") == nil {
		c.t.Fatalf("no bind after the restart: %s", f)
	}
	// Without a namespace: the BOSH one stands for jabber:client
	// (XEP-0206 §3).
	r := only(c.t, c.send("", "<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>"+res+"</resource></bind></iq>"), stanza.NSClient, "iq")
	return r.Child(stanza.NSBind, "bind").ChildText(stanza.NSBind, "jid")
}

// TestBOSHChat: a BOSH client creates a session (with XEP-0206's
// attributes and the stream features in the answer), logs in with SCRAM,
// restarts, binds, chats with a TCP client both ways (the reply comes on
// the request held), and terminates the session.
func TestBOSHChat(t *testing.T) {
	srv := testserver.Start(t, "")
	srv.AddUser(t, "alice@localhost", "pw")
	srv.AddUser(t, "bob@localhost", "pw")

	c := newBOSH(t, srv)
	body, raw := c.create(" wait='10' hold='1'")
	for attr, want := range map[string]string{"wait": "10", "hold": "1", "requests": "2", "inactivity": "60",
		"polling": "2", "ver": "1.6", "from": "localhost"} {
		if got := body.Attr(attr); got != want {
			t.Errorf("%s='%s', want '%s' in %s", attr, got, want, raw)
		}
	}
	if len(c.sid) < 16 || body.AttrNS(nsXBOSH, "version") != "1.0" || body.AttrNS(nsXBOSH, "restartlogic") != "true" ||
		!bytes.Contains(raw, []byte("xmlns:xmpp='"+nsXBOSH+"'")) || !bytes.Contains(raw, []byte("xmlns:stream='"+stanza.NSStream+"'")) {
		t.Errorf("creation answer %s", raw)
	}
	only(t, body, stanza.NSStream, "features")
	if got := resp(t, c, "ver='1.11'"); got != "1.11" {
		t.Errorf("ver %q for a client at 1.11", got)
	}

	alice := newBOSH(t, srv)
	if j := alice.login("alice", "pw", "web", " wait='10' hold='1'"); j != "alice@localhost/web" {
		t.Fatalf("bound %q", j)
	}
	r := only(t, alice.send("", "<iq xmlns='jabber:client' type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>"), stanza.NSClient, "iq")
	if r.Attr("type") != "result" || r.Child("jabber:iq:roster", "query") == nil {
		t.Fatalf("roster: %s", r)
	}
	only(t, alice.send("", "<presence xmlns='jabber:client'/>"), stanza.NSClient, "presence")
	bob := srv.Login(t, "bob@localhost/tcp", "pw")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// Alice's message goes out; the request carrying it is held until
	// Bob's reply comes.
	held := alice.sendAsync("", "<message xmlns='jabber:client' to='bob@localhost/tcp' type='chat'><body>from bosh</body></message>")
	m, err := bob.Recv(ctx)
	if err != nil || m.ChildText("", "body") != "from bosh" || m.Attr("from") != "alice@localhost/web" {
		t.Fatalf("bob got %v, %v", m, err)
	}
	bob.Send(stanza.New("", "message").SetAttr("to", "alice@localhost/web").SetAttr("type", "chat").Append(stanza.New("", "body").AppendText("from tcp")))
	if m := only(t, <-held, stanza.NSClient, "message"); m.ChildText(stanza.NSClient, "body") != "from tcp" {
		t.Fatalf("alice got %s", m)
	}

	// Terminating (XEP-0124 §13), with a last payload.
	end := alice.send(" type='terminate'", "<presence xmlns='jabber:client' type='unavailable'/>")
	terminated(t, end, "")
	terminated(t, alice.send("", ""), "item-not-found")
}

// resp creates a session with extra attributes and returns its ver.
func resp(t *testing.T, c *boshClient, extra string) string {
	t.Helper()
	c.rid++
	el, _, err := c.post(c.ctx(), fmt.Sprintf("<body xmlns='%s' rid='%d' to='localhost' wait='1' %s/>", nsHTTPBind, c.rid, extra))
	if err != nil {
		t.Fatal(err)
	}
	return el.Attr("ver")
}

// TestBOSHRequests: the rules of XEP-0124 on requests: rids, holding,
// repetition, overactivity, inactivity, unknown sessions, malformed
// bodies.
func TestBOSHRequests(t *testing.T) {
	srv := testserver.Start(t, "")
	srv.AddUser(t, "alice@localhost", "pw")
	srv.AddUser(t, "bob@localhost", "pw")
	ping := func(id string) string {
		return "<iq xmlns='jabber:client' type='get' id='" + id + "' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>"
	}

	t.Run("repeated rid", func(t *testing.T) {
		c := newBOSH(t, srv)
		c.login("alice", "pw", "rep", " wait='1' hold='1'")
		first := c.request(c.rid+1, "", ping("p1"))
		c.rid++
		_, a, err := c.post(c.ctx(), first)
		if err != nil {
			t.Fatal(err)
		}
		_, b, err := c.post(c.ctx(), first)
		if err != nil || !bytes.Equal(a, b) || !bytes.Contains(a, []byte("p1")) {
			t.Fatalf("first answer %s, repeated %s (%v)", a, b, err)
		}
		// Processed once: the next request holds, then times out empty.
		if el := c.send("", ""); el.NumElements() != 0 || el.Attr("type") != "" {
			t.Fatalf("then %s", el)
		}
	})

	t.Run("lost answer resent", func(t *testing.T) {
		c := newBOSH(t, srv)
		c.login("alice", "pw", "lost", " wait='10' hold='1'")
		bob := srv.Login(t, "bob@localhost/lost", "pw")
		c.rid++
		lost := c.request(c.rid, "", "")
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			c.post(ctx, lost)
		}()
		time.Sleep(200 * time.Millisecond)
		cancel() // the connection breaks
		<-done
		bob.Send(stanza.New("", "message").SetAttr("to", "alice@localhost/lost").Append(stanza.New("", "body").AppendText("lost?")))
		time.Sleep(200 * time.Millisecond)
		el, _, err := c.post(c.ctx(), lost)
		if err != nil {
			t.Fatal(err)
		}
		if m := only(t, el, stanza.NSClient, "message"); m.ChildText(stanza.NSClient, "body") != "lost?" {
			t.Fatalf("resent %s", el)
		}
	})

	t.Run("hold 1", func(t *testing.T) {
		c := newBOSH(t, srv)
		c.login("alice", "pw", "hold", " wait='10' hold='1'")
		older := c.sendAsync("", "")
		time.Sleep(100 * time.Millisecond)
		start := time.Now()
		newer := c.sendAsync("", ping("p2"))
		if el := <-older; el == nil || el.NumElements() != 0 || el.Attr("type") != "" {
			t.Fatalf("older request: %v", el)
		}
		if el := <-newer; el == nil || only(t, el, stanza.NSClient, "iq").Attr("id") != "p2" {
			t.Fatalf("newer request: %v", el)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("answered after %v", d)
		}
	})

	t.Run("overactivity", func(t *testing.T) {
		c := newBOSH(t, srv)
		c.login("alice", "pw", "busy", " wait='10' hold='1'")
		older := c.sendAsync("", "")
		time.Sleep(100 * time.Millisecond)
		terminated(t, c.send("", ""), "policy-violation")
		if el := <-older; el == nil || el.Attr("type") != "terminate" {
			t.Fatalf("older request: %v", el)
		}
	})

	t.Run("polling", func(t *testing.T) {
		c := newBOSH(t, srv)
		body, _ := c.create(" wait='0' hold='0'")
		if body.Attr("hold") != "0" || body.Attr("requests") != "1" {
			t.Fatalf("creation answer %s", body)
		}
		only(t, body, stanza.NSStream, "features")
		if el := c.send("", ""); el.NumElements() != 0 || el.Attr("type") != "" {
			t.Fatalf("poll: %s", el)
		}
		// Again, sooner than the polling interval (XEP-0124 §12).
		terminated(t, c.send("", ""), "policy-violation")
	})

	t.Run("rid out of window", func(t *testing.T) {
		c := newBOSH(t, srv)
		c.create(" wait='1' hold='1'")
		c.rid += 5
		terminated(t, c.send("", ""), "item-not-found")
		c.rid -= 6
		terminated(t, c.send("", ""), "item-not-found")
	})

	t.Run("inactivity", func(t *testing.T) {
		c := newBOSH(t, srv)
		body, _ := c.create(" wait='1' hold='1' inactivity='1'")
		if body.Attr("inactivity") != "1" {
			t.Fatalf("creation answer %s", body)
		}
		time.Sleep(1500 * time.Millisecond)
		terminated(t, c.send("", ""), "item-not-found")
	})

	t.Run("unknown sid", func(t *testing.T) {
		c := newBOSH(t, srv)
		c.sid = "no-such-session"
		terminated(t, c.send("", ""), "item-not-found")
	})

	t.Run("malformed", func(t *testing.T) {
		c := newBOSH(t, srv)
		for _, body := range []string{
			"<body xmlns='" + nsHTTPBind + "' rid='1' to='localhost'><message>",
			"<notbody xmlns='" + nsHTTPBind + "' rid='1' to='localhost'/>",
			"<body xmlns='" + nsHTTPBind + "' to='localhost'/>",
			"<body xmlns='" + nsHTTPBind + "' rid='1' to='localhost'><!-- no --></body>",
		} {
			el, _, err := c.post(c.ctx(), body)
			if err != nil {
				t.Fatal(err)
			}
			terminated(t, el, "bad-request")
		}
	})

	t.Run("stream error", func(t *testing.T) {
		c := newBOSH(t, srv)
		c.rid++
		el, raw, err := c.post(c.ctx(), fmt.Sprintf("<body xmlns='%s' rid='%d' to='elsewhere.example' wait='1'/>", nsHTTPBind, c.rid))
		if err != nil {
			t.Fatal(err)
		}
		terminated(t, el, "remote-stream-error")
		if se := only(t, el, stanza.NSStream, "error"); stanza.ParseStreamError(se).Condition != stanza.StreamHostUnknown {
			t.Fatalf("answer %s", raw)
		}
	})
}

// TestBOSHShutdown: a server going down answers the request held with
// system-shutdown and the stream error (XEP-0124 §17.2, XEP-0206 §7).
func TestBOSHShutdown(t *testing.T) {
	srv := testserver.Start(t, "")
	srv.AddUser(t, "alice@localhost", "pw")
	c := newBOSH(t, srv)
	c.login("alice", "pw", "web", " wait='30' hold='1'")
	held := c.sendAsync("", "")
	time.Sleep(100 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	go srv.Shutdown(ctx)
	el := <-held
	if el == nil {
		t.Fatal("no answer")
	}
	terminated(t, el, "system-shutdown")
	if se := only(t, el, stanza.NSStream, "error"); stanza.ParseStreamError(se).Condition != stanza.StreamSystemShutdown {
		t.Fatalf("answer %s", el)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("answered after %v", d)
	}
}

// TestBOSHAccess: CORS for allowed origins only, the per-address session
// limit, and no plaintext session from afar.
func TestBOSHAccess(t *testing.T) {
	srv := testserver.Start(t, "http:\n  listen: [\"127.0.0.1:0\"]\n  allowed_origins: [\"*.example.org\"]\n  max_sessions_per_ip: 1\n  trusted_proxies: [127.0.0.0/8]\n")
	preflight := func(origin string) *http.Response {
		req, _ := http.NewRequest("OPTIONS", "http://"+srv.HTTPAddr+"/http-bind", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if r := preflight("https://chat.example.org"); r.StatusCode != http.StatusNoContent || r.Header.Get("Access-Control-Allow-Origin") != "https://chat.example.org" {
		t.Fatalf("allowed origin: %d %v", r.StatusCode, r.Header)
	}
	if r := preflight("https://evil.example"); r.StatusCode != http.StatusForbidden {
		t.Fatalf("foreign origin: %d", r.StatusCode)
	}

	// Through the proxy, which says it terminated TLS.
	https := http.Header{"X-Forwarded-Proto": {"https"}}
	c := newBOSH(t, srv)
	c.hdr = https
	if body, _ := c.create(" wait='1' hold='1'"); c.sid == "" {
		t.Fatalf("creation answer %s", body)
	}
	d := newBOSH(t, srv)
	d.hdr = https
	d.rid++
	if _, _, err := d.post(d.ctx(), fmt.Sprintf("<body xmlns='%s' rid='%d' to='localhost' wait='1'/>", nsHTTPBind, d.rid)); err == nil || !strings.Contains(err.Error(), "429") {
		t.Fatalf("second session from one address: %v", err)
	}
	terminated(t, c.send(" type='terminate'", ""), "")

	// Through a proxy that did not terminate TLS, no session: there is
	// no STARTTLS over BOSH.
	p := newBOSH(t, srv)
	p.hdr = http.Header{"X-Forwarded-Proto": {"http"}, "X-Forwarded-For": {"203.0.113.9"}}
	p.rid++
	el, _, err := p.post(p.ctx(), fmt.Sprintf("<body xmlns='%s' rid='%d' to='localhost' wait='1'/>", nsHTTPBind, p.rid))
	if err != nil {
		t.Fatal(err)
	}
	terminated(t, el, "policy-violation")
}
