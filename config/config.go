// Package config reads and checks Starling's YAML configuration file.
//
// Every option has a default, so an empty file (or no file at all) gives a
// working server for "localhost". Unknown keys, wrong types and bad values
// are reported with the file's line number and the option's dotted path, so
// `starling config check` can tell an operator exactly what to fix. The
// commented example starling.example.yaml at the repository root documents
// every option; a test keeps the two in step.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is the whole configuration.
type Config struct {
	// Hosts are the XMPP domains this server serves; the first is the
	// default.
	Hosts []string `yaml:"hosts"`
	// DataDir holds the embedded database and the generated certificate.
	DataDir string `yaml:"data_dir"`
	// JIDProfile selects address preparation: "stringprep" (RFC 3920
	// nodeprep/nameprep/resourceprep, the default) or "precis" (RFC 7622).
	JIDProfile string  `yaml:"jid_profile"`
	Log        Log     `yaml:"log"`
	C2S        C2S     `yaml:"c2s"`
	S2S        S2S     `yaml:"s2s"`
	HTTP       HTTP    `yaml:"http"`
	TLS        TLS     `yaml:"tls"`
	SASL       SASL    `yaml:"sasl"`
	XML        XML     `yaml:"xml"`
	Storage    Storage `yaml:"storage"`
	// AdminSocket is the Unix socket (relative paths are inside
	// data_dir) on which the running server answers administration
	// commands such as `starling s2s list`; only its owner may connect.
	// Empty disables it.
	AdminSocket string `yaml:"admin_socket"`
	// PprofListen is a loopback host:port where Go's profiler
	// (net/http/pprof) answers, for profiling under load; empty (the
	// default) disables it.
	PprofListen string `yaml:"pprof_listen"`
	// Modules switches features on and off by name (see ModuleNames).
	Modules  map[string]bool `yaml:"modules"`
	Roster   Roster          `yaml:"roster"`
	Offline  Offline         `yaml:"offline"`
	VCard    SizeLimit       `yaml:"vcard"`
	Private  SizeLimit       `yaml:"private"`
	Version  Version         `yaml:"version"`
	Register Register        `yaml:"register"`
	Blocking Blocking        `yaml:"blocking"`
}

// ModuleNames lists the feature modules, each with whether it is on by
// default.
var ModuleNames = map[string]bool{
	"roster":       true,  // rosters, subscriptions and presence (RFC 6121)
	"offline":      true,  // offline messages (XEP-0160)
	"disco":        true,  // service discovery and entity capabilities (XEP-0030, XEP-0115)
	"ping":         true,  // XEP-0199
	"version":      true,  // XEP-0092
	"lastactivity": true,  // XEP-0012
	"time":         true,  // XEP-0202
	"private":      true,  // private XML storage (XEP-0049)
	"vcard":        true,  // vCard-temp (XEP-0054)
	"blocking":     true,  // blocking command (XEP-0191)
	"register":     false, // in-band registration (XEP-0077)
}

// Roster configures contact lists.
type Roster struct {
	// MaxItems bounds the contacts of one account.
	MaxItems int `yaml:"max_items"`
}

// Offline configures offline message storage.
type Offline struct {
	// MaxMessages is the per-account quota; past it, senders get
	// resource-constraint.
	MaxMessages int `yaml:"max_messages"`
}

// Blocking configures the blocking command (XEP-0191).
type Blocking struct {
	// MaxItems bounds the JIDs one account may block; past it, a block
	// request gets policy-violation.
	MaxItems int `yaml:"max_items"`
}

// SizeLimit bounds stored data.
type SizeLimit struct {
	// MaxBytes bounds one stored element, serialised.
	MaxBytes int `yaml:"max_bytes"`
}

// Version configures the software version answer (XEP-0092).
type Version struct {
	// ShowOS includes the operating system in the answer.
	ShowOS bool `yaml:"show_os"`
}

