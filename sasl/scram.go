package sasl

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/xdg-go/scram"
)

// scramHash describes one SCRAM mechanism.
type scramHash struct {
	base string // the mechanism name without -PLUS, used to derive fake salts
	plus bool
	gen  scram.HashGeneratorFcn
	size int
	keys func(*Credentials) *SCRAMKeys
}

var scramHashes = map[string]scramHash{
	SCRAMSHA1:       {SCRAMSHA1, false, scram.SHA1, sha1.Size, func(c *Credentials) *SCRAMKeys { return c.SHA1 }},
	SCRAMSHA1Plus:   {SCRAMSHA1, true, scram.SHA1, sha1.Size, func(c *Credentials) *SCRAMKeys { return c.SHA1 }},
	SCRAMSHA256:     {SCRAMSHA256, false, scram.SHA256, sha256.Size, func(c *Credentials) *SCRAMKeys { return c.SHA256 }},
	SCRAMSHA256Plus: {SCRAMSHA256, true, scram.SHA256, sha256.Size, func(c *Credentials) *SCRAMKeys { return c.SHA256 }},
	SCRAMSHA512:     {SCRAMSHA512, false, scram.SHA512, sha512.Size, func(c *Credentials) *SCRAMKeys { return c.SHA512 }},
	SCRAMSHA512Plus: {SCRAMSHA512, true, scram.SHA512, sha512.Size, func(c *Credentials) *SCRAMKeys { return c.SHA512 }},
}

// scramServer is the server side of SCRAM (RFC 5802, RFC 7677). It checks
// the syntax of each client message and the channel-binding rules itself,
// and leaves nonces, proof verification and the server signature to
// xdg-go/scram.
type scramServer struct {
	h        scramHash
	cfg      ServerConfig
	nonceGen scram.NonceGeneratorFcn // nil: the library's default; set by tests

	state    int // 0: start, 1: challenged, 2: sent server-first, 3: over
	conv     *scram.ServerConversation
	nonce    string // the combined nonce sent in server-first
	username string
	authzid  string
}

func newSCRAMServer(h scramHash, cfg ServerConfig) *scramServer {
	return &scramServer{h: h, cfg: cfg}
}

func (s *scramServer) Username() string {
	if s.state != 3 || s.conv == nil || !s.conv.Valid() {
		return ""
	}
	return s.username
}

func (s *scramServer) Authzid() string {
	if s.state != 3 || s.conv == nil || !s.conv.Valid() {
		return ""
	}
	return s.authzid
}

func (s *scramServer) Step(ctx context.Context, in []byte) ([]byte, bool, error) {
	switch s.state {
	case 0:
		if in == nil {
			s.state = 1
			return []byte{}, false, nil
		}
		fallthrough
	case 1:
		out, f := s.first(ctx, in)
		if f != nil {
			s.state = 3
			return nil, true, f
		}
		s.state = 2
		return out, false, nil
	case 2:
		s.state = 3
		out, f := s.final(in)
		if f != nil {
			return nil, true, f
		}
		return out, true, nil
	default:
		return nil, true, malformed("exchange already finished")
	}
}

