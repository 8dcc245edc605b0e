package xmlstream

import (
	"bytes"
	"errors"
	"io"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/starling-xmpp/starling/stanza"
)

func msg(i int) *stanza.Element {
	return stanza.New("", "message").SetAttr("id", strconv.Itoa(i))
}

// readAll collects what the writer writes to the other end of a pipe.
func readAll(c net.Conn) <-chan string {
	out := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(c)
		out <- string(b)
	}()
	return out
}

// waitGoroutines waits (boundedly) until at most n goroutines run.
func waitGoroutines(t *testing.T, n int) {
	t.Helper()
	for range 200 {
		if runtime.NumGoroutine() <= n {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%d goroutines, want at most %d", runtime.NumGoroutine(), n)
}

func TestWriterOrderAndClose(t *testing.T) {
	a, b := net.Pipe()
	got := readAll(b)
	w := NewWriter(a, 100, 5*time.Second, stanza.NSClient, func(err error) { t.Errorf("write failed: %v", err) })
	var want strings.Builder
	for i := range 50 {
		if ok, _ := w.Send(msg(i)); !ok {
			t.Fatalf("Send %d refused", i)
		}
		want.WriteString("<message id='" + strconv.Itoa(i) + "'/>")
	}
	if err := w.Sync(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if !w.Close(nil) || w.Close(nil) {
		t.Fatal("Close must close once")
	}
	if ok, _ := w.Send(msg(99)); ok {
		t.Fatal("Send accepted after Close")
	}
	select {
	case <-w.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed after the closing tag")
	}
	a.Close()
	s := <-got
	if want.WriteString(string(Close)); s != want.String() {
		t.Fatalf("wrote\n%s\nwant\n%s", s, want.String())
	}
}

// An idle writer keeps no goroutine: one runs only while there is
// something to write.
func TestWriterIdleHasNoGoroutine(t *testing.T) {
	base := runtime.NumGoroutine()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go io.Copy(io.Discard, b)
	ws := make([]*Writer, 20)
	for i := range ws {
		ws[i] = NewWriter(a, 10, 5*time.Second, stanza.NSClient, func(error) {})
	}
	for round := range 3 {
		for i, w := range ws {
			w.Send(msg(round*100 + i))
			if err := w.Sync(5 * time.Second); err != nil {
				t.Fatal(err)
			}
		}
		// The copier is the one goroutine this test adds.
		waitGoroutines(t, base+1)
	}
}

func TestWriterQueueBound(t *testing.T) {
	a, b := net.Pipe() // nobody reads b yet: the first write blocks
	defer b.Close()
	w := NewWriter(a, 3, 5*time.Second, stanza.NSClient, func(error) {})
	full := false
	for i := range 10 {
		if _, f := w.Send(msg(i)); f {
			full = true
			break
		}
	}
	if !full {
		t.Fatal("a writer blocked on its peer accepted 10 stanzas with room for 3 (plus one being written)")
	}
	left := make(chan []*stanza.Element, 1)
	go func() { left <- w.Stop() }()
	b.Close() // unblocks the write in progress
	select {
	case l := <-left:
		if len(l) == 0 {
			t.Fatal("Stop returned no unwritten stanzas")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Stop did not return")
	}
	a.Close()
}

type failConn struct {
	net.Conn
	writes atomic.Int32
}

func (c *failConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return 0, errors.New("broken pipe")
}
func (c *failConn) SetWriteDeadline(time.Time) error { return nil }

func TestWriterFailure(t *testing.T) {
	var fails atomic.Int32
	c := &failConn{}
	w := NewWriter(c, 10, time.Second, stanza.NSClient, func(error) { fails.Add(1) })
	w.Send(msg(1))
	select {
	case <-w.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed after a failed write")
	}
	if ok, _ := w.Send(msg(2)); ok {
		t.Fatal("Send accepted after a failed write")
	}
	if err := w.Sync(time.Second); !errors.Is(err, ErrWriterStopped) {
		t.Fatalf("Sync after failure: %v", err)
	}
	left := w.Stop()
	if len(left) != 1 || left[0].Attr("id") != "1" {
		t.Fatalf("unwritten stanzas: %v", left)
	}
	if fails.Load() != 1 || c.writes.Load() != 1 {
		t.Fatalf("onFail called %d times after %d writes, want 1 and 1", fails.Load(), c.writes.Load())
	}
}

// Many goroutines sending at once: every stanza is written exactly once.
func TestWriterConcurrentSends(t *testing.T) {
	a, b := net.Pipe()
	got := readAll(b)
	w := NewWriter(a, 10000, 5*time.Second, stanza.NSClient, func(err error) { t.Errorf("write failed: %v", err) })
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				if ok, _ := w.Send(msg(g*1000 + i)); !ok {
					t.Errorf("Send refused")
				}
				if i%50 == 0 {
					runtime.Gosched()
				}
			}
		})
	}
	wg.Wait()
	w.Close(nil)
	<-w.Done()
	a.Close()
	s := <-got
	for g := range 8 {
		for i := range 200 {
			id := []byte("id='" + strconv.Itoa(g*1000+i) + "'")
			if n := bytes.Count([]byte(s), id); n != 1 {
				t.Fatalf("%s written %d times", id, n)
			}
		}
	}
}
