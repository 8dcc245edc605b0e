package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/starling-xmpp/starling/internal/testserver"
)

const benchPassword = "bench-pw"

// benchTarget starts a server with accounts bench1..bench4 and writes its
// certificate to a PEM file for --ca.
func benchTarget(t *testing.T, yaml string) (*testserver.Server, string) {
	t.Helper()
	srv := testserver.Start(t, yaml)
	for i := 1; i <= 4; i++ {
		srv.AddUser(t, fmt.Sprintf("bench%d@localhost", i), benchPassword)
	}
	var b []byte
	for _, leaf := range srv.Certificates().Leaves() {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw})...)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return srv, ca
}

func benchRun(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	code := run(ctx, append([]string{"bench"}, args...), strings.NewReader(""), &out, &errOut)
	t.Logf("starling bench %s → %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out.String(), errOut.String())
	if errOut.Len() > 0 && code == 0 {
		t.Errorf("a clean run wrote to stderr (no progress line without a terminal)")
	}
	return code, out.String(), errOut.String()
}

// TestBench: `starling bench login` over STARTTLS with --ca, as JSON, and
// `starling bench messages` over plaintext, as text: exit 0, consistent
// reports; the password from the environment or from --password.
func TestBench(t *testing.T) {
	srv, ca := benchTarget(t, "c2s:\n  allow_plaintext: true\n")
	common := []string{"--addr", srv.Addr, "--domain", "localhost", "--users", "bench%d", "--count", "4",
		"--duration", "500ms", "--server-pid", strconv.Itoa(os.Getpid())}

	t.Run("login json", func(t *testing.T) {
		t.Setenv("BENCH_TEST_PW", benchPassword)
		args := append([]string{"login", "--tls", "--ca", ca, "--workers", "2", "--password-env", "BENCH_TEST_PW", "--json"}, common...)
		code, out, _ := benchRun(t, args...)
		if code != 0 {
			t.Fatalf("exit %d", code)
		}
		var r struct {
			Scenario   string `json:"scenario"`
			TLS        string `json:"tls"`
			Ops        int64  `json:"ops"`
			ErrorTotal int64  `json:"error_total"`
			OK         bool   `json:"ok"`
			Workers    int    `json:"workers"`
			Latency    struct {
				P50, P90, P99, Max float64
			} `json:"latency_ms"`
		}
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("JSON: %v", err)
		}
		l := r.Latency
		if r.Scenario != "login" || r.TLS != "STARTTLS" || r.Ops <= 0 || r.ErrorTotal != 0 || !r.OK || r.Workers != 2 ||
			!(l.P50 > 0 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.Max) {
			t.Errorf("report %+v", r)
		}
	})
	t.Run("messages text", func(t *testing.T) {
		args := append([]string{"messages", "--plain", "--pairs", "2", "--window", "4", "--password", benchPassword}, common...)
		code, out, _ := benchRun(t, args...)
		if code != 0 {
			t.Fatalf("exit %d", code)
		}
		for _, want := range []string{"bench messages: localhost", "2 pairs, window 4", "TLS none", " 0 lost, 0 out of order", "latency", "client CPU", "µs per message"} {
			if !strings.Contains(out, want) {
				t.Errorf("report lacks %q", want)
			}
		}
	})
	t.Run("idle json", func(t *testing.T) {
		args := append([]string{"idle", "--plain", "--connections", "8", "--workers", "4", "--password", benchPassword, "--json"}, common...)
		code, out, _ := benchRun(t, args...)
		if code != 0 {
			t.Fatalf("exit %d", code)
		}
		var r struct {
			Scenario    string   `json:"scenario"`
			Unit        string   `json:"unit"`
			Ops         int64    `json:"ops"`
			Connections int      `json:"connections"`
			Accounts    int      `json:"accounts"`
			OK          bool     `json:"ok"`
			HoldS       *float64 `json:"hold_s"`
			PerConn     *float64 `json:"server_rss_kib_per_conn"`
		}
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("JSON: %v", err)
		}
		if r.Scenario != "idle" || r.Unit != "connection" || r.Ops != 8 || r.Connections != 8 || r.Accounts != 4 || !r.OK ||
			r.HoldS == nil || *r.HoldS < 0.5 || (runtime.GOOS == "linux" && r.PerConn == nil) {
			t.Errorf("report %+v", r)
		}
	})
	t.Run("presence text", func(t *testing.T) {
		args := append([]string{"presence", "--plain", "--contacts", "2", "--workers", "4", "--timeout", "10s", "--password", benchPassword},
			slices.DeleteFunc(slices.Clone(common), func(a string) bool { return a == "--duration" || a == "500ms" })...)
		code, out, _ := benchRun(t, args...)
		if code != 0 {
			t.Fatalf("exit %d", code)
		}
		for _, want := range []string{"bench presence: localhost", "4 accounts × 2 contacts", "all online", "s after the first login", "µs per presence"} {
			if !strings.Contains(out, want) {
				t.Errorf("report lacks %q", want)
			}
		}
		code, out, _ = benchRun(t, append(args, "--setup-only")...)
		if code != 0 || !strings.Contains(out, "4 of 4 rosters already complete") {
			t.Errorf("--setup-only again: exit %d", code)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		code, _, errOut := benchRun(t, append([]string{"login", "--ca", ca, "--password", "wrong"}, common...)...)
		if code != 1 || !strings.Contains(errOut, "not-authorized") {
			t.Errorf("exit %d, want 1 and not-authorized", code)
		}
	})
}

