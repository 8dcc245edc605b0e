// Package storetest is the behaviour every Starling store must have, as a
// test suite that each store's tests run against a fresh instance.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"

	"github.com/starling-xmpp/starling/sasl"
	"github.com/starling-xmpp/starling/storage"
)

// Store is what the suite exercises.
type Store interface {
	Credentials(ctx context.Context, host, user string) (sasl.Credentials, error)
	AccountExists(ctx context.Context, host, user string) (bool, error)
	CreateAccount(ctx context.Context, host, user string, c sasl.Credentials) error
	CreateAccounts(ctx context.Context, host string, accounts []storage.NewAccount) (int, error)
	SetCredentials(ctx context.Context, host, user string, c sasl.Credentials) error
	DeleteAccount(ctx context.Context, host, user string) error
	ListAccounts(ctx context.Context, host string) ([]string, error)
	Secret(ctx context.Context, name string, size int) ([]byte, error)
	storage.KV
	storage.Queue
	Close() error
}

func creds(tag byte) sasl.Credentials {
	k := func(n int) []byte { return bytes.Repeat([]byte{tag}, n) }
	return sasl.Credentials{
		SHA1:   &sasl.SCRAMKeys{Salt: k(16), Iterations: 4096, StoredKey: k(20), ServerKey: k(20)},
		SHA256: &sasl.SCRAMKeys{Salt: k(16), Iterations: 4096, StoredKey: k(32), ServerKey: k(32)},
		SHA512: &sasl.SCRAMKeys{Salt: k(16), Iterations: 4096, StoredKey: k(64), ServerKey: k(64)},
	}
}

