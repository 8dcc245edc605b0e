//go:build unix

package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/starling-xmpp/starling/client"
	"github.com/starling-xmpp/starling/config"
	"github.com/starling-xmpp/starling/internal/testserver"
	"github.com/starling-xmpp/starling/stanza"
	"github.com/starling-xmpp/starling/web"
)

// The web clients' npm packages are listed, at pinned versions, in
// testdata/web/package.json. They are installed outside the repository,
// in $STARLING_WEB_PACKAGES or else in the user's cache directory under
// starling-web-tests; the tests install them there with npm when they are
// missing (./test.sh does it first).
const webManifest = "testdata/web/package.json"

// readWebManifest returns webManifest and its dependencies (name to
// version).
func readWebManifest(t *testing.T) ([]byte, map[string]string) {
	t.Helper()
	manifest, err := os.ReadFile(webManifest)
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Dependencies map[string]string `json:"dependencies"`
	}
	if err := json.Unmarshal(manifest, &m); err != nil {
		t.Fatalf("%s: %v", webManifest, err)
	}
	return manifest, m.Dependencies
}

// nodeJS returns the machine's Node.js (20.10 or later, as @xmpp/client
// asks) with the flags the scripts need, or skips.
func nodeJS(t *testing.T) []string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not found: install the Debian packages nodejs and npm (./test.sh does)")
	}
	out, err := exec.Command(node, "--version").Output()
	if err != nil {
		t.Skipf("%s --version: %v", node, err)
	}
	v := strings.TrimPrefix(strings.TrimSpace(string(out)), "v")
	major, rest, _ := strings.Cut(v, ".")
	minor, _, _ := strings.Cut(rest, ".")
	ma, _ := strconv.Atoi(major)
	mi, _ := strconv.Atoi(minor)
	if ma < 20 || ma == 20 && mi < 10 {
		t.Skipf("node %s is older than 20.10, which @xmpp/client needs", v)
	}
	if ma < 22 {
		// @xmpp/client uses the WebSocket of the platform, a browser's
		// API, which Node.js has without a flag from version 22 on.
		return []string{node, "--experimental-websocket"}
	}
	return []string{node}
}

// webPackages returns the directory where the packages of webManifest
// are installed at their versions, installing them with npm when they are
// not (network to the npm registry only, at most five minutes), or skips.
func webPackages(t *testing.T) string {
	t.Helper()
	manifest, deps := readWebManifest(t)
	dir := os.Getenv("STARLING_WEB_PACKAGES")
	if dir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			t.Skipf("no cache directory for the web clients' npm packages (set STARLING_WEB_PACKAGES): %v", err)
		}
		dir = filepath.Join(cache, "starling-web-tests")
	}
	missing := func() []string {
		var m []string
		for name, version := range deps {
			data, err := os.ReadFile(filepath.Join(dir, "node_modules", name, "package.json"))
			var got struct{ Version string }
			if err != nil || json.Unmarshal(data, &got) != nil || got.Version != version {
				m = append(m, name+"@"+version)
			}
		}
		return m
	}
	m := missing()
	if len(m) == 0 {
		return dir
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Skipf("npm packages %s missing in %s and npm not found: install the Debian package npm (./test.sh does)", strings.Join(m, " "), dir)
	}
	t.Logf("installing %s in %s", strings.Join(m, " "), dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Skipf("npm packages missing: %v", err)
	}
	if old, _ := os.ReadFile(filepath.Join(dir, "package.json")); !bytes.Equal(old, manifest) {
		if err := os.WriteFile(filepath.Join(dir, "package.json"), manifest, 0o644); err != nil {
			t.Skipf("npm packages missing: %v", err)
		}
	}
	out, err := runGroup(t, 5*time.Minute, dir, nil, npm, "install", "--no-audit", "--no-fund")
	if m := missing(); err != nil || len(m) > 0 {
		t.Skipf("npm packages %s missing in %s; npm install failed (%v):\n%s", strings.Join(m, " "), dir, err, out)
	}
	return dir
}

// runGroup runs a command in its own process group, in dir with env added,
// for at most timeout, and kills what is left of that group (a browser's
// helpers, say) when it ends. It returns the combined output.
func runGroup(t *testing.T, timeout time.Duration, dir string, env []string, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		return "", err
	}
	pid := cmd.Process.Pid
	err := cmd.Wait()
	// The group is named by the pid of the process we started; what is
	// left of it (if anything) is ours.
	syscall.Kill(-pid, syscall.SIGKILL)
	if ctx.Err() != nil {
		err = fmt.Errorf("%s: no result within %v (%w)", filepath.Base(name), timeout, err)
	}
	return out.String(), err
}

