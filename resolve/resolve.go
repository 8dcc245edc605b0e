package resolve

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/idna"
)

// Services that Lookup resolves.
const (
	ServiceClient = "xmpp-client" // client-to-server streams
	ServiceServer = "xmpp-server" // server-to-server streams
)

// Registered ports of the fallback process (RFC 6120 §3.2.2).
const (
	DefaultClientPort = 5222
	DefaultServerPort = 5269
)

// MaxTargets is the largest number of targets Lookup returns.
const MaxTargets = 32

// ErrNoService is returned (wrapped) by Lookup when the domain's SRV
// records say that the service is decidedly not available there: a single
// record with target ".", and no usable record of the other kind (RFC 2782,
// RFC 6120 §3.2.1, XEP-0368 §5).
var ErrNoService = errors.New("resolve: service not available")

// Target is one address to try, in order.
type Target struct {
	Host      string // host name or IP literal to dial, without a trailing dot or brackets
	Port      uint16
	DirectTLS bool // from an _xmpps-* record: TLS handshake first (XEP-0368)
}

// Addr returns the target as "host:port", for net.Dial.
func (t Target) Addr() string {
	return net.JoinHostPort(t.Host, strconv.Itoa(int(t.Port)))
}

// Resolver looks up targets. A zero Resolver uses net.DefaultResolver, and
// so does a nil one. Its methods are safe for concurrent use.
type Resolver struct {
	// DNS answers the SRV queries; nil means net.DefaultResolver.
	DNS *net.Resolver

	// intn returns a uniform random number in [0, n); nil means
	// math/rand/v2's IntN. Tests set it.
	intn func(n int) int
}

// Lookup returns the targets for service "xmpp-server" or "xmpp-client" of
// domain, in the order to try them.
//
// domain is a domain name, in U-label or A-label form, with or without a
// trailing dot, or an IP literal ("192.0.2.1", "[2001:db8::1]"), which gives
// one target on the default port without DNS. Lookup queries the
// _xmpps-SERVICE and _xmpp-SERVICE SRV records of the domain at once and
// orders their targets as described in the package documentation. Without
// any SRV record, or if DNS fails, it returns the domain itself (as an
// A-label) on the default port, not direct TLS. It returns an error wrapping
// ErrNoService if the records forbid the service, and the context's error if
// ctx ends first.
func (r *Resolver) Lookup(ctx context.Context, service, domain string) ([]Target, error) {
	var port uint16
	switch service {
	case ServiceClient:
		port = DefaultClientPort
	case ServiceServer:
		port = DefaultServerPort
	default:
		return nil, fmt.Errorf("resolve: unknown service %q", service)
	}
	if ip, ok := ipLiteral(domain); ok {
		return []Target{{Host: ip.String(), Port: port}}, nil
	}
	name, err := toASCII(domain)
	if err != nil {
		return nil, fmt.Errorf("resolve: domain %q: %w", domain, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("resolve: %s of %s: %w", service, name, err)
	}

	dns := net.DefaultResolver
	intn := rand.IntN
	if r != nil && r.DNS != nil {
		dns = r.DNS
	}
	if r != nil && r.intn != nil {
		intn = r.intn
	}

	// Go's resolver gives up on a query when the context's deadline passes
	// but not when the context is cancelled; the interrupter makes it stop
	// at once either way, so that the lookups end with Lookup.
	var it interrupter
	dns = it.wrap(dns)
	defer context.AfterFunc(ctx, it.interrupt)()

	// The two lookups, at once. The name is rooted so that no search
	// domain of the system's configuration is tried.
	var direct, plain answer
	var wg sync.WaitGroup
	wg.Go(func() {
		direct = lookupSRV(ctx, dns, "xmpps-"+strings.TrimPrefix(service, "xmpp-"), name+".")
	})
	plain = lookupSRV(ctx, dns, service, name+".")
	wg.Wait()
	if err := ctxErr(ctx); err != nil {
		return nil, fmt.Errorf("resolve: %s of %s: %w", service, name, err)
	}

	if len(direct.records) == 0 && len(plain.records) == 0 {
		if direct.dot || plain.dot {
			return nil, fmt.Errorf(`%w: %s at %s (SRV target ".")`, ErrNoService, service, name)
		}
		// RFC 6120 §3.2.2: the domain itself, on the registered port.
		return []Target{{Host: name, Port: port}}, nil
	}
	recs := make([]record, 0, len(direct.records)+len(plain.records))
	recs = append(recs, direct.records...)
	recs = append(recs, plain.records...)
	return order(recs, intn, MaxTargets), nil
}

// ctxErr is ctx.Err, but also says context.DeadlineExceeded once the
// deadline has passed: the resolver's connections, whose deadline is the
// context's, can time out before the context's own timer marks it done.
func ctxErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return nil
}

