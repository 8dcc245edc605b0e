package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"

	"golang.org/x/term"

	"github.com/starling-xmpp/starling/bench"
	"github.com/starling-xmpp/starling/tlsconf"
)

const benchUsage = `starling bench login|messages --domain D [FLAGS]
  common:   --addr HOST:PORT --domain D --users 'user%d' --count N
            --password-env NAME (default STARLING_PASSWORD) | --password P
            --tls (default) | --plain   --mechanism SCRAM-SHA-256|PLAIN|...
            --ca FILE --duration D --timeout D --server-pid PID --json
  login:    --workers C      concurrent logins (connect, STARTTLS, SASL, bind, presence, close)
  messages: --pairs N --window W   N sender/receiver pairs, W messages in flight each
The accounts (USERS with 1..N for %d) must exist and share the password; they
are throwaway accounts, so --password is accepted, though it shows in the
process list.`

// cmdBench handles `starling bench login|messages`: it loads a server
// (package bench) and prints the report. Errors or lost messages give exit
// status 1. Interrupting (Ctrl-C) ends the run early, with a report.
func cmdBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	usage := func(format string, a ...any) error {
		return fmt.Errorf("%w: bench: %s\n%s", errUsage, fmt.Sprintf(format, a...), benchUsage)
	}
	if len(args) == 0 {
		return usage("name a scenario: login or messages")
	}
	scenario := args[0]
	if scenario != "login" && scenario != "messages" {
		return usage("unknown scenario %q", scenario)
	}
	fs := flag.NewFlagSet("bench "+scenario, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var opt bench.Options
	fs.StringVar(&opt.Addr, "addr", "", "connect to `host:port` instead of looking the domain up (SRV, then port 5222)")
	fs.StringVar(&opt.Domain, "domain", "", "the accounts' `domain`")
	fs.StringVar(&opt.Users, "users", bench.DefaultUsers, "account name `pattern`; %d takes the numbers 1 to --count")
	fs.IntVar(&opt.Count, "count", 0, "how many accounts the pattern names (default: --workers, or 2×--pairs)")
	password := fs.String("password", "", "the accounts' shared password (shows in the process list: throwaway accounts only)")
	pwEnv := fs.String("password-env", passwordEnv, "read the password from this environment `variable`")
	useTLS := fs.Bool("tls", false, "log in over STARTTLS, verifying the certificate (the default)")
	plain := fs.Bool("plain", false, "log in without TLS (the server must allow it; for test servers)")
	fs.StringVar(&opt.Mechanism, "mechanism", "", "force a SASL `mechanism` (default: the strongest offered)")
	caFile := fs.String("ca", "", "also trust the certificate authorities in this PEM `file`")
	fs.DurationVar(&opt.Duration, "duration", bench.DefaultDuration, "how long to start work")
	fs.DurationVar(&opt.Timeout, "timeout", bench.DefaultTimeout, "time allowed for each login, and for the last messages")
	fs.IntVar(&opt.ServerPID, "server-pid", 0, "the server's process `id`: report its CPU time per login or message (Linux)")
	jsonOut := fs.Bool("json", false, "print a machine-readable JSON report")
	if scenario == "login" {
		fs.IntVar(&opt.Workers, "workers", bench.DefaultWorkers, fmt.Sprintf("concurrent logins (at most %d)", bench.MaxWorkers))
	} else {
		fs.IntVar(&opt.Pairs, "pairs", bench.DefaultPairs, fmt.Sprintf("sender/receiver pairs (at most %d)", bench.MaxPairs))
		fs.IntVar(&opt.Window, "window", bench.DefaultWindow, fmt.Sprintf("messages each sender may have in flight (at most %d)", bench.MaxWindow))
	}
	if err := fs.Parse(args[1:]); err != nil {
		return fmt.Errorf("%w: %s", errUsage, benchUsage)
	}
	if fs.NArg() > 0 {
		return usage("unexpected argument %q", fs.Arg(0))
	}
	if opt.Domain == "" {
		return usage("--domain is required")
	}
	if opt.Addr != "" {
		if h, p, err := net.SplitHostPort(opt.Addr); err != nil || h == "" || p == "" {
			return usage("--addr %q is not HOST:PORT", opt.Addr)
		}
	}
	if *useTLS && *plain {
		return usage("--tls and --plain exclude each other")
	}
	if *plain && *caFile != "" {
		return usage("--ca has no use with --plain")
	}
	if opt.Duration <= 0 || opt.Duration > bench.MaxDuration {
		return usage("--duration must be positive and at most %v", bench.MaxDuration)
	}
	if opt.Timeout <= 0 || opt.Timeout > bench.MaxTimeout {
		return usage("--timeout must be positive and at most %v", bench.MaxTimeout)
	}
	if opt.Workers < 0 || opt.Workers > bench.MaxWorkers || opt.Pairs < 0 || opt.Pairs > bench.MaxPairs || opt.Window < 0 || opt.Window > bench.MaxWindow {
		return usage("at most %d workers, %d pairs and a window of %d", bench.MaxWorkers, bench.MaxPairs, bench.MaxWindow)
	}
	if opt.ServerPID < 0 {
		return usage("--server-pid must be a process id")
	}
	opt.Plaintext = *plain
	opt.Password = *password
	if opt.Password == "" {
		if opt.Password = os.Getenv(*pwEnv); opt.Password == "" {
			return usage("no password: set $%s (or the variable --password-env names), or give --password", *pwEnv)
		}
	}
	if !*plain {
		cfg := &tls.Config{ServerName: opt.Domain}
		if *caFile != "" {
			roots, err := tlsconf.PeerRoots(true, []string{*caFile})
			if err != nil {
				// Without system roots, the file alone.
				if roots, err = tlsconf.PeerRoots(false, []string{*caFile}); err != nil {
					return err
				}
			}
			cfg.RootCAs = roots
		}
		opt.TLS = cfg
	}
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		opt.Progress = func(p bench.Progress) {
			fmt.Fprintf(stderr, "\r%-72s", fmt.Sprintf("bench %s: %.0f/%.0f s, %d done, %d errors",
				p.Scenario, p.Elapsed.Seconds(), p.Duration.Seconds(), p.Ops, p.Errors))
		}
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()
	run := bench.Login
	if scenario == "messages" {
		run = bench.Messages
	}
	rep, err := run(ctx, opt)
	if opt.Progress != nil {
		fmt.Fprintf(stderr, "\r%72s\r", "") // clear the progress line
	}
	if err != nil {
		return err
	}
	if *jsonOut {
		err = rep.WriteJSON(stdout)
	} else {
		err = rep.WriteText(stdout)
	}
	return errors.Join(err, rep.Err())
}
