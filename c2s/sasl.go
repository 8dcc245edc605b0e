package c2s

import (
	"context"
	"encoding/base64"
	"errors"
	"slices"

	"github.com/starling-xmpp/starling/sasl"
	"github.com/starling-xmpp/starling/stanza"
	"github.com/starling-xmpp/starling/storage"
)

// offered returns the mechanisms this connection offers: -PLUS only with
// channel-binding data, PLAIN only on TLS unless plaintext is allowed.
func (c *conn) offered() []string {
	var out []string
	for _, m := range c.srv.cfg.OfferedMechanisms() {
		if sasl.IsPlus(m) && len(c.cb) == 0 {
			continue
		}
		if m == sasl.PLAIN && !c.secure && !c.srv.cfg.C2S.AllowPlaintext {
			continue
		}
		out = append(out, m)
	}
	return out
}

// handleSASL runs SASL negotiation (seed §5, RFC 6120 §6.4).
func (c *conn) handleSASL(el *stanza.Element) (restart bool, err *stanza.StreamError) {
	switch el.Name.Local {
	case "auth":
		return c.saslAuth(el)
	case "response":
		if c.auth == nil {
			return c.saslFail(sasl.MalformedRequest, "no authentication in progress")
		}
		data, ok := sasl.DecodePayload(el.Text())
		if !ok {
			c.auth = nil
			return c.saslFail(sasl.IncorrectEncoding, "the response is not valid base64")
		}
		return c.saslStep(data)
	case "abort":
		c.auth = nil
		c.send(stanza.SASLFailure(sasl.Aborted, ""))
		return false, nil
	}
	return c.saslFail(sasl.MalformedRequest, "unknown element in the SASL namespace")
}

func (c *conn) saslAuth(el *stanza.Element) (bool, *stanza.StreamError) {
	c.auth = nil
	if !c.secure && !c.srv.cfg.C2S.AllowPlaintext {
		c.send(stanza.SASLFailure(sasl.EncryptionRequired, "negotiate TLS first"))
		return false, nil
	}
	mech := el.Attr("mechanism")
	if !slices.Contains(c.offered(), mech) {
		switch {
		case !slices.Contains(sasl.Mechanisms(), mech):
			return c.saslFail(sasl.InvalidMechanism, "mechanism not supported")
		case mech == sasl.PLAIN && !c.secure:
			return c.saslFail(sasl.EncryptionRequired, "PLAIN needs TLS")
		case sasl.IsPlus(mech):
			return c.saslFail(sasl.InvalidMechanism, "channel binding needs TLS")
		default:
			return c.saslFail(sasl.MechanismTooWeak, "mechanism disabled by server policy")
		}
	}
	data, ok := sasl.DecodePayload(el.Text())
	if !ok {
		return c.saslFail(sasl.IncorrectEncoding, "the initial response is not valid base64")
	}
	srv, err := sasl.NewServer(mech, sasl.ServerConfig{
		Lookup:          c.lookup,
		Realm:           c.host,
		ChannelBindings: c.cb,
		Secret:          c.srv.opt.Secret,
		Iterations:      c.srv.cfg.SASL.ScramIterations,
		// See config.SASL.StrictChannelBinding.
		AfterUnavailableBinding: c.cbUnavailable && !c.srv.cfg.SASL.StrictChannelBinding,
	})
	if err != nil {
		return c.saslFail(sasl.InvalidMechanism, "mechanism not supported")
	}
	c.auth, c.authMech = srv, mech
	return c.saslStep(data)
}

func (c *conn) saslStep(in []byte) (bool, *stanza.StreamError) {
	out, done, err := c.auth.Step(c.ctx, in)
	if err != nil {
		c.auth = nil
		var f *sasl.Failure
		if errors.As(err, &f) {
			if errors.Is(f, sasl.ErrChannelBindingType) {
				// No credentials were tried: not a failed login. Such
				// clients (slixmpp asks for tls-unique on TLS 1.3) then
				// fall back to bare SCRAM.
				c.cbUnavailable = true
				c.send(stanza.SASLFailure(f.Condition, f.Text))
				c.lg().Info("channel binding type not available", "mechanism", c.authMech)
				return false, nil
			}
			return c.saslFail(f.Condition, f.Text)
		}
		c.lg().Error("authentication failed internally", "err", err)
		return c.saslFail(sasl.TemporaryAuthFailure, "")
	}
	if !done {
		c.send(stanza.New(stanza.NSSASL, "challenge").AppendText(sasl.EncodePayload(out)))
		return false, nil
	}
	auth := c.auth
	c.auth = nil
	user, perr := c.profile().Local(auth.Username())
	if perr != nil {
		return c.saslFail(sasl.NotAuthorized, "")
	}
	if az := auth.Authzid(); az != "" {
		// RFC 6120 §6.3.8: the authorization identity is a bare JID, and
		// users may only act as themselves.
		j, err := c.profile().Parse(az)
		if err != nil || j.Local() != user || j.Domain() != c.host || j.IsFull() {
			return c.saslFail(sasl.InvalidAuthzid, "you may only authorize as yourself")
		}
	}
	success := stanza.New(stanza.NSSASL, "success")
	if len(out) > 0 {
		success.AppendText(base64.StdEncoding.EncodeToString(out))
	}
	c.send(success)
	c.authenticated, c.user, c.failures = true, user, 0
	c.setLog(c.lg().With("user", user+"@"+c.host))
	c.lg().Info("authenticated", "mechanism", c.authMech)
	// Seed 5-3: a new stream follows on the same transport.
	c.dec.Restart()
	c.restarted()
	return true, nil
}

// saslFail sends <failure/> and counts it; too many failures end the
// stream with policy-violation.
func (c *conn) saslFail(cond, text string) (bool, *stanza.StreamError) {
	c.send(stanza.SASLFailure(cond, text))
	c.failures++
	c.lg().Info("authentication failed", "condition", cond, "mechanism", c.authMech, "attempt", c.failures)
	if c.failures >= c.srv.cfg.SASL.MaxFailures {
		return false, stanza.NewStreamError(stanza.StreamPolicyViolation, "too many failed authentication attempts")
	}
	return false, nil
}

// lookup finds the credentials of a SASL username on this stream's host.
func (c *conn) lookup(ctx context.Context, username string) (sasl.Credentials, error) {
	u, err := c.profile().Local(username)
	if err != nil {
		return sasl.Credentials{}, sasl.ErrNoSuchUser
	}
	cr, err := c.srv.opt.Credentials.Credentials(ctx, c.host, u)
	if errors.Is(err, storage.ErrNotFound) {
		return sasl.Credentials{}, sasl.ErrNoSuchUser
	}
	return cr, err
}
