package account

import (
	"context"
	"errors"
	"testing"

	"github.com/starling-xmpp/starling/jid"
	"github.com/starling-xmpp/starling/sasl"
	"github.com/starling-xmpp/starling/storage/memory"
)

func newManager(st *memory.Store) *Manager {
	return &Manager{Store: st, Profile: jid.Stringprep, Hosts: []string{"localhost", "example.test"}, Iterations: 4096}
}

// login checks a password the way the server does: a SASL PLAIN exchange
// against the stored keys.
func login(t *testing.T, st *memory.Store, host, user, password string) bool {
	t.Helper()
	srv, err := sasl.NewServer(sasl.PLAIN, sasl.ServerConfig{
		Lookup: func(ctx context.Context, u string) (sasl.Credentials, error) {
			c, err := st.Credentials(ctx, host, u)
			if err != nil {
				return c, sasl.ErrNoSuchUser
			}
			return c, nil
		},
		Realm: host,
	})
	if err != nil {
		t.Fatal(err)
	}
	_, done, err := srv.Step(context.Background(), []byte("\x00"+user+"\x00"+password))
	return done && err == nil
}

func TestAddPreparesAndStoresOnlyKeys(t *testing.T) {
	ctx := context.Background()
	st := memory.New()
	m := newManager(st)
	j, err := m.Add(ctx, "Alice@LocalHost", "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	if j.String() != "alice@localhost" {
		t.Errorf("created %s, want alice@localhost", j)
	}
	c, err := st.Credentials(ctx, "localhost", "alice")
	if err != nil {
		t.Fatal(err)
	}
	if c.SHA1 == nil || c.SHA256 == nil || c.SHA512 == nil || c.DigestMD5 != nil {
		t.Errorf("stored %+v, want the three SCRAM key sets and no digest", c)
	}
	if !login(t, st, "localhost", "alice", "s3cret") || login(t, st, "localhost", "alice", "wrong") {
		t.Error("stored keys do not verify the password (or verify a wrong one)")
	}
	if _, err := m.Add(ctx, "alice@localhost", "x"); !errors.Is(err, ErrExists) {
		t.Errorf("second add: got %v, want ErrExists", err)
	}
}

func TestDigestMD5Stored(t *testing.T) {
	st := memory.New()
	m := newManager(st)
	m.DigestMD5 = true
	if _, err := m.Add(context.Background(), "bob@localhost", "pw"); err != nil {
		t.Fatal(err)
	}
	c, _ := st.Credentials(context.Background(), "localhost", "bob")
	if len(c.DigestMD5) != 16 {
		t.Errorf("digest = %x, want 16 bytes when DIGEST-MD5 is on", c.DigestMD5)
	}
}

func TestBadAddresses(t *testing.T) {
	m := newManager(memory.New())
	for _, tt := range []struct {
		addr string
		want error
	}{
		{"localhost", ErrBadAddress},
		{"alice@localhost/res", ErrBadAddress},
		{"al ice@localhost", ErrBadAddress},
		{"alice@elsewhere.test", ErrUnknownHost},
	} {
		if _, err := m.Add(context.Background(), tt.addr, "pw"); !errors.Is(err, tt.want) {
			t.Errorf("Add(%q): got %v, want %v", tt.addr, err, tt.want)
		}
	}
	if _, err := m.Add(context.Background(), "alice@localhost", ""); err == nil {
		t.Error("an empty password was accepted")
	}
}

func TestPasswdDeleteList(t *testing.T) {
	ctx := context.Background()
	st := memory.New()
	m := newManager(st)
	for _, a := range []string{"carol@localhost", "alice@localhost", "zed@example.test"} {
		if _, err := m.Add(ctx, a, "old"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := m.SetPassword(ctx, "alice@localhost", "new"); err != nil {
		t.Fatal(err)
	}
	if !login(t, st, "localhost", "alice", "new") || login(t, st, "localhost", "alice", "old") {
		t.Error("password not changed")
	}
	if _, err := m.SetPassword(ctx, "nobody@localhost", "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("passwd of missing account: %v", err)
	}
	all, err := m.List(ctx, "")
	if err != nil || len(all) != 3 || all[0].String() != "alice@localhost" || all[2].String() != "zed@example.test" {
		t.Errorf("List() = %v, %v", all, err)
	}
	if _, err := m.Delete(ctx, "carol@localhost"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Delete(ctx, "carol@localhost"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
	local, err := m.List(ctx, "LOCALHOST")
	if err != nil || len(local) != 1 || local[0].String() != "alice@localhost" {
		t.Errorf("List(localhost) = %v, %v", local, err)
	}
	if _, err := m.List(ctx, "other.test"); !errors.Is(err, ErrUnknownHost) {
		t.Errorf("List of unserved host: %v", err)
	}
}
