package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/starling-xmpp/starling/bench"
)

// write puts content at dir/name, creating directories.
func write(t *testing.T, dir, name, content string) {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// report returns the --json form of a login report with these figures, as
// `starling bench` writes it.
func report(t *testing.T, scenario string, ops int64, wall time.Duration, p50, p99, clientCPU, serverCPU time.Duration) string {
	t.Helper()
	r := &bench.Report{
		Scenario: scenario, Domain: "localhost", TLS: "none", Mechanism: "PLAIN", Workers: 4,
		Duration: wall, Wall: wall, Ops: ops, ClientCPU: clientCPU, GOMAXPROCS: 1, ServerCPU: &serverCPU,
		Latency: bench.Latency{Samples: ops, P50: p50, P90: p99, P99: p99, Max: p99},
	}
	if scenario == "messages" {
		r.Pairs, r.Window, r.Workers, r.Sent, r.Received = 4, 16, 0, ops, ops
	}
	var b strings.Builder
	if err := r.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func sampleResults(t *testing.T) string {
	dir := t.TempDir()
	write(t, dir, "meta.tsv", strings.Join([]string{
		"date\t2026-01-02 03:04 UTC",
		"cpu\tAMD EPYC 7B13",
		"cores\t2",
		"memory\t24 GiB",
		"kernel\t6.1.0",
		"debian\t12.11",
		"go\tgo1.26.0",
		"starling\tv0.1.0",
		"prosody\t0.12.3",
		"ejabberd\t23.01",
		"erlang\t25.2.3",
		"pinning\tserver on CPU 0, generator on CPU 1",
		"storage_prosody\tinternal_hashed | files",
		"command\tbench/compare.sh --quick",
		"a line without a tab",
	}, "\n")+"\n")
	s := time.Second
	ms := time.Millisecond
	// 1000 logins in 2 s, server 1 s: 1000 µs per login.
	write(t, dir, "starling/login-plain.json", report(t, "login", 1000, 2*s, 2*ms, 8*ms, s/2, s))
	// 500 logins in 2 s, 2000 µs per login.
	write(t, dir, "prosody/login-plain.json", report(t, "login", 500, 2*s, 4*ms, 16*ms, s/2, s))
	write(t, dir, "ejabberd/login-plain.err", "starting\nbench: first login (login) failed: connection refused\n")
	// The generator busy: 1.9 s of CPU in 2 s on one core.
	write(t, dir, "starling/messages-tls.json", report(t, "messages", 200000, 2*s, ms/2, 2*ms, 19*s/10, s))
	write(t, dir, "prosody/messages-tls.json", report(t, "messages", 50000, 2*s, 2*ms, 9*ms, s/2, 2*s))
	// A report with errors.
	var bad map[string]any
	if err := json.Unmarshal([]byte(report(t, "messages", 40000, 2*s, ms, 3*ms, s/2, s)), &bad); err != nil {
		t.Fatal(err)
	}
	bad["ok"], bad["error_total"], bad["lost"] = false, 3.0, 2.0
	bad["errors"] = []any{map[string]any{"kind": "receive: connection closed", "count": 3, "example": "EOF"}}
	b, _ := json.Marshal(bad)
	write(t, dir, "ejabberd/messages-tls.json", string(b))
	// Newer scenarios, with fields this program finds by their words.
	write(t, dir, "starling/idle.json", `{"scenario":"idle","connections":1000,"ops":1000,"rate_per_s":500,"latency_ms":{"samples":1000,"p50":1,"p99":3},"server_rss_kib_per_conn":12.5,"ok":true,"client_cpu_s":0.1,"wall_s":10,"gomaxprocs":1}`)
	write(t, dir, "prosody/idle.json", `{"scenario":"idle","connections":1000,"ops":1000,"latency_ms":{"samples":1000,"p50":2,"p99":6},"client_rss_kib_per_conn":7,"server_rss_kib_per_connection":50,"ok":true}`)
	write(t, dir, "starling/presence.json", `{"scenario":"presence","workers":16,"accounts":100,"duration_s":60,"contacts":10,"ops":5000,"rate_per_s":1,"presence_deliveries_per_s":2000,"all_online_s":1.5,"latency_ms":{"samples":0},"server_cpu_us_per_op":40,"ok":true}`)
	return dir
}

func TestRender(t *testing.T) {
	dir := sampleResults(t)
	var out strings.Builder
	if err := run(dir, "", &out); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	t.Log("\n" + got)
	for _, want := range []string{
		beginMarker + "\n",
		"Machine: AMD EPYC 7B13; 2 cores; 24 GiB memory; kernel 6.1.0; Debian 12.11.",
		"Software: Starling v0.1.0 (go1.26.0), Prosody 0.12.3, ejabberd 23.01 (Erlang/OTP 25.2.3).",
		"- CPU: server on CPU 0, generator on CPU 1.",
		"- Prosody: internal_hashed | files.",
		"Command: `bench/compare.sh --quick`",
		"### login, plain TCP + PLAIN (4 workers, 2.00 s)",
		"| Starling | 500 logins/s | 2.00 / 8.00 ms | 1,000 µs | – |  |",
		"| Prosody | 250 logins/s | 4.00 / 16.0 ms | 2,000 µs | – |  |",
		"| ejabberd | – | – | – | – | failed: bench: first login (login) failed: connection refused |",
		"| Starling / Prosody | 2.00× | 0.50× / 0.50× | 0.50× | – |  |",
		"### messages, STARTTLS (4 pairs, window 16, 2.00 s)",
		"| Starling | 100,000 msgs/s | 0.50 / 2.00 ms | 5.00 µs | – | generator at 95% of its core: the figure describes the generator |",
		"| ejabberd | 20,000 msgs/s | 1.00 / 3.00 ms | 25.0 µs | – | 3 errors (receive: connection closed), 2 lost |",
		"| Starling / Prosody | 4.00× | 0.25× / 0.22× | 0.12× | – |  |",
		"| Starling | 1,000 connections | 1.00 / 3.00 ms | – | 12.5 KiB |  |",
		"| Starling / Prosody | 1.00× | 0.50× / 0.50× | – | 0.25× |  |",
		"### presence, STARTTLS + SCRAM-SHA-1 (16 workers, 100 accounts, 10 contacts each)\n",
		"| Starling | 2,000 presences/s | – | 40.0 µs | – | 1.50 s |  |",
		"| Prosody | – | – | – | – | – | not run |",
		endMarker + "\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q", want)
		}
	}
	// No ratio against a server that failed or was not clean.
	if strings.Contains(got, "Starling / ejabberd") {
		t.Error("a ratio against a failed or unclean ejabberd run")
	}
	// Scenarios nobody ran are left out.
	if strings.Contains(got, "SCRAM-SHA-256") {
		t.Error("a table for a scenario without results")
	}
}

