// Package dnstest runs a tiny authoritative DNS server for tests.
//
// A Server holds records added by the test (SRV, A, AAAA) and answers
// queries for them over UDP and TCP on one 127.0.0.1 port, in the wire
// format of RFC 1035 §4 (TCP messages carry the 2-byte length prefix of
// §4.2.2). Responses are authoritative (AA) with recursion available (RA)
// and echo the question and the RD bit. A name that holds no record and has
// no name below it gets NXDOMAIN; an existing name (or an empty non-terminal,
// a name with records only below it) without records of the asked type gets
// an empty NOERROR answer, whatever the type (DS, DNSKEY, MX...). A query
// with EDNS(0) (RFC 6891) gets an OPT record back and may use UDP payloads up
// to its advertised size; a UDP answer that does not fit is truncated (TC,
// RFC 2181 §9) so that the client retries over TCP.
//
// Negative answers carry no SOA record (the server knows no zones), and
// records carry the TTL of the Server's TTL field (0 by default: not cached),
// so an external resolver such as Unbound forwarding to the server sees
// records added while it runs.
package dnstest

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

const (
	// startAttempts bounds how many UDP ports Start tries before giving up
	// on finding one whose TCP twin is free.
	startAttempts = 20
	// maxEDNSPayload caps the UDP payload size the server honours.
	maxEDNSPayload = 4096
	// tcpIdle is how long a TCP connection may sit idle between queries.
	tcpIdle = 10 * time.Second
)

// Server answers DNS queries over UDP and TCP on the same 127.0.0.1 port.
// Its methods are safe for concurrent use, and records may be added while
// it serves.
type Server struct {
	// Addr is "127.0.0.1:PORT", the same port for UDP and TCP.
	Addr string

	// TTL is the time to live, in seconds, of every answered record. Set it
	// before the first query.
	TTL uint32

	udp net.PacketConn
	tcp net.Listener

	mu      sync.Mutex
	records map[string][]record         // canonical name → records
	rcodes  map[string]dnsmessage.RCode // canonical name → forced response code
	conns   map[net.Conn]struct{}
	closed  bool

	truncateUDP  atomic.Bool
	unresponsive atomic.Bool
	queries      atomic.Int64
	tcpQueries   atomic.Int64

	wg sync.WaitGroup
}

type record struct {
	typ  dnsmessage.Type
	body dnsmessage.ResourceBody
}

// Start starts a server on 127.0.0.1: it listens on UDP port 0, then on TCP
// at the same port, trying a bounded number of UDP ports if that TCP port is
// taken. The server stops when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{
		records: make(map[string][]record),
		rcodes:  make(map[string]dnsmessage.RCode),
		conns:   make(map[net.Conn]struct{}),
	}
	var lastErr error
	for range startAttempts {
		udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("dnstest: listen udp: %v", err)
		}
		tcp, err := net.Listen("tcp4", udp.LocalAddr().String())
		if err != nil {
			lastErr = err
			udp.Close()
			continue
		}
		s.udp, s.tcp, s.Addr = udp, tcp, udp.LocalAddr().String()
		break
	}
	if s.udp == nil {
		t.Fatalf("dnstest: no port free for both UDP and TCP after %d attempts: %v", startAttempts, lastErr)
	}
	s.wg.Add(2)
	go s.serveUDP()
	go s.serveTCP()
	t.Cleanup(s.close)
	return s
}

// close stops the listeners and open connections and waits for every
// goroutine of the server.
func (s *Server) close() {
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.udp.Close()
	s.tcp.Close()
	s.wg.Wait()
}

// AddSRV adds an SRV record (RFC 2782) at name, such as
// "_xmpp-server._tcp.example.net". A target of "." says the service is not
// available. It panics if name or target is not a valid domain name.
func (s *Server) AddSRV(name, target string, port, priority, weight uint16) {
	s.add(name, record{dnsmessage.TypeSRV, &dnsmessage.SRVResource{
		Priority: priority,
		Weight:   weight,
		Port:     port,
		Target:   mustName(target),
	}})
}

// AddA adds an address record at name: an A record for an IPv4 address, an
// AAAA record for any other (including an IPv4-mapped IPv6 address). A zone
// is dropped. It panics if ip is not valid or name is not a valid domain
// name.
func (s *Server) AddA(name string, ip netip.Addr) {
	switch {
	case !ip.IsValid():
		panic("dnstest: AddA: invalid address")
	case ip.Is4():
		s.add(name, record{dnsmessage.TypeA, &dnsmessage.AResource{A: ip.As4()}})
	default:
		s.add(name, record{dnsmessage.TypeAAAA, &dnsmessage.AAAAResource{AAAA: ip.As16()}})
	}
}

