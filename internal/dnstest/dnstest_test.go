package dnstest

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// DNSSEC record types (RFC 4034), which dnsmessage does not name; a
// validating resolver asks for them.
const (
	typeDS     dnsmessage.Type = 43
	typeDNSKEY dnsmessage.Type = 48
)

// query builds a query message for name and type with the given header.
func query(t *testing.T, h dnsmessage.Header, qs []dnsmessage.Question, edns bool) []byte {
	t.Helper()
	b := dnsmessage.NewBuilder(nil, h)
	if err := b.StartQuestions(); err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		if err := b.Question(q); err != nil {
			t.Fatal(err)
		}
	}
	if edns {
		if err := b.StartAdditionals(); err != nil {
			t.Fatal(err)
		}
		var rh dnsmessage.ResourceHeader
		if err := rh.SetEDNS0(1232, dnsmessage.RCodeSuccess, false); err != nil {
			t.Fatal(err)
		}
		if err := b.OPTResource(rh, dnsmessage.OPTResource{}); err != nil {
			t.Fatal(err)
		}
	}
	msg, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

// exchange sends msg to addr over network ("udp" or "tcp") and returns the
// parsed response, or an error if none comes within timeout.
func exchange(network, addr string, msg []byte, timeout time.Duration) (*dnsmessage.Message, error) {
	c, err := net.DialTimeout(network, addr, timeout)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	var raw []byte
	if network == "tcp" {
		out := binary.BigEndian.AppendUint16(nil, uint16(len(msg)))
		if _, err := c.Write(append(out, msg...)); err != nil {
			return nil, err
		}
		var l [2]byte
		if _, err := io.ReadFull(c, l[:]); err != nil {
			return nil, err
		}
		raw = make([]byte, binary.BigEndian.Uint16(l[:]))
		if _, err := io.ReadFull(c, raw); err != nil {
			return nil, err
		}
	} else {
		if _, err := c.Write(msg); err != nil {
			return nil, err
		}
		buf := make([]byte, 65535)
		n, err := c.Read(buf)
		if err != nil {
			return nil, err
		}
		raw = buf[:n]
	}
	var m dnsmessage.Message
	if err := m.Unpack(raw); err != nil {
		return nil, fmt.Errorf("unpack response: %w", err)
	}
	return &m, nil
}

func newTestServer(t *testing.T) *Server {
	s := Start(t)
	s.AddSRV("_xmpp-server._tcp.Example.NET", "xmpp1.example.net", 5269, 10, 5)
	s.AddSRV("_xmpp-server._tcp.example.net.", "xmpp2.example.net.", 5270, 20, 0)
	s.AddSRV("_xmpps-server._tcp.example.net", ".", 0, 0, 0)
	s.AddA("xmpp1.example.net", netip.MustParseAddr("192.0.2.1"))
	s.AddA("XMPP1.example.net.", netip.MustParseAddr("2001:db8::1"))
	s.AddA("v4only.example.net", netip.MustParseAddr("192.0.2.2"))
	return s
}

