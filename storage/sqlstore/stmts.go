package sqlstore

import (
	"context"
	"database/sql"
	"sync"
)

// stmts keeps the prepared statements of the queries run on every login
// and stanza (credentials, roster and queue reads), so that SQLite parses
// each once per connection instead of on every call: under a login load,
// preparing was a tenth of the server's CPU time. Only constant query
// texts go through it, so it stays small.
type stmts struct {
	mu sync.Mutex // serialises preparing; lookups go through m alone
	m  sync.Map   // query text → *sql.Stmt
}

func (s *Store) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := s.stmts.m.Load(query); ok {
		return st.(*sql.Stmt), nil
	}
	s.stmts.mu.Lock()
	defer s.stmts.mu.Unlock()
	if st, ok := s.stmts.m.Load(query); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := s.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	s.stmts.m.Store(query, st)
	return st, nil
}

// queryRow is db.QueryRowContext with a prepared statement.
func (s *Store) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := s.stmt(ctx, query)
	if err != nil {
		// The same call unprepared reports the error through Scan.
		return s.db.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// query is db.QueryContext with a prepared statement.
func (s *Store) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := s.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// exec is db.ExecContext with a prepared statement.
func (s *Store) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := s.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

// closeStmts closes the prepared statements.
func (s *Store) closeStmts() {
	s.stmts.mu.Lock()
	defer s.stmts.mu.Unlock()
	s.stmts.m.Range(func(k, st any) bool {
		st.(*sql.Stmt).Close()
		s.stmts.m.Delete(k)
		return true
	})
}
