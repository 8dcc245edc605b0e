package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/starling-xmpp/starling/client"
	"github.com/starling-xmpp/starling/internal/testserver"
)

// TestUserAddBulk creates 2000 accounts with `starling user add --bulk`
// in the database of a running server, then logs in as two of them.
func TestUserAddBulk(t *testing.T) {
	yaml := fmt.Sprintf("hosts: [localhost]\ndata_dir: %q\nstorage:\n  driver: sqlite\nsasl:\n  scram_iterations: 4096\n", filepath.Join(t.TempDir(), "data"))
	cfg := writeConfig(t, yaml)
	srv := testserver.Start(t, yaml)
	srv.AddUser(t, "user7@localhost", "own-pw") // exists before: skipped

	add := func(stdin string, args ...string) (int, string, string) {
		return starling(t, stdin, append([]string{"user", "add", "-c", cfg}, args...)...)
	}
	code, out, errOut := add("bulk-pw\n", "--bulk", "--count", "2000", "user%d@localhost")
	if code != 0 || !strings.Contains(out, "created 1999 accounts, skipped 1 that existed") {
		t.Fatalf("bulk add: exit %d, %q %q", code, out, errOut)
	}
	if strings.Contains(out+errOut, "bulk-pw") {
		t.Error("the password was printed")
	}
	code, out, errOut = add("bulk-pw\n", "--bulk", "--start", "1991", "--count", "20", "User%d@LocalHost")
	if code != 0 || !strings.Contains(out, "created 10 accounts, skipped 10 that existed") {
		t.Errorf("overlapping bulk add: exit %d, %q %q", code, out, errOut)
	}
	if code, out, _ := starling(t, "", "user", "list", "-c", cfg); code != 0 || strings.Count(out, "\n") != 2010 {
		t.Errorf("user list: exit %d, %d lines; want 2010", code, strings.Count(out, "\n"))
	}

	srv.Login(t, "user1@localhost", "bulk-pw")
	srv.Login(t, "user2010@localhost", "bulk-pw")
	srv.Login(t, "user7@localhost", "own-pw")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if c, err := client.Dial(ctx, srv.ClientConfig(t, "user2@localhost", "wrong")); err == nil {
		c.CloseTimeout(time.Second)
		t.Error("a wrong password logged in")
	}
	if c, err := client.Dial(ctx, srv.ClientConfig(t, "user2011@localhost", "bulk-pw")); err == nil {
		c.CloseTimeout(time.Second)
		t.Error("an account past the range logged in")
	}
}

func TestUserAddBulkRefuses(t *testing.T) {
	cfg := writeConfig(t, fmt.Sprintf("hosts: [localhost]\ndata_dir: %q\nsasl:\n  scram_iterations: 4096\n", t.TempDir()))
	for _, tt := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"--bulk", "--count", "5", "user@localhost"}, 1, "exactly one %d"},
		{[]string{"--bulk", "--count", "5", "user%d%d@localhost"}, 1, "exactly one %d"},
		{[]string{"--bulk", "--count", "5", "user@local%dhost"}, 1, "exactly one %d"},
		{[]string{"--bulk", "--count", "0", "user%d@localhost"}, 1, "count must be"},
		{[]string{"--bulk", "--count", "10000001", "user%d@localhost"}, 1, "count must be"},
		{[]string{"--bulk", "--start", "-1", "--count", "5", "user%d@localhost"}, 1, "count must be"},
		{[]string{"--bulk", "--count", "5", "user%d@elsewhere.test"}, 1, "not served"},
		{[]string{"--bulk", "--count", "5"}, 2, "--bulk --count N"},
		{[]string{"--count", "5", "user%d@localhost"}, 2, "need --bulk"},
	} {
		code, _, errOut := starling(t, "pw\n", append([]string{"user", "add", "-c", cfg}, tt.args...)...)
		if code != tt.code || !strings.Contains(errOut, tt.out) {
			t.Errorf("user add %s: exit %d, %q; want exit %d and %q", strings.Join(tt.args, " "), code, errOut, tt.code, tt.out)
		}
	}
	// Nothing was asked or created.
	if code, out, _ := starling(t, "", "user", "list", "-c", cfg); code != 0 || out != "" {
		t.Errorf("user list after refusals: exit %d, %q", code, out)
	}
	if code, _, errOut := starling(t, "", "user", "add", "-c", cfg, "--bulk", "--count", "5", "user%d@localhost"); code != 1 || !strings.Contains(errOut, "no password") {
		t.Errorf("no password: exit %d, %q", code, errOut)
	}
}
