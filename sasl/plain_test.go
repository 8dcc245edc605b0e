package sasl

import (
	"context"
	"strings"
	"testing"
)

func TestSeed6_2_PLAIN(t *testing.T) {
	for _, tc := range []struct {
		name          string
		user, pw, az  string
		wantUser      string
		wantCondition string
	}{
		{name: "correct", user: "juliet", pw: "r0m30myr0m30", wantUser: "juliet"},
		{name: "authzid", user: "juliet", pw: "r0m30myr0m30", az: "juliet@example.test", wantUser: "juliet"},
		{name: "other authzid passes through", user: "juliet", pw: "r0m30myr0m30", az: "romeo@example.test", wantUser: "juliet"},
		{name: "non-ASCII password", user: "romeo", pw: "déjà vu", wantUser: "romeo"},
		{name: "password prepared", user: "romeo", pw: "de\u0301ja\u0300\u00a0vu", wantUser: "romeo"},
		{name: "username prepared", user: "ju\u00adliet", pw: "r0m30myr0m30", wantUser: "juliet"},
		{name: "wrong password", user: "juliet", pw: "r0m30", wantCondition: NotAuthorized},
		{name: "unknown user", user: "nurse", pw: "r0m30myr0m30", wantCondition: NotAuthorized},
		{name: "case matters", user: "Juliet", pw: "r0m30myr0m30", wantCondition: NotAuthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, serr, cerr := roundTrip(t, PLAIN, testServerConfig(t), ClientConfig{Username: tc.user, Password: tc.pw, Authzid: tc.az})
			if cerr != nil {
				t.Fatalf("client: %v", cerr)
			}
			if tc.wantCondition != "" {
				f := wantFailure(t, serr, tc.wantCondition)
				if f.Text != "" || f.Err != nil {
					t.Fatalf("failure %#v says more than not-authorized", f)
				}
				return
			}
			if serr != nil {
				t.Fatal(serr)
			}
			if s.Username() != tc.wantUser || s.Authzid() != tc.az {
				t.Fatalf("Username, Authzid = %q, %q; want %q, %q", s.Username(), s.Authzid(), tc.wantUser, tc.az)
			}
		})
	}
}

func TestPLAINNoInitialResponse(t *testing.T) {
	s, _ := NewServer(PLAIN, testServerConfig(t))
	ctx := context.Background()
	out, done, err := s.Step(ctx, nil)
	if err != nil || done || out == nil || len(out) != 0 {
		t.Fatalf("Step(nil) = %q, %v, %v; want an empty challenge", out, done, err)
	}
	_, done, err = s.Step(ctx, []byte("\x00juliet\x00r0m30myr0m30"))
	if err != nil || !done {
		t.Fatalf("Step = %v, %v", done, err)
	}
	_, done, err = s.Step(ctx, []byte("\x00juliet\x00r0m30myr0m30"))
	if !done {
		t.Fatal("extra step not done")
	}
	wantFailure(t, err, MalformedRequest)
}

func TestPLAINMalformed(t *testing.T) {
	for _, tc := range []struct{ name, msg string }{
		{"empty response", ""},
		{"no NUL", "julietr0m30myr0m30"},
		{"one NUL", "juliet\x00r0m30myr0m30"},
		{"three NULs", "\x00juliet\x00r0m30\x00myr0m30"},
		{"empty authcid", "juliet\x00\x00r0m30myr0m30"},
		{"empty password", "\x00juliet\x00"},
		{"invalid UTF-8 authcid", "\x00jul\xffiet\x00r0m30myr0m30"},
		{"invalid UTF-8 password", "\x00juliet\x00r0m30\xc3"},
		{"invalid UTF-8 authzid", "\xfe\x00juliet\x00r0m30myr0m30"},
		{"prohibited authcid", "\x00jul\u0007iet\x00r0m30myr0m30"},
		{"prohibited password", "\x00juliet\x00r0m30\u2028"},
		{"password mapped to nothing", "\x00juliet\x00\u00ad"},
		{"too long", "\x00juliet\x00" + strings.Repeat("x", maxMessage)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := NewServer(PLAIN, testServerConfig(t))
			out, done, err := s.Step(context.Background(), []byte(tc.msg))
			if !done || out != nil {
				t.Fatalf("done %v, out %q", done, out)
			}
			f := wantFailure(t, err, MalformedRequest)
			if strings.Contains(f.Error(), "r0m30") {
				t.Fatalf("failure %q quotes the password", f)
			}
		})
	}
}

func TestPLAINClient(t *testing.T) {
	c, err := NewClient(PLAIN, ClientConfig{Username: "juliet", Password: "pw", Authzid: "az"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Verify(nil); err == nil {
		t.Error("success accepted before anything was sent")
	}
	out, err := c.Step(nil)
	if err != nil || string(out) != "az\x00juliet\x00pw" {
		t.Fatalf("Step(nil) = %q, %v", out, err)
	}
	if _, err := c.Step([]byte("more?")); err == nil {
		t.Error("challenge accepted")
	}
	if err := c.Verify([]byte("data")); err == nil {
		t.Error("additional data accepted")
	}
	if err := c.Verify(nil); err != nil {
		t.Error(err)
	}
	for _, cfg := range []ClientConfig{
		{Username: "", Password: "pw"},
		{Username: "u", Password: ""},
		{Username: "u\x00", Password: "pw"},
		{Username: "u", Password: "p\xff"},
	} {
		if _, err := NewClient(PLAIN, cfg); err == nil {
			t.Errorf("NewClient(%q) accepted", cfg.Username)
		}
	}
}

// TestPLAINUnknownUserCost checks that an unknown user costs PBKDF2 work
// with the configured iteration count, like a known one.
func TestPLAINUnknownUserCost(t *testing.T) {
	calls := 0
	cfg := testServerConfig(t)
	cfg.Lookup = func(ctx context.Context, name string) (Credentials, error) {
		calls++
		return users{}.lookup(ctx, name)
	}
	s := &plainServer{cfg: cfg}
	if f := s.verify(context.Background(), "nurse", "pw"); f == nil || f.Condition != NotAuthorized {
		t.Fatalf("verify = %v", f)
	}
	if calls != 1 {
		t.Fatalf("%d lookups", calls)
	}
	k := fakeKeys(cfg.Secret, SCRAMSHA256, "nurse", cfg.Iterations, 32)
	if k.Iterations != testIters || len(k.Salt) != saltLen {
		t.Fatalf("fake keys %+v", k)
	}
}