func TestRawQueries(t *testing.T) {
	s := newTestServer(t)
	tests := []struct {
		name      string
		qname     string
		qtype     dnsmessage.Type
		wantRCode dnsmessage.RCode
		want      []string // answers, formatted by formatAnswer
	}{
		{"srv", "_xmpp-server._tcp.example.net.", dnsmessage.TypeSRV, dnsmessage.RCodeSuccess,
			[]string{"SRV 10 5 5269 xmpp1.example.net.", "SRV 20 0 5270 xmpp2.example.net."}},
		{"srv mixed case", "_XMPP-server._TCP.eXample.net.", dnsmessage.TypeSRV, dnsmessage.RCodeSuccess,
			[]string{"SRV 10 5 5269 xmpp1.example.net.", "SRV 20 0 5270 xmpp2.example.net."}},
		{"srv dot", "_xmpps-server._tcp.example.net.", dnsmessage.TypeSRV, dnsmessage.RCodeSuccess,
			[]string{"SRV 0 0 0 ."}},
		{"a", "xmpp1.example.net.", dnsmessage.TypeA, dnsmessage.RCodeSuccess, []string{"A 192.0.2.1"}},
		{"aaaa", "xmpp1.example.net.", dnsmessage.TypeAAAA, dnsmessage.RCodeSuccess, []string{"AAAA 2001:db8::1"}},
		{"any", "xmpp1.example.net.", dnsmessage.TypeALL, dnsmessage.RCodeSuccess,
			[]string{"A 192.0.2.1", "AAAA 2001:db8::1"}},
		{"empty aaaa", "v4only.example.net.", dnsmessage.TypeAAAA, dnsmessage.RCodeSuccess, nil},
		{"empty ds", "v4only.example.net.", typeDS, dnsmessage.RCodeSuccess, nil},
		{"empty dnskey", "xmpp1.example.net.", typeDNSKEY, dnsmessage.RCodeSuccess, nil},
		{"empty srv at host", "xmpp1.example.net.", dnsmessage.TypeSRV, dnsmessage.RCodeSuccess, nil},
		{"empty non-terminal", "_tcp.example.net.", dnsmessage.TypeSRV, dnsmessage.RCodeSuccess, nil},
		{"empty non-terminal parent", "example.net.", dnsmessage.TypeA, dnsmessage.RCodeSuccess, nil},
		{"root", ".", typeDNSKEY, dnsmessage.RCodeSuccess, nil},
		{"nxdomain", "missing.example.net.", dnsmessage.TypeA, dnsmessage.RCodeNameError, nil},
		{"nxdomain srv", "_xmpp-client._tcp.example.net.", dnsmessage.TypeSRV, dnsmessage.RCodeNameError, nil},
		{"nxdomain suffix is not a parent", "ample.net.", dnsmessage.TypeA, dnsmessage.RCodeNameError, nil},
		{"nxdomain ds", "other.example.", typeDS, dnsmessage.RCodeNameError, nil},
	}
	for _, network := range []string{"udp", "tcp"} {
		for i, tc := range tests {
			t.Run(network+"/"+tc.name, func(t *testing.T) {
				q := dnsmessage.Question{Name: dnsmessage.MustNewName(tc.qname), Type: tc.qtype, Class: dnsmessage.ClassINET}
				id := uint16(1000 + i)
				rd := i%2 == 0
				msg := query(t, dnsmessage.Header{ID: id, RecursionDesired: rd}, []dnsmessage.Question{q}, i%3 == 0)
				m, err := exchange(network, s.Addr, msg, 2*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				h := m.Header
				if h.ID != id || !h.Response || !h.Authoritative || !h.RecursionAvailable || h.RecursionDesired != rd || h.Truncated {
					t.Errorf("header = %+v, want id %d, response, AA, RA, RD=%v, not truncated", h, id, rd)
				}
				if h.RCode != tc.wantRCode {
					t.Errorf("rcode = %v, want %v", h.RCode, tc.wantRCode)
				}
				if len(m.Questions) != 1 || m.Questions[0] != q {
					t.Errorf("questions = %v, want [%v]", m.Questions, q)
				}
				var got []string
				for _, a := range m.Answers {
					if a.Header.Name != q.Name {
						t.Errorf("answer owner %v, want the question's %v", a.Header.Name, q.Name)
					}
					got = append(got, formatAnswer(a))
				}
				if !slices.Equal(got, tc.want) {
					t.Errorf("answers = %q, want %q", got, tc.want)
				}
				hasOPT := false
				for _, a := range m.Additionals {
					hasOPT = hasOPT || a.Header.Type == dnsmessage.TypeOPT
				}
				if wantOPT := i%3 == 0; hasOPT != wantOPT {
					t.Errorf("OPT in response: %v, want %v", hasOPT, wantOPT)
				}
			})
		}
	}
	if got, want := s.Queries(), 2*len(tests); got != want {
		t.Errorf("Queries() = %d, want %d", got, want)
	}
	if got, want := s.TCPQueries(), len(tests); got != want {
		t.Errorf("TCPQueries() = %d, want %d", got, want)
	}
}

func formatAnswer(a dnsmessage.Resource) string {
	switch b := a.Body.(type) {
	case *dnsmessage.SRVResource:
		return fmt.Sprintf("SRV %d %d %d %s", b.Priority, b.Weight, b.Port, b.Target)
	case *dnsmessage.AResource:
		return "A " + netip.AddrFrom4(b.A).String()
	case *dnsmessage.AAAAResource:
		return "AAAA " + netip.AddrFrom16(b.AAAA).String()
	}
	return a.Header.Type.String()
}

func TestMalformedQueries(t *testing.T) {
	s := Start(t)
	s.AddA("a.example", netip.MustParseAddr("192.0.2.1"))
	q := dnsmessage.Question{Name: dnsmessage.MustNewName("a.example."), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET}
	tests := []struct {
		name      string
		h         dnsmessage.Header
		qs        []dnsmessage.Question
		wantRCode dnsmessage.RCode
	}{
		{"no question", dnsmessage.Header{ID: 1}, nil, dnsmessage.RCodeFormatError},
		{"two questions", dnsmessage.Header{ID: 2}, []dnsmessage.Question{q, q}, dnsmessage.RCodeFormatError},
		{"notify opcode", dnsmessage.Header{ID: 3, OpCode: 4}, []dnsmessage.Question{q}, dnsmessage.RCodeNotImplemented},
		{"chaos class", dnsmessage.Header{ID: 4}, []dnsmessage.Question{{Name: q.Name, Type: q.Type, Class: dnsmessage.ClassCHAOS}}, dnsmessage.RCodeRefused},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := exchange("udp", s.Addr, query(t, tc.h, tc.qs, false), 2*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if m.Header.ID != tc.h.ID || m.Header.RCode != tc.wantRCode || len(m.Answers) != 0 {
				t.Errorf("got id %d rcode %v with %d answers, want id %d rcode %v and none", m.Header.ID, m.Header.RCode, len(m.Answers), tc.h.ID, tc.wantRCode)
			}
		})
	}
}

