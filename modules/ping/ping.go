// Package ping answers XEP-0199 (XMPP Ping) requests addressed to the server
// or to the requester's own account, so clients and servers can check that a
// stream is alive.
package ping

import (
	"context"

	"github.com/starling-xmpp/starling/jid"
	"github.com/starling-xmpp/starling/module"
	"github.com/starling-xmpp/starling/router"
	"github.com/starling-xmpp/starling/stanza"
)

// NS is XEP-0199's namespace.
const NS = "urn:xmpp:ping"

// Module is the ping module.
type Module struct{}

var _ module.Module = Module{}

// Name implements module.Module.
func (Module) Name() string { return "ping" }

// Register implements module.Module.
func (Module) Register(h *module.Host) error {
	name := stanza.Name{Space: NS, Local: "ping"}
	h.HandleIQ(router.ToHost, "get", name, pong)
	h.HandleIQ(router.ToSelf, "get", name, pong)
	return nil
}

// pong answers with an empty result (XEP-0199 §4.2).
func pong(context.Context, *stanza.Element, jid.JID, jid.JID) (*stanza.Element, error) {
	return nil, nil
}
