package resolve

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/starling-xmpp/starling/internal/dnstest"
	"golang.org/x/net/dns/dnsmessage"
)

// seeded returns a fixed random source, so that every run orders alike.
func seeded() func(int) int {
	return rand.New(rand.NewPCG(1, 2)).IntN
}

func TestLookup(t *testing.T) {
	s := dnstest.Start(t)
	r := &Resolver{DNS: s.Resolver(), intn: seeded()}
	tests := []struct {
		name    string
		service string
		domain  string
		setup   func(d string) // adds records under d, the domain in A-label form
		want    []Target
		wantErr error // matched with errors.Is; nil means success
		errText string
	}{
		{
			name: "priority order", service: ServiceServer, domain: "prio.example",
			setup: func(d string) {
				s.AddSRV("_xmpp-server._tcp."+d, "b.prio.example", 5269, 20, 0)
				s.AddSRV("_xmpp-server._tcp."+d, "a.prio.example", 5270, 10, 100)
				s.AddSRV("_xmpp-server._tcp."+d, "c.prio.example", 5271, 30, 50)
			},
			want: []Target{{"a.prio.example", 5270, false}, {"b.prio.example", 5269, false}, {"c.prio.example", 5271, false}},
		},
		{
			name: "direct TLS first at equal priority", service: ServiceServer, domain: "tie.example",
			setup: func(d string) {
				s.AddSRV("_xmpp-server._tcp."+d, "plain.tie.example", 5269, 10, 1000)
				s.AddSRV("_xmpps-server._tcp."+d, "tls.tie.example", 5270, 10, 1)
				s.AddSRV("_xmpps-server._tcp."+d, "later.tie.example", 443, 20, 0)
			},
			want: []Target{{"tls.tie.example", 5270, true}, {"plain.tie.example", 5269, false}, {"later.tie.example", 443, true}},
		},
		{
			name: "priority before kind", service: ServiceClient, domain: "kind.example",
			setup: func(d string) {
				s.AddSRV("_xmpps-client._tcp."+d, "tls.kind.example", 443, 10, 0)
				s.AddSRV("_xmpp-client._tcp."+d, "plain.kind.example", 5222, 5, 0)
			},
			want: []Target{{"plain.kind.example", 5222, false}, {"tls.kind.example", 443, true}},
		},
		{
			name: "dot for xmpp, nothing for xmpps", service: ServiceServer, domain: "dot1.example",
			setup:   func(d string) { s.AddSRV("_xmpp-server._tcp."+d, ".", 0, 0, 0) },
			wantErr: ErrNoService,
		},
		{
			name: "dot for xmpps, nothing for xmpp", service: ServiceClient, domain: "dot2.example",
			setup:   func(d string) { s.AddSRV("_xmpps-client._tcp."+d, ".", 0, 0, 0) },
			wantErr: ErrNoService,
		},
		{
			name: "dot for both", service: ServiceServer, domain: "dot3.example",
			setup: func(d string) {
				s.AddSRV("_xmpp-server._tcp."+d, ".", 0, 0, 0)
				s.AddSRV("_xmpps-server._tcp."+d, ".", 0, 0, 0)
			},
			wantErr: ErrNoService,
		},
		{
			name: "dot for xmpps, records for xmpp", service: ServiceServer, domain: "dot4.example",
			setup: func(d string) {
				s.AddSRV("_xmpps-server._tcp."+d, ".", 0, 0, 0)
				s.AddSRV("_xmpp-server._tcp."+d, "xmpp.dot4.example", 5269, 0, 0)
			},
			want: []Target{{"xmpp.dot4.example", 5269, false}},
		},
		{
			name: "dot for xmpp, records for xmpps", service: ServiceClient, domain: "dot5.example",
			setup: func(d string) {
				s.AddSRV("_xmpp-client._tcp."+d, ".", 0, 0, 0)
				s.AddSRV("_xmpps-client._tcp."+d, "xmpp.dot5.example", 5223, 0, 0)
			},
			want: []Target{{"xmpp.dot5.example", 5223, true}},
		},
		{
			name: "dot among other records is skipped", service: ServiceServer, domain: "dot6.example",
			setup: func(d string) {
				s.AddSRV("_xmpp-server._tcp."+d, ".", 0, 0, 0)
				s.AddSRV("_xmpp-server._tcp."+d, "xmpp.dot6.example", 5269, 1, 0)
			},
			want: []Target{{"xmpp.dot6.example", 5269, false}},
		},
		{
			name: "dot for xmpp, xmpps fails", service: ServiceServer, domain: "dot7.example",
			setup: func(d string) {
				s.AddSRV("_xmpp-server._tcp."+d, ".", 0, 0, 0)
				s.SetRCode("_xmpps-server._tcp."+d, dnsmessage.RCodeServerFailure)
			},
			wantErr: ErrNoService,
		},
		{
			name: "no such name: fallback", service: ServiceServer, domain: "none.example",
			want: []Target{{"none.example", DefaultServerPort, false}},
		},
		{
			name: "name without SRV records: fallback", service: ServiceClient, domain: "nodata.example",
			setup: func(d string) { s.AddA(d, netip.MustParseAddr("192.0.2.1")) },
			want:  []Target{{"nodata.example", DefaultClientPort, false}},
		},
		{
			name: "records of the other service: fallback", service: ServiceClient, domain: "other.example",
			setup: func(d string) { s.AddSRV("_xmpp-server._tcp."+d, "s2s.other.example", 5269, 0, 0) },
			want:  []Target{{"other.example", DefaultClientPort, false}},
		},
		{
			name: "both lookups fail: fallback", service: ServiceServer, domain: "fail.example",
			setup: func(d string) {
				s.SetRCode("_xmpp-server._tcp."+d, dnsmessage.RCodeServerFailure)
				s.SetRCode("_xmpps-server._tcp."+d, dnsmessage.RCodeRefused)
			},
			want: []Target{{"fail.example", DefaultServerPort, false}},
		},
		{
			name: "one lookup fails, the other has records", service: ServiceServer, domain: "half.example",
			setup: func(d string) {
				s.SetRCode("_xmpps-server._tcp."+d, dnsmessage.RCodeServerFailure)
				s.AddSRV("_xmpp-server._tcp."+d, "xmpp.half.example", 5269, 0, 0)
			},
			want: []Target{{"xmpp.half.example", 5269, false}},
		},
		{
			name: "duplicates removed", service: ServiceServer, domain: "dup.example",
			setup: func(d string) {
				s.AddSRV("_xmpp-server._tcp."+d, "Host.dup.example.", 5269, 10, 0)
				s.AddSRV("_xmpp-server._tcp."+d, "host.dup.example", 5269, 20, 0)
				s.AddSRV("_xmpp-server._tcp."+d, "host.dup.example", 5270, 30, 0)
				s.AddSRV("_xmpps-server._tcp."+d, "host.dup.example", 5269, 40, 0)
			},
			want: []Target{{"host.dup.example", 5269, false}, {"host.dup.example", 5270, false}, {"host.dup.example", 5269, true}},
		},
		{
			name: "upper case and trailing dot", service: ServiceServer, domain: "CASE.Example.",
			setup: func(d string) { s.AddSRV("_xmpp-server._tcp."+d, "XMPP.case.example.", 5269, 0, 0) },
			want:  []Target{{"xmpp.case.example", 5269, false}},
		},
		{
			name: "IDN looked up as A-label", service: ServiceServer, domain: "Bücher.example",
			setup: func(string) {
				// Only the A-label holds records.
				s.AddSRV("_xmpp-server._tcp.xn--bcher-kva.example", "xmpp.xn--bcher-kva.example", 5269, 0, 0)
			},
			want: []Target{{"xmpp.xn--bcher-kva.example", 5269, false}},
		},
		{
			name: "IDN fallback as A-label", service: ServiceClient, domain: "straße.example",
			want: []Target{{"xn--strae-oqa.example", DefaultClientPort, false}},
		},
		{
			name: "too many targets", service: ServiceServer, domain: "many.example",
			setup: func(d string) {
				for i := range MaxTargets + 8 {
					s.AddSRV("_xmpp-server._tcp."+d, fmt.Sprintf("h%02d.many.example", i), 5269, uint16(i), 0)
				}
			},
			want: func() []Target {
				var want []Target
				for i := range MaxTargets {
					want = append(want, Target{fmt.Sprintf("h%02d.many.example", i), 5269, false})
				}
				return want
			}(),
		},
		{name: "unknown service", service: "xmpp", domain: "prio.example", errText: `unknown service "xmpp"`},
		{name: "empty domain", service: ServiceServer, domain: "", errText: "resolve: domain"},
		{name: "empty label", service: ServiceServer, domain: "a..example", errText: "resolve: domain"},
		{name: "disallowed rune", service: ServiceServer, domain: "a_b.example", errText: "resolve: domain"},
		{name: "label too long", service: ServiceServer, domain: strings.Repeat("a", 64) + ".example", errText: "resolve: domain"},
		{name: "bracketed IPv4", service: ServiceServer, domain: "[192.0.2.1]", errText: "resolve: domain"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.setup != nil {
				d, err := toASCII(tc.domain)
				if err != nil {
					t.Fatal(err)
				}
				tc.setup(d)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			got, err := r.Lookup(ctx, tc.service, tc.domain)
			switch {
			case tc.wantErr != nil || tc.errText != "":
				if err == nil || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) || !strings.Contains(err.Error(), tc.errText) {
					t.Fatalf("Lookup = %v, %v; want error %v %q", got, err, tc.wantErr, tc.errText)
				}
				if got != nil {
					t.Errorf("Lookup returned targets %v with its error", got)
				}
			case err != nil:
				t.Fatalf("Lookup: %v", err)
			case !slices.Equal(got, tc.want):
				t.Errorf("Lookup =\n%v\nwant\n%v", got, tc.want)
			}
		})
	}
	// The answer for many.example does not fit in UDP: it came over TCP.
	if s.TCPQueries() == 0 {
		t.Error("no query over TCP, want the truncated answer asked again")
	}
}