func TestGoResolver(t *testing.T) {
	s := newTestServer(t)
	r := s.Resolver()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()

	t.Run("srv", func(t *testing.T) {
		_, srvs, err := r.LookupSRV(ctx, "xmpp-server", "tcp", "example.net.")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, srv := range srvs {
			got = append(got, fmt.Sprintf("%d %d %d %s", srv.Priority, srv.Weight, srv.Port, srv.Target))
		}
		want := []string{"10 5 5269 xmpp1.example.net.", "20 0 5270 xmpp2.example.net."}
		if !slices.Equal(got, want) {
			t.Errorf("LookupSRV = %q, want %q", got, want)
		}
	})
	t.Run("addresses", func(t *testing.T) {
		tests := []struct {
			host string
			want []string
		}{
			{"xmpp1.example.net.", []string{"192.0.2.1", "2001:db8::1"}},
			{"v4only.example.net.", []string{"192.0.2.2"}},
		}
		for _, tc := range tests {
			addrs, err := r.LookupNetIP(ctx, "ip", tc.host)
			if err != nil {
				t.Fatalf("LookupNetIP(%s): %v", tc.host, err)
			}
			var got []string
			for _, a := range addrs {
				got = append(got, a.String())
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("LookupNetIP(%s) = %v, want %v", tc.host, got, tc.want)
			}
		}
	})
	t.Run("not found", func(t *testing.T) {
		for _, name := range []string{"missing.example.net.", "_tcp.example.net."} {
			_, _, err := r.LookupSRV(ctx, "", "", name)
			var dnsErr *net.DNSError
			if !errors.As(err, &dnsErr) || !dnsErr.IsNotFound {
				t.Errorf("LookupSRV(%s) error = %v, want a not-found DNSError", name, err)
			}
		}
	})
	t.Run("servfail", func(t *testing.T) {
		s.SetRCode("_xmpp-client._tcp.example.net", dnsmessage.RCodeServerFailure)
		defer s.SetRCode("_xmpp-client._tcp.example.net", dnsmessage.RCodeSuccess)
		_, _, err := r.LookupSRV(ctx, "xmpp-client", "tcp", "example.net.")
		var dnsErr *net.DNSError
		if !errors.As(err, &dnsErr) || dnsErr.IsNotFound {
			t.Errorf("LookupSRV error = %v, want a DNSError other than not found", err)
		}
	})
}

