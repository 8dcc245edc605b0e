package interop

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	_ "embed"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/starling-xmpp/starling/client"
	"github.com/starling-xmpp/starling/internal/netutil"
	"github.com/starling-xmpp/starling/jid"
)

// Running Debian's Prosody (0.12) inside a test.
//
// Each StartProsody writes a configuration into a fresh t.TempDir() and runs
// `prosody -F --config FILE` in the foreground as the current user: config,
// data_path, pidfile, log file and plugin directory all live in that
// directory, nothing under /etc/prosody or /var/lib/prosody is read or
// written, and no system-wide Prosody is touched. As root, run_as_root stops
// Prosody from refusing to start (mod_posix) and prosodyctl from switching to
// the prosody user (it does that only as root, and not with run_as_root).
//
// Ports. c2s and s2s listen on 127.0.0.1 only, on ports found free by
// listening on 127.0.0.1:0; another process may take one before Prosody
// binds it, so the whole start is retried (a bounded number of times) when
// the log reports a failed bind. Prosody does not exit on a failed bind: the
// log's "Activated service 'c2s' on [127.0.0.1]:PORT" line is what proves the
// port is ours.
//
// DNS steering. To reach a peer, Prosody's mod_s2s resolves
// _xmpps-server._tcp.DOMAIN, then _xmpp-server._tcp.DOMAIN (SRV), then the
// target's A and AAAA records (net/resolvers/service.lua, basic.lua), all
// through net.adns. When lua-unbound is installed, Prosody replaces net.adns
// with net/unbound.lua (util/dependencies.lua), which builds its libunbound
// context from the global `unbound` option: we set resolvconf = false and
// hoststxt = false (so neither /etc/resolv.conf nor /etc/hosts is read) and
// forward = "127.0.0.1@PORT" (every query goes, recursion desired, to the
// test's DNS server, e.g. internal/dnstest, over UDP or TCP; dnstest's TTL
// of 0 keeps libunbound from caching, so records added later are seen).
// libunbound answers names under .test, .invalid and .onion itself with
// NXDOMAIN (unbound's default local zones for RFC 6761 names), so the
// option local-zone "test. transparent" lets queries for .test through; the
// options table holds one value per option, so test domains must be under
// .test or an ordinary name such as .example, not .invalid or .localhost.
// Without lua-unbound Prosody falls back to its pure-Lua net.dns, which only
// reads /etc/resolv.conf, so a test that sets DNS skips unless lua-unbound is
// installed. The records' port is what steers Prosody: an SRV record pointing
// at another server's s2s port on a name with an A record 127.0.0.1. With no
// SRV record Prosody falls back to the domain's address on port 5269, which
// tests cannot use. A test-only plugin that overrides targets would work too
// but would bypass the SRV code path under test; the pure-Lua resolver has no
// configurable name server.
//
// Lifetime. Cleanup sends SIGTERM to the PID and SIGKILL after a bounded
// wait. If the test process dies without cleanup (a test timeout), the
// harness plugin (testdata/prosody/mod_test_harness.lua) sees its standard
// input, a pipe whose write end only the test process holds, reach end of
// file and shuts Prosody down.

//go:embed testdata/prosody/mod_test_harness.lua
var prosodyHarnessPlugin []byte

// Bounds of StartProsody.
const (
	prosodyStartAttempts = 5
	prosodyStartTimeout  = 20 * time.Second
	prosodyStopTimeout   = 10 * time.Second
	prosodyLogTail       = 120 // lines printed when a test fails
)

