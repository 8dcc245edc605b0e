package web_test

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/starling-xmpp/starling/internal/testserver"
	"github.com/starling-xmpp/starling/sasl"
	"github.com/starling-xmpp/starling/server"
	"github.com/starling-xmpp/starling/stanza"
	"github.com/starling-xmpp/starling/xmlstream"
)

const framing = "urn:ietf:params:xml:ns:xmpp-framing"

// wsClient is a hand-driven XMPP-over-WebSocket client.
type wsClient struct {
	t   *testing.T
	ws  *websocket.Conn
	ctx context.Context
}

func dialWS(t *testing.T, srv *testserver.Server, opts *websocket.DialOptions) (*wsClient, *http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	if opts == nil {
		opts = &websocket.DialOptions{Subprotocols: []string{"xmpp"}}
	}
	ws, resp, err := websocket.Dial(ctx, "ws://"+srv.HTTPAddr+"/xmpp-websocket", opts)
	if err != nil {
		return nil, resp, err
	}
	t.Cleanup(func() { ws.CloseNow() })
	return &wsClient{t: t, ws: ws, ctx: ctx}, resp, nil
}

func (c *wsClient) send(xml string) {
	c.t.Helper()
	if err := c.ws.Write(c.ctx, websocket.MessageText, []byte(xml)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// recv reads one message and parses it as a standalone element.
func (c *wsClient) recv() *stanza.Element {
	c.t.Helper()
	typ, data, err := c.ws.Read(c.ctx)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	if typ != websocket.MessageText {
		c.t.Fatalf("a binary message")
	}
	el, err := xmlstream.Parse(data, "", xmlstream.DefaultLimits())
	if err != nil {
		c.t.Fatalf("message %q is not one element: %v", data, err)
	}
	return el
}

func (c *wsClient) expect(space, local string) *stanza.Element {
	c.t.Helper()
	el := c.recv()
	if el.Name.Space != space || el.Name.Local != local {
		c.t.Fatalf("got %s, want {%s}%s", el, space, local)
	}
	return el
}

// open sends <open/> and reads <open/> and the features.
func (c *wsClient) open() *stanza.Element {
	c.t.Helper()
	c.send("<open xmlns='" + framing + "' to='localhost' version='1.0'/>")
	o := c.expect(framing, "open")
	if o.Attr("from") != "localhost" || o.Attr("version") != "1.0" || o.Attr("id") == "" {
		c.t.Fatalf("open: %s", o)
	}
	return c.expect(stanza.NSStream, "features")
}

// login authenticates with SCRAM-SHA-256 and binds resource res.
func (c *wsClient) login(user, password, res string) string {
	c.t.Helper()
	f := c.open()
	if f.Child(stanza.NSTLS, "starttls") != nil || !strings.Contains(f.String(), "SCRAM-SHA-256") {
		c.t.Fatalf("features on a loopback WebSocket: %s", f)
	}
	sc, err := sasl.NewClient(sasl.SCRAMSHA256, sasl.ClientConfig{Username: user, Password: password})
	if err != nil {
		c.t.Fatal(err)
	}
	resp, _ := sc.Step(nil)
	c.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-256'>" + base64.StdEncoding.EncodeToString(resp) + "</auth>")
	ch := c.expect(stanza.NSSASL, "challenge")
	data, _ := base64.StdEncoding.DecodeString(ch.Text())
	resp, err = sc.Step(data)
	if err != nil {
		c.t.Fatal(err)
	}
	c.send("<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>" + base64.StdEncoding.EncodeToString(resp) + "</response>")
	ok := c.expect(stanza.NSSASL, "success")
	data, _ = base64.StdEncoding.DecodeString(ok.Text())
	if err := sc.Verify(data); err != nil {
		c.t.Fatal(err)
	}
	if f := c.open(); f.Child(stanza.NSBind, "bind") == nil {
		c.t.Fatalf("no bind after SASL: %s", f)
	}
	c.send("<iq xmlns='jabber:client' type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>" + res + "</resource></bind></iq>")
	r := c.expect("jabber:client", "iq")
	return r.Child(stanza.NSBind, "bind").ChildText(stanza.NSBind, "jid")
}

// TestWebSocketChat: a WebSocket client (RFC 7395) logs in with SCRAM,
// reads its roster and chats with a TCP client both ways; every message
// it gets is one element with its namespaces declared.
func TestWebSocketChat(t *testing.T) {
	srv := testserver.Start(t, "")
	srv.AddUser(t, "alice@localhost", "pw")
	srv.AddUser(t, "bob@localhost", "pw")
	c, resp, err := dialWS(t, srv, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Header.Get("Sec-WebSocket-Protocol"); got != "xmpp" {
		t.Fatalf("subprotocol %q", got)
	}
	if j := c.login("alice", "pw", "web"); j != "alice@localhost/web" {
		t.Fatalf("bound %q", j)
	}
	c.send("<iq xmlns='jabber:client' type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>")
	if r := c.expect("jabber:client", "iq"); r.Attr("type") != "result" || r.Child("jabber:iq:roster", "query") == nil {
		t.Fatalf("roster: %s", r)
	}
	c.send("<presence xmlns='jabber:client'/>")
	c.expect("jabber:client", "presence") // our own, reflected
	bob := srv.Login(t, "bob@localhost/tcp", "pw")
	c.send("<message xmlns='jabber:client' to='bob@localhost/tcp' type='chat'><body>from the web</body></message>")
	m, err := bob.Recv(c.ctx)
	if err != nil || m.ChildText("", "body") != "from the web" || m.Attr("from") != "alice@localhost/web" {
		t.Fatalf("bob got %v, %v", m, err)
	}
	bob.Send(stanza.New("", "message").SetAttr("to", "alice@localhost/web").SetAttr("type", "chat").Append(stanza.New("", "body").AppendText("from tcp")))
	if m := c.expect("jabber:client", "message"); m.ChildText("jabber:client", "body") != "from tcp" {
		t.Fatalf("alice got %s", m)
	}
	// Closing (RFC 7395 §3.6): <close/> answered with <close/>.
	c.send("<close xmlns='" + framing + "'/>")
	c.expect(framing, "close")
}

// TestWebSocketFraming: what RFC 7395 forbids is refused.
func TestWebSocketFraming(t *testing.T) {
	srv := testserver.Start(t, "xml:\n  max_stanza_bytes: 10000\n")
	t.Run("no xmpp subprotocol", func(t *testing.T) {
		c, _, err := dialWS(t, srv, &websocket.DialOptions{})
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = c.ws.Read(c.ctx)
		if websocket.CloseStatus(err) != websocket.StatusProtocolError {
			t.Fatalf("got %v, want a protocol-error close", err)
		}
	})
	for _, tc := range []struct {
		name, first string
		want        stanza.StreamCondition
	}{
		{"wrong framing namespace", "<open xmlns='urn:example:wrong' to='localhost' version='1.0'/>", stanza.StreamInvalidNamespace},
		{"stanza before open", "<message xmlns='jabber:client' to='bob@localhost'/>", stanza.StreamBadFormat},
		{"unknown host", "<open xmlns='" + framing + "' to='elsewhere.example' version='1.0'/>", stanza.StreamHostUnknown},
		{"no version", "<open xmlns='" + framing + "' to='localhost'/>", stanza.StreamUnsupportedVersion},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _, err := dialWS(t, srv, nil)
			if err != nil {
				t.Fatal(err)
			}
			c.send(tc.first)
			c.expect(framing, "open")
			e := c.expect(stanza.NSStream, "error")
			if got := stanza.ParseStreamError(e).Condition; tc.want != "" && got != tc.want {
				t.Fatalf("stream error %s, want %s", got, tc.want)
			}
			c.expect(framing, "close")
		})
	}
	t.Run("message over the stanza limit", func(t *testing.T) {
		c, _, err := dialWS(t, srv, nil)
		if err != nil {
			t.Fatal(err)
		}
		c.open()
		c.send("<message xmlns='jabber:client'><body>" + strings.Repeat("x", 20000) + "</body></message>")
		for range 5 {
			if _, _, err = c.ws.Read(c.ctx); err != nil {
				break
			}
		}
		if websocket.CloseStatus(err) != websocket.StatusMessageTooBig && websocket.CloseStatus(err) != websocket.StatusNormalClosure {
			t.Fatalf("got %v, want the connection closed", err)
		}
	})
	t.Run("foreign origin", func(t *testing.T) {
		_, resp, err := dialWS(t, srv, &websocket.DialOptions{Subprotocols: []string{"xmpp"},
			HTTPHeader: http.Header{"Origin": {"https://evil.example"}}})
		if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Fatalf("got %v (%v), want 403", err, resp)
		}
	})
}

