// Package sqlstore is Starling's database/sql store. SQLite (through the
// pure-Go modernc.org/sqlite driver, so no cgo) is the embedded default,
// opened in WAL mode; the SQL is kept portable so that a PostgreSQL dialect
// can be added beside it. Migrations are embedded in the binary and applied
// in order, each in its own transaction, when the store is opened.
package sqlstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver

	"github.com/starling-xmpp/starling/internal/recent"
	"github.com/starling-xmpp/starling/sasl"
	"github.com/starling-xmpp/starling/storage"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is an open database.
type Store struct {
	db    *sql.DB
	stmts stmts
	// exists remembers, for a minute, accounts AccountExists found: the
	// router asks for every stanza to an account without sessions (a
	// user logging in probes each contact, most of them offline), and
	// under a login load that query was a fifth of the server's CPU.
	// Only positive answers are kept, and DeleteAccount forgets the
	// account at once; an account deleted by another process sharing the
	// database (`starling user del` beside a running server) may look
	// present for up to that minute.
	exists recent.Cache[struct{}]
}

// OpenSQLite opens (creating if needed) the SQLite database at path and
// brings its schema up to date.
func OpenSQLite(ctx context.Context, path string) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("sqlstore: %w", err)
	}
	q := url.Values{}
	for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "synchronous(NORMAL)", "foreign_keys(1)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("sqlstore: open %s: %w", path, err)
	}
	s := &Store{db: db, exists: recent.Cache[struct{}]{TTL: time.Minute, Max: 1 << 16}}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlstore: %s: %w", path, err)
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error {
	s.closeStmts()
	return s.db.Close()
}

func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER NOT NULL PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("migrations table: %w", err)
	}
	files, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(files)
	for _, f := range files {
		v, err := strconv.Atoi(strings.SplitN(filepath.Base(f), "_", 2)[0])
		if err != nil {
			return fmt.Errorf("migration %s: bad version prefix", f)
		}
		body, err := migrations.ReadFile(f)
		if err != nil {
			return err
		}
		if err := s.apply(ctx, v, string(body)); err != nil {
			return fmt.Errorf("migration %s: %w", filepath.Base(f), err)
		}
	}
	return nil
}

