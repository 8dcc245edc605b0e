package sasl

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"reflect"
	"strings"
	"testing"
)

// The example of RFC 2831 §4: user chris, password secret. The published
// response and rspauth values are reproduced with the digest-uri
// "imap/elwood.innosoft.com" (see the RFC's errata), so the tests switch the
// service name from "xmpp" to "imap".
const (
	rfc2831Realm     = "elwood.innosoft.com"
	rfc2831Nonce     = "OA6MG9tEQGm2hh"
	rfc2831CNonce    = "OA6MHXh6VqTrRk"
	rfc2831URI       = "imap/elwood.innosoft.com"
	rfc2831Response  = "d388dad90d4bbd760a152321f2143af7"
	rfc2831Rspauth   = "ea40f60335c427b5527b84dbabcdfffd"
	rfc2831Challenge = `realm="elwood.innosoft.com",nonce="OA6MG9tEQGm2hh",qop="auth",charset=utf-8,algorithm=md5-sess`
	rfc2831ClientMsg = `charset=utf-8,username="chris",realm="elwood.innosoft.com",nonce="OA6MG9tEQGm2hh",nc=00000001,cnonce="OA6MHXh6VqTrRk",digest-uri="imap/elwood.innosoft.com",response=d388dad90d4bbd760a152321f2143af7,qop=auth`
)

func rfc2831Users(t testing.TB) users {
	c, err := Derive("secret", DeriveOptions{Iterations: testIters, DigestMD5: true, Username: "chris", Realm: rfc2831Realm})
	if err != nil {
		t.Fatal(err)
	}
	return users{"chris": c}
}

func TestSeed6_4_DigestMD5_RFC2831Example(t *testing.T) {
	secret := md5.Sum([]byte("chris:" + rfc2831Realm + ":secret"))

	t.Run("response value", func(t *testing.T) {
		got := hex.EncodeToString(digestValue(secret[:], rfc2831Nonce, rfc2831CNonce, "00000001", "auth", rfc2831URI, "", "AUTHENTICATE"))
		if got != rfc2831Response {
			t.Fatalf("response %s, want %s", got, rfc2831Response)
		}
		got = hex.EncodeToString(digestValue(secret[:], rfc2831Nonce, rfc2831CNonce, "00000001", "auth", rfc2831URI, "", ""))
		if got != rfc2831Rspauth {
			t.Fatalf("rspauth %s, want %s", got, rfc2831Rspauth)
		}
	})

	t.Run("server", func(t *testing.T) {
		s, err := NewServer(DigestMD5, ServerConfig{Lookup: rfc2831Users(t).lookup, Realm: rfc2831Realm})
		if err != nil {
			t.Fatal(err)
		}
		ds := s.(*digestServer)
		ds.service, ds.nonceGen = "imap", fixedNonce(rfc2831Nonce)
		ctx := context.Background()
		out, done, err := s.Step(ctx, nil)
		if err != nil || done {
			t.Fatal(done, err)
		}
		if got, _ := parseDirectives(out); !reflect.DeepEqual(got, mustDirectives(t, rfc2831Challenge)) {
			t.Fatalf("challenge %q, want the directives of %q", out, rfc2831Challenge)
		}
		out, done, err = s.Step(ctx, []byte(rfc2831ClientMsg))
		if err != nil || done || string(out) != "rspauth="+rfc2831Rspauth {
			t.Fatalf("second challenge %q, %v, %v", out, done, err)
		}
		out, done, err = s.Step(ctx, []byte{})
		if err != nil || !done || out != nil {
			t.Fatalf("final %q, %v, %v", out, done, err)
		}
		if s.Username() != "chris" || s.Authzid() != "" {
			t.Fatalf("Username, Authzid = %q, %q", s.Username(), s.Authzid())
		}
	})

	t.Run("client", func(t *testing.T) {
		c, err := newDigestClient(ClientConfig{Username: "chris", Password: "secret", Host: rfc2831Realm})
		if err != nil {
			t.Fatal(err)
		}
		c.service, c.cnonceGen = "imap", fixedNonce(rfc2831CNonce)
		if out, err := c.Step(nil); out != nil || err != nil {
			t.Fatalf("initial response %q, %v; want none", out, err)
		}
		out, err := c.Step([]byte(rfc2831Challenge))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := sortedDirectives(t, string(out)), sortedDirectives(t, rfc2831ClientMsg); !reflect.DeepEqual(got, want) {
			t.Fatalf("response %q, want %q", out, rfc2831ClientMsg)
		}
		out, err = c.Step([]byte("rspauth=" + rfc2831Rspauth))
		if err != nil || out == nil || len(out) != 0 {
			t.Fatalf("answer to rspauth %q, %v", out, err)
		}
		if err := c.Verify(nil); err != nil {
			t.Fatal(err)
		}
	})
}

