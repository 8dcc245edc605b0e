package sasl

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"hash"
	"strings"
	"sync"
	"testing"

	"github.com/xdg-go/stringprep"
)

// The fuzz targets share one user, "user" with password "pencil", whose
// credentials are fixed so that the seed corpora can hold complete, valid
// exchanges.
const (
	fuzzUser      = "user"
	fuzzPassword  = "pencil"
	fuzzIters     = 4096 // what the SCRAM seeds were made with
	fuzzPlainIter = 2    // PLAIN pays PBKDF2 on every input; keep it cheap
	fuzzNonce     = "srvnonce"
)

var fuzzSalt = []byte("fuzz-salt-16byte")

var fuzzCredsOnce = sync.OnceValue(func() Credentials {
	mk := func(gen func() hash.Hash, iters int) *SCRAMKeys {
		st, sv, err := SaltedKeys(gen, fuzzPassword, fuzzSalt, iters)
		if err != nil {
			panic(err)
		}
		return &SCRAMKeys{Salt: fuzzSalt, Iterations: iters, StoredKey: st, ServerKey: sv}
	}
	d := md5.Sum([]byte(fuzzUser + ":" + testDomain + ":" + fuzzPassword))
	return Credentials{SHA1: mk(sha1.New, fuzzIters), SHA256: mk(sha256.New, fuzzIters), SHA512: mk(sha512.New, fuzzIters), DigestMD5: d[:]}
})

func fuzzConfig(plain bool) ServerConfig {
	c := fuzzCredsOnce()
	iters := fuzzIters
	if plain {
		// PLAIN verifies with SHA-256 keys; give it cheap ones.
		st, sv, _ := SaltedKeys(sha256.New, fuzzPassword, fuzzSalt, fuzzPlainIter)
		c = Credentials{SHA256: &SCRAMKeys{Salt: fuzzSalt, Iterations: fuzzPlainIter, StoredKey: st, ServerKey: sv}}
		iters = fuzzPlainIter
	}
	return ServerConfig{
		Lookup:     users{fuzzUser: c}.lookup,
		Realm:      testDomain,
		Secret:     []byte("fuzz secret"),
		Iterations: iters,
	}
}

// checkFailure checks that err is a *Failure with a condition of RFC 6120
// §6.5 and that the exchange is over.
func checkFailure(t *testing.T, err error, done bool, out []byte) {
	t.Helper()
	var f *Failure
	if !errors.As(err, &f) {
		t.Fatalf("error %v (%T) is not a *Failure", err, err)
	}
	switch f.Condition {
	case MalformedRequest, NotAuthorized, TemporaryAuthFailure:
	default:
		t.Fatalf("unexpected condition %q", f.Condition)
	}
	if !done || out != nil {
		t.Fatalf("failure with done %v, out %q", done, out)
	}
}

func FuzzPLAIN(f *testing.F) {
	f.Add([]byte("\x00user\x00pencil"))
	f.Add([]byte("admin\x00user\x00pencil"))
	f.Add([]byte("\x00user\x00wrong"))
	f.Add([]byte("user\x00pencil"))
	cfg := fuzzConfig(true)
	f.Fuzz(func(t *testing.T, msg []byte) {
		s, err := NewServer(PLAIN, cfg)
		if err != nil {
			t.Fatal(err)
		}
		out, done, err := s.Step(context.Background(), msg)
		if err != nil {
			checkFailure(t, err, done, out)
			if s.Username() != "" {
				t.Fatal("identity after failure")
			}
			return
		}
		if !done || out != nil {
			t.Fatalf("success with done %v, out %q", done, out)
		}
		// Success: the message must hold the right credentials.
		parts := bytes.Split(msg, []byte{0})
		if len(parts) != 3 {
			t.Fatalf("success with %d parts", len(parts))
		}
		u, err1 := stringprep.SASLprep.Prepare(string(parts[1]))
		p, err2 := stringprep.SASLprep.Prepare(string(parts[2]))
		if err1 != nil || err2 != nil || u != fuzzUser || p != fuzzPassword {
			t.Fatalf("success for %q", msg)
		}
		if s.Username() != fuzzUser || s.Authzid() != string(parts[0]) {
			t.Fatalf("Username, Authzid = %q, %q", s.Username(), s.Authzid())
		}
	})
}

var fuzzSCRAMMechs = []string{SCRAMSHA1, SCRAMSHA256, SCRAMSHA512, SCRAMSHA1Plus, SCRAMSHA256Plus, SCRAMSHA512Plus}

