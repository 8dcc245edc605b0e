package xmlstream

import (
	"errors"
	"io"
	"strconv"
	"strings"

	"github.com/starling-xmpp/starling/stanza"
)

// headC and headS are ordinary stream headers for tests.
const (
	headC = "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0'>"
	headS = "<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' to='example.net' from='example.com' version='1.0'>"
)

// result is everything a decoder produced for one input.
type result struct {
	hdr *Header
	els []*stanza.Element
	err error // the error that stopped decoding (ErrStreamEnd at a clean end)
}

func decodeAll(r io.Reader, lim Limits) result {
	d := NewDecoder(r, lim)
	h, err := d.ReadHeader()
	if err != nil {
		return result{err: err}
	}
	res := result{hdr: h}
	for {
		el, err := d.Next()
		if err != nil {
			res.err = err
			return res
		}
		res.els = append(res.els, el)
	}
}

func decodeString(s string, lim Limits) result { return decodeAll(strings.NewReader(s), lim) }

// condition returns the stream error condition of err, or "".
func condition(err error) stanza.StreamCondition {
	var se *stanza.StreamError
	if errors.As(err, &se) {
		return se.Condition
	}
	return ""
}

// chunkReader returns its data in reads of the given sizes, cycling.
type chunkReader struct {
	data  []byte
	sizes []int
	k     int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := r.sizes[r.k%len(r.sizes)]
	r.k++
	n = min(n, len(p), len(r.data))
	copy(p, r.data[:n])
	r.data = r.data[n:]
	return n, nil
}

// splitReader returns data in two reads, split at n.
func splitReader(data []byte, n int) io.Reader {
	return &chunkReader{data: data, sizes: []int{n, len(data)}}
}

// treeDiff describes the first difference between two trees, or returns ""
// if they are equal (attributes compared in order).
func treeDiff(a, b *stanza.Element) string {
	return diffAt("", a, b)
}

func diffAt(path string, a, b *stanza.Element) string {
	if a == nil || b == nil {
		if a == b {
			return ""
		}
		return path + ": one element is nil"
	}
	path += "/" + a.Name.Local
	if a.Name != b.Name {
		return path + ": name " + nameString(a.Name) + " != " + nameString(b.Name)
	}
	if len(a.Attrs) != len(b.Attrs) {
		return path + ": " + strconv.Itoa(len(a.Attrs)) + " attributes != " + strconv.Itoa(len(b.Attrs))
	}
	for i := range a.Attrs {
		if a.Attrs[i] != b.Attrs[i] {
			return path + ": attribute " + attrString(a.Attrs[i]) + " != " + attrString(b.Attrs[i])
		}
	}
	if len(a.Children) != len(b.Children) {
		return path + ": " + strconv.Itoa(len(a.Children)) + " children != " + strconv.Itoa(len(b.Children))
	}
	for i := range a.Children {
		ca, cb := a.Children[i], b.Children[i]
		if (ca.Elem == nil) != (cb.Elem == nil) {
			return path + ": child " + strconv.Itoa(i) + " is text in one tree only"
		}
		if ca.Elem == nil {
			if ca.Text != cb.Text {
				return path + ": text " + strconv.Quote(ca.Text) + " != " + strconv.Quote(cb.Text)
			}
			continue
		}
		if d := diffAt(path, ca.Elem, cb.Elem); d != "" {
			return d
		}
	}
	return ""
}

func nameString(n stanza.Name) string { return "{" + n.Space + "}" + n.Local }

func attrString(a stanza.Attr) string { return nameString(a.Name) + "=" + strconv.Quote(a.Value) }

// checkShape verifies the decoder's structural promises about a tree:
// no empty text nodes, no two text nodes in a row, depth and attribute
// counts within limits. It returns "" if all is well.
func checkShape(e *stanza.Element, lim Limits, depth int) string {
	lim = lim.withDefaults()
	if depth > lim.MaxDepth {
		return "element " + e.Name.Local + " deeper than MaxDepth"
	}
	if len(e.Attrs) > lim.MaxAttrs {
		return "element " + e.Name.Local + " has more than MaxAttrs attributes"
	}
	prevText := false
	for _, n := range e.Children {
		if n.Elem == nil {
			if n.Text == "" {
				return "empty text node in " + e.Name.Local
			}
			if prevText {
				return "adjacent text nodes in " + e.Name.Local
			}
			prevText = true
			continue
		}
		prevText = false
		if s := checkShape(n.Elem, lim, depth+1); s != "" {
			return s
		}
	}
	return ""
}

func stringsReader(s string) io.Reader { return strings.NewReader(s) }