// Register configures in-band registration (XEP-0077), which the
// register module provides when it is switched on.
type Register struct {
	// Interval is how often one IP address may create an account.
	Interval time.Duration `yaml:"interval"`
	// Burst is how many accounts one address may create at once before
	// the interval applies.
	Burst int `yaml:"burst"`
	// MinPasswordLength refuses shorter passwords.
	MinPasswordLength int `yaml:"min_password_length"`
}

// ModuleEnabled reports whether the module called name is on.
func (c *Config) ModuleEnabled(name string) bool {
	if on, ok := c.Modules[name]; ok {
		return on
	}
	return ModuleNames[name]
}

// Log configures the structured log.
type Log struct {
	// Level is debug, info, warn or error.
	Level string `yaml:"level"`
	// Format is text or json.
	Format string `yaml:"format"`
}

// C2S configures client-to-server streams.
type C2S struct {
	// Listen are the addresses for plain connections that upgrade with
	// STARTTLS (port 5222 by convention).
	Listen []string `yaml:"listen"`
	// DirectTLS are the addresses for direct TLS connections (XEP-0368,
	// port 5223 by convention).
	DirectTLS []string `yaml:"direct_tls"`
	// AllowPlaintext lets clients authenticate without TLS. Only for
	// loopback testing: passwords then cross the network in the clear.
	AllowPlaintext bool `yaml:"allow_plaintext"`
	// ResourceConflict says what happens when a client binds a resource
	// that is already bound: "replace" (the old session is closed with a
	// conflict stream error), "refuse" (the new bind fails with conflict)
	// or "random" (the new session gets a generated resource).
	ResourceConflict string `yaml:"resource_conflict"`
	// MultiResourceBinding allows binding several resources on one stream
	// (rfc3920bis-04 §8.5, seed 7-4), with unbind.
	MultiResourceBinding bool `yaml:"multi_resource_binding"`
	// MaxResourcesPerStream bounds multi-resource binding.
	MaxResourcesPerStream int `yaml:"max_resources_per_stream"`
	// MaxSessionsPerAccount bounds the resources one account can have
	// bound at once, across all its streams.
	MaxSessionsPerAccount int `yaml:"max_sessions_per_account"`
	// MaxConnections bounds simultaneous client connections (0: no
	// limit). Past it, new connections get a resource-constraint stream
	// error.
	MaxConnections int `yaml:"max_connections"`
	// HandshakeTimeout bounds the time from TCP accept to a bound
	// resource (TLS, SASL and binding together).
	HandshakeTimeout time.Duration `yaml:"handshake_timeout"`
	// IdleTimeout ends a bound stream that has sent nothing for this long
	// (<connection-timeout/>); halfway through, the server pings the
	// client (XEP-0199) so that a live client always answers in time.
	// Zero disables it, leaving dead peers to TCP keepalive.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// CloseTimeout is how long to wait for the peer's closing stream tag
	// after sending ours, before dropping the connection.
	CloseTimeout time.Duration `yaml:"close_timeout"`
	// WriteTimeout bounds each write to a client.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// QueueSize is how many stanzas may wait to be written to one client;
	// a client that does not read past that is disconnected, and the
	// stanzas that could not be queued are bounced to their senders.
	QueueSize int `yaml:"queue_size"`
}

