package sasl

import (
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"unicode/utf8"
)

// maxDigestResponse is RFC 2831 §2.1.2's limit on a digest-response.
const maxDigestResponse = 4096

// digestServer is the server side of DIGEST-MD5 (RFC 2831) with qop=auth
// and the XMPP digest-uri "xmpp/<domain>" (RFC 6120 §6.4.7).
type digestServer struct {
	cfg      ServerConfig
	service  string // the digest-uri serv-type; "xmpp" except in tests
	nonceGen func() string

	state    int // 0: start, 1: challenged, 2: sent rspauth, 3: over
	nonce    string
	rspauth  string
	username string
	authzid  string
	ok       bool
}

func newDigestServer(cfg ServerConfig) *digestServer {
	return &digestServer{cfg: cfg, service: "xmpp", nonceGen: randomNonce}
}

func (s *digestServer) Username() string {
	if !s.ok {
		return ""
	}
	return s.username
}

func (s *digestServer) Authzid() string {
	if !s.ok {
		return ""
	}
	return s.authzid
}

func (s *digestServer) Step(ctx context.Context, in []byte) ([]byte, bool, error) {
	switch s.state {
	case 0:
		// DIGEST-MD5 starts with the server; an empty initial response
		// is taken as none.
		if len(in) != 0 {
			s.state = 3
			return nil, true, malformed("DIGEST-MD5 takes no initial response")
		}
		s.state = 1
		s.nonce = s.nonceGen()
		c := "realm=" + quote(s.cfg.Realm) + ",nonce=" + quote(s.nonce) +
			",qop=\"auth\",charset=utf-8,algorithm=md5-sess"
		return []byte(c), false, nil
	case 1:
		s.state = 3
		if f := s.response(ctx, in); f != nil {
			return nil, true, f
		}
		s.state = 2
		return []byte("rspauth=" + s.rspauth), false, nil
	case 2:
		s.state = 3
		if len(in) != 0 {
			return nil, true, malformed("expected an empty response after rspauth")
		}
		s.ok = true
		return nil, true, nil
	default:
		return nil, true, malformed("exchange already finished")
	}
}

// response checks a digest-response (RFC 2831 §2.1.2) and, if it is right,
// sets s.rspauth.
func (s *digestServer) response(ctx context.Context, in []byte) *Failure {
	if len(in) > maxDigestResponse {
		return malformed("message too long")
	}
	ds, err := parseDirectives(in)
	if err != nil {
		return malformed("invalid directive syntax")
	}
	known := map[string]bool{
		"username": true, "realm": true, "nonce": true, "cnonce": true, "nc": true,
		"qop": true, "digest-uri": true, "response": true, "maxbuf": true,
		"charset": true, "cipher": true, "authzid": true,
	}
	d := make(map[string]string, len(ds))
	for _, x := range ds {
		if !known[x.name] {
			continue // RFC 2831: unknown directives are ignored
		}
		if _, dup := d[x.name]; dup {
			return malformed("duplicate " + x.name + " directive")
		}
		d[x.name] = x.value
	}
	for _, name := range []string{"username", "nonce", "cnonce", "nc", "digest-uri", "response"} {
		if d[name] == "" {
			return malformed("missing " + name + " directive")
		}
	}
	charset, isUTF8 := d["charset"]
	if isUTF8 && !strings.EqualFold(charset, "utf-8") {
		return malformed("unsupported charset")
	}
	// Without charset=utf-8, names are ISO 8859-1 (RFC 2831 §2.1.2).
	text := func(v string) (string, bool) {
		if isUTF8 {
			return v, utf8.ValidString(v)
		}
		return fromLatin1([]byte(v)), true
	}
	username, ok1 := text(d["username"])
	authzid, ok2 := text(d["authzid"])
	realm, ok3 := text(d["realm"])
	if !ok1 || !ok2 || !ok3 {
		return malformed("invalid UTF-8")
	}
	qop, hasQop := d["qop"]
	if !hasQop {
		qop = "auth"
	} else if !strings.EqualFold(qop, "auth") {
		return malformed("only qop=auth is supported")
	}
	if d["nc"] != "00000001" {
		return malformed("nonce count must be 00000001")
	}
	want, err := hex.DecodeString(d["response"])
	if err != nil || len(want) != md5.Size {
		return malformed("invalid response directive")
	}

	if d["nonce"] != s.nonce {
		return notAuthorized()
	}
	if _, ok := d["realm"]; ok && realm != s.cfg.Realm {
		return notAuthorized()
	}
	uri := d["digest-uri"]
	if service, host, ok := strings.Cut(uri, "/"); !ok || service != s.service || !strings.EqualFold(host, s.cfg.Realm) {
		return notAuthorized()
	}

	creds, found, f := s.cfg.lookup(ctx, username)
	if f != nil {
		return f
	}
	secret := creds.DigestMD5
	if found && secret != nil && len(secret) != md5.Size {
		return &Failure{Condition: TemporaryAuthFailure, Err: errors.New("sasl: stored DIGEST-MD5 digest is invalid")}
	}
	if !found || secret == nil {
		secret = fakeBytes(s.cfg.Secret, DigestMD5, username, md5.Size)
		found = false
	}
	got := digestValue(secret, s.nonce, d["cnonce"], d["nc"], qop, uri, d["authzid"], "AUTHENTICATE")
	if !hmac.Equal(got, want) || !found {
		return notAuthorized()
	}
	s.rspauth = hex.EncodeToString(digestValue(secret, s.nonce, d["cnonce"], d["nc"], qop, uri, d["authzid"], ""))
	s.username, s.authzid = username, authzid
	return nil
}

