package bench

import (
	"net"
	"testing"
)

// TestLocalAddrs: a server on an IPv4 loopback address gets connections
// from 127.0.0.1 (the system's choice), 127.0.0.2... one address per
// ConnectionsPerLocalAddr; any other server from the system's choice.
func TestLocalAddrs(t *testing.T) {
	for _, tc := range []struct {
		addr string
		n    int
		want []string
	}{
		{"127.0.0.1:5222", 1000, []string{"<nil>"}},
		{"127.0.0.1:5222", ConnectionsPerLocalAddr, []string{"<nil>"}},
		{"127.0.0.1:5222", ConnectionsPerLocalAddr + 1, []string{"<nil>", "127.0.0.2:0"}},
		{"127.0.0.5:5222", 3*ConnectionsPerLocalAddr + 5, []string{"<nil>", "127.0.0.2:0", "127.0.0.3:0", "127.0.0.4:0"}},
		{"[::1]:5222", 100_000, []string{"<nil>"}},
		{"192.0.2.1:5222", 100_000, []string{"<nil>"}},
		{"localhost:5222", 100_000, []string{"<nil>"}},
	} {
		got := localAddrs(tc.addr, tc.n)
		var s []string
		for _, a := range got {
			if a == nil {
				s = append(s, "<nil>")
			} else {
				s = append(s, a.(*net.TCPAddr).String())
			}
		}
		if len(s) != len(tc.want) {
			t.Errorf("localAddrs(%q, %d) = %v, want %v", tc.addr, tc.n, s, tc.want)
			continue
		}
		for i := range s {
			if s[i] != tc.want[i] {
				t.Errorf("localAddrs(%q, %d) = %v, want %v", tc.addr, tc.n, s, tc.want)
				break
			}
		}
	}
}