// S2S configures server-to-server streams: federation with other XMPP
// servers (RFC 6120, XEP-0220, XEP-0178).
type S2S struct {
	// Enabled switches federation on. When off, stanzas for remote
	// domains are bounced with remote-server-not-found and nothing
	// listens for servers.
	Enabled bool `yaml:"enabled"`
	// Listen are the addresses for servers that upgrade with STARTTLS
	// (port 5269 by convention).
	Listen []string `yaml:"listen"`
	// DirectTLS are the addresses for direct TLS server connections
	// (XEP-0368, port 5270 by convention).
	DirectTLS []string `yaml:"direct_tls"`
	// Hosts overrides DNS for chosen remote domains: domain → host:port
	// (dialled with STARTTLS), for private networks and tests.
	Hosts map[string]string `yaml:"hosts"`
	// RequireEncryption refuses server streams without TLS, both ways
	// (RFC 7590). Turning it off allows plaintext federation with
	// servers that cannot do TLS, which exposes all traffic.
	RequireEncryption bool `yaml:"require_encryption"`
	// SecureAuth requires every remote server to present a certificate
	// valid for its domain (SASL EXTERNAL, XEP-0178); dialback is then
	// never used to authenticate a server. SecureDomains and
	// InsecureDomains make exceptions per domain.
	SecureAuth bool `yaml:"secure_auth"`
	// SecureDomains require a valid certificate even when SecureAuth is
	// off.
	SecureDomains []string `yaml:"secure_domains"`
	// InsecureDomains may use dialback even when SecureAuth is on.
	InsecureDomains []string `yaml:"insecure_domains"`
	// Dialback enables server dialback (XEP-0220) for servers whose
	// certificate cannot be verified.
	Dialback bool `yaml:"dialback"`
	// SystemRoots trusts the operating system's certificate authorities
	// for peer certificates.
	SystemRoots bool `yaml:"system_roots"`
	// CAFiles are extra PEM files of certificate authorities trusted for
	// peer certificates (a private CA).
	CAFiles []string `yaml:"ca_files"`
	// DigestMD5 enables SASL DIGEST-MD5 between servers (seed 6-4), with
	// a secret shared with each peer domain (DigestMD5Secrets). It is
	// obsolete (RFC 6331) and only for legacy peers.
	DigestMD5 bool `yaml:"digest_md5"`
	// DigestMD5Secrets maps a peer domain to the secret both servers
	// were configured with.
	DigestMD5Secrets map[string]string `yaml:"digest_md5_secrets"`
	// ConnectTimeout bounds resolving and connecting to a remote server.
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// HandshakeTimeout bounds stream negotiation: TLS, then
	// authentication (dialback verification included).
	HandshakeTimeout time.Duration `yaml:"handshake_timeout"`
	// IdleTimeout closes a link that has carried no stanza for this long.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// RetryDelay is the first pause before connecting again to a domain
	// that could not be reached; it doubles (randomised) per failure up
	// to MaxRetryDelay (RFC 6120 §3.3). Stanzas sent meanwhile are
	// bounced.
	RetryDelay    time.Duration `yaml:"retry_delay"`
	MaxRetryDelay time.Duration `yaml:"max_retry_delay"`
	// CloseTimeout and WriteTimeout are as for c2s.
	CloseTimeout time.Duration `yaml:"close_timeout"`
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// QueueSize bounds the stanzas waiting for one link (while it comes
	// up, and to be written).
	QueueSize int `yaml:"queue_size"`
	// MaxLinks bounds server connections, inbound and outbound together.
	MaxLinks int `yaml:"max_links"`
	// MaxPendingVerifications bounds dialback requests awaiting an
	// answer from the authoritative server, over all links.
	MaxPendingVerifications int `yaml:"max_pending_verifications"`
}

