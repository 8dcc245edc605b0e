package sasl

import (
	"bytes"
	"context"
	"crypto/pbkdf2"
	"encoding/base64"
	"errors"
	"hash"
	"strings"
	"testing"
)

// scramVector is a complete exchange from an RFC.
type scramVector struct {
	name, mech, user, password, salt64 string
	iters                              int
	clientNonce, serverNonce           string
	c1, s1, c2, s2                     string
}

var scramVectors = []scramVector{
	{
		name: "RFC 5802 §5", mech: SCRAMSHA1, user: "user", password: "pencil",
		salt64: "QSXCR+Q6sek8bf92", iters: 4096,
		clientNonce: "fyko+d2lbbFgONRv9qkxdawL", serverNonce: "3rfcNHYJY1ZVvWVs7j",
		c1: "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
		s1: "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
		c2: "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
		s2: "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=",
	},
	{
		name: "RFC 7677 §3", mech: SCRAMSHA256, user: "user", password: "pencil",
		salt64: "W22ZaJ0SNY7soEsUEjb6gQ==", iters: 4096,
		clientNonce: "rOprNGfwEbeRWgbNEkqO", serverNonce: "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
		c1: "n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
		s1: "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
		c2: "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
		s2: "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
	},
}

// vectorKeys derives the stored keys of a vector.
func (v scramVector) keys(t *testing.T) (*SCRAMKeys, func() hash.Hash) {
	t.Helper()
	h := scramHashes[v.mech]
	salt, err := base64.StdEncoding.DecodeString(v.salt64)
	if err != nil {
		t.Fatal(err)
	}
	stored, server, err := SaltedKeys(h.gen, v.password, salt, v.iters)
	if err != nil {
		t.Fatal(err)
	}
	return &SCRAMKeys{Salt: salt, Iterations: v.iters, StoredKey: stored, ServerKey: server}, h.gen
}

// scramProofs computes ClientProof and ServerSignature from the password
// the long way round (RFC 5802 §3), independently of the package's code.
func scramProofs(gen func() hash.Hash, password string, salt []byte, iters int, authMsg string) (proof, sig []byte) {
	salted, _ := pbkdf2.Key(gen, password, salt, iters, gen().Size())
	clientKey := hmacSum(gen, salted, []byte("Client Key"))
	h := gen()
	h.Write(clientKey)
	storedKey := h.Sum(nil)
	clientSig := hmacSum(gen, storedKey, []byte(authMsg))
	proof = make([]byte, len(clientKey))
	for i := range clientKey {
		proof[i] = clientKey[i] ^ clientSig[i]
	}
	return proof, hmacSum(gen, hmacSum(gen, salted, []byte("Server Key")), []byte(authMsg))
}

