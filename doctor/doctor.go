// Package doctor checks an XMPP domain's deployment from outside, as a
// client and a remote server see it, and says how to fix what is wrong: the
// SRV records (RFC 6120 §3.2, XEP-0368), every client and server port
// published (plain with STARTTLS, RFC 6120 §5, and direct TLS with ALPN,
// XEP-0368), the stream header each answers (RFC 6120 §4.7), the TLS
// version and cipher, the certificate and its validity for the domain (RFC
// 6120 §13.7.2, RFC 6125), the SASL mechanisms (RFC 6120 §6), optionally a
// real login and an XEP-0199 ping, and what a remote server is offered
// (SASL EXTERNAL, XEP-0178; dialback, XEP-0220).
//
// Run returns a Report, one Check per observation with OK, WARN or FAIL and
// a fix hint; `starling doctor` prints it.
package doctor

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/starling-xmpp/starling/jid"
	"github.com/starling-xmpp/starling/resolve"
)

// Defaults of Options. The server-to-server probe follows RFC 6120 §4.7.1
// (a 'from' on the stream header) and XEP-0220 §2.1 (xmlns:db).
const (
	// DefaultTimeout bounds each connection's whole probe and the login.
	DefaultTimeout = 10 * time.Second
	// DefaultFrom is the made-up domain the server-to-server probe
	// claims; ".invalid" can never be registered (RFC 2606 §2).
	DefaultFrom = "doctor.invalid"
	// DefaultExpiryWarning: a certificate that expires sooner gets a WARN.
	DefaultExpiryWarning = 14 * 24 * time.Hour
	// MaxEndpoints bounds the SRV targets probed per record kind.
	MaxEndpoints = 8
)

// Options say what to check and how: where to find the domain's services
// (RFC 6120 §3.2 SRV lookup, or fixed addresses), which certificates to
// trust (RFC 6120 §13.7.2), and the optional login (§6, §7) and
// server-to-server view (XEP-0178, XEP-0220).
type Options struct {
	// Domain is the XMPP domain to check (example.org).
	Domain string
	// Resolver answers the SRV and address lookups; nil uses the system's
	// DNS.
	Resolver *resolve.Resolver
	// Roots verify the certificates (and the login's); nil means the
	// system roots.
	Roots *x509.CertPool

	// ClientAddr and ClientTLSAddr (host:port) replace the
	// _xmpp-client/_xmpps-client lookup: when either is set, only the
	// ones set are probed, STARTTLS and direct TLS respectively.
	ClientAddr, ClientTLSAddr string
	// ServerAddr and ServerTLSAddr do the same for _xmpp-server and
	// _xmpps-server.
	ServerAddr, ServerTLSAddr string

	// Timeout bounds each probe and the login; zero means DefaultTimeout.
	Timeout time.Duration

	// User, when set, logs in with Password (client.Dial, certificate
	// verified against Roots) and pings the server (XEP-0199).
	User     jid.JID
	Password string

	// S2S reports what a remote server is offered after TLS on the
	// server ports: SASL EXTERNAL (XEP-0178) and dialback (XEP-0220).
	S2S bool
	// From is the domain the server-to-server probe claims; empty means
	// DefaultFrom.
	From string
	// Certificate, if set, is presented as the TLS client certificate on
	// server ports, so that a server that trusts it offers EXTERNAL.
	Certificate *tls.Certificate

	// Now is the time certificates are checked at; nil means time.Now.
	Now func() time.Time
	// ExpiryWarning: a certificate expiring within it gets a WARN; zero
	// means DefaultExpiryWarning.
	ExpiryWarning time.Duration
}

// service is a kind of stream: client-to-server or server-to-server.
type service struct {
	name    string // resolve.ServiceClient or resolve.ServiceServer
	label   string // "c2s" or "s2s"
	port    int    // the registered port of the STARTTLS fallback
	tlsPort int    // the customary direct-TLS port
	ns      string // content namespace
	alpn    string // XEP-0368 ALPN protocol id
	listen  string // configuration keys of Starling's listeners
	tlsKey  string
}

var (
	c2s = service{name: resolve.ServiceClient, label: "c2s", port: resolve.DefaultClientPort, tlsPort: 5223,
		ns: "jabber:client", alpn: "xmpp-client", listen: "c2s.listen", tlsKey: "c2s.direct_tls"}
	s2s = service{name: resolve.ServiceServer, label: "s2s", port: resolve.DefaultServerPort, tlsPort: 5270,
		ns: "jabber:server", alpn: "xmpp-server", listen: "s2s.listen", tlsKey: "s2s.direct_tls"}
)

// endpoint is one address to probe.
type endpoint struct {
	svc       service
	host      string
	port      uint16
	directTLS bool
}

func (e endpoint) addr() string { return net.JoinHostPort(e.host, strconv.Itoa(int(e.port))) }

func (e endpoint) group() string {
	mode := "STARTTLS"
	if e.directTLS {
		mode = "direct TLS"
	}
	return fmt.Sprintf("%s %s (%s)", e.svc.label, e.addr(), mode)
}

