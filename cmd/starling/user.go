package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/starling-xmpp/starling/account"
	"github.com/starling-xmpp/starling/server"
)

func cmdUser(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: starling user add|passwd|del|list", errUsage)
	}
	sub := args[0]
	fs, cfgPath := flags("user "+sub, stderr)
	var bulk bulkFlags
	if sub == "add" {
		bulk.register(fs)
	}
	if err := fs.Parse(args[1:]); err != nil {
		return fmt.Errorf("%w: bad flags", errUsage)
	}
	want := 1
	if sub == "list" {
		want = -1
	}
	if want == 1 && fs.NArg() != 1 || want == -1 && fs.NArg() > 1 {
		if bulk.on {
			return fmt.Errorf("%w: starling user add [-c FILE] --bulk --count N [--start S] 'USER%%d@HOST'", errUsage)
		}
		return fmt.Errorf("%w: starling user %s [-c FILE] USER@HOST", errUsage, sub)
	}
	if !bulk.on && (given(fs, "count") || given(fs, "start")) {
		return fmt.Errorf("%w: --count and --start need --bulk", errUsage)
	}
	switch sub {
	case "add", "passwd", "del", "list":
	default:
		return fmt.Errorf("%w: unknown user command %q", errUsage, sub)
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	if cfg.Storage.Driver == "memory" {
		return errors.New("storage.driver is memory, which keeps nothing: user commands need sqlite")
	}
	store, err := server.OpenStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	m := server.Accounts(cfg, store)
	if bulk.on {
		return bulk.run(ctx, m, fs.Arg(0), stdin, stdout, stderr)
	}
	switch sub {
	case "add", "passwd":
		pw, err := readPassword(stdin, stderr, true)
		if err != nil {
			return err
		}
		set, done := m.Add, "created %s\n"
		if sub == "passwd" {
			set, done = m.SetPassword, "password changed for %s\n"
		}
		j, err := set(ctx, fs.Arg(0), pw)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, done, j)
	case "del":
		j, err := m.Delete(ctx, fs.Arg(0))
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "deleted %s\n", j)
	case "list":
		list, err := m.List(ctx, fs.Arg(0))
		if err != nil {
			return err
		}
		for _, j := range list {
			fmt.Fprintln(stdout, j)
		}
	}
	return nil
}

// readPassword asks for a password on the terminal without echo (twice, to
// catch typos), or reads the first line of stdin when it is not a terminal,
// so scripts can pipe one in. It is never taken from the command line.
func readPassword(stdin io.Reader, stderr io.Writer, confirm bool) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(stderr, "Password: ")
		a, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", err
		}
		if confirm {
			fmt.Fprint(stderr, "Again: ")
			b, err := term.ReadPassword(int(f.Fd()))
			fmt.Fprintln(stderr)
			if err != nil {
				return "", err
			}
			if string(a) != string(b) {
				return "", errors.New("the passwords differ")
			}
		}
		if len(a) == 0 {
			return "", errors.New("empty password")
		}
		return string(a), nil
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", errors.New("no password on standard input")
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", errors.New("empty password")
	}
	return pw, nil
}

// bulkFlags are the flags of `starling user add --bulk`.
type bulkFlags struct {
	on           bool
	count, start int
}

func (b *bulkFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&b.on, "bulk", false, "create many accounts with one password, for tests and load tests: the argument is a\n"+
		"pattern with one %d, e.g. 'user%d@localhost', replaced by --start ... --start+--count-1.\n"+
		"The password is derived once, so all the accounts share one salt and the same\n"+
		"stored keys (\"starling user passwd\" later gives an account its own). Existing\n"+
		"accounts are skipped and counted")
	fs.IntVar(&b.count, "count", 0, fmt.Sprintf("with --bulk: how many accounts (1 to %d)", account.MaxBulk))
	fs.IntVar(&b.start, "start", 1, "with --bulk: the first `number`")
}

// given reports whether the flag name was on the command line.
func given(fs *flag.FlagSet, name string) bool {
	found := false
	fs.Visit(func(f *flag.Flag) { found = found || f.Name == name })
	return found
}

// run creates the accounts of pattern, with a progress line on a terminal.
func (b *bulkFlags) run(ctx context.Context, m *account.Manager, pattern string, stdin io.Reader, stdout, stderr io.Writer) error {
	spec := account.Bulk{Pattern: pattern, Start: b.start, Count: b.count}
	// Refuse a bad pattern, range or host before asking for the password.
	if err := m.CheckBulk(spec); err != nil {
		return err
	}
	pw, err := readPassword(stdin, stderr, true)
	if err != nil {
		return err
	}
	start := time.Now()
	f, tty := stderr.(*os.File)
	if tty = tty && term.IsTerminal(int(f.Fd())); tty {
		spec.Progress = func(done, created int) {
			fmt.Fprintf(stderr, "\r%d/%d accounts (%d created)", done, b.count, created)
		}
	}
	res, err := m.AddBulk(ctx, spec, pw)
	if tty && (res.Created+res.Skipped) > 0 {
		fmt.Fprintln(stderr)
	}
	took := time.Since(start)
	if res.Created+res.Skipped > 0 {
		fmt.Fprintf(stdout, "created %d accounts, skipped %d that existed, in %.2fs (%.0f accounts/s)\n",
			res.Created, res.Skipped, took.Seconds(), float64(res.Created+res.Skipped)/took.Seconds())
	}
	return err
}