func TestLookupIPLiteral(t *testing.T) {
	s := dnstest.Start(t)
	tests := []struct {
		domain  string
		service string
		want    Target
	}{
		{"127.0.0.1", ServiceServer, Target{"127.0.0.1", DefaultServerPort, false}},
		{"[::1]", ServiceClient, Target{"::1", DefaultClientPort, false}},
		{"::1", ServiceServer, Target{"::1", DefaultServerPort, false}},
		{"[2001:DB8::0:1]", ServiceServer, Target{"2001:db8::1", DefaultServerPort, false}},
	}
	for _, r := range []*Resolver{{DNS: s.Resolver()}, {}, nil} {
		for _, tc := range tests {
			got, err := r.Lookup(t.Context(), tc.service, tc.domain)
			if err != nil || len(got) != 1 || got[0] != tc.want {
				t.Errorf("Lookup(%s) = %v, %v; want [%v]", tc.domain, got, err, tc.want)
			}
		}
	}
	if n := s.Queries(); n != 0 {
		t.Errorf("%d DNS queries for IP literals, want none", n)
	}
	if got, want := (Target{"::1", 5222, false}).Addr(), "[::1]:5222"; got != want {
		t.Errorf("Addr() = %q, want %q", got, want)
	}
}

// TestLookupWeights checks, through DNS, that weights shape the order.
func TestLookupWeights(t *testing.T) {
	s := dnstest.Start(t)
	s.AddSRV("_xmpp-server._tcp.w.example", "heavy.w.example", 5269, 0, 3)
	s.AddSRV("_xmpp-server._tcp.w.example", "light.w.example", 5269, 0, 1)
	s.AddSRV("_xmpp-server._tcp.w.example", "backup.w.example", 5269, 1, 0)
	r := &Resolver{DNS: s.Resolver(), intn: seeded()}
	const runs = 2000
	heavy := 0
	for range runs {
		got, err := r.Lookup(t.Context(), ServiceServer, "w.example")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 || got[2].Host != "backup.w.example" {
			t.Fatalf("Lookup = %v, want heavy and light in some order, then backup", got)
		}
		if got[0].Host == "heavy.w.example" {
			heavy++
		}
	}
	// 75% expected; 4 standard deviations are about 3.9%.
	if f := float64(heavy) / runs; f < 0.71 || f > 0.79 {
		t.Errorf("weight-3 record first in %.1f%% of runs, want about 75%%", 100*f)
	}
}

