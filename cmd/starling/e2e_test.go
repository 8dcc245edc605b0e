package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/starling-xmpp/starling/client"
	"github.com/starling-xmpp/starling/jid"
	"github.com/starling-xmpp/starling/sasl"
	"github.com/starling-xmpp/starling/stanza"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// buildBinary compiles cmd/starling once per test process into a directory
// removed by TestMain.
func buildBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "starling-bin-")
		if err != nil {
			binErr = err
			return
		}
		binDir = dir
		binPath = filepath.Join(dir, "starling")
		goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
		if _, err := os.Stat(goTool); err != nil {
			goTool = "go"
		}
		if out, err := exec.Command(goTool, "build", "-o", binPath, ".").CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

var binDir string

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// TestEndToEnd is the README's first session, scripted: build the binary,
// add two users with `starling user add`, run `starling serve`, and have two
// clients log in over STARTTLS with SCRAM-SHA-256 and chat. SIGTERM then
// shuts the server down cleanly.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin, cfgPath := newInstance(t, `  direct_tls: ["127.0.0.1:0"]`)
	dir := filepath.Dir(cfgPath)
	srv := startServe(t, bin, cfgPath)
	pool := trustSelfSigned(t, filepath.Join(dir, "data"))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	login := func(addr, res string) *client.Session {
		s, err := client.Dial(ctx, client.Config{
			JID:       jid.MustParse(addr + "/" + res),
			Password:  "pw-" + addr,
			Addr:      srv.addrs["c2s"],
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
	// Wait until bob's presence is processed: the server reflects it.
	if el, err := bob.Recv(ctx); err != nil || el.Name.Local != "presence" {
		t.Fatalf("own presence: %v %v", el, err)
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
	srv.cmd.Process.Signal(syscall.SIGTERM)
	_, err = alice.Recv(ctx)
	var se *stanza.StreamError
	if !errors.As(err, &se) || se.Condition != stanza.StreamSystemShutdown {
		t.Errorf("alice: %v, want system-shutdown", err)
	}
	alice.Close()
	bob.Close()
	if err := srv.wait(15 * time.Second); err != nil {
		t.Errorf("starling serve after SIGTERM: %v", err)
	}
	// The accounts are in the database for the next start.
	out, err := exec.Command(bin, "user", "list", "-c", cfgPath).CombinedOutput()
	if err != nil || string(out) != "alice@localhost\nbob@localhost\n" {
		t.Errorf("user list: %v %q", err, out)
	}
}

// newInstance writes a configuration (JSON log, c2s on 127.0.0.1 port 0,
// extraC2S lines added to the c2s section) in a fresh directory and adds
// alice@localhost and bob@localhost, password "pw-" + address, with
// `starling user add`. It returns the binary and the configuration's path.
func newInstance(t *testing.T, extraC2S string) (bin, cfgPath string) {
	t.Helper()
	bin = buildBinary(t)
	cfgPath = filepath.Join(t.TempDir(), "starling.yaml")
	cfg := "hosts: [localhost]\ndata_dir: data\nlog:\n  format: json\nc2s:\n  listen: [\"127.0.0.1:0\"]\n  close_timeout: 2s\n"
	if extraC2S != "" {
		cfg += extraC2S + "\n"
	}
	if !strings.Contains(extraC2S, "direct_tls:") {
		cfg += "  direct_tls: []\n"
	}
	// Every listener on loopback port 0: tests run in parallel.
	cfg += "s2s:\n  listen: [\"127.0.0.1:0\"]\n  direct_tls: []\n"
	cfg += "http:\n  listen: [\"127.0.0.1:0\"]\n"
	cfg += "sasl:\n  scram_iterations: 4096\n"
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"alice@localhost", "bob@localhost"} {
		cmd := exec.Command(bin, "user", "add", "-c", cfgPath, u)
		cmd.Stdin = strings.NewReader("pw-" + u + "\n")
		if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "created "+u) {
			t.Fatalf("user add %s: %v\n%s", u, err, out)
		}
	}
	return bin, cfgPath
}

// newInstanceConfig is newInstance with the whole configuration given:
// hosts, listeners and all (data_dir is "data" next to the file).
func newInstanceConfig(t *testing.T, cfg string, users ...string) (bin, cfgPath string) {
	t.Helper()
	bin = buildBinary(t)
	cfgPath = filepath.Join(t.TempDir(), "starling.yaml")
	if !strings.Contains(cfg, "\nhttp:") && !strings.HasPrefix(cfg, "http:") {
		cfg += "http:\n  listen: [\"127.0.0.1:0\"]\n" // tests run in parallel: no fixed port
	}
	if err := os.WriteFile(cfgPath, []byte("data_dir: data\nlog:\n  format: json\n"+cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		cmd := exec.Command(bin, "user", "add", "-c", cfgPath, u)
		cmd.Stdin = strings.NewReader("pw-" + u + "\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("user add %s: %v\n%s", u, err, out)
		}
	}
	return bin, cfgPath
}

// serve is a running `starling serve` process.
type serve struct {
	cmd     *exec.Cmd
	addrs   map[string]string // listener kind → address, from the log
	exited  chan struct{}
	exitErr error
}

// startServe runs `starling serve -c cfgPath` and waits until its JSON log
// names the c2s listener. The process is killed at cleanup if still running.
func startServe(t *testing.T, bin, cfgPath string) *serve {
	t.Helper()
	s := &serve{cmd: exec.Command(bin, "serve", "-c", cfgPath), addrs: map[string]string{}, exited: make(chan struct{})}
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.exitErr = s.cmd.Wait(); close(s.exited) }()
	t.Cleanup(func() {
		select {
		case <-s.exited:
		default:
			s.cmd.Process.Kill()
			<-s.exited
		}
	})
	lines := bufio.NewScanner(stderr)
	deadline := time.AfterFunc(20*time.Second, func() { s.cmd.Process.Kill() })
	for lines.Scan() {
		var rec struct{ Msg, Kind, Addr string }
		if json.Unmarshal(lines.Bytes(), &rec) != nil {
			continue
		}
		if rec.Msg == "listening" {
			s.addrs[rec.Kind] = rec.Addr
		}
		if rec.Msg == "serving" { // every listener is logged before
			break
		}
	}
	deadline.Stop()
	if s.addrs["c2s"] == "" {
		t.Fatalf("no listening address in the log (%v)", lines.Err())
	}
	go io.Copy(io.Discard, stderr)
	return s
}

// wait waits up to d for the process to exit and returns its exit error.
func (s *serve) wait(d time.Duration) error {
	select {
	case <-s.exited:
		return s.exitErr
	case <-time.After(d):
		return errors.New("did not exit")
	}
}

// trustSelfSigned returns a pool with the certificates `starling serve`
// generated in dataDir.
func trustSelfSigned(t *testing.T, dataDir string) *x509.CertPool {
	t.Helper()
	pool := x509.NewCertPool()
	for _, kind := range []string{"ecdsa", "rsa"} {
		data, err := os.ReadFile(filepath.Join(dataDir, "selfsigned-"+kind+".pem"))
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
	return pool
}
