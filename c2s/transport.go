package c2s

import (
	"net"

	"github.com/starling-xmpp/starling/stanza"
	"github.com/starling-xmpp/starling/xmlstream"
)

// NSFraming is the namespace of RFC 7395's <open/> and <close/>.
const NSFraming = "urn:ietf:params:xml:ns:xmpp-framing"

// Transport says what carries a client stream other than a TCP connection
// of its own.
type Transport struct {
	// Framed: the stream is framed as RFC 7395 says: <open/> and
	// <close/> instead of the stream tags, one element per write. The
	// net.Conn given to ServeConn turns each Write into one message (a
	// WebSocket message, a BOSH response's payload) and presents the
	// client's <open/> and <close/> to the reader as stream tags (package
	// web does both).
	Framed bool
	// Name names the transport in logs ("websocket", "bosh").
	Name string
	// Secure: the transport is already protected (HTTPS, a trusted
	// reverse proxy that terminated TLS, or a loopback connection), so
	// STARTTLS is neither offered nor possible.
	Secure bool
	// Remote is the client's address as the transport knows it (the
	// X-Forwarded-For of a trusted proxy), for logs and limits.
	Remote net.Addr
}

// closeFrame is RFC 7395's closing element.
var closeFrame = []byte("<close xmlns='" + NSFraming + "'/>")

// ServeConn serves one client stream on nc, a connection another
// listener accepted (WebSocket, BOSH), and returns when the stream
// has ended. The stream is negotiated, routed and limited exactly like a
// TCP one: SASL, binding, every stanza rule; only the framing and TLS
// differ.
func (s *Server) ServeConn(nc net.Conn, t Transport) error {
	c := s.newConn(nc, false)
	if c == nil {
		return ErrServerClosed
	}
	c.transport = t
	if t.Remote != nil {
		c.setLog(c.lg().With("client", t.Remote.String()))
	}
	if t.Framed {
		name := t.Name
		if name == "" {
			name = "websocket"
		}
		c.setLog(c.lg().With("transport", name))
		c.w.SetFraming(xmlstream.Framing{PerItem: true, Standalone: true, Close: closeFrame})
	}
	c.secure = t.Secure
	c.serve()
	return nil
}

// openFrame is the header of a WebSocket stream (RFC 7395 §3.4): <open/>
// with the attributes a stream header would have.
func openFrame(attrs []stanza.Attr) []byte {
	el := stanza.New(NSFraming, "open")
	el.Attrs = append(el.Attrs, attrs...)
	return el.AppendXML(nil, stanza.NSClient)
}