func mustDirectives(t *testing.T, s string) []directive {
	t.Helper()
	d, err := parseDirectives([]byte(s))
	if err != nil {
		t.Fatalf("parseDirectives(%q): %v", s, err)
	}
	return d
}

func sortedDirectives(t *testing.T, s string) map[string]string {
	m := map[string]string{}
	for _, d := range mustDirectives(t, s) {
		m[d.name] = d.value
	}
	return m
}

func TestSeed6_4_DigestMD5(t *testing.T) {
	for _, tc := range []struct {
		name          string
		user, pw, az  string
		host          string
		wantCondition string
	}{
		{name: "correct", user: "juliet", pw: "r0m30myr0m30"},
		{name: "authzid", user: "juliet", pw: "r0m30myr0m30", az: "juliet@example.test/balcony"},
		{name: "wrong password", user: "juliet", pw: "wrong", wantCondition: NotAuthorized},
		{name: "unknown user", user: "nurse", pw: "r0m30myr0m30", wantCondition: NotAuthorized},
		{name: "no digest stored", user: "romeo", pw: "déjà vu", wantCondition: NotAuthorized},
		{name: "other host", user: "juliet", pw: "r0m30myr0m30", host: "example.org", wantCondition: NotAuthorized},
		{name: "host case-insensitive", user: "juliet", pw: "r0m30myr0m30", host: "EXAMPLE.test"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			host := tc.host
			if host == "" {
				host = testDomain
			}
			s, serr, cerr := roundTrip(t, DigestMD5, testServerConfig(t), ClientConfig{Username: tc.user, Password: tc.pw, Authzid: tc.az, Host: host})
			if cerr != nil {
				t.Fatalf("client: %v", cerr)
			}
			if tc.wantCondition != "" {
				f := wantFailure(t, serr, tc.wantCondition)
				if *f != *notAuthorized() {
					t.Fatalf("failure %#v says more than not-authorized", f)
				}
				return
			}
			if serr != nil {
				t.Fatal(serr)
			}
			if s.Username() != tc.user || s.Authzid() != tc.az {
				t.Fatalf("Username, Authzid = %q, %q", s.Username(), s.Authzid())
			}
		})
	}
}

func TestDigestMD5Charsets(t *testing.T) {
	const user, pw = "jürgen", "grüße"
	c, err := Derive(pw, DeriveOptions{Iterations: testIters, DigestMD5: true, Username: user, Realm: testDomain})
	if err != nil {
		t.Fatal(err)
	}
	cfg := testServerConfig(t)
	cfg.Lookup = users{user: c}.lookup
	for _, tc := range []struct {
		name    string
		charset bool
	}{{"utf-8", true}, {"ISO 8859-1", false}} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := NewServer(DigestMD5, cfg)
			cl, _ := newDigestClient(ClientConfig{Username: user, Password: pw, Host: testDomain})
			ctx := context.Background()
			ch, _, _ := s.Step(ctx, nil)
			if !tc.charset {
				ch = []byte(strings.Replace(string(ch), ",charset=utf-8", "", 1))
			}
			resp, err := cl.Step(ch)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.charset && strings.Contains(string(resp), "charset") {
				t.Fatalf("client sent charset: %q", resp)
			}
			out, _, err := s.Step(ctx, resp)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := cl.Step(out); err != nil {
				t.Fatal(err)
			}
			if _, done, err := s.Step(ctx, nil); err != nil || !done || s.Username() != user {
				t.Fatalf("done %v, err %v, user %q", done, err, s.Username())
			}
		})
	}
	t.Run("beyond Latin-1 without utf-8", func(t *testing.T) {
		cl, _ := newDigestClient(ClientConfig{Username: "ромео", Password: "pw", Host: testDomain})
		if _, err := cl.Step([]byte(`nonce="n",qop="auth",algorithm=md5-sess`)); err == nil {
			t.Fatal("client sent a name ISO 8859-1 cannot hold")
		}
	})
}