func (s *Store) apply(ctx context.Context, version int, body string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = ?`, version).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	for _, stmt := range strings.Split(stripComments(body), ";") {
		if strings.TrimSpace(stmt) == "" {
			continue
		}
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, version, time.Now().Unix()); err != nil {
		return err
	}
	return tx.Commit()
}

func stripComments(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "--") {
			b.WriteString(line)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// Credentials returns the stored credentials of user@host, or
// storage.ErrNotFound.
func (s *Store) Credentials(ctx context.Context, host, user string) (sasl.Credentials, error) {
	var raw string
	err := s.queryRow(ctx, `SELECT credentials FROM accounts WHERE host = ? AND username = ?`, host, user).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return sasl.Credentials{}, storage.ErrNotFound
	}
	if err != nil {
		return sasl.Credentials{}, fmt.Errorf("sqlstore: credentials: %w", err)
	}
	var c sasl.Credentials
	if err := json.Unmarshal([]byte(raw), &c); err != nil {
		return sasl.Credentials{}, fmt.Errorf("sqlstore: credentials of %s@%s are corrupt: %w", user, host, err)
	}
	return c, nil
}

// accountKey is an account's key in Store.exists.
func accountKey(host, user string) string { return host + "\x00" + user }

// AccountExists reports whether user@host exists.
func (s *Store) AccountExists(ctx context.Context, host, user string) (bool, error) {
	if _, ok := s.exists.Get(accountKey(host, user)); ok {
		return true, nil
	}
	var n int
	err := s.queryRow(ctx, `SELECT COUNT(*) FROM accounts WHERE host = ? AND username = ?`, host, user).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("sqlstore: account exists: %w", err)
	}
	if n > 0 {
		s.exists.Put(accountKey(host, user), struct{}{})
	}
	return n > 0, nil
}

// CreateAccount stores a new account, or returns storage.ErrExists.
func (s *Store) CreateAccount(ctx context.Context, host, user string, c sasl.Credentials) error {
	raw, err := json.Marshal(c)
	if err != nil {
		return err
	}
	res, err := s.db.ExecContext(ctx, `INSERT INTO accounts (host, username, credentials, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (host, username) DO NOTHING`,
		host, user, string(raw), time.Now().Unix())
	if err != nil {
		return fmt.Errorf("sqlstore: create account: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlstore: create account: %w", err)
	} else if n == 0 {
		return storage.ErrExists
	}
	return nil
}

// CreateAccounts creates a batch of accounts on host in one transaction,
// with one prepared statement, and returns how many it created. Accounts
// that already exist, or appear earlier in the batch, are skipped and keep
// their credentials. On error nothing of the batch is stored. Writers of
// other processes sharing the database (a running server) wait for the
// transaction, up to the busy timeout; their readers do not (WAL).
func (s *Store) CreateAccounts(ctx context.Context, host string, accounts []storage.NewAccount) (int, error) {
	if len(accounts) == 0 {
		return 0, ctx.Err()
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("sqlstore: create accounts: %w", err)
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO accounts (host, username, credentials, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (host, username) DO NOTHING`)
	if err != nil {
		return 0, fmt.Errorf("sqlstore: create accounts: %w", err)
	}
	defer stmt.Close()
	now := time.Now().Unix()
	var (
		created int64
		last    *sasl.Credentials
		raw     string
	)
	for i := range accounts {
		c := &accounts[i].Credentials
		// Accounts of a bulk batch share their keys: encode them once.
		if last == nil || !sameCredentials(last, c) {
			b, err := json.Marshal(c)
			if err != nil {
				return 0, err
			}
			last, raw = c, string(b)
		}
		res, err := stmt.ExecContext(ctx, host, accounts[i].User, raw, now)
		if err != nil {
			return 0, fmt.Errorf("sqlstore: create accounts: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return 0, fmt.Errorf("sqlstore: create accounts: %w", err)
		}
		created += n
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("sqlstore: create accounts: %w", err)
	}
	return int(created), nil
}

// sameCredentials reports whether a and b share their SCRAM keys and have
// equal DIGEST-MD5 digests, so that they encode the same.
func sameCredentials(a, b *sasl.Credentials) bool {
	return a.SHA1 == b.SHA1 && a.SHA256 == b.SHA256 && a.SHA512 == b.SHA512 &&
		(a.DigestMD5 == nil) == (b.DigestMD5 == nil) && bytes.Equal(a.DigestMD5, b.DigestMD5)
}

// SetCredentials replaces the credentials of an existing account.
func (s *Store) SetCredentials(ctx context.Context, host, user string, c sasl.Credentials) error {
	raw, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return s.affectOne(ctx, "set credentials", `UPDATE accounts SET credentials = ? WHERE host = ? AND username = ?`, string(raw), host, user)
}

// DeleteAccount removes an account and everything stored for it, in one
// transaction.
func (s *Store) DeleteAccount(ctx context.Context, host, user string) error {
	s.exists.Delete(accountKey(host, user))
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlstore: delete account: %w", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `DELETE FROM accounts WHERE host = ? AND username = ?`, host, user)
	if err != nil {
		return fmt.Errorf("sqlstore: delete account: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlstore: delete account: %w", err)
	} else if n == 0 {
		return storage.ErrNotFound
	}
	for _, table := range []string{"kv", "queue"} {
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE host = ? AND username = ?`, host, user); err != nil {
			return fmt.Errorf("sqlstore: delete account: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlstore: delete account: %w", err)
	}
	// Again: a lookup between the first forget and the commit may have
	// seen the account.
	s.exists.Delete(accountKey(host, user))
	return nil
}

func (s *Store) affectOne(ctx context.Context, what, query string, args ...any) error {
	res, err := s.db.ExecContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("sqlstore: %s: %w", what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlstore: %s: %w", what, err)
	}
	if n == 0 {
		return storage.ErrNotFound
	}
	return nil
}

// ListAccounts returns the usernames of host, sorted.
func (s *Store) ListAccounts(ctx context.Context, host string) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT username FROM accounts WHERE host = ? ORDER BY username`, host)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list accounts: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var u string
		if err := rows.Scan(&u); err != nil {
			return nil, fmt.Errorf("sqlstore: list accounts: %w", err)
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// Secret returns the server secret called name, creating a random one of
// size bytes on first use. Every process sharing the database sees the same
// value.
func (s *Store) Secret(ctx context.Context, name string, size int) ([]byte, error) {
	fresh := make([]byte, size)
	if _, err := rand.Read(fresh); err != nil {
		return nil, err
	}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO secrets (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`,
		name, base64.StdEncoding.EncodeToString(fresh)); err != nil {
		return nil, fmt.Errorf("sqlstore: secret: %w", err)
	}
	var v string
	if err := s.db.QueryRowContext(ctx, `SELECT value FROM secrets WHERE name = ?`, name).Scan(&v); err != nil {
		return nil, fmt.Errorf("sqlstore: secret: %w", err)
	}
	return base64.StdEncoding.DecodeString(v)
}