// digestValue computes the response-value of RFC 2831 §2.1.2.1 for
// algorithm=md5-sess and qop=auth. a2 is "AUTHENTICATE" for the client's
// response and "" for the server's rspauth. secret is
// H({username:realm:password}); an empty authzid is left out of A1.
func digestValue(secret []byte, nonce, cnonce, nc, qop, uri, authzid, a2 string) []byte {
	h := md5.New()
	h.Write(secret)
	h.Write([]byte(":" + nonce + ":" + cnonce))
	if authzid != "" {
		h.Write([]byte(":" + authzid))
	}
	ha1 := hex.EncodeToString(h.Sum(nil))
	ha2 := md5.Sum([]byte(a2 + ":" + uri))
	kd := md5.Sum([]byte(ha1 + ":" + nonce + ":" + nc + ":" + cnonce + ":" + qop + ":" + hex.EncodeToString(ha2[:])))
	return kd[:]
}

// directive is one name=value pair of a DIGEST-MD5 message, with the name in
// lower case and the value unquoted.
type directive struct {
	name, value string
}

var errDirectives = errors.New("sasl: invalid DIGEST-MD5 directives")

// parseDirectives parses a comma-separated list of name=value directives,
// where a value is a token or a quoted-string (RFC 2831 §7.1, with the #rule
// of RFC 2616 §2.1: empty elements and linear white space are allowed).
func parseDirectives(b []byte) ([]directive, error) {
	var ds []directive
	i := 0
	skipLWS := func() {
		for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
			i++
		}
	}
	token := func() string {
		start := i
		for i < len(b) && isTokenChar(b[i]) {
			i++
		}
		return string(b[start:i])
	}
	for {
		for skipLWS(); i < len(b) && b[i] == ','; skipLWS() {
			i++
		}
		if i == len(b) {
			return ds, nil
		}
		name := token()
		if name == "" {
			return nil, errDirectives
		}
		skipLWS()
		if i == len(b) || b[i] != '=' {
			return nil, errDirectives
		}
		i++
		skipLWS()
		var value string
		if i < len(b) && b[i] == '"' {
			i++
			var v []byte
			for {
				if i == len(b) {
					return nil, errDirectives
				}
				c := b[i]
				i++
				if c == '"' {
					break
				}
				if c == '\\' {
					if i == len(b) {
						return nil, errDirectives
					}
					c = b[i]
					i++
				}
				if c < 0x20 && c != '\t' && c != '\r' && c != '\n' || c == 0x7f {
					return nil, errDirectives
				}
				v = append(v, c)
			}
			value = string(v)
		} else if value = token(); value == "" {
			return nil, errDirectives
		}
		ds = append(ds, directive{strings.ToLower(name), value})
		skipLWS()
		if i < len(b) && b[i] != ',' {
			return nil, errDirectives
		}
	}
}

// isTokenChar reports whether c may appear in an RFC 2616 token.
func isTokenChar(c byte) bool {
	if c <= 0x20 || c >= 0x7f {
		return false
	}
	return !strings.ContainsRune("()<>@,;:\\\"/[]?={}", rune(c))
}

