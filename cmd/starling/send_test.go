package main

import (
	"context"
	"crypto/tls"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/starling-xmpp/starling/client"
	"github.com/starling-xmpp/starling/jid"
)

// TestSend: `starling send` logs in with the password from the
// environment, delivers the message, and says so; a bounce or a wrong
// password is an error with exit status 1.
func TestSend(t *testing.T) {
	bin, cfgPath := newInstance(t, "")
	srv := startServe(t, bin, cfgPath)
	ca := filepath.Join(filepath.Dir(cfgPath), "data", "selfsigned-ecdsa.pem")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	bob, err := client.Dial(ctx, client.Config{JID: jid.MustParse("bob@localhost/phone"), Password: "pw-bob@localhost",
		Addr: srv.addrs["c2s"], TLS: &tls.Config{RootCAs: trustSelfSigned(t, filepath.Join(filepath.Dir(cfgPath), "data")), ServerName: "localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()

	send := func(password string, args ...string) (string, error) {
		cmd := exec.Command(bin, append([]string{"send", "--jid", "alice@localhost", "--addr", srv.addrs["c2s"], "--ca", ca}, args...)...)
		cmd.Env = append(os.Environ(), passwordEnv+"="+password)
		cmd.Stdin = strings.NewReader("")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := send("pw-alice@localhost", "--to", "bob@localhost/phone", "--subject", "smoke", "hello", "world")
	if err != nil || !strings.Contains(out, "sent to 1 recipient(s) as alice@localhost/") {
		t.Fatalf("send: %v\n%s", err, out)
	}
	m, err := bob.Recv(ctx)
	if err != nil || m.ChildText("", "body") != "hello world" || m.ChildText("", "subject") != "smoke" || !strings.HasPrefix(m.Attr("from"), "alice@localhost/") {
		t.Fatalf("bob got %v, %v", m, err)
	}

	for _, tc := range []struct {
		name, password, want string
		args                 []string
	}{
		{"bounce", "pw-alice@localhost", "1 of 1 messages bounced", []string{"--to", "nobody@localhost", "hi"}},
		{"wrong password", "wrong", "not-authorized", []string{"--to", "bob@localhost", "hi"}},
		{"no recipient", "pw-alice@localhost", "starling send --jid", []string{"hi"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := send(tc.password, tc.args...)
			if err == nil || !strings.Contains(out, tc.want) {
				t.Fatalf("err %v, output:\n%s\nwant %q", err, out, tc.want)
			}
		})
	}
}
