package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

const example = "../starling.example.yaml"

// The example file shows every default: parsing it must give exactly the
// built-in defaults.
func TestExampleIsDefaults(t *testing.T) {
	data, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(data, "starling.example.yaml")
	if err != nil {
		t.Fatalf("example does not parse: %v", err)
	}
	if want := Default(); !reflect.DeepEqual(c, want) {
		t.Errorf("example differs from defaults:\n got %+v\nwant %+v", c, want)
	}
}

// Every option of Config is documented in the example file.
func TestExampleDocumentsEveryOption(t *testing.T) {
	data, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		if n.Kind == yaml.DocumentNode {
			walk(n.Content[0], path)
			return
		}
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			p := join(path, n.Content[i].Value)
			have[p] = true
			walk(n.Content[i+1], p)
		}
	}
	walk(&root, "")
	for _, p := range optionPaths(reflect.TypeOf(Config{}), "") {
		if !have[p] && !strings.HasPrefix(p, "tls.certificates.") {
			t.Errorf("option %s is not in %s", p, example)
		}
	}
}

func optionPaths(t reflect.Type, prefix string) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		name := strings.Split(f.Tag.Get("yaml"), ",")[0]
		p := join(prefix, name)
		out = append(out, p)
		ft := f.Type
		if ft.Kind() == reflect.Slice {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct {
			out = append(out, optionPaths(ft, p)...)
		}
	}
	return out
}

func TestEmptyFileIsDefaults(t *testing.T) {
	for _, in := range []string{"", "# nothing\n", "---\n"} {
		c, err := Parse([]byte(in), "x.yaml")
		if err != nil {
			t.Fatalf("Parse(%q): %v", in, err)
		}
		if !reflect.DeepEqual(c, Default()) {
			t.Errorf("Parse(%q) is not the defaults", in)
		}
	}
}

func TestOverrides(t *testing.T) {
	c, err := Parse([]byte("hosts: [Example.COM, chat.example.org]\nc2s:\n  listen: [\"127.0.0.1:0\"]\n  handshake_timeout: 2s\nsasl:\n  digest_md5: true\n"), "x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Hosts, []string{"example.com", "chat.example.org"}; !reflect.DeepEqual(got, want) {
		t.Errorf("hosts = %v, want %v (nameprepped)", got, want)
	}
	if c.C2S.HandshakeTimeout.Seconds() != 2 {
		t.Errorf("handshake_timeout = %v, want 2s", c.C2S.HandshakeTimeout)
	}
	if got := c.C2S.DirectTLS; !reflect.DeepEqual(got, []string{":5223"}) {
		t.Errorf("direct_tls = %v, want the default kept", got)
	}
	if c.ModuleEnabled("register") || !c.ModuleEnabled("ping") {
		t.Error("module defaults wrong")
	}
	c2, err := Parse([]byte("modules:\n  version: false\n  register: true\n"), "x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c2.ModuleEnabled("version") || !c2.ModuleEnabled("register") || !c2.ModuleEnabled("ping") {
		t.Errorf("modules after override: %v", c2.Modules)
	}
	ms := c.OfferedMechanisms()
	if ms[len(ms)-1] != "PLAIN" || ms[len(ms)-2] != "DIGEST-MD5" {
		t.Errorf("offered = %v, want DIGEST-MD5 just before PLAIN", ms)
	}
}

