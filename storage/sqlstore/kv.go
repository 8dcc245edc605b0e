package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/starling-xmpp/starling/storage"
)

// Get returns one value of a per-account map, or storage.ErrNotFound.
func (s *Store) Get(ctx context.Context, host, user, store, key string) ([]byte, error) {
	var v []byte
	err := s.queryRow(ctx, `SELECT value FROM kv WHERE host = ? AND username = ? AND store = ? AND key = ?`, host, user, store, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, storage.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: get %s: %w", store, err)
	}
	return v, nil
}

// Put creates or replaces one value.
func (s *Store) Put(ctx context.Context, host, user, store, key string, value []byte) error {
	if value == nil {
		value = []byte{}
	}
	_, err := s.exec(ctx, `INSERT INTO kv (host, username, store, key, value) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (host, username, store, key) DO UPDATE SET value = excluded.value`, host, user, store, key, value)
	if err != nil {
		return fmt.Errorf("sqlstore: put %s: %w", store, err)
	}
	return nil
}

// Delete removes one value; a missing key is not an error.
func (s *Store) Delete(ctx context.Context, host, user, store, key string) error {
	if _, err := s.exec(ctx, `DELETE FROM kv WHERE host = ? AND username = ? AND store = ? AND key = ?`, host, user, store, key); err != nil {
		return fmt.Errorf("sqlstore: delete %s: %w", store, err)
	}
	return nil
}

// Map returns every key and value of one store of one account.
func (s *Store) Map(ctx context.Context, host, user, store string) (map[string][]byte, error) {
	rows, err := s.query(ctx, `SELECT key, value FROM kv WHERE host = ? AND username = ? AND store = ?`, host, user, store)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: map %s: %w", store, err)
	}
	defer rows.Close()
	m := map[string][]byte{}
	for rows.Next() {
		var k string
		var v []byte
		if err := rows.Scan(&k, &v); err != nil {
			return nil, fmt.Errorf("sqlstore: map %s: %w", store, err)
		}
		m[k] = v
	}
	return m, rows.Err()
}

// Push appends a value to a per-account queue; with max > 0 a full queue
// refuses it with storage.ErrQuota. The count and the insert are one
// transaction.
func (s *Store) Push(ctx context.Context, host, user, store string, value []byte, max int) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlstore: push %s: %w", store, err)
	}
	defer tx.Rollback()
	if max > 0 {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM queue WHERE host = ? AND username = ? AND store = ?`, host, user, store).Scan(&n); err != nil {
			return fmt.Errorf("sqlstore: push %s: %w", store, err)
		}
		if n >= max {
			return storage.ErrQuota
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO queue (host, username, store, value, created_at) VALUES (?, ?, ?, ?, ?)`,
		host, user, store, value, time.Now().UnixMicro()); err != nil {
		return fmt.Errorf("sqlstore: push %s: %w", store, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlstore: push %s: %w", store, err)
	}
	return nil
}

// Items returns a queue's values, oldest first.
func (s *Store) Items(ctx context.Context, host, user, store string) ([]storage.Item, error) {
	rows, err := s.query(ctx, `SELECT id, value, created_at FROM queue WHERE host = ? AND username = ? AND store = ? ORDER BY id`, host, user, store)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: items %s: %w", store, err)
	}
	defer rows.Close()
	var out []storage.Item
	for rows.Next() {
		var it storage.Item
		var us int64
		if err := rows.Scan(&it.ID, &it.Value, &us); err != nil {
			return nil, fmt.Errorf("sqlstore: items %s: %w", store, err)
		}
		it.Time = time.UnixMicro(us)
		out = append(out, it)
	}
	return out, rows.Err()
}

// Remove deletes queue values by id.
func (s *Store) Remove(ctx context.Context, host, user, store string, ids ...int64) error {
	if len(ids) == 0 {
		return nil
	}
	args := []any{host, user, store}
	for _, id := range ids {
		args = append(args, id)
	}
	q := `DELETE FROM queue WHERE host = ? AND username = ? AND store = ? AND id IN (?` + strings.Repeat(", ?", len(ids)-1) + `)`
	if _, err := s.db.ExecContext(ctx, q, args...); err != nil {
		return fmt.Errorf("sqlstore: remove %s: %w", store, err)
	}
	return nil
}

// Count returns how many values a queue holds.
func (s *Store) Count(ctx context.Context, host, user, store string) (int, error) {
	var n int
	if err := s.queryRow(ctx, `SELECT COUNT(*) FROM queue WHERE host = ? AND username = ? AND store = ?`, host, user, store).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlstore: count %s: %w", store, err)
	}
	return n, nil
}