func TestSCRAMVectors(t *testing.T) {
	for _, v := range scramVectors {
		t.Run(v.name, func(t *testing.T) {
			keys, gen := v.keys(t)

			t.Run("proofs", func(t *testing.T) {
				c1bare := strings.TrimPrefix(v.c1, "n,,")
				c2wop := v.c2[:strings.LastIndex(v.c2, ",p=")]
				proof, sig := scramProofs(gen, v.password, keys.Salt, v.iters, c1bare+","+v.s1+","+c2wop)
				if got := "p=" + base64.StdEncoding.EncodeToString(proof); !strings.HasSuffix(v.c2, ","+got) {
					t.Errorf("client proof %s, want the one in %s", got, v.c2)
				}
				if got := "v=" + base64.StdEncoding.EncodeToString(sig); got != v.s2 {
					t.Errorf("server signature %s, want %s", got, v.s2)
				}
				// The stored keys agree with the ones derived the long way.
				h := gen()
				salted, _ := pbkdf2.Key(gen, v.password, keys.Salt, v.iters, h.Size())
				h.Write(hmacSum(gen, salted, []byte("Client Key")))
				if !bytes.Equal(h.Sum(nil), keys.StoredKey) {
					t.Error("StoredKey differs")
				}
				if !bytes.Equal(hmacSum(gen, salted, []byte("Server Key")), keys.ServerKey) {
					t.Error("ServerKey differs")
				}
			})

			t.Run("server", func(t *testing.T) {
				cfg := ServerConfig{Lookup: users{"user": {SHA1: keys, SHA256: keys}}.lookup}
				s, err := NewServer(v.mech, cfg)
				if err != nil {
					t.Fatal(err)
				}
				s.(*scramServer).nonceGen = fixedNonce(v.serverNonce)
				ctx := context.Background()
				out, done, err := s.Step(ctx, []byte(v.c1))
				if err != nil || done || string(out) != v.s1 {
					t.Fatalf("server-first = %q, %v, %v; want %q", out, done, err, v.s1)
				}
				out, done, err = s.Step(ctx, []byte(v.c2))
				if err != nil || !done || string(out) != v.s2 {
					t.Fatalf("server-final = %q, %v, %v; want %q", out, done, err, v.s2)
				}
				if s.Username() != "user" || s.Authzid() != "" {
					t.Fatalf("Username, Authzid = %q, %q", s.Username(), s.Authzid())
				}
			})

			t.Run("client", func(t *testing.T) {
				c, err := newSCRAMClient(v.mech, ClientConfig{Username: v.user, Password: v.password}, fixedNonce(v.clientNonce))
				if err != nil {
					t.Fatal(err)
				}
				out, err := c.Step(nil)
				if err != nil || string(out) != v.c1 {
					t.Fatalf("client-first = %q, %v; want %q", out, err, v.c1)
				}
				out, err = c.Step([]byte(v.s1))
				if err != nil || string(out) != v.c2 {
					t.Fatalf("client-final = %q, %v; want %q", out, err, v.c2)
				}
				if err := c.Verify([]byte(v.s2)); err != nil {
					t.Fatalf("Verify: %v", err)
				}
			})

			t.Run("client refuses a forged signature", func(t *testing.T) {
				c, _ := newSCRAMClient(v.mech, ClientConfig{Username: v.user, Password: v.password}, fixedNonce(v.clientNonce))
				c.Step(nil)
				c.Step([]byte(v.s1))
				forged := "v=" + base64.StdEncoding.EncodeToString(make([]byte, gen().Size()))
				if err := c.Verify([]byte(forged)); err == nil {
					t.Fatal("forged server signature accepted")
				}
			})
		})
	}
}

// cbData is channel-binding data for tests that do not need real TLS.
var cbData = map[string][]byte{
	CBTLSExporter:       bytes.Repeat([]byte{0xe1}, 32),
	CBTLSServerEndPoint: bytes.Repeat([]byte{0x5e}, 32),
}

