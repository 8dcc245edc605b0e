package web

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/starling-xmpp/starling/c2s"
	"github.com/starling-xmpp/starling/stanza"
	"github.com/starling-xmpp/starling/xmlstream"
)

// serveWebSocket upgrades /xmpp-websocket requests (RFC 7395 §3.1) and
// hands the stream to the client stream server.
func (s *Server) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	client := s.clientAddr(r)
	if !s.limits.acquire(client, s.cfg.HTTP.MaxSessionsPerIP) {
		s.log.Warn("too many web sessions from one address", "client", client.String())
		tooMany(w)
		return
	}
	defer s.limits.release(client)
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		Subprotocols:   []string{"xmpp"},
		OriginPatterns: s.origins(r),
	})
	if err != nil {
		s.log.Info("WebSocket upgrade refused", "client", client.String(), "err", err)
		return
	}
	if ws.Subprotocol() != "xmpp" {
		// RFC 7395 §3.1: without the xmpp subprotocol there is no XMPP.
		ws.Close(websocket.StatusProtocolError, "the xmpp subprotocol is required")
		return
	}
	// The framing's own overhead on top of the stanza limit.
	ws.SetReadLimit(int64(s.cfg.XML.MaxStanzaBytes) + 4096)
	if uri := s.cfg.HTTP.WebSocketSeeOtherURI; uri != "" {
		s.seeOther(ws, uri)
		return
	}
	nc := newWSConn(ws, r, client)
	if d := s.cfg.HTTP.WebSocketPing; d > 0 {
		go nc.keepAlive(d)
	}
	s.opt.C2S.ServeConn(nc, c2s.Transport{Framed: true, Secure: s.secure(r, client), Remote: client})
}

// wsConn presents a WebSocket as the net.Conn of a client stream: each
// Write is one text message (the stream writer writes one element per
// Write), and reading yields the client's messages in order, with RFC
// 7395's <open/> and <close/> turned into the stream tags the decoder
// expects.
type wsConn struct {
	ws     *websocket.Conn
	local  net.Addr
	remote net.Addr

	rmu     sync.Mutex
	pending []byte
	rdl     time.Time
	msgs    chan wsMsg // from the reader goroutine

	wmu sync.Mutex
	wdl time.Time

	ctx    context.Context
	cancel context.CancelFunc
}

type wsMsg struct {
	data []byte
	err  error
}

func newWSConn(ws *websocket.Conn, r *http.Request, remote net.Addr) *wsConn {
	c := &wsConn{ws: ws, remote: remote, msgs: make(chan wsMsg)}
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		c.local = a
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	go c.readMessages()
	return c
}

// readMessages reads messages for Read. A read deadline cannot be a
// context on the WebSocket's own Read, which closes the connection when
// its context ends; the stream, though, uses deadlines to ping a quiet
// client and go on reading.
func (c *wsConn) readMessages() {
	for {
		typ, data, err := c.ws.Read(c.ctx)
		if err == nil && typ != websocket.MessageText {
			// RFC 7395 §3.2: XMPP goes in text messages; a binary
			// one is not XML the stream can read.
			data = []byte("\x00")
		}
		select {
		case c.msgs <- wsMsg{data, err}:
		case <-c.ctx.Done():
			return
		}
		if err != nil {
			return
		}
	}
}

// keepAlive pings the client every interval; a ping unanswered within an
// interval ends the connection (and so the stream).
func (c *wsConn) keepAlive(interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(c.ctx, interval)
		err := c.ws.Ping(ctx)
		cancel()
		if err != nil {
			if c.ctx.Err() == nil {
				c.ws.CloseNow()
			}
			return
		}
	}
}

