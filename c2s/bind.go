package c2s

import (
	"crypto/rand"
	"encoding/base32"
	"errors"
	"strings"

	"github.com/starling-xmpp/starling/router"
	"github.com/starling-xmpp/starling/stanza"
)

// bind handles <bind/> (seed §7, RFC 6120 §7): a resource the client chose
// or one we generate (7-3), a second or further resource on the same stream
// when multi-resource binding is on (7-4, rfc3920bis-04 §8.5), and
// conflicts per c2s.resource_conflict.
func (c *conn) bind(iq, payload *stanza.Element) *stanza.StreamError {
	cfg := c.srv.cfg.C2S
	bound := c.boundSessions()
	switch {
	case len(bound) > 0 && !cfg.MultiResourceBinding:
		c.replyError(iq, stanza.NewError(stanza.NotAllowed, "only one resource may be bound to a stream"))
		return nil
	case len(bound) >= cfg.MaxResourcesPerStream:
		c.replyError(iq, stanza.NewError(stanza.ResourceConstraint, "too many resources bound to this stream"))
		return nil
	}
	res := strings.TrimSpace(payload.ChildText(stanza.NSBind, "resource"))
	generated := res == ""
	if generated {
		res = newResource()
	}
	full, err := c.profile().New(c.user, c.host, res)
	if err != nil {
		c.replyError(iq, stanza.NewError(stanza.BadRequest, "the resource is not valid: "+stanza.SanitizeText(err.Error())))
		return nil
	}
	s := router.NewSession(full, c)
	for attempt := 0; ; attempt++ {
		_, err := c.srv.opt.Router.Bind(s, cfg.ResourceConflict == "replace")
		if err == nil {
			break
		}
		if errors.Is(err, router.ErrConflict) && (generated || cfg.ResourceConflict == "random") && attempt < 5 {
			// RFC 6120 §7.7.2.2: the server may assign another resource.
			if full, err = c.profile().New(c.user, c.host, newResource()); err != nil {
				return stanza.NewStreamError(stanza.StreamInternalServerError, "")
			}
			s = router.NewSession(full, c)
			continue
		}
		var se *stanza.Error
		if !errors.As(err, &se) {
			se = stanza.NewError(stanza.InternalServerError, "")
		}
		c.replyError(iq, se)
		return nil
	}
	c.mu.Lock()
	closing := c.closing
	if !closing {
		c.sessions = append(c.sessions, s)
		if len(c.sessions) == 1 && c.timer != nil {
			c.timer.Stop() // negotiation is complete
			c.timer = nil
		}
	}
	c.mu.Unlock()
	if closing {
		c.srv.opt.Router.Unbind(s)
		return nil
	}
	c.lg().Info("resource bound", "jid", full.String())
	c.send(result(iq, stanza.New(stanza.NSBind, "bind").Append(stanza.New(stanza.NSBind, "jid").AppendText(full.String()))))
	return nil
}

// unbind handles <unbind/> (rfc3920bis-04 §8.5): the resource leaves, and
// the stream ends when it was the last one.
func (c *conn) unbind(iq, payload *stanza.Element) *stanza.StreamError {
	if !c.srv.cfg.C2S.MultiResourceBinding {
		c.replyError(iq, stanza.NewError(stanza.BadRequest, "unbind is not supported"))
		return nil
	}
	res, err := c.profile().Resource(strings.TrimSpace(payload.ChildText(stanza.NSBind, "resource")))
	if err != nil {
		c.replyError(iq, stanza.NewError(stanza.BadRequest, "the resource is not valid"))
		return nil
	}
	c.mu.Lock()
	var gone *router.Session
	rest := c.sessions[:0:0]
	for _, s := range c.sessions {
		if s.JID.Resource() == res && gone == nil {
			gone = s
			continue
		}
		rest = append(rest, s)
	}
	if gone != nil {
		c.sessions = rest
	}
	c.mu.Unlock()
	if gone == nil {
		c.replyError(iq, stanza.NewError(stanza.ItemNotFound, "no such resource on this stream"))
		return nil
	}
	c.srv.opt.Router.Unbind(gone)
	c.lg().Info("resource unbound", "jid", gone.JID.String())
	c.send(result(iq, nil))
	if len(rest) == 0 {
		c.closeWith(nil)
	}
	return nil
}

var resourceEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// newResource generates a resource (seed 7-3): 80 random bits.
func newResource() string {
	var b [10]byte
	rand.Read(b[:])
	return "starling-" + strings.ToLower(resourceEncoding.EncodeToString(b[:]))
}