// TestSeed5_1_SCRAMRoundTrips covers feature 5-1 (SASL for stream
// authentication) with every SCRAM mechanism, client against server.
func TestSeed5_1_SCRAMRoundTrips(t *testing.T) {
	only := func(t string) map[string][]byte { return map[string][]byte{t: cbData[t]} }
	for _, mech := range []string{SCRAMSHA1, SCRAMSHA256, SCRAMSHA512, SCRAMSHA1Plus, SCRAMSHA256Plus, SCRAMSHA512Plus} {
		for _, tc := range []struct {
			name      string
			serverCB  map[string][]byte
			clientCB  map[string][]byte
			plusSeen  bool // the client saw -PLUS offered
			user, pw  string
			authzid   string
			wantCond  string // "" for success
			wantText  string
			plainOnly bool // only for non-PLUS mechanisms
			plusOnly  bool
		}{
			{name: "no TLS", user: "juliet", pw: "r0m30myr0m30", plainOnly: true},
			{name: "non-ASCII password", user: "romeo", pw: "déjà vu", plainOnly: true},
			{name: "password prepared", user: "romeo", pw: "de\u0301ja\u0300 vu", plainOnly: true},
			{name: "authzid", user: "juliet", pw: "r0m30myr0m30", authzid: "juliet@example.test/balcony"},
			{name: "wrong password", user: "juliet", pw: "wrong", wantCond: NotAuthorized},
			{name: "unknown user", user: "nurse", pw: "r0m30myr0m30", wantCond: NotAuthorized},
			{name: "exporter", serverCB: cbData, clientCB: only(CBTLSExporter), plusSeen: true, user: "juliet", pw: "r0m30myr0m30", plusOnly: true},
			{name: "server-end-point", serverCB: cbData, clientCB: only(CBTLSServerEndPoint), plusSeen: true, user: "juliet", pw: "r0m30myr0m30", plusOnly: true},
			{name: "both, exporter preferred", serverCB: only(CBTLSExporter), clientCB: cbData, plusSeen: true, user: "juliet", pw: "r0m30myr0m30", plusOnly: true},
			{name: "binding mismatch", serverCB: cbData, clientCB: map[string][]byte{CBTLSExporter: make([]byte, 32)}, plusSeen: true, user: "juliet", pw: "r0m30myr0m30", wantCond: NotAuthorized, wantText: "channel binding mismatch", plusOnly: true},
			{name: "binding type unsupported", serverCB: only(CBTLSServerEndPoint), clientCB: only(CBTLSExporter), plusSeen: true, user: "juliet", pw: "r0m30myr0m30", wantCond: NotAuthorized, wantText: "channel binding type not supported", plusOnly: true},
			{name: "binding with wrong password", serverCB: cbData, clientCB: cbData, plusSeen: true, user: "juliet", pw: "wrong", wantCond: NotAuthorized, plusOnly: true},
			{name: "client without binding on TLS", serverCB: cbData, plusSeen: true, user: "juliet", pw: "r0m30myr0m30", plainOnly: true},
			{name: "client could bind, chose not to", serverCB: cbData, clientCB: cbData, plusSeen: true, user: "juliet", pw: "r0m30myr0m30", plainOnly: true},
			{name: "y flag, no plus offered", clientCB: cbData, user: "juliet", pw: "r0m30myr0m30", plainOnly: true},
			{name: "downgrade", serverCB: cbData, clientCB: cbData, plusSeen: false, user: "juliet", pw: "r0m30myr0m30", wantCond: NotAuthorized, wantText: "channel binding downgrade detected", plainOnly: true},
		} {
			if tc.plainOnly && IsPlus(mech) || tc.plusOnly && !IsPlus(mech) {
				continue
			}
			if IsPlus(mech) && tc.serverCB == nil {
				tc.serverCB, tc.clientCB, tc.plusSeen = cbData, cbData, true
			}
			t.Run(mech+"/"+tc.name, func(t *testing.T) {
				scfg := testServerConfig(t)
				scfg.ChannelBindings = tc.serverCB
				s, serr, cerr := roundTrip(t, mech, scfg, ClientConfig{
					Username: tc.user, Password: tc.pw, Authzid: tc.authzid,
					ChannelBindings: tc.clientCB, ServerSupportsPlus: tc.plusSeen,
				})
				if tc.wantCond == "" {
					if serr != nil || cerr != nil {
						t.Fatalf("server error %v, client error %v", serr, cerr)
					}
					if s.Username() != tc.user || s.Authzid() != tc.authzid {
						t.Fatalf("Username, Authzid = %q, %q; want %q, %q", s.Username(), s.Authzid(), tc.user, tc.authzid)
					}
					return
				}
				if cerr != nil {
					t.Fatalf("client error %v", cerr)
				}
				f := wantFailure(t, serr, tc.wantCond)
				if f.Text != tc.wantText {
					t.Fatalf("text %q, want %q", f.Text, tc.wantText)
				}
				if s.Username() != "" || s.Authzid() != "" {
					t.Fatal("identity set after failure")
				}
			})
		}
	}
}