// ipLiteral reports whether domain is an IPv4 address or a bracketed (or
// bare) IPv6 address without a zone.
func ipLiteral(domain string) (netip.Addr, bool) {
	s, bracketed := strings.CutPrefix(domain, "[")
	if bracketed {
		var ok bool
		if s, ok = strings.CutSuffix(s, "]"); !ok {
			return netip.Addr{}, false
		}
	}
	ip, err := netip.ParseAddr(s)
	if err != nil || ip.Zone() != "" || (bracketed && !ip.Is6()) {
		return netip.Addr{}, false
	}
	return ip, true
}

// toASCII returns domain as lower-case A-labels without a trailing dot,
// checking the lengths DNS allows (RFC 1035 §2.3.4).
func toASCII(domain string) (string, error) {
	name, err := idna.Lookup.ToASCII(strings.TrimSuffix(domain, "."))
	if err != nil {
		return "", err
	}
	if name == "" || len(name) > 253 {
		return "", errors.New("invalid length")
	}
	for label := range strings.SplitSeq(name, ".") {
		if len(label) == 0 || len(label) > 63 {
			return "", errors.New("empty or too long label")
		}
	}
	return name, nil
}

// interrupter makes the DNS connections of one Lookup fail when its
// context ends.
type interrupter struct {
	mu    sync.Mutex
	conns []net.Conn
	done  bool
}

// past is a deadline that has passed: I/O on a connection fails at once.
var past = time.Unix(1, 0)

// wrap returns a resolver like dns whose connections are interrupted by
// it.interrupt. The connections are dialled as dns would dial them.
func (it *interrupter) wrap(dns *net.Resolver) *net.Resolver {
	dial := dns.Dial
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	return &net.Resolver{
		PreferGo:     dns.PreferGo,
		StrictErrors: dns.StrictErrors,
		Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
			c, err := dial(ctx, network, address)
			if err != nil {
				return nil, err
			}
			it.mu.Lock()
			defer it.mu.Unlock()
			if it.done {
				c.SetDeadline(past)
			}
			it.conns = append(it.conns, c)
			// Go's resolver frames messages by whether the connection is
			// a PacketConn: keep that.
			ic := interruptibleConn{Conn: c, it: it}
			if pc, ok := c.(net.PacketConn); ok {
				return &interruptiblePacketConn{ic, pc}, nil
			}
			return &ic, nil
		},
	}
}

// interrupt makes every connection's I/O, now and later, fail at once.
func (it *interrupter) interrupt() {
	it.mu.Lock()
	defer it.mu.Unlock()
	it.done = true
	for _, c := range it.conns {
		c.SetDeadline(past)
	}
}

// interruptibleConn keeps its deadline in the past once interrupted, as
// the resolver sets its own deadline after dialling.
type interruptibleConn struct {
	net.Conn
	it *interrupter
}

func (c *interruptibleConn) setDeadline(set func(time.Time) error, t time.Time) error {
	c.it.mu.Lock()
	defer c.it.mu.Unlock()
	if c.it.done {
		t = past
	}
	return set(t)
}

func (c *interruptibleConn) SetDeadline(t time.Time) error {
	return c.setDeadline(c.Conn.SetDeadline, t)
}

func (c *interruptibleConn) SetReadDeadline(t time.Time) error {
	return c.setDeadline(c.Conn.SetReadDeadline, t)
}

func (c *interruptibleConn) SetWriteDeadline(t time.Time) error {
	return c.setDeadline(c.Conn.SetWriteDeadline, t)
}

// interruptiblePacketConn is an interruptibleConn over a PacketConn.
type interruptiblePacketConn struct {
	interruptibleConn
	pc net.PacketConn
}

func (c *interruptiblePacketConn) ReadFrom(b []byte) (int, net.Addr, error) {
	return c.pc.ReadFrom(b)
}

