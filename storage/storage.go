// Package storage holds what Starling's stores share: the errors every
// backend returns. The stores themselves live in sub-packages (sqlstore, the
// embedded SQLite default; memory, for tests); the interfaces they satisfy
// are declared by the packages that use them (account, c2s, router), each
// asking only for the methods it needs.
package storage

import "errors"

var (
	// ErrNotFound is returned when the account or item does not exist.
	ErrNotFound = errors.New("storage: not found")
	// ErrExists is returned when creating something that already exists.
	ErrExists = errors.New("storage: already exists")
)
