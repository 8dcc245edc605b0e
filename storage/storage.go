// Package storage holds what Starling's stores share: the errors every
// backend returns, and the two generic shapes of per-account data that
// feature modules build on, KV and Queue (storage by data shape, not by
// entity: a module stores its roster, vCard or block list as keys and values,
// and its offline messages in a queue). The stores themselves live in
// sub-packages (sqlstore, the embedded SQLite default; memory, for tests).
// Interfaces for other needs are declared by the packages that use them
// (account, c2s, router), each asking only for the methods it needs.
package storage

import (
	"context"
	"errors"
	"time"

	"github.com/starling-xmpp/starling/sasl"
)

var (
	// ErrNotFound is returned when the account or item does not exist.
	ErrNotFound = errors.New("storage: not found")
	// ErrExists is returned when creating something that already exists.
	ErrExists = errors.New("storage: already exists")
	// ErrQuota is returned by Queue.Push when the queue is full.
	ErrQuota = errors.New("storage: quota exceeded")
)

// KV is keyed storage per account: each (host, user, store) is a map from
// keys to values. Deleting an account deletes its maps.
type KV interface {
	// Get returns one value, or ErrNotFound.
	Get(ctx context.Context, host, user, store, key string) ([]byte, error)
	// Put creates or replaces one value.
	Put(ctx context.Context, host, user, store, key string, value []byte) error
	// Delete removes one value; a missing key is not an error.
	Delete(ctx context.Context, host, user, store, key string) error
	// Map returns every key and value of one store of one account.
	Map(ctx context.Context, host, user, store string) (map[string][]byte, error)
}

// Queue is ordered storage per account, oldest first: what waits for the
// user (offline messages). Deleting an account deletes its queues.
type Queue interface {
	// Push appends a value. With max > 0, a queue that already holds max
	// values refuses it with ErrQuota (checked and appended atomically).
	Push(ctx context.Context, host, user, store string, value []byte, max int) error
	// Items returns the values in the order they were pushed.
	Items(ctx context.Context, host, user, store string) ([]Item, error)
	// Remove deletes the values with these ids; missing ids are ignored.
	Remove(ctx context.Context, host, user, store string, ids ...int64) error
	// Count returns how many values wait.
	Count(ctx context.Context, host, user, store string) (int, error)
}

// Item is one value of a Queue.
type Item struct {
	ID    int64
	Value []byte
	Time  time.Time // when it was pushed
}

// NewAccount is one account of a batch given to a store's CreateAccounts.
// Accounts of a batch may share one Credentials value (bulk test accounts
// share their SCRAM keys); stores must not modify it.
type NewAccount struct {
	User        string
	Credentials sasl.Credentials
}
