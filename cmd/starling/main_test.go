package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// starling runs the command in-process and returns its exit code and
// output.
func starling(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "starling.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestUserCommands(t *testing.T) {
	cfg := writeConfig(t, "hosts: [localhost, example.test]\nsasl:\n  scram_iterations: 4096\n")
	steps := []struct {
		stdin string
		args  []string
		code  int
		out   string // substring of stdout (or stderr when code != 0)
	}{
		{"secret\n", []string{"user", "add", "-c", cfg, "Alice@LocalHost"}, 0, "created alice@localhost"},
		{"secret\n", []string{"user", "add", "-c", cfg, "alice@localhost"}, 1, "already exists"},
		{"pw", []string{"user", "add", "-c", cfg, "bob@example.test"}, 0, "created bob@example.test"},
		{"", []string{"user", "add", "-c", cfg, "carol@localhost"}, 1, "no password"},
		{"\n", []string{"user", "add", "-c", cfg, "carol@localhost"}, 1, "empty password"},
		{"pw\n", []string{"user", "add", "-c", cfg, "dave@elsewhere.test"}, 1, "not served"},
		{"pw\n", []string{"user", "add", "-c", cfg, "not a jid@localhost"}, 1, "not a valid"},
		{"", []string{"user", "list", "-c", cfg}, 0, "alice@localhost\nbob@example.test\n"},
		{"", []string{"user", "list", "-c", cfg, "example.test"}, 0, "bob@example.test\n"},
		{"new\n", []string{"user", "passwd", "-c", cfg, "alice@localhost"}, 0, "password changed for alice@localhost"},
		{"new\n", []string{"user", "passwd", "-c", cfg, "nobody@localhost"}, 1, "no such account"},
		{"", []string{"user", "del", "-c", cfg, "bob@example.test"}, 0, "deleted bob@example.test"},
		{"", []string{"user", "del", "-c", cfg, "bob@example.test"}, 1, "no such account"},
		{"", []string{"user", "list", "-c", cfg}, 0, "alice@localhost\n"},
		{"", []string{"user", "frobnicate", "-c", cfg, "x@localhost"}, 2, "unknown user command"},
		{"", []string{"user", "add", "-c", cfg}, 2, "USER@HOST"},
	}
	for _, st := range steps {
		code, out, errOut := starling(t, st.stdin, st.args...)
		got := out
		if code != 0 {
			got = errOut
		}
		if code != st.code || !strings.Contains(got, st.out) {
			t.Errorf("starling %s: exit %d, output %q; want exit %d and %q", strings.Join(st.args, " "), code, got, st.code, st.out)
		}
	}
	// The password is never echoed or logged.
	code, out, errOut := starling(t, "topsecret-pw\n", "user", "add", "-c", cfg, "erin@localhost")
	if code != 0 || strings.Contains(out+errOut, "topsecret-pw") {
		t.Errorf("user add printed the password or failed: %q %q", out, errOut)
	}
}

func TestConfigCheck(t *testing.T) {
	good := writeConfig(t, "hosts: [example.test]\nc2s:\n  listen: [\"127.0.0.1:5222\"]\n")
	code, out, _ := starling(t, "", "config", "check", "-c", good)
	if code != 0 || !strings.Contains(out, "ok") || !strings.Contains(out, "example.test") {
		t.Errorf("good config: exit %d, %q", code, out)
	}
	bad := writeConfig(t, "hosts: [example.test]\nc2s:\n  listen: [\"127.0.0.1:5222\"]\n  resource_conflict: fight\n")
	code, _, errOut := starling(t, "", "config", "check", "-c", bad)
	if code != 1 || !strings.Contains(errOut, "starling.yaml:4: c2s.resource_conflict:") {
		t.Errorf("bad config: exit %d, %q; want the file, line 4 and the key", code, errOut)
	}
	missingCert := writeConfig(t, "tls:\n  certificates:\n    - cert: nope.pem\n      key: nope.key\n")
	if code, _, errOut := starling(t, "", "config", "check", "-c", missingCert); code != 1 || !strings.Contains(errOut, "nope.pem") {
		t.Errorf("missing certificate: exit %d, %q", code, errOut)
	}
	if code, out, _ := starling(t, "", "config", "check"); code != 0 || !strings.Contains(out, "built-in defaults: ok") {
		t.Errorf("defaults: exit %d, %q", code, out)
	}
}

func TestUsageAndVersion(t *testing.T) {
	if code, _, errOut := starling(t, ""); code != 2 || !strings.Contains(errOut, "Usage:") {
		t.Errorf("no arguments: exit %d, %q", code, errOut)
	}
	if code, _, errOut := starling(t, "", "fly"); code != 2 || !strings.Contains(errOut, `unknown command "fly"`) {
		t.Errorf("unknown command: exit %d, %q", code, errOut)
	}
	if code, out, _ := starling(t, "", "version"); code != 0 || !strings.HasPrefix(out, "starling ") {
		t.Errorf("version: exit %d, %q", code, out)
	}
	if code, _, errOut := starling(t, "", "serve", "extra"); code != 2 {
		t.Errorf("serve with an argument: exit %d, %q", code, errOut)
	}
}
