package version

import (
	"context"
	"runtime"
	"runtime/debug"
	"slices"
	"testing"

	"github.com/starling-xmpp/starling/config"
	"github.com/starling-xmpp/starling/internal/moduletest"
	"github.com/starling-xmpp/starling/jid"
	"github.com/starling-xmpp/starling/router"
	"github.com/starling-xmpp/starling/stanza"
)

func TestFromBuildInfo(t *testing.T) {
	rev := debug.BuildSetting{Key: "vcs.revision", Value: "0123456789abcdef0123"}
	tests := []struct {
		name string
		info debug.BuildInfo
		want string
	}{
		{"main module, tagged", debug.BuildInfo{Main: debug.Module{Path: modulePath, Version: "v1.2.3"}}, "v1.2.3"},
		{"main module, devel, with revision", debug.BuildInfo{Main: debug.Module{Path: modulePath, Version: "(devel)"}, Settings: []debug.BuildSetting{rev}}, "devel+0123456789ab"},
		{"main module, short revision ignored", debug.BuildInfo{Main: debug.Module{Path: modulePath}, Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc"}}}, "devel"},
		{"dependency", debug.BuildInfo{Main: debug.Module{Path: "example.com/app", Version: "v9.9.9"}, Deps: []*debug.Module{{Path: "example.com/other", Version: "v0.1.0"}, {Path: modulePath, Version: "v1.4.0"}}, Settings: []debug.BuildSetting{rev}}, "v1.4.0"},
		{"replaced dependency", debug.BuildInfo{Main: debug.Module{Path: "example.com/app"}, Deps: []*debug.Module{{Path: modulePath, Version: "v1.4.0", Replace: &debug.Module{Path: "example.com/fork", Version: "v1.4.1"}}}}, "v1.4.1"},
		{"not linked in", debug.BuildInfo{Main: debug.Module{Path: "example.com/app", Version: "v9.9.9"}}, "devel"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fromBuildInfo(&tt.info); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRelease(t *testing.T) {
	old := Release
	t.Cleanup(func() { Release = old })
	Release = "1.2.3-test"
	if got := Software(); got != "1.2.3-test" {
		t.Errorf("Software() = %q with Release set", got)
	}
}

func TestAnswer(t *testing.T) {
	osName := runtime.GOOS + "/" + runtime.GOARCH
	tests := []struct {
		name   string
		showOS bool
		to     string
		want   []string // name, version[, os]; nil for an error
		cond   stanza.Condition
	}{
		{"with os", true, "example.test", []string{SoftwareName, Software(), osName}, ""},
		{"without os", false, "example.test", []string{SoftwareName, Software()}, ""},
		{"own account", true, "alice@example.test", nil, stanza.ServiceUnavailable},
		{"another account", true, "bob@example.test", nil, stanza.ServiceUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.Hosts = []string{"example.test"}
			cfg.Version.ShowOS = tt.showOS
			h := moduletest.NewHost(cfg, moduletest.Accounts{"alice@example.test": true, "bob@example.test": true})
			r := h.Router
			if err := (Module{}).Register(h); err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(h.Features(router.ToHost), NS) {
				t.Errorf("%s not advertised: %v", NS, h.Features(router.ToHost))
			}
			s, fs := moduletest.Bind(t, r, "alice@example.test/a", false)
			alice := s.JID
			iq := stanza.New("", "iq").SetAttr("type", "get").SetAttr("id", "v1").SetAttr("to", tt.to).Append(stanza.New(NS, "query"))
			r.Route(context.Background(), iq, alice, jid.MustParse(tt.to))
			replies := fs.Take()
			if len(replies) != 1 {
				t.Fatalf("got %d replies: %v", len(replies), replies)
			}
			reply := replies[0]
			if tt.want == nil {
				if e := stanza.ParseError(reply); reply.Attr("type") != "error" || e == nil || e.Condition != tt.cond {
					t.Errorf("got %s, want %s", reply, tt.cond)
				}
				return
			}
			q := reply.Child(NS, "query")
			if reply.Attr("type") != "result" || q == nil {
				t.Fatalf("got %s", reply)
			}
			var got []string
			for c := range q.Elements() {
				got = append(got, c.Name.Local+"="+c.Text())
			}
			want := []string{"name=" + tt.want[0], "version=" + tt.want[1]}
			if len(tt.want) > 2 {
				want = append(want, "os="+tt.want[2])
			}
			if !slices.Equal(got, want) {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
}
