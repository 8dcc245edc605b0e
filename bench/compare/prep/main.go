// Command prep is bench/compare.sh's helper for what a shell does badly:
// finding free loopback ports, and writing the same throwaway accounts in
// Prosody's and ejabberd's own formats.
//
//	prep ports N
//	    prints N distinct TCP ports that were free on 127.0.0.1, one a line.
//	prep prosody-accounts -data DIR -domain D -users 'user%d' -count N -iterations I
//	    writes Prosody's internal_hashed account files (SCRAM-SHA-1 keys,
//	    as prosodyctl register would) under DIR, the data_path.
//	prep piefxis -domain D -users 'user%d' -count N
//	    prints a XEP-0227 file of the accounts for `ejabberdctl
//	    import_piefxis`, which derives ejabberd's SCRAM keys itself.
//
// The password is the first line of standard input. It must be printable
// ASCII, on which SASLprep changes nothing, so that the keys written here
// are those the servers would derive.
package main

import (
	"bufio"
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/starling-xmpp/starling/internal/netutil"
	"github.com/starling-xmpp/starling/sasl"
)

// Bounds of the arguments.
const (
	maxPorts    = 64
	maxAccounts = 1_000_000
)

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "prep:", err)
		os.Exit(1)
	}
}

func run(args []string, stdin io.Reader, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: prep ports|prosody-accounts|piefxis ...")
	}
	switch args[0] {
	case "ports":
		if len(args) != 2 {
			return errors.New("usage: prep ports N")
		}
		n, err := strconv.Atoi(args[1])
		if err != nil || n < 1 || n > maxPorts {
			return fmt.Errorf("ports: N must be between 1 and %d", maxPorts)
		}
		ports, err := netutil.FreePorts(n)
		if err != nil {
			return err
		}
		for _, p := range ports {
			fmt.Fprintln(stdout, p)
		}
		return nil
	case "prosody-accounts", "piefxis":
	default:
		return fmt.Errorf("unknown command %q", args[0])
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	var a accounts
	data := fs.String("data", "", "Prosody's data_path")
	fs.StringVar(&a.domain, "domain", "localhost", "the accounts' domain")
	fs.StringVar(&a.users, "users", "user%d", "account name pattern, one %d")
	fs.IntVar(&a.count, "count", 0, "number of accounts")
	iters := fs.Int("iterations", 4096, "PBKDF2 iterations (Prosody)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	pw, err := readPassword(stdin)
	if err != nil {
		return err
	}
	a.password = pw
	if err := a.check(); err != nil {
		return err
	}
	if args[0] == "piefxis" {
		return a.writePIEFXIS(stdout)
	}
	if *data == "" {
		return errors.New("prosody-accounts: -data is required")
	}
	if *iters < 4096 || *iters > 10_000_000 {
		return errors.New("prosody-accounts: -iterations must be between 4096 and 10000000")
	}
	return a.writeProsody(*data, *iters)
}

// accounts are the throwaway accounts: users with 1..count, one password.
type accounts struct {
	domain, users, password string
	count                   int
}

func (a *accounts) check() error {
	if a.count < 1 || a.count > maxAccounts {
		return fmt.Errorf("-count must be between 1 and %d", maxAccounts)
	}
	if strings.Count(a.users, "%") != 1 || !strings.Contains(a.users, "%d") {
		return fmt.Errorf("the user pattern %q must hold exactly one %%d", a.users)
	}
	for _, s := range []string{a.domain, a.users} {
		if s == "" || strings.ContainsAny(s, "@/\"'<>& \t\r\n") || s != strings.ToLower(s) {
			return fmt.Errorf("%q: only lower-case names without @, /, quotes, markup or spaces", s)
		}
	}
	return nil
}

func (a *accounts) name(i int) string { return fmt.Sprintf(a.users, i) }

// readPassword returns the first line of r.
func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", errors.New("no password on standard input")
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", errors.New("empty password")
	}
	for _, c := range pw {
		if c < 0x21 || c > 0x7e {
			return "", errors.New("the password must be printable ASCII without spaces")
		}
	}
	return pw, nil
}

// prosodyEncode is Prosody's datamanager encoding of host and user names
// in paths: every byte that is not a letter or digit becomes %xx.
func prosodyEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02x", c)
		}
	}
	return b.String()
}

// prosodyAccount is the content of one account file of Prosody's
// internal_hashed provider: a Lua table, as mod_auth_internal_hashed
// writes it (hex keys, the salt as a string).
func prosodyAccount(password, salt string, iters int) (string, error) {
	stored, server, err := sasl.SaltedKeys(sha1.New, password, []byte(salt), iters)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("return {\n\t[\"iteration_count\"] = %d;\n\t[\"salt\"] = %q;\n\t[\"server_key\"] = %q;\n\t[\"stored_key\"] = %q;\n};\n",
		iters, salt, hex.EncodeToString(server), hex.EncodeToString(stored)), nil
}

// writeProsody writes the account files under data. Every account gets
// its own salt, so this costs one PBKDF2 run per account, spread over a
// few goroutines.
func (a *accounts) writeProsody(data string, iters int) error {
	dir := filepath.Join(data, prosodyEncode(a.domain), "accounts")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	jobs := make(chan int)
	errs := make(chan error, 1)
	workers := 4
	done := make(chan struct{})
	for range workers {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range jobs {
				salt := randomSalt()
				body, err := prosodyAccount(a.password, salt, iters)
				if err == nil {
					err = os.WriteFile(filepath.Join(dir, prosodyEncode(a.name(i))+".dat"), []byte(body), 0o600)
				}
				if err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		}()
	}
	for i := 1; i <= a.count; i++ {
		jobs <- i
	}
	close(jobs)
	for range workers {
		<-done
	}
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

// randomSalt returns a random salt in the shape Prosody uses (a UUID's
// 36 characters).
func randomSalt() string {
	return rand.Text() + rand.Text()[:10]
}

// writePIEFXIS writes the accounts as a XEP-0227 document with plain
// passwords.
func (a *accounts) writePIEFXIS(w io.Writer) error {
	bw := bufio.NewWriter(w)
	esc := func(s string) string {
		var b strings.Builder
		xml.EscapeText(&b, []byte(s))
		return strings.ReplaceAll(b.String(), `"`, "&#34;")
	}
	fmt.Fprintln(bw, `<?xml version='1.0' encoding='UTF-8'?>`)
	fmt.Fprintln(bw, `<server-data xmlns='urn:xmpp:pie:0'>`)
	fmt.Fprintf(bw, "  <host jid=\"%s\">\n", esc(a.domain))
	for i := 1; i <= a.count; i++ {
		fmt.Fprintf(bw, "    <user name=\"%s\" password=\"%s\"/>\n", esc(a.name(i)), esc(a.password))
	}
	fmt.Fprintln(bw, "  </host>")
	fmt.Fprintln(bw, "</server-data>")
	return bw.Flush()
}
