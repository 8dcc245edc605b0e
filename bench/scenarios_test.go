package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/starling-xmpp/starling/bench"
	"github.com/starling-xmpp/starling/client"
	"github.com/starling-xmpp/starling/jid"
)

// reportJSON writes r as text (logged) and JSON, and returns the JSON
// object.
func reportJSON(t *testing.T, r *bench.Report) map[string]any {
	t.Helper()
	var text, js bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	t.Logf("report:\n%s", text.String())
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(js.Bytes(), &got); err != nil {
		t.Fatalf("JSON report does not parse: %v\n%s", err, js.String())
	}
	return got
}

// TestIdle: 50 connections over 2 accounts are established, held and
// closed; the report has the connect rate and latency, and (the server
// runs in this process, whose id it is given) memory per connection.
func TestIdle(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "", 2)
	opt := options(srv)
	opt.Connections, opt.Count, opt.Workers = 50, 2, 10
	opt.ServerPID = os.Getpid()
	var calls atomic.Int64
	opt.Progress = func(p bench.Progress) {
		if p.Scenario != "idle" || p.Phase == "" {
			t.Errorf("progress %+v", p)
		}
		calls.Add(1)
	}
	r, err := bench.Idle(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	got := reportJSON(t, r)
	if err := r.Err(); err != nil || r.ErrorTotal() != 0 || r.Dropped != 0 || r.Aborted != 0 {
		t.Errorf("Err() = %v, errors %v, dropped %d, aborted %d", err, r.Errors, r.Dropped, r.Aborted)
	}
	if r.Ops != 50 || r.Connections != 50 || r.Accounts != 2 || r.LocalAddrs != 1 || r.Rate() <= 0 {
		t.Errorf("ops %d, connections %d, accounts %d, local addresses %d, rate %v", r.Ops, r.Connections, r.Accounts, r.LocalAddrs, r.Rate())
	}
	if l := r.Latency; l.Samples != 50 || l.P50 <= 0 || l.P50 > l.P99 || l.P99 > l.Max {
		t.Errorf("latency %+v", l)
	}
	if r.Hold < opt.Duration || r.CloseTime <= 0 || calls.Load() == 0 {
		t.Errorf("held %v (asked %v), closed in %v, %d progress calls", r.Hold, opt.Duration, r.CloseTime, calls.Load())
	}
	if got["scenario"] != "idle" || got["unit"] != "connection" || got["ops"] != 50.0 || got["connections"] != 50.0 || got["ok"] != true {
		t.Errorf("JSON: scenario %v, unit %v, ops %v, connections %v, ok %v", got["scenario"], got["unit"], got["ops"], got["connections"], got["ok"])
	}
	if runtime.GOOS != "linux" {
		return
	}
	// RSS is noisy (and here the server and the generator are one
	// process): present and finite, whatever its value.
	per, ok := r.ServerKiBPerConnection()
	if !ok || math.IsNaN(per) || math.IsInf(per, 0) || r.ServerRSSBefore <= 0 || r.ServerRSSAfter <= 0 {
		t.Errorf("server memory: %d → %d KiB, %v per connection (%v); %s", r.ServerRSSBefore, r.ServerRSSAfter, per, ok, r.ServerRSSNote)
	}
	if _, ok := r.ClientKiBPerConnection(); !ok {
		t.Errorf("no client memory per connection")
	}
	if v, ok := got["server_rss_kib_per_conn"].(float64); !ok || math.IsNaN(v) {
		t.Errorf("JSON server_rss_kib_per_conn = %v", got["server_rss_kib_per_conn"])
	}
	if r.ServerCPU == nil || r.HoldServerCPU == nil || got["server_cpu_us_per_op"] == nil {
		t.Errorf("server CPU %v, while holding %v", r.ServerCPU, r.HoldServerCPU)
	}
}

// TestIdleOpenFiles: more connections than the process may open files
// fail at once, naming the limit, before anything connects.
func TestIdleOpenFiles(t *testing.T) {
	t.Parallel()
	opt := bench.Options{Addr: "127.0.0.1:1", Domain: "localhost", Password: "x", Connections: bench.MaxConnections}
	_, err := bench.Idle(context.Background(), opt)
	if err != nil && strings.Contains(err.Error(), "first connection") {
		t.Skip("this process may open enough files for MaxConnections")
	}
	if err == nil || !strings.Contains(err.Error(), "RLIMIT_NOFILE") || !strings.Contains(err.Error(), fmt.Sprint(bench.MaxConnections)) {
		t.Errorf("got %v, want an error naming RLIMIT_NOFILE", err)
	}
}

// TestRing: every account has exactly r distinct contacts, itself not
// among them, and being a contact is mutual.
func TestRing(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ n, r int }{{12, 3}, {12, 4}, {12, 11}, {13, 12}, {4, 2}, {2, 1}, {100, 10}} {
		for a := 1; a <= tc.n; a++ {
			c := Ring(a, tc.n, tc.r)
			s := slices.Clone(c)
			slices.Sort(s)
			if len(slices.Compact(s)) != tc.r || slices.Contains(c, a) {
				t.Errorf("Ring(%d, %d, %d) = %v", a, tc.n, tc.r, c)
			}
			for _, b := range c {
				if b < 1 || b > tc.n || !slices.Contains(Ring(b, tc.n, tc.r), a) {
					t.Errorf("Ring(%d, %d, %d) = %v: %d does not have %d back", a, tc.n, tc.r, c, b, a)
				}
			}
		}
	}
}