func (c *wsConn) Read(b []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	for len(c.pending) == 0 {
		var timeout <-chan time.Time
		if !c.rdl.IsZero() {
			t := time.NewTimer(time.Until(c.rdl))
			defer t.Stop()
			timeout = t.C
		}
		select {
		case m, ok := <-c.msgs:
			if !ok {
				return 0, io.EOF
			}
			if m.err != nil {
				// Later reads see the same end.
				close(c.msgs)
				c.msgs = closedMsgs(m.err)
				return 0, c.mapErr(m.err)
			}
			c.pending = translate(m.data)
		case <-timeout:
			return 0, timeoutError{}
		case <-c.ctx.Done():
			return 0, net.ErrClosed
		}
	}
	n := copy(b, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}

// closedMsgs is a channel that yields err forever.
func closedMsgs(err error) chan wsMsg {
	ch := make(chan wsMsg, 1)
	ch <- wsMsg{err: err}
	return ch
}

// translate turns a client's framing elements into stream tags: <open/>
// becomes the stream header (with its attributes, so that the stream's
// own checks apply) and <close/> the closing tag. A framing element in
// another namespace becomes a header in that namespace, which the stream
// refuses with invalid-namespace. Anything else passes unchanged.
func translate(data []byte) []byte {
	t := bytes.TrimLeft(data, " \t\r\n")
	if !bytes.HasPrefix(t, []byte("<open")) && !bytes.HasPrefix(t, []byte("<close")) {
		return data
	}
	el, err := xmlstream.Parse(t, stanza.NSClient, xmlstream.Limits{MaxStanzaBytes: len(t) + 1})
	if err != nil || (el.Name.Local != "open" && el.Name.Local != "close") {
		return data
	}
	ns := el.Name.Space
	if ns == "" {
		ns = stanza.NSClient
	}
	if el.Name.Local == "close" {
		if ns != c2s.NSFraming {
			return data
		}
		return []byte(xmlstream.Close)
	}
	streamNS := stanza.NSStream
	if ns != c2s.NSFraming {
		streamNS = ns
	}
	var attrs []stanza.Attr
	for _, a := range el.Attrs {
		if a.Name.Space == "" || a.Name.Space == stanza.NSXML {
			attrs = append(attrs, a)
		}
	}
	hdr := xmlstream.AppendOpen(nil, false, stanza.NSClient, attrs)
	if streamNS != stanza.NSStream {
		hdr = bytes.Replace(hdr, []byte("xmlns:stream='"+stanza.NSStream+"'"), []byte("xmlns:stream='"+escapeAttr(streamNS)+"'"), 1)
	}
	return hdr
}

func escapeAttr(s string) string {
	var b []byte
	el := stanza.New("", "x").SetAttr("v", s)
	b = el.AppendXML(b, stanza.NSClient)
	// <x v='...'/>
	return string(b[len("<x v='") : len(b)-len("'/>")])
}

func (c *wsConn) Write(b []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	ctx, cancel := c.deadlineCtx(c.wdl)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, b); err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return 0, timeoutError{}
		}
		return 0, c.mapErr(err)
	}
	return len(b), nil
}

// Close ends the WebSocket with a normal closure (after the stream's own
// <close/>, RFC 7395 §3.6).
func (c *wsConn) Close() error {
	c.cancel()
	return c.ws.Close(websocket.StatusNormalClosure, "")
}

func (c *wsConn) LocalAddr() net.Addr  { return c.local }
func (c *wsConn) RemoteAddr() net.Addr { return c.remote }

func (c *wsConn) SetDeadline(t time.Time) error {
	c.SetReadDeadline(t)
	return c.SetWriteDeadline(t)
}

// SetReadDeadline applies to the next Read calls (not to one already
// waiting: the stream sets its deadlines before reading).
func (c *wsConn) SetReadDeadline(t time.Time) error {
	c.rmu.Lock()
	c.rdl = t
	c.rmu.Unlock()
	return nil
}

func (c *wsConn) SetWriteDeadline(t time.Time) error {
	c.wmu.Lock()
	c.wdl = t
	c.wmu.Unlock()
	return nil
}

func (c *wsConn) deadlineCtx(t time.Time) (context.Context, context.CancelFunc) {
	if t.IsZero() {
		return context.WithCancel(c.ctx)
	}
	return context.WithDeadline(c.ctx, t)
}

// mapErr reports a normal closure as EOF, as TCP would.
func (c *wsConn) mapErr(err error) error {
	switch websocket.CloseStatus(err) {
	case websocket.StatusNormalClosure, websocket.StatusGoingAway:
		return io.EOF
	}
	return err
}

type timeoutError struct{}

func (timeoutError) Error() string   { return "websocket: deadline exceeded" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

var _ net.Error = timeoutError{}

// seeOther answers the client's <open/> with ours and a <close/> naming
// the address to use instead (RFC 7395 §3.6.1).
func (s *Server) seeOther(ws *websocket.Conn, uri string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, _, err := ws.Read(ctx); err != nil {
		return
	}
	host := s.cfg.Hosts[0]
	open := stanza.New(c2s.NSFraming, "open").SetAttr("from", host).SetAttr("id", xmlstream.NewStreamID()).SetAttr("version", "1.0")
	cl := stanza.New(c2s.NSFraming, "close").SetAttr("see-other-uri", uri)
	if ws.Write(ctx, websocket.MessageText, open.AppendStandalone(nil, stanza.NSClient)) == nil {
		ws.Write(ctx, websocket.MessageText, cl.AppendStandalone(nil, stanza.NSClient))
	}
	ws.Close(websocket.StatusNormalClosure, "")
}