func TestSplice(t *testing.T) {
	section := beginMarker + "\nnew\n" + endMarker + "\n"
	for _, tc := range []struct{ name, doc, want string }{
		{"append", "# Title\n\ntext\n", "# Title\n\ntext\n\n" + section},
		{"replace", "# T\n\n" + beginMarker + "\nold\n" + endMarker + "\n\nafter\n", "# T\n\n" + section + "\nafter\n"},
		{"replace at end", "# T\n" + beginMarker + "\nold\n" + endMarker + "\n", "# T\n" + section},
	} {
		got, err := splice(tc.doc, section)
		if err != nil || got != tc.want {
			t.Errorf("%s: got %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
	for _, doc := range []string{beginMarker + "\n", endMarker + "\n" + beginMarker + "\n"} {
		if _, err := splice(doc, section); err == nil {
			t.Errorf("splice(%q): no error", doc)
		}
	}
}

func TestDoc(t *testing.T) {
	dir := sampleResults(t)
	doc := filepath.Join(t.TempDir(), "performance.md")
	write(t, filepath.Dir(doc), "performance.md", "# Performance\n\nKept.\n")
	for range 2 { // the second run replaces the first's section
		if err := run(dir, doc, nil); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	if !strings.HasPrefix(s, "# Performance\n\nKept.\n\n"+beginMarker) || strings.Count(s, beginMarker) != 1 || !strings.HasSuffix(s, endMarker+"\n") {
		t.Errorf("document:\n%s", s)
	}
}

func TestCount(t *testing.T) {
	for f, want := range map[float64]string{0: "0.00", 5.25: "5.25", 42.42: "42.4", 100: "100", 1234.5: "1,234", 1234567: "1,234,567", -2500: "-2,500"} {
		if got := count(f); got != want {
			t.Errorf("count(%v) = %q, want %q", f, got, want)
		}
	}
}