func (c *interruptiblePacketConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	return c.pc.WriteTo(b, addr)
}

var (
	_ net.Conn       = (*interruptibleConn)(nil)
	_ net.PacketConn = (*interruptiblePacketConn)(nil)
)

// record is one usable SRV record.
type record struct {
	host      string // lower case, no trailing dot
	port      uint16
	priority  uint16
	weight    uint16
	directTLS bool
}

// answer is what one SRV lookup says.
type answer struct {
	records []record // usable records
	dot     bool     // no usable record, but a "." target: the service is not offered
}

// lookupSRV queries _service._tcp.name. A failed lookup gives an empty
// answer: Lookup treats "no such record" and failures alike.
func lookupSRV(ctx context.Context, dns *net.Resolver, service, name string) answer {
	// On malformed records, LookupSRV returns the valid ones with an error.
	_, srvs, _ := dns.LookupSRV(ctx, service, "tcp", name)
	var a answer
	for _, srv := range srvs {
		if srv.Target == "." || srv.Target == "" {
			a.dot = true
			continue
		}
		a.records = append(a.records, record{
			host:      strings.ToLower(strings.TrimSuffix(srv.Target, ".")),
			port:      srv.Port,
			priority:  srv.Priority,
			weight:    srv.Weight,
			directTLS: strings.HasPrefix(service, "xmpps-"),
		})
	}
	return a
}

// order returns up to limit distinct targets of recs in the order to try
// them: by priority, direct TLS before STARTTLS at equal priority, and in
// RFC 2782 weighted random order within each such group. intn returns a
// uniform random number in [0, n). recs is reordered.
func order(recs []record, intn func(int) int, limit int) []Target {
	// A fixed arrangement, so that a fixed random source gives a fixed
	// order whatever order DNS gave.
	slices.SortFunc(recs, func(a, b record) int {
		return cmp.Or(
			cmp.Compare(a.priority, b.priority),
			compareBool(b.directTLS, a.directTLS),
			strings.Compare(a.host, b.host),
			cmp.Compare(a.port, b.port),
			cmp.Compare(a.weight, b.weight),
		)
	})
	out := make([]Target, 0, min(len(recs), limit))
	seen := make(map[Target]bool, cap(out))
	for len(recs) > 0 && len(out) < limit {
		// The group of records with the priority and kind of the first.
		n := 1
		for n < len(recs) && recs[n].priority == recs[0].priority && recs[n].directTLS == recs[0].directTLS {
			n++
		}
		group := recs[:n]
		recs = recs[n:]
		for len(group) > 0 && len(out) < limit {
			i := pick(group, intn)
			rec := group[i]
			group = slices.Delete(group, i, i+1)
			t := Target{Host: rec.host, Port: rec.port, DirectTLS: rec.directTLS}
			if !seen[t] {
				seen[t] = true
				out = append(out, t)
			}
		}
	}
	return out
}

// pick returns the index of the record to try next among rs, records of
// one priority not ordered yet (RFC 2782, "Weight"). Weight-0 records come
// first in the RFC's arrangement, in random order; the running sums of the
// weights are compared with a random number r: 0 selects a weight-0 record,
// and r > 0 the first record whose running sum reaches r. r is drawn from
// [0, sum] when some record has weight 0, and from [1, sum] when none has,
// so that each record's chance is proportional to its weight. It calls intn
// at most twice: for r (unless all weights are 0, where r is 0), then, when
// r is 0 and more than one record has weight 0, to choose among them.
func pick(rs []record, intn func(int) int) int {
	if len(rs) == 1 {
		return 0
	}
	sum, zeros := 0, 0
	for _, rec := range rs {
		sum += int(rec.weight)
		if rec.weight == 0 {
			zeros++
		}
	}
	var r int
	switch {
	case zeros == 0:
		r = 1 + intn(sum)
	case sum > 0:
		r = intn(sum + 1)
	}
	if r == 0 {
		k := 0
		if zeros > 1 {
			k = intn(zeros)
		}
		for i, rec := range rs {
			if rec.weight == 0 {
				if k == 0 {
					return i
				}
				k--
			}
		}
	}
	running := 0
	for i, rec := range rs {
		running += int(rec.weight)
		if rec.weight > 0 && running >= r {
			return i
		}
	}
	return len(rs) - 1 // not reached: r <= sum
}

func compareBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}
