package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/starling-xmpp/starling/client"
	"github.com/starling-xmpp/starling/jid"
	"github.com/starling-xmpp/starling/stanza"
)

// passwordEnv is where `starling send` (and scripts) put the password, so
// that it never appears in a process listing.
const passwordEnv = "STARLING_PASSWORD"

// cmdSend handles `starling send`: log in, send one message, make sure the
// server has it (a ping round trip), log out. For scripts and smoke tests.
func cmdSend(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("send", flag.ContinueOnError)
	fs.SetOutput(stderr)
	from := fs.String("jid", "", "the account to send from, `user@host[/resource]`")
	var to multiFlag
	fs.Var(&to, "to", "a recipient `JID` (repeatable)")
	addr := fs.String("addr", "", "connect to `host:port` instead of looking the domain up (SRV, then port 5222)")
	caFile := fs.String("ca", "", "trust the certificate authorities in this PEM `file` (default: the system's)")
	typ := fs.String("type", "chat", "message type: chat, normal or headline")
	subject := fs.String("subject", "", "message subject")
	timeout := fs.Duration("timeout", 30*time.Second, "give up after this long")
	usage := errors.New("starling send --jid USER@HOST --to JID [--to JID...] [--addr HOST:PORT] [--ca FILE] [--type chat|normal|headline] [--subject S] MESSAGE (password from $" + passwordEnv + " or a prompt)")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", errUsage, usage)
	}
	body := strings.Join(fs.Args(), " ")
	if *from == "" || len(to) == 0 || body == "" {
		return fmt.Errorf("%w: %v", errUsage, usage)
	}
	switch *typ {
	case "chat", "normal", "headline":
	default:
		return fmt.Errorf("%w: --type must be chat, normal or headline", errUsage)
	}
	account, err := jid.Parse(*from)
	if err != nil || account.Local() == "" {
		return fmt.Errorf("%w: --jid %q is not an account address", errUsage, *from)
	}
	var recipients []jid.JID
	for _, r := range to {
		j, err := jid.Parse(r)
		if err != nil {
			return fmt.Errorf("%w: --to %q is not a valid address", errUsage, r)
		}
		recipients = append(recipients, j)
	}
	password := os.Getenv(passwordEnv)
	if password == "" {
		if password, err = readPassword(stdin, stderr, false); err != nil {
			return fmt.Errorf("password (set $%s or type it): %w", passwordEnv, err)
		}
	}
	tlsCfg := &tls.Config{ServerName: account.Domain()}
	if *caFile != "" {
		pem, err := os.ReadFile(*caFile)
		if err != nil {
			return err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("%s holds no PEM certificate", *caFile)
		}
		tlsCfg.RootCAs = pool
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	s, err := client.Dial(ctx, client.Config{JID: account, Password: password, Addr: *addr, TLS: tlsCfg, Timeout: *timeout})
	if err != nil {
		return err
	}
	defer s.Close()
	for _, r := range recipients {
		m := stanza.New("", "message").SetAttr("to", r.String()).SetAttr("type", *typ)
		if *subject != "" {
			m.Append(stanza.New("", "subject").AppendText(*subject))
		}
		if err := s.Send(m.Append(stanza.New("", "body").AppendText(body))); err != nil {
			return err
		}
	}
	// The server handles a stream's stanzas in order: once the ping is
	// answered, it has routed the messages (errors come back as
	// messages, which we report).
	if err := s.Ping(ctx, jid.JID{}); err != nil {
		return fmt.Errorf("the server did not confirm: %w", err)
	}
	failed := 0
	for {
		wctx, wcancel := context.WithTimeout(ctx, 200*time.Millisecond)
		el, err := s.Recv(wctx)
		wcancel()
		if err != nil {
			break
		}
		if el.Name.Local == "message" && el.Attr("type") == "error" {
			failed++
			fmt.Fprintf(stderr, "starling: %s: %v\n", el.Attr("from"), stanza.ParseError(el))
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d messages bounced", failed, len(recipients))
	}
	fmt.Fprintf(stdout, "sent to %d recipient(s) as %s\n", len(recipients), s.JID())
	return nil
}

// multiFlag collects a repeatable flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
