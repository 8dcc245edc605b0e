package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/starling-xmpp/starling/bench"
	"github.com/starling-xmpp/starling/internal/testserver"
)

const password = "bench-secret"

// startServer starts a server with accounts user1..userN.
func startServer(t *testing.T, yaml string, n int) *testserver.Server {
	t.Helper()
	srv := testserver.Start(t, yaml)
	for i := 1; i <= n; i++ {
		srv.AddUser(t, fmt.Sprintf("user%d@localhost", i), password)
	}
	return srv
}

func options(srv *testserver.Server) bench.Options {
	return bench.Options{
		Addr:     srv.Addr,
		Domain:   "localhost",
		Password: password,
		TLS:      srv.TLSConfig(),
		Duration: time.Second,
		Timeout:  10 * time.Second,
	}
}

// checkReport checks what every clean run's report must satisfy.
func checkReport(t *testing.T, r *bench.Report) {
	t.Helper()
	var text, js bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	t.Logf("report:\n%s", text.String())
	if err := r.Err(); err != nil {
		t.Errorf("Err() = %v, want nil", err)
	}
	if r.Ops <= 0 || r.ErrorTotal() != 0 {
		t.Errorf("ops %d, errors %d %v; want ops > 0 and no error", r.Ops, r.ErrorTotal(), r.Errors)
	}
	l := r.Latency
	if l.Samples != r.Ops || l.P50 <= 0 || l.P50 > l.P90 || l.P90 > l.P99 || l.P99 > l.Max {
		t.Errorf("latency %+v for %d ops: want samples = ops and 0 < p50 <= p90 <= p99 <= max", l, r.Ops)
	}
	if r.Wall < r.Duration || r.Rate() <= 0 {
		t.Errorf("wall %v for a duration of %v, rate %v", r.Wall, r.Duration, r.Rate())
	}
	if runtime.GOOS == "linux" && (r.ClientCPU <= 0 || r.ServerCPU == nil || *r.ServerCPU < 0) {
		t.Errorf("CPU: client %v, server %v (%s); want both measured", r.ClientCPU, r.ServerCPU, r.ServerCPUNote)
	}
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(js.Bytes(), &got); err != nil {
		t.Fatalf("JSON report does not parse: %v\n%s", err, js.String())
	}
	if got["scenario"] != r.Scenario || got["ops"] != float64(r.Ops) || got["ok"] != true {
		t.Errorf("JSON report %s: scenario, ops or ok wrong", js.String())
	}
	if lat, _ := got["latency_ms"].(map[string]any); lat == nil || lat["p99"].(float64) > lat["max"].(float64) {
		t.Errorf("JSON latency_ms = %v", got["latency_ms"])
	}
}

// TestLogin: workers log in and out for a second, over STARTTLS with the
// server's certificate verified and over plaintext with PLAIN; every
// login succeeds, and the progress callback sees them.
func TestLogin(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, yaml, mech string
		plain            bool
	}{
		{"STARTTLS", "", "", false},
		{"plaintext PLAIN", "c2s:\n  allow_plaintext: true\n", "PLAIN", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, tc.yaml, 4)
			opt := options(srv)
			opt.Workers, opt.Count = 3, 4
			opt.Plaintext, opt.Mechanism = tc.plain, tc.mech
			opt.ServerPID = os.Getpid() // the server runs in this process
			var calls atomic.Int64
			opt.Progress = func(p bench.Progress) {
				if p.Scenario != "login" || p.Elapsed <= 0 {
					t.Errorf("progress %+v", p)
				}
				calls.Add(1)
			}
			r, err := bench.Login(context.Background(), opt)
			if err != nil {
				t.Fatal(err)
			}
			checkReport(t, r)
			if r.Workers != 3 || r.Scenario != "login" || calls.Load() == 0 {
				t.Errorf("workers %d, scenario %q, %d progress calls", r.Workers, r.Scenario, calls.Load())
			}
			if tc.plain && (r.TLS != "none" || r.Mechanism != "PLAIN") {
				t.Errorf("TLS %q, mechanism %q; want none and PLAIN", r.TLS, r.Mechanism)
			}
			if !tc.plain && (r.TLS != "STARTTLS" || !strings.HasPrefix(r.Mechanism, "SCRAM-")) {
				t.Errorf("TLS %q, mechanism %q; want STARTTLS and SCRAM", r.TLS, r.Mechanism)
			}
		})
	}
}