// digestExchange returns a server that has sent its challenge, with nonce
// "N", and a function to build a valid response with changes.
func digestExchange(t *testing.T) (Server, func(map[string]string, ...string) string) {
	t.Helper()
	s, err := NewServer(DigestMD5, testServerConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	s.(*digestServer).nonceGen = fixedNonce("N")
	if _, _, err := s.Step(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	build := func(change map[string]string, drop ...string) string {
		d := map[string]string{
			"charset": "utf-8", "username": `"juliet"`, "realm": `"example.test"`,
			"nonce": `"N"`, "nc": "00000001", "cnonce": `"C"`, "digest-uri": `"xmpp/example.test"`,
			"qop": "auth",
		}
		for k, v := range change {
			d[k] = v
		}
		for _, k := range drop {
			delete(d, k)
		}
		if _, ok := d["response"]; !ok {
			unq := func(s string) string { return strings.Trim(s, `"`) }
			secret := testUsers(t)["juliet"].DigestMD5
			qop := d["qop"]
			if qop == "" {
				qop = "auth"
			}
			d["response"] = hex.EncodeToString(digestValue(secret, unq(d["nonce"]), unq(d["cnonce"]), d["nc"], qop, unq(d["digest-uri"]), unq(d["authzid"]), "AUTHENTICATE"))
		}
		var parts []string
		for k, v := range d {
			parts = append(parts, k+"="+v)
		}
		return strings.Join(parts, ",")
	}
	return s, build
}

func TestDigestMD5Server(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change map[string]string
		drop   []string
		raw    string // used instead of a built response
		cond   string // "" for success
	}{
		{name: "valid"},
		{name: "realm absent means ours", drop: []string{"realm"}},
		{name: "qop absent means auth", drop: []string{"qop"}},
		{name: "charset absent", drop: []string{"charset"}},
		{name: "token username", change: map[string]string{"username": "juliet"}},
		{name: "extra white space and empty elements", raw: "SPACES"},
		{name: "unknown directive ignored", change: map[string]string{"x-future": `"1"`}},
		{name: "upper-case names", raw: "UPPER"},
		{name: "empty authzid is none", change: map[string]string{"authzid": `""`}},
		{name: "missing username", drop: []string{"username"}, cond: MalformedRequest},
		{name: "missing nonce", drop: []string{"nonce"}, cond: MalformedRequest},
		{name: "missing cnonce", drop: []string{"cnonce"}, cond: MalformedRequest},
		{name: "empty cnonce", change: map[string]string{"cnonce": `""`}, cond: MalformedRequest},
		{name: "missing nc", drop: []string{"nc"}, cond: MalformedRequest},
		{name: "missing digest-uri", drop: []string{"digest-uri"}, cond: MalformedRequest},
		{name: "missing response", change: map[string]string{"response": ""}, cond: MalformedRequest},
		{name: "nc not 1", change: map[string]string{"nc": "00000002"}, cond: MalformedRequest},
		{name: "qop auth-int", change: map[string]string{"qop": "auth-int"}, cond: MalformedRequest},
		{name: "qop auth-conf", change: map[string]string{"qop": "auth-conf"}, cond: MalformedRequest},
		{name: "charset latin1", change: map[string]string{"charset": "iso-8859-1"}, cond: MalformedRequest},
		{name: "short response", change: map[string]string{"response": "abcd"}, cond: MalformedRequest},
		{name: "non-hex response", change: map[string]string{"response": strings.Repeat("g", 32)}, cond: MalformedRequest},
		{name: "duplicate directive", raw: "DUP", cond: MalformedRequest},
		{name: "invalid UTF-8 username", change: map[string]string{"username": "\"jul\xffiet\""}, cond: MalformedRequest},
		{name: "unterminated quote", raw: `username="juliet`, cond: MalformedRequest},
		{name: "no value", raw: `username=,nonce="N"`, cond: MalformedRequest},
		{name: "no equals", raw: `username`, cond: MalformedRequest},
		{name: "garbage after value", raw: `username="juliet" x,nonce="N"`, cond: MalformedRequest},
		{name: "control character", raw: "username=\"jul\x01iet\"", cond: MalformedRequest},
		{name: "empty response", raw: "", cond: MalformedRequest},
		{name: "too long", raw: "x-pad=\"" + strings.Repeat("a", maxDigestResponse) + "\"", cond: MalformedRequest},
		{name: "wrong nonce", change: map[string]string{"nonce": `"M"`}, cond: NotAuthorized},
		{name: "wrong realm", change: map[string]string{"realm": `"example.org"`}, cond: NotAuthorized},
		{name: "wrong digest-uri service", change: map[string]string{"digest-uri": `"imap/example.test"`}, cond: NotAuthorized},
		{name: "wrong digest-uri host", change: map[string]string{"digest-uri": `"xmpp/example.org"`}, cond: NotAuthorized},
		{name: "digest-uri with serv-name", change: map[string]string{"digest-uri": `"xmpp/example.test/example.test"`}, cond: NotAuthorized},
		{name: "digest-uri without host", change: map[string]string{"digest-uri": `"xmpp"`}, cond: NotAuthorized},
		{name: "wrong response", change: map[string]string{"response": strings.Repeat("0", 32)}, cond: NotAuthorized},
		{name: "authzid not in hash", raw: "AUTHZ", cond: NotAuthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, build := digestExchange(t)
			msg := tc.raw
			switch tc.raw {
			case "":
				if tc.name != "empty response" {
					msg = build(tc.change, tc.drop...)
				}
			case "SPACES":
				msg = " ,, " + strings.ReplaceAll(build(nil), ",", " ,\t, ") + " , "
			case "UPPER":
				msg = strings.NewReplacer("username=", "UserName=", "nonce=", "NONCE=").Replace(build(nil))
			case "DUP":
				msg = build(nil) + `,cnonce="C"`
			case "AUTHZ":
				msg = build(nil) + `,authzid="romeo@example.test"`
			}
			ctx := context.Background()
			out, done, err := s.Step(ctx, []byte(msg))
			if tc.cond != "" {
				if !done || out != nil {
					t.Fatalf("done %v, out %q", done, out)
				}
				wantFailure(t, err, tc.cond)
				return
			}
			if err != nil || done || !strings.HasPrefix(string(out), "rspauth=") {
				t.Fatalf("Step = %q, %v, %v", out, done, err)
			}
			out, done, err = s.Step(ctx, nil)
			if err != nil || !done || out != nil || s.Username() != "juliet" {
				t.Fatalf("final = %q, %v, %v, user %q", out, done, err, s.Username())
			}
		})
	}
}

