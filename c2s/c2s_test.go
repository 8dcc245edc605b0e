package c2s_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/starling-xmpp/starling/c2s"
	"github.com/starling-xmpp/starling/client"
	"github.com/starling-xmpp/starling/config"
	"github.com/starling-xmpp/starling/jid"
	"github.com/starling-xmpp/starling/router"
	"github.com/starling-xmpp/starling/sasl"
	"github.com/starling-xmpp/starling/tlsconf"
)

// brokenStore fails every lookup, like a database that went away.
type brokenStore struct{}

func (brokenStore) Credentials(context.Context, string, string) (sasl.Credentials, error) {
	return sasl.Credentials{}, errors.New("database is locked")
}

func (brokenStore) AccountExists(context.Context, string, string) (bool, error) {
	return false, errors.New("database is locked")
}

// Seed 5-4: when the credentials cannot be read, the client is told to try
// later (<temporary-auth-failure/>), not that its password is wrong.
func TestSeed5_4_TemporaryAuthFailure(t *testing.T) {
	cfg, err := config.Parse([]byte("c2s:\n  allow_plaintext: true\n"), "test")
	if err != nil {
		t.Fatal(err)
	}
	certs, err := tlsconf.LoadCerts(cfg.TLS, cfg.Hosts, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv := c2s.NewServer(c2s.Options{
		Config:      cfg,
		Router:      router.New(router.Config{Hosts: cfg.Hosts, Accounts: brokenStore{}}),
		Credentials: brokenStore{},
		Certs:       certs,
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln, false)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	for _, mech := range []string{sasl.PLAIN, sasl.SCRAMSHA256} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := client.Dial(ctx, client.Config{
			JID: jid.MustParse("alice@localhost"), Password: "pw", Addr: ln.Addr().String(),
			Plaintext: true, AllowPLAIN: true, Mechanism: mech,
		})
		cancel()
		var ae *client.AuthError
		if !errors.As(err, &ae) || ae.Condition != sasl.TemporaryAuthFailure {
			t.Errorf("%s: got %v, want temporary-auth-failure", mech, err)
		}
	}
}
