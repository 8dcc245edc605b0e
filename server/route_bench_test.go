package server_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/starling-xmpp/starling/internal/testserver"
)

// rawLogin logs user in over plain TCP with PLAIN, binds resource res and
// sends initial presence, writing and reading raw XML, so that the test
// side allocates nothing once it is done.
func rawLogin(b *testing.B, addr, user, res string) net.Conn {
	b.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	header := `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>`
	var got []byte
	buf := make([]byte, 4096)
	expect := func(what string) {
		for !bytes.Contains(got, []byte(what)) {
			n, err := c.Read(buf)
			if err != nil {
				b.Fatalf("waiting for %q, got %q: %v", what, got, err)
			}
			got = append(got, buf[:n]...)
		}
		got = got[bytes.Index(got, []byte(what))+len(what):]
	}
	send := func(s string) {
		if _, err := io.WriteString(c, s); err != nil {
			b.Fatal(err)
		}
	}
	send(header)
	expect("</stream:features>")
	auth := base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00secret"))
	send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>` + auth + `</auth>`)
	expect("<success")
	send(header)
	expect("</stream:features>")
	send(`<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>` + res + `</resource></bind></iq>`)
	expect("</iq>")
	send(`<presence/>`)
	c.SetDeadline(time.Time{})
	return c
}

// BenchmarkRouteEndToEnd sends chat messages from one client to another
// through a real server over TCP: the decoder, the stream's checks, the
// router with its hooks, and the writer. The clients are raw connections
// that allocate nothing, so the allocations reported are the server's per
// message routed.
func BenchmarkRouteEndToEnd(b *testing.B) {
	srv := testserver.Start(b, "c2s:\n  allow_plaintext: true\nlog:\n  level: warn\n")
	srv.AddUser(b, "alice@localhost", "secret")
	srv.AddUser(b, "bob@localhost", "secret")
	alice := rawLogin(b, srv.Addr, "alice", "a")
	bob := rawLogin(b, srv.Addr, "bob", "b")
	// Drain anything sent after the bind (presence, nothing else
	// expected) before the timer starts.
	bob.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	io.Copy(io.Discard, bob)
	bob.SetReadDeadline(time.Time{})

	const batch = 64
	var msgs bytes.Buffer
	for i := range batch {
		fmt.Fprintf(&msgs, "<message to='bob@localhost/b' type='chat' id='m%02d'><body>hello, how are you today?</body></message>", i)
	}
	one := msgs.Len() / batch
	window := make(chan struct{}, 4) // batches in flight
	done := make(chan error, 1)
	marker := []byte("</message>")
	b.SetBytes(int64(one))
	b.ReportAllocs()
	b.ResetTimer()
	go func() {
		// Count messages at bob, carrying a partial marker across reads.
		buf := make([]byte, 64<<10)
		carry := 0
		seen := 0
		for seen < b.N {
			bob.SetReadDeadline(time.Now().Add(30 * time.Second))
			n, err := bob.Read(buf[carry:])
			if err != nil {
				done <- err
				return
			}
			data := buf[:carry+n]
			k := bytes.Count(data, marker)
			for range (seen+k)/batch - seen/batch {
				<-window
			}
			seen += k
			carry = min(len(marker)-1, len(data))
			if i := bytes.LastIndex(data, marker); i >= 0 && len(data)-i-len(marker) < carry {
				carry = len(data) - i - len(marker)
			}
			copy(buf, data[len(data)-carry:])
		}
		done <- nil
	}()
	all := msgs.Bytes()
	for sent := 0; sent < b.N; sent += batch {
		window <- struct{}{}
		k := min(batch, b.N-sent)
		alice.SetWriteDeadline(time.Now().Add(30 * time.Second))
		if _, err := alice.Write(all[:k*one]); err != nil {
			b.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}
