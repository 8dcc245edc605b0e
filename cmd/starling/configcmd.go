package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/starling-xmpp/starling/tlsconf"
)

func cmdConfig(args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "check" {
		return fmt.Errorf("%w: starling config check [-c FILE]", errUsage)
	}
	fs, cfgPath := flags("config check", io.Discard)
	if err := fs.Parse(args[1:]); err != nil || fs.NArg() > 0 {
		return fmt.Errorf("%w: starling config check [-c FILE]", errUsage)
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	if len(cfg.TLS.Certificates) > 0 {
		if _, err := tlsconf.LoadCerts(cfg.TLS, cfg.Hosts, cfg.DataDir); err != nil {
			return err
		}
	}
	name := *cfgPath
	if name == "" {
		name = "built-in defaults"
	}
	fmt.Fprintf(stdout, "%s: ok\n  hosts: %s\n  c2s: %s (STARTTLS), %s (direct TLS)\n  data: %s\n",
		name, strings.Join(cfg.Hosts, ", "), strings.Join(cfg.C2S.Listen, ", "), strings.Join(cfg.C2S.DirectTLS, ", "), cfg.DataDir)
	return nil
}