// config check must name the bad key and its line.
func TestErrorsNameKeyAndLine(t *testing.T) {
	tests := []struct {
		name, yaml string
		line       int
		path, msg  string
	}{
		{"unknown top-level", "hosts: [a.example]\nfoo: 1\n", 2, "foo", "unknown option"},
		{"unknown nested", "c2s:\n  listen: [\":5222\"]\n  lisen: [\":1\"]\n", 3, "c2s.lisen", "unknown option"},
		{"unknown in list item", "tls:\n  certificates:\n    - cert: a.pem\n      kye: b.pem\n", 4, "tls.certificates.kye", "unknown option"},
		{"bad enum", "log:\n  level: loud\n", 2, "log.level", "not one of"},
		{"bad host", "hosts:\n  - ok.example\n  - \"bad host\"\n", 3, "hosts.1", "not a valid domain"},
		{"bad listen", "c2s:\n  listen:\n    - \"5222\"\n", 3, "c2s.listen.0", "host:port"},
		{"bad duration", "c2s:\n  close_timeout: 0s\n", 2, "c2s.close_timeout", "positive duration"},
		{"wrong type", "c2s:\n  queue_size: lots\n", 2, "", "cannot unmarshal"},
		{"3des with tls 1.3", "tls:\n  min_version: \"1.3\"\n  legacy_ciphers: true\n", 3, "tls.legacy_ciphers", "1.2"},
		{"unknown mechanism", "sasl:\n  mechanisms: [PLAIN, CRAM-MD5]\n", 2, "sasl.mechanisms.1", "not a supported mechanism"},
		{"digest listed", "sasl:\n  mechanisms: [DIGEST-MD5]\n", 2, "sasl.mechanisms.0", "digest_md5"},
		{"small stanza limit", "xml:\n  max_stanza_bytes: 100\n", 2, "xml.max_stanza_bytes", "10000"},
		{"bad driver", "storage:\n  driver: mongo\n", 2, "storage.driver", "not one of"},
		{"section not mapping", "c2s: 5\n", 1, "c2s", "section"},
		{"unknown module", "modules:\n  ping: true\n  chat: true\n", 3, "modules.chat", "unknown module"},
		{"yaml syntax", "c2s:\n  listen: [\n", 2, "", "did not find"},
		{"pprof not loopback", "pprof_listen: \"0.0.0.0:6060\"\n", 1, "pprof_listen", "not a loopback address"},
		{"pprof not host:port", "pprof_listen: \"6060\"\n", 1, "pprof_listen", "host:port"},
		{"s2s address", "s2s:\n  hosts:\n    example.net: nowhere\n", 2, "s2s.hosts", "example.net: \"nowhere\" is not host:port"},
		{"s2s own host", "hosts: [a.example]\ns2s:\n  secure_domains: [a.example]\n", 3, "s2s.secure_domains.0", "own hosts"},
		{"s2s secure and insecure", "s2s:\n  secure_domains: [b.example]\n  insecure_domains: [b.example]\n", 3, "s2s.insecure_domains.0", "also in s2s.secure_domains"},
		{"s2s digest without secrets", "s2s:\n  digest_md5: true\n", 2, "s2s.digest_md5", "digest_md5_secrets"},
		{"s2s empty secret", "s2s:\n  digest_md5_secrets:\n    b.example: \"\"\n", 2, "s2s.digest_md5_secrets", "must not be empty"},
		{"s2s retry", "s2s:\n  retry_delay: 10m\n", 1, "s2s.max_retry_delay", "shorter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml), "s.yaml")
			var errs Errors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("got %v, want config errors", err)
			}
			e := errs[0]
			if e.Line != tt.line || e.Path != tt.path || !strings.Contains(e.Msg, tt.msg) {
				t.Errorf("got line %d path %q msg %q, want line %d path %q msg containing %q", e.Line, e.Path, e.Msg, tt.line, tt.path, tt.msg)
			}
			if !strings.HasPrefix(err.Error(), "s.yaml:") {
				t.Errorf("error %q does not start with the file name", err)
			}
		})
	}
}

func TestLoadResolvesRelativePaths(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "starling.yaml")
	if err := os.WriteFile(p, []byte("data_dir: data\ntls:\n  certificates:\n    - cert: c.pem\n      key: /abs/k.pem\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.DataDir != filepath.Join(dir, "data") {
		t.Errorf("data_dir = %q", c.DataDir)
	}
	if c.TLS.Certificates[0].Cert != filepath.Join(dir, "c.pem") || c.TLS.Certificates[0].Key != "/abs/k.pem" {
		t.Errorf("certificates = %+v", c.TLS.Certificates)
	}
	if c.StoragePath() != filepath.Join(dir, "data", "starling.db") {
		t.Errorf("storage path = %q", c.StoragePath())
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Error("loading a missing file succeeded")
	}
}
