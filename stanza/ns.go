package stanza

// Namespaces of RFC 6120 and RFC 6121, and of the few extensions the core
// speaks itself.
const (
	NSClient   = "jabber:client"
	NSServer   = "jabber:server"
	NSStream   = "http://etherx.jabber.org/streams"
	NSXML      = "http://www.w3.org/XML/1998/namespace"
	NSStreams  = "urn:ietf:params:xml:ns:xmpp-streams"
	NSStanzas  = "urn:ietf:params:xml:ns:xmpp-stanzas"
	NSTLS      = "urn:ietf:params:xml:ns:xmpp-tls"
	NSSASL     = "urn:ietf:params:xml:ns:xmpp-sasl"
	NSBind     = "urn:ietf:params:xml:ns:xmpp-bind"
	NSSession  = "urn:ietf:params:xml:ns:xmpp-session"
	NSDialback = "jabber:server:dialback"
	// NSSASLCB is XEP-0440, the channel-binding types a server supports.
	NSSASLCB = "urn:xmpp:sasl-cb:0"
)