// HTTP configures the web listener: XMPP over WebSocket (RFC 7395) and
// endpoint discovery (XEP-0156).
type HTTP struct {
	// Enabled switches the web listener on.
	Enabled bool `yaml:"enabled"`
	// Listen are plain HTTP addresses (port 5280 by convention). A
	// WebSocket over plain HTTP is accepted only from loopback or through
	// a trusted proxy that terminated TLS: there is no STARTTLS on it.
	Listen []string `yaml:"listen"`
	// TLSListen are HTTPS addresses (port 5281 by convention), with the
	// server's certificates.
	TLSListen []string `yaml:"tls_listen"`
	// WebSocket serves XMPP over WebSocket at /xmpp-websocket.
	WebSocket bool `yaml:"websocket"`
	// BOSH serves XMPP over BOSH (XEP-0124, XEP-0206) at /http-bind.
	BOSH bool `yaml:"bosh"`
	// WebPage serves a chat page at / running Converse.js over this
	// server's WebSocket.
	WebPage bool `yaml:"web_page"`
	// ConverseURL is where the chat page loads Converse.js from: an https
	// URL of a release's dist directory, or a local directory holding
	// those files (the npm package converse.js's dist/), served at
	// /converse/. Empty: the pinned release on Converse's CDN.
	ConverseURL string `yaml:"converse_url"`
	// AllowedOrigins are the web origins (host patterns such as
	// "chat.example.org" or "*.example.org") whose pages may open a
	// WebSocket here, besides the server's own.
	AllowedOrigins []string `yaml:"allowed_origins"`
	// TrustedProxies are the addresses or CIDR ranges of reverse proxies
	// whose X-Forwarded-For and X-Forwarded-Proto headers are believed.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// WebSocketSeeOtherURI, when set, sends every WebSocket client
	// elsewhere (RFC 7395 §3.6.1: <close see-other-uri=.../>), e.g. while
	// the service moves to another address.
	WebSocketSeeOtherURI string `yaml:"websocket_see_other_uri"`
	// WebSocketPing is how often a WebSocket is pinged (a WebSocket
	// ping, answered by the browser itself) so that proxies keep it
	// open and a vanished client is noticed; one unanswered for as long
	// ends the stream. Zero disables it.
	WebSocketPing time.Duration `yaml:"websocket_ping"`
	// MaxSessionsPerIP bounds the web sessions (WebSocket streams, BOSH
	// sessions) one client address may hold at once; past it, new ones
	// are refused with 429 Too Many Requests.
	MaxSessionsPerIP int `yaml:"max_sessions_per_ip"`
}

// TLS configures certificates and protocol versions.
type TLS struct {
	// Certificates are PEM certificate (with chain) and key files. When
	// empty, a self-signed certificate for the hosts is generated in
	// data_dir on first start and reused.
	Certificates []Certificate `yaml:"certificates"`
	// MinVersion is "1.2" or "1.3".
	MinVersion string `yaml:"min_version"`
	// LegacyCiphers additionally enables TLS_RSA_WITH_3DES_EDE_CBC_SHA,
	// which the seed (6-1) names as mandatory to implement. It is weak
	// (64-bit block, no forward secrecy): leave it off unless an old
	// client needs it.
	LegacyCiphers bool `yaml:"legacy_ciphers"`
}

