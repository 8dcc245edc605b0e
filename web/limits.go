package web

import (
	"net"
	"net/http"
	"net/netip"
	"sync"
)

// sessions counts the web sessions (WebSocket streams, BOSH sessions) of
// each client address, for http.max_sessions_per_ip.
type sessions struct {
	mu    sync.Mutex
	perIP map[netip.Addr]int
}

// acquire takes a session slot for client, or reports false when it holds
// max already.
func (s *sessions) acquire(client net.Addr, max int) bool {
	ip := addrIP(client)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perIP == nil {
		s.perIP = map[netip.Addr]int{}
	}
	if s.perIP[ip] >= max {
		return false
	}
	s.perIP[ip]++
	return true
}

// release gives a slot back.
func (s *sessions) release(client net.Addr) {
	ip := addrIP(client)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perIP[ip] <= 1 {
		delete(s.perIP, ip)
	} else {
		s.perIP[ip]--
	}
}

func addrIP(a net.Addr) netip.Addr {
	if t, ok := a.(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(t.IP); ok {
			return ip.Unmap()
		}
	}
	return netip.Addr{}
}

// tooMany answers a client over its session limit.
func tooMany(w http.ResponseWriter) {
	w.Header().Set("Retry-After", "30")
	http.Error(w, "too many sessions from this address", http.StatusTooManyRequests)
}