// ProsodyConfig describes one Prosody server with one virtual host.
type ProsodyConfig struct {
	// Domain is the virtual host.
	Domain string
	// CertFile and KeyFile are its certificate (PEM, leaf first, chain
	// after) and key, for c2s and for s2s in both directions. Without them
	// Prosody cannot offer or use TLS.
	CertFile, KeyFile string
	// CAFile is a PEM file of CAs trusted for s2s certificates, in addition
	// to the system's (/etc/ssl/certs); "" means only the system's.
	CAFile string
	// DNS is the "127.0.0.1:PORT" of a DNS server (such as a dnstest server)
	// that Prosody must use for all lookups; "" means the system resolver.
	// Setting it needs lua-unbound (the test skips without it).
	DNS string
	// SecureAuth sets s2s_secure_auth: peers must present a certificate
	// that is valid for their domain (chain and identity); dialback is
	// never accepted or used alone.
	SecureAuth bool
	// RequireEncryption sets s2s_require_encryption (Prosody's own
	// default is true; the zero value here turns it off). SecureAuth
	// implies it.
	RequireEncryption bool
	// Dialback loads mod_dialback (XEP-0220).
	Dialback bool
	// Modules are more modules to enable, such as "s2s_bidi".
	Modules []string
	// Users are accounts (user -> password) registered before the start.
	Users map[string]string
	// Extra is added to the global section of the configuration, after
	// everything StartProsody writes there (so it can override it).
	Extra string
	// HostExtra is added to the VirtualHost section.
	HostExtra string
}

// Prosody is a running Prosody server.
type Prosody struct {
	// Domain is its virtual host.
	Domain string
	// C2SAddr and S2SAddr are its listeners, "127.0.0.1:PORT".
	C2SAddr, S2SAddr string
	// Dir is its temporary directory; ConfigFile and LogFile are in it.
	Dir, ConfigFile, LogFile string
	// PID is the process ID of the server.
	PID int

	ctl     string // prosodyctl
	cmd     *exec.Cmd
	stdin   *os.File // write end of the lifeline pipe
	exited  chan struct{}
	waitErr error // set before exited is closed
	outFile string
}

// findProsody returns the prosody and prosodyctl executables, or skips.
func findProsody(t testing.TB) (prosody, prosodyctl string) {
	t.Helper()
	var err error
	if prosody, err = exec.LookPath("prosody"); err == nil {
		prosodyctl, err = exec.LookPath("prosodyctl")
	}
	if err != nil {
		t.Skipf("Prosody not found (%v): install the Debian packages prosody and lua-unbound (./test.sh does)", err)
	}
	return prosody, prosodyctl
}

// requireLuaUnbound skips unless the Lua interpreter that runs prosody can
// load lua-unbound, without which the DNS option cannot be honoured.
func requireLuaUnbound(t testing.TB, prosody string) {
	t.Helper()
	f, err := os.Open(prosody)
	if err != nil {
		t.Fatalf("prosody: %v", err)
	}
	line, _ := bufio.NewReader(f).ReadString('\n')
	f.Close()
	fields := strings.Fields(strings.TrimPrefix(line, "#!"))
	if len(fields) > 1 && filepath.Base(fields[0]) == "env" {
		fields = fields[1:]
	}
	if !strings.HasPrefix(line, "#!") || len(fields) == 0 {
		t.Fatalf("prosody (%s) is not the Lua script Debian installs", prosody)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, fields[0], "-e", `require "lunbound"`).CombinedOutput(); err != nil {
		t.Skipf("lua-unbound not usable by %s (%v: %s): install the Debian package lua-unbound (./test.sh does); "+
			"without it Prosody cannot be steered to a test DNS server", fields[0], err, strings.TrimSpace(string(out)))
	}
}