// SetRCode makes every query for name, whatever its type, get response code
// rc and no records (for example dnsmessage.RCodeServerFailure); the name
// need not hold records. dnsmessage.RCodeSuccess undoes it. It panics if name
// is not a valid domain name.
func (s *Server) SetRCode(name string, rc dnsmessage.RCode) {
	key := canonical(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	if rc == dnsmessage.RCodeSuccess {
		delete(s.rcodes, key)
		return
	}
	s.rcodes[key] = rc
}

// SetTruncateUDP makes every UDP answer truncated (TC set, question only),
// so that clients must ask again over TCP.
func (s *Server) SetTruncateUDP(on bool) { s.truncateUDP.Store(on) }

// SetUnresponsive makes the server read queries and never answer them, over
// UDP and TCP, as a server behind a firewall that drops packets would.
func (s *Server) SetUnresponsive(on bool) { s.unresponsive.Store(on) }

// Queries returns the number of queries answered, over UDP and TCP.
func (s *Server) Queries() int { return int(s.queries.Load()) }

// TCPQueries returns the number of queries answered over TCP.
func (s *Server) TCPQueries() int { return int(s.tcpQueries.Load()) }

// Resolver returns a resolver that uses Go's own DNS client (PreferGo) and
// sends every query to s, over UDP or TCP as the client chooses. It does not
// read /etc/hosts for SRV lookups, but it does for host names, as every Go
// resolver does.
func (s *Server) Resolver() *net.Resolver {
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			if strings.HasPrefix(network, "tcp") {
				return d.DialContext(ctx, "tcp", s.Addr)
			}
			return d.DialContext(ctx, "udp", s.Addr)
		},
	}
}

func (s *Server) add(name string, r record) {
	key := canonical(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records[key] = append(s.records[key], r)
}

// canonical returns name in lower case with a trailing dot, panicking if it
// is not a valid domain name.
func canonical(name string) string {
	return strings.ToLower(mustName(name).String())
}

// mustName returns name as an absolute dnsmessage.Name, panicking unless it
// is "." (the root) or dot-separated labels of 1 to 63 bytes, 253 bytes at most.
func mustName(name string) dnsmessage.Name {
	fqdn := name
	if !strings.HasSuffix(fqdn, ".") {
		fqdn += "."
	}
	ok := name != "" && len(fqdn) <= 254
	if fqdn != "." {
		for label := range strings.SplitSeq(strings.TrimSuffix(fqdn, "."), ".") {
			if len(label) == 0 || len(label) > 63 {
				ok = false
			}
		}
	}
	n, err := dnsmessage.NewName(fqdn)
	if !ok || err != nil {
		panic(fmt.Sprintf("dnstest: invalid domain name %q", name))
	}
	return n
}

func (s *Server) serveUDP() {
	defer s.wg.Done()
	buf := make([]byte, 65535)
	for {
		n, addr, err := s.udp.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // a transient error (an ICMP report) on one datagram
		}
		if s.unresponsive.Load() {
			continue
		}
		resp := s.answer(buf[:n], true)
		if resp == nil {
			continue
		}
		// Count before sending, so that a client that has its answer sees it
		// counted.
		s.queries.Add(1)
		if _, err := s.udp.WriteTo(resp, addr); err != nil {
			s.queries.Add(-1)
		}
	}
}

func (s *Server) serveTCP() {
	defer s.wg.Done()
	for {
		c, err := s.tcp.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serveConn(c)
	}
}

// serveConn answers the queries of one TCP connection, one after another,
// until the client closes it or it stays idle for too long.
func (s *Server) serveConn(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	var lenBuf [2]byte
	for {
		c.SetDeadline(time.Now().Add(tcpIdle))
		if _, err := io.ReadFull(c, lenBuf[:]); err != nil {
			return
		}
		msg := make([]byte, binary.BigEndian.Uint16(lenBuf[:]))
		if _, err := io.ReadFull(c, msg); err != nil {
			return
		}
		if s.unresponsive.Load() {
			continue
		}
		resp := s.answer(msg, false)
		if resp == nil {
			return
		}
		out := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(resp)), uint16(len(resp)))
		s.queries.Add(1)
		s.tcpQueries.Add(1)
		if _, err := c.Write(append(out, resp...)); err != nil {
			s.queries.Add(-1)
			s.tcpQueries.Add(-1)
			return
		}
	}
}

