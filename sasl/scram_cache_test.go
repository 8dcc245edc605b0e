package sasl

import (
	"sync"
	"testing"
)

// Logging in again with the same password reuses the client's derived keys
// (one scram.Client per account and password), and many logins sharing it
// at once each check their own nonce.
func TestSCRAMClientCache(t *testing.T) {
	h := scramHashes[SCRAMSHA256]
	a, err := cachedClient(h, "juliet", "r0m30myr0m30", "")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := cachedClient(h, "juliet", "r0m30myr0m30", "")
	if a != b {
		t.Error("the same account and password got a second client")
	}
	for _, other := range []struct{ mech, user, pw, authzid string }{
		{SCRAMSHA256, "juliet", "another", ""},
		{SCRAMSHA256, "romeo", "r0m30myr0m30", ""},
		{SCRAMSHA256, "juliet", "r0m30myr0m30", "juliet@example.test"},
		{SCRAMSHA1, "juliet", "r0m30myr0m30", ""},
	} {
		if c, _ := cachedClient(scramHashes[other.mech], other.user, other.pw, other.authzid); c == a {
			t.Errorf("%+v shares the client of juliet's SCRAM-SHA-256 password", other)
		}
	}
	scfg := testServerConfig(t)
	errs := make(chan error, 2*16)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			s, err := NewServer(SCRAMSHA256, scfg)
			if err != nil {
				errs <- err
				return
			}
			c, err := NewClient(SCRAMSHA256, ClientConfig{Username: "juliet", Password: "r0m30myr0m30"})
			if err != nil {
				errs <- err
				return
			}
			serr, cerr := exchange(c, s)
			errs <- serr
			errs <- cerr
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// A wrong password after a right one still fails.
	_, serr, _ := roundTrip(t, SCRAMSHA256, scfg, ClientConfig{Username: "juliet", Password: "wrong"})
	wantFailure(t, serr, NotAuthorized)
}