func (s *scramServer) first(ctx context.Context, in []byte) ([]byte, *Failure) {
	m, f := parseClientFirst(in)
	if f != nil {
		return nil, f
	}
	user, ok := prepName(m.username)
	if !ok {
		return nil, malformed("username rejected by SASLprep")
	}

	// Channel binding (RFC 5802 §6): -PLUS needs "p" with a type we have;
	// the bare mechanisms must not use "p", and "y" means the client saw
	// no -PLUS offer although we made one.
	var cb scram.ChannelBinding
	switch {
	case s.h.plus && m.flag != "p":
		return nil, fail(NotAuthorized, "channel binding required by this mechanism")
	case !s.h.plus && m.flag == "p":
		return nil, fail(NotAuthorized, "channel binding not allowed with this mechanism")
	case m.flag == "y" && hasBindings(s.cfg.ChannelBindings) && !s.cfg.AfterUnavailableBinding:
		return nil, fail(NotAuthorized, "channel binding downgrade detected")
	case m.flag == "p":
		data := s.cfg.ChannelBindings[m.cbType]
		if len(data) == 0 || !isKnownCB(m.cbType) {
			return nil, &Failure{Condition: NotAuthorized, Text: "channel binding type not supported", Err: ErrChannelBindingType}
		}
		cb = scram.ChannelBinding{Type: scram.ChannelBindingType(m.cbType), Data: data}
	}

	creds, found, lf := s.cfg.lookup(ctx, user)
	if lf != nil {
		return nil, lf
	}
	keys := s.h.keys(&creds)
	if found && keys != nil && !validKeys(keys, s.h.size) {
		return nil, &Failure{Condition: TemporaryAuthFailure, Err: errors.New("sasl: stored SCRAM keys are invalid")}
	}
	if !found || keys == nil {
		keys = fakeKeys(s.cfg.Secret, s.h.base, user, s.cfg.Iterations, s.h.size)
	}
	srv, err := s.h.gen.NewServer(func(string) (scram.StoredCredentials, error) {
		return scram.StoredCredentials{
			KeyFactors: scram.KeyFactors{Salt: string(keys.Salt), Iters: keys.Iterations},
			StoredKey:  keys.StoredKey,
			ServerKey:  keys.ServerKey,
		}, nil
	})
	if err != nil {
		return nil, &Failure{Condition: TemporaryAuthFailure, Err: err}
	}
	if s.nonceGen != nil {
		srv = srv.WithNonceGenerator(s.nonceGen)
	}
	if cb.IsSupported() {
		s.conv = srv.NewConversationWithChannelBinding(cb)
	} else {
		s.conv = srv.NewConversation()
	}
	out, err := s.conv.Step(string(in))
	if err != nil {
		// The message passed our own parser, so the library should
		// accept it; if it does not, the message is still at fault.
		return nil, malformed("invalid client-first-message")
	}
	s.nonce = strings.TrimPrefix(out[:strings.IndexByte(out, ',')], "r=")
	s.username, s.authzid = user, m.authzid
	return []byte(out), nil
}

func (s *scramServer) final(in []byte) ([]byte, *Failure) {
	m, f := parseClientFinal(in, s.h.size)
	if f != nil {
		return nil, f
	}
	if m.nonce != s.nonce {
		return nil, notAuthorized()
	}
	out, err := s.conv.Step(string(in))
	switch {
	case err == nil && s.conv.Valid():
		return []byte(out), nil
	case out == scram.ErrChannelBindingsDontMatch:
		return nil, fail(NotAuthorized, "channel binding mismatch")
	case out == scram.ErrInvalidProof:
		return nil, notAuthorized()
	default:
		return nil, malformed("invalid client-final-message")
	}
}

// clientFirst is what the server needs from a client-first-message.
type clientFirst struct {
	flag     string // "n", "y" or "p"
	cbType   string
	authzid  string
	username string // decoded, not prepared
}

