package main

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/starling-xmpp/starling/sasl"
)

func TestProsodyEncode(t *testing.T) {
	for in, want := range map[string]string{"localhost": "localhost", "user12": "user12", "example.com": "example%2ecom", "a_b-c": "a%5fb%2dc"} {
		if got := prosodyEncode(in); got != want {
			t.Errorf("prosodyEncode(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestSCRAMSHA1 checks the key derivation the account files use on RFC 5802 §5's example
// (password "pencil", its salt, 4096 iterations).
func TestSCRAMSHA1(t *testing.T) {
	salt, _ := hex.DecodeString("4125c247e43ab1e93c6dff76") // base64 QSXCR+Q6sek8bf92
	stored, server, err := sasl.SaltedKeys(sha1.New, "pencil", salt, 4096)
	if err != nil {
		t.Fatal(err)
	}
	// The example's ServerKey and StoredKey (the RFC shows only the
	// proofs derived from them; these reproduce its ServerSignature).
	if got := hex.EncodeToString(server); got != "0fe09258b3ac852ba502cc62ba903eaacdbf7d31" {
		t.Errorf("ServerKey %s", got)
	}
	if got := hex.EncodeToString(stored); got != "e9d94660c39d65c38fbad91c358f14da0eef2bd6" {
		t.Errorf("StoredKey %s", got)
	}
	const authMessage = "n=user,r=fyko+d2lbbFgONRv9qkxdawL," +
		"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096," +
		"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j"
	m := hmac.New(sha1.New, server)
	m.Write([]byte(authMessage))
	if got := base64.StdEncoding.EncodeToString(m.Sum(nil)); got != "rmF9pqV8S7suAoZWja4dJRkFsKQ=" {
		t.Errorf("ServerSignature %s, want the RFC's", got)
	}
}

func TestProsodyAccounts(t *testing.T) {
	data := t.TempDir()
	if err := run([]string{"prosody-accounts", "-data", data, "-domain", "example.com", "-count", "3", "-iterations", "4096"},
		strings.NewReader("secret-pw\n"), nil); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"user1", "user2", "user3"} {
		b, err := os.ReadFile(filepath.Join(data, "example%2ecom", "accounts", u+".dat"))
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{`["iteration_count"] = 4096;`, `["salt"] = "`, `["stored_key"] = "`, `["server_key"] = "`} {
			if !strings.Contains(string(b), want) {
				t.Errorf("%s: no %s in\n%s", u, want, b)
			}
		}
	}
}

func TestPIEFXIS(t *testing.T) {
	var out strings.Builder
	if err := run([]string{"piefxis", "-domain", "localhost", "-users", "u%d", "-count", "2"}, strings.NewReader("pw&<x>\n"), &out); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Host struct {
			JID   string `xml:"jid,attr"`
			Users []struct {
				Name     string `xml:"name,attr"`
				Password string `xml:"password,attr"`
			} `xml:"user"`
		} `xml:"host"`
	}
	if err := xml.Unmarshal([]byte(out.String()), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if doc.Host.JID != "localhost" || len(doc.Host.Users) != 2 || doc.Host.Users[1].Name != "u2" || doc.Host.Users[0].Password != "pw&<x>" {
		t.Errorf("parsed %+v from\n%s", doc, out.String())
	}
}

func TestBadInput(t *testing.T) {
	for _, args := range [][]string{
		{"ports", "0"}, {"ports", "65"}, {"nope"},
		{"piefxis", "-count", "0"},
		{"piefxis", "-count", "1", "-users", "user"},
		{"piefxis", "-count", "1", "-domain", "Upper"},
		{"prosody-accounts", "-count", "1"},
	} {
		if err := run(args, strings.NewReader("pw\n"), &strings.Builder{}); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
	if err := run([]string{"piefxis", "-count", "1"}, strings.NewReader("has space\n"), &strings.Builder{}); err == nil {
		t.Error("a password with a space: no error")
	}
}

func TestPorts(t *testing.T) {
	var out strings.Builder
	if err := run([]string{"ports", "3"}, nil, &out); err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(out.String())
	if len(f) != 3 || f[0] == f[1] || f[1] == f[2] || f[0] == f[2] {
		t.Errorf("ports: %q", out.String())
	}
}
