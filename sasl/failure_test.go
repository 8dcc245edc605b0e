package sasl

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestSeed5_4_FailureConditions covers feature 5-4: the SASL error
// conditions of RFC 6120 §6.5.
func TestSeed5_4_FailureConditions(t *testing.T) {
	t.Run("names", func(t *testing.T) {
		want := map[string]string{
			Aborted: "aborted", AccountDisabled: "account-disabled",
			CredentialsExpired: "credentials-expired", EncryptionRequired: "encryption-required",
			IncorrectEncoding: "incorrect-encoding", InvalidAuthzid: "invalid-authzid",
			InvalidMechanism: "invalid-mechanism", MalformedRequest: "malformed-request",
			MechanismTooWeak: "mechanism-too-weak", NotAuthorized: "not-authorized",
			TemporaryAuthFailure: "temporary-auth-failure",
		}
		if len(want) != 11 {
			t.Fatalf("%d distinct conditions, want 11", len(want))
		}
		for got, w := range want {
			if got != w {
				t.Errorf("condition %q, want %q", got, w)
			}
		}
	})

	t.Run("error", func(t *testing.T) {
		cause := errors.New("store down")
		for _, tc := range []struct {
			f    *Failure
			want string
		}{
			{&Failure{Condition: NotAuthorized}, "sasl: not-authorized"},
			{&Failure{Condition: NotAuthorized, Text: "channel binding mismatch"}, "sasl: not-authorized: channel binding mismatch"},
			{&Failure{Condition: TemporaryAuthFailure, Err: cause}, "sasl: temporary-auth-failure: store down"},
		} {
			if got := tc.f.Error(); got != tc.want {
				t.Errorf("Error() = %q, want %q", got, tc.want)
			}
		}
		var err error = &Failure{Condition: TemporaryAuthFailure, Err: cause}
		if !errors.Is(err, cause) {
			t.Error("Unwrap does not reach the cause")
		}
		if !errors.Is(err, &Failure{Condition: TemporaryAuthFailure}) || errors.Is(err, &Failure{Condition: NotAuthorized}) {
			t.Error("Is does not match on the condition")
		}
	})

	// Each condition this package produces, from its trigger.
	ctx := context.Background()
	storeDown := func(context.Context, string) (Credentials, error) { return Credentials{}, errors.New("store down") }
	for _, tc := range []struct {
		name string
		run  func(t *testing.T) error
		cond string
	}{
		{"unknown mechanism", func(t *testing.T) error {
			_, err := NewServer("CRAM-MD5", testServerConfig(t))
			return err
		}, InvalidMechanism},
		{"PLUS without channel binding", func(t *testing.T) error {
			_, err := NewServer(SCRAMSHA256Plus, testServerConfig(t))
			return err
		}, InvalidMechanism},
		{"no lookup", func(t *testing.T) error {
			_, err := NewServer(PLAIN, ServerConfig{})
			return err
		}, TemporaryAuthFailure},
		{"PLAIN store down", func(t *testing.T) error {
			s, _ := NewServer(PLAIN, ServerConfig{Lookup: storeDown})
			_, _, err := s.Step(ctx, []byte("\x00juliet\x00pw"))
			return err
		}, TemporaryAuthFailure},
		{"SCRAM store down", func(t *testing.T) error {
			s, _ := NewServer(SCRAMSHA1, ServerConfig{Lookup: storeDown})
			_, _, err := s.Step(ctx, []byte("n,,n=juliet,r=abc"))
			return err
		}, TemporaryAuthFailure},
		{"DIGEST-MD5 store down", func(t *testing.T) error {
			cfg := testServerConfig(t)
			cfg.Lookup = storeDown
			_, err, _ := roundTrip(t, DigestMD5, cfg, ClientConfig{Username: "juliet", Password: "pw", Host: testDomain})
			return err
		}, TemporaryAuthFailure},
		{"PLAIN malformed", func(t *testing.T) error {
			s, _ := NewServer(PLAIN, testServerConfig(t))
			_, _, err := s.Step(ctx, []byte("juliet"))
			return err
		}, MalformedRequest},
		{"PLAIN wrong password", func(t *testing.T) error {
			_, err, _ := roundTrip(t, PLAIN, testServerConfig(t), ClientConfig{Username: "juliet", Password: "x"})
			return err
		}, NotAuthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := wantFailure(t, tc.run(t), tc.cond)
			if f.Condition == TemporaryAuthFailure && f.Err == nil {
				t.Error("temporary-auth-failure without a cause for the logs")
			}
			if strings.Contains(f.Text, "store down") {
				t.Error("the cause leaks into the text for the peer")
			}
		})
	}
}

// TestUnknownUserIndistinguishable checks, for every mechanism, that an
// unknown user and a wrong password fail identically.
func TestUnknownUserIndistinguishable(t *testing.T) {
	for _, mech := range []string{PLAIN, SCRAMSHA1, SCRAMSHA256, SCRAMSHA512, SCRAMSHA256Plus, DigestMD5} {
		t.Run(mech, func(t *testing.T) {
			cfg := testServerConfig(t)
			var cb map[string][]byte
			if IsPlus(mech) {
				cfg.ChannelBindings, cb = cbData, cbData
			}
			_, wrong, cerr1 := roundTrip(t, mech, cfg, ClientConfig{Username: "juliet", Password: "wrong", Host: testDomain, ChannelBindings: cb, ServerSupportsPlus: cb != nil})
			_, unknown, cerr2 := roundTrip(t, mech, cfg, ClientConfig{Username: "nurse", Password: "wrong", Host: testDomain, ChannelBindings: cb, ServerSupportsPlus: cb != nil})
			if cerr1 != nil || cerr2 != nil {
				t.Fatal(cerr1, cerr2)
			}
			fw, fu := wantFailure(t, wrong, NotAuthorized), wantFailure(t, unknown, NotAuthorized)
			if *fw != *fu || wrong.Error() != unknown.Error() {
				t.Fatalf("wrong password %#v, unknown user %#v", fw, fu)
			}
		})
	}
}

func TestPayload(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []byte
		ok   bool
	}{
		{"", nil, true}, {"=", []byte{}, true}, {"YWJj", []byte("abc"), true},
		{"YWJj=", nil, false}, {"@@", nil, false}, {"YW Jj", nil, false},
	} {
		got, ok := DecodePayload(tc.in)
		if ok != tc.ok || ok && (string(got) != string(tc.want) || (got == nil) != (tc.want == nil)) {
			t.Errorf("DecodePayload(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
	if EncodePayload(nil) != "=" || EncodePayload([]byte("abc")) != "YWJj" {
		t.Error("EncodePayload")
	}
}
