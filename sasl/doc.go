// Package sasl implements the SASL mechanisms Starling speaks on
// client-to-server streams, in both roles, independent of XML: the c2s code
// carries the <auth/>, <challenge/>, <response/>, <success/> and <failure/>
// elements and their base64 itself, and hands this package the decoded
// bytes.
//
// The mechanisms are:
//
//   - PLAIN (RFC 4616), verified against the stored SCRAM keys, so that no
//     password is ever stored;
//   - SCRAM-SHA-1, SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677) and
//     their -PLUS variants with channel binding, using the "tls-exporter"
//     (RFC 9266) or "tls-server-end-point" (RFC 5929 §4) binding types;
//   - DIGEST-MD5 (RFC 2831, qop=auth only, with the XMPP digest-uri
//     "xmpp/<domain>"), for old peers.
//
// Credentials are stored only as salted SCRAM keys, one set per hash
// (Derive), plus, optionally, the RFC 2831 digest H({username:realm:password})
// that DIGEST-MD5 needs. Unknown users are answered with deterministic fake
// salts and fail exactly like a wrong password, so that the exchange does not
// reveal which accounts exist.
//
// Failures carry one of the SASL error conditions of RFC 6120 §6.5.
//
// The package covers these items of draft-saintandre-xmpp-feature-set-00:
//
//   - 5 (SASL negotiation): SASL for stream authentication, with the error
//     conditions of RFC 6120 §6.5 (item 5-4);
//   - 6-2: TLS plus SASL PLAIN for client-to-server streams;
//   - 6-4: SASL DIGEST-MD5 for backward compatibility.
//
// DIGEST-MD5 is obsolete. RFC 6331 moved it to Historic because its
// interoperability was poor (the specification is ambiguous about realms,
// character sets and quoting, so implementations disagree), because its
// security layers are weak (the RC4, DES and 3DES ciphers, and an integrity
// protection built on HMAC-MD5 with 10-byte MACs), because it relies on MD5,
// and because the stored digest is password-equivalent: whoever reads
// H({username:realm:password}) can log in as that user without knowing the
// password. Starling keeps it disabled by default; this package implements it
// fully so that it can be enabled for old clients, and it never stores the
// digest unless asked to (DeriveOptions.DigestMD5).
//
// SCRAM with channel binding is the preferred family: the -PLUS variants tie
// the authentication to the TLS connection, so a man in the middle who
// terminates TLS cannot relay the exchange.
package sasl
