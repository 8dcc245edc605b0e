package netutil

import "net"

// FreePorts returns n distinct TCP ports that were free on 127.0.0.1 (all
// held open together, so they differ), for tests and tools that must
// tell another program which ports to listen on. Another process may take
// a port before it is used: callers retry on a clash.
func FreePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
