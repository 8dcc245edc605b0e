package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/starling-xmpp/starling/server"
)

// cmdS2S handles `starling s2s list`: the live server-to-server links of
// the running server, asked over its admin socket.
func cmdS2S(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "list" {
		return fmt.Errorf("%w: starling s2s list [-c FILE]", errUsage)
	}
	fs, cfgPath := flags("s2s list", stderr)
	if err := fs.Parse(args[1:]); err != nil || fs.NArg() > 0 {
		return fmt.Errorf("%w: starling s2s list [-c FILE]", errUsage)
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	path := cfg.AdminSocketPath()
	if path == "" {
		return fmt.Errorf("admin_socket is empty in the configuration: the server cannot be asked")
	}
	reply, err := server.AdminCommand(ctx, path, "s2s list")
	if err != nil {
		return err
	}
	if len(reply.Links) == 0 {
		fmt.Fprintln(stdout, "no server-to-server links")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tDIR\tLOCAL\tREMOTE\tAUTH\tTLS\tCERTIFICATE\tADDRESS\tUP\tSTANZAS")
	for _, l := range reply.Links {
		auth := l.Auth
		if auth == "" {
			auth = "(negotiating)"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\n", l.ID, l.Direction,
			strings.Join(l.Local, ","), strings.Join(l.Remote, ","), auth, l.TLS, l.Certificate, l.Addr,
			time.Since(l.Since).Round(time.Second), l.Stanzas)
	}
	return tw.Flush()
}