// TestTCPFallback checks that answers too big for UDP, or truncated on
// purpose, reach Go's resolver over TCP.
func TestTCPFallback(t *testing.T) {
	s := Start(t)
	const n = 60 // well over 1232 bytes of SRV records
	for i := range n {
		s.AddSRV("_xmpp-client._tcp.big.example", fmt.Sprintf("host-number-%02d.big.example", i), 5222, 0, uint16(i))
	}
	s.AddSRV("_xmpp-client._tcp.small.example", "host.small.example", 5222, 0, 0)
	r := s.Resolver()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()

	tests := []struct {
		name     string
		domain   string
		truncate bool
		want     int
	}{
		{"too big for udp", "big.example.", false, n},
		{"truncated on purpose", "small.example.", true, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s.SetTruncateUDP(tc.truncate)
			defer s.SetTruncateUDP(false)
			before, beforeTCP := s.Queries(), s.TCPQueries()
			_, srvs, err := r.LookupSRV(ctx, "xmpp-client", "tcp", tc.domain)
			if err != nil {
				t.Fatal(err)
			}
			if len(srvs) != tc.want {
				t.Errorf("got %d records, want %d", len(srvs), tc.want)
			}
			if got := s.TCPQueries() - beforeTCP; got != 1 {
				t.Errorf("%d queries over TCP, want 1", got)
			}
			if got := s.Queries() - before; got != 2 {
				t.Errorf("%d queries in all, want 2 (UDP truncated, then TCP)", got)
			}
		})
	}

	// A raw UDP query without EDNS gets a truncated answer within 512 bytes.
	q := dnsmessage.Question{Name: dnsmessage.MustNewName("_xmpp-client._tcp.big.example."), Type: dnsmessage.TypeSRV, Class: dnsmessage.ClassINET}
	m, err := exchange("udp", s.Addr, query(t, dnsmessage.Header{ID: 7}, []dnsmessage.Question{q}, false), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !m.Header.Truncated || len(m.Answers) != 0 || len(m.Questions) != 1 {
		t.Errorf("UDP answer: truncated %v, %d answers, %d questions; want truncated, 0, 1", m.Header.Truncated, len(m.Answers), len(m.Questions))
	}
}

func TestUnresponsive(t *testing.T) {
	s := Start(t)
	s.AddA("a.example", netip.MustParseAddr("192.0.2.1"))
	s.SetUnresponsive(true)
	q := dnsmessage.Question{Name: dnsmessage.MustNewName("a.example."), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET}
	msg := query(t, dnsmessage.Header{ID: 9}, []dnsmessage.Question{q}, false)
	for _, network := range []string{"udp", "tcp"} {
		if m, err := exchange(network, s.Addr, msg, 100*time.Millisecond); err == nil {
			t.Errorf("%s: got an answer %+v from an unresponsive server", network, m.Header)
		}
	}
	s.SetUnresponsive(false)
	if _, err := exchange("udp", s.Addr, msg, 2*time.Second); err != nil {
		t.Errorf("after SetUnresponsive(false): %v", err)
	}
	if got := s.Queries(); got != 1 {
		t.Errorf("Queries() = %d, want 1", got)
	}
}

// TestConcurrent adds records while queries run (for the race detector) and
// checks that every query sees a consistent answer.
func TestConcurrent(t *testing.T) {
	s := Start(t)
	r := s.Resolver()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	const workers, rounds = 4, 20
	var wg sync.WaitGroup
	errs := make(chan error, workers*rounds)
	for w := range workers {
		wg.Go(func() {
			for i := range rounds {
				name := fmt.Sprintf("h%d-%d.example.", w, i)
				s.AddA(name, netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}))
				addrs, err := r.LookupNetIP(ctx, "ip4", name)
				if err != nil || len(addrs) != 1 || addrs[0] != netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}) {
					errs <- fmt.Errorf("%s: %v, %v", name, addrs, err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestStartStop(t *testing.T) {
	var addr string
	t.Run("server", func(t *testing.T) {
		s := Start(t)
		addr = s.Addr
		ap, err := netip.ParseAddrPort(addr)
		if err != nil || ap.Addr() != netip.MustParseAddr("127.0.0.1") || ap.Port() == 0 {
			t.Fatalf("Addr = %q, want 127.0.0.1 with a port", addr)
		}
		c, err := net.Dial("tcp", addr) // left open: cleanup must close it
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
	})
	// After the subtest's cleanup, nothing listens on the TCP port.
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Errorf("TCP %s still accepts after cleanup", addr)
	}
}

func TestInvalidNames(t *testing.T) {
	s := Start(t)
	for _, name := range []string{"", "a..b", ".a", string(make([]byte, 64)) + ".example"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("AddA(%q) did not panic", name)
				}
			}()
			s.AddA(name, netip.MustParseAddr("192.0.2.1"))
		}()
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("AddA with an invalid address did not panic")
			}
		}()
		s.AddA("ok.example", netip.Addr{})
	}()
}
