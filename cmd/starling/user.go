package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/starling-xmpp/starling/server"
)

func cmdUser(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: starling user add|passwd|del|list", errUsage)
	}
	sub := args[0]
	fs, cfgPath := flags("user "+sub, stderr)
	if err := fs.Parse(args[1:]); err != nil {
		return fmt.Errorf("%w: bad flags", errUsage)
	}
	want := 1
	if sub == "list" {
		want = -1
	}
	if want == 1 && fs.NArg() != 1 || want == -1 && fs.NArg() > 1 {
		return fmt.Errorf("%w: starling user %s [-c FILE] USER@HOST", errUsage, sub)
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
