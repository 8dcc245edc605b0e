package server_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/starling-xmpp/starling/internal/testserver"
)

// pprof_listen serves Go's profiler, and shutting the server down closes
// it.
func TestPprofListen(t *testing.T) {
	srv := testserver.Start(t, "pprof_listen: \"127.0.0.1:0\"\n")
	addr := srv.PprofAddr()
	if addr == nil {
		t.Fatal("no profiler address")
	}
	url := "http://" + addr.String() + "/debug/pprof/cmdline"
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), ".test") {
		t.Fatalf("GET cmdline: %s %q", res.Status, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Timeout: 2 * time.Second}
	if res, err := c.Get(url); err == nil {
		res.Body.Close()
		t.Fatal("the profiler still answers after shutdown")
	}
}

// Off by default.
func TestPprofOffByDefault(t *testing.T) {
	if srv := testserver.Start(t, ""); srv.PprofAddr() != nil {
		t.Fatalf("profiler listening on %v without pprof_listen", srv.PprofAddr())
	}
}