// parseClientFirst checks a client-first-message against the grammar of
// RFC 5802 §7.
func parseClientFirst(in []byte) (clientFirst, *Failure) {
	var m clientFirst
	if len(in) > maxMessage {
		return m, malformed("message too long")
	}
	if !utf8.Valid(in) {
		return m, malformed("invalid UTF-8")
	}
	parts := strings.SplitN(string(in), ",", 3)
	if len(parts) != 3 {
		return m, malformed("invalid GS2 header")
	}
	switch flag := parts[0]; {
	case flag == "n" || flag == "y":
		m.flag = flag
	case strings.HasPrefix(flag, "p=") && isCBName(flag[2:]):
		m.flag, m.cbType = "p", flag[2:]
	default:
		return m, malformed("invalid channel-binding flag")
	}
	if a := parts[1]; a != "" {
		name, ok := decodeSASLName(strings.TrimPrefix(a, "a="))
		if !strings.HasPrefix(a, "a=") || !ok {
			return m, malformed("invalid authzid")
		}
		m.authzid = name
	}
	attrs := strings.Split(parts[2], ",")
	if strings.HasPrefix(attrs[0], "m=") {
		return m, malformed("mandatory extensions are not supported")
	}
	if len(attrs) < 2 || !strings.HasPrefix(attrs[0], "n=") || !strings.HasPrefix(attrs[1], "r=") {
		return m, malformed("expected username and nonce")
	}
	name, ok := decodeSASLName(attrs[0][2:])
	if !ok {
		return m, malformed("invalid username")
	}
	m.username = name
	if !isNonce(attrs[1][2:]) {
		return m, malformed("invalid nonce")
	}
	for _, ext := range attrs[2:] {
		if !isExtension(ext) {
			return m, malformed("invalid extension")
		}
	}
	return m, nil
}

// clientFinal is what the server checks itself in a client-final-message.
type clientFinal struct {
	nonce string
}

// parseClientFinal checks a client-final-message against the grammar of
// RFC 5802 §7; the proof must be as long as the hash.
func parseClientFinal(in []byte, size int) (clientFinal, *Failure) {
	var m clientFinal
	if len(in) > maxMessage {
		return m, malformed("message too long")
	}
	if !utf8.Valid(in) {
		return m, malformed("invalid UTF-8")
	}
	attrs := strings.Split(string(in), ",")
	if len(attrs) < 3 || !strings.HasPrefix(attrs[0], "c=") || !strings.HasPrefix(attrs[1], "r=") {
		return m, malformed("expected channel binding, nonce and proof")
	}
	if _, ok := decodeBase64(attrs[0][2:]); !ok || len(attrs[0]) == 2 {
		return m, malformed("invalid channel-binding attribute")
	}
	m.nonce = attrs[1][2:]
	if !isNonce(m.nonce) {
		return m, malformed("invalid nonce")
	}
	last := len(attrs) - 1
	for _, ext := range attrs[2:last] {
		if !isExtension(ext) {
			return m, malformed("invalid extension")
		}
	}
	if !strings.HasPrefix(attrs[last], "p=") {
		return m, malformed("expected proof last")
	}
	if proof, ok := decodeBase64(attrs[last][2:]); !ok || len(proof) != size {
		return m, malformed("invalid proof")
	}
	return m, nil
}

// decodeSASLName decodes a saslname (RFC 5802 §7): non-empty, no NUL, "=" only
// in "=2C" and "=3D".
func decodeSASLName(s string) (string, bool) {
	if s == "" {
		return "", false
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case 0, ',':
			return "", false
		case '=':
			switch {
			case strings.HasPrefix(s[i:], "=2C"):
				b.WriteByte(',')
			case strings.HasPrefix(s[i:], "=3D"):
				b.WriteByte('=')
			default:
				return "", false
			}
			i += 2
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), true
}

// encodeSASLName is the inverse of decodeSASLName.
func encodeSASLName(s string) string {
	return strings.NewReplacer("=", "=3D", ",", "=2C").Replace(s)
}

// isNonce reports whether s is a valid nonce: non-empty printable ASCII
// without ",".
func isNonce(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e || c == ',' {
			return false
		}
	}
	return true
}

// isCBName reports whether s is a valid cb-name (RFC 5802 §7).
func isCBName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAlpha(c) && !(c >= '0' && c <= '9') && c != '.' && c != '-' {
			return false
		}
	}
	return true
}

// isExtension reports whether s is an attr-val: ALPHA "=" 1*value-char.
func isExtension(s string) bool {
	return len(s) > 2 && isAlpha(s[0]) && s[1] == '=' && strings.IndexByte(s, 0) < 0
}

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// decodeBase64 decodes padded standard base64 in its one canonical form:
// no line breaks (which the standard decoder would skip) and no set bits
// in the padding, so that only the exact proof is accepted, not another
// spelling of it.
func decodeBase64(s string) ([]byte, bool) {
	if strings.ContainsAny(s, "\r\n") {
		return nil, false
	}
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	return b, err == nil
}