// doctor carries one Run's settings.
type doctor struct {
	opt    Options
	domain string // canonical form
	dns    *net.Resolver
	roots  *x509.CertPool
	now    time.Time
}

// Run checks opt.Domain as an outside client and server would meet it
// (RFC 6120 §3.2 resolution, §4.7 stream headers, §5 STARTTLS or XEP-0368
// direct TLS, §13.7.2 and RFC 6125 certificates, §6 SASL) and returns what
// it saw. It never fails as a whole: what cannot be checked is a FAIL
// check saying why. The addresses are probed at once; ctx bounds
// everything.
func Run(ctx context.Context, opt Options) *Report {
	if opt.Timeout <= 0 {
		opt.Timeout = DefaultTimeout
	}
	if opt.From == "" {
		opt.From = DefaultFrom
	}
	if opt.ExpiryWarning <= 0 {
		opt.ExpiryWarning = DefaultExpiryWarning
	}
	now := time.Now()
	if opt.Now != nil {
		now = opt.Now()
	}
	r := &Report{Domain: opt.Domain, Start: now}
	d := &doctor{opt: opt, now: now, dns: net.DefaultResolver, roots: opt.Roots}
	if opt.Resolver != nil && opt.Resolver.DNS != nil {
		d.dns = opt.Resolver.DNS
	}
	j, err := jid.Parse(opt.Domain)
	if err != nil || j.Local() != "" || j.Resource() != "" || opt.Domain == "" {
		r.Checks = append(r.Checks, Check{Group: "domain", Name: "domain", Status: Fail,
			Detail: fmt.Sprintf("%q is not an XMPP domain", opt.Domain),
			Hint:   "give the domain of the addresses (example.org for user@example.org)"})
		return r
	}
	d.domain = j.Domain()
	r.Domain = d.domain
	if d.roots == nil {
		if d.roots, err = x509.SystemCertPool(); err != nil {
			r.Checks = append(r.Checks, Check{Group: "setup", Name: "trust roots", Status: Fail,
				Detail: "cannot load the system's certificate authorities: " + err.Error(),
				Hint:   "install the CA certificates (ca-certificates) or pass a CA file with --ca"})
			return r
		}
	}

	var eps []endpoint
	for _, svc := range []service{c2s, s2s} {
		checks, found := d.endpoints(ctx, svc)
		r.Checks = append(r.Checks, checks...)
		eps = append(eps, found...)
	}

	// The endpoints are probed at once; their checks are reported in
	// the order of the endpoints.
	results := make([][]Check, len(eps))
	var wg sync.WaitGroup
	for i, ep := range eps {
		wg.Go(func() { results[i] = d.probe(ctx, ep) })
	}
	wg.Wait()
	for _, cs := range results {
		r.Checks = append(r.Checks, cs...)
	}

	if !opt.User.IsZero() {
		r.Checks = append(r.Checks, d.login(ctx)...)
	}
	return r
}

// endpoints finds the addresses of svc: the overrides, else the SRV
// records (reported in the DNS group) and the targets package resolve
// orders from them.
func (d *doctor) endpoints(ctx context.Context, svc service) ([]Check, []endpoint) {
	plainAddr, tlsAddr := d.opt.ClientAddr, d.opt.ClientTLSAddr
	flags := "--addr/--tls-addr"
	if svc == s2s {
		plainAddr, tlsAddr = d.opt.ServerAddr, d.opt.ServerTLSAddr
		flags = "--s2s-addr/--s2s-tls-addr"
	}
	if plainAddr != "" || tlsAddr != "" {
		var checks []Check
		var eps []endpoint
		for _, o := range []struct {
			addr   string
			direct bool
		}{{plainAddr, false}, {tlsAddr, true}} {
			if o.addr == "" {
				continue
			}
			host, port, err := splitHostPort(o.addr)
			if err != nil {
				checks = append(checks, Check{Group: "DNS", Name: svc.label + " address", Status: Fail,
					Detail: fmt.Sprintf("%q: %v", o.addr, err), Hint: "give HOST:PORT"})
				continue
			}
			eps = append(eps, endpoint{svc: svc, host: host, port: port, directTLS: o.direct})
		}
		checks = append(checks, Check{Group: "DNS", Name: svc.label + " SRV", Status: OK,
			Detail: fmt.Sprintf("not looked up: %s given", flags)})
		return checks, eps
	}

	var checks []Check
	plain := d.lookupSRV(ctx, svc, false)
	direct := d.lookupSRV(ctx, svc, true)
	checks = append(checks, d.srvCheck(svc, plain, direct), d.srvCheck(svc, direct, plain))

	targets, err := d.opt.Resolver.Lookup(ctx, svc.name, d.domain)
	switch {
	case errors.Is(err, resolve.ErrNoService):
		return checks, nil // said in the SRV checks
	case err != nil:
		checks = append(checks, Check{Group: "DNS", Name: svc.label + " targets", Status: Fail,
			Detail: err.Error(), Hint: "check the domain's DNS servers"})
		return checks, nil
	}
	var eps []endpoint
	skipped := map[bool]int{}
	for _, t := range targets {
		n := 0
		for _, e := range eps {
			if e.directTLS == t.DirectTLS {
				n++
			}
		}
		if n >= MaxEndpoints {
			skipped[t.DirectTLS]++
			continue
		}
		eps = append(eps, endpoint{svc: svc, host: t.Host, port: t.Port, directTLS: t.DirectTLS})
	}
	if n := skipped[false] + skipped[true]; n > 0 {
		checks = append(checks, Check{Group: "DNS", Name: svc.label + " targets", Status: OK,
			Detail: fmt.Sprintf("%d more SRV targets not probed (at most %d of each kind)", n, MaxEndpoints)})
	}
	return checks, eps
}

