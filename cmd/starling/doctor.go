package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/starling-xmpp/starling/doctor"
	"github.com/starling-xmpp/starling/jid"
	"github.com/starling-xmpp/starling/resolve"
	"github.com/starling-xmpp/starling/tlsconf"
)

// doctorPasswordEnv is the environment variable `starling doctor --user` reads
// the password from.
const doctorPasswordEnv = "STARLING_PASSWORD"

const doctorUsage = "starling doctor [--json] [--ca FILE] [--addr|--tls-addr|--s2s-addr|--s2s-tls-addr HOST:PORT] [--dns HOST:PORT] [--timeout D] [--user USER [--password-env NAME]] [--s2s [--from DOMAIN] [--cert FILE --key FILE]] DOMAIN"

// cmdDoctor handles `starling doctor DOMAIN`: it checks the deployment of
// DOMAIN from outside (package doctor) and prints the report. A failed
// check gives exit status 1.
func cmdDoctor(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	caFile := fs.String("ca", "", "extra CA certificate `file` (PEM) to trust besides the system's (a private CA)")
	addr := fs.String("addr", "", "check this client STARTTLS `host:port` instead of looking up the SRV records")
	tlsAddr := fs.String("tls-addr", "", "check this client direct-TLS `host:port` instead of looking up the SRV records")
	s2sAddr := fs.String("s2s-addr", "", "check this server STARTTLS `host:port` instead of looking up the SRV records")
	s2sTLSAddr := fs.String("s2s-tls-addr", "", "check this server direct-TLS `host:port` instead of looking up the SRV records")
	dnsAddr := fs.String("dns", "", "ask this DNS server (`host:port`) instead of the system's")
	timeout := fs.Duration("timeout", doctor.DefaultTimeout, "time allowed for each connection and for the login")
	jsonOut := fs.Bool("json", false, "print a machine-readable JSON report")
	user := fs.String("user", "", "log in as this `account` (USER@DOMAIN or USER) and ping the server; the password comes from $"+doctorPasswordEnv+", --password-env or a prompt")
	pwEnv := fs.String("password-env", "", "read the password of --user from this environment `variable`")
	pwFlag := fs.String("password", "", "not accepted: a password on the command line shows in the process list (use $"+doctorPasswordEnv+" or --password-env)")
	s2sFlag := fs.Bool("s2s", false, "report what a remote server is offered: SASL EXTERNAL and dialback")
	from := fs.String("from", doctor.DefaultFrom, "the `domain` the server-to-server probe claims to be")
	certFile := fs.String("cert", "", "certificate `file` (PEM) to present on server connections, with --key")
	keyFile := fs.String("key", "", "key `file` (PEM) of --cert")

	// Flags may come before or after the domain.
	var pos []string
	for rest := args; ; {
		if err := fs.Parse(rest); err != nil {
			return fmt.Errorf("%w: %s", errUsage, doctorUsage)
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	usage := func(format string, a ...any) error {
		return fmt.Errorf("%w: doctor: %s\n%s", errUsage, fmt.Sprintf(format, a...), doctorUsage)
	}
	if len(pos) != 1 {
		return usage("give exactly one domain")
	}
	if *pwFlag != "" {
		return usage("--password is not accepted: use $%s or --password-env NAME", doctorPasswordEnv)
	}
	if *timeout <= 0 {
		return usage("--timeout must be positive")
	}
	dom, err := jid.Parse(pos[0])
	if err != nil || !dom.IsBare() || dom.Local() != "" {
		return usage("%q is not a domain", pos[0])
	}
	opt := doctor.Options{
		Domain:        dom.Domain(),
		ClientAddr:    *addr,
		ClientTLSAddr: *tlsAddr,
		ServerAddr:    *s2sAddr,
		ServerTLSAddr: *s2sTLSAddr,
		Timeout:       *timeout,
		S2S:           *s2sFlag,
		From:          *from,
	}
	for flagName, v := range map[string]string{"addr": *addr, "tls-addr": *tlsAddr, "s2s-addr": *s2sAddr, "s2s-tls-addr": *s2sTLSAddr, "dns": *dnsAddr} {
		if v == "" {
			continue
		}
		if h, p, err := net.SplitHostPort(v); err != nil || h == "" || p == "" {
			return usage("--%s %q is not HOST:PORT", flagName, v)
		}
	}
	if _, err := jid.Parse(*from); err != nil || strings.ContainsAny(*from, "@/") {
		return usage("--from %q is not a domain", *from)
	}
	if *dnsAddr != "" {
		server := *dnsAddr
		opt.Resolver = &resolve.Resolver{DNS: &net.Resolver{
			PreferGo: true,
			Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, server)
			},
		}}
	}
	if *caFile != "" {
		roots, err := tlsconf.PeerRoots(true, []string{*caFile})
		if err != nil {
			// Without system roots, the file alone.
			if roots, err = tlsconf.PeerRoots(false, []string{*caFile}); err != nil {
				return err
			}
		}
		opt.Roots = roots
	}
	if (*certFile == "") != (*keyFile == "") {
		return usage("--cert and --key go together")
	}
	if *certFile != "" {
		crt, err := tls.LoadX509KeyPair(*certFile, *keyFile)
		if err != nil {
			return fmt.Errorf("doctor: --cert/--key: %w", err)
		}
		opt.Certificate = &crt
	}
	if *pwEnv != "" && *user == "" {
		return usage("--password-env needs --user")
	}
	if *user != "" {
		u := *user
		if !strings.Contains(u, "@") {
			u += "@" + opt.Domain
		}
		j, err := jid.Parse(u)
		if err != nil || j.Local() == "" {
			return usage("--user %q is not an account", *user)
		}
		if j.Domain() != opt.Domain {
			return usage("--user %s is not an account of %s", j, opt.Domain)
		}
		opt.User = j
		if opt.Password, err = doctorPassword(*pwEnv, stdin, stderr); err != nil {
			return err
		}
	}

	rep := doctor.Run(ctx, opt)
	if *jsonOut {
		err = rep.WriteJSON(stdout)
	} else {
		err = rep.WriteText(stdout, useColour(stdout))
	}
	if err != nil {
		return err
	}
	if n := rep.Count(doctor.Fail); n > 0 {
		return fmt.Errorf("doctor: %d of %d checks failed", n, len(rep.Checks))
	}
	return nil
}

// doctorPassword finds the password of --user: the variable named by
// --password-env, else $STARLING_PASSWORD, else a prompt (or the first line
// of standard input when it is not a terminal). Never a flag's value.
func doctorPassword(envName string, stdin io.Reader, stderr io.Writer) (string, error) {
	if envName != "" {
		pw := os.Getenv(envName)
		if pw == "" {
			return "", fmt.Errorf("%w: doctor: the environment variable %s named by --password-env is empty or unset", errUsage, envName)
		}
		return pw, nil
	}
	if pw := os.Getenv(doctorPasswordEnv); pw != "" {
		return pw, nil
	}
	pw, err := readPassword(stdin, stderr, false)
	if err != nil {
		return "", fmt.Errorf("doctor: password: %w (or set %s)", err, doctorPasswordEnv)
	}
	return pw, nil
}

// useColour reports whether to colour the report: only on a terminal, and
// not when NO_COLOR is set to anything but the empty string
// (https://no-color.org).
func useColour(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return false
	}
	return os.Getenv("NO_COLOR") == ""
}
