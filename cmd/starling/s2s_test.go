package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/starling-xmpp/starling/client"
	"github.com/starling-xmpp/starling/internal/testca"
	"github.com/starling-xmpp/starling/jid"
	"github.com/starling-xmpp/starling/stanza"
)

// TestS2SList: two `starling serve` processes federate (a.test reaches
// b.test through an s2s.hosts override, SASL EXTERNAL with certificates
// from a CA both trust), and `starling s2s list` shows the link on both
// sides with its direction, domains, authentication and TLS.
func TestS2SList(t *testing.T) {
	ca := testca.New(t)
	dir := t.TempDir()
	caFile := ca.WriteCA(t, dir)
	conf := func(host, extra string) string {
		cert, key := ca.WriteFiles(t, dir, host, testca.Leaf{CommonName: host, DNSNames: []string{host}})
		return fmt.Sprintf("hosts: [%s]\nc2s:\n  listen: [\"127.0.0.1:0\"]\n  direct_tls: []\n"+
			"tls:\n  certificates: [{cert: %s, key: %s}]\nsasl:\n  scram_iterations: 4096\n"+
			"s2s:\n  listen: [\"127.0.0.1:0\"]\n  direct_tls: []\n  system_roots: false\n  ca_files: [%s]\n%s",
			host, cert, key, caFile, extra)
	}
	binB, cfgB := newInstanceConfig(t, conf("b.test", ""), "bob@b.test")
	b := startServe(t, binB, cfgB)
	binA, cfgA := newInstanceConfig(t, conf("a.test", "  hosts: {b.test: \""+b.addrs["s2s"]+"\"}\n"), "alice@a.test")
	a := startServe(t, binA, cfgA)

	// Nothing yet.
	if out := s2sList(t, binA, cfgA); !strings.Contains(out, "no server-to-server links") {
		t.Fatalf("before any traffic:\n%s", out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	alice, err := client.Dial(ctx, client.Config{JID: jid.MustParse("alice@a.test/cli"), Password: "pw-alice@a.test",
		Addr: a.addrs["c2s"], TLS: &tls.Config{RootCAs: ca.Pool, ServerName: "a.test"}})
	if err != nil {
		t.Fatal(err)
	}
	defer alice.Close()
	// A message to bob, who is offline: it is stored on b.test.
	alice.Send(stanza.New("", "message").SetAttr("to", "bob@b.test").SetAttr("type", "chat").
		Append(stanza.New("", "body").AppendText("hello")))

	outLine := regexp.MustCompile(`(?m)^\d+\s+out\s+a\.test\s+b\.test\s+SASL EXTERNAL\s+TLS 1\.3 \S+\s+valid\s`)
	inLine := regexp.MustCompile(`(?m)^\d+\s+in\s+b\.test\s+a\.test\s+SASL EXTERNAL\s+TLS 1\.3 \S+\s+valid\s`)
	var outA, outB string
	for range 100 {
		outA, outB = s2sList(t, binA, cfgA), s2sList(t, binB, cfgB)
		if outLine.MatchString(outA) && inLine.MatchString(outB) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("a.test:\n%s\nb.test:\n%s", outA, outB)
}

func s2sList(t *testing.T, bin, cfg string) string {
	t.Helper()
	out, err := exec.Command(bin, "s2s", "list", "-c", cfg).CombinedOutput()
	if err != nil {
		t.Fatalf("s2s list: %v\n%s", err, out)
	}
	return string(out)
}

// TestS2SListNoServer: without a running server the command says so.
func TestS2SListNoServer(t *testing.T) {
	bin, cfg := newInstanceConfig(t, "hosts: [a.test]\n")
	out, err := exec.Command(bin, "s2s", "list", "-c", cfg).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "is `starling serve` running") {
		t.Fatalf("err %v, output:\n%s", err, out)
	}
}