// answer builds the response to one query message, or returns nil when the
// message is not a query whose header can be read.
func (s *Server) answer(msg []byte, udp bool) []byte {
	var p dnsmessage.Parser
	h, err := p.Start(msg)
	if err != nil || h.Response {
		return nil
	}
	resp := dnsmessage.Header{
		ID:                 h.ID,
		Response:           true,
		OpCode:             h.OpCode,
		Authoritative:      true,
		RecursionDesired:   h.RecursionDesired,
		RecursionAvailable: true,
	}
	questions, err := p.AllQuestions()
	if err != nil {
		resp.RCode = dnsmessage.RCodeFormatError
		return build(resp, nil, nil, nil, 512)
	}
	if h.OpCode != 0 {
		resp.RCode = dnsmessage.RCodeNotImplemented
		return build(resp, questions, nil, nil, 512)
	}
	if len(questions) != 1 {
		resp.RCode = dnsmessage.RCodeFormatError
		return build(resp, questions, nil, nil, 512)
	}
	q := questions[0]

	// Find an EDNS(0) OPT record among the additional records.
	var opt *dnsmessage.Resource
	limit := 512
	if err := p.SkipAllAnswers(); err == nil {
		if err := p.SkipAllAuthorities(); err == nil {
			for {
				ah, err := p.AdditionalHeader()
				if err != nil {
					break
				}
				if ah.Type != dnsmessage.TypeOPT {
					if p.SkipAdditional() != nil {
						break
					}
					continue
				}
				size := max(int(ah.Class), 512) // an OPT's class is the UDP payload size
				limit = min(size, maxEDNSPayload)
				var rh dnsmessage.ResourceHeader
				if err := rh.SetEDNS0(limit, dnsmessage.RCodeSuccess, false); err == nil {
					opt = &dnsmessage.Resource{Header: rh, Body: &dnsmessage.OPTResource{}}
				}
				break
			}
		}
	}
	if !udp {
		limit = 65535
	}

	answers, rc := s.lookup(q)
	resp.RCode = rc
	if udp && s.truncateUDP.Load() {
		resp.Truncated = true
		answers = nil
	}
	out := build(resp, questions, answers, opt, limit)
	if out == nil || len(out) > limit {
		// Too big: say so with the question alone (RFC 2181 §9).
		resp.Truncated = true
		out = build(resp, questions, nil, opt, 65535)
	}
	return out
}

// lookup returns the records of q's name and type, with the response code.
func (s *Server) lookup(q dnsmessage.Question) ([]dnsmessage.Resource, dnsmessage.RCode) {
	key := strings.ToLower(q.Name.String())
	s.mu.Lock()
	defer s.mu.Unlock()
	if rc, ok := s.rcodes[key]; ok {
		return nil, rc
	}
	if q.Class != dnsmessage.ClassINET && q.Class != dnsmessage.ClassANY {
		return nil, dnsmessage.RCodeRefused
	}
	recs, ok := s.records[key]
	if !ok && !s.hasBelow(key) {
		return nil, dnsmessage.RCodeNameError
	}
	var answers []dnsmessage.Resource
	for _, r := range recs {
		if r.typ != q.Type && q.Type != dnsmessage.TypeALL {
			continue
		}
		answers = append(answers, dnsmessage.Resource{
			Header: dnsmessage.ResourceHeader{
				Name:  q.Name, // the asker's spelling, for 0x20 case checks
				Type:  r.typ,
				Class: dnsmessage.ClassINET,
				TTL:   s.TTL,
			},
			Body: r.body,
		})
	}
	return answers, dnsmessage.RCodeSuccess
}

// hasBelow reports whether a record exists under key, which makes key an
// empty non-terminal rather than a name that does not exist (RFC 8020).
// The caller holds s.mu.
func (s *Server) hasBelow(key string) bool {
	if key == "." {
		return true
	}
	for name := range s.records {
		if strings.HasSuffix(name, "."+key) {
			return true
		}
	}
	return false
}

// build serialises a response, or returns nil if it exceeds limit bytes.
func build(h dnsmessage.Header, qs []dnsmessage.Question, answers []dnsmessage.Resource, opt *dnsmessage.Resource, limit int) []byte {
	b := dnsmessage.NewBuilder(make([]byte, 0, 512), h)
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil
	}
	for _, q := range qs {
		if err := b.Question(q); err != nil {
			return nil
		}
	}
	if err := b.StartAnswers(); err != nil {
		return nil
	}
	for _, a := range answers {
		var err error
		switch body := a.Body.(type) {
		case *dnsmessage.SRVResource:
			err = b.SRVResource(a.Header, *body)
		case *dnsmessage.AResource:
			err = b.AResource(a.Header, *body)
		case *dnsmessage.AAAAResource:
			err = b.AAAAResource(a.Header, *body)
		default:
			err = fmt.Errorf("dnstest: unexpected record type %v", a.Header.Type)
		}
		if err != nil {
			return nil
		}
	}
	if opt != nil {
		if err := b.StartAdditionals(); err != nil {
			return nil
		}
		if err := b.OPTResource(opt.Header, *opt.Body.(*dnsmessage.OPTResource)); err != nil {
			return nil
		}
	}
	out, err := b.Finish()
	if err != nil || len(out) > limit {
		return nil
	}
	return out
}