// scramClient is the client side of SCRAM, wrapping an xdg-go/scram client
// conversation.
type scramClient struct {
	h        scramHash
	conv     *scram.ClientConversation
	nonce    string // the client nonce, to check server-first
	state    int    // 0: start, 1: sent client-first, 2: sent client-final, 3: verified
	minIters int
}

// The iteration counts the client accepts: RFC 7677 §4 asks for at least
// 4096, and the upper bound keeps a hostile server from making the client
// hash for minutes.
const (
	minIterations = 4096
	maxIterations = 10_000_000
)

// clients keeps one scram.Client per account and password, because a
// scram.Client remembers the keys it derived for each salt and iteration
// count: logging in again with the same password costs no PBKDF2 on the
// client side (load generators, reconnecting clients). Only derived keys
// and the prepared password are kept, as the scram.Client itself does; the
// cache is bounded and starts afresh when full.
var clients struct {
	sync.Mutex
	m map[clientKey]*scram.Client
}

type clientKey struct {
	mech, user, authzid string
	pw                  [sha256.Size]byte
}

// maxCachedClients bounds clients.m.
const maxCachedClients = 1024

func cachedClient(h scramHash, user, pw, authzid string) (*scram.Client, error) {
	k := clientKey{mech: h.base, user: user, authzid: authzid, pw: sha256.Sum256([]byte(pw))}
	clients.Lock()
	defer clients.Unlock()
	if c := clients.m[k]; c != nil {
		return c, nil
	}
	c, err := h.gen.NewClientUnprepped(user, pw, authzid)
	if err != nil {
		return nil, err
	}
	c = c.WithMinIterations(minIterations).WithNonceGenerator(randomNonce)
	if clients.m == nil || len(clients.m) >= maxCachedClients {
		clients.m = map[clientKey]*scram.Client{}
	}
	clients.m[k] = c
	return c, nil
}

func newSCRAMClient(mech string, cfg ClientConfig, nonceGen scram.NonceGeneratorFcn) (*scramClient, error) {
	h := scramHashes[mech]
	user, ok := prepName(cfg.Username)
	if !ok {
		return nil, errors.New("sasl: username rejected by SASLprep")
	}
	pw, err := prepPassword(cfg.Password)
	if err != nil {
		return nil, err
	}
	// The authzid is a JID, prepared by its own rules; send it as it is.
	if !utf8.ValidString(cfg.Authzid) || strings.IndexByte(cfg.Authzid, 0) >= 0 {
		return nil, errors.New("sasl: authzid must be UTF-8 without NUL")
	}
	var c *scram.Client
	if nonceGen == nil {
		c, err = cachedClient(h, user, pw, cfg.Authzid)
	} else {
		c, err = h.gen.NewClientUnprepped(user, pw, cfg.Authzid)
		if err == nil {
			c = c.WithMinIterations(minIterations).WithNonceGenerator(nonceGen)
		}
	}
	if err != nil {
		return nil, err
	}
	sc := &scramClient{h: h, minIters: minIterations}
	switch {
	case h.plus:
		cb, ok := pickBinding(cfg.ChannelBindings)
		if !ok {
			return nil, errors.New("sasl: " + mech + " needs channel-binding data")
		}
		sc.conv = c.NewConversationWithChannelBinding(cb)
	case hasBindings(cfg.ChannelBindings) && !cfg.ServerSupportsPlus:
		// We could bind but the server offered no -PLUS: say so ("y"),
		// so that a server which did offer it detects the downgrade.
		sc.conv = c.NewConversationAdvertisingChannelBinding()
	default:
		sc.conv = c.NewConversation()
	}
	return sc, nil
}

