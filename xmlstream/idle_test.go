package xmlstream

import (
	"io"
	"os"
	"runtime"
	"strings"
	"testing"
)

// burstReader serves bursts of data: within a burst it fills every read,
// as a socket with data waiting does; between bursts it fails once with
// a timeout, as a read deadline does while the peer is quiet.
type burstReader struct {
	bursts []string
	pause  bool
}

func (r *burstReader) Read(p []byte) (int, error) {
	for len(r.bursts) > 0 && r.bursts[0] == "" {
		r.bursts = r.bursts[1:]
		if r.pause {
			r.pause = false
			return 0, os.ErrDeadlineExceeded
		}
	}
	if len(r.bursts) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.bursts[0])
	r.bursts[0] = r.bursts[0][n:]
	if r.bursts[0] == "" {
		r.bursts[0] = "" // keep nothing alive
		r.pause = true
	}
	return n, nil
}

// stanzas returns n stanzas of the corpus, and how many they are.
func stanzas(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString(corpus[i%len(corpus)])
	}
	return b.String()
}

// idleDecoder returns a decoder that has read a busy burst of stanzas,
// then a large one, then a few small ones, and is now waiting for input.
func idleDecoder(t testing.TB) *Decoder {
	big := "<message><body>" + strings.Repeat("x", 100<<10) + "</body></message>"
	r := &burstReader{bursts: []string{headC + stanzas(200), "", big, "", "<presence/>", "", "<r xmlns='urn:xmpp:sm:3'/>", "", "", ""}}
	d := NewDecoder(r, Limits{})
	if _, err := d.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	for n := 0; n < 203; {
		_, err := d.Next()
		if err == os.ErrDeadlineExceeded {
			continue
		}
		if err != nil {
			t.Fatal(n, err)
		}
		n++
	}
	if _, err := d.Next(); err != os.ErrDeadlineExceeded {
		t.Fatalf("got %v, want a timeout", err)
	}
	return d
}

// An idle decoder holds its 512-byte buffer and no scratch space; a busy
// one gets a bigger buffer while its reads fill it.
func TestIdleBuffer(t *testing.T) {
	d := NewDecoder(strings.NewReader(headC+stanzas(100)), Limits{})
	if len(d.buf) != idleBufSize {
		t.Errorf("new decoder holds %d bytes", len(d.buf))
	}
	if _, err := d.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if _, err := d.Next(); err != nil {
			t.Fatal(err)
		}
	}
	if len(d.buf) != busyBufSize {
		t.Errorf("busy decoder has a %d-byte buffer", len(d.buf))
	}
	d = idleDecoder(t)
	if len(d.buf) != idleBufSize || d.p.scratch != nil {
		t.Errorf("idle decoder holds a %d-byte buffer and scratch %v", len(d.buf), d.p.scratch != nil)
	}
}

// TestIdleMemory measures what an idle decoder keeps on the heap, the
// Decoder itself included.
func TestIdleMemory(t *testing.T) {
	const n = 500
	ds := make([]*Decoder, n)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range ds {
		ds[i] = idleDecoder(t)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / n
	t.Logf("an idle decoder holds %d bytes", per)
	if per > 2048 {
		t.Errorf("an idle decoder holds %d bytes", per)
	}
	runtime.KeepAlive(ds)
}