// StartProsody starts Prosody for cfg and stops it when the test ends. It
// skips when Prosody (or, if cfg.DNS is set, lua-unbound) is not installed,
// waits a bounded time for both listeners, and on failure prints the tail of
// Prosody's log to the test log.
func StartProsody(t *testing.T, cfg ProsodyConfig) *Prosody {
	t.Helper()
	prosody, ctl := findProsody(t)
	if cfg.DNS != "" {
		requireLuaUnbound(t, prosody)
	}
	if cfg.Domain == "" {
		t.Fatal("StartProsody: no Domain")
	}
	dir := t.TempDir()
	p := &Prosody{
		Domain:     cfg.Domain,
		Dir:        dir,
		ConfigFile: filepath.Join(dir, "prosody.cfg.lua"),
		LogFile:    filepath.Join(dir, "prosody.log"),
		outFile:    filepath.Join(dir, "prosody.out"),
		ctl:        ctl,
	}
	for _, d := range []string{"data", "plugins", "certs", "installed-plugins"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "plugins", "mod_test_harness.lua"), prosodyHarnessPlugin, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			p.logTail(t)
		}
	})

	var lastErr error
	for attempt := 1; attempt <= prosodyStartAttempts; attempt++ {
		ports, err := prosodyPorts(2)
		if err != nil {
			t.Fatalf("prosody: %v", err)
		}
		p.C2SAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))
		p.S2SAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[1]))
		if err := os.WriteFile(p.ConfigFile, []byte(prosodyConfig(dir, cfg, ports[0], ports[1])), 0o600); err != nil {
			t.Fatal(err)
		}
		if attempt == 1 {
			users := make([]string, 0, len(cfg.Users))
			for u := range cfg.Users {
				users = append(users, u)
			}
			slices.Sort(users)
			for _, u := range users {
				p.AddUser(t, u, cfg.Users[u])
			}
		}
		os.Remove(p.LogFile)
		err = p.start(prosody, ports)
		if err == nil {
			t.Cleanup(func() { p.stop(t) })
			return p
		}
		lastErr = err
		var busy errPortBusy
		if !errors.As(err, &busy) {
			break
		}
		t.Logf("prosody: attempt %d: %v; trying other ports", attempt, err)
	}
	t.Fatalf("prosody did not start: %v", lastErr) // the cleanup above prints its log
	return nil
}

// errPortBusy is a start that failed because a port was taken.
type errPortBusy struct{ line string }

func (e errPortBusy) Error() string { return "port taken: " + e.line }

// start runs Prosody once and waits until it listens on both ports, it
// exits, or prosodyStartTimeout passes; on failure the process is gone.
func (p *Prosody) start(prosody string, ports []int) error {
	out, err := os.Create(p.outFile)
	if err != nil {
		return err
	}
	defer out.Close()
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	cmd := exec.Command(prosody, "-F", "--config", p.ConfigFile)
	cmd.Dir = p.Dir
	cmd.Stdin, cmd.Stdout, cmd.Stderr = r, out, out
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return err
	}
	r.Close()
	p.cmd, p.stdin, p.PID = cmd, w, cmd.Process.Pid
	p.exited = make(chan struct{})
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()

	want := []string{
		fmt.Sprintf("Activated service 'c2s' on [127.0.0.1]:%d", ports[0]),
		fmt.Sprintf("Activated service 's2s' on [127.0.0.1]:%d", ports[1]),
	}
	deadline := time.Now().Add(prosodyStartTimeout)
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for {
		log := p.Log()
		if i := strings.Index(log, "Failed to open server port"); i >= 0 {
			line, _, _ := strings.Cut(log[i:], "\n")
			p.kill()
			return errPortBusy{line}
		}
		if strings.Contains(log, want[0]) && strings.Contains(log, want[1]) {
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("prosody exited during startup: %v", p.waitErr)
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			p.kill()
			return fmt.Errorf("prosody not listening after %v", prosodyStartTimeout)
		}
	}
}

// stop ends the server: SIGTERM, then SIGKILL after a bounded wait.
func (p *Prosody) stop(t testing.TB) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(prosodyStopTimeout):
		t.Errorf("prosody (PID %d) ignored SIGTERM for %v; killing it", p.PID, prosodyStopTimeout)
		p.kill()
	}
	p.stdin.Close()
}

// kill ends the process with SIGKILL and waits (bounded) for it.
func (p *Prosody) kill() {
	p.cmd.Process.Kill()
	select {
	case <-p.exited:
	case <-time.After(prosodyStopTimeout):
	}
	p.stdin.Close()
}

