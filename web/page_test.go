package web

import (
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/starling-xmpp/starling/config"
)

// pageServer is a web Server for the page tests, over the default
// configuration with hosts.
func pageServer(t *testing.T, hosts ...string) *Server {
	t.Helper()
	cfg := config.Default()
	cfg.Hosts = hosts
	return New(Options{Config: cfg})
}

// get asks h for path as a browser would, with Host host.
func get(t *testing.T, h http.Handler, host, path string) *http.Response {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, path, nil)
	r.Host = host
	r.RemoteAddr = "192.0.2.7:40000"
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Result()
}

func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The page at / starts Converse.js on the page's own WebSocket with the
// first host as the (locked) domain, loads it from the pinned CDN release
// by default, and allows nothing else to run: its policy names the one
// inline script by hash.
func TestPage(t *testing.T) {
	s := pageServer(t, "example.org", "other.example")
	resp := get(t, s.http.Handler, "chat.example.org:5280", "/")
	page := body(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	for _, want := range []string{
		`data-ws="ws://chat.example.org:5280/xmpp-websocket"`,
		`data-domain="example.org"`,
		`<script type="module" src="` + DefaultConverseURL + `/converse.min.js"></script>`,
		`<link rel="stylesheet" href="` + DefaultConverseURL + `/converse.min.css">`,
		"websocket_url: cfg.ws", "locked_domain: cfg.domain", "default_domain: cfg.domain",
		"view_mode: 'fullscreen'", "auto_login: false", "discover_connection_methods: false",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	if strings.Contains(page, "bosh_service_url") {
		t.Error("the page sets bosh_service_url")
	}
	if strings.Contains(page, "other.example") {
		t.Error("the page names the second host")
	}

	csp := resp.Header.Get("Content-Security-Policy")
	m := regexp.MustCompile(`(?s)<script type="module">(.*?)</script>`).FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no inline script")
	}
	sum := sha256.Sum256([]byte(m[1]))
	for _, want := range []string{
		"default-src 'self' https://cdn.conversejs.org;",
		"script-src 'self' https://cdn.conversejs.org 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "' 'wasm-unsafe-eval';",
		"connect-src 'self' https://cdn.conversejs.org;",
		"object-src 'none'", "frame-ancestors 'none'",
	} {
		if !strings.Contains(csp, want) {
			t.Errorf("Content-Security-Policy %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "'unsafe-eval'") || strings.Contains(csp, "script-src 'self' https://cdn.conversejs.org 'unsafe-inline'") {
		t.Errorf("Content-Security-Policy %q allows more scripts than the page's", csp)
	}

	// Another https location (a mirror): its origin, and only it, joins
	// the policy.
	resp = get(t, s.pageHandler(pageConfig{Enabled: true, ConverseURL: "https://mirror.example:8443/converse/14/"}), "example.org", "/")
	if page := body(t, resp); !strings.Contains(page, `src="https://mirror.example:8443/converse/14/converse.min.js"`) {
		t.Errorf("the page does not load the mirror's converse.min.js:\n%s", page)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.HasPrefix(csp, "default-src 'self' https://mirror.example:8443;") || strings.Contains(csp, "conversejs.org") {
		t.Errorf("Content-Security-Policy %q, want the mirror's origin only", csp)
	}

	// Over HTTPS the WebSocket is wss.
	r := httptest.NewRequest(http.MethodGet, "https://chat.example.org/", nil)
	w := httptest.NewRecorder()
	s.http.Handler.ServeHTTP(w, r)
	if page := w.Body.String(); !strings.Contains(page, `data-ws="wss://chat.example.org/xmpp-websocket"`) {
		t.Errorf("an HTTPS page does not name wss://chat.example.org/xmpp-websocket:\n%s", page)
	}
}

// Whatever the configuration or the request puts in the page is escaped:
// a domain or a Host header made to close the attribute adds no element.
func TestPageEscapes(t *testing.T) {
	const hostile = `x"><script>alert(1)</script><p a="`
	s := pageServer(t, hostile)
	resp := get(t, s.page(), `evil"><img src=x onerror=alert(2)>`, "/")
	page := body(t, resp)
	for _, bad := range []string{"<script>alert(1)", "<img src=x", `"><img`, `"><script>`, `<p a=`} {
		if strings.Contains(page, bad) {
			t.Errorf("the page contains %s unescaped:\n%s", bad, page)
		}
	}
	if want := `data-domain="x&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;p a=&#34;"`; !strings.Contains(page, want) {
		t.Errorf("the page lacks the escaped domain %s:\n%s", want, page)
	}
	if n := strings.Count(page, "<script"); n != 2 {
		t.Errorf("%d script elements, want 2", n)
	}
}

// Paths the page does not own are not found; a disabled page, or a
// server without WebSocket, serves nothing.
func TestPageNotFound(t *testing.T) {
	s := pageServer(t, "example.org")
	for _, path := range []string{"/index.html", "/favicon.ico", "/converse/converse.min.js", "/converse/", "/x/"} {
		if resp := get(t, s.http.Handler, "example.org", path); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", path, resp.StatusCode)
		}
	}
	if resp := get(t, s.pageHandler(pageConfig{}), "example.org", "/"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("disabled page: status %d, want 404", resp.StatusCode)
	}
	// Not an https URL with a plain host, and no such directory.
	for _, u := range []string{"https://cdn.example;script-src *", "http://cdn.example/dist", "https:///dist"} {
		if resp := get(t, s.pageHandler(pageConfig{Enabled: true, ConverseURL: u}), "example.org", "/"); resp.StatusCode != http.StatusNotFound {
			t.Errorf("converse_url %q: status %d, want 404", u, resp.StatusCode)
		}
	}
	s.cfg.HTTP.WebSocket = false
	if resp := get(t, s.page(), "example.org", "/"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("page without WebSocket: status %d, want 404", resp.StatusCode)
	}
}

// A local Converse.js directory is served at /converse/, file by file:
// no directory listing, nothing outside it (by "..", encoded or not, or by
// a symbolic link), and the page and its policy name only Starling.
func TestPageLocalConverse(t *testing.T) {
	top := t.TempDir()
	dir := filepath.Join(top, "dist")
	write := func(name, text string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(dir, "converse.min.js"), "window.converse = {};\n")
	write(filepath.Join(dir, "converse.min.css"), "body {}\n")
	write(filepath.Join(dir, "locales", "de-LC_MESSAGES-converse-po.js"), "// de\n")
	write(filepath.Join(top, "secret.txt"), "TOP SECRET\n")
	if err := os.Symlink(filepath.Join(top, "secret.txt"), filepath.Join(dir, "link.txt")); err != nil {
		t.Fatal(err)
	}

	s := pageServer(t, "example.org")
	h := s.pageHandler(pageConfig{Enabled: true, ConverseURL: dir})
	// A real HTTP server, so that raw paths reach the handler as a
	// browser (or an attacker) sends them.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: h}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	base := "http://" + ln.Addr().String()

	resp := get(t, h, "example.org", "/")
	page := body(t, resp)
	for _, want := range []string{
		`<script type="module" src="/converse/converse.min.js"></script>`,
		`<link rel="stylesheet" href="/converse/converse.min.css">`,
		`data-assets="/converse"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	if csp := resp.Header.Get("Content-Security-Policy"); strings.Contains(csp, "https:") || !strings.Contains(csp, "script-src 'self' 'sha256-") {
		t.Errorf("Content-Security-Policy %q allows another origin", csp)
	}

	for _, tc := range []struct {
		path, want, contentType string
	}{
		{"/converse/converse.min.js", "window.converse", "text/javascript; charset=utf-8"},
		{"/converse/converse.min.css", "body {}", "text/css; charset=utf-8"},
		{"/converse/locales/de-LC_MESSAGES-converse-po.js", "// de", "text/javascript; charset=utf-8"},
	} {
		resp, err := http.Get(base + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		got := body(t, resp)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(got, tc.want) || resp.Header.Get("Content-Type") != tc.contentType {
			t.Errorf("GET %s: %d %q %q, want 200 %q %q", tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), got, tc.contentType, tc.want)
		}
	}

	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, path := range []string{
		"/converse/", "/converse/locales/", "/converse", "/converse/link.txt",
		"/converse/../secret.txt", "/converse/%2e%2e/secret.txt", "/converse/..%2fsecret.txt",
		"/converse/locales/..%2f..%2fsecret.txt", "/converse/%2e%2e%2f%2e%2e%2fsecret.txt",
		"/converse//etc/passwd", "/converse/..\\secret.txt",
	} {
		// A raw request line: no client cleans the path first.
		conn, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(conn, "GET "+path+" HTTP/1.1\r\nHost: example.org\r\nConnection: close\r\n\r\n")
		raw, _ := io.ReadAll(conn)
		conn.Close()
		status, _, _ := strings.Cut(string(raw), "\r\n")
		t.Logf("GET %s: %s", path, status)
		if strings.Contains(string(raw), "TOP SECRET") || strings.Contains(string(raw), "root:") ||
			strings.Contains(status, " 200 ") || strings.Contains(string(raw), "converse.min.js</a>") {
			t.Errorf("GET %s: %s\n%s", path, status, raw)
		}
		// Following redirects lands nowhere either.
		if resp, err := client.Get(base + path); err == nil {
			got := body(t, resp)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || strings.Contains(got, "TOP SECRET") {
				t.Errorf("GET %s (client): %d %q", path, resp.StatusCode, got)
			}
		}
	}

	// A directory that does not exist serves nothing, the page included.
	if resp := get(t, s.pageHandler(pageConfig{Enabled: true, ConverseURL: filepath.Join(top, "missing")}), "example.org", "/"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("missing directory: status %d, want 404", resp.StatusCode)
	}
}
