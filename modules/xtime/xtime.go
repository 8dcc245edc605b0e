// Package xtime implements XEP-0202 (Entity Time) version 2.0 for the
// server: its UTC time and its time zone offset, in the formats of
// XEP-0082 (XMPP Date and Time Profiles) version 1.1.1. The module's
// configuration name is "time".
package xtime

import (
	"context"
	"time"

	"github.com/starling-xmpp/starling/jid"
	"github.com/starling-xmpp/starling/module"
	"github.com/starling-xmpp/starling/router"
	"github.com/starling-xmpp/starling/stanza"
)

// NS is XEP-0202's namespace.
const NS = "urn:xmpp:time"

// Module is the entity time module.
type Module struct {
	// Now is the clock, time.Now when nil; the time zone of the times it
	// returns is the one the server reports.
	Now func() time.Time
}

var _ module.Module = Module{}

// Name implements module.Module.
func (Module) Name() string { return "time" }

// Register implements module.Module.
func (m Module) Register(h *module.Host) error {
	now := m.Now
	if now == nil {
		now = time.Now
	}
	h.HandleIQ(router.ToHost, "get", stanza.Name{Space: NS, Local: "time"},
		func(context.Context, *stanza.Element, jid.JID, jid.JID) (*stanza.Element, error) {
			return Answer(now()), nil
		})
	return nil
}

// Answer is the <time/> payload for t (XEP-0202 §2): <tzo/> is t's zone
// offset as an XEP-0082 TZD, always in the numeric form of the XEP's
// example ("+00:00" rather than the equally valid "Z"), and <utc/> is t
// in UTC in the XEP-0082 DateTime profile, to the second.
func Answer(t time.Time) *stanza.Element {
	return stanza.New(NS, "time").Append(
		stanza.New(NS, "tzo").AppendText(t.Format("-07:00")),
		stanza.New(NS, "utc").AppendText(t.UTC().Format("2006-01-02T15:04:05Z")),
	)
}
