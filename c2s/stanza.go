package c2s

import (
	"github.com/starling-xmpp/starling/jid"
	"github.com/starling-xmpp/starling/router"
	"github.com/starling-xmpp/starling/stanza"
)

// handleStanza validates a stanza from the client, fixes its addresses and
// hands it to the router (seed §10).
func (c *conn) handleStanza(el *stanza.Element) *stanza.StreamError {
	sender, serr := c.sender(el)
	if serr != nil || sender == nil {
		return serr
	}
	// Seed 10.1-3: the 'from' is always the sending resource, or its bare
	// JID for subscription requests and answers (RFC 6120 §8.1.2.1, RFC
	// 6121 §3).
	if el.Name.Local == "presence" && isSubscription(el.Attr("type")) {
		el.SetAttr("from", sender.JID.Bare().String())
	} else {
		el.SetAttr("from", sender.JID.String())
	}
	// RFC 6120 §8.1.5: a stanza without xml:lang has the stream's.
	if c.lang != "" && el.AttrNS(stanza.NSXML, "lang") == "" {
		el.SetAttrNS(stanza.NSXML, "lang", c.lang)
	}
	var to jid.JID
	if t := el.Attr("to"); t != "" {
		var err error
		if to, err = c.profile().Parse(t); err != nil {
			c.replyError(el, stanza.NewError(stanza.JIDMalformed, "the 'to' address is not a valid JID"))
			return nil
		}
		if s := to.String(); s != t {
			el.SetAttr("to", s)
		}
	}
	if err := stanza.CheckShape(el); err != nil {
		if stanza.IsError(el) {
			c.lg().Debug("dropping a malformed error stanza", "kind", el.Name.Local)
			return nil
		}
		c.replyError(el, err)
		return nil
	}
	c.srv.opt.Router.Route(c.ctx, el, sender.JID, to)
	return nil
}

func isSubscription(typ string) bool {
	switch typ {
	case "subscribe", "subscribed", "unsubscribe", "unsubscribed":
		return true
	}
	return false
}

// sender finds the bound resource a stanza comes from. With one resource an
// absent 'from' (or the account's bare JID) means that resource, and
// anything else is an invalid-from stream error. With several, the client
// must name one (rfc3920bis-04 §8.5), else the stanza is returned with
// <unknown-sender/>.
func (c *conn) sender(el *stanza.Element) (*router.Session, *stanza.StreamError) {
	sessions := c.boundSessions()
	if len(sessions) == 0 {
		sessions = c.partingSessions()
	}
	from := el.Attr("from")
	var fj jid.JID
	if from != "" {
		var err error
		fj, err = c.profile().Parse(from)
		if err != nil {
			if len(sessions) > 1 {
				c.replyError(el, stanza.NewError(stanza.UnknownSender, "the 'from' address is not a valid JID"))
				return nil, nil
			}
			return nil, stanza.NewStreamError(stanza.StreamInvalidFrom, "the 'from' address is not a valid JID")
		}
	}
	if len(sessions) == 1 {
		s := sessions[0]
		if from == "" || fj == s.JID || fj == s.JID.Bare() {
			return s, nil
		}
		return nil, stanza.NewStreamError(stanza.StreamInvalidFrom, "the 'from' address is not the bound resource")
	}
	for _, s := range sessions {
		if from != "" && fj == s.JID {
			return s, nil
		}
	}
	el.RemoveAttr("from")
	c.replyError(el, stanza.NewError(stanza.UnknownSender, "several resources are bound to this stream: put the sending one in 'from'"))
	return nil, nil
}
