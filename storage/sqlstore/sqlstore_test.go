package sqlstore

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/starling-xmpp/starling/sasl"
	"github.com/starling-xmpp/starling/storage"
	"github.com/starling-xmpp/starling/storage/storetest"
)

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store {
		s, err := OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "db", "starling.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// Reopening applies no migration twice and keeps the data.
func TestReopenKeepsData(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "starling.db")
	s, err := OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	secret, _ := s.Secret(ctx, "x", 16)
	if err := s.CreateAccount(ctx, "h.test", "u", storetestCreds()); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = OpenSQLite(ctx, path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	if ok, _ := s.AccountExists(ctx, "h.test", "u"); !ok {
		t.Error("account lost on reopen")
	}
	if again, _ := s.Secret(ctx, "x", 16); string(again) != string(secret) {
		t.Error("secret changed on reopen")
	}
	files, _ := migrations.ReadDir("migrations")
	var n int
	if err := s.db.QueryRow(`SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil || n != len(files) {
		t.Errorf("schema_migrations has %d rows (%v), want one per migration (%d)", n, err, len(files))
	}
}

func storetestCreds() sasl.Credentials {
	return sasl.Credentials{SHA256: &sasl.SCRAMKeys{Salt: []byte("salt"), Iterations: 4096, StoredKey: []byte("k"), ServerKey: []byte("s")}}
}

func batch(prefix string, n int, c sasl.Credentials) []storage.NewAccount {
	b := make([]storage.NewAccount, n)
	for i := range b {
		b[i] = storage.NewAccount{User: fmt.Sprint(prefix, i), Credentials: c}
	}
	return b
}

// A batch that fails half-way (here a trigger refuses one row) leaves none
// of its accounts behind.
func TestCreateAccountsAllOrNothing(t *testing.T) {
	ctx := context.Background()
	s, err := OpenSQLite(ctx, filepath.Join(t.TempDir(), "starling.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.db.Exec(`CREATE TRIGGER refuse BEFORE INSERT ON accounts WHEN NEW.username = 'u2500'
		BEGIN SELECT RAISE(ABORT, 'refused'); END`); err != nil {
		t.Fatal(err)
	}
	if n, err := s.CreateAccounts(ctx, "h.test", batch("u", 5000, storetestCreds())); err == nil {
		t.Fatalf("CreateAccounts succeeded (%d created) past a refused row", n)
	}
	var n int
	if err := s.db.QueryRow(`SELECT COUNT(*) FROM accounts`).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d accounts (%v) left by a failed batch, want 0", n, err)
	}
}

// A bulk creation through one handle while another (a running server)
// reads and writes the same database: both succeed, and the database stays
// sound.
func TestCreateAccountsBesideAnotherProcess(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "starling.db")
	bulk, err := OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer bulk.Close()
	srv, err := OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if err := srv.CreateAccount(ctx, "h.test", "alice", storetestCreds()); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		for i := range 5 {
			if _, err := bulk.CreateAccounts(ctx, "h.test", batch(fmt.Sprint("b", i, "-"), 2000, storetestCreds())); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for i := 0; ; i++ {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			var n int
			var check string
			if err := srv.db.QueryRow(`SELECT COUNT(*) FROM accounts`).Scan(&n); err != nil || n != 1+10000+i {
				t.Errorf("%d accounts (%v), want %d", n, err, 1+10000+i)
			}
			if err := srv.db.QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
				t.Errorf("integrity_check: %q, %v", check, err)
			}
			return
		default:
		}
		if _, err := srv.Credentials(ctx, "h.test", "alice"); err != nil {
			t.Fatalf("server read during bulk creation: %v", err)
		}
		if err := srv.CreateAccount(ctx, "h.test", fmt.Sprint("s", i), storetestCreds()); err != nil {
			t.Fatalf("server write during bulk creation: %v", err)
		}
	}
}

// BenchmarkCreateAccounts: 10,000 accounts with shared credentials (as
// `starling user add --bulk` makes them), per iteration into a fresh
// database.
func BenchmarkCreateAccounts(b *testing.B) {
	ctx := context.Background()
	c, err := sasl.Derive("pw", sasl.DeriveOptions{Iterations: 4096})
	if err != nil {
		b.Fatal(err)
	}
	accounts := batch("user", 10000, c)
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		s, err := OpenSQLite(ctx, filepath.Join(b.TempDir(), fmt.Sprint(i), "starling.db"))
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		for chunk := range slices.Chunk(accounts, 5000) {
			if _, err := s.CreateAccounts(ctx, "localhost", chunk); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		s.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(accounts)), "ns/account")
}

// BenchmarkLoginReads: what a login reads, the credentials and a roster
// (a KV map), with the statements prepared once.
func BenchmarkLoginReads(b *testing.B) {
	ctx := context.Background()
	s, err := OpenSQLite(ctx, filepath.Join(b.TempDir(), "starling.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	c, err := sasl.Derive("pw", sasl.DeriveOptions{Iterations: 4096})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.CreateAccount(ctx, "localhost", "alice", c); err != nil {
		b.Fatal(err)
	}
	for i := range 5 {
		s.Put(ctx, "localhost", "alice", "roster", "contact"+strconv.Itoa(i)+"@localhost", []byte(`{"subscription":"both"}`))
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Credentials(ctx, "localhost", "alice"); err != nil {
			b.Fatal(err)
		}
		if m, err := s.Map(ctx, "localhost", "alice", "roster"); err != nil || len(m) != 5 {
			b.Fatal(err, len(m))
		}
	}
}

// AccountExists remembers accounts it found: a deletion in this process is
// seen at once, one by another process sharing the file within existsTTL.
func TestAccountExistsRemembered(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "starling.db")
	now := time.Unix(1000, 0)
	a, err := OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	a.exists.Now = func() time.Time { return now }
	b, err := OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	c, _ := sasl.Derive("pw", sasl.DeriveOptions{Iterations: 4096})
	for _, u := range []string{"alice", "bob"} {
		if err := a.CreateAccount(ctx, "localhost", u, c); err != nil {
			t.Fatal(err)
		}
		if ok, err := a.AccountExists(ctx, "localhost", u); !ok || err != nil {
			t.Fatalf("%s: %v, %v", u, ok, err)
		}
	}
	if err := a.DeleteAccount(ctx, "localhost", "alice"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := a.AccountExists(ctx, "localhost", "alice"); ok {
		t.Fatal("an account deleted here still exists")
	}
	if err := b.DeleteAccount(ctx, "localhost", "bob"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := a.AccountExists(ctx, "localhost", "bob"); !ok {
		t.Fatal("the remembered answer was not used within the TTL")
	}
	now = now.Add(a.exists.TTL)
	if ok, _ := a.AccountExists(ctx, "localhost", "bob"); ok {
		t.Fatal("an account deleted by another process exists after the TTL")
	}
}
