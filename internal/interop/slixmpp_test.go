package interop

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/starling-xmpp/starling/internal/testserver"
)

// python returns a Python 3 interpreter that can import module, or skips.
func python(t *testing.T, module, pkg string) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		if err := exec.Command(p, "-c", "import "+module).Run(); err == nil {
			return p
		}
	}
	t.Skipf("Python module %s not found: install the Debian package %s (./test.sh does)", module, pkg)
	return ""
}

// TestSlixmpp: two slixmpp clients (a real, independent XMPP library) log
// in over STARTTLS, verifying Starling's certificate, bind, and chat. On TLS
// 1.3 slixmpp asks for tls-unique channel binding, which TLS 1.3 does not
// define, and falls back to plain SCRAM; on TLS 1.2 it binds the channel
// with SCRAM-SHA-512-PLUS.
func TestSlixmpp(t *testing.T) {
	py := python(t, "slixmpp", "python3-slixmpp")
	for _, tc := range []struct {
		name, tls, mech, version string
	}{
		{"TLS 1.3", "", "with SCRAM-SHA-512 over", "TLSv1.3"},
		{"TLS 1.2", "tls1.2", "with SCRAM-SHA-512-PLUS over", "TLSv1.2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runSlixmpp(t, py, "", tc.tls)
			if err != nil {
				t.Fatal(err)
			}
			for _, who := range []string{"alice", "bob"} {
				if want := who + ": logged in as " + who + "@localhost/slix " + tc.mech + " " + tc.version; !strings.Contains(out, want) {
					t.Errorf("want %q in the output", want)
				}
			}
		})
	}
}

// With sasl.strict_channel_binding the fallback is refused, as RFC 5802
// reads: slixmpp cannot log in over TLS 1.3.
func TestSlixmppStrictChannelBinding(t *testing.T) {
	py := python(t, "slixmpp", "python3-slixmpp")
	out, err := runSlixmpp(t, py, "sasl:\n  strict_channel_binding: true\n", "")
	if err == nil || !strings.Contains(out, "authentication failed") && !strings.Contains(out, "disconnected before logging in") {
		t.Fatalf("slixmpp logged in with strict channel binding: %v", err)
	}
}

// TestSlixmppIM: slixmpp's roster and presence handling against Starling's
// (seed 11, 12, 13): a subscription handshake to 'both' with slixmpp's
// automatic approval, a presence change, a roster edit and its push, a chat
// to the bare JID and its answer, and an offline message (XEP-0160) with
// its delay stamp.
func TestSlixmppIM(t *testing.T) {
	py := python(t, "slixmpp", "python3-slixmpp")
	out, err := runScript(t, py, "", "testdata/slixmpp_im.py", "alice@localhost", "bob@localhost", "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"alice: subscription to bob is both",
		"bob: subscription to alice is both",
		"alice: bob@localhost/slix is dnd: in a meeting",
		"alice: bob is named Bobby in ['Friends']",
		"bob: got 'Lunch at noon?'; alice: got 'Yes, see you there' from bob@localhost/slix",
		"bob: offline message 'Call me when you are out' from alice@localhost/slix stamped yes",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("want %q in the output", want)
		}
	}
}

func runSlixmpp(t *testing.T, py, config, tlsArg string) (string, error) {
	t.Helper()
	args := []string{"alice@localhost/slix", "bob@localhost/slix", "correct horse"}
	if tlsArg != "" {
		args = append(args, tlsArg)
	}
	return runScript(t, py, config, "testdata/slixmpp_chat.py", args...)
}

// runScript starts a server with alice and bob, and runs a slixmpp script
// with the server's host, port and CA file followed by args. The script
// prints "ok" when its conversation succeeded.
func runScript(t *testing.T, py, config, script string, args ...string) (string, error) {
	t.Helper()
	srv := testserver.Start(t, config)
	srv.AddUser(t, "alice@localhost", "correct horse")
	srv.AddUser(t, "bob@localhost", "correct horse")

	// The CA file: the server's self-signed certificates.
	ca := filepath.Join(t.TempDir(), "ca.pem")
	var pemData []byte
	for _, leaf := range srv.Certificates().Leaves() {
		pemData = append(pemData, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw})...)
	}
	if err := os.WriteFile(ca, pemData, 0o600); err != nil {
		t.Fatal(err)
	}
	host, port, _ := strings.Cut(srv.Addr, ":")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, py, append([]string{script, host, port, ca}, args...)...).CombinedOutput()
	t.Logf("slixmpp:\n%s", out)
	if err == nil && !strings.Contains(string(out), "\nok\n") {
		err = errors.New("slixmpp did not finish its conversation")
	}
	if err != nil {
		return string(out), fmt.Errorf("%s failed: %w", filepath.Base(script), err)
	}
	return string(out), nil
}
