package server

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/starling-xmpp/starling/s2s"
)

// The admin socket: a Unix socket, mode 0600, on which the running server
// answers one command per connection (a line such as "s2s list") with one
// JSON document. `starling s2s list` is its client.

// AdminReply is the answer to an admin command.
type AdminReply struct {
	Error string `json:"error,omitempty"`
	// Links answers "s2s list".
	Links []s2s.LinkInfo `json:"links,omitempty"`
}

// listenAdmin opens the admin socket, replacing a stale one left by a
// server that did not stop cleanly (but never one a running server
// answers on).
func listenAdmin(path string) (net.Listener, error) {
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("admin socket %s: another server is running", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	// Created under a umask that keeps others out, then made 0600.
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	return ln, nil
}

// serveAdmin answers admin connections until the listener closes.
func (s *Server) serveAdmin(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go s.adminConn(c)
	}
}

func (s *Server) adminConn(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(io.LimitReader(c, 1024)).ReadString('\n')
	if err != nil {
		return
	}
	reply := s.Admin(context.Background(), strings.TrimSpace(line))
	json.NewEncoder(c).Encode(reply)
}

// Admin runs one admin command.
func (s *Server) Admin(_ context.Context, cmd string) AdminReply {
	switch strings.Join(strings.Fields(cmd), " ") {
	case "s2s list":
		if s.s2s == nil {
			return AdminReply{Error: "federation is off (s2s.enabled: false)"}
		}
		links := s.s2s.Links()
		if links == nil {
			links = []s2s.LinkInfo{}
		}
		return AdminReply{Links: links}
	}
	return AdminReply{Error: fmt.Sprintf("unknown command %q (known: s2s list)", cmd)}
}

// AdminCommand sends cmd to the server listening on the admin socket at
// path and returns its answer.
func AdminCommand(ctx context.Context, path, cmd string) (AdminReply, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return AdminReply{}, fmt.Errorf("cannot reach the server's admin socket %s (is `starling serve` running with this configuration?): %w", path, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, cmd+"\n"); err != nil {
		return AdminReply{}, err
	}
	var r AdminReply
	if err := json.NewDecoder(c).Decode(&r); err != nil {
		return AdminReply{}, fmt.Errorf("admin socket: %w", err)
	}
	if r.Error != "" {
		return r, errors.New(r.Error)
	}
	return r, nil
}
