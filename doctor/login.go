package doctor

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/starling-xmpp/starling/client"
	"github.com/starling-xmpp/starling/jid"
	"github.com/starling-xmpp/starling/stanza"
)

// login logs in as Options.User the way a client does (package client:
// SRV lookup or the address override, STARTTLS or direct TLS, the
// certificate verified against the same roots, SASL, resource binding) and
// pings the server (XEP-0199), timing both.
func (d *doctor) login(ctx context.Context) []Check {
	user := d.opt.User
	cs := &checks{group: "login " + user.Bare().String()}
	if !strings.EqualFold(user.Domain(), d.domain) {
		cs.add("login", Fail, fmt.Sprintf("the account %s is not on %s", user.Bare(), d.domain),
			"give an account of the domain checked", 0)
		return cs.list
	}
	cfg := client.Config{
		JID:      user,
		Password: d.opt.Password,
		Resolver: d.opt.Resolver,
		TLS:      &tls.Config{RootCAs: d.roots, ServerName: d.domain},
		Timeout:  d.opt.Timeout,
	}
	switch {
	case d.opt.ClientAddr != "":
		cfg.Addr = d.opt.ClientAddr
	case d.opt.ClientTLSAddr != "":
		cfg.Addr, cfg.DirectTLS = d.opt.ClientTLSAddr, true
	}
	ctx, cancel := context.WithTimeout(ctx, d.opt.Timeout)
	defer cancel()
	t0 := time.Now()
	sess, err := client.Dial(ctx, cfg)
	if err != nil {
		if ae, ok := errors.AsType[*client.AuthError](err); ok {
			detail := "login failed: " + ae.Condition
			if ae.Text != "" {
				detail += " (" + ae.Text + ")"
			}
			hint := "check the account and its password (reset it with: starling user passwd " + user.Bare().String() + ")"
			if ae.Condition != "not-authorized" {
				hint = "the server refused the login: see its log"
			}
			cs.add("login", Fail, detail, hint, 0)
		} else {
			cs.add("login", Fail, "login failed: "+err.Error(), "see the checks above for this address", 0)
		}
		return cs.list
	}
	defer sess.CloseTimeout(closeWait)
	via := "without TLS"
	if st := sess.TLS(); st != nil {
		via = "over " + tls.VersionName(st.Version)
	}
	cs.add("login", OK, fmt.Sprintf("logged in as %s with %s %s", sess.JID(), sess.Mechanism(), via), "", time.Since(t0))

	server, _ := jid.Parse(d.domain)
	t1 := time.Now()
	err = sess.Ping(ctx, server)
	took := time.Since(t1)
	switch {
	case err == nil:
		cs.add("ping", OK, "the server answered an XEP-0199 ping; round-trip time", "", took)
	case errors.Is(err, stanza.NewError(stanza.ServiceUnavailable, "")) || errors.Is(err, stanza.NewError(stanza.FeatureNotImplemented, "")):
		cs.add("ping", Warn, "the server does not answer pings: "+err.Error(), "enable the ping module (modules: ping: true)", took)
	default:
		cs.add("ping", Fail, "no answer to the ping: "+err.Error(), "the server accepts logins but does not answer: see its log", took)
	}
	return cs.list
}
