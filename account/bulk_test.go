package account

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/starling-xmpp/starling/sasl"
	"github.com/starling-xmpp/starling/storage"
	"github.com/starling-xmpp/starling/storage/memory"
)

func TestAddBulk(t *testing.T) {
	ctx := context.Background()
	st := memory.New()
	m := newManager(st)
	if _, err := m.Add(ctx, "user3@localhost", "old"); err != nil {
		t.Fatal(err)
	}
	var progress [][2]int
	res, err := m.AddBulk(ctx, Bulk{Pattern: "User%d@LocalHost", Start: 1, Count: 12000,
		Progress: func(done, created int) { progress = append(progress, [2]int{done, created}) }}, "bulk-pw")
	if err != nil {
		t.Fatal(err)
	}
	if res != (BulkResult{Created: 11999, Skipped: 1}) {
		t.Errorf("result %+v, want 11999 created and 1 skipped", res)
	}
	if want := [][2]int{{5000, 4999}, {10000, 9999}, {12000, 11999}}; fmt.Sprint(progress) != fmt.Sprint(want) {
		t.Errorf("progress calls %v, want %v", progress, want)
	}
	for _, u := range []string{"user1", "user4", "user12000"} {
		if !login(t, st, "localhost", u, "bulk-pw") {
			t.Errorf("%s cannot log in with the bulk password", u)
		}
	}
	if !login(t, st, "localhost", "user3", "old") {
		t.Error("the existing user3 lost its password")
	}
	for _, u := range []string{"user0", "user12001"} {
		if ok, _ := st.AccountExists(ctx, "localhost", u); ok {
			t.Errorf("%s was created, outside the range", u)
		}
	}
	// One derivation: the accounts share their salt, until a password
	// change gives one its own.
	c1, _ := st.Credentials(ctx, "localhost", "user1")
	c2, _ := st.Credentials(ctx, "localhost", "user2")
	if !bytes.Equal(c1.SHA256.Salt, c2.SHA256.Salt) || c1.DigestMD5 != nil {
		t.Errorf("bulk accounts have different salts (or a digest): %+v %+v", c1, c2)
	}
	if _, err := m.SetPassword(ctx, "user1@localhost", "own"); err != nil {
		t.Fatal(err)
	}
	if c1, _ = st.Credentials(ctx, "localhost", "user1"); bytes.Equal(c1.SHA256.Salt, c2.SHA256.Salt) {
		t.Error("a changed password kept the shared salt")
	}
	// Again, overlapping: only the new ones are created.
	res, err = m.AddBulk(ctx, Bulk{Pattern: "user%d@localhost", Start: 11990, Count: 20}, "bulk-pw")
	if err != nil || res != (BulkResult{Created: 9, Skipped: 11}) {
		t.Errorf("overlapping run: %+v, %v; want 9 created, 11 skipped", res, err)
	}
}

func TestAddBulkDigestMD5(t *testing.T) {
	ctx := context.Background()
	st := memory.New()
	m := newManager(st)
	m.DigestMD5 = true
	if _, err := m.AddBulk(ctx, Bulk{Pattern: "d%d@example.test", Start: 0, Count: 3}, "pässwörd"); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for i := range 3 {
		u := fmt.Sprint("d", i)
		c, _ := st.Credentials(ctx, "example.test", u)
		want, err := sasl.Derive("pässwörd", sasl.DeriveOptions{Iterations: 4096, DigestMD5: true, Username: u, Realm: "example.test"})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(c.DigestMD5, want.DigestMD5) {
			t.Errorf("%s: digest %x, want %x (as Add stores it)", u, c.DigestMD5, want.DigestMD5)
		}
		seen[string(c.DigestMD5)] = true
	}
	if len(seen) != 3 {
		t.Error("accounts share a DIGEST-MD5 digest")
	}
}

func TestAddBulkRefuses(t *testing.T) {
	ctx := context.Background()
	st := memory.New()
	m := newManager(st)
	for _, tt := range []struct {
		b    Bulk
		pw   string
		want error
	}{
		{Bulk{Pattern: "user@localhost", Count: 1}, "pw", ErrBadPattern},
		{Bulk{Pattern: "user%d%d@localhost", Count: 1}, "pw", ErrBadPattern},
		{Bulk{Pattern: "user%s@localhost", Count: 1}, "pw", ErrBadPattern},
		{Bulk{Pattern: "user%d@localhost%", Count: 1}, "pw", ErrBadPattern},
		{Bulk{Pattern: "user@local%dhost", Count: 1}, "pw", ErrBadPattern},
		{Bulk{Pattern: "user%d", Count: 1}, "pw", ErrBadPattern},
		{Bulk{Pattern: "user%d@localhost", Count: 0}, "pw", ErrBulkCount},
		{Bulk{Pattern: "user%d@localhost", Count: -5}, "pw", ErrBulkCount},
		{Bulk{Pattern: "user%d@localhost", Count: MaxBulk + 1}, "pw", ErrBulkCount},
		{Bulk{Pattern: "user%d@localhost", Start: -1, Count: 1}, "pw", ErrBulkCount},
		{Bulk{Pattern: "user%d@elsewhere.test", Count: 1}, "pw", ErrUnknownHost},
		{Bulk{Pattern: "us er%d@localhost", Count: 1}, "pw", ErrBadAddress},
		{Bulk{Pattern: "user%d@localhost/res", Count: 1}, "pw", ErrBadAddress},
		{Bulk{Pattern: "user%d@localhost", Count: 1}, "", nil},
	} {
		_, err := m.AddBulk(ctx, tt.b, tt.pw)
		if err == nil || tt.want != nil && !errors.Is(err, tt.want) {
			t.Errorf("AddBulk(%+v, %q): got %v, want %v", tt.b, tt.pw, err, tt.want)
		}
	}
	if list, _ := m.List(ctx, ""); len(list) != 0 {
		t.Errorf("refused calls created %v", list)
	}
}

// failingStore fails the batch after ok successful ones.
type failingStore struct {
	*memory.Store
	ok int
}

func (s *failingStore) CreateAccounts(ctx context.Context, host string, a []storage.NewAccount) (int, error) {
	if s.ok == 0 {
		return 0, errors.New("disk full")
	}
	s.ok--
	return s.Store.CreateAccounts(ctx, host, a)
}

// A failed batch stops the run; the batches before it stay, and are
// counted.
func TestAddBulkStopsAtFailedBatch(t *testing.T) {
	ctx := context.Background()
	st := memory.New()
	m := newManager(st)
	m.Store = &failingStore{Store: st, ok: 1}
	res, err := m.AddBulk(ctx, Bulk{Pattern: "user%d@localhost", Start: 1, Count: 12000}, "pw")
	if err == nil || res.Created != 5000 {
		t.Fatalf("AddBulk = %+v, %v; want an error after 5000 created", res, err)
	}
	if list, _ := st.ListAccounts(ctx, "localhost"); len(list) != 5000 {
		t.Errorf("%d accounts stored, want the first batch's 5000", len(list))
	}
}
