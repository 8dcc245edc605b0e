package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/starling-xmpp/starling/internal/dnstest"
	"github.com/starling-xmpp/starling/internal/testca"
	"github.com/starling-xmpp/starling/internal/testserver"
)

const doctorDomain = "example.test"

// doctorTarget is a Starling serving example.test with a certificate for
// leaf from a test CA, whose certificate is in caFile.
type doctorTarget struct {
	srv    *testserver.Server
	ca     *testca.CA
	caFile string
}

func startDoctorTarget(t *testing.T, leaf testca.Leaf) *doctorTarget {
	t.Helper()
	ca := testca.New(t)
	dir := t.TempDir()
	cert, key := ca.WriteFiles(t, dir, "server", leaf)
	srv := testserver.Start(t, fmt.Sprintf("hosts: [%s]\ntls:\n  certificates:\n    - cert: %q\n      key: %q\n", doctorDomain, cert, key))
	return &doctorTarget{srv: srv, ca: ca, caFile: ca.WriteCA(t, dir)}
}

// args returns the flags pointing the doctor at every listener.
func (d *doctorTarget) args(extra ...string) []string {
	a := []string{"doctor", "--ca", d.caFile, "--timeout", "10s",
		"--addr", d.srv.Addr, "--tls-addr", d.srv.TLSAddr,
		"--s2s-addr", d.srv.S2SAddr, "--s2s-tls-addr", d.srv.S2STLSAddr}
	return append(a, extra...)
}