// Log returns Prosody's log so far (debug level).
func (p *Prosody) Log() string {
	b, _ := os.ReadFile(p.LogFile)
	return string(b)
}

// output returns the tail of the log and what Prosody printed.
func (p *Prosody) output() string {
	var b strings.Builder
	lines := strings.Split(strings.TrimRight(p.Log(), "\n"), "\n")
	if len(lines) > prosodyLogTail {
		fmt.Fprintf(&b, "(%d earlier lines in %s)\n", len(lines)-prosodyLogTail, p.LogFile)
		lines = lines[len(lines)-prosodyLogTail:]
	}
	b.WriteString(strings.Join(lines, "\n"))
	if out, _ := os.ReadFile(p.outFile); len(out) > 0 {
		fmt.Fprintf(&b, "\nstandard output and error:\n%s", out)
	}
	return b.String()
}

func (p *Prosody) logTail(t testing.TB) {
	t.Helper()
	t.Logf("prosody %s (%s, %s): log tail:\n%s", p.Domain, p.C2SAddr, p.S2SAddr, p.output())
}

// WaitLog waits up to timeout for substr to appear in the log.
func (p *Prosody) WaitLog(substr string, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		if strings.Contains(p.Log(), substr) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// AddUser registers an account with prosodyctl (it may also be called
// while the server runs).
func (p *Prosody) AddUser(t testing.TB, user, password string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, p.ctl, "--config", p.ConfigFile, "register", user, p.Domain, password)
	cmd.Dir = p.Dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("prosodyctl register %s@%s: %v\n%s", user, p.Domain, err, out)
	}
}

// ClientConfig returns a configuration for Starling's client that logs in
// to this server's c2s port as user@Domain/test over STARTTLS, verifying
// Prosody's certificate against roots.
func (p *Prosody) ClientConfig(t testing.TB, user, password string, roots *x509.CertPool) client.Config {
	t.Helper()
	j, err := jid.Parse(user + "@" + p.Domain + "/test")
	if err != nil {
		t.Fatalf("bad JID: %v", err)
	}
	return client.Config{
		JID:      j,
		Password: password,
		Addr:     p.C2SAddr,
		TLS:      &tls.Config{RootCAs: roots, ServerName: p.Domain},
		Timeout:  10 * time.Second,
	}
}

// Login logs in as user with ClientConfig and closes the session when the
// test ends.
func (p *Prosody) Login(t testing.TB, user, password string, roots *x509.CertPool) *client.Session {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := client.Dial(ctx, p.ClientConfig(t, user, password, roots))
	if err != nil {
		t.Fatalf("login to prosody as %s@%s: %v", user, p.Domain, err)
	}
	t.Cleanup(func() { s.CloseTimeout(time.Second) })
	return s
}

// S2SAuth is one server-to-server stream that Prosody authenticated, as the
// harness plugin logs it.
type S2SAuth struct {
	// Direction is "incoming" or "outgoing".
	Direction string
	// Local is Prosody's domain, Remote the authenticated peer's.
	Local, Remote string
	// Mechanism is "EXTERNAL" (XEP-0178), "dialback" (XEP-0220), or "none".
	Mechanism string
	// Encrypted says whether the stream used TLS.
	Encrypted bool
	// Chain and Identity are Prosody's verdicts on the peer's certificate:
	// "valid", "invalid", or "none" (not checked).
	Chain, Identity string
}

// S2SAuths returns the server-to-server streams established so far.
func (p *Prosody) S2SAuths() []S2SAuth {
	var auths []S2SAuth
	for line := range strings.Lines(p.Log()) {
		_, rest, ok := strings.Cut(line, "\ts2s-established ")
		if !ok {
			continue
		}
		kv := map[string]string{}
		for _, f := range strings.Fields(rest) {
			k, v, _ := strings.Cut(f, "=")
			kv[k] = v
		}
		auths = append(auths, S2SAuth{
			Direction: kv["direction"],
			Local:     kv["local"],
			Remote:    kv["remote"],
			Mechanism: kv["mechanism"],
			Encrypted: kv["encrypted"] == "true",
			Chain:     kv["chain"],
			Identity:  kv["identity"],
		})
	}
	return auths
}

