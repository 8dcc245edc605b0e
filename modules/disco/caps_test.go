package disco

import "testing"

func TestCapsVer(t *testing.T) {
	psi := []capsIdentity{
		{Category: "client", Type: "pc", Lang: "en", Name: "Psi 0.11"},
		{Category: "client", Type: "pc", Lang: "el", Name: "Ψ 0.11"},
	}
	psiFeatures := []string{
		"http://jabber.org/protocol/muc",
		"http://jabber.org/protocol/disco#info",
		"http://jabber.org/protocol/caps",
		"http://jabber.org/protocol/disco#items",
	}
	softwareInfo := capsForm{Type: "urn:xmpp:dataforms:softwareinfo", Fields: map[string][]string{
		"FORM_TYPE":        {"urn:xmpp:dataforms:softwareinfo"},
		"software_version": {"0.11"},
		"os":               {"Mac"},
		"ip_version":       {"ipv6", "ipv4"},
		"os_version":       {"10.5.1"},
		"software":         {"Psi"},
	}}
	tests := []struct {
		name     string
		ids      []capsIdentity
		features []string
		forms    []capsForm
		wantS    string
		wantVer  string
	}{{
		// XEP-0115 §5.2.
		name: "simple example",
		ids:  []capsIdentity{{Category: "client", Type: "pc", Name: "Exodus 0.9.1"}},
		features: []string{
			"http://jabber.org/protocol/muc",
			"http://jabber.org/protocol/disco#info",
			"http://jabber.org/protocol/disco#items",
			"http://jabber.org/protocol/caps",
		},
		wantS:   "client/pc//Exodus 0.9.1<http://jabber.org/protocol/caps<http://jabber.org/protocol/disco#info<http://jabber.org/protocol/disco#items<http://jabber.org/protocol/muc<",
		wantVer: "QgayPKawpkPSDYmwT/WM94uAlu0=",
	}, {
		// XEP-0115 §5.3, identities and features only (S up to step 5).
		name:     "complex example without forms",
		ids:      psi,
		features: psiFeatures,
		wantS:    "client/pc/el/Ψ 0.11<client/pc/en/Psi 0.11<http://jabber.org/protocol/caps<http://jabber.org/protocol/disco#info<http://jabber.org/protocol/disco#items<http://jabber.org/protocol/muc<",
	}, {
		// XEP-0115 §5.3 in full.
		name:     "complex example",
		ids:      psi,
		features: psiFeatures,
		forms:    []capsForm{softwareInfo},
		wantS:    "client/pc/el/Ψ 0.11<client/pc/en/Psi 0.11<http://jabber.org/protocol/caps<http://jabber.org/protocol/disco#info<http://jabber.org/protocol/disco#items<http://jabber.org/protocol/muc<urn:xmpp:dataforms:softwareinfo<ip_version<ipv4<ipv6<os<Mac<os_version<10.5.1<software<Psi<software_version<0.11<",
		wantVer:  "q07IKJEyjvHSyhy//CH0CxmKi8w=",
	}, {
		// Sorting is by category, then type, then lang, not by the joined
		// string ('-' sorts before '/').
		name:  "identity sort order",
		ids:   []capsIdentity{{Category: "a-b", Type: "x"}, {Category: "a", Type: "y"}},
		wantS: "a/y//<a-b/x//<",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := verificationString(tt.ids, tt.features, tt.forms); got != tt.wantS {
				t.Errorf("S = %q, want %q", got, tt.wantS)
			}
			if tt.wantVer == "" {
				return
			}
			if got := capsVer(tt.ids, tt.features, tt.forms); got != tt.wantVer {
				t.Errorf("ver = %q, want %q", got, tt.wantVer)
			}
		})
	}
}
