package sasl

import (
	"bytes"
	"testing"
)

// DigestMD5Secret gives what Derive stores, for names and passwords in
// and beyond ISO 8859-1, and with a password SASLprep changes.
func TestDigestMD5SecretMatchesDerive(t *testing.T) {
	for _, tt := range []struct{ user, realm, pw string }{
		{"alice", "localhost", "pw"},
		{"jürgen", "example.test", "grüße"},
		{"日本", "example.test", "パスワード"},
		{"bob", "localhost", "a\u00a0b"}, // SASLprep maps the no-break space
	} {
		want, err := Derive(tt.pw, DeriveOptions{Iterations: 4096, DigestMD5: true, Username: tt.user, Realm: tt.realm})
		if err != nil {
			t.Fatal(err)
		}
		got, err := DigestMD5Secret(tt.user, tt.realm, tt.pw)
		if err != nil || !bytes.Equal(got, want.DigestMD5) {
			t.Errorf("DigestMD5Secret(%q, %q, %q) = %x, %v; want %x", tt.user, tt.realm, tt.pw, got, err, want.DigestMD5)
		}
	}
	if _, err := DigestMD5Secret("", "localhost", "pw"); err == nil {
		t.Error("no username accepted")
	}
	if _, err := DigestMD5Secret("bob", "localhost", "\u0007"); err == nil {
		t.Error("a password SASLprep prohibits accepted")
	}
}
