package sasl

import (
	"slices"
	"testing"
)

func TestMechanisms(t *testing.T) {
	got := Mechanisms()
	want := []string{
		"SCRAM-SHA-512-PLUS", "SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS",
		"SCRAM-SHA-512", "SCRAM-SHA-256", "SCRAM-SHA-1",
		"DIGEST-MD5", "PLAIN",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Mechanisms() = %v, want %v", got, want)
	}
	got[0] = "changed"
	if Mechanisms()[0] != SCRAMSHA512Plus {
		t.Fatal("Mechanisms returns shared state")
	}
	for _, m := range want {
		if _, err := NewServer(m, ServerConfig{Lookup: users{}.lookup, Realm: testDomain, ChannelBindings: map[string][]byte{CBTLSExporter: {1}}}); err != nil {
			t.Errorf("NewServer(%s): %v", m, err)
		}
	}
}

func TestIsPlus(t *testing.T) {
	for _, tc := range []struct {
		mech string
		want bool
	}{
		{SCRAMSHA1Plus, true}, {SCRAMSHA256Plus, true}, {SCRAMSHA512Plus, true},
		{SCRAMSHA1, false}, {SCRAMSHA256, false}, {SCRAMSHA512, false},
		{PLAIN, false}, {DigestMD5, false},
	} {
		if got := IsPlus(tc.mech); got != tc.want {
			t.Errorf("IsPlus(%s) = %v, want %v", tc.mech, got, tc.want)
		}
	}
}

func TestChoose(t *testing.T) {
	all := Mechanisms()
	for _, tc := range []struct {
		name       string
		offered    []string
		cb         []string
		allowPlain bool
		want       string
		ok         bool
	}{
		{"all with exporter", all, []string{CBTLSExporter}, true, SCRAMSHA512Plus, true},
		{"all with end-point", all, []string{CBTLSServerEndPoint}, false, SCRAMSHA512Plus, true},
		{"all without binding", all, nil, true, SCRAMSHA512, true},
		{"unknown binding type only", all, []string{"x-custom"}, true, SCRAMSHA512, true},
		{"typical server", []string{SCRAMSHA1Plus, SCRAMSHA1, SCRAMSHA256Plus, SCRAMSHA256, PLAIN}, []string{CBTLSExporter}, true, SCRAMSHA256Plus, true},
		{"plus offered, no binding", []string{SCRAMSHA256Plus, SCRAMSHA1}, nil, true, SCRAMSHA1, true},
		{"plain on TLS over obsolete digest", []string{PLAIN, DigestMD5}, nil, true, PLAIN, true},
		{"digest when plain is not allowed", []string{PLAIN, DigestMD5}, nil, false, DigestMD5, true},
		{"plain allowed", []string{PLAIN, "EXTERNAL"}, nil, true, PLAIN, true},
		{"plain refused", []string{PLAIN, "EXTERNAL"}, nil, false, "", false},
		{"nothing in common", []string{"EXTERNAL", "ANONYMOUS"}, []string{CBTLSExporter}, true, "", false},
		{"nothing offered", nil, nil, true, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := Choose(tc.offered, tc.cb, tc.allowPlain)
			if got != tc.want || ok != tc.ok {
				t.Fatalf("Choose = %q, %v; want %q, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}
