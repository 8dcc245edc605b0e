package sasl

import (
	"context"
	"errors"
)

// ErrNoSuchUser is what a Lookup returns, possibly wrapped, for an unknown
// user.
var ErrNoSuchUser = errors.New("sasl: no such user")

// Lookup returns the stored credentials of a user. The username is the
// authentication identity as the client sent it, after SASLprep where the
// mechanism prescribes it (PLAIN and SCRAM; not DIGEST-MD5). It returns
// ErrNoSuchUser, possibly wrapped, for an unknown user; any other error ends
// the exchange with temporary-auth-failure.
type Lookup func(ctx context.Context, username string) (Credentials, error)

// ServerConfig configures the server side of one SASL exchange.
type ServerConfig struct {
	// Lookup finds a user's credentials. It is required.
	Lookup Lookup

	// Realm is the XMPP domain. DIGEST-MD5 offers it as its realm and
	// requires the digest-uri "xmpp/<Realm>".
	Realm string

	// ChannelBindings maps a channel-binding type (CBTLSExporter,
	// CBTLSServerEndPoint, CBTLSUnique) to its data for this connection; it is empty
	// when the stream is not on TLS. The caller offers the -PLUS
	// mechanisms exactly when it is not empty, so a client that says it
	// could have bound the channel but saw no -PLUS mechanism is treated
	// as the victim of a downgrade and refused.
	ChannelBindings map[string][]byte

	// Secret is a server secret. Unknown users get SCRAM salts derived
	// from it, HMAC(Secret, mechanism, username), and then fail at the
	// proof exactly like a wrong password, so that an exchange does not
	// reveal whether an account exists. (The mechanism is mixed in
	// because a real user has a different salt for each hash.) If Secret
	// is empty, a random secret is made once per process, and the fake
	// salts change when the server restarts.
	Secret []byte

	// AfterUnavailableBinding relaxes the downgrade check: a client that
	// already failed a -PLUS exchange on this connection because it asked
	// for a channel-binding type the connection cannot provide (such as
	// tls-unique on TLS 1.3, where it is undefined) may then use a bare
	// SCRAM mechanism with the "y" flag. Such a client has seen the -PLUS
	// offer, so "y" means "no binding type in common", not a stripped
	// offer. Clients that follow RFC 5802 never need this.
	AfterUnavailableBinding bool

	// Iterations is the iteration count shown for unknown users; 0 means
	// DefaultIterations. It should match what Derive is given, or the
	// count itself tells unknown users apart.
	Iterations int
}

// Server is the server side of one SASL exchange. It is not safe for
// concurrent use; make one per <auth/>.
type Server interface {
	// Step takes the client's decoded message and returns the next
	// challenge. For the first call, in == nil means <auth/> carried no
	// initial response and in == []byte{} means the empty response "=".
	// done is true when the exchange is over: with a nil error it
	// succeeded, and out is the additional data for <success/> (possibly
	// nil). On failure the error is a *Failure, and further calls fail
	// with malformed-request.
	Step(ctx context.Context, in []byte) (out []byte, done bool, err error)

	// Username returns the authentication identity; it is valid after
	// success.
	Username() string

	// Authzid returns the requested authorization identity, or "" if none
	// was requested. The caller checks that the user may act as it, and
	// answers invalid-authzid otherwise.
	Authzid() string
}

// NewServer starts the server side of an exchange with the named mechanism.
// An unknown mechanism, or a -PLUS one on a connection without channel
// binding data, yields a *Failure with the invalid-mechanism condition; an
// unusable configuration yields temporary-auth-failure.
func NewServer(mech string, cfg ServerConfig) (Server, error) {
	if cfg.Lookup == nil {
		return nil, &Failure{Condition: TemporaryAuthFailure, Err: errors.New("sasl: no credential lookup configured")}
	}
	if cfg.Iterations <= 0 {
		cfg.Iterations = DefaultIterations
	}
	switch mech {
	case PLAIN:
		return &plainServer{cfg: cfg}, nil
	case DigestMD5:
		if cfg.Realm == "" {
			return nil, &Failure{Condition: TemporaryAuthFailure, Err: errors.New("sasl: DIGEST-MD5 needs a realm")}
		}
		return newDigestServer(cfg), nil
	}
	if h, ok := scramHashes[mech]; ok {
		if h.plus && !hasBindings(cfg.ChannelBindings) {
			return nil, fail(InvalidMechanism, "")
		}
		return newSCRAMServer(h, cfg), nil
	}
	return nil, fail(InvalidMechanism, "")
}

// hasBindings reports whether m holds any channel-binding data.
func hasBindings(m map[string][]byte) bool {
	for _, v := range m {
		if len(v) > 0 {
			return true
		}
	}
	return false
}

// lookup calls cfg.Lookup and sorts its result: found reports a known user;
// a failure other than ErrNoSuchUser becomes temporary-auth-failure.
func (cfg *ServerConfig) lookup(ctx context.Context, username string) (c Credentials, found bool, f *Failure) {
	c, err := cfg.Lookup(ctx, username)
	switch {
	case err == nil:
		return c, true, nil
	case errors.Is(err, ErrNoSuchUser):
		return Credentials{}, false, nil
	default:
		return Credentials{}, false, &Failure{Condition: TemporaryAuthFailure, Err: err}
	}
}

// maxMessage bounds any single client message; nothing legitimate comes
// close.
const maxMessage = 8 << 10