// TestBenchUsage: mistakes on the command line give exit status 2 and
// say what is wrong, before anything connects.
func TestBenchUsage(t *testing.T) {
	t.Setenv("STARLING_PASSWORD", "")
	base := []string{"--domain", "localhost", "--addr", "127.0.0.1:1", "--password", "x"}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no scenario", nil, "name a scenario"},
		{"unknown scenario", []string{"storm"}, `unknown scenario "storm"`},
		{"no domain", []string{"login", "--password", "x"}, "--domain is required"},
		{"tls and plain", append([]string{"login", "--tls", "--plain"}, base...), "exclude each other"},
		{"ca with plain", append([]string{"login", "--plain", "--ca", "x.pem"}, base...), "--ca has no use"},
		{"bad addr", []string{"login", "--domain", "localhost", "--addr", "nowhere", "--password", "x"}, "not HOST:PORT"},
		{"no password", []string{"login", "--domain", "localhost"}, "no password"},
		{"zero duration", append([]string{"login", "--duration", "0s"}, base...), "--duration"},
		{"pairs flag on login", append([]string{"login", "--pairs", "2"}, base...), "flag provided but not defined"},
		{"stray argument", append([]string{"login", "extra"}, base...), "unexpected argument"},
		{"too many workers", append([]string{"login", "--workers", "100000"}, base...), "at most 1000 workers"},
		{"window too large", append([]string{"messages", "--window", "100000"}, base...), "a window of 1000"},
		{"no connections", append([]string{"idle", "--connections", "0"}, base...), "--connections must be between 1 and 200000"},
		{"too many connections", append([]string{"idle", "--connections", "200001"}, base...), "--connections must be between 1 and 200000"},
		{"setup-only on idle", append([]string{"idle", "--setup-only"}, base...), "flag provided but not defined"},
		{"duration on presence", append([]string{"presence", "--duration", "1s"}, base...), "flag provided but not defined"},
		{"contacts not below count", append([]string{"presence", "--count", "4", "--contacts", "4"}, base...), "below --count (4)"},
		{"too many contacts", append([]string{"presence", "--count", "5000", "--contacts", "1001"}, base...), "between 1 and 1000"},
		{"odd contacts, odd count", append([]string{"presence", "--count", "5", "--contacts", "3"}, base...), "needs an even --count"},
		{"too many accounts", append([]string{"presence", "--count", "100001"}, base...), "--count must be between 2 and 100000"},
		{"negative count", append([]string{"idle", "--count", "-1"}, base...), "--count must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := benchRun(t, tc.args...)
			if code != 2 || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, stderr lacks %q", code, tc.want)
			}
		})
	}
	// What only the library checks is refused too (exit 1, no connection).
	code, _, errOut := benchRun(t, append([]string{"messages", "--pairs", "2", "--count", "3"}, base...)...)
	if code != 1 || !strings.Contains(errOut, "count must be between 4") {
		t.Errorf("--pairs 2 --count 3: exit %d", code)
	}
}
