package xmlstream

import (
	"errors"
	"net"
	"sync"
	"time"

	"github.com/starling-xmpp/starling/stanza"
)

// Writer owns the write side of a stream's connection: a bounded queue
// drained by one goroutine, which serialises whatever is waiting and writes
// it in a single call under a deadline. Nothing ever blocks on a slow peer
// except this goroutine. Client and server streams both use it.
//
// The goroutine runs only while there is something to write: it starts when
// the queue gets its first item and exits when the queue is empty, and the
// serialisation buffer is borrowed from a pool for each batch. An idle
// connection therefore costs neither a goroutine stack nor a buffer here.
type Writer struct {
	mu      sync.Mutex
	conn    net.Conn
	queue   []item
	pending int  // stanzas in queue (raw bytes and barriers are not counted)
	max     int  // bound on pending
	closed  bool // the final item (our closing tag) is queued: accept nothing more
	stopped bool // writing has ended for good (Done is or is about to be closed)
	running bool // a goroutine is draining the queue
	wg      sync.WaitGroup
	done    chan struct{} // closed when writing has ended (Done)
	endOnce sync.Once
	timeout time.Duration
	onFail  func(error) // write error; called once, from the writer goroutine
	left    []*stanza.Element
	ns      string // the stream's content namespace
	framing Framing
}

// Framing says how a Writer puts a stream on a transport that carries
// messages rather than bytes. The zero value is a TCP byte stream.
type Framing struct {
	// PerItem writes each header, element and closing tag with a Write
	// call of its own: one WebSocket message each (RFC 7395 §3.3.3).
	PerItem bool
	// Standalone serialises each element with its own namespace
	// declarations (stanza.Element.AppendStandalone).
	Standalone bool
	// Close replaces the closing stream tag, e.g. RFC 7395's <close/>.
	Close []byte
}

// SetFraming sets the framing; call it before anything is queued.
func (w *Writer) SetFraming(f Framing) {
	w.mu.Lock()
	w.framing = f
	w.mu.Unlock()
}

type item struct {
	el      *stanza.Element
	raw     []byte
	final   bool          // append </stream:stream>, write, then stop
	barrier chan struct{} // closed once everything queued before it is written
}

// ErrWriterStopped: the writer is gone (the connection failed or closed).
var ErrWriterStopped = errors.New("xmlstream: connection closed")

// NewWriter returns the writer for conn. At most max stanzas wait in the
// queue; each write must finish within timeout; contentNS is the stream's
// default namespace (stanza.NSClient or stanza.NSServer); onFail is called
// once, from the writer goroutine, when a write fails.
func NewWriter(conn net.Conn, max int, timeout time.Duration, contentNS string, onFail func(error)) *Writer {
	return &Writer{
		ns:      contentNS,
		conn:    conn,
		max:     max,
		done:    make(chan struct{}),
		timeout: timeout,
		onFail:  onFail,
	}
}

// push queues it and starts the goroutine if none is running. w.mu is
// held.
func (w *Writer) push(it item) {
	w.queue = append(w.queue, it)
	if !w.running {
		w.running = true
		w.wg.Add(1)
		go w.run()
	}
}

// end marks writing as ended for good and closes Done. w.mu is held.
func (w *Writer) end() {
	w.stopped = true
	w.endOnce.Do(func() { close(w.done) })
}

// Send queues a stanza. It returns false, queuing nothing, once the stream
// is closing or when max stanzas are already waiting (full is then true).
func (w *Writer) Send(el *stanza.Element) (ok, full bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed || w.stopped {
		return false, false
	}
	if w.pending >= w.max {
		return false, true
	}
	w.pending++
	w.push(item{el: el})
	return true, false
}

// SendRaw queues bytes that are already serialised (a stream header).
func (w *Writer) SendRaw(b []byte) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed || w.stopped {
		return false
	}
	w.push(item{raw: b})
	return true
}

// Close queues the end of our stream: an optional last element (a stream
// error) and the closing tag. After it nothing more is written (seed 3.5-3).
// It reports whether this call closed the stream.
func (w *Writer) Close(last *stanza.Element) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed || w.stopped {
		return false
	}
	w.closed = true
	if last != nil {
		w.push(item{el: last})
	}
	w.push(item{final: true})
	return true
}

