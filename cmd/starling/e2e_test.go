package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/starling-xmpp/starling/client"
	"github.com/starling-xmpp/starling/jid"
	"github.com/starling-xmpp/starling/sasl"
	"github.com/starling-xmpp/starling/stanza"
)

// buildBinary compiles cmd/starling into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "starling")
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goTool); err != nil {
		goTool = "go"
	}
	cmd := exec.Command(goTool, "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestEndToEnd is the README's first session, scripted: build the binary,
// add two users with `starling user add`, run `starling serve`, and have two
// clients log in over STARTTLS with SCRAM-SHA-256 and chat. SIGTERM then
// shuts the server down cleanly.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "starling.yaml")
	os.WriteFile(cfgPath, []byte(`hosts: [localhost]
data_dir: data
log:
  format: json
c2s:
  listen: ["127.0.0.1:0"]
  direct_tls: ["127.0.0.1:0"]
  close_timeout: 2s
sasl:
  scram_iterations: 4096
`), 0o600)

	for _, u := range []string{"alice@localhost", "bob@localhost"} {
		cmd := exec.Command(bin, "user", "add", "-c", cfgPath, u)
		cmd.Stdin = strings.NewReader("pw-" + u + "\n")
		if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "created "+u) {
			t.Fatalf("user add %s: %v\n%s", u, err, out)
		}
	}

	srv := exec.Command(bin, "serve", "-c", cfgPath)
	stderr, err := srv.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var exitErr error
	go func() { exitErr = srv.Wait(); close(exited) }()
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			srv.Process.Kill()
			<-exited
		}
	})

	// The JSON log says where it listens.
	addrs := map[string]string{}
	lines := bufio.NewScanner(stderr)
	deadline := time.AfterFunc(20*time.Second, func() { srv.Process.Kill() })
	for len(addrs) < 2 && lines.Scan() {
		var rec struct{ Msg, Kind, Addr string }
		if json.Unmarshal(lines.Bytes(), &rec) == nil && rec.Msg == "listening" {
			addrs[rec.Kind] = rec.Addr
		}
	}
	deadline.Stop()
	if addrs["c2s"] == "" {
		t.Fatalf("no listening address in the log (%v)", lines.Err())
	}
	go io.Copy(io.Discard, stderr)

	// Trust the self-signed certificate generated in data_dir.
	pool := x509.NewCertPool()
	for _, kind := range []string{"ecdsa", "rsa"} {
		data, err := os.ReadFile(filepath.Join(dir, "data", "selfsigned-"+kind+".pem"))
		if err != nil {
			t.Fatalf("generated certificate: %v", err)
		}
		block, _ := pem.Decode(data)
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		pool.AddCert(cert)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	login := func(addr, res string) *client.Session {
		s, err := client.Dial(ctx, client.Config{
			JID:       jid.MustParse(addr + "/" + res),
			Password:  "pw-" + addr,
			Addr:      addrs["c2s"],
			TLS:       &tls.Config{RootCAs: pool, ServerName: "localhost"},
			Mechanism: sasl.SCRAMSHA256,
			Lang:      "en",
		})
		if err != nil {
			t.Fatalf("login %s: %v", addr, err)
		}
		return s
	}
	alice := login("alice@localhost", "laptop")
	bob := login("bob@localhost", "phone")
	if alice.TLS() == nil || alice.Mechanism() != sasl.SCRAMSHA256 {
		t.Fatalf("alice: TLS %v, mechanism %s", alice.TLS() != nil, alice.Mechanism())
	}
	bob.Send(stanza.New("", "presence"))
	// Wait until bob's presence is processed: a request to his own
	// account is answered after it.
	bob.Send(stanza.New("", "iq").SetAttr("type", "get").SetAttr("id", "sync").Append(stanza.New("urn:example:sync", "q")))
	if el, err := bob.Recv(ctx); err != nil || el.Attr("id") != "sync" {
		t.Fatalf("sync: %v %v", el, err)
	}
	send := func(from *client.Session, to, body string) {
		m := stanza.New("", "message").SetAttr("to", to).SetAttr("type", "chat").Append(stanza.New("", "body").AppendText(body))
		if err := from.Send(m); err != nil {
			t.Fatal(err)
		}
	}
	send(alice, "bob@localhost", "Hello Bob!")
	m, err := bob.Recv(ctx)
	if err != nil || m.ChildText("", "body") != "Hello Bob!" || m.Attr("from") != "alice@localhost/laptop" {
		t.Fatalf("bob got %v, %v", m, err)
	}
	send(bob, m.Attr("from"), "Hi Alice.")
	m, err = alice.Recv(ctx)
	if err != nil || m.ChildText("", "body") != "Hi Alice." || m.Attr("from") != "bob@localhost/phone" {
		t.Fatalf("alice got %v, %v", m, err)
	}

	// SIGTERM: clients are told, the process exits 0.
	srv.Process.Signal(syscall.SIGTERM)
	_, err = alice.Recv(ctx)
	var se *stanza.StreamError
	if !errors.As(err, &se) || se.Condition != stanza.StreamSystemShutdown {
		t.Errorf("alice: %v, want system-shutdown", err)
	}
	alice.Close()
	bob.Close()
	select {
	case <-exited:
		if exitErr != nil {
			t.Errorf("starling serve exited with %v", exitErr)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("starling serve did not exit after SIGTERM")
	}
	// The accounts are in the database for the next start.
	out, err := exec.Command(bin, "user", "list", "-c", cfgPath).CombinedOutput()
	if err != nil || string(out) != "alice@localhost\nbob@localhost\n" {
		t.Errorf("user list: %v %q", err, out)
	}
}