// TestSCRAMUnknownUser checks that an unknown user looks exactly like a known
// one with a wrong password: stable salts per user and hash, the configured
// iteration count, and the same failure.
func TestSCRAMUnknownUser(t *testing.T) {
	first := func(mech, user string, cfg ServerConfig) string {
		s, _ := NewServer(mech, cfg)
		s.(*scramServer).nonceGen = fixedNonce("srv")
		out, _, err := s.Step(context.Background(), []byte("n,,n="+user+",r=cli"))
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	cfg := testServerConfig(t)
	for _, mech := range []string{SCRAMSHA1, SCRAMSHA256, SCRAMSHA512} {
		a, b := first(mech, "nurse", cfg), first(mech, "nurse", cfg)
		if a != b {
			t.Errorf("%s: fake salt changes between exchanges: %q, %q", mech, a, b)
		}
		if !strings.HasSuffix(a, ",i=4096") {
			t.Errorf("%s: %q does not show the configured iteration count", mech, a)
		}
		if first(mech, "tybalt", cfg) == a {
			t.Errorf("%s: two unknown users share a salt", mech)
		}
		salt := func(s1 string) string { return strings.Split(s1, ",")[1] }
		if len(salt(a)) != len(salt(first(mech, "juliet", cfg))) {
			t.Errorf("%s: fake salt has another length than a real one", mech)
		}
		other := cfg
		other.Secret = []byte("another secret")
		if first(mech, "nurse", other) == a {
			t.Errorf("%s: fake salt does not depend on the secret", mech)
		}
	}
	if first(SCRAMSHA1, "nurse", cfg) == first(SCRAMSHA256, "nurse", cfg) {
		t.Error("an unknown user has the same salt for two hashes; real users never do")
	}

	// Same condition, text and error for wrong password and unknown user.
	_, wrong, _ := roundTrip(t, SCRAMSHA256, cfg, ClientConfig{Username: "juliet", Password: "wrong"})
	_, unknown, _ := roundTrip(t, SCRAMSHA256, cfg, ClientConfig{Username: "nurse", Password: "wrong"})
	fw, fu := wantFailure(t, wrong, NotAuthorized), wantFailure(t, unknown, NotAuthorized)
	if *fw != *fu {
		t.Fatalf("wrong password %#v, unknown user %#v", fw, fu)
	}

	// Without a secret the fake salts still hold for the process.
	cfg.Secret = nil
	if first(SCRAMSHA256, "nurse", cfg) != first(SCRAMSHA256, "nurse", cfg) {
		t.Error("fake salt changes without a configured secret")
	}
}

func TestSCRAMNoInitialResponse(t *testing.T) {
	s, _ := NewServer(SCRAMSHA256, testServerConfig(t))
	c, _ := NewClient(SCRAMSHA256, ClientConfig{Username: "juliet", Password: "r0m30myr0m30"})
	ctx := context.Background()
	out, done, err := s.Step(ctx, nil)
	if err != nil || done || out == nil || len(out) != 0 {
		t.Fatalf("Step(nil) = %q, %v, %v; want an empty challenge", out, done, err)
	}
	c1, _ := c.Step(nil)
	s1, _, err := s.Step(ctx, c1)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := c.Step(s1)
	if err != nil {
		t.Fatal(err)
	}
	s2, done, err := s.Step(ctx, c2)
	if err != nil || !done {
		t.Fatalf("final = %v, %v", done, err)
	}
	if err := c.Verify(s2); err != nil {
		t.Fatal(err)
	}
}

// TestSCRAMServerFinalAsChallenge covers servers that send the
// server-final-message in a challenge and then an empty <success/>.
func TestSCRAMServerFinalAsChallenge(t *testing.T) {
	s, _ := NewServer(SCRAMSHA1, testServerConfig(t))
	c, _ := NewClient(SCRAMSHA1, ClientConfig{Username: "juliet", Password: "r0m30myr0m30"})
	ctx := context.Background()
	c1, _ := c.Step(nil)
	s1, _, _ := s.Step(ctx, c1)
	c2, _ := c.Step(s1)
	s2, _, err := s.Step(ctx, c2)
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.Step(s2)
	if err != nil || len(out) != 0 {
		t.Fatalf("Step(server-final) = %q, %v", out, err)
	}
	if err := c.Verify(nil); err != nil {
		t.Fatal(err)
	}
}

func TestSCRAMClientRefuses(t *testing.T) {
	start := func(t *testing.T) *scramClient {
		c, err := newSCRAMClient(SCRAMSHA256, ClientConfig{Username: "user", Password: "pencil"}, fixedNonce("abc"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Step(nil); err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, tc := range []struct{ name, s1 string }{
		{"empty", ""},
		{"nonce not extended", "r=abc,s=QSXCR+Q6sek8bf92,i=4096"},
		{"other nonce", "r=xyzdef,s=QSXCR+Q6sek8bf92,i=4096"},
		{"too few iterations", "r=abcdef,s=QSXCR+Q6sek8bf92,i=4095"},
		{"bad iteration count", "r=abcdef,s=QSXCR+Q6sek8bf92,i=x"},
		{"too many iterations", "r=abcdef,s=QSXCR+Q6sek8bf92,i=10000001"},
		{"iteration count overflows", "r=abcdef,s=QSXCR+Q6sek8bf92,i=99999999999999999999"},
		{"bad salt", "r=abcdef,s=!!!,i=4096"},
		{"empty salt", "r=abcdef,s=,i=4096"},
		{"mandatory extension", "m=ext,r=abcdef,s=QSXCR+Q6sek8bf92,i=4096"},
		{"fields swapped", "s=QSXCR+Q6sek8bf92,r=abcdef,i=4096"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := start(t).Step([]byte(tc.s1)); err == nil {
				t.Fatal("accepted")
			} else if strings.Contains(err.Error(), "QSXCR") {
				t.Fatalf("error %q quotes the message", err)
			}
		})
	}
	t.Run("success too early", func(t *testing.T) {
		if err := start(t).Verify(nil); err == nil {
			t.Fatal("accepted")
		}
	})
	t.Run("empty success", func(t *testing.T) {
		c := start(t)
		if _, err := c.Step([]byte("r=abcdef,s=QSXCR+Q6sek8bf92,i=4096")); err != nil {
			t.Fatal(err)
		}
		if err := c.Verify(nil); err == nil {
			t.Fatal("accepted")
		}
	})
	t.Run("server error", func(t *testing.T) {
		c := start(t)
		c.Step([]byte("r=abcdef,s=QSXCR+Q6sek8bf92,i=4096"))
		if err := c.Verify([]byte("e=invalid-proof")); err == nil {
			t.Fatal("accepted")
		}
	})
	t.Run("plus without binding", func(t *testing.T) {
		if _, err := NewClient(SCRAMSHA256Plus, ClientConfig{Username: "user", Password: "pencil"}); err == nil {
			t.Fatal("accepted")
		}
	})
	t.Run("password rejected by SASLprep", func(t *testing.T) {
		_, err := NewClient(SCRAMSHA256, ClientConfig{Username: "user", Password: "bad\u0007pw"})
		if err == nil || strings.Contains(err.Error(), "bad") {
			t.Fatalf("error %v", err)
		}
	})
}

// TestSCRAMFlags checks the GS2 header the client sends.
func TestSCRAMFlags(t *testing.T) {
	for _, tc := range []struct {
		name, mech string
		cb         map[string][]byte
		plusSeen   bool
		authzid    string
		want       string
	}{
		{"no binding", SCRAMSHA256, nil, false, "", "n,,"},
		{"no binding, plus seen", SCRAMSHA256, nil, true, "", "n,,"},
		{"binding, no plus seen", SCRAMSHA256, cbData, false, "", "y,,"},
		{"binding, plus seen, bare chosen", SCRAMSHA256, cbData, true, "", "n,,"},
		{"plus, exporter", SCRAMSHA256Plus, cbData, true, "", "p=tls-exporter,,"},
		{"plus, end-point", SCRAMSHA256Plus, map[string][]byte{CBTLSServerEndPoint: {1}}, true, "", "p=tls-server-end-point,,"},
		{"authzid escaped", SCRAMSHA1, nil, false, "a=b,c", "n,a=a=3Db=2Cc,"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewClient(tc.mech, ClientConfig{Username: "u", Password: "p", Authzid: tc.authzid, ChannelBindings: tc.cb, ServerSupportsPlus: tc.plusSeen})
			if err != nil {
				t.Fatal(err)
			}
			out, _ := c.Step(nil)
			if !strings.HasPrefix(string(out), tc.want+"n=u,r=") {
				t.Fatalf("client-first %q, want GS2 header %q", out, tc.want)
			}
		})
	}
}

func TestSCRAMMalformed(t *testing.T) {
	const c1 = "n,,n=user,r=cli"
	good2 := func(size int) string {
		return "c=biws,r=clisrv,p=" + base64.StdEncoding.EncodeToString(make([]byte, size))
	}
	for _, tc := range []struct {
		name   string
		mech   string
		first  []byte // nil: c1
		final  string // used if first passes
		cond   string
		cbOnly bool // run with channel bindings configured
	}{
		{name: "empty initial response", first: []byte{}, cond: MalformedRequest},
		{name: "garbage", first: []byte("garbage"), cond: MalformedRequest},
		{name: "bad flag", first: []byte("x,,n=user,r=cli"), cond: MalformedRequest},
		{name: "empty cb name", first: []byte("p=,,n=user,r=cli"), cond: MalformedRequest},
		{name: "bad cb name", first: []byte("p=tls_exporter,,n=user,r=cli"), cond: MalformedRequest},
		{name: "authzid without a=", first: []byte("n,juliet,n=user,r=cli"), cond: MalformedRequest},
		{name: "empty authzid", first: []byte("n,a=,n=user,r=cli"), cond: MalformedRequest},
		{name: "bad authzid escape", first: []byte("n,a=x=2D,n=user,r=cli"), cond: MalformedRequest},
		{name: "no username", first: []byte("n,,r=cli"), cond: MalformedRequest},
		{name: "empty username", first: []byte("n,,n=,r=cli"), cond: MalformedRequest},
		{name: "bad username escape", first: []byte("n,,n=us=er,r=cli"), cond: MalformedRequest},
		{name: "username prohibited", first: []byte("n,,n=us\u0007er,r=cli"), cond: MalformedRequest},
		{name: "username mapped to nothing", first: []byte("n,,n=\u00ad,r=cli"), cond: MalformedRequest},
		{name: "invalid UTF-8", first: []byte("n,,n=\xff,r=cli"), cond: MalformedRequest},
		{name: "no nonce", first: []byte("n,,n=user"), cond: MalformedRequest},
		{name: "empty nonce", first: []byte("n,,n=user,r="), cond: MalformedRequest},
		{name: "nonce with space", first: []byte("n,,n=user,r=a b"), cond: MalformedRequest},
		{name: "nonce before username", first: []byte("n,,r=cli,n=user"), cond: MalformedRequest},
		{name: "mandatory extension", first: []byte("n,,m=x,n=user,r=cli"), cond: MalformedRequest},
		{name: "bad extension", first: []byte("n,,n=user,r=cli,1=x"), cond: MalformedRequest},
		{name: "too long", first: []byte("n,,n=user,r=" + strings.Repeat("a", maxMessage)), cond: MalformedRequest},
		{name: "final empty", final: "", cond: MalformedRequest},
		{name: "final garbage", final: "garbage", cond: MalformedRequest},
		{name: "final without proof", final: "c=biws,r=clisrv", cond: MalformedRequest},
		{name: "final proof not last", final: "c=biws,p=" + base64.StdEncoding.EncodeToString(make([]byte, 32)) + ",r=clisrv", cond: MalformedRequest},
		{name: "final bad base64 proof", final: "c=biws,r=clisrv,p=!!", cond: MalformedRequest},
		{name: "final short proof", final: "c=biws,r=clisrv,p=AAAA", cond: MalformedRequest},
		{name: "final bad cbind base64", final: "c=bi\nws,r=clisrv,p=" + base64.StdEncoding.EncodeToString(make([]byte, 32)), cond: MalformedRequest},
		{name: "final empty cbind", final: "c=,r=clisrv,p=" + base64.StdEncoding.EncodeToString(make([]byte, 32)), cond: MalformedRequest},
		{name: "final bad extension", final: "c=biws,r=clisrv,=x,p=" + base64.StdEncoding.EncodeToString(make([]byte, 32)), cond: MalformedRequest},
		{name: "final invalid UTF-8", final: "c=biws,r=clisrv,x=\xff,p=" + base64.StdEncoding.EncodeToString(make([]byte, 32)), cond: MalformedRequest},
		{name: "final wrong nonce", final: "c=biws,r=cliXXX,p=" + base64.StdEncoding.EncodeToString(make([]byte, 32)), cond: NotAuthorized},
		{name: "final wrong proof", final: good2(32), cond: NotAuthorized},
		{name: "final cbind changes the header", final: "c=eSws,r=clisrv,p=" + base64.StdEncoding.EncodeToString(make([]byte, 32)), cond: NotAuthorized},
		{name: "p flag with bare mechanism", first: []byte("p=tls-exporter,,n=user,r=cli"), cond: NotAuthorized, cbOnly: true},
		{name: "n flag with plus", mech: SCRAMSHA256Plus, first: []byte(c1), cond: NotAuthorized, cbOnly: true},
		{name: "y flag with plus", mech: SCRAMSHA256Plus, first: []byte("y,,n=user,r=cli"), cond: NotAuthorized, cbOnly: true},
		{name: "unknown cb type", mech: SCRAMSHA256Plus, first: []byte("p=tls-unique,,n=user,r=cli"), cond: NotAuthorized, cbOnly: true},
		{name: "p flag without TLS", first: []byte("p=tls-exporter,,n=user,r=cli"), cond: NotAuthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mech := tc.mech
			if mech == "" {
				mech = SCRAMSHA256
			}
			cfg := ServerConfig{Lookup: users{}.lookup, Iterations: testIters}
			if tc.cbOnly {
				cfg.ChannelBindings = cbData
			}
			s, err := NewServer(mech, cfg)
			if err != nil {
				t.Fatal(err)
			}
			s.(*scramServer).nonceGen = fixedNonce("srv")
			ctx := context.Background()
			first := tc.first
			if first == nil {
				first = []byte(c1)
			}
			out, done, err := s.Step(ctx, first)
			if err == nil {
				if done {
					t.Fatal("done without error after client-first")
				}
				if !strings.HasPrefix(string(out), "r=clisrv,") {
					t.Fatalf("server-first %q", out)
				}
				out, done, err = s.Step(ctx, []byte(tc.final))
			}
			if !done {
				t.Fatal("failure without done")
			}
			wantFailure(t, err, tc.cond)
			if out != nil {
				t.Fatalf("output %q with failure", out)
			}
			// Any further step is out of order.
			_, done, err = s.Step(ctx, []byte(c1))
			if !done {
				t.Fatal("step after failure not done")
			}
			wantFailure(t, err, MalformedRequest)
		})
	}
}

func TestSCRAMOutOfOrder(t *testing.T) {
	cfg := testServerConfig(t)
	s, _ := NewServer(SCRAMSHA256, cfg)
	c, _ := NewClient(SCRAMSHA256, ClientConfig{Username: "juliet", Password: "r0m30myr0m30"})
	if serr, cerr := exchange(c, s); serr != nil || cerr != nil {
		t.Fatal(serr, cerr)
	}
	_, done, err := s.Step(context.Background(), []byte("n,,n=juliet,r=x"))
	if !done {
		t.Fatal("extra step not done")
	}
	wantFailure(t, err, MalformedRequest)
	if s.Username() != "juliet" {
		t.Fatal("identity lost after an extra step")
	}
}

func TestSCRAMLookupErrors(t *testing.T) {
	storeDown := errors.New("store down")
	for _, tc := range []struct {
		name   string
		lookup Lookup
		cond   string
	}{
		{"store error", func(context.Context, string) (Credentials, error) { return Credentials{}, storeDown }, TemporaryAuthFailure},
		{"wrapped no such user", func(context.Context, string) (Credentials, error) { return Credentials{}, errors.Join(ErrNoSuchUser) }, NotAuthorized},
		{"invalid stored keys", func(context.Context, string) (Credentials, error) {
			return Credentials{SHA256: &SCRAMKeys{Salt: []byte{1}, Iterations: 1, StoredKey: []byte{1}, ServerKey: []byte{1}}}, nil
		}, TemporaryAuthFailure},
		{"no keys for this hash", func(context.Context, string) (Credentials, error) {
			return Credentials{SHA1: testUsers(t)["juliet"].SHA1}, nil
		}, NotAuthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err, _ := roundTrip(t, SCRAMSHA256, ServerConfig{Lookup: tc.lookup}, ClientConfig{Username: "juliet", Password: "r0m30myr0m30"})
			f := wantFailure(t, err, tc.cond)
			if tc.cond == TemporaryAuthFailure && tc.name == "store error" && !errors.Is(f, storeDown) {
				t.Fatal("cause not wrapped")
			}
		})
	}
}