// doctorRun runs the command with stdin and returns exit code and outputs.
func doctorRun(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	code := run(ctx, args, strings.NewReader(stdin), &out, &errOut)
	t.Logf("starling %s → %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out.String(), errOut.String())
	if strings.Contains(out.String()+errOut.String(), "\x1b[") {
		t.Errorf("colour codes written to a non-terminal")
	}
	return code, out.String(), errOut.String()
}

// A healthy server: exit 0, every line OK, the login (password from
// $STARLING_PASSWORD, never printed) and the ping OK, and the s2s view.
// Seed 3.4-2, 4-1, 4-3, 5-1, 8.
func TestSeed4_3_DoctorCommandHealthy(t *testing.T) {
	d := startDoctorTarget(t, testca.Leaf{DNSNames: []string{doctorDomain}})
	d.srv.AddUser(t, "alice@"+doctorDomain, "pw-Secret-77")
	t.Setenv("STARLING_PASSWORD", "pw-Secret-77")
	code, out, errOut := doctorRun(t, "", d.args("--user", "alice", "--s2s", doctorDomain)...)
	if code != 0 {
		t.Fatalf("exit %d, want 0", code)
	}
	for _, want := range []string{
		"XMPP doctor for example.test",
		"c2s " + d.srv.Addr + " (STARTTLS)",
		"c2s " + d.srv.TLSAddr + " (direct TLS)",
		"s2s " + d.srv.S2SAddr + " (STARTTLS)",
		"s2s " + d.srv.S2STLSAddr + " (direct TLS)",
		"login alice@example.test",
		"logged in as alice@example.test/",
		"XEP-0199 ping",
		"dialback",
		"0 warnings, 0 failures",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if strings.Contains(out, "WARN") || strings.Contains(out, "FAIL") {
		t.Error("a check is not OK")
	}
	if strings.Contains(out+errOut, "pw-Secret-77") {
		t.Error("the password was printed")
	}
}

// The password from --password-env and from standard input (no terminal);
// a wrong one is a FAIL naming not-authorized, exit 1. Flags may follow
// the domain.
func TestSeed5_4_DoctorCommandPassword(t *testing.T) {
	d := startDoctorTarget(t, testca.Leaf{DNSNames: []string{doctorDomain}})
	d.srv.AddUser(t, "alice@"+doctorDomain, "secret")
	t.Setenv("STARLING_PASSWORD", "")
	t.Setenv("DOCTOR_TEST_PW", "secret")
	code, out, _ := doctorRun(t, "", append(d.args(doctorDomain), "--user", "alice@example.test", "--password-env", "DOCTOR_TEST_PW")...)
	if code != 0 || !strings.Contains(out, "logged in as") {
		t.Errorf("--password-env: exit %d", code)
	}
	code, out, _ = doctorRun(t, "secret\n", d.args("--user", "alice", doctorDomain)...)
	if code != 0 || !strings.Contains(out, "logged in as") {
		t.Errorf("password on stdin: exit %d", code)
	}
	t.Setenv("STARLING_PASSWORD", "wrong")
	code, out, errOut := doctorRun(t, "", d.args("--user", "alice", doctorDomain)...)
	if code != 1 || !strings.Contains(out, "FAIL  login") || !strings.Contains(out, "not-authorized") || !strings.Contains(errOut, "checks failed") {
		t.Errorf("wrong password: exit %d", code)
	}
}

// An expired certificate: FAIL with the renewal hint, exit 1. Seed 4-3.
func TestSeed4_3_DoctorCommandExpired(t *testing.T) {
	end := time.Now().Add(-72 * time.Hour)
	d := startDoctorTarget(t, testca.Leaf{DNSNames: []string{doctorDomain}, NotBefore: end.AddDate(0, -2, 0), NotAfter: end})
	code, out, _ := doctorRun(t, "", d.args(doctorDomain)...)
	want := "the certificate expired on " + end.UTC().Format("2006-01-02") + ": renew it (certbot renew) and restart"
	if code != 1 || !strings.Contains(out, want) {
		t.Errorf("exit %d; want 1 and %q", code, want)
	}
}

// --json: the report parses, carries the same statuses as the text and a
// name hint for the wrong certificate, and the exit status follows it.
func TestSeed4_3_DoctorCommandJSON(t *testing.T) {
	d := startDoctorTarget(t, testca.Leaf{DNSNames: []string{"other.example"}})
	code, out, _ := doctorRun(t, "", d.args("--json", doctorDomain)...)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	var rep struct {
		Domain, Status string
		Checks         []struct{ Group, Name, Status, Detail, Hint string }
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("stdout is not JSON: %v", err)
	}
	if rep.Domain != doctorDomain || rep.Status != "FAIL" {
		t.Errorf("domain %q status %q", rep.Domain, rep.Status)
	}
	certs := 0
	for _, c := range rep.Checks {
		if c.Name == "certificate" {
			certs++
			if c.Status != "FAIL" || !strings.Contains(c.Hint, "the certificate is for other.example, not example.test") {
				t.Errorf("%s: %s %q", c.Group, c.Status, c.Hint)
			}
		}
	}
	if certs != 4 {
		t.Errorf("%d certificate checks, want 4", certs)
	}
	// The same statuses as the text report, line for line.
	_, text, _ := doctorRun(t, "", d.args(doctorDomain)...)
	for _, c := range rep.Checks {
		line := fmt.Sprintf("%-4s  %s", c.Status, c.Name)
		if !strings.Contains(text, line) {
			t.Errorf("text report lacks %q", line)
		}
	}
}

// --dns: missing SRV records are WARNs that name the fallback and the
// record to publish. Seed 3.1-2.
func TestSeed3_1_2_DoctorCommandMissingSRV(t *testing.T) {
	dns := dnstest.Start(t)
	code, out, _ := doctorRun(t, "", "doctor", "--dns", dns.Addr, "--timeout", "5s", doctorDomain)
	if code != 1 { // and example.test has no address: the connections fail
		t.Errorf("exit %d, want 1", code)
	}
	for _, want := range []string{
		"WARN  _xmpp-client._tcp.example.test",
		"no record: the fallback example.test:5222 is used",
		"fix: publish _xmpp-client._tcp.example.test. SRV 0 5 5222",
		"no record: the fallback example.test:5269 is used",
		"fix: publish an A or AAAA record for example.test",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if dns.Queries() == 0 {
		t.Error("the DNS server given was not asked")
	}
}

func TestDoctorCommandUsage(t *testing.T) {
	t.Setenv("STARLING_PASSWORD", "")
	certDir := t.TempDir()
	for _, args := range [][]string{
		{"doctor"},
		{"doctor", "a.test", "b.test"},
		{"doctor", "--password", "x", "--user", "alice", "example.test"},
		{"doctor", "--timeout", "0s", "example.test"},
		{"doctor", "--addr", "no-port", "example.test"},
		{"doctor", "--user", "bob@other.test", "example.test"},
		{"doctor", "--password-env", "X", "example.test"},
		{"doctor", "--user", "alice", "--password-env", "DOCTOR_UNSET_VAR", "example.test"},
		{"doctor", "--cert", filepath.Join(certDir, "x.crt"), "example.test"},
		{"doctor", "--from", "a@b", "example.test"},
		{"doctor", "--frobnicate", "example.test"},
		{"doctor", "alice@example.test"},
	} {
		code, _, errOut := doctorRun(t, "", args...)
		if code != 2 || !strings.Contains(errOut, "usage") {
			t.Errorf("starling %s: exit %d, want 2 with usage", strings.Join(args, " "), code)
		}
	}
}

func TestDoctorColour(t *testing.T) {
	if useColour(&bytes.Buffer{}) {
		t.Error("colour for a buffer")
	}
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if useColour(f) {
		t.Error("colour for a regular file")
	}
}
