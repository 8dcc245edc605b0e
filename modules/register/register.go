package register

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/xdg-go/stringprep"

	"github.com/starling-xmpp/starling/account"
	"github.com/starling-xmpp/starling/c2s"
	"github.com/starling-xmpp/starling/jid"
	"github.com/starling-xmpp/starling/module"
	"github.com/starling-xmpp/starling/router"
	"github.com/starling-xmpp/starling/stanza"
)

// Namespaces of XEP-0077.
const (
	// NS qualifies the registration query.
	NS = "jabber:iq:register"
	// NSFeature qualifies the stream feature (§8).
	NSFeature = "http://jabber.org/features/iq-register"
)

// Module is the in-band registration module (module name "register").
type Module struct{}

var _ module.Module = Module{}

// Name implements module.Module.
func (Module) Name() string { return "register" }

// Register implements module.Module.
func (Module) Register(h *module.Host) error {
	newRegistrar(h).install()
	return nil
}

// registrar is the module's state for one server.
type registrar struct {
	h         *module.Host
	log       *slog.Logger
	profile   jid.Profile
	plaintext bool
	minPass   int
	limits    *limiters
	now       func() time.Time
}

func newRegistrar(h *module.Host) *registrar {
	cfg := h.Config
	return &registrar{
		h:         h,
		log:       h.Logger.With("module", "register"),
		profile:   cfg.Profile(),
		plaintext: cfg.C2S.AllowPlaintext,
		minPass:   cfg.Register.MinPasswordLength,
		limits:    newLimiters(cfg.Register.Interval, cfg.Register.Burst),
		now:       time.Now,
	}
}

// install registers the stream feature and the handlers.
func (m *registrar) install() {
	h := m.h
	q := stanza.Name{Space: NS, Local: "query"}
	h.AddStreamFeature(m.feature)
	h.HandlePreAuthIQ(q, m.preAuth)
	// Clients address their own account (or nothing, RFC 6120 §10.3.3) or
	// the server, as the XEP's examples do; both mean the sender's
	// account.
	for _, t := range []router.Target{router.ToSelf, router.ToHost} {
		h.HandleIQ(t, "get", q, m.get)
		h.HandleIQ(t, "set", q, m.set)
	}
}

// instructions for the registration form (§3.1).
const instructions = "Choose a username and a password to create an account on this server."

// feature advertises registration (§8) on streams that have not
// authenticated and may carry a password: with TLS, or with plaintext
// explicitly allowed.
func (m *registrar) feature(s c2s.StreamInfo) *stanza.Element {
	if s.Authenticated || !(s.Secure || m.plaintext) {
		return nil
	}
	return stanza.New(NSFeature, "register")
}

// preAuth answers jabber:iq:register on a stream that has not
// authenticated: the form for a get, account creation for a set (§3.1,
// §3.1.1).
func (m *registrar) preAuth(ctx context.Context, s c2s.StreamInfo, iq *stanza.Element) (*stanza.Element, error) {
	q := iq.FirstElement()
	if to := iq.Attr("to"); to != "" {
		if d, err := m.profile.Parse(to); err != nil || d.String() != s.Host {
			scrub(q)
			return nil, stanza.NewError(stanza.ServiceUnavailable, "accounts can only be registered with this server")
		}
	}
	if iq.Attr("type") == "get" {
		return stanza.New(NS, "query").Append(
			stanza.New(NS, "instructions").AppendText(instructions),
			stanza.New(NS, "username"),
			stanza.New(NS, "password"),
		), nil
	}
	err := m.create(ctx, s, q)
	if err != nil {
		scrub(q)
	}
	return nil, err
}

// create registers the account a set asks for.
func (m *registrar) create(ctx context.Context, s c2s.StreamInfo, q *stanza.Element) error {
	if q.Child(NS, "remove") != nil {
		// §3.2: there is no account to remove before authentication.
		return stanza.NewError(stanza.UnexpectedRequest, "authenticate before removing an account")
	}
	user, pass := q.ChildText(NS, "username"), q.ChildText(NS, "password")
	switch {
	case user == "":
		return stanza.NewError(stanza.NotAcceptable, "a username is required")
	case pass == "":
		return stanza.NewError(stanza.NotAcceptable, "a password is required")
	}
	local, err := m.profile.Local(user)
	if err != nil {
		return stanza.NewError(stanza.JIDMalformed, "the username is not valid on this server")
	}
	if se := m.checkPassword(pass); se != nil {
		return se
	}
	j, err := m.profile.New(local, s.Host, "")
	if err != nil {
		return stanza.NewError(stanza.JIDMalformed, "the username is not valid on this server")
	}
	addr := module.RemoteAddr(s)
	refund, err := m.limits.reserve(addr, m.now())
	switch {
	case errors.Is(err, errLimited):
		m.log.Info("registration refused: rate limit", "addr", addr)
		return &stanza.Error{Type: stanza.Wait, Condition: stanza.PolicyViolation,
			Text: "too many accounts were created from your address recently; try again later"}
	case errors.Is(err, errBusy):
		m.log.Warn("registration refused: too many addresses tracked", "addr", addr)
		return stanza.NewError(stanza.ResourceConstraint, "the server cannot take registrations now; try again later")
	}
	if _, err := m.h.Accounts.Add(ctx, j.String(), pass); err != nil {
		refund()
		if errors.Is(err, account.ErrExists) {
			return stanza.NewError(stanza.Conflict, "the username is taken")
		}
		return fmt.Errorf("register: create %s: %w", j, err)
	}
	m.log.Info("account registered", "jid", j.String(), "addr", addr)
	return nil
}

