package xmlstream

import (
	"bytes"
	"encoding/xml"
	"io"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/starling-xmpp/starling/stanza"
)

// benchStream is a stream of a few hundred realistic stanzas with
// keepalives between some of them, and the number of stanzas in it.
var benchStream, benchStanzas = func() ([]byte, int) {
	var b strings.Builder
	b.WriteString(headC)
	n := 0
	for i := 0; n < 400; i++ {
		b.WriteString(corpus[i%len(corpus)])
		if i%7 == 0 {
			b.WriteString("\n")
		}
		n++
	}
	b.WriteString(Close)
	return []byte(b.String()), n
}()

// reportPerStanza adds allocations per stanza to a benchmark.
func reportPerStanza(b *testing.B, before *runtime.MemStats, stanzas int) {
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N*stanzas), "allocs/stanza")
}

func BenchmarkDecoder(b *testing.B) {
	d := NewDecoder(nil, Limits{})
	r := bytes.NewReader(nil)
	b.SetBytes(int64(len(benchStream)))
	b.ReportAllocs()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ResetTimer()
	for range b.N {
		r.Reset(benchStream)
		d.Reset(r)
		if _, err := d.ReadHeader(); err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			_, err := d.Next()
			if err == ErrStreamEnd {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != benchStanzas {
			b.Fatalf("%d stanzas", n)
		}
	}
	b.StopTimer()
	reportPerStanza(b, &ms, benchStanzas)
}

// BenchmarkEncodingXML reads the same stream with encoding/xml: tokens
// only, and tokens turned into the same trees.
func BenchmarkEncodingXML(b *testing.B) {
	run := func(b *testing.B, trees bool) {
		b.SetBytes(int64(len(benchStream)))
		b.ReportAllocs()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		b.ResetTimer()
		for range b.N {
			d := xml.NewDecoder(bytes.NewReader(benchStream))
			var stack []*stanza.Element
			n := 0
			for {
				tok, err := d.Token()
				if err == io.EOF {
					break
				}
				if err != nil {
					b.Fatal(err)
				}
				if !trees {
					if e, ok := tok.(xml.EndElement); ok && d.InputOffset() > 0 && len(e.Name.Local) > 0 {
						n++
					}
					continue
				}
				switch t := tok.(type) {
				case xml.StartElement:
					e := &stanza.Element{Name: oracleName(t.Name)}
					for _, a := range t.Attr {
						if a.Name.Space != "xmlns" && !(a.Name.Space == "" && a.Name.Local == "xmlns") {
							e.Attrs = append(e.Attrs, stanza.Attr{Name: stanza.Name{Space: a.Name.Space, Local: a.Name.Local}, Value: a.Value})
						}
					}
					if len(stack) > 1 {
						p := stack[len(stack)-1]
						p.Children = append(p.Children, stanza.Node{Elem: e})
					}
					stack = append(stack, e)
				case xml.EndElement:
					stack = stack[:len(stack)-1]
					if len(stack) == 1 {
						n++
					}
				case xml.CharData:
					if len(stack) > 1 {
						p := stack[len(stack)-1]
						p.Children = append(p.Children, stanza.Node{Text: string(t)})
					}
				}
			}
			if trees && n != benchStanzas {
				b.Fatalf("%d stanzas", n)
			}
		}
		b.StopTimer()
		reportPerStanza(b, &ms, benchStanzas)
	}
	b.Run("tokens", func(b *testing.B) { run(b, false) })
	b.Run("trees", func(b *testing.B) { run(b, true) })
}

// BenchmarkParse is the WebSocket path: one stanza per call.
func BenchmarkParse(b *testing.B) {
	data := make([][]byte, len(corpus))
	size := 0
	for i, s := range corpus {
		data[i] = []byte(s)
		size += len(s)
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ResetTimer()
	for range b.N {
		for _, d := range data {
			if _, err := Parse(d, stanza.NSClient, Limits{}); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	reportPerStanza(b, &ms, len(corpus))
}

func BenchmarkAppendXML(b *testing.B) {
	els := make([]*stanza.Element, len(corpus))
	size := 0
	for i, s := range corpus {
		el, err := Parse([]byte(s), stanza.NSClient, Limits{})
		if err != nil {
			b.Fatal(err)
		}
		els[i] = el
		size += len(el.AppendXML(nil, stanza.NSClient))
	}
	buf := make([]byte, 0, 4096)
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		for _, el := range els {
			buf = el.AppendXML(buf[:0], stanza.NSServer)
		}
	}
}

// BenchmarkHostileNamespaces is a stanza built to make namespace lookups
// expensive: 62 levels with 63 declarations each, then elements whose every
// name uses the outermost prefix.
func BenchmarkHostileNamespaces(b *testing.B) {
	var s strings.Builder
	for l := 0; l < 62; l++ {
		s.WriteString("<a")
		for i := 0; i < 63; i++ {
			// Same-length prefixes, so that comparisons cannot stop at
			// the length.
			s.WriteString(" xmlns:" + string(rune('A'+l%26)) + string(rune('A'+l/26)) + string(rune('A'+i%26)) + string(rune('A'+i/26)) + "='v'")
		}
		s.WriteString(">")
	}
	for s.Len() < 250<<10 {
		s.WriteString("<AAAA:x")
		for i := 0; i < 63; i++ {
			s.WriteString(" AAAA:a" + strconv.Itoa(i) + "=''")
		}
		s.WriteString("/>")
	}
	for range 62 {
		s.WriteString("</a>")
	}
	data := []byte(s.String())
	b.SetBytes(int64(len(data)))
	for range b.N {
		if _, err := Parse(data, "", Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}