// runWebScript runs a script of testdata/web with node.
func runWebScript(t *testing.T, node []string, packages string, timeout time.Duration, script string, args ...string) (string, error) {
	t.Helper()
	dir, err := filepath.Abs("testdata/web")
	if err != nil {
		t.Fatal(err)
	}
	out, err := runGroup(t, timeout, dir, []string{"STARLING_WEB_PACKAGES=" + packages}, node[0], append(append(node[1:len(node):len(node)], script), args...)...)
	t.Logf("%s:\n%s", script, out)
	return out, err
}

// echo answers every chat message with a body that s receives with answer
// applied to the body, and reports the message on got.
func echo(t *testing.T, s *client.Session, answer func(string) string) <-chan client.Message {
	t.Helper()
	got := make(chan client.Message, 16)
	s.Handle("message", "", func(ctx context.Context, el *stanza.Element) {
		m := client.ParseMessage(el)
		if m.Body == "" || m.Type == "error" {
			return
		}
		select {
		case got <- m:
		default:
		}
		s.SendMessage(client.Message{To: m.From, Type: "chat", Body: answer(m.Body)})
	})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go s.Serve(ctx)
	if err := s.SendPresence(client.Presence{}); err != nil {
		t.Fatal(err)
	}
	// Once the server has answered a ping, it has taken the presence:
	// messages to the bare JID come here.
	pctx, pcancel := context.WithTimeout(ctx, 10*time.Second)
	defer pcancel()
	if err := s.Ping(pctx, s.JID().DomainJID()); err != nil {
		t.Fatalf("ping: %v", err)
	}
	return got
}

// TestWebSocketClients: two independent JavaScript XMPP libraries,
// @xmpp/client and StanzaJS, run by Node.js, log in over XMPP over
// WebSocket (RFC 7395; SASL on a loopback ws:// URL), send a chat message
// to a user connected over TCP with Starling's own client, and receive
// that user's answer: both directions between a WebSocket and a TCP
// stream.
func TestWebSocketClients(t *testing.T) {
	node := nodeJS(t)
	packages := webPackages(t)
	for _, tc := range []struct{ name, who, script string }{
		{"@xmpp/client", "xmppjs", "xmppjs_chat.mjs"},
		{"stanza", "stanza", "stanza_chat.mjs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const password = "correct horse"
			srv := testserver.Start(t, "")
			srv.AddUser(t, "alice@localhost", password)
			srv.AddUser(t, "bob@localhost", password)
			bob := srv.Login(t, "bob@localhost/tcp", password)
			got := echo(t, bob, func(body string) string { return "pong to " + body })

			text := "ping from " + tc.name
			out, err := runWebScript(t, node, packages, 60*time.Second, tc.script,
				"ws://"+srv.HTTPAddr+"/xmpp-websocket", "alice@localhost", password, "bob@localhost", text)
			if err != nil {
				t.Fatalf("%s: %v", tc.script, err)
			}
			if want := tc.who + ": logged in as alice@localhost/"; !strings.Contains(out, want) {
				t.Errorf("want %q in the output", want)
			}
			// WebSocket → TCP.
			select {
			case m := <-got:
				if m.Body != text || m.From.Bare().String() != "alice@localhost" || m.From.Resource() == "" || m.Type != "chat" {
					t.Errorf("bob got %q (%s) from %s, want %q (chat) from alice@localhost/…", m.Body, m.Type, m.From, text)
				}
			default:
				t.Error("bob got no message")
			}
			// TCP → WebSocket.
			if want := fmt.Sprintf("%s: received 'pong to %s' from bob@localhost/tcp", tc.who, text); !strings.Contains(out, want) {
				t.Errorf("want %q in the output", want)
			}
		})
	}
}

