package server

import (
	"fmt"

	"github.com/starling-xmpp/starling/config"
	"github.com/starling-xmpp/starling/module"
	"github.com/starling-xmpp/starling/modules/blocking"
	"github.com/starling-xmpp/starling/modules/disco"
	"github.com/starling-xmpp/starling/modules/im"
	"github.com/starling-xmpp/starling/modules/lastactivity"
	"github.com/starling-xmpp/starling/modules/offline"
	"github.com/starling-xmpp/starling/modules/ping"
	"github.com/starling-xmpp/starling/modules/private"
	"github.com/starling-xmpp/starling/modules/register"
	"github.com/starling-xmpp/starling/modules/vcard"
	"github.com/starling-xmpp/starling/modules/version"
	"github.com/starling-xmpp/starling/modules/xtime"
)

// Modules is the explicit list of feature modules, in registration order.
// To add one: write modules/NAME, add it here and to config.ModuleNames
// (with its default), and document its switch in starling.example.yaml.
func Modules() []module.Module {
	return []module.Module{
		blocking.Module{},
		disco.Module{},
		im.Module{},
		lastactivity.Module{},
		offline.Module{},
		ping.Module{},
		private.Module{},
		register.Module{},
		vcard.Module{},
		version.Module{},
		xtime.Module{},
	}
}

// registerModules registers every module the configuration switches on.
func registerModules(h *module.Host, cfg *config.Config) error {
	for _, m := range Modules() {
		if _, known := config.ModuleNames[m.Name()]; !known {
			return fmt.Errorf("module %q is missing from config.ModuleNames", m.Name())
		}
		if !cfg.ModuleEnabled(m.Name()) {
			continue
		}
		if err := m.Register(h); err != nil {
			return fmt.Errorf("module %s: %w", m.Name(), err)
		}
	}
	return nil
}
