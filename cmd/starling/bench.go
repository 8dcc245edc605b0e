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

const benchUsage = `starling bench login|messages|idle|presence --domain D [FLAGS]
  common:   --addr HOST:PORT --domain D --users 'user%d' --count N
            --password-env NAME (default STARLING_PASSWORD) | --password P
            --tls (default) | --plain   --mechanism SCRAM-SHA-256|PLAIN|...
            --ca FILE --timeout D --server-pid PID --json
  login:    --workers C --duration D   C concurrent logins (connect, STARTTLS,
            SASL, bind, presence, close) for D
  messages: --pairs N --window W --duration D   N sender/receiver pairs, W
            messages in flight each, for D
  idle:     --connections K --workers C --duration D   K connections with
            initial presence (C connecting at once), held D once all are up;
            they share the --count accounts round robin (default: K
            accounts). With --server-pid: the server's memory per connection
  presence: --count N --contacts R --workers C [--setup-only]   N accounts
            in a ring, each with R mutual subscriptions (created over the
            protocol the first time); all log in, C at once, and count their
            contacts' presence; --timeout bounds that phase (default 60s)
The accounts (USERS with 1..N for %d) must exist and share the password; they
are throwaway accounts, so --password is accepted, though it shows in the
process list.`

// cmdBench handles `starling bench login|messages|idle|presence`: it loads
// a server (package bench) and prints the report. Errors, lost messages,
// failed connections or accounts that did not see their contacts online
// give exit status 1. Interrupting (Ctrl-C) ends the run early, with a
// report.
func cmdBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	usage := func(format string, a ...any) error {
		return fmt.Errorf("%w: bench: %s\n%s", errUsage, fmt.Sprintf(format, a...), benchUsage)
	}
	if len(args) == 0 {
		return usage("name a scenario: login, messages, idle or presence")
	}
	scenario := args[0]
	run, ok := map[string]func(context.Context, bench.Options) (*bench.Report, error){
		"login": bench.Login, "messages": bench.Messages, "idle": bench.Idle, "presence": bench.Presence,
	}[scenario]
	if !ok {
		return usage("unknown scenario %q", scenario)
	}
	fs := flag.NewFlagSet("bench "+scenario, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var opt bench.Options
	fs.StringVar(&opt.Addr, "addr", "", "connect to `host:port` instead of looking the domain up (SRV, then port 5222)")
	fs.StringVar(&opt.Domain, "domain", "", "the accounts' `domain`")
	fs.StringVar(&opt.Users, "users", bench.DefaultUsers, "account name `pattern`; %d takes the numbers 1 to --count")
	countHelp := map[string]string{
		"login":    "how many accounts the pattern names (default: --workers)",
		"messages": "how many accounts the pattern names (default: 2×--pairs)",
		"idle":     "how many accounts the connections share round robin (default: --connections)",
		"presence": fmt.Sprintf("how many accounts form the ring (default %d, at most %d)", bench.DefaultPresenceCount, bench.MaxPresenceCount),
	}[scenario]
	fs.IntVar(&opt.Count, "count", 0, countHelp)
	password := fs.String("password", "", "the accounts' shared password (shows in the process list: throwaway accounts only)")
	pwEnv := fs.String("password-env", passwordEnv, "read the password from this environment `variable`")
	useTLS := fs.Bool("tls", false, "log in over STARTTLS, verifying the certificate (the default)")
	plain := fs.Bool("plain", false, "log in without TLS (the server must allow it; for test servers)")
	fs.StringVar(&opt.Mechanism, "mechanism", "", "force a SASL `mechanism` (default: the strongest offered)")
	caFile := fs.String("ca", "", "also trust the certificate authorities in this PEM `file`")
	switch scenario {
	case "login", "messages":
		fs.DurationVar(&opt.Duration, "duration", bench.DefaultDuration, "how long to start work")
	case "idle":
		fs.DurationVar(&opt.Duration, "duration", bench.DefaultDuration, "how long to hold the connections once all are up")
	}
	if scenario == "presence" {
		fs.DurationVar(&opt.Timeout, "timeout", bench.DefaultPresenceTimeout, "time allowed for the whole measured phase (and each step of the setup)")
	} else {
		fs.DurationVar(&opt.Timeout, "timeout", bench.DefaultTimeout, "time allowed for each login, and for the last messages")
	}
	fs.IntVar(&opt.ServerPID, "server-pid", 0, "the server's process `id`: report its CPU time per unit of work, and for idle its memory (Linux)")
	jsonOut := fs.Bool("json", false, "print a machine-readable JSON report")
	switch scenario {
	case "login":
		fs.IntVar(&opt.Workers, "workers", bench.DefaultWorkers, fmt.Sprintf("concurrent logins (at most %d)", bench.MaxWorkers))
	case "messages":
		fs.IntVar(&opt.Pairs, "pairs", bench.DefaultPairs, fmt.Sprintf("sender/receiver pairs (at most %d)", bench.MaxPairs))
		fs.IntVar(&opt.Window, "window", bench.DefaultWindow, fmt.Sprintf("messages each sender may have in flight (at most %d)", bench.MaxWindow))
	case "idle":
		fs.IntVar(&opt.Connections, "connections", bench.DefaultConnections, fmt.Sprintf("connections to hold (at most %d, and the open-file limit)", bench.MaxConnections))
		fs.IntVar(&opt.Workers, "workers", bench.DefaultConnectWorkers, fmt.Sprintf("connections being set up at once (at most %d)", bench.MaxWorkers))
	case "presence":
		fs.IntVar(&opt.Contacts, "contacts", bench.DefaultContacts, fmt.Sprintf("contacts of each account (at most %d and --count − 1; odd only with an even --count)", bench.MaxContacts))
		fs.IntVar(&opt.Workers, "workers", bench.DefaultConnectWorkers, fmt.Sprintf("logins at once (at most %d)", bench.MaxWorkers))
		fs.BoolVar(&opt.SetupOnly, "setup-only", false, "create the subscriptions, then stop")
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
	if scenario != "presence" && (opt.Duration <= 0 || opt.Duration > bench.MaxDuration) {
		return usage("--duration must be positive and at most %v", bench.MaxDuration)
	}
	if opt.Timeout <= 0 || opt.Timeout > bench.MaxTimeout {
		return usage("--timeout must be positive and at most %v", bench.MaxTimeout)
	}
	if opt.Workers < 0 || opt.Workers > bench.MaxWorkers || opt.Pairs < 0 || opt.Pairs > bench.MaxPairs || opt.Window < 0 || opt.Window > bench.MaxWindow {
		return usage("at most %d workers, %d pairs and a window of %d", bench.MaxWorkers, bench.MaxPairs, bench.MaxWindow)
	}
	if scenario == "idle" && (opt.Connections < 1 || opt.Connections > bench.MaxConnections) {
		return usage("--connections must be between 1 and %d", bench.MaxConnections)
	}
	if scenario == "presence" {
		n := opt.Count
		if n == 0 {
			n = bench.DefaultPresenceCount
		}
		switch {
		case n < 2 || n > bench.MaxPresenceCount:
			return usage("--count must be between 2 and %d for presence", bench.MaxPresenceCount)
		case opt.Contacts < 1 || opt.Contacts > bench.MaxContacts || opt.Contacts >= n:
			return usage("--contacts must be between 1 and %d, and below --count (%d)", bench.MaxContacts, n)
		case opt.Contacts%2 == 1 && n%2 == 1:
			return usage("an odd --contacts (%d) needs an even --count, not %d: the odd contact is the account across the ring", opt.Contacts, n)
		}
	}
	if opt.Count < 0 {
		return usage("--count must not be negative")
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
			line := fmt.Sprintf("bench %s: %.0f/%.0f s, %d done, %d errors",
				p.Scenario, p.Elapsed.Seconds(), p.Duration.Seconds(), p.Ops, p.Errors)
			if p.Phase != "" {
				line = fmt.Sprintf("bench %s (%s): %.0f s, %d done, %d errors", p.Scenario, p.Phase, p.Elapsed.Seconds(), p.Ops, p.Errors)
			}
			fmt.Fprintf(stderr, "\r%-72s", line)
		}
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()
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
