package sasl

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"hash"
	"sync"

	"github.com/xdg-go/stringprep"
)

// DefaultIterations is the PBKDF2 iteration count Derive uses, and the count
// shown for unknown users, when none is configured.
const DefaultIterations = 10000

// saltLen is the length of the salts Derive generates and of fake salts.
const saltLen = 16

// SCRAMKeys are the salted SCRAM keys of one user for one hash function
// (RFC 5802 §3): what the server stores instead of the password. They
// serialise with encoding/json as they are.
type SCRAMKeys struct {
	Salt       []byte
	Iterations int
	StoredKey  []byte // H(ClientKey)
	ServerKey  []byte // HMAC(SaltedPassword, "Server Key")
}

// Credentials are everything the server stores to authenticate one user:
// SCRAM keys per hash function and, optionally, the DIGEST-MD5 digest.
// A nil field means the user cannot use the mechanisms that need it.
type Credentials struct {
	SHA1, SHA256, SHA512 *SCRAMKeys
	// DigestMD5 is the 16-byte MD5 of username ":" realm ":" password
	// (RFC 2831 §2.1.2.1), nil unless DIGEST-MD5 is enabled for the user.
	// Anyone who reads it can log in as the user with DIGEST-MD5.
	DigestMD5 []byte
}

// DeriveOptions tune Derive.
type DeriveOptions struct {
	// Iterations is the PBKDF2 iteration count; 0 means DefaultIterations.
	// Clients, this package's included, refuse counts below 4096.
	Iterations int
	// DigestMD5 asks for Credentials.DigestMD5 as well, computed from
	// Username and Realm.
	DigestMD5 bool
	// Username is the username the user will type for DIGEST-MD5 (its
	// digest hashes the username exactly as typed).
	Username string
	// Realm is the DIGEST-MD5 realm: the XMPP domain (ServerConfig.Realm).
	Realm string
}

// Derive prepares password with SASLprep (RFC 4013) and computes fresh
// credentials: a random 16-byte salt and SCRAM keys for each of SHA-1,
// SHA-256 and SHA-512, and the DIGEST-MD5 digest if o.DigestMD5 is set. It
// fails if the password is empty, or empty after preparation, or contains
// characters SASLprep prohibits. The error never contains the password.
func Derive(password string, o DeriveOptions) (Credentials, error) {
	iters := o.Iterations
	if iters == 0 {
		iters = DefaultIterations
	}
	if iters < 0 {
		return Credentials{}, errors.New("sasl: negative iteration count")
	}
	pw, err := prepPassword(password)
	if err != nil {
		return Credentials{}, err
	}
	var c Credentials
	for _, h := range []struct {
		dst **SCRAMKeys
		gen func() hash.Hash
	}{{&c.SHA1, sha1.New}, {&c.SHA256, sha256.New}, {&c.SHA512, sha512.New}} {
		salt := make([]byte, saltLen)
		rand.Read(salt) // never fails; see crypto/rand.Read
		stored, server, err := SaltedKeys(h.gen, pw, salt, iters)
		if err != nil {
			return Credentials{}, err
		}
		*h.dst = &SCRAMKeys{Salt: salt, Iterations: iters, StoredKey: stored, ServerKey: server}
	}
	if o.DigestMD5 {
		if o.Username == "" {
			return Credentials{}, errors.New("sasl: DIGEST-MD5 digest needs a username")
		}
		c.DigestMD5 = digestSecret(o.Username, o.Realm, pw, true)
	}
	return c, nil
}

// DigestMD5Secret is the DIGEST-MD5 digest Derive stores for username at
// realm (RFC 2831 §2.1.2.1), with the password prepared by SASLprep: for
// callers that derive SCRAM keys once for many accounts and need only the
// per-account digest.
func DigestMD5Secret(username, realm, password string) ([]byte, error) {
	if username == "" {
		return nil, errors.New("sasl: DIGEST-MD5 digest needs a username")
	}
	pw, err := prepPassword(password)
	if err != nil {
		return nil, err
	}
	return digestSecret(username, realm, pw, true), nil
}

// prepPassword applies SASLprep to a password. Its errors say why, but never
// which character was at fault.
func prepPassword(password string) (string, error) {
	if password == "" {
		return "", errors.New("sasl: empty password")
	}
	pw, err := stringprep.SASLprep.Prepare(password)
	if err != nil {
		var perr stringprep.Error
		if errors.As(err, &perr) {
			return "", fmt.Errorf("sasl: password rejected by SASLprep: %s", perr.Msg)
		}
		return "", errors.New("sasl: password rejected by SASLprep")
	}
	if pw == "" {
		return "", errors.New("sasl: password is empty after SASLprep")
	}
	return pw, nil
}