// Ring is bench.Ring, shorter.
func Ring(a, n, r int) []int { return bench.Ring(a, n, r) }

// TestPresence: 12 accounts with 3 contacts each. The first run creates
// the subscriptions (removing a stale roster item on the way), which the
// roster then shows; every account sees every contact online. A second
// run finds the rosters complete and skips the setup.
func TestPresence(t *testing.T) {
	t.Parallel()
	const n, r = 12, 3
	srv := startServer(t, "", n)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// A contact that is not in the ring: the setup removes it.
	s := srv.Login(t, "user1@localhost", password)
	if err := s.SetRosterItem(ctx, client.RosterItem{JID: jid.MustParse("user5@localhost")}); err != nil {
		t.Fatal(err)
	}
	s.Close()

	opt := options(srv)
	opt.Count, opt.Contacts, opt.Workers = n, r, 6
	opt.ServerPID = os.Getpid()
	rep, err := bench.Presence(ctx, opt)
	if err != nil {
		t.Fatal(err)
	}
	got := reportJSON(t, rep)
	if err := rep.Err(); err != nil {
		t.Errorf("Err() = %v", err)
	}
	if rep.SetupSkipped != 0 || rep.SetupPasses < 1 || rep.SetupTime <= 0 {
		t.Errorf("setup: %d skipped, %d passes, %v", rep.SetupSkipped, rep.SetupPasses, rep.SetupTime)
	}
	if rep.Ops < n*r || rep.ContactPresences < n*r || rep.Online != n || rep.AllOnline == nil || rep.Rate() <= 0 {
		t.Errorf("%d presence (%d from contacts), %d online, all online after %v", rep.Ops, rep.ContactPresences, rep.Online, rep.AllOnline)
	}
	if rep.Latency.Samples != n {
		t.Errorf("%d login latencies, want %d", rep.Latency.Samples, n)
	}
	if got["unit"] != "presence" || got["all_online_s"] == nil || got["online"] != float64(n) || got["contacts"] != float64(r) {
		t.Errorf("JSON: unit %v, all_online_s %v, online %v, contacts %v", got["unit"], got["all_online_s"], got["online"], got["contacts"])
	}
	if runtime.GOOS == "linux" && (rep.ServerCPU == nil || got["server_cpu_us_per_op"] == nil) {
		t.Errorf("server CPU not measured: %s", rep.ServerCPUNote)
	}

	// The rosters, as a client sees them.
	for a := 1; a <= n; a++ {
		s := srv.Login(t, fmt.Sprintf("user%d@localhost", a), password)
		ro, err := s.Roster(ctx)
		s.Close()
		if err != nil {
			t.Fatal(err)
		}
		var items []string
		for _, it := range ro.Items {
			items = append(items, it.JID.String()+"="+it.Subscription)
		}
		slices.Sort(items)
		var want []string
		for _, c := range Ring(a, n, r) {
			want = append(want, fmt.Sprintf("user%d@localhost=both", c))
		}
		slices.Sort(want)
		if !slices.Equal(items, want) {
			t.Errorf("user%d's roster %v, want %v", a, items, want)
		}
	}

	// Again: nothing to set up.
	opt.SetupOnly = true
	rep, err = bench.Presence(ctx, opt)
	if err != nil {
		t.Fatal(err)
	}
	got = reportJSON(t, rep)
	if rep.SetupSkipped != n || rep.SetupPasses != 1 || rep.Err() != nil || got["setup_only"] != true || got["ok"] != true {
		t.Errorf("second setup: %d of %d skipped, %d passes, %v", rep.SetupSkipped, n, rep.SetupPasses, rep.Err())
	}
}

// TestScenarioOptions: the options of idle and presence are checked
// before anything connects.
func TestScenarioOptions(t *testing.T) {
	t.Parallel()
	good := bench.Options{Addr: "127.0.0.1:1", Domain: "localhost", Password: "x"}
	for _, tc := range []struct {
		name   string
		run    func(context.Context, bench.Options) (*bench.Report, error)
		change func(*bench.Options)
		want   string
	}{
		{"too many connections", bench.Idle, func(o *bench.Options) { o.Connections = bench.MaxConnections + 1 }, "connections must be between 1 and 200000"},
		{"negative connections", bench.Idle, func(o *bench.Options) { o.Connections = -1 }, "connections"},
		{"idle workers", bench.Idle, func(o *bench.Options) { o.Workers = bench.MaxWorkers + 1 }, "workers"},
		{"too many contacts", bench.Presence, func(o *bench.Options) { o.Contacts = bench.MaxContacts + 1 }, "contacts"},
		{"contacts not below count", bench.Presence, func(o *bench.Options) { o.Count, o.Contacts = 4, 4 }, "count must be between 5"},
		{"odd contacts, odd count", bench.Presence, func(o *bench.Options) { o.Count, o.Contacts = 5, 3 }, "even count"},
		{"too many accounts", bench.Presence, func(o *bench.Options) { o.Count = bench.MaxPresenceCount + 1 }, "100000"},
		{"phase too long", bench.Presence, func(o *bench.Options) { o.Timeout = bench.MaxTimeout + 1 }, "timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opt := good
			tc.change(&opt)
			if _, err := tc.run(context.Background(), opt); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}