func FuzzSCRAM(f *testing.F) {
	f.Add(uint8(1), false, []byte("n,,n=user,r=cli"), []byte("c=biws,r=clisrvnonce,p=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="))
	f.Add(uint8(4), true, []byte("p=tls-exporter,,n=user,r=cli"), []byte("c=cD10bHMtZXhwb3J0ZXIsLA==,r=clisrvnonce,p=AAAA"))
	f.Add(uint8(0), true, []byte("y,,n=user,r=cli"), []byte(""))
	f.Fuzz(func(t *testing.T, mech uint8, withCB bool, first, final []byte) {
		name := fuzzSCRAMMechs[int(mech)%len(fuzzSCRAMMechs)]
		cfg := fuzzConfig(false)
		if withCB || IsPlus(name) {
			cfg.ChannelBindings = cbData
		}
		s, err := NewServer(name, cfg)
		if err != nil {
			t.Fatal(err)
		}
		s.(*scramServer).nonceGen = fixedNonce(fuzzNonce)
		ctx := context.Background()
		s1, done, err := s.Step(ctx, first)
		if err != nil {
			checkFailure(t, err, done, s1)
			return
		}
		if done || (first == nil) != (len(s1) == 0) {
			t.Fatalf("after client-first: done %v, out %q", done, s1)
		}
		if first == nil {
			return
		}
		out, done, err := s.Step(ctx, final)
		if err != nil {
			checkFailure(t, err, done, out)
			if s.Username() != "" || s.Authzid() != "" {
				t.Fatal("identity after failure")
			}
			return
		}
		if !done || !bytes.HasPrefix(out, []byte("v=")) {
			t.Fatalf("success with done %v, out %q", done, out)
		}
		// Success: the proof must be the one the password gives, and
		// the channel binding must be this connection's.
		h := scramHashes[name]
		gs2 := strings.SplitN(string(first), ",", 3)
		c1bare := gs2[2]
		i := strings.LastIndex(string(final), ",p=")
		c2wop, proof64 := string(final[:i]), string(final[i+3:])
		want, sig := scramProofs(h.gen, fuzzPassword, fuzzSalt, fuzzIters, c1bare+","+string(s1)+","+c2wop)
		if base64.StdEncoding.EncodeToString(want) != proof64 {
			t.Fatalf("success with a wrong proof: %q, %q", first, final)
		}
		if string(out) != "v="+base64.StdEncoding.EncodeToString(sig) {
			t.Fatalf("wrong server signature %q", out)
		}
		if s.Username() != fuzzUser {
			t.Fatalf("Username %q", s.Username())
		}
		cbind := []byte(gs2[0] + "," + gs2[1] + ",")
		if IsPlus(name) {
			cbind = append(cbind, cbData[strings.TrimPrefix(gs2[0], "p=")]...)
		} else if gs2[0] != "n" && !(gs2[0] == "y" && !withCB) {
			t.Fatalf("success with flag %q, channel binding configured %v", gs2[0], withCB)
		}
		if !strings.HasPrefix(c2wop, "c="+base64.StdEncoding.EncodeToString(cbind)+",") {
			t.Fatalf("success with channel binding %q", c2wop)
		}
	})
}

func FuzzDigestMD5(f *testing.F) {
	f.Add([]byte(`charset=utf-8,username="user",realm="example.test",nonce="srvnonce",nc=00000001,cnonce="C",digest-uri="xmpp/example.test",response=00000000000000000000000000000000,qop=auth`), []byte{})
	f.Add([]byte(`username=user,nonce=srvnonce`), []byte("x"))
	cfg := fuzzConfig(false)
	f.Fuzz(func(t *testing.T, resp, ack []byte) {
		s, err := NewServer(DigestMD5, cfg)
		if err != nil {
			t.Fatal(err)
		}
		s.(*digestServer).nonceGen = fixedNonce(fuzzNonce)
		ctx := context.Background()
		if _, _, err := s.Step(ctx, nil); err != nil {
			t.Fatal(err)
		}
		out, done, err := s.Step(ctx, resp)
		if err != nil {
			checkFailure(t, err, done, out)
			return
		}
		if done || !bytes.HasPrefix(out, []byte("rspauth=")) {
			t.Fatalf("after response: done %v, out %q", done, out)
		}
		// The response was accepted: it must be right for the password.
		d := map[string]string{}
		ds, err := parseDirectives(resp)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range ds {
			d[x.name] = x.value
		}
		qop := d["qop"]
		if qop == "" {
			qop = "auth"
		}
		secret := md5.Sum([]byte(fuzzUser + ":" + testDomain + ":" + fuzzPassword))
		want := digestValue(secret[:], fuzzNonce, d["cnonce"], d["nc"], qop, d["digest-uri"], d["authzid"], "AUTHENTICATE")
		if got, _ := hex.DecodeString(d["response"]); !bytes.Equal(got, want) || d["username"] != fuzzUser || d["nonce"] != fuzzNonce {
			t.Fatalf("accepted a wrong response %q", resp)
		}
		out, done, err = s.Step(ctx, ack)
		if err != nil {
			checkFailure(t, err, done, out)
			if len(ack) == 0 {
				t.Fatal("empty acknowledgement refused")
			}
			return
		}
		if !done || out != nil || len(ack) != 0 || s.Username() != fuzzUser {
			t.Fatalf("final: done %v, out %q, ack %q, user %q", done, out, ack, s.Username())
		}
	})
}