func TestPickExact(t *testing.T) {
	// Records named by their weight; scripted random numbers.
	tests := []struct {
		name      string
		weights   []uint16
		draws     []int // what intn returns, in order
		wantCalls []int // the n intn is called with
		want      int   // index picked
	}{
		{"single record, no draw", []uint16{5}, nil, nil, 0},
		{"3 vs 1, lowest draw", []uint16{3, 1}, []int{0}, []int{4}, 0},
		{"3 vs 1, draw 2", []uint16{3, 1}, []int{2}, []int{4}, 0},
		{"3 vs 1, highest draw", []uint16{3, 1}, []int{3}, []int{4}, 1},
		{"1 vs 3, lowest draw", []uint16{1, 3}, []int{0}, []int{4}, 0},
		{"1 vs 3, draw 1", []uint16{1, 3}, []int{1}, []int{4}, 1},
		{"running sums 2,5,6: r=5", []uint16{2, 3, 1}, []int{4}, []int{6}, 1},
		{"running sums 2,5,6: r=6", []uint16{2, 3, 1}, []int{5}, []int{6}, 2},
		{"zero and 2: r=0 picks zero", []uint16{2, 0}, []int{0}, []int{3}, 1},
		{"zero and 2: r=1", []uint16{2, 0}, []int{1}, []int{3}, 0},
		{"zero and 2: r=2", []uint16{2, 0}, []int{2}, []int{3}, 0},
		{"two zeros: r=0, second zero", []uint16{0, 4, 0}, []int{0, 1}, []int{5, 2}, 2},
		{"two zeros: r=0, first zero", []uint16{0, 4, 0}, []int{0, 0}, []int{5, 2}, 0},
		{"two zeros: r=4", []uint16{0, 4, 0}, []int{4}, []int{5}, 1},
		{"all zero: one draw among them", []uint16{0, 0, 0}, []int{2}, []int{3}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var rs []record
			for i, w := range tc.weights {
				rs = append(rs, record{host: fmt.Sprint("h", i), weight: w})
			}
			var calls []int
			intn := func(n int) int {
				if len(calls) >= len(tc.draws) {
					t.Fatalf("unexpected draw %d: calls so far %v", len(calls)+1, calls)
				}
				v := tc.draws[len(calls)]
				calls = append(calls, n)
				if v < 0 || v >= n {
					t.Fatalf("scripted draw %d out of [0, %d)", v, n)
				}
				return v
			}
			if got := pick(rs, intn); got != tc.want {
				t.Errorf("pick = %d, want %d", got, tc.want)
			}
			if !slices.Equal(calls, tc.wantCalls) {
				t.Errorf("intn called with %v, want %v", calls, tc.wantCalls)
			}
		})
	}
}

