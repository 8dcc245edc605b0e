// Package memory is an in-memory store for tests: fast, isolated, and empty
// after every restart. It behaves exactly like sqlstore (the storetest suite
// runs against both).
package memory

import (
	"context"
	"crypto/rand"
	"slices"
	"sort"
	"sync"

	"github.com/starling-xmpp/starling/sasl"
	"github.com/starling-xmpp/starling/storage"
)

type key struct{ host, user string }

// Store is an in-memory store. The zero value is not usable; call New.
type Store struct {
	mu       sync.RWMutex
	accounts map[key]sasl.Credentials
	secrets  map[string][]byte
	kv       map[owner]map[string][]byte
	queues   map[owner][]storage.Item
	nextID   int64
}

// New returns an empty store.
func New() *Store {
	return &Store{
		accounts: map[key]sasl.Credentials{},
		secrets:  map[string][]byte{},
		kv:       map[owner]map[string][]byte{},
		queues:   map[owner][]storage.Item{},
	}
}

// Close does nothing; it exists so Store can stand in for sqlstore.
func (s *Store) Close() error { return nil }

// Credentials returns the credentials of user@host, or storage.ErrNotFound.
func (s *Store) Credentials(_ context.Context, host, user string) (sasl.Credentials, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, ok := s.accounts[key{host, user}]
	if !ok {
		return sasl.Credentials{}, storage.ErrNotFound
	}
	return c, nil
}

// AccountExists reports whether user@host exists.
func (s *Store) AccountExists(_ context.Context, host, user string) (bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ok := s.accounts[key{host, user}]
	return ok, nil
}

// CreateAccount stores a new account, or returns storage.ErrExists.
func (s *Store) CreateAccount(_ context.Context, host, user string, c sasl.Credentials) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.accounts[key{host, user}]; ok {
		return storage.ErrExists
	}
	s.accounts[key{host, user}] = c
	return nil
}

// CreateAccounts creates a batch of accounts on host at once and returns
// how many it created; existing accounts, and repeats within the batch, are
// skipped. A cancelled ctx stores nothing.
func (s *Store) CreateAccounts(ctx context.Context, host string, accounts []storage.NewAccount) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, a := range accounts {
		k := key{host, a.User}
		if _, ok := s.accounts[k]; ok {
			continue
		}
		s.accounts[k] = a.Credentials
		n++
	}
	return n, nil
}

// SetCredentials replaces the credentials of an existing account.
func (s *Store) SetCredentials(_ context.Context, host, user string, c sasl.Credentials) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.accounts[key{host, user}]; !ok {
		return storage.ErrNotFound
	}
	s.accounts[key{host, user}] = c
	return nil
}

// DeleteAccount removes an account.
func (s *Store) DeleteAccount(_ context.Context, host, user string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.accounts[key{host, user}]; !ok {
		return storage.ErrNotFound
	}
	delete(s.accounts, key{host, user})
	s.deleteData(host, user)
	return nil
}

// ListAccounts returns the usernames of host, sorted.
func (s *Store) ListAccounts(_ context.Context, host string) ([]string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []string
	for k := range s.accounts {
		if k.host == host {
			out = append(out, k.user)
		}
	}
	sort.Strings(out)
	return out, nil
}

// Secret returns the secret called name, creating it on first use.
func (s *Store) Secret(_ context.Context, name string, size int) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.secrets[name]; ok {
		return slices.Clone(v), nil
	}
	v := make([]byte, size)
	if _, err := rand.Read(v); err != nil {
		return nil, err
	}
	s.secrets[name] = v
	return slices.Clone(v), nil
}
