package config

import (
	"fmt"
	"maps"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/starling-xmpp/starling/jid"
	"github.com/starling-xmpp/starling/sasl"
)

// checkKeys reports every mapping key in n that has no field in v's type,
// recursing into nested sections and lists of sections.
func checkKeys(n *yaml.Node, v any, path, file string, errs *Errors) {
	t := reflect.TypeOf(v)
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return
	}
	switch n.Kind {
	case yaml.SequenceNode:
		for _, item := range n.Content {
			checkKeys(item, reflect.New(t).Interface(), path, file, errs)
		}
		return
	case yaml.MappingNode:
	default:
		if !(n.Kind == yaml.ScalarNode && n.Tag == "!!null") {
			*errs = append(*errs, &Error{File: file, Line: n.Line, Path: path, Msg: "must be a section of options"})
		}
		return
	}
	fields := map[string]reflect.StructField{}
	var known []string
	for i := range t.NumField() {
		f := t.Field(i)
		name := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if name == "" || name == "-" {
			continue
		}
		fields[name] = f
		known = append(known, name)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		p := join(path, k.Value)
		f, ok := fields[k.Value]
		if !ok {
			*errs = append(*errs, &Error{File: file, Line: k.Line, Path: p,
				Msg: fmt.Sprintf("unknown option (known here: %s)", strings.Join(known, ", "))})
			continue
		}
		checkKeys(val, reflect.New(f.Type).Interface(), p, file, errs)
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// lineOf finds the line of the value at a dotted path ("c2s.listen.1"),
// or of the nearest section that exists.
func lineOf(doc *yaml.Node, path string) int {
	if doc == nil {
		return 0
	}
	n, line := doc, doc.Line
	for _, part := range strings.Split(path, ".") {
		switch n.Kind {
		case yaml.MappingNode:
			found := false
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == part {
					n, line, found = n.Content[i+1], n.Content[i].Line, true
					break
				}
			}
			if !found {
				return line
			}
		case yaml.SequenceNode:
			i, err := strconv.Atoi(part)
			if err != nil || i >= len(n.Content) {
				return line
			}
			n, line = n.Content[i], n.Content[i].Line
		default:
			return line
		}
	}
	return line
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

func yamlErrorLine(err error) int {
	m := yamlLine.FindStringSubmatch(err.Error())
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

func cleanYAMLError(err error) string {
	s := strings.TrimPrefix(err.Error(), "yaml: ")
	s = strings.TrimPrefix(s, "unmarshal errors:\n  ")
	if loc := yamlLine.FindStringIndex(s); loc != nil && loc[0] == 0 {
		s = strings.TrimPrefix(s[loc[1]:], ": ")
	}
	return s
}

// check validates values. doc (may be nil) gives line numbers.
func (c *Config) check(file string, doc *yaml.Node) error {
	var errs Errors
	bad := func(path, format string, args ...any) {
		errs = append(errs, &Error{File: file, Line: lineOf(doc, path), Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	oneOf := func(path, v string, allowed ...string) {
		if !slices.Contains(allowed, v) {
			bad(path, "%q is not one of %s", v, strings.Join(allowed, ", "))
		}
	}

	profile, err := jid.ParseProfile(c.JIDProfile)
	if err != nil {
		bad("jid_profile", "%q is not one of stringprep, precis", c.JIDProfile)
	}
	if len(c.Hosts) == 0 {
		bad("hosts", "at least one host is needed")
	}
	seen := map[string]bool{}
	for i, h := range c.Hosts {
		d, err := profile.Domain(h)
		if err != nil {
			bad(fmt.Sprintf("hosts.%d", i), "%q is not a valid domain: %v", h, err)
			continue
		}
		if seen[d] {
			bad(fmt.Sprintf("hosts.%d", i), "%q is listed twice", h)
		}
		seen[d] = true
		c.Hosts[i] = d
	}
	if c.DataDir == "" {
		bad("data_dir", "must not be empty")
	}
	oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	oneOf("log.format", c.Log.Format, "text", "json")

	if len(c.C2S.Listen) == 0 && len(c.C2S.DirectTLS) == 0 {
		bad("c2s", "c2s.listen and c2s.direct_tls are both empty: clients could not connect")
	}
	for _, list := range []struct {
		name  string
		addrs []string
	}{{"c2s.listen", c.C2S.Listen}, {"c2s.direct_tls", c.C2S.DirectTLS}, {"s2s.listen", c.S2S.Listen}, {"s2s.direct_tls", c.S2S.DirectTLS},
		{"http.listen", c.HTTP.Listen}, {"http.tls_listen", c.HTTP.TLSListen}} {
		for i, a := range list.addrs {
			if _, port, err := net.SplitHostPort(a); err != nil {
				bad(fmt.Sprintf("%s.%d", list.name, i), "%q is not host:port (e.g. \":5222\" or \"127.0.0.1:5222\")", a)
			} else if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
				bad(fmt.Sprintf("%s.%d", list.name, i), "%q has a bad port", a)
			}
		}
	}
	if a := c.PprofListen; a != "" {
		host, port, err := net.SplitHostPort(a)
		ip, perr := netip.ParseAddr(host)
		switch {
		case err != nil:
			bad("pprof_listen", "%q is not host:port (e.g. \"127.0.0.1:6060\")", a)
		case host != "localhost" && (perr != nil || !ip.IsLoopback()):
			bad("pprof_listen", "%q is not a loopback address: profiles show the server's internals to whoever connects", a)
		default:
			if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
				bad("pprof_listen", "%q has a bad port", a)
			}
		}
	}
	oneOf("c2s.resource_conflict", c.C2S.ResourceConflict, "replace", "refuse", "random")
	positive := func(path string, v int) {
		if v < 1 {
			bad(path, "must be at least 1")
		}
	}
	positive("c2s.max_resources_per_stream", c.C2S.MaxResourcesPerStream)
	positive("c2s.max_sessions_per_account", c.C2S.MaxSessionsPerAccount)
	positive("c2s.queue_size", c.C2S.QueueSize)
	if c.C2S.IdleTimeout < 0 {
		bad("c2s.idle_timeout", "must not be negative (0 disables it)")
	}
	if c.C2S.MaxConnections < 0 {
		bad("c2s.max_connections", "must not be negative (0 means no limit)")
	}
	for path, d := range map[string]int64{
		"c2s.handshake_timeout": int64(c.C2S.HandshakeTimeout),
		"c2s.close_timeout":     int64(c.C2S.CloseTimeout),
		"c2s.write_timeout":     int64(c.C2S.WriteTimeout),
	} {
		if d <= 0 {
			bad(path, "must be a positive duration such as 30s")
		}
	}

	c.checkS2S(profile, bad)
	if len(c.HTTP.TLSListen) == 0 {
		c.HTTP.TLSListen = nil
	}
	if len(c.HTTP.AllowedOrigins) == 0 {
		c.HTTP.AllowedOrigins = nil
	}
	if len(c.HTTP.TrustedProxies) == 0 {
		c.HTTP.TrustedProxies = nil
	}
	positive("http.max_sessions_per_ip", c.HTTP.MaxSessionsPerIP)
	if u := c.HTTP.ConverseURL; u != "" {
		c.checkConverseURL(u, bad)
	}
	if u := c.HTTP.WebSocketSeeOtherURI; u != "" {
		if p, err := url.Parse(u); err != nil || (p.Scheme != "ws" && p.Scheme != "wss") || p.Host == "" {
			bad("http.websocket_see_other_uri", "%q must be a ws:// or wss:// URL", u)
		}
	}
	if c.HTTP.WebSocketPing < 0 {
		bad("http.websocket_ping", "must not be negative (0 disables it)")
	}
	for i, p := range c.HTTP.TrustedProxies {
		if _, err := netip.ParsePrefix(p); err != nil {
			if _, err := netip.ParseAddr(p); err != nil {
				bad(fmt.Sprintf("http.trusted_proxies.%d", i), "%q is neither an address nor a CIDR range", p)
			}
		}
	}

	oneOf("tls.min_version", c.TLS.MinVersion, "1.2", "1.3")
	if c.TLS.LegacyCiphers && c.TLS.MinVersion == "1.3" {
		bad("tls.legacy_ciphers", "needs tls.min_version 1.2: TLS 1.3 has no 3DES cipher suite")
	}
	if len(c.TLS.Certificates) == 0 {
		c.TLS.Certificates = nil // "certificates: []" is the default
	}
	for i, cert := range c.TLS.Certificates {
		if cert.Cert == "" || cert.Key == "" {
			bad(fmt.Sprintf("tls.certificates.%d", i), "needs both cert and key")
		}
	}

	if len(c.SASL.Mechanisms) == 0 {
		bad("sasl.mechanisms", "at least one mechanism is needed")
	}
	for i, m := range c.SASL.Mechanisms {
		switch {
		case m == sasl.DigestMD5:
			bad(fmt.Sprintf("sasl.mechanisms.%d", i), "DIGEST-MD5 is enabled with sasl.digest_md5: true, not listed here")
		case !slices.Contains(sasl.Mechanisms(), m):
			bad(fmt.Sprintf("sasl.mechanisms.%d", i), "%q is not a supported mechanism (%s)", m, strings.Join(sasl.Mechanisms(), ", "))
		}
	}
	if c.SASL.ScramIterations < 4096 {
		bad("sasl.scram_iterations", "must be at least 4096 (RFC 7677)")
	}
	positive("sasl.max_failures", c.SASL.MaxFailures)

	if c.XML.MaxStanzaBytes < 10000 {
		bad("xml.max_stanza_bytes", "must be at least 10000 (RFC 6120 §13.12)")
	}
	if c.XML.MaxDepth < 8 {
		bad("xml.max_depth", "must be at least 8")
	}
	if c.XML.MaxAttrs < 8 {
		bad("xml.max_attrs", "must be at least 8")
	}
	for name := range c.Modules {
		if _, ok := ModuleNames[name]; !ok {
			known := slices.Sorted(maps.Keys(ModuleNames))
			bad("modules."+name, "unknown module (known: %s)", strings.Join(known, ", "))
		}
	}
	positive("roster.max_items", c.Roster.MaxItems)
	positive("offline.max_messages", c.Offline.MaxMessages)
	positive("blocking.max_items", c.Blocking.MaxItems)
	if c.VCard.MaxBytes < 1024 {
		bad("vcard.max_bytes", "must be at least 1024")
	}
	if c.Private.MaxBytes < 1024 {
		bad("private.max_bytes", "must be at least 1024")
	}
	if c.Register.Interval < 0 {
		bad("register.interval", "must not be negative")
	}
	positive("register.burst", c.Register.Burst)
	if c.Register.MinPasswordLength < 1 {
		bad("register.min_password_length", "must be at least 1")
	}
	oneOf("storage.driver", c.Storage.Driver, "sqlite", "memory")
	if c.Storage.Driver == "sqlite" && c.Storage.Path == "" {
		bad("storage.path", "must not be empty")
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// checkS2S validates the s2s section; domains are prepared in place.
func (c *Config) checkS2S(profile jid.Profile, bad func(path, format string, args ...any)) {
	s := &c.S2S
	// "[]" and "{}" are the defaults.
	if len(s.SecureDomains) == 0 {
		s.SecureDomains = nil
	}
	if len(s.InsecureDomains) == 0 {
		s.InsecureDomains = nil
	}
	if len(s.CAFiles) == 0 {
		s.CAFiles = nil
	}
	if len(s.Hosts) == 0 {
		s.Hosts = nil
	}
	if len(s.DigestMD5Secrets) == 0 {
		s.DigestMD5Secrets = nil
	}
	domain := func(path, d string) string {
		p, err := profile.Domain(d)
		if err != nil {
			bad(path, "%q is not a valid domain: %v", d, err)
			return d
		}
		if slices.Contains(c.Hosts, p) {
			bad(path, "%q is one of this server's own hosts", d)
		}
		return p
	}
	hosts := map[string]string{}
	for _, d := range slices.Sorted(maps.Keys(s.Hosts)) {
		addr := s.Hosts[d]
		// Domains contain dots: errors name the section, and the domain.
		if _, port, err := net.SplitHostPort(addr); err != nil {
			bad("s2s.hosts", "%s: %q is not host:port (e.g. \"10.0.0.5:5269\")", d, addr)
		} else if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
			bad("s2s.hosts", "%s: %q has a bad port", d, addr)
		}
		hosts[domain("s2s.hosts", d)] = addr
	}
	if len(hosts) > 0 {
		s.Hosts = hosts
	}
	for i, d := range s.SecureDomains {
		s.SecureDomains[i] = domain(fmt.Sprintf("s2s.secure_domains.%d", i), d)
	}
	for i, d := range s.InsecureDomains {
		s.InsecureDomains[i] = domain(fmt.Sprintf("s2s.insecure_domains.%d", i), d)
		if slices.Contains(s.SecureDomains, s.InsecureDomains[i]) {
			bad(fmt.Sprintf("s2s.insecure_domains.%d", i), "%q is also in s2s.secure_domains", d)
		}
	}
	secrets := map[string]string{}
	for _, d := range slices.Sorted(maps.Keys(s.DigestMD5Secrets)) {
		if s.DigestMD5Secrets[d] == "" {
			bad("s2s.digest_md5_secrets", "%s: the secret must not be empty", d)
		}
		secrets[domain("s2s.digest_md5_secrets", d)] = s.DigestMD5Secrets[d]
	}
	if len(secrets) > 0 {
		s.DigestMD5Secrets = secrets
	}
	if s.DigestMD5 && len(secrets) == 0 {
		bad("s2s.digest_md5", "needs at least one entry in s2s.digest_md5_secrets")
	}
	for i, f := range s.CAFiles {
		if f == "" {
			bad(fmt.Sprintf("s2s.ca_files.%d", i), "must not be empty")
		}
	}
	for path, d := range map[string]time.Duration{
		"s2s.connect_timeout":   s.ConnectTimeout,
		"s2s.handshake_timeout": s.HandshakeTimeout,
		"s2s.idle_timeout":      s.IdleTimeout,
		"s2s.retry_delay":       s.RetryDelay,
		"s2s.max_retry_delay":   s.MaxRetryDelay,
		"s2s.close_timeout":     s.CloseTimeout,
		"s2s.write_timeout":     s.WriteTimeout,
	} {
		if d <= 0 {
			bad(path, "must be a positive duration such as 30s")
		}
	}
	if s.MaxRetryDelay < s.RetryDelay {
		bad("s2s.max_retry_delay", "must not be shorter than s2s.retry_delay")
	}
	for path, v := range map[string]int{
		"s2s.queue_size":                s.QueueSize,
		"s2s.max_links":                 s.MaxLinks,
		"s2s.max_pending_verifications": s.MaxPendingVerifications,
	} {
		if v < 1 {
			bad(path, "must be at least 1")
		}
	}
}

// checkConverseURL: an https URL of a directory, or a local directory
// with Converse.js's dist files.
func (c *Config) checkConverseURL(u string, bad func(path, format string, args ...any)) {
	if strings.Contains(u, "://") {
		p, err := url.Parse(u)
		switch {
		case err != nil || p.Scheme != "https" || p.Host == "":
			bad("http.converse_url", "%q must be an https:// URL or a local directory", u)
		case p.User != nil || p.RawQuery != "" || p.Fragment != "":
			bad("http.converse_url", "%q must be a plain https URL of a directory (no user, query or fragment)", u)
		}
		return
	}
	for _, f := range []string{"converse.min.js", "converse.min.css"} {
		if _, err := os.Stat(filepath.Join(u, f)); err != nil {
			bad("http.converse_url", "%s has no %s (give the dist directory of the converse.js package)", u, f)
			return
		}
	}
}

// Profile returns the configured JID preparation profile.
func (c *Config) Profile() jid.Profile {
	p, _ := jid.ParseProfile(c.JIDProfile)
	return p
}

// OfferedMechanisms returns the SASL mechanisms in the order offered,
// DIGEST-MD5 included when enabled.
func (c *Config) OfferedMechanisms() []string {
	ms := slices.Clone(c.SASL.Mechanisms)
	if c.SASL.DigestMD5 {
		// After the SCRAM family, before PLAIN.
		i := slices.Index(ms, sasl.PLAIN)
		if i < 0 {
			i = len(ms)
		}
		ms = slices.Insert(ms, i, sasl.DigestMD5)
	}
	return ms
}