// pickBinding returns the best channel binding available.
func pickBinding(m map[string][]byte) (scram.ChannelBinding, bool) {
	for _, t := range cbPreference {
		if d := m[t]; len(d) > 0 {
			return scram.ChannelBinding{Type: scram.ChannelBindingType(t), Data: d}, true
		}
	}
	return scram.ChannelBinding{}, false
}

func (c *scramClient) Step(challenge []byte) ([]byte, error) {
	switch c.state {
	case 0:
		if len(challenge) != 0 {
			return nil, errors.New("sasl: unexpected SCRAM challenge before client-first-message")
		}
		out, err := c.conv.Step("")
		if err != nil {
			return nil, errors.New("sasl: cannot build SCRAM client-first-message")
		}
		// The nonce follows ",r=" (names are escaped, so it is the
		// first such attribute), up to an extension or the end.
		_, nonce, _ := strings.Cut(out, ",r=")
		c.nonce, _, _ = strings.Cut(nonce, ",")
		c.state = 1
		return []byte(out), nil
	case 1:
		if err := c.checkServerFirst(string(challenge)); err != nil {
			c.state = 4
			return nil, err
		}
		out, err := c.conv.Step(string(challenge))
		if err != nil {
			c.state = 4
			return nil, errors.New("sasl: invalid SCRAM server-first-message")
		}
		c.state = 2
		return []byte(out), nil
	case 2:
		// The server-final-message arrived as a challenge rather than
		// with <success/>; verify it now and answer with an empty
		// response.
		if err := c.verifyFinal(challenge); err != nil {
			return nil, err
		}
		return []byte{}, nil
	default:
		return nil, errors.New("sasl: unexpected SCRAM challenge")
	}
}

// checkServerFirst checks the server-first-message so that the library only
// sees messages it will accept, and errors never quote the message.
func (c *scramClient) checkServerFirst(s string) error {
	if strings.HasPrefix(s, "m=") {
		return errors.New("sasl: SCRAM server requires an unsupported extension")
	}
	attrs := strings.Split(s, ",")
	if len(attrs) < 3 || !strings.HasPrefix(attrs[0], "r=") || !strings.HasPrefix(attrs[1], "s=") || !strings.HasPrefix(attrs[2], "i=") {
		return errors.New("sasl: malformed SCRAM server-first-message")
	}
	nonce := attrs[0][2:]
	if !isNonce(nonce) || !strings.HasPrefix(nonce, c.nonce) || len(nonce) == len(c.nonce) {
		return errors.New("sasl: SCRAM server nonce does not extend ours")
	}
	if salt, ok := decodeBase64(attrs[1][2:]); !ok || len(salt) == 0 {
		return errors.New("sasl: malformed SCRAM salt")
	}
	iters, err := strconv.Atoi(attrs[2][2:])
	if err != nil || iters <= 0 {
		return errors.New("sasl: malformed SCRAM iteration count")
	}
	if iters < c.minIters {
		return errors.New("sasl: SCRAM iteration count too low")
	}
	if iters > maxIterations {
		return errors.New("sasl: SCRAM iteration count too high")
	}
	return nil
}

func (c *scramClient) verifyFinal(s2 []byte) error {
	if c.state != 2 {
		return errors.New("sasl: SCRAM exchange not at server-final-message")
	}
	c.state = 4
	if strings.HasPrefix(string(s2), "e=") {
		return errors.New("sasl: SCRAM server reported an error")
	}
	if _, err := c.conv.Step(string(s2)); err != nil || !c.conv.Valid() {
		return errors.New("sasl: SCRAM server signature invalid")
	}
	c.state = 3
	return nil
}

func (c *scramClient) Verify(success []byte) error {
	switch c.state {
	case 3:
		if len(success) != 0 {
			return errors.New("sasl: unexpected additional data with SCRAM success")
		}
		return nil
	case 2:
		if len(success) == 0 {
			return errors.New("sasl: SCRAM success without server signature")
		}
		return c.verifyFinal(success)
	default:
		return errors.New("sasl: SCRAM success out of order")
	}
}