func TestDigestMD5ServerOrder(t *testing.T) {
	ctx := context.Background()
	t.Run("initial response", func(t *testing.T) {
		s, _ := NewServer(DigestMD5, testServerConfig(t))
		_, done, err := s.Step(ctx, []byte(`username="juliet"`))
		if !done {
			t.Fatal("not done")
		}
		wantFailure(t, err, MalformedRequest)
	})
	t.Run("empty initial response is none", func(t *testing.T) {
		s, _ := NewServer(DigestMD5, testServerConfig(t))
		out, done, err := s.Step(ctx, []byte{})
		if err != nil || done || !strings.Contains(string(out), `realm="example.test"`) {
			t.Fatalf("Step = %q, %v, %v", out, done, err)
		}
	})
	t.Run("non-empty answer to rspauth", func(t *testing.T) {
		s, build := digestExchange(t)
		if _, _, err := s.Step(ctx, []byte(build(nil))); err != nil {
			t.Fatal(err)
		}
		_, done, err := s.Step(ctx, []byte("x"))
		if !done {
			t.Fatal("not done")
		}
		wantFailure(t, err, MalformedRequest)
		if s.Username() != "" {
			t.Fatal("identity set without success")
		}
	})
	t.Run("step after success", func(t *testing.T) {
		s, build := digestExchange(t)
		s.Step(ctx, []byte(build(nil)))
		s.Step(ctx, nil)
		_, done, err := s.Step(ctx, nil)
		if !done {
			t.Fatal("not done")
		}
		wantFailure(t, err, MalformedRequest)
	})
	t.Run("no realm configured", func(t *testing.T) {
		cfg := testServerConfig(t)
		cfg.Realm = ""
		_, err := NewServer(DigestMD5, cfg)
		wantFailure(t, err, TemporaryAuthFailure)
	})
	t.Run("fresh nonces", func(t *testing.T) {
		a, _ := NewServer(DigestMD5, testServerConfig(t))
		b, _ := NewServer(DigestMD5, testServerConfig(t))
		ca, _, _ := a.Step(ctx, nil)
		cb, _, _ := b.Step(ctx, nil)
		if string(ca) == string(cb) {
			t.Fatal("two challenges share a nonce")
		}
	})
	t.Run("invalid stored digest", func(t *testing.T) {
		cfg := testServerConfig(t)
		cfg.Lookup = users{"juliet": {DigestMD5: []byte{1, 2}}}.lookup
		_, err, _ := roundTrip(t, DigestMD5, cfg, ClientConfig{Username: "juliet", Password: "r0m30myr0m30", Host: testDomain})
		wantFailure(t, err, TemporaryAuthFailure)
	})
}

