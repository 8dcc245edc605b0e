package sasl

import "errors"

// ClientConfig configures the client side of one SASL exchange.
type ClientConfig struct {
	// Username is the authentication identity, usually the localpart of
	// the account's JID. SCRAM prepares it with SASLprep; PLAIN sends it
	// as typed (the server prepares it) and so does DIGEST-MD5.
	Username string
	// Password is the user's password. SCRAM and DIGEST-MD5 prepare it
	// with SASLprep (DIGEST-MD5 to match Derive); PLAIN sends it as
	// typed, and the server prepares it.
	Password string
	// Authzid is the authorization identity to request, usually a JID,
	// or "" for none. It is sent as it is.
	Authzid string
	// Host is the server's domain; DIGEST-MD5 sends the digest-uri
	// "xmpp/<Host>".
	Host string
	// ChannelBindings maps the channel-binding types available on this
	// connection (CBTLSExporter, CBTLSServerEndPoint) to their data.
	ChannelBindings map[string][]byte
	// ServerSupportsPlus reports whether the server offered any -PLUS
	// mechanism. A client that could bind the channel but saw none says
	// so in SCRAM (the "y" flag), so that a server which did offer one
	// detects the downgrade.
	ServerSupportsPlus bool
}

// Client is the client side of one SASL exchange. It is not safe for
// concurrent use.
type Client interface {
	// Step returns the response to a challenge. The first call takes nil
	// and returns the initial response: nil if the mechanism has none
	// (DIGEST-MD5), so that <auth/> carries no text, and []byte{} for an
	// empty one.
	Step(challenge []byte) (response []byte, err error)

	// Verify checks the additional data of <success/>: the server
	// signature in SCRAM, rspauth in DIGEST-MD5. It fails for a success
	// the client cannot verify, such as one that comes before the server
	// proved it knows the credentials; the client must then treat the
	// authentication as failed.
	Verify(success []byte) error
}

// NewClient starts the client side of an exchange with the named mechanism.
// -PLUS mechanisms need channel-binding data in cfg.ChannelBindings.
func NewClient(mech string, cfg ClientConfig) (Client, error) {
	var c Client
	var err error
	switch mech {
	case PLAIN:
		c, err = newPlainClient(cfg)
	case DigestMD5:
		c, err = newDigestClient(cfg)
	default:
		if _, ok := scramHashes[mech]; !ok {
			return nil, errors.New("sasl: unknown mechanism")
		}
		c, err = newSCRAMClient(mech, cfg, nil)
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}