// checkPassword applies the server's rules to a new password: one that
// SASLprep accepts (or the client could not log in with it), at least
// register.min_password_length characters long after preparation.
func (m *registrar) checkPassword(pass string) *stanza.Error {
	p, err := stringprep.SASLprep.Prepare(pass)
	if err != nil || p == "" {
		return stanza.NewError(stanza.NotAcceptable, "the password contains characters that are not allowed")
	}
	if utf8.RuneCountInString(p) < m.minPass {
		return stanza.NewError(stanza.NotAcceptable, "the password is too short: it needs at least "+strconv.Itoa(m.minPass)+" characters")
	}
	return nil
}

// account returns the sender's local account.
func (m *registrar) account(from jid.JID) (jid.JID, error) {
	if from.Local() == "" || !m.h.Router.IsLocal(from.Domain()) {
		return jid.JID{}, stanza.NewError(stanza.NotAllowed, "only this server's users manage their registration here")
	}
	return from.Bare(), nil
}

// get tells an authenticated client that it is registered (§3.1): the
// username on file, and an empty password (passwords are not kept).
func (m *registrar) get(_ context.Context, _ *stanza.Element, from, _ jid.JID) (*stanza.Element, error) {
	bare, err := m.account(from)
	if err != nil {
		return nil, err
	}
	return stanza.New(NS, "query").Append(
		stanza.New(NS, "registered"),
		stanza.New(NS, "instructions").AppendText("You are registered with this server."),
		stanza.New(NS, "username").AppendText(bare.Local()),
		stanza.New(NS, "password"),
	), nil
}

// set changes the password (§3.3) or removes the account (§3.2) of an
// authenticated client.
func (m *registrar) set(ctx context.Context, iq *stanza.Element, from, _ jid.JID) (*stanza.Element, error) {
	bare, err := m.account(from)
	if err != nil {
		return nil, err
	}
	q := iq.FirstElement()
	if q.Child(NS, "remove") != nil {
		return nil, m.remove(ctx, q, bare)
	}
	err = m.change(ctx, q, bare)
	if err != nil {
		// §3.3: the request is not echoed as sent.
		scrub(q)
	}
	return nil, err
}

// change sets a new password.
func (m *registrar) change(ctx context.Context, q *stanza.Element, bare jid.JID) error {
	user, pass := q.ChildText(NS, "username"), q.ChildText(NS, "password")
	switch {
	case user == "":
		return stanza.NewError(stanza.BadRequest, "the username is required")
	case pass == "":
		// §3.3: an empty password never replaces the current one.
		return stanza.NewError(stanza.BadRequest, "the new password is missing; the password was not changed")
	}
	if local, err := m.profile.Local(user); err != nil || local != bare.Local() {
		return stanza.NewError(stanza.Forbidden, "you can only change your own password")
	}
	if se := m.checkPassword(pass); se != nil {
		return se
	}
	if _, err := m.h.Accounts.SetPassword(ctx, bare.String(), pass); err != nil {
		if errors.Is(err, account.ErrNotFound) {
			return stanza.NewError(stanza.RegistrationRequired, "")
		}
		return fmt.Errorf("register: change password of %s: %w", bare, err)
	}
	m.log.Info("password changed", "jid", bare.String())
	return nil
}

// remove cancels the account's presence subscriptions, deletes it, and once
// the result is out ends every stream of the account with <not-authorized/>
// (§3.2).
func (m *registrar) remove(ctx context.Context, q *stanza.Element, bare jid.JID) error {
	if q.NumElements() != 1 {
		return stanza.NewError(stanza.BadRequest, "<remove/> must be the only child of <query/>")
	}
	removed := false
	// First after the result: the account's streams end, before anything
	// the removal causes (contacts' answers to the cancelled
	// subscriptions) could reach them.
	router.After(ctx, func() {
		if !removed {
			return
		}
		for _, s := range m.h.Router.Sessions(bare) {
			s.Stream.Close(stanza.NewStreamError(stanza.StreamNotAuthorized, "the account has been removed"))
		}
	})
	// Subscriptions are cancelled while the roster still exists (§3.2).
	m.h.AccountRemoving.Fire(ctx, bare)
	if _, err := m.h.Accounts.Delete(ctx, bare.String()); err != nil {
		if errors.Is(err, account.ErrNotFound) {
			return stanza.NewError(stanza.RegistrationRequired, "")
		}
		return fmt.Errorf("register: remove %s: %w", bare, err)
	}
	removed = true
	m.log.Info("account removed", "jid", bare.String())
	return nil
}

// scrub empties the <password/> elements of a request that is about to be
// echoed in an error reply, so that no password travels back.
func scrub(q *stanza.Element) {
	if q == nil {
		return
	}
	for c := range q.Elements() {
		if c.Name == (stanza.Name{Space: NS, Local: "password"}) {
			c.Children = nil
		}
	}
}
