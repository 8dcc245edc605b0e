package sasl

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
)

const (
	testDomain = "example.test"
	testIters  = 4096 // the smallest count clients accept; keeps tests fast
)

// users is an in-memory credential store.
type users map[string]Credentials

func (u users) lookup(_ context.Context, name string) (Credentials, error) {
	c, ok := u[name]
	if !ok {
		return Credentials{}, fmt.Errorf("lookup %q: %w", name, ErrNoSuchUser)
	}
	return c, nil
}

var (
	testUsersOnce sync.Once
	testUsersMap  users
)

// testUsers returns juliet (password "r0m30myr0m30", DIGEST-MD5 enabled) and
// romeo (password "déjà vu", SCRAM keys only).
func testUsers(t testing.TB) users {
	t.Helper()
	testUsersOnce.Do(func() {
		j, err := Derive("r0m30myr0m30", DeriveOptions{Iterations: testIters, DigestMD5: true, Username: "juliet", Realm: testDomain})
		if err != nil {
			panic(err)
		}
		r, err := Derive("déjà vu", DeriveOptions{Iterations: testIters})
		if err != nil {
			panic(err)
		}
		testUsersMap = users{"juliet": j, "romeo": r}
	})
	return testUsersMap
}

func testServerConfig(t testing.TB) ServerConfig {
	return ServerConfig{
		Lookup:     testUsers(t).lookup,
		Realm:      testDomain,
		Secret:     []byte("test secret"),
		Iterations: testIters,
	}
}

// exchange runs a whole exchange between c and s as the c2s code would.
// serverErr is the server's failure, clientErr the client's.
func exchange(c Client, s Server) (serverErr, clientErr error) {
	ctx := context.Background()
	msg, err := c.Step(nil)
	if err != nil {
		return nil, err
	}
	for range 10 {
		out, done, err := s.Step(ctx, msg)
		if err != nil {
			if !done {
				return errors.New("failure without done"), nil
			}
			return err, nil
		}
		if done {
			return nil, c.Verify(out)
		}
		if msg, err = c.Step(out); err != nil {
			return nil, err
		}
	}
	return errors.New("exchange does not end"), nil
}

// roundTrip creates a client and a server for mech and runs an exchange.
func roundTrip(t *testing.T, mech string, scfg ServerConfig, ccfg ClientConfig) (s Server, serverErr, clientErr error) {
	t.Helper()
	s, err := NewServer(mech, scfg)
	if err != nil {
		t.Fatalf("NewServer(%s): %v", mech, err)
	}
	c, err := NewClient(mech, ccfg)
	if err != nil {
		t.Fatalf("NewClient(%s): %v", mech, err)
	}
	serverErr, clientErr = exchange(c, s)
	return s, serverErr, clientErr
}

// wantFailure checks that err is a *Failure with the condition.
func wantFailure(t *testing.T, err error, cond string) *Failure {
	t.Helper()
	var f *Failure
	if !errors.As(err, &f) {
		t.Fatalf("got error %v (%T), want *Failure %s", err, err, cond)
	}
	if f.Condition != cond {
		t.Fatalf("got condition %q (%v), want %q", f.Condition, f, cond)
	}
	return f
}

func fixedNonce(s string) func() string { return func() string { return s } }
