package sasl

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"hash"
	"unicode/utf8"
)

// plainServer is the server side of PLAIN (RFC 4616).
type plainServer struct {
	cfg      ServerConfig
	state    int // 0: start, 1: challenged, 2: over
	username string
	authzid  string
}

func (s *plainServer) Username() string { return s.username }
func (s *plainServer) Authzid() string  { return s.authzid }

func (s *plainServer) Step(ctx context.Context, in []byte) ([]byte, bool, error) {
	switch s.state {
	case 0:
		if in == nil {
			// No initial response: ask for it with an empty challenge.
			s.state = 1
			return []byte{}, false, nil
		}
	case 1:
	default:
		return nil, true, malformed("exchange already finished")
	}
	s.state = 2
	user, authzid, pw, f := parsePlain(in)
	if f != nil {
		return nil, true, f
	}
	if f := s.verify(ctx, user, pw); f != nil {
		return nil, true, f
	}
	s.username, s.authzid = user, authzid
	return nil, true, nil
}

// parsePlain splits and checks "[authzid] NUL authcid NUL passwd" and
// prepares authcid and passwd with SASLprep.
func parsePlain(in []byte) (user, authzid, pw string, f *Failure) {
	if len(in) > maxMessage {
		return "", "", "", malformed("message too long")
	}
	parts := bytes.Split(in, []byte{0})
	if len(parts) != 3 {
		return "", "", "", malformed("expected authzid, authcid and password separated by NUL")
	}
	for _, p := range parts {
		if !utf8.Valid(p) {
			return "", "", "", malformed("invalid UTF-8")
		}
	}
	if len(parts[1]) == 0 || len(parts[2]) == 0 {
		return "", "", "", malformed("empty authcid or password")
	}
	user, ok := prepName(string(parts[1]))
	if !ok {
		return "", "", "", malformed("authcid rejected by SASLprep")
	}
	pw, ok = prepName(string(parts[2]))
	if !ok {
		return "", "", "", malformed("password rejected by SASLprep")
	}
	return user, string(parts[0]), pw, nil
}

// verify checks a prepared password against the stored keys, preferring
// SHA-256, then SHA-512, then SHA-1. Unknown users, and users with no SCRAM
// keys, cost the same PBKDF2 work as known ones and get the same answer as a
// wrong password.
func (s *plainServer) verify(ctx context.Context, user, pw string) *Failure {
	creds, found, f := s.cfg.lookup(ctx, user)
	if f != nil {
		return f
	}
	var gen func() hash.Hash
	var keys *SCRAMKeys
	switch {
	case !found:
	case creds.SHA256 != nil:
		gen, keys = sha256.New, creds.SHA256
	case creds.SHA512 != nil:
		gen, keys = sha512.New, creds.SHA512
	case creds.SHA1 != nil:
		gen, keys = sha1.New, creds.SHA1
	}
	if keys != nil && !validKeys(keys, gen().Size()) {
		return &Failure{Condition: TemporaryAuthFailure, Err: errors.New("sasl: stored SCRAM keys are invalid")}
	}
	if keys == nil {
		gen, keys = sha256.New, fakeKeys(s.cfg.Secret, SCRAMSHA256, user, s.cfg.Iterations, sha256.Size)
		found = false
	}
	ok, err := verifyPassword(gen, keys, pw)
	if err != nil {
		return &Failure{Condition: TemporaryAuthFailure, Err: err}
	}
	if !ok || !found {
		return notAuthorized()
	}
	return nil
}

// plainClient is the client side of PLAIN.
type plainClient struct {
	msg  []byte
	sent bool
}

func newPlainClient(cfg ClientConfig) (*plainClient, error) {
	if cfg.Username == "" || cfg.Password == "" {
		return nil, errors.New("sasl: PLAIN needs a username and a password")
	}
	for _, s := range []string{cfg.Authzid, cfg.Username, cfg.Password} {
		if !utf8.ValidString(s) || bytes.IndexByte([]byte(s), 0) >= 0 {
			return nil, errors.New("sasl: PLAIN credentials must be UTF-8 without NUL")
		}
	}
	msg := make([]byte, 0, len(cfg.Authzid)+len(cfg.Username)+len(cfg.Password)+2)
	msg = append(msg, cfg.Authzid...)
	msg = append(msg, 0)
	msg = append(msg, cfg.Username...)
	msg = append(msg, 0)
	msg = append(msg, cfg.Password...)
	return &plainClient{msg: msg}, nil
}

func (c *plainClient) Step(challenge []byte) ([]byte, error) {
	if c.sent {
		return nil, errors.New("sasl: unexpected PLAIN challenge")
	}
	if len(challenge) != 0 {
		return nil, errors.New("sasl: unexpected PLAIN challenge")
	}
	c.sent = true
	return c.msg, nil
}

func (c *plainClient) Verify(success []byte) error {
	if !c.sent {
		return errors.New("sasl: success before PLAIN credentials were sent")
	}
	if len(success) != 0 {
		return errors.New("sasl: unexpected additional data with PLAIN success")
	}
	return nil
}
