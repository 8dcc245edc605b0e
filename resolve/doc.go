// Package resolve finds where to connect to reach an XMPP service of a
// domain: the ordered list of host, port and connection method that an
// initiating entity tries, for client-to-server (xmpp-client) or
// server-to-server (xmpp-server) streams.
//
// It implements:
//
//   - RFC 6120 §3.2.1, preferred process: SRV lookup of
//     _xmpp-client._tcp.DOMAIN or _xmpp-server._tcp.DOMAIN, with a single
//     record whose target is "." meaning the service is decidedly not
//     available (ErrNoService);
//   - RFC 6120 §3.2.2, fallback process: without SRV records, the domain
//     itself on the registered port, 5222 or 5269;
//   - XEP-0368 (version 1.1.0), SRV records for XMPP over TLS: the
//     _xmpps-client and _xmpps-server records are looked up as well and give
//     targets marked DirectTLS; a "." target there with no _xmpp- record
//     also forbids the fallback of RFC 6120 §3.2.2;
//   - RFC 2782, target selection: lowest priority first, then weighted random
//     order within a priority, weight-0 records having a small chance of
//     coming first when others weigh more.
//
// Domains are looked up in their A-label form (IDNA2008 with UTS #46
// mapping, x/net/idna's Lookup profile); an IP-literal domain needs no DNS.
//
// Choices where the specifications leave room or where this package departs
// from them:
//
//   - Among records of the same priority, all direct-TLS (_xmpps-) records
//     come before all STARTTLS (_xmpp-) records, each kind in weighted
//     order: XEP-0368 lets an initiating entity prefer one kind over the
//     other, and direct TLS saves round trips and cannot be stripped. Its
//     default, mixing the weights of both kinds as one set, is not followed.
//   - RFC 2782 draws a random number between 0 and the sum of weights,
//     inclusive, which gives the first record of the list one extra chance
//     in sum+1 when no record has weight 0. Here the draw is between 1 and
//     the sum in that case, so that a record's chance is exactly
//     proportional to its weight ("larger weights SHOULD be given a
//     proportionately higher probability"); with weight-0 records present,
//     the draw of 0 picks one of them, uniformly.
//   - A DNS failure other than "no such record" (a timeout, SERVFAIL) counts
//     as an absence of records: if neither lookup gives records, the
//     fallback of RFC 6120 §3.2.2 applies, which it allows for a DNS server
//     that does not respond. If the context ends, Lookup returns its error
//     instead.
//   - Records are deduplicated, and at most MaxTargets targets are
//     returned.
//
// The addresses of each target (A and AAAA records, RFC 6120 §3.2.1 steps
// 5 and 6) are left to the dialer.
package resolve