// TestOrderDistribution checks how often each record comes first over many
// orderings with a fixed seed, against the proportions RFC 2782 asks for.
func TestOrderDistribution(t *testing.T) {
	tests := []struct {
		name    string
		weights []uint16
		runs    int
		want    []float64 // chance of coming first, per record
	}{
		{"3 vs 1", []uint16{3, 1}, 2000, []float64{0.75, 0.25}},
		{"1 vs 3", []uint16{1, 3}, 2000, []float64{0.25, 0.75}},
		{"with a zero", []uint16{0, 1, 2, 5}, 9000, []float64{1.0 / 9, 1.0 / 9, 2.0 / 9, 5.0 / 9}},
		{"all zero", []uint16{0, 0, 0, 0}, 4000, []float64{0.25, 0.25, 0.25, 0.25}},
		{"equal weights", []uint16{10, 10, 10}, 3000, []float64{1.0 / 3, 1.0 / 3, 1.0 / 3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			intn := seeded()
			counts := make(map[string]int)
			for range tc.runs {
				var rs []record
				for i, w := range tc.weights {
					rs = append(rs, record{host: fmt.Sprint("h", i), port: 5269, weight: w})
				}
				got := order(rs, intn, MaxTargets)
				if len(got) != len(tc.weights) {
					t.Fatalf("order returned %d targets, want %d", len(got), len(tc.weights))
				}
				counts[got[0].Host]++
			}
			for i, p := range tc.want {
				f := float64(counts[fmt.Sprint("h", i)]) / float64(tc.runs)
				// Within 4 standard deviations of the binomial proportion.
				tol := 4 * math.Sqrt(p*(1-p)/float64(tc.runs))
				if math.Abs(f-p) > tol {
					t.Errorf("record %d (weight %d) first in %.3f of runs, want %.3f ± %.3f", i, tc.weights[i], f, p, tol)
				}
			}
		})
	}
}