// WaitS2SAuth waits up to timeout for a stream in direction ("incoming" or
// "outgoing") with remote to be established, and returns it.
func (p *Prosody) WaitS2SAuth(direction, remote string, timeout time.Duration) (S2SAuth, bool) {
	deadline := time.Now().Add(timeout)
	for {
		for _, a := range p.S2SAuths() {
			if a.Direction == direction && a.Remote == remote {
				return a, true
			}
		}
		if time.Now().After(deadline) {
			return S2SAuth{}, false
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// prosodyConfig returns the configuration file for cfg, with every path in
// dir.
func prosodyConfig(dir string, cfg ProsodyConfig, c2sPort, s2sPort int) string {
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	path := func(name string) string { return luaString(filepath.Join(dir, name)) }

	line("-- Written by StartProsody (Starling's internal/interop) for one test.")
	line("run_as_root = true -- tests may run as root; never setuid")
	line("pidfile = %s", path("prosody.pid"))
	line("data_path = %s", path("data"))
	line("plugin_paths = { %s }", path("plugins"))
	line("installer_plugin_path = %s", path("installed-plugins"))
	line("certificates = %s", path("certs"))
	line("log = { debug = %s }", path("prosody.log"))
	line("interfaces = { \"127.0.0.1\" }")
	line("local_interfaces = { \"127.0.0.1\" }")
	line("c2s_ports = { %d }", c2sPort)
	line("s2s_ports = { %d }", s2sPort)
	line("c2s_direct_tls_ports = { }")
	line("s2s_direct_tls_ports = { }")
	line("legacy_ssl_ports = { }")
	mods := []string{"tls", "saslauth", "roster", "disco", "ping", "test_harness"}
	if cfg.Dialback {
		mods = append(mods, "dialback")
	}
	mods = append(mods, cfg.Modules...)
	quoted := make([]string, len(mods))
	for i, m := range mods {
		quoted[i] = luaString(m)
	}
	line("modules_enabled = { %s }", strings.Join(quoted, "; "))
	line("authentication = \"internal_hashed\"")
	line("storage = \"internal\"")
	line("c2s_require_encryption = true")
	line("s2s_require_encryption = %t", cfg.RequireEncryption)
	line("s2s_secure_auth = %t", cfg.SecureAuth)
	line("s2s_timeout = 15 -- seconds to establish an outgoing stream")
	line("s2s_close_timeout = 1")
	line("c2s_close_timeout = 1")
	if cfg.DNS != "" {
		host, port, err := net.SplitHostPort(cfg.DNS)
		if err != nil {
			host, port = cfg.DNS, "53"
		}
		line("unbound = {")
		line("\tresolvconf = false; hoststxt = false;")
		line("\tforward = %s;", luaString(host+"@"+port))
		line("\toptions = { [\"local-zone:\"] = \"test. transparent\" };")
		line("}")
	}
	if cfg.CAFile != "" {
		line("ssl = { cafile = %s }", luaString(cfg.CAFile))
	}
	if cfg.Extra != "" {
		line("%s", cfg.Extra)
	}
	line("")
	line("VirtualHost %s", luaString(cfg.Domain))
	if cfg.CertFile != "" {
		line("\tssl = { certificate = %s; key = %s }", luaString(cfg.CertFile), luaString(cfg.KeyFile))
	}
	if cfg.HostExtra != "" {
		line("%s", cfg.HostExtra)
	}
	return b.String()
}

// luaString quotes s as a Lua string literal.
func luaString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c == 0x7f:
			fmt.Fprintf(&b, "\\%03d", c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// prosodyPorts chooses the ports of a start; tests replace it to exercise
// the retry.
var prosodyPorts = netutil.FreePorts