// Certificate is one certificate/key pair in PEM files.
type Certificate struct {
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// SASL configures authentication.
type SASL struct {
	// Mechanisms are the SASL mechanisms offered, strongest first.
	// -PLUS variants are offered only on TLS, PLAIN only on TLS unless
	// c2s.allow_plaintext.
	Mechanisms []string `yaml:"mechanisms"`
	// DigestMD5 enables the legacy DIGEST-MD5 mechanism (seed 6-4). While
	// on, setting a password also stores the RFC 2831 digest of it, which
	// is as good as the password for logging in with DIGEST-MD5 (RFC 6331
	// explains why the mechanism is obsolete). Accounts whose password
	// was set while it was off cannot use DIGEST-MD5.
	DigestMD5 bool `yaml:"digest_md5"`
	// ScramIterations is the PBKDF2 iteration count for new passwords.
	ScramIterations int `yaml:"scram_iterations"`
	// MaxFailures is the number of failed attempts after which the stream
	// is closed with policy-violation.
	MaxFailures int `yaml:"max_failures"`
	// StrictChannelBinding applies RFC 5802's downgrade check without
	// exception. By default a client that tried a -PLUS mechanism with a
	// channel-binding type this connection cannot provide (slixmpp asks
	// for tls-unique, which TLS 1.3 does not define) may then log in with
	// plain SCRAM; clients that follow RFC 5802 are unaffected.
	StrictChannelBinding bool `yaml:"strict_channel_binding"`
}

// XML bounds what a peer can send.
type XML struct {
	// MaxStanzaBytes bounds one stanza; larger ones close the stream with
	// policy-violation.
	MaxStanzaBytes int `yaml:"max_stanza_bytes"`
	// MaxDepth bounds element nesting inside a stanza.
	MaxDepth int `yaml:"max_depth"`
	// MaxAttrs bounds the attributes of one element.
	MaxAttrs int `yaml:"max_attrs"`
	// StrictEscaping rejects '>' and quote characters written raw in
	// character data and attribute values with restricted-xml, as seed
	// 9-2 reads. RFC 6120 dropped that rule and some clients (libstrophe)
	// send raw apostrophes, so it is off by default.
	StrictEscaping bool `yaml:"strict_escaping"`
}

// Storage selects the database.
type Storage struct {
	// Driver is "sqlite" (embedded, the default) or "memory" (for tests:
	// nothing survives a restart).
	Driver string `yaml:"driver"`
	// Path is the SQLite database file; relative paths are inside
	// data_dir.
	Path string `yaml:"path"`
}

// Default returns the configuration used when there is no file: host
// localhost, c2s on 5222 and direct TLS on 5223, data in ./starling-data.
func Default() *Config {
	return &Config{
		Hosts:       []string{"localhost"},
		DataDir:     "./starling-data",
		AdminSocket: "admin.sock",
		JIDProfile:  "stringprep",
		Log:         Log{Level: "info", Format: "text"},
		C2S: C2S{
			Listen:                []string{":5222"},
			DirectTLS:             []string{":5223"},
			ResourceConflict:      "replace",
			MultiResourceBinding:  true,
			MaxResourcesPerStream: 8,
			MaxSessionsPerAccount: 32,
			HandshakeTimeout:      60 * time.Second,
			IdleTimeout:           10 * time.Minute,
			CloseTimeout:          5 * time.Second,
			WriteTimeout:          30 * time.Second,
			QueueSize:             1000,
		},
		S2S: S2S{
			Enabled:                 true,
			Listen:                  []string{":5269"},
			DirectTLS:               []string{":5270"},
			RequireEncryption:       true,
			Dialback:                true,
			SystemRoots:             true,
			ConnectTimeout:          10 * time.Second,
			HandshakeTimeout:        30 * time.Second,
			IdleTimeout:             10 * time.Minute,
			RetryDelay:              5 * time.Second,
			MaxRetryDelay:           5 * time.Minute,
			CloseTimeout:            5 * time.Second,
			WriteTimeout:            30 * time.Second,
			QueueSize:               1000,
			MaxLinks:                1000,
			MaxPendingVerifications: 100,
		},
		HTTP: HTTP{
			Enabled:          true,
			Listen:           []string{":5280"},
			WebSocket:        true,
			WebPage:          true,
			BOSH:             true,
			MaxSessionsPerIP: 20,
			WebSocketPing:    30 * time.Second,
		},
		TLS: TLS{MinVersion: "1.2"},
		SASL: SASL{
			Mechanisms: []string{
				"SCRAM-SHA-512-PLUS", "SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS",
				"SCRAM-SHA-512", "SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN",
			},
			ScramIterations: 10000,
			MaxFailures:     3,
		},
		XML:      XML{MaxStanzaBytes: 256 << 10, MaxDepth: 64, MaxAttrs: 64},
		Storage:  Storage{Driver: "sqlite", Path: "starling.db"},
		Modules:  maps.Clone(ModuleNames),
		Roster:   Roster{MaxItems: 1000},
		Offline:  Offline{MaxMessages: 500},
		Blocking: Blocking{MaxItems: 10000},
		VCard:    SizeLimit{MaxBytes: 64 << 10},
		Private:  SizeLimit{MaxBytes: 64 << 10},
		Version:  Version{ShowOS: true},
		Register: Register{Interval: 10 * time.Minute, Burst: 1, MinPasswordLength: 8},
	}
}

// Error is one problem in a configuration file.
type Error struct {
	File string
	Line int    // 0 when the problem has no single place
	Path string // dotted option path, e.g. "c2s.listen"
	Msg  string
}

func (e *Error) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc = fmt.Sprintf("%s:%d", e.File, e.Line)
	}
	if e.Path != "" {
		return fmt.Sprintf("%s: %s: %s", loc, e.Path, e.Msg)
	}
	return fmt.Sprintf("%s: %s", loc, e.Msg)
}

