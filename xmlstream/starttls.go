package xmlstream

import (
	"crypto/rand"
	"encoding/base64"
	"net"
	"strconv"
	"strings"
)

// TLSTransport returns what a TLS handshake after <starttls/> must read
// from: c, preceded by any bytes the decoder already read past that
// element. A peer that did not wait for <proceed/> may have sent its TLS
// hello already; those bytes belong to TLS, never to XML (seed 4-2).
// White space (a keepalive) is dropped.
func (d *Decoder) TLSTransport(c net.Conn) net.Conn {
	b := d.Buffered()
	if strings.TrimLeft(string(b), " \t\r\n") == "" {
		return c
	}
	return &prefixConn{Conn: c, pre: append([]byte(nil), b...)}
}

// prefixConn reads pre before reading from the connection.
type prefixConn struct {
	net.Conn
	pre []byte
}

func (p *prefixConn) Read(b []byte) (int, error) {
	if len(p.pre) > 0 {
		n := copy(b, p.pre)
		p.pre = p.pre[n:]
		return n, nil
	}
	return p.Conn.Read(b)
}

// VersionOK reports whether a stream header's version is "1.0" or later
// (RFC 6120 §4.7.5: we answer 1.0, the lower of the two); a missing or
// older version is refused.
func VersionOK(v string) bool {
	major, minor, ok := strings.Cut(v, ".")
	if !ok {
		return false
	}
	ma, err1 := strconv.Atoi(major)
	_, err2 := strconv.Atoi(minor)
	return err1 == nil && err2 == nil && ma >= 1 && len(major) <= 4 && len(minor) <= 4
}

// NewStreamID returns a stream id: 128 random bits, unique within the
// server (seed 3.3.2-4), unguessable, and usable as the nonce of dialback
// keys (XEP-0185).
func NewStreamID() string {
	var b [16]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