// Run runs the suite. open returns a fresh, empty store.
func Run(t *testing.T, open func(t *testing.T) Store) {
	ctx := context.Background()
	t.Run("Accounts", func(t *testing.T) {
		s := open(t)
		if _, err := s.Credentials(ctx, "example.test", "alice"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("Credentials of missing account: got %v, want ErrNotFound", err)
		}
		if ok, err := s.AccountExists(ctx, "example.test", "alice"); err != nil || ok {
			t.Fatalf("AccountExists before create = %v, %v", ok, err)
		}
		if err := s.CreateAccount(ctx, "example.test", "alice", creds(1)); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateAccount(ctx, "example.test", "alice", creds(2)); !errors.Is(err, storage.ErrExists) {
			t.Fatalf("second create: got %v, want ErrExists", err)
		}
		got, err := s.Credentials(ctx, "example.test", "alice")
		if err != nil || !reflect.DeepEqual(got, creds(1)) {
			t.Fatalf("Credentials = %+v, %v; want what was stored", got, err)
		}
		if ok, err := s.AccountExists(ctx, "example.test", "alice"); err != nil || !ok {
			t.Fatalf("AccountExists after create = %v, %v", ok, err)
		}
		// Hosts are separate namespaces.
		if ok, _ := s.AccountExists(ctx, "other.test", "alice"); ok {
			t.Fatal("alice exists on other.test too")
		}
		c3 := creds(3)
		c3.DigestMD5 = bytes.Repeat([]byte{9}, 16)
		if err := s.SetCredentials(ctx, "example.test", "alice", c3); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Credentials(ctx, "example.test", "alice"); !reflect.DeepEqual(got, c3) {
			t.Fatalf("after SetCredentials got %+v", got)
		}
		if err := s.SetCredentials(ctx, "example.test", "bob", c3); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("SetCredentials of missing account: got %v", err)
		}
		for _, u := range []string{"carol", "bob"} {
			if err := s.CreateAccount(ctx, "example.test", u, creds(4)); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.CreateAccount(ctx, "other.test", "zed", creds(4)); err != nil {
			t.Fatal(err)
		}
		list, err := s.ListAccounts(ctx, "example.test")
		if err != nil || !reflect.DeepEqual(list, []string{"alice", "bob", "carol"}) {
			t.Fatalf("ListAccounts = %v, %v", list, err)
		}
		if err := s.DeleteAccount(ctx, "example.test", "bob"); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteAccount(ctx, "example.test", "bob"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("second delete: got %v", err)
		}
		if list, _ := s.ListAccounts(ctx, "example.test"); !reflect.DeepEqual(list, []string{"alice", "carol"}) {
			t.Fatalf("after delete ListAccounts = %v", list)
		}
		if list, _ := s.ListAccounts(ctx, "empty.test"); len(list) != 0 {
			t.Fatalf("ListAccounts of empty host = %v", list)
		}
	})
	t.Run("CreateAccounts", func(t *testing.T) {
		s := open(t)
		if err := s.CreateAccount(ctx, "example.test", "u3", creds(1)); err != nil {
			t.Fatal(err)
		}
		// A shared credentials value (as bulk accounts have), and
		// per-account digests on odd users.
		const n = 1234
		shared := creds(2)
		var batch []storage.NewAccount
		want := map[string]sasl.Credentials{}
		for i := range n {
			c := shared
			if i%2 == 1 {
				c.DigestMD5 = []byte(fmt.Sprintf("digest-%010d", i))
			}
			u := fmt.Sprint("u", i)
			batch = append(batch, storage.NewAccount{User: u, Credentials: c})
			want[u] = c
		}
		want["u3"] = creds(1) // existed before: skipped, unchanged
		// A repeat within the batch is skipped too: the first one wins.
		batch = append(batch, storage.NewAccount{User: "u5", Credentials: creds(7)})
		created, err := s.CreateAccounts(ctx, "example.test", batch)
		if err != nil || created != n-1 {
			t.Fatalf("CreateAccounts = %d, %v; want %d created (one existed, one repeated)", created, err, n-1)
		}
		for u, c := range want {
			got, err := s.Credentials(ctx, "example.test", u)
			if err != nil || !reflect.DeepEqual(got, c) {
				t.Fatalf("Credentials(%s) = %+v, %v; want %+v", u, got, err, c)
			}
		}
		if list, _ := s.ListAccounts(ctx, "example.test"); len(list) != n {
			t.Errorf("ListAccounts has %d accounts, want %d", len(list), n)
		}
		if list, _ := s.ListAccounts(ctx, "other.test"); len(list) != 0 {
			t.Errorf("accounts created on another host: %v", list)
		}
		// Again: everything exists, nothing is created.
		if created, err := s.CreateAccounts(ctx, "example.test", batch[:10]); err != nil || created != 0 {
			t.Errorf("repeated batch: %d, %v; want 0 created", created, err)
		}
		if created, err := s.CreateAccounts(ctx, "example.test", nil); err != nil || created != 0 {
			t.Errorf("empty batch: %d, %v", created, err)
		}
		// A batch that fails stores nothing.
		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		fresh := []storage.NewAccount{{User: "late1", Credentials: shared}, {User: "late2", Credentials: shared}}
		if _, err := s.CreateAccounts(cancelled, "example.test", fresh); err == nil {
			t.Error("CreateAccounts with a cancelled context succeeded")
		}
		for _, a := range fresh {
			if ok, _ := s.AccountExists(ctx, "example.test", a.User); ok {
				t.Errorf("%s was created by a failed batch", a.User)
			}
		}
	})
	t.Run("ConcurrentCreateAccounts", func(t *testing.T) {
		s := open(t)
		var batch []storage.NewAccount
		for i := range 300 {
			batch = append(batch, storage.NewAccount{User: fmt.Sprint("c", i), Credentials: creds(6)})
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		total := 0
		for range 3 {
			wg.Go(func() {
				n, err := s.CreateAccounts(ctx, "example.test", batch)
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				total += n
				mu.Unlock()
			})
		}
		wg.Wait()
		if total != len(batch) {
			t.Errorf("three concurrent batches created %d accounts in all, want %d", total, len(batch))
		}
	})
	t.Run("Secret", func(t *testing.T) {
		s := open(t)
		a, err := s.Secret(ctx, "streams", 32)
		if err != nil || len(a) != 32 {
			t.Fatalf("Secret = %x, %v", a, err)
		}
		b, _ := s.Secret(ctx, "streams", 32)
		if !bytes.Equal(a, b) {
			t.Fatal("Secret changed between calls")
		}
		c, _ := s.Secret(ctx, "dialback", 32)
		if bytes.Equal(a, c) {
			t.Fatal("two secrets are equal")
		}
	})
	t.Run("KV", func(t *testing.T) {
		s := open(t)
		if _, err := s.Get(ctx, "h", "u", "roster", "a"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("Get of missing key: %v", err)
		}
		for k, v := range map[string]string{"a": "1", "b": "2", "": "empty key"} {
			if err := s.Put(ctx, "h", "u", "roster", k, []byte(v)); err != nil {
				t.Fatal(err)
			}
		}
		s.Put(ctx, "h", "u", "roster", "a", []byte("replaced"))
		s.Put(ctx, "h", "u", "vcard", "a", []byte("other store"))
		s.Put(ctx, "h", "v", "roster", "a", []byte("other user"))
		if v, err := s.Get(ctx, "h", "u", "roster", "a"); err != nil || string(v) != "replaced" {
			t.Fatalf("Get = %q, %v", v, err)
		}
		m, err := s.Map(ctx, "h", "u", "roster")
		want := map[string][]byte{"a": []byte("replaced"), "b": []byte("2"), "": []byte("empty key")}
		if err != nil || !reflect.DeepEqual(m, want) {
			t.Fatalf("Map = %q, %v", m, err)
		}
		if err := s.Delete(ctx, "h", "u", "roster", "b"); err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(ctx, "h", "u", "roster", "never"); err != nil {
			t.Fatalf("deleting a missing key: %v", err)
		}
		if m, _ := s.Map(ctx, "h", "u", "roster"); len(m) != 2 {
			t.Fatalf("after delete Map = %q", m)
		}
		if m, err := s.Map(ctx, "h", "nobody", "roster"); err != nil || len(m) != 0 {
			t.Fatalf("Map of empty store = %q, %v", m, err)
		}
		if err := s.Put(ctx, "h", "u", "bin", "k", []byte{0, 1, 0xff}); err != nil {
			t.Fatal(err)
		}
		if v, _ := s.Get(ctx, "h", "u", "bin", "k"); !bytes.Equal(v, []byte{0, 1, 0xff}) {
			t.Fatalf("binary value came back as %x", v)
		}
	})
	t.Run("Queue", func(t *testing.T) {
		s := open(t)
		for i := range 3 {
			if err := s.Push(ctx, "h", "u", "offline", []byte(fmt.Sprint("m", i)), 3); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Push(ctx, "h", "u", "offline", []byte("m3"), 3); !errors.Is(err, storage.ErrQuota) {
			t.Fatalf("push over quota: %v", err)
		}
		if err := s.Push(ctx, "h", "v", "offline", []byte("other user"), 3); err != nil {
			t.Fatal(err)
		}
		items, err := s.Items(ctx, "h", "u", "offline")
		if err != nil || len(items) != 3 {
			t.Fatalf("Items = %v, %v", items, err)
		}
		for i, it := range items {
			if string(it.Value) != fmt.Sprint("m", i) || it.Time.IsZero() || (i > 0 && it.ID <= items[i-1].ID) {
				t.Errorf("item %d = %+v, want m%d in order", i, it, i)
			}
		}
		if err := s.Remove(ctx, "h", "u", "offline", items[0].ID, items[2].ID, 999999); err != nil {
			t.Fatal(err)
		}
		if n, _ := s.Count(ctx, "h", "u", "offline"); n != 1 {
			t.Fatalf("Count after remove = %d", n)
		}
		if items, _ := s.Items(ctx, "h", "u", "offline"); len(items) != 1 || string(items[0].Value) != "m1" {
			t.Fatalf("left %v", items)
		}
		if err := s.Push(ctx, "h", "u", "offline", []byte("no limit"), 0); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("DeleteAccountDeletesData", func(t *testing.T) {
		s := open(t)
		s.CreateAccount(ctx, "h", "u", creds(1))
		s.CreateAccount(ctx, "h", "keep", creds(1))
		s.Put(ctx, "h", "u", "roster", "a", []byte("1"))
		s.Put(ctx, "h", "keep", "roster", "a", []byte("1"))
		s.Push(ctx, "h", "u", "offline", []byte("m"), 0)
		if err := s.DeleteAccount(ctx, "h", "u"); err != nil {
			t.Fatal(err)
		}
		if m, _ := s.Map(ctx, "h", "u", "roster"); len(m) != 0 {
			t.Error("roster survived account deletion")
		}
		if n, _ := s.Count(ctx, "h", "u", "offline"); n != 0 {
			t.Error("offline messages survived account deletion")
		}
		if m, _ := s.Map(ctx, "h", "keep", "roster"); len(m) != 1 {
			t.Error("another account's data was deleted")
		}
	})
	t.Run("ConcurrentCreate", func(t *testing.T) {
		s := open(t)
		var wg sync.WaitGroup
		errs := make(chan error, 40)
		for i := range 40 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Two goroutines per name: exactly one of each pair wins.
				errs <- s.CreateAccount(ctx, "example.test", fmt.Sprintf("u%d", i/2), creds(5))
			}()
		}
		wg.Wait()
		close(errs)
		var ok, exists int
		for err := range errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, storage.ErrExists):
				exists++
			default:
				t.Errorf("unexpected error: %v", err)
			}
		}
		if ok != 20 || exists != 20 {
			t.Errorf("got %d created and %d ErrExists, want 20 and 20", ok, exists)
		}
	})
}