// Errors is every problem found in one file.
type Errors []*Error

func (es Errors) Error() string {
	var b bytes.Buffer
	for i, e := range es {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Load reads and checks the file at path. Relative paths inside it (data_dir,
// certificates) are resolved against the file's directory.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := Parse(data, path)
	if err != nil {
		return nil, err
	}
	c.resolvePaths(filepath.Dir(path))
	return c, nil
}

// Parse reads configuration YAML over the defaults and checks it. name is
// used in error messages. On error the result is an Errors value listing
// every problem with its line.
func Parse(data []byte, name string) (*Config, error) {
	c := Default()
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, Errors{{File: name, Line: yamlErrorLine(err), Msg: cleanYAMLError(err)}}
	}
	doc := &root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		doc = doc.Content[0]
	}
	if doc.Kind == 0 || (doc.Kind == yaml.ScalarNode && doc.Tag == "!!null") {
		return c, c.check(name, nil) // empty file: all defaults
	}
	var errs Errors
	checkKeys(doc, c, "", name, &errs)
	if len(errs) > 0 {
		return nil, errs
	}
	if err := doc.Decode(c); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			for _, m := range te.Errors {
				errs = append(errs, &Error{File: name, Line: yamlErrorLine(errors.New(m)), Msg: cleanYAMLError(errors.New(m))})
			}
			return nil, errs
		}
		return nil, Errors{{File: name, Msg: cleanYAMLError(err)}}
	}
	if err := c.check(name, doc); err != nil {
		return nil, err
	}
	return c, nil
}

// resolvePaths makes relative paths relative to dir.
func (c *Config) resolvePaths(dir string) {
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	c.DataDir = abs(c.DataDir)
	for i, f := range c.S2S.CAFiles {
		c.S2S.CAFiles[i] = abs(f)
	}
	if u := c.HTTP.ConverseURL; u != "" && !strings.HasPrefix(u, "https://") {
		c.HTTP.ConverseURL = abs(u)
	}
	for i := range c.TLS.Certificates {
		c.TLS.Certificates[i].Cert = abs(c.TLS.Certificates[i].Cert)
		c.TLS.Certificates[i].Key = abs(c.TLS.Certificates[i].Key)
	}
}

// SecureDomain reports whether a remote domain must present a valid
// certificate (no dialback).
func (c *Config) SecureDomain(domain string) bool {
	if slices.Contains(c.S2S.SecureDomains, domain) {
		return true
	}
	if slices.Contains(c.S2S.InsecureDomains, domain) {
		return false
	}
	return c.S2S.SecureAuth
}

// AdminSocketPath returns the admin socket's path, "" when disabled.
func (c *Config) AdminSocketPath() string {
	if c.AdminSocket == "" || filepath.IsAbs(c.AdminSocket) {
		return c.AdminSocket
	}
	return filepath.Join(c.DataDir, c.AdminSocket)
}

// StoragePath returns the SQLite database path.
func (c *Config) StoragePath() string {
	if filepath.IsAbs(c.Storage.Path) {
		return c.Storage.Path
	}
	return filepath.Join(c.DataDir, c.Storage.Path)
}
