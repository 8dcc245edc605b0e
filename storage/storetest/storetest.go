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
	SetCredentials(ctx context.Context, host, user string, c sasl.Credentials) error
	DeleteAccount(ctx context.Context, host, user string) error
	ListAccounts(ctx context.Context, host string) ([]string, error)
	Secret(ctx context.Context, name string, size int) ([]byte, error)
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