func splitHostPort(addr string) (string, uint16, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.ParseUint(p, 10, 16)
	if err != nil || port == 0 || host == "" {
		return "", 0, errors.New("not HOST:PORT")
	}
	return host, uint16(port), nil
}

// srvAnswer is what one SRV query said.
type srvAnswer struct {
	name    string // _xmpp-client._tcp.example.org
	direct  bool
	records []*net.SRV // usable records
	dot     bool       // a "." record: service declared absent
	err     error      // a failure other than "no such record"
}

// lookupSRV queries _xmpp(s)-SERVICE._tcp.DOMAIN itself (package resolve
// hides the records; the report shows them).
func (d *doctor) lookupSRV(ctx context.Context, svc service, direct bool) srvAnswer {
	name := svc.name
	if direct {
		name = "xmpps-" + strings.TrimPrefix(svc.name, "xmpp-")
	}
	a := srvAnswer{name: "_" + name + "._tcp." + d.domain, direct: direct}
	ctx, cancel := context.WithTimeout(ctx, d.opt.Timeout)
	defer cancel()
	// Rooted, so that no search domain is tried.
	_, srvs, err := d.dns.LookupSRV(ctx, name, "tcp", d.domain+".")
	if dnsErr, ok := errors.AsType[*net.DNSError](err); ok && dnsErr.IsNotFound {
		err = nil
	}
	a.err = err
	for _, s := range srvs {
		if s.Target == "." || s.Target == "" {
			a.dot = true
			continue
		}
		a.records = append(a.records, s)
	}
	return a
}

// srvCheck judges one SRV record set; other is the set of the other kind
// (STARTTLS or direct TLS) of the same service.
func (d *doctor) srvCheck(svc service, a, other srvAnswer) Check {
	c := Check{Group: "DNS", Name: a.name}
	port := svc.port
	if a.direct {
		port = svc.tlsPort
	}
	publish := fmt.Sprintf("publish %s. SRV 0 5 %d %s. (with the name of the host that runs the server)", a.name, port, d.domain)
	switch {
	case len(a.records) > 0:
		var list []string
		for _, s := range a.records {
			list = append(list, fmt.Sprintf("%d %d %d %s", s.Priority, s.Weight, s.Port, s.Target))
		}
		c.Status, c.Detail = OK, strings.Join(list, "; ")
		if a.err != nil {
			c.Status = Warn
			c.Detail += " (and malformed records: " + a.err.Error() + ")"
			c.Hint = "fix the malformed SRV records of " + a.name
		}
	case a.dot:
		c.Status, c.Detail = OK, `target ".": the domain declares that it offers no such service`
		if !a.direct && len(other.records) == 0 && other.dot {
			c.Detail = fmt.Sprintf(`target ".": the domain declares that it offers no %s service at all`, svc.label)
		}
	case a.err != nil:
		c.Status, c.Detail = Warn, "lookup failed: "+a.err.Error()
		c.Hint = "check the domain's DNS servers (they must answer SRV queries)"
	case a.direct:
		c.Status, c.Detail = Warn, "no record: no direct TLS (XEP-0368) is published; STARTTLS is used"
		c.Hint = publish + ` for direct TLS, or ` + a.name + `. SRV 0 0 0 . to say there is none`
	case len(other.records) > 0:
		c.Status = Warn
		c.Detail = fmt.Sprintf("no record: peers without direct TLS (XEP-0368) fall back to %s", net.JoinHostPort(d.domain, strconv.Itoa(port)))
		c.Hint = publish
	default:
		c.Status = Warn
		c.Detail = fmt.Sprintf("no record: the fallback %s is used", net.JoinHostPort(d.domain, strconv.Itoa(port)))
		c.Hint = publish
	}
	return c
}

// sortedNames returns the identities of a certificate without their kind
// prefixes ("DNS:", "CN:"...), deduplicated, in order.
func sortedNames(ids []string) []string {
	var out []string
	for _, id := range ids {
		if _, v, ok := strings.Cut(id, ":"); ok {
			id = v
		}
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}
