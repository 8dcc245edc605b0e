package web

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"strings"
)

// DefaultConverseURL is where the chat page loads Converse.js from unless
// http.converse_url says otherwise: the dist directory of the Converse.js
// release Starling is tested with, on Converse's official CDN.
const DefaultConverseURL = "https://cdn.conversejs.org/14.0.0/dist"

// converseLocalPrefix is where Starling serves a local copy of Converse.js
// (http.converse_url naming a directory).
const converseLocalPrefix = "/converse/"

// pageConfig is what the chat page reads from the configuration.
type pageConfig struct {
	// Enabled is http.web_page: serve the page at /.
	Enabled bool
	// ConverseURL is http.converse_url: an https URL of a directory
	// holding converse.min.js and converse.min.css (and the chunks they
	// load), or a local directory with those files, served at /converse/.
	// Empty means DefaultConverseURL.
	ConverseURL string
}

// pageConfig returns the page's settings.
//
// pageConfig reads http.web_page and http.converse_url.
func (s *Server) pageConfig() pageConfig {
	return pageConfig{Enabled: s.cfg.HTTP.WebPage, ConverseURL: s.cfg.HTTP.ConverseURL}
}

// page serves the web chat page at / (and a local Converse.js at
// /converse/); every other path it is asked for is not found.
func (s *Server) page() http.Handler { return s.pageHandler(s.pageConfig()) }

// pageHandler is page with the settings given.
func (s *Server) pageHandler(pc pageConfig) http.Handler {
	if !pc.Enabled || !s.cfg.HTTP.WebSocket || len(s.cfg.Hosts) == 0 {
		return http.NotFoundHandler()
	}
	mux := http.NewServeMux()
	p := &chatPage{s: s, assets: pc.ConverseURL}
	if p.assets == "" {
		p.assets = DefaultConverseURL
	}
	if u, err := url.Parse(p.assets); err == nil && u.Scheme == "https" && plainHost(u.Host) {
		p.assets = strings.TrimSuffix(p.assets, "/")
		p.origin = "https://" + u.Host
	} else {
		// A local directory: opened as an os.Root, so that no name (not
		// "..", not a symbolic link) reaches outside it.
		root, err := os.OpenRoot(pc.ConverseURL)
		if err != nil {
			s.log.Error("web page off: http.converse_url is neither an https URL nor a directory", "err", err)
			return http.NotFoundHandler()
		}
		p.assets = strings.TrimSuffix(converseLocalPrefix, "/")
		mux.Handle("GET "+converseLocalPrefix, http.StripPrefix(p.assets, assetServer(root.FS())))
	}
	p.csp = pageCSP(p.origin)
	mux.Handle("GET /{$}", p)
	return mux
}

// chatPage is the page at /.
type chatPage struct {
	s *Server
	// assets is the URL of the Converse.js files without a trailing slash:
	// https://… or /converse.
	assets string
	// origin is the assets' origin when they are not Starling's own.
	origin string
	csp    string
}

func (p *chatPage) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var buf bytes.Buffer
	err := pageTemplate.Execute(&buf, struct {
		Domain, WebSocket, Assets string
	}{p.s.cfg.Hosts[0], p.s.endpoint(r), p.assets})
	if err != nil {
		p.s.log.Error("web page", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", p.csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	// The page names the host it was asked for: never cache it.
	h.Set("Cache-Control", "no-store")
	w.Write(buf.Bytes())
}

// pageScript starts Converse.js with the settings the page carries in
// data attributes (escaped by html/template). It is constant, so the
// Content-Security-Policy names it by its hash instead of allowing inline
// scripts.
const pageScript = `
const cfg = document.getElementById('starling-chat').dataset;
converse.initialize({
  websocket_url: cfg.ws,
  default_domain: cfg.domain,
  locked_domain: cfg.domain,
  assets_path: cfg.assets,
  discover_connection_methods: false,
  view_mode: 'fullscreen',
  auto_login: false,
});
`

// The page: Converse's stylesheet and module, then the script starting
// it (module scripts run in document order, after parsing).
var pageTemplate = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Chat on {{.Domain}}</title>
<link rel="icon" href="{{.Assets}}/images/favicon.ico">
<link rel="stylesheet" href="{{.Assets}}/converse.min.css">
<script type="module" src="{{.Assets}}/converse.min.js"></script>
</head>
<body class="converse-fullscreen" id="starling-chat" data-ws="{{.WebSocket}}" data-domain="{{.Domain}}" data-assets="{{.Assets}}">
<noscript>This chat needs JavaScript.</noscript>
<script type="module">` + pageScript + `</script>
</body>
</html>
`))

// pageCSP is the page's Content-Security-Policy: scripts, styles, fonts,
// images and connections only from Starling itself (the WebSocket is
// same-origin) and from origin, where Converse.js is loaded from; the one
// inline script by its hash. Converse needs inline styles, and compiles
// WebAssembly for OMEMO.
func pageCSP(origin string) string {
	sum := sha256.Sum256([]byte(pageScript))
	src := "'self'"
	if origin != "" {
		src += " " + origin
	}
	return strings.Join([]string{
		"default-src " + src,
		"script-src " + src + " 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "' 'wasm-unsafe-eval'",
		"style-src " + src + " 'unsafe-inline'",
		"img-src " + src + " data: blob:",
		"media-src " + src + " data: blob:",
		"connect-src " + src,
		"object-src 'none'",
		"base-uri 'none'",
		"form-action 'self'",
		"frame-ancestors 'none'",
	}, "; ")
}

// plainHost reports whether host is a host name or address with an
// optional port, nothing that could change the meaning of the
// Content-Security-Policy it goes into.
func plainHost(host string) bool {
	if host == "" {
		return false
	}
	for _, c := range host {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.ContainsRune(".-:[]", c)) {
			return false
		}
	}
	return true
}

// assetServer serves the files of fsys, without directory listings.
func assetServer(fsys fs.FS) http.Handler {
	files := http.FileServerFS(filesOnly{fsys})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		files.ServeHTTP(w, r)
	})
}

// filesOnly hides the directories of an fs.FS from http.FileServerFS, so
// that it lists none.
type filesOnly struct{ fs.FS }

func (f filesOnly) Open(name string) (fs.File, error) {
	// Every failure is "not found" (404): a name escaping the root, or a
	// file that cannot be read, says nothing more to a visitor.
	file, err := f.FS.Open(name)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	if st, err := file.Stat(); err != nil || st.IsDir() {
		file.Close()
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return file, nil
}