func TestDigestMD5Client(t *testing.T) {
	newClient := func(t *testing.T) Client {
		c, err := NewClient(DigestMD5, ClientConfig{Username: "juliet", Password: "r0m30myr0m30", Host: testDomain})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	const ch = `realm="example.test",nonce="N",qop="auth",charset=utf-8,algorithm=md5-sess`
	for _, tc := range []struct{ name, challenge string }{
		{"no nonce", `realm="example.test",qop="auth",algorithm=md5-sess`},
		{"no algorithm", `nonce="N",qop="auth"`},
		{"md5 algorithm", `nonce="N",qop="auth",algorithm=md5`},
		{"no auth qop", `nonce="N",qop="auth-conf",algorithm=md5-sess`},
		{"two nonces", `nonce="N",nonce="M",algorithm=md5-sess`},
		{"rspauth first", `rspauth=00`},
		{"garbage", `"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClient(t)
			c.Step(nil)
			if _, err := c.Step([]byte(tc.challenge)); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	t.Run("qop list and several realms", func(t *testing.T) {
		c := newClient(t)
		c.Step(nil)
		out, err := c.Step([]byte(`realm="a.test",realm="b.test",nonce="N",qop="auth-int, auth",algorithm=md5-sess`))
		if err != nil || !strings.Contains(string(out), `realm="a.test"`) {
			t.Fatalf("%q, %v", out, err)
		}
	})
	t.Run("no realm uses host", func(t *testing.T) {
		c := newClient(t)
		c.Step(nil)
		out, err := c.Step([]byte(`nonce="N",algorithm=md5-sess`))
		if err != nil || !strings.Contains(string(out), `realm="example.test"`) || !strings.Contains(string(out), `digest-uri="xmpp/example.test"`) {
			t.Fatalf("%q, %v", out, err)
		}
	})
	t.Run("wrong rspauth", func(t *testing.T) {
		c := newClient(t)
		c.Step(nil)
		c.Step([]byte(ch))
		if _, err := c.Step([]byte("rspauth=" + strings.Repeat("0", 32))); err == nil {
			t.Fatal("accepted")
		}
		if err := c.Verify(nil); err == nil {
			t.Fatal("success accepted after a wrong rspauth")
		}
	})
	t.Run("success without rspauth", func(t *testing.T) {
		c := newClient(t)
		c.Step(nil)
		c.Step([]byte(ch))
		if err := c.Verify(nil); err == nil {
			t.Fatal("accepted")
		}
	})
	t.Run("rspauth in success", func(t *testing.T) {
		s, _ := NewServer(DigestMD5, testServerConfig(t))
		c := newClient(t)
		ctx := context.Background()
		c.Step(nil)
		sc, _, _ := s.Step(ctx, nil)
		resp, _ := c.Step(sc)
		rsp, _, err := s.Step(ctx, resp)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Verify(rsp); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("needs host", func(t *testing.T) {
		if _, err := NewClient(DigestMD5, ClientConfig{Username: "juliet", Password: "pw"}); err == nil {
			t.Fatal("accepted")
		}
	})
}

func TestParseDirectives(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []directive
		ok   bool
	}{
		{``, nil, true},
		{` , ,`, nil, true},
		{`a=b`, []directive{{"a", "b"}}, true},
		{`A = "b c" , d=e`, []directive{{"a", "b c"}, {"d", "e"}}, true},
		{`a="q\"uo\\te"`, []directive{{"a", `q"uo\te`}}, true},
		{`a="x,y=z"`, []directive{{"a", "x,y=z"}}, true},
		{`a="h\u00e9"`, []directive{{"a", `hu00e9`}}, true},
		{"a=\"h\xc3\xa9\"", []directive{{"a", "h\xc3\xa9"}}, true},
		{`a`, nil, false},
		{`=b`, nil, false},
		{`a=`, nil, false},
		{`a="b`, nil, false},
		{`a="b\`, nil, false},
		{`a=b c`, nil, false},
		{`a=b;c=d`, nil, false},
		{"a=\"\x00\"", nil, false},
		{"a=\x80", nil, false},
	} {
		got, err := parseDirectives([]byte(tc.in))
		if (err == nil) != tc.ok || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parseDirectives(%q) = %q, %v; want %q, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}