// TestOrderGroups checks grouping, limits and deduplication without DNS.
func TestOrderGroups(t *testing.T) {
	recs := []record{
		{host: "p2", port: 1, priority: 2, weight: 0},
		{host: "tls1b", port: 1, priority: 1, weight: 5, directTLS: true},
		{host: "plain1", port: 1, priority: 1, weight: 60000},
		{host: "tls1a", port: 1, priority: 1, weight: 5, directTLS: true},
		{host: "p0", port: 1, priority: 0, weight: 0},
		{host: "p0", port: 1, priority: 0, weight: 7}, // duplicate target
	}
	for seed := range uint64(20) {
		intn := rand.New(rand.NewPCG(seed, seed)).IntN
		got := order(slices.Clone(recs), intn, MaxTargets)
		var hosts []string
		for _, tg := range got {
			hosts = append(hosts, tg.Host)
		}
		a := []string{"p0", "tls1a", "tls1b", "plain1", "p2"}
		b := []string{"p0", "tls1b", "tls1a", "plain1", "p2"}
		if !slices.Equal(hosts, a) && !slices.Equal(hosts, b) {
			t.Errorf("seed %d: order = %v, want %v or %v", seed, hosts, a, b)
		}
		if limited := order(slices.Clone(recs), intn, 2); len(limited) != 2 || limited[0].Host != "p0" {
			t.Errorf("seed %d: order with limit 2 = %v", seed, limited)
		}
	}
}

func TestLookupContext(t *testing.T) {
	s := dnstest.Start(t)
	s.AddSRV("_xmpp-server._tcp.ctx.example", "xmpp.ctx.example", 5269, 0, 0)
	r := &Resolver{DNS: s.Resolver()}

	t.Run("cancelled before", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		got, err := r.Lookup(ctx, ServiceServer, "ctx.example")
		if !errors.Is(err, context.Canceled) || got != nil {
			t.Errorf("Lookup = %v, %v; want context.Canceled", got, err)
		}
		if n := s.Queries(); n != 0 {
			t.Errorf("%d queries answered, want none", n)
		}
	})

	t.Run("unresponsive server, deadline", func(t *testing.T) {
		s.SetUnresponsive(true)
		defer s.SetUnresponsive(false)
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		got, err := r.Lookup(ctx, ServiceServer, "ctx.example")
		if !errors.Is(err, context.DeadlineExceeded) || got != nil {
			t.Errorf("Lookup = %v, %v; want context.DeadlineExceeded", got, err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("Lookup took %v with a 200ms deadline", d)
		}
	})

	t.Run("unresponsive server, cancelled while waiting", func(t *testing.T) {
		s.SetUnresponsive(true)
		defer s.SetUnresponsive(false)
		ctx, cancel := context.WithCancel(t.Context())
		timer := time.AfterFunc(100*time.Millisecond, cancel)
		defer timer.Stop()
		start := time.Now()
		got, err := r.Lookup(ctx, ServiceServer, "ctx.example")
		if !errors.Is(err, context.Canceled) || got != nil {
			t.Errorf("Lookup = %v, %v; want context.Canceled", got, err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("Lookup took %v, cancelled after 100ms", d)
		}
	})

	t.Run("answers again", func(t *testing.T) {
		got, err := r.Lookup(t.Context(), ServiceServer, "ctx.example")
		if err != nil || len(got) != 1 || got[0].Host != "xmpp.ctx.example" {
			t.Errorf("Lookup = %v, %v", got, err)
		}
	})
}