// TestWebSocketBehindProxy: through a trusted reverse proxy, a
// WebSocket counts as encrypted only if the proxy says it terminated TLS
// (there is no STARTTLS on a WebSocket); otherwise the stream is refused
// before any password is sent.
func TestWebSocketBehindProxy(t *testing.T) {
	srv := testserver.Start(t, "http:\n  listen: [\"127.0.0.1:0\"]\n  trusted_proxies: [127.0.0.0/8]\n")
	for _, tc := range []struct {
		proto string
		want  stanza.StreamCondition
	}{{"https", ""}, {"http", stanza.StreamPolicyViolation}} {
		t.Run(tc.proto, func(t *testing.T) {
			c, _, err := dialWS(t, srv, &websocket.DialOptions{Subprotocols: []string{"xmpp"},
				HTTPHeader: http.Header{"X-Forwarded-Proto": {tc.proto}, "X-Forwarded-For": {"203.0.113.7"}}})
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == "" {
				if f := c.open(); f.Child(stanza.NSSASL, "mechanisms") == nil {
					t.Fatalf("features: %s", f)
				}
				return
			}
			c.send("<open xmlns='" + framing + "' to='localhost' version='1.0'/>")
			c.expect(framing, "open")
			if got := stanza.ParseStreamError(c.expect(stanza.NSStream, "error")).Condition; got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}

// TestSessionsPerIP: past http.max_sessions_per_ip an address gets 429;
// a closed stream frees its slot.
func TestSessionsPerIP(t *testing.T) {
	srv := testserver.Start(t, "http:\n  listen: [\"127.0.0.1:0\"]\n  max_sessions_per_ip: 2\n")
	var open []*wsClient
	for range 2 {
		c, _, err := dialWS(t, srv, nil)
		if err != nil {
			t.Fatal(err)
		}
		c.open()
		open = append(open, c)
	}
	_, resp, err := dialWS(t, srv, nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("third session: %v (%v), want 429", err, resp)
	}
	open[0].send("<close xmlns='" + framing + "'/>")
	open[0].expect(framing, "close")
	open[0].ws.Close(websocket.StatusNormalClosure, "")
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, _, err := dialWS(t, srv, nil)
		if err == nil {
			c.open()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the slot was not freed: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestWebSocketPing: a client that answers WebSocket pings stays; one
// that never reads (and so never answers) is disconnected.
func TestWebSocketPing(t *testing.T) {
	srv := testserver.Start(t, "http:\n  listen: [\"127.0.0.1:0\"]\n  websocket_ping: 50ms\n")
	alive, _, err := dialWS(t, srv, nil)
	if err != nil {
		t.Fatal(err)
	}
	alive.open()
	go func() {
		for {
			if _, _, err := alive.ws.Read(alive.ctx); err != nil {
				return
			}
		}
	}()
	deaf, _, err := dialWS(t, srv, nil)
	if err != nil {
		t.Fatal(err)
	}
	deaf.send("<open xmlns='" + framing + "' to='localhost' version='1.0'/>")
	deadline := time.Now().Add(5 * time.Second)
	for srv.Connections() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d streams, want only the one that answers pings", srv.Connections())
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // six more pings
	if n := srv.Connections(); n != 1 {
		t.Fatalf("%d streams, want 1", n)
	}
}

// TestWebSocketSeeOtherURI: with http.websocket_see_other_uri set, a
// client is sent elsewhere (RFC 7395 §3.6.1).
func TestWebSocketSeeOtherURI(t *testing.T) {
	srv := testserver.Start(t, "http:\n  listen: [\"127.0.0.1:0\"]\n  websocket_see_other_uri: wss://chat.example.org/xmpp-websocket\n")
	c, _, err := dialWS(t, srv, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.send("<open xmlns='" + framing + "' to='localhost' version='1.0'/>")
	c.expect(framing, "open")
	if cl := c.expect(framing, "close"); cl.Attr("see-other-uri") != "wss://chat.example.org/xmpp-websocket" {
		t.Fatalf("got %s", cl)
	}
}

// TestHTTPS: on http.tls_listen the WebSocket is wss:// with the server's
// certificate, announced as such; an allowed origin may open it.
func TestHTTPS(t *testing.T) {
	srv := testserver.Start(t, "http:\n  listen: []\n  tls_listen: [\"127.0.0.1:0\"]\n  allowed_origins: [app.example]\n")
	srv.AddUser(t, "alice@localhost", "pw")
	addr := srv.Addrs(server.HTTPS)[0].String()
	tlsCfg := &tls.Config{RootCAs: srv.Pool, ServerName: "localhost"}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg}}
	resp, err := hc.Get("https://" + addr + "/.well-known/host-meta")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), "wss://"+addr+"/xmpp-websocket") {
		t.Fatalf("host-meta over HTTPS: %s", b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "wss://"+addr+"/xmpp-websocket", &websocket.DialOptions{
		Subprotocols: []string{"xmpp"}, HTTPClient: hc, HTTPHeader: http.Header{"Origin": {"https://app.example"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	c := &wsClient{t: t, ws: ws, ctx: ctx}
	if j := c.login("alice", "pw", "tls"); j != "alice@localhost/tls" {
		t.Fatalf("bound %q", j)
	}
}

// TestWebSocketShutdown: a server going down closes WebSocket streams
// with system-shutdown and <close/>.
func TestWebSocketShutdown(t *testing.T) {
	srv := testserver.Start(t, "")
	c, _, err := dialWS(t, srv, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.open()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	go srv.Shutdown(ctx)
	e := c.expect(stanza.NSStream, "error")
	if got := stanza.ParseStreamError(e).Condition; got != stanza.StreamSystemShutdown {
		t.Fatalf("got %s", got)
	}
	c.expect(framing, "close")
}

// TestHostMeta: XEP-0156 discovery lists the WebSocket endpoint, in XML
// and JSON, readable from other origins.
func TestHostMeta(t *testing.T) {
	srv := testserver.Start(t, "")
	want := "ws://" + srv.HTTPAddr + "/xmpp-websocket"
	wantBOSH := "http://" + srv.HTTPAddr + "/http-bind"
	get := func(path string) (*http.Response, string) {
		resp, err := http.Get("http://" + srv.HTTPAddr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, body := get("/.well-known/host-meta")
	if resp.StatusCode != 200 || !strings.Contains(body, "rel='urn:xmpp:alt-connections:websocket' href='"+want+"'") ||
		!strings.Contains(body, "rel='urn:xmpp:alt-connections:xbosh' href='"+wantBOSH+"'") ||
		resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("host-meta: %d %q", resp.StatusCode, body)
	}
	resp, body = get("/.well-known/host-meta.json")
	var doc struct {
		Links []struct{ Rel, Href string }
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil || len(doc.Links) != 2 || doc.Links[0].Href != want || doc.Links[1].Href != wantBOSH {
		t.Fatalf("host-meta.json: %d %q %v", resp.StatusCode, body, err)
	}
	if resp, _ := get("/nothing-here"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown path: %d", resp.StatusCode)
	}

}