// Closed reports whether our closing tag is queued or written.
func (w *Writer) Closed() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.closed || w.stopped
}

// Sync waits until everything queued so far has been written.
func (w *Writer) Sync(timeout time.Duration) error {
	ch := make(chan struct{})
	w.mu.Lock()
	if w.stopped {
		w.mu.Unlock()
		return ErrWriterStopped
	}
	w.push(item{barrier: ch})
	w.mu.Unlock()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-ch:
		return nil
	case <-w.done:
		return ErrWriterStopped
	case <-t.C:
		return errors.New("xmlstream: write timed out")
	}
}

// SetConn switches the transport (after STARTTLS). The queue must be empty.
func (w *Writer) SetConn(c net.Conn) {
	w.mu.Lock()
	w.conn = c
	w.mu.Unlock()
}

// Stop ends writing without writing what is left (waiting for a write in
// progress to finish or time out), and returns the stanzas that were never
// written.
func (w *Writer) Stop() []*stanza.Element {
	w.mu.Lock()
	w.stopped = true
	w.mu.Unlock()
	w.wg.Wait() // no goroutine starts once stopped is set
	w.mu.Lock()
	defer w.mu.Unlock()
	w.end()
	left := w.left
	for _, it := range w.queue {
		if it.el != nil && stanza.IsStanza(it.el) {
			left = append(left, it.el)
		}
	}
	w.queue, w.left = nil, nil
	return left
}

// bufs holds serialisation buffers between batches.
var bufs = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledBuf is the largest buffer kept for reuse.
const maxPooledBuf = 64 << 10

// run drains the queue, batch by batch, and exits when it is empty.
func (w *Writer) run() {
	defer w.wg.Done()
	bp := bufs.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= maxPooledBuf {
			*bp = (*bp)[:0]
			bufs.Put(bp)
		}
	}()
	var ends []int // with PerItem: where each item's bytes end
	for {
		w.mu.Lock()
		if w.stopped || len(w.queue) == 0 {
			w.running = false
			w.mu.Unlock()
			return
		}
		batch := w.queue
		w.queue = nil
		w.pending = 0
		conn := w.conn
		f := w.framing
		w.mu.Unlock()

		final := false
		var barriers []chan struct{}
		buf := (*bp)[:0]
		ends = ends[:0]
		for _, it := range batch {
			switch {
			case it.final:
				if f.Close != nil {
					buf = append(buf, f.Close...)
				} else {
					buf = append(buf, Close...)
				}
				final = true
			case it.barrier != nil:
				barriers = append(barriers, it.barrier)
				continue
			case it.raw != nil:
				buf = append(buf, it.raw...)
			case f.Standalone:
				buf = it.el.AppendStandalone(buf, w.ns)
			default:
				buf = it.el.AppendXML(buf, w.ns)
			}
			if f.PerItem {
				ends = append(ends, len(buf))
			}
		}
		*bp = buf
		if len(buf) > 0 {
			conn.SetWriteDeadline(time.Now().Add(w.timeout))
			var err error
			if f.PerItem {
				start := 0
				for _, end := range ends {
					if _, err = conn.Write(buf[start:end]); err != nil {
						break
					}
					start = end
				}
			} else {
				_, err = conn.Write(buf)
			}
			if err != nil {
				w.mu.Lock()
				for _, it := range batch {
					if it.el != nil && stanza.IsStanza(it.el) {
						w.left = append(w.left, it.el)
					}
				}
				w.running = false
				w.stopped = true
				w.mu.Unlock()
				w.onFail(err)
				w.mu.Lock()
				w.end()
				w.mu.Unlock()
				return
			}
		}
		for _, b := range barriers {
			close(b)
		}
		if final {
			w.mu.Lock()
			w.running = false
			w.end()
			w.mu.Unlock()
			return
		}
	}
}

// Done is closed when writing has ended: after the closing tag was
// written, a write failed, or Stop.
func (w *Writer) Done() <-chan struct{} { return w.done }