// prepName applies SASLprep to a username or other identity; ok is false if
// preparation fails or leaves nothing.
func prepName(s string) (string, bool) {
	p, err := stringprep.SASLprep.Prepare(s)
	return p, err == nil && p != ""
}

// SaltedKeys computes a SCRAM StoredKey and ServerKey from a prepared
// password (RFC 5802 §3).
func SaltedKeys(gen func() hash.Hash, password string, salt []byte, iters int) (stored, server []byte, err error) {
	salted, err := pbkdf2.Key(gen, password, salt, iters, gen().Size())
	if err != nil {
		return nil, nil, fmt.Errorf("sasl: key derivation: %w", err)
	}
	clientKey := hmacSum(gen, salted, []byte("Client Key"))
	h := gen()
	h.Write(clientKey)
	return h.Sum(nil), hmacSum(gen, salted, []byte("Server Key")), nil
}

// verifyPassword reports whether the prepared password matches k. It is the
// one place PLAIN verification happens, so that a cache of salted keys can be
// added here.
func verifyPassword(gen func() hash.Hash, k *SCRAMKeys, password string) (bool, error) {
	stored, _, err := SaltedKeys(gen, password, k.Salt, k.Iterations)
	if err != nil {
		return false, err
	}
	return hmac.Equal(stored, k.StoredKey), nil
}

func hmacSum(gen func() hash.Hash, key, data []byte) []byte {
	m := hmac.New(gen, key)
	m.Write(data)
	return m.Sum(nil)
}

// validKeys reports whether k can be used with a hash of the given size.
func validKeys(k *SCRAMKeys, size int) bool {
	return len(k.Salt) > 0 && k.Iterations > 0 && len(k.StoredKey) == size && len(k.ServerKey) == size
}

// digestSecret computes the RFC 2831 §2.1.2.1 digest H({username-value, ":",
// realm-value, ":", passwd}). With utf8 set (charset=utf-8) each part that
// ISO 8859-1 can represent is converted to it first, as RFC 2831 requires;
// without it the parts are already ISO 8859-1 bytes.
func digestSecret(username, realm, password string, utf8 bool) []byte {
	h := md5.New()
	for i, s := range []string{username, realm, password} {
		if i > 0 {
			h.Write([]byte{':'})
		}
		if utf8 {
			if l, ok := toLatin1(s); ok {
				h.Write(l)
				continue
			}
		}
		h.Write([]byte(s))
	}
	return h.Sum(nil)
}

// toLatin1 converts a UTF-8 string to ISO 8859-1, if every character fits.
func toLatin1(s string) ([]byte, bool) {
	b := make([]byte, 0, len(s))
	for _, r := range s {
		if r > 0xff {
			return nil, false
		}
		b = append(b, byte(r))
	}
	return b, true
}

// fromLatin1 converts ISO 8859-1 bytes to a UTF-8 string.
func fromLatin1(b []byte) string {
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r)
}

// processSecret stands in for ServerConfig.Secret when it is empty. Fake
// salts then stay the same only for the life of the process.
var processSecret = sync.OnceValue(func() []byte {
	b := make([]byte, 32)
	rand.Read(b)
	return b
})

// fakeBytes derives n deterministic bytes for an unknown user from the
// server secret, the purpose (mechanism) and the username, so that the same
// question always gets the same answer and answers differ per mechanism, as
// they do for real users.
func fakeBytes(secret []byte, purpose, username string, n int) []byte {
	if len(secret) == 0 {
		secret = processSecret()
	}
	m := hmac.New(sha512.New, secret)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write([]byte(username))
	return m.Sum(nil)[:n]
}

// fakeKeys returns SCRAM keys for a user who does not exist, or has no keys
// for this hash: a deterministic salt and keys that match no password.
func fakeKeys(secret []byte, purpose, username string, iters, size int) *SCRAMKeys {
	if iters <= 0 {
		iters = DefaultIterations
	}
	stored := make([]byte, size)
	server := make([]byte, size)
	rand.Read(stored)
	rand.Read(server)
	return &SCRAMKeys{
		Salt:       fakeBytes(secret, purpose, username, saltLen),
		Iterations: iters,
		StoredKey:  stored,
		ServerKey:  server,
	}
}