// tls-unique (RFC 5929 §3) works where the connection can provide it (TLS
// 1.2); asking for a type the connection lacks fails with
// ErrChannelBindingType, which callers do not count as a login attempt.
func TestSCRAMTLSUnique(t *testing.T) {
	unique := map[string][]byte{CBTLSUnique: []byte("finished-message")}
	scfg := testServerConfig(t)
	scfg.ChannelBindings = unique
	if _, serr, cerr := roundTrip(t, SCRAMSHA256Plus, scfg, ClientConfig{Username: "juliet", Password: "r0m30myr0m30", ChannelBindings: unique, ServerSupportsPlus: true}); serr != nil || cerr != nil {
		t.Fatalf("tls-unique: server %v, client %v", serr, cerr)
	}
	// The server has only tls-exporter (TLS 1.3); the client insists on
	// tls-unique.
	scfg.ChannelBindings = map[string][]byte{CBTLSExporter: []byte("exported")}
	_, serr, _ := roundTrip(t, SCRAMSHA256Plus, scfg, ClientConfig{Username: "juliet", Password: "r0m30myr0m30", ChannelBindings: unique, ServerSupportsPlus: true})
	f := wantFailure(t, serr, NotAuthorized)
	if !errors.Is(f, ErrChannelBindingType) {
		t.Errorf("failure %v does not wrap ErrChannelBindingType", f)
	}
}

