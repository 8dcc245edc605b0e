// Package account manages user accounts: creation, password changes,
// deletion and listing, for the `starling user` commands (and, later,
// in-band registration). Usernames are prepared with the server's JID
// profile; passwords are turned into salted SCRAM keys (sasl.Derive) before
// they reach the store and are never kept.
package account

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/starling-xmpp/starling/jid"
	"github.com/starling-xmpp/starling/sasl"
	"github.com/starling-xmpp/starling/storage"
)

// Store is the part of a store accounts need.
type Store interface {
	CreateAccount(ctx context.Context, host, user string, c sasl.Credentials) error
	// CreateAccounts creates a batch of accounts in one transaction and
	// returns how many it created, skipping those that exist; on error
	// it stores none of them.
	CreateAccounts(ctx context.Context, host string, accounts []storage.NewAccount) (int, error)
	SetCredentials(ctx context.Context, host, user string, c sasl.Credentials) error
	DeleteAccount(ctx context.Context, host, user string) error
	ListAccounts(ctx context.Context, host string) ([]string, error)
}

// Manager applies the server's rules to account changes.
type Manager struct {
	Store   Store
	Profile jid.Profile
	// Hosts are the served domains; accounts can only be made for them.
	Hosts []string
	// Iterations is the PBKDF2 count for new SCRAM keys.
	Iterations int
	// DigestMD5 also stores the DIGEST-MD5 digest (seed 6-4, off by
	// default).
	DigestMD5 bool
}

// Errors a Manager returns (besides the store's).
var (
	ErrBadAddress  = errors.New("account: not a valid user@host address")
	ErrUnknownHost = errors.New("account: host not served here")
	ErrExists      = errors.New("account: already exists")
	ErrNotFound    = errors.New("account: no such account")
)

// Address parses "user@host" into the prepared account JID.
func (m *Manager) Address(addr string) (jid.JID, error) {
	j, err := m.Profile.Parse(addr)
	if err != nil {
		return jid.JID{}, fmt.Errorf("%w: %q: %v", ErrBadAddress, addr, err)
	}
	if j.Local() == "" || j.IsFull() {
		return jid.JID{}, fmt.Errorf("%w: %q: want user@host", ErrBadAddress, addr)
	}
	if !slices.Contains(m.Hosts, j.Domain()) {
		return jid.JID{}, fmt.Errorf("%w: %s (served: %v)", ErrUnknownHost, j.Domain(), m.Hosts)
	}
	return j, nil
}

func (m *Manager) credentials(j jid.JID, password string) (sasl.Credentials, error) {
	c, err := sasl.Derive(password, sasl.DeriveOptions{
		Iterations: m.Iterations,
		DigestMD5:  m.DigestMD5,
		Username:   j.Local(),
		Realm:      j.Domain(),
	})
	if err != nil {
		return sasl.Credentials{}, fmt.Errorf("account: password: %w", err)
	}
	return c, nil
}

// Add creates the account addr with password.
func (m *Manager) Add(ctx context.Context, addr, password string) (jid.JID, error) {
	return m.store(ctx, addr, password, m.Store.CreateAccount)
}

// SetPassword replaces the password of addr.
func (m *Manager) SetPassword(ctx context.Context, addr, password string) (jid.JID, error) {
	return m.store(ctx, addr, password, m.Store.SetCredentials)
}

// store derives the credentials for password and saves them for addr with
// save, translating the store's errors.
func (m *Manager) store(ctx context.Context, addr, password string, save func(ctx context.Context, host, user string, c sasl.Credentials) error) (jid.JID, error) {
	j, err := m.Address(addr)
	if err != nil {
		return jid.JID{}, err
	}
	c, err := m.credentials(j, password)
	if err != nil {
		return jid.JID{}, err
	}
	if err := save(ctx, j.Domain(), j.Local(), c); err != nil {
		return jid.JID{}, m.storeError(j, err)
	}
	return j, nil
}

func (m *Manager) storeError(j jid.JID, err error) error {
	switch {
	case errors.Is(err, storage.ErrExists):
		return fmt.Errorf("%w: %s", ErrExists, j)
	case errors.Is(err, storage.ErrNotFound):
		return fmt.Errorf("%w: %s", ErrNotFound, j)
	}
	return err
}

// Delete removes addr.
func (m *Manager) Delete(ctx context.Context, addr string) (jid.JID, error) {
	j, err := m.Address(addr)
	if err != nil {
		return jid.JID{}, err
	}
	if err := m.Store.DeleteAccount(ctx, j.Domain(), j.Local()); err != nil {
		return jid.JID{}, m.storeError(j, err)
	}
	return j, nil
}

// List returns the accounts of host, or of every served host when host is
// empty, as bare JIDs.
func (m *Manager) List(ctx context.Context, host string) ([]jid.JID, error) {
	hosts := m.Hosts
	if host != "" {
		d, err := m.Profile.Domain(host)
		if err != nil || !slices.Contains(m.Hosts, d) {
			return nil, fmt.Errorf("%w: %s (served: %v)", ErrUnknownHost, host, m.Hosts)
		}
		hosts = []string{d}
	}
	var out []jid.JID
	for _, h := range hosts {
		users, err := m.Store.ListAccounts(ctx, h)
		if err != nil {
			return nil, err
		}
		for _, u := range users {
			j, err := m.Profile.New(u, h, "")
			if err != nil {
				return nil, fmt.Errorf("account: stored name %q@%s is not valid: %w", u, h, err)
			}
			out = append(out, j)
		}
	}
	return out, nil
}