// TestMessages: pairs exchange windowed messages for a second; every
// message arrives, in order, and the window is respected.
func TestMessages(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "", 6)
	opt := options(srv)
	opt.Pairs, opt.Window = 3, 8
	opt.ServerPID = os.Getpid()
	r, err := bench.Messages(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	checkReport(t, r)
	if r.Sent == 0 || r.Sent != r.Received || r.Lost != 0 || r.Reordered != 0 {
		t.Errorf("sent %d, received %d, lost %d, reordered %d", r.Sent, r.Received, r.Lost, r.Reordered)
	}
	if r.Pairs != 3 || r.Window != 8 {
		t.Errorf("pairs %d, window %d", r.Pairs, r.Window)
	}
}

// TestMessagesEnd: with a window of one, the run's end almost always
// finds the sender waiting for its slot; the message then in flight must
// still be waited for, not counted as lost.
func TestMessagesEnd(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "", 4)
	for range 5 {
		opt := options(srv)
		opt.Pairs, opt.Window, opt.Duration = 2, 1, 100*time.Millisecond
		r, err := bench.Messages(context.Background(), opt)
		if err != nil {
			t.Fatal(err)
		}
		if r.Sent == 0 || r.Lost != 0 || r.Err() != nil {
			t.Fatalf("sent %d, received %d: %v", r.Sent, r.Received, r.Err())
		}
	}
}

// TestFirstLoginFails: a wrong password (or an untrusted certificate)
// stops the run before it starts, with an error saying why.
func TestFirstLoginFails(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "", 2)
	for _, tc := range []struct {
		name   string
		change func(*bench.Options)
		want   string
	}{
		{"wrong password", func(o *bench.Options) { o.Password = "wrong" }, "not-authorized"},
		{"untrusted certificate", func(o *bench.Options) { o.TLS = nil }, "certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opt := options(srv)
			tc.change(&opt)
			if r, err := bench.Login(context.Background(), opt); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Login: %v, %v; want an error with %q", r, err, tc.want)
			}
			opt.Pairs = 1
			if r, err := bench.Messages(context.Background(), opt); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Messages: %v, %v; want an error with %q", r, err, tc.want)
			}
		})
	}
}

// TestOptions: bad options are refused before anything connects.
func TestOptions(t *testing.T) {
	t.Parallel()
	good := bench.Options{Addr: "127.0.0.1:1", Domain: "localhost", Password: "x"}
	for _, tc := range []struct {
		name   string
		change func(*bench.Options)
		want   string
	}{
		{"no domain", func(o *bench.Options) { o.Domain = "" }, "no domain"},
		{"bad domain", func(o *bench.Options) { o.Domain = "a@b" }, "not a domain"},
		{"no password", func(o *bench.Options) { o.Password = "" }, "no password"},
		{"pattern without %d", func(o *bench.Options) { o.Users = "user" }, "%d"},
		{"pattern with two verbs", func(o *bench.Options) { o.Users = "u%d%s" }, "%d"},
		{"pattern gives no account", func(o *bench.Options) { o.Users = "a/%d" }, "not an account"},
		{"too many workers", func(o *bench.Options) { o.Workers = bench.MaxWorkers + 1 }, "workers"},
		{"too many pairs", func(o *bench.Options) { o.Pairs = bench.MaxPairs + 1 }, "pairs"},
		{"window too large", func(o *bench.Options) { o.Window = bench.MaxWindow + 1 }, "window"},
		{"too few accounts", func(o *bench.Options) { o.Pairs, o.Count = 2, 3 }, "count"},
		{"too long", func(o *bench.Options) { o.Duration = bench.MaxDuration + 1 }, "duration"},
		{"negative timeout", func(o *bench.Options) { o.Timeout = -1 }, "timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opt := good
			tc.change(&opt)
			var err error
			if opt.Pairs != 0 || opt.Window != 0 {
				_, err = bench.Messages(context.Background(), opt)
			} else {
				_, err = bench.Login(context.Background(), opt)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}