// A client that could bind but saw no -PLUS says "y"; the server that did
// offer -PLUS refuses it as a downgrade, unless the client already failed
// a -PLUS exchange for want of a common binding type on this connection.
func TestSCRAMFlagYAfterUnavailableBinding(t *testing.T) {
	exporter := map[string][]byte{CBTLSExporter: []byte("exported")}
	scfg := testServerConfig(t)
	scfg.ChannelBindings = exporter
	ccfg := ClientConfig{Username: "juliet", Password: "r0m30myr0m30", ChannelBindings: map[string][]byte{CBTLSUnique: []byte("x")}, ServerSupportsPlus: false}
	_, serr, _ := roundTrip(t, SCRAMSHA256, scfg, ccfg)
	if f := wantFailure(t, serr, NotAuthorized); errors.Is(f, ErrChannelBindingType) {
		t.Error("a downgrade is reported as an unavailable binding type")
	}
	scfg.AfterUnavailableBinding = true
	if _, serr, cerr := roundTrip(t, SCRAMSHA256, scfg, ccfg); serr != nil || cerr != nil {
		t.Fatalf("after an unavailable binding type: server %v, client %v", serr, cerr)
	}
	// The relaxation never admits a wrong password.
	ccfg.Password = "wrong"
	_, serr, _ = roundTrip(t, SCRAMSHA256, scfg, ccfg)
	wantFailure(t, serr, NotAuthorized)
}
