package sasl

import (
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/json"
	"hash"
	"reflect"
	"strings"
	"testing"
)

func TestDerive(t *testing.T) {
	c, err := Derive("pencil", DeriveOptions{Iterations: testIters})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []struct {
		name string
		keys *SCRAMKeys
		gen  func() hash.Hash
	}{{"SHA-1", c.SHA1, sha1.New}, {"SHA-256", c.SHA256, sha256.New}, {"SHA-512", c.SHA512, sha512.New}} {
		t.Run(k.name, func(t *testing.T) {
			if k.keys == nil {
				t.Fatal("no keys")
			}
			if len(k.keys.Salt) != 16 || k.keys.Iterations != testIters {
				t.Fatalf("salt length %d, iterations %d; want 16, %d", len(k.keys.Salt), k.keys.Iterations, testIters)
			}
			if !validKeys(k.keys, k.gen().Size()) {
				t.Fatal("keys of the wrong size")
			}
			for _, pw := range []struct {
				pw   string
				want bool
			}{{"pencil", true}, {"pencil ", false}, {"Pencil", false}} {
				ok, err := verifyPassword(k.gen, k.keys, pw.pw)
				if err != nil || ok != pw.want {
					t.Errorf("verifyPassword(%q) = %v, %v; want %v", pw.pw, ok, err, pw.want)
				}
			}
		})
	}
	if c.DigestMD5 != nil {
		t.Error("DigestMD5 set without being asked for")
	}
	if bytes.Equal(c.SHA1.Salt, c.SHA256.Salt) {
		t.Error("salts are shared between hashes")
	}
	c2, _ := Derive("pencil", DeriveOptions{Iterations: testIters})
	if bytes.Equal(c.SHA256.Salt, c2.SHA256.Salt) || bytes.Equal(c.SHA256.StoredKey, c2.SHA256.StoredKey) {
		t.Error("two derivations share a salt")
	}

	// The keys survive encoding/json as they are.
	j, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var back Credentials
	if err := json.Unmarshal(j, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, back) {
		t.Fatalf("JSON round trip changed credentials: %s", j)
	}
	if strings.Contains(string(j), "pencil") {
		t.Fatal("password in serialised credentials")
	}
}

func TestDeriveDefaults(t *testing.T) {
	if testing.Short() {
		t.Skip("derives with the default iteration count")
	}
	c, err := Derive("pencil", DeriveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c.SHA256.Iterations != DefaultIterations || DefaultIterations != 10000 {
		t.Fatalf("iterations %d, want 10000", c.SHA256.Iterations)
	}
}

func TestDeriveSASLprep(t *testing.T) {
	for _, tc := range []struct {
		name, pw, same string // same: a password that must give the same keys
		wantErr        bool
	}{
		{name: "empty", pw: "", wantErr: true},
		{name: "only mapped to nothing", pw: "\u00ad", wantErr: true},
		{name: "control character", pw: "pass\u0007word", wantErr: true},
		{name: "unassigned code point", pw: "pass\U000e0080", wantErr: true},
		{name: "bidi mix", pw: "\u0627abc", wantErr: true},
		{name: "soft hyphen removed", pw: "I\u00adX", same: "IX"},
		{name: "non-ASCII space mapped", pw: "a\u00a0b", same: "a b"},
		{name: "NFKC", pw: "\u2168", same: "IX"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Derive(tc.pw, DeriveOptions{Iterations: testIters})
			if tc.wantErr {
				if err == nil {
					t.Fatal("no error")
				}
				if tc.pw != "" && strings.Contains(err.Error(), tc.pw) {
					t.Fatalf("error %q quotes the password", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			ok, err := verifyPassword(sha256.New, c.SHA256, tc.same)
			if err != nil || !ok {
				t.Fatalf("prepared %q does not verify as %q", tc.pw, tc.same)
			}
		})
	}
}

func TestDeriveDigestMD5(t *testing.T) {
	for _, tc := range []struct {
		name, user, realm, pw string
		hashed                string // what the digest must hash
	}{
		{"RFC 2831 example", "chris", "elwood.innosoft.com", "secret", "chris:elwood.innosoft.com:secret"},
		{"Latin-1 converted", "jürgen", "example.test", "grüß", "j\xfcrgen:example.test:gr\xfc\xdf"},
		{"beyond Latin-1 stays UTF-8", "ромео", "example.test", "pass", "ромео:example.test:pass"},
		{"password prepared", "chris", "example.test", "a\u00a0b", "chris:example.test:a b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Derive(tc.pw, DeriveOptions{Iterations: testIters, DigestMD5: true, Username: tc.user, Realm: tc.realm})
			if err != nil {
				t.Fatal(err)
			}
			want := md5.Sum([]byte(tc.hashed))
			if !bytes.Equal(c.DigestMD5, want[:]) {
				t.Fatalf("digest %x, want %x", c.DigestMD5, want)
			}
		})
	}
	if _, err := Derive("secret", DeriveOptions{DigestMD5: true, Realm: "x"}); err == nil {
		t.Fatal("DIGEST-MD5 digest without a username")
	}
}
