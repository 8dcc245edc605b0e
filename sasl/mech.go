package sasl

import "strings"

// Mechanism names, as they appear in <mechanism/> and the mechanism attribute
// of <auth/>.
const (
	PLAIN           = "PLAIN"
	SCRAMSHA1       = "SCRAM-SHA-1"
	SCRAMSHA1Plus   = "SCRAM-SHA-1-PLUS"
	SCRAMSHA256     = "SCRAM-SHA-256"
	SCRAMSHA256Plus = "SCRAM-SHA-256-PLUS"
	SCRAMSHA512     = "SCRAM-SHA-512"
	SCRAMSHA512Plus = "SCRAM-SHA-512-PLUS"
	DigestMD5       = "DIGEST-MD5"
)

// Channel-binding type names (RFC 5056 §2.1) this package can use with the
// -PLUS mechanisms. They are the keys of ServerConfig.ChannelBindings and
// ClientConfig.ChannelBindings.
const (
	// CBTLSExporter is RFC 9266's binding: keying material exported from
	// the TLS connection; see TLSExporter.
	CBTLSExporter = "tls-exporter"
	// CBTLSServerEndPoint is RFC 5929 §4's binding: a hash of the server's
	// certificate; see TLSServerEndPoint.
	CBTLSServerEndPoint = "tls-server-end-point"
	// CBTLSUnique is RFC 5929 §3's binding: the first Finished message of
	// the TLS handshake. It is defined for TLS 1.2 only (with the extended
	// master secret, RFC 7627); crypto/tls gives it as
	// ConnectionState.TLSUnique.
	CBTLSUnique = "tls-unique"
)

// cbPreference lists the binding types a client uses, best first.
var cbPreference = []string{CBTLSExporter, CBTLSServerEndPoint, CBTLSUnique}

// Mechanisms lists every implemented mechanism, strongest first: the -PLUS
// variants, then plain SCRAM, then DIGEST-MD5, then PLAIN. The slice is a
// fresh copy.
func Mechanisms() []string {
	return []string{
		SCRAMSHA512Plus, SCRAMSHA256Plus, SCRAMSHA1Plus,
		SCRAMSHA512, SCRAMSHA256, SCRAMSHA1,
		DigestMD5,
		PLAIN,
	}
}

// IsPlus reports whether mech is a channel-binding (-PLUS) variant, which may
// only be offered on a connection with channel-binding data.
func IsPlus(mech string) bool {
	return strings.HasSuffix(mech, "-PLUS")
}

// Choose picks the strongest mechanism that the server offered and this
// package implements: the order of Mechanisms, except that PLAIN, when
// allowed, comes before the obsolete DIGEST-MD5. It never picks PLAIN unless
// allowPlain is set, and picks a -PLUS variant only when cbAvailable names a
// channel-binding type this package can use. The second result is false if
// there is no such mechanism.
func Choose(offered []string, cbAvailable []string, allowPlain bool) (string, bool) {
	canBind := false
	for _, t := range cbAvailable {
		if isKnownCB(t) {
			canBind = true
			break
		}
	}
	have := make(map[string]bool, len(offered))
	for _, m := range offered {
		have[strings.TrimSpace(m)] = true
	}
	// Clients prefer PLAIN (allowed only on TLS) to DIGEST-MD5, which RFC
	// 6331 made obsolete; DIGEST-MD5 is the last resort.
	prefs := append(Mechanisms()[:6], PLAIN, DigestMD5)
	for _, m := range prefs {
		switch {
		case !have[m]:
		case m == PLAIN && !allowPlain:
		case IsPlus(m) && !canBind:
		default:
			return m, true
		}
	}
	return "", false
}

func isKnownCB(t string) bool {
	for _, k := range cbPreference {
		if t == k {
			return true
		}
	}
	return false
}