// TestConverseJS: Converse.js, served by Starling itself on its chat page
// (http.converse_url naming the npm package's dist directory), in headless
// Chromium driven by Playwright as a person would: the page loads under
// its Content-Security-Policy, alice logs in through Converse's form (over
// the page's own WebSocket), opens the chat with bot from her contact
// list, sends a message, and sees bot's answer in the page. bot is a
// Starling client over TCP that echoes every chat message.
func TestConverseJS(t *testing.T) {
	node := nodeJS(t)
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium not found: install the Debian packages chromium and chromium-driver (./test.sh does)")
	}
	packages := webPackages(t)
	dist := filepath.Join(packages, "node_modules", "converse.js", "dist")
	yamlText := "http:\n  converse_url: " + strconv.Quote(dist) + "\n"
	if _, err := config.Parse([]byte(yamlText), "probe"); err != nil {
		t.Skipf("the configuration cannot name a local Converse.js: %v", err)
	}

	const password = "correct horse"
	srv := testserver.Start(t, yamlText)
	srv.AddUser(t, "alice@localhost", password)
	srv.AddUser(t, "bot@localhost", password)
	bot := srv.Login(t, "bot@localhost/echo", password)
	befriend(t, srv.Login(t, "alice@localhost/setup", password), bot)
	got := echo(t, bot, func(body string) string { return "echo: " + body })

	shot := filepath.Join(t.TempDir(), "converse.png")
	const text = "Hello from Converse"
	out, err := runWebScript(t, node, packages, 120*time.Second, "converse_chat.mjs",
		chromium, "http://"+srv.HTTPAddr+"/", "alice", password, "bot@localhost", text, "echo: "+text, shot)
	if st, err := os.Stat(shot); err == nil && st.Size() > 0 {
		t.Logf("screenshot: %s", shot)
	}
	if err != nil {
		t.Fatalf("converse_chat.mjs: %v", err)
	}
	select {
	case m := <-got:
		if m.Body != text || m.From.Bare().String() != "alice@localhost" || m.From.Resource() == "" {
			t.Errorf("bot got %q from %s, want %q from alice@localhost/…", m.Body, m.From, text)
		}
	default:
		t.Error("bot got no message")
	}
	for _, want := range []string{
		"converse: opened http://" + srv.HTTPAddr + "/: 200 Chat on localhost",
		"converse: logged in as alice",
		"converse: the page shows 'echo: " + text + "' from bot@localhost",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("want %q in the output", want)
		}
	}
	// The policy holds everything the page needs: what it blocks is only
	// the images Converse's login footer takes from another site.
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "Content Security Policy") && !strings.Contains(line, `"img-src `) {
			t.Errorf("the page's Content-Security-Policy blocked what it needs: %s", line)
		}
	}
}

// The chat page's default Converse.js (web.DefaultConverseURL, on the
// CDN) is the release TestConverseJS runs.
func TestConverseVersionPinned(t *testing.T) {
	_, deps := readWebManifest(t)
	if v := deps["converse.js"]; v == "" || !strings.Contains(web.DefaultConverseURL, "/"+v+"/") {
		t.Errorf("web.DefaultConverseURL is %s, but the tests run Converse.js %q (%s)", web.DefaultConverseURL, v, webManifest)
	}
}

// befriend makes a and b subscribed to each other's presence (RFC 6121
// §3), and closes a.
func befriend(t *testing.T, a, b *client.Session) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// Subscription requests go to available resources (RFC 6121 §3.1.3).
	for _, s := range []*client.Session{a, b} {
		if err := s.SendPresence(client.Presence{}); err != nil {
			t.Fatal(err)
		}
	}
	handshake := func(from, to *client.Session) {
		t.Helper()
		if err := from.Subscribe(to.JID().Bare()); err != nil {
			t.Fatal(err)
		}
		for {
			el, err := to.Recv(ctx)
			if err != nil {
				t.Fatalf("%s waiting for a subscription request: %v", to.JID(), err)
			}
			if p := client.ParsePresence(el); el.Name.Local == "presence" && p.Type == "subscribe" && p.From.Bare() == from.JID().Bare() {
				break
			}
		}
		if err := to.Approve(from.JID().Bare()); err != nil {
			t.Fatal(err)
		}
	}
	handshake(a, b)
	handshake(b, a)
	for {
		r, err := a.Roster(ctx)
		if err != nil {
			t.Fatalf("roster: %v", err)
		}
		if it, ok := r.Item(b.JID().Bare()); ok && it.Subscription == "both" {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s and %s are not subscribed to each other", a.JID(), b.JID())
		case <-time.After(50 * time.Millisecond):
		}
	}
	if err := a.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
		t.Logf("close %s: %v", a.JID(), err)
	}
}