// quote makes a quoted-string, escaping '"' and '\'.
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// randomNonce returns 24 random bytes in base64: printable, no ',' and no
// '"'.
func randomNonce() string {
	b := make([]byte, 24)
	rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// digestClient is the client side of DIGEST-MD5.
type digestClient struct {
	cfg       ClientConfig
	service   string // the digest-uri serv-type; "xmpp" except in tests
	cnonceGen func() string

	state   int // 0: start, 1: sent response, 2: verified rspauth, 3: failed
	rspauth string
}

func newDigestClient(cfg ClientConfig) (*digestClient, error) {
	if cfg.Username == "" || cfg.Host == "" {
		return nil, errors.New("sasl: DIGEST-MD5 needs a username and a host")
	}
	pw, err := prepPassword(cfg.Password)
	if err != nil {
		return nil, err
	}
	cfg.Password = pw
	return &digestClient{cfg: cfg, service: "xmpp", cnonceGen: randomNonce}, nil
}

func (c *digestClient) Step(challenge []byte) ([]byte, error) {
	switch c.state {
	case 0:
		if challenge == nil {
			return nil, nil // no initial response
		}
		out, err := c.respond(challenge)
		if err != nil {
			c.state = 3
			return nil, err
		}
		c.state = 1
		return out, nil
	case 1:
		if err := c.checkRspauth(challenge); err != nil {
			c.state = 3
			return nil, err
		}
		c.state = 2
		return []byte{}, nil
	default:
		return nil, errors.New("sasl: unexpected DIGEST-MD5 challenge")
	}
}

// respond answers the digest-challenge (RFC 2831 §2.1.1).
func (c *digestClient) respond(challenge []byte) ([]byte, error) {
	ds, err := parseDirectives(challenge)
	if err != nil {
		return nil, err
	}
	var realms []string
	var nonce, charset, algorithm string
	qops := []string{"auth"}
	seen := map[string]bool{}
	for _, d := range ds {
		if d.name != "realm" && seen[d.name] {
			return nil, errors.New("sasl: duplicate directive in DIGEST-MD5 challenge")
		}
		seen[d.name] = true
		switch d.name {
		case "realm":
			realms = append(realms, d.value)
		case "nonce":
			nonce = d.value
		case "charset":
			charset = d.value
		case "algorithm":
			algorithm = d.value
		case "qop":
			qops = strings.Split(d.value, ",")
		case "rspauth":
			return nil, errors.New("sasl: DIGEST-MD5 rspauth before response")
		}
	}
	if nonce == "" || !strings.EqualFold(algorithm, "md5-sess") {
		return nil, errors.New("sasl: invalid DIGEST-MD5 challenge")
	}
	auth := false
	for _, q := range qops {
		if strings.EqualFold(strings.TrimSpace(q), "auth") {
			auth = true
		}
	}
	if !auth {
		return nil, errors.New("sasl: DIGEST-MD5 server does not offer qop=auth")
	}
	isUTF8 := strings.EqualFold(charset, "utf-8")
	realm := c.cfg.Host
	if len(realms) > 0 {
		realm = realms[0]
	}
	user, pw, authzid := c.cfg.Username, c.cfg.Password, c.cfg.Authzid
	if !isUTF8 {
		// Without charset=utf-8 everything is ISO 8859-1.
		var ok [4]bool
		var u, r, p, a []byte
		u, ok[0] = toLatin1(user)
		r, ok[1] = toLatin1(realm)
		p, ok[2] = toLatin1(pw)
		a, ok[3] = toLatin1(authzid)
		if ok != [4]bool{true, true, true, true} {
			return nil, errors.New("sasl: DIGEST-MD5 server does not accept UTF-8")
		}
		user, realm, pw, authzid = string(u), string(r), string(p), string(a)
	}
	secret := digestSecret(user, realm, pw, isUTF8)
	cnonce := c.cnonceGen()
	uri := c.service + "/" + c.cfg.Host
	const nc, qop = "00000001", "auth"
	resp := hex.EncodeToString(digestValue(secret, nonce, cnonce, nc, qop, uri, authzid, "AUTHENTICATE"))
	c.rspauth = hex.EncodeToString(digestValue(secret, nonce, cnonce, nc, qop, uri, authzid, ""))

	var b strings.Builder
	if isUTF8 {
		b.WriteString("charset=utf-8,")
	}
	b.WriteString("username=" + quote(user))
	b.WriteString(",realm=" + quote(realm))
	b.WriteString(",nonce=" + quote(nonce))
	b.WriteString(",nc=" + nc)
	b.WriteString(",cnonce=" + quote(cnonce))
	b.WriteString(",digest-uri=" + quote(uri))
	b.WriteString(",response=" + resp)
	b.WriteString(",qop=" + qop)
	if authzid != "" {
		b.WriteString(",authzid=" + quote(authzid))
	}
	return []byte(b.String()), nil
}

// checkRspauth checks the server's response-auth (RFC 2831 §2.1.3).
func (c *digestClient) checkRspauth(msg []byte) error {
	ds, err := parseDirectives(msg)
	if err != nil {
		return err
	}
	var got string
	n := 0
	for _, d := range ds {
		if d.name == "rspauth" {
			got = d.value
			n++
		}
	}
	if n != 1 || !hmac.Equal([]byte(strings.ToLower(got)), []byte(c.rspauth)) {
		return errors.New("sasl: DIGEST-MD5 server authentication failed")
	}
	return nil
}

func (c *digestClient) Verify(success []byte) error {
	switch c.state {
	case 2:
		if len(success) == 0 {
			return nil
		}
		return c.checkRspauth(success)
	case 1:
		// Some servers send rspauth with <success/> instead of in a
		// challenge.
		if err := c.checkRspauth(success); err != nil {
			c.state = 3
			return err
		}
		c.state = 2
		return nil
	default:
		return errors.New("sasl: DIGEST-MD5 success out of order")
	}
}
