// Command starling is the Starling XMPP server and its administration tool.
//
//	starling serve [-c starling.yaml]        run the server
//	starling user add|del|passwd|list ...     manage accounts
//	starling config check [-c starling.yaml]  validate a configuration file
//	starling s2s list [-c starling.yaml]      show the running server's federation links
//	starling send --jid ... --to ... TEXT     send a message from a script
//	starling doctor [FLAGS] DOMAIN            check a domain from outside
//	starling bench login|messages|idle|presence  load-test any XMPP server
//	starling version                          print the version
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// errUsage marks a command-line mistake (exit status 2).
var errUsage = errors.New("usage")

const usage = `Starling, an XMPP server.

Usage:
  starling serve [-c FILE]                 run the server (no -c: host localhost,
                                           ports 5222/5223, 5269/5270, data in ./starling-data)
  starling user add [-c FILE] USER@HOST    create an account (password from a prompt or stdin)
  starling user add [-c FILE] --bulk --count N [--start S] 'USER%d@HOST'
                                           many test accounts with one password (shared salt)
  starling user passwd [-c FILE] USER@HOST change a password
  starling user del [-c FILE] USER@HOST    delete an account
  starling user list [-c FILE] [HOST]      list accounts
  starling config check [-c FILE]          check a configuration file
  starling s2s list [-c FILE]              show the running server's links to other servers
  starling send --jid USER@HOST --to JID MESSAGE
                                           send a message (password from $STARLING_PASSWORD or a prompt)
  starling doctor [FLAGS] DOMAIN           check a domain from outside (DNS, ports, TLS)
  starling bench login|messages|idle|presence [FLAGS]
                                           load any XMPP server: logins/s, messages/s,
                                           memory per connection, presence fan-out
  starling version                         print the version

A commented example of every option is in starling.example.yaml.
`

// run is main without the process: testable.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		io.WriteString(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = cmdServe(ctx, args[1:], stderr)
	case "user":
		err = cmdUser(ctx, args[1:], stdin, stdout, stderr)
	case "config":
		err = cmdConfig(args[1:], stdout)
	case "s2s":
		err = cmdS2S(ctx, args[1:], stdout, stderr)
	case "send":
		err = cmdSend(ctx, args[1:], stdin, stdout, stderr)
	case "doctor":
		err = cmdDoctor(ctx, args[1:], stdin, stdout, stderr)
	case "bench":
		err = cmdBench(ctx, args[1:], stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, "starling", version())
	case "help", "-h", "-help", "--help":
		io.WriteString(stdout, usage)
	default:
		err = fmt.Errorf("%w: unknown command %q", errUsage, args[0])
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "starling: %v\n\n%s", err, usage)
		return 2
	default:
		fmt.Fprintf(stderr, "starling: %v\n", err)
		return 1
	}
}
