package sqlstore

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/starling-xmpp/starling/sasl"
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
