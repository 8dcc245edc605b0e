// Package version implements XEP-0092 (Software Version) version 1.1 for
// the server: the software's name, its version, and, unless the
// configuration's version.show_os switches it off (XEP-0092 §5 asks for
// that switch), the operating system.
package version

import (
	"context"
	"runtime"
	"runtime/debug"

	"github.com/starling-xmpp/starling/jid"
	"github.com/starling-xmpp/starling/module"
	"github.com/starling-xmpp/starling/router"
	"github.com/starling-xmpp/starling/stanza"
)

// NS is XEP-0092's namespace.
const NS = "jabber:iq:version"

// SoftwareName is the name the server answers with.
const SoftwareName = "Starling"

// modulePath is Starling's Go module path, looked up in the build
// information.
const modulePath = "github.com/starling-xmpp/starling"

// Release overrides the version read from the build information when set
// at link time: -ldflags "-X github.com/starling-xmpp/starling/modules/version.Release=1.2.3".
var Release = ""

// Software returns Starling's version: Release if set, else the module
// version recorded in the binary's build information (when Starling is
// the main module or a dependency of it) with the first twelve digits of
// the VCS revision appended, else "devel".
func Software() string {
	if Release != "" {
		return Release
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	return fromBuildInfo(info)
}

func fromBuildInfo(info *debug.BuildInfo) string {
	v := ""
	switch {
	case info.Main.Path == modulePath:
		v = info.Main.Version
	default:
		for _, d := range info.Deps {
			if d.Path == modulePath {
				if d.Replace != nil {
					d = d.Replace
				}
				v = d.Version
				break
			}
		}
	}
	if v == "" || v == "(devel)" {
		v = "devel"
	}
	if info.Main.Path == modulePath {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += "+" + s.Value[:12]
			}
		}
	}
	return v
}

// Module is the software version module.
type Module struct{}

var _ module.Module = Module{}

// Name implements module.Module.
func (Module) Name() string { return "version" }

// Register implements module.Module.
func (Module) Register(h *module.Host) error {
	showOS := h.Config.Version.ShowOS
	version := Software()
	h.HandleIQ(router.ToHost, "get", stanza.Name{Space: NS, Local: "query"},
		func(context.Context, *stanza.Element, jid.JID, jid.JID) (*stanza.Element, error) {
			return answer(version, showOS), nil
		})
	return nil
}

// answer builds the result payload (XEP-0092 §2).
func answer(version string, showOS bool) *stanza.Element {
	q := stanza.New(NS, "query").Append(
		stanza.New(NS, "name").AppendText(SoftwareName),
		stanza.New(NS, "version").AppendText(version),
	)
	if showOS {
		q.Append(stanza.New(NS, "os").AppendText(runtime.GOOS + "/" + runtime.GOARCH))
	}
	return q
}
