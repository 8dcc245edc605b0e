package xmlstream

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/starling-xmpp/starling/stanza"
)

// differentialSeeds are stanza contents that probe the places where the
// decoder and encoding/xml could part ways.
var differentialSeeds = []string{
	"",
	" \n\t",
	"<a/>",
	"<a>text</a><b x='1' y=\"2\"/>",
	"<a><![CDATA[x<y>]]>tail</a>",
	"<a>\r\nx\ry\r\r\n</a>",
	"<a v='\t\r\n x'/>",
	"<a v='&#9;&#xA;&#13;'>&#13;&#xA;</a>",
	"<a>&amp;&lt;&gt;&quot;&apos;&#x1F600;</a>",
	"<a xmlns='urn:a'><b xmlns=''><c/></b></a>",
	"<p:a xmlns:p='urn:p' p:x='1' x='2'/>",
	"<a xmlns:p='urn:p' xmlns:q='urn:p' p:x='1' q:x='2'/>",
	"<a x='1'y='2'/>",
	"<p:a/>",
	"<a:b:c/>",
	"<:a/>",
	"<a>&#xD800;</a>",
	"<a>]]></a>",
	"<a><!-- c --></a>",
	"<a><?pi x?></a>",
	"<!DOCTYPE a>",
	"text<a/>",
	"<a/></stream:stream><b/>",
	"<café xmlns='urn:x'/>",
	"<a\u0300b/>",
	"<message xmlns='jabber:client'><body xmlns='jabber:client'>x</body></message>",
	"<stream:features><x/></stream:features>",
	"<a xml:lang='en' xmlns:xml='http://www.w3.org/XML/1998/namespace'/>",
	"<a>&#99999999999;</a>",
	"<a>\xff</a>",
}

// FuzzDifferential checks the decoder against encoding/xml: whatever
// encoding/xml reads completely, without restricted constructs and within
// the XML profile, the decoder must read to the same trees; whatever the
// decoder reads, encoding/xml must read too.
func FuzzDifferential(f *testing.F) {
	for _, s := range differentialSeeds {
		f.Add([]byte(s))
	}
	for _, s := range corpus {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, content []byte) {
		want, v, why := oracle(content)
		got, err := ours(content, func(r io.Reader) io.Reader { return r })
		// io.EOF: the content left the root open (say, it opened a
		// second <stream:stream> that the appended close tag closed).
		if err != nil && condition(err) == "" && err != io.ErrUnexpectedEOF && err != io.EOF {
			t.Fatalf("error of unexpected type %T: %v", err, err)
		}
		compare := func() {
			if len(got) != len(want) {
				t.Fatalf("%d elements, encoding/xml %d", len(got), len(want))
			}
			for i := range got {
				if d := oracleDiff(got[i], want[i]); d != "" {
					t.Fatalf("element %d: %s\nours:         %s\nencoding/xml: %s", i, d, got[i], want[i])
				}
			}
		}
		switch v {
		case vAccept:
			if err != nil {
				t.Fatalf("encoding/xml accepts, the decoder says %v", err)
			}
			compare()
		case vReject:
			if err == nil {
				t.Fatalf("encoding/xml rejects (%s), the decoder accepts", why)
			}
		case vLax:
			if err == nil {
				compare()
			}
		}
	})
}

// decoderSeeds are whole streams, header included.
var decoderSeeds = []string{
	sampleStream,
	headC + "<presence/>" + Close,
	headS + "<db:result from='a' to='b'>k</db:result>" + Close,
	"<?xml version='1.0' encoding='utf-8' standalone='no'?><s:stream xmlns:s='http://etherx.jabber.org/streams'><x/></s:stream>",
	"<stream xmlns='jabber:client'/>",
	"\xFE\xFF",
	"<?xml version='1.0' encoding='latin1'?>",
	headC + "<a><b><c><d><e><f><g><h><i><j/></i></h></g></f></e></d></c></b></a>",
	headC + "<a b='1' c='2' d='3' e='4' f='5' g='6' h='7' i='8' j='9'/>",
	headC + "<a>&ent;</a>",
	headC + "<!-- x -->",
}

// FuzzDecoder feeds arbitrary bytes, header included, to a decoder with
// small limits: it must not panic, must stay within its limits, must return
// only stream errors or read errors, must give the same results however the
// input is split, and what it accepts must survive AppendXML and Parse.
func FuzzDecoder(f *testing.F) {
	for _, s := range decoderSeeds {
		f.Add([]byte(s))
	}
	for _, s := range corpus {
		f.Add([]byte(headC + s + Close))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		lim := Limits{MaxStanzaBytes: 1024, MaxDepth: 8, MaxAttrs: 8, StrictEscaping: len(data)%2 == 1}
		whole := fuzzDecode(t, bytes.NewReader(data), lim)
		if one := fuzzDecode(t, iotest.OneByteReader(bytes.NewReader(data)), lim); !sameResult(whole, one) {
			t.Fatalf("one byte at a time: %d elements, %v; all at once: %d elements, %v",
				len(one.els), one.err, len(whole.els), whole.err)
		}
		if whole.hdr == nil {
			return
		}
		ns := whole.hdr.DefaultNS
		big := Limits{MaxStanzaBytes: 1 << 30, MaxDepth: 1 << 30, MaxAttrs: 1 << 30}
		for _, el := range whole.els {
			if msg := checkShape(el, lim, 1); msg != "" {
				t.Fatal(msg)
			}
			out := el.AppendXML(nil, ns)
			back, err := Parse(out, ns, big)
			if err != nil {
				t.Fatalf("reparse: %v\n%s", err, out)
			}
			if d := treeDiff(el, back); d != "" {
				t.Fatalf("round trip: %s\n%s", d, out)
			}
		}
	})
}

// fuzzDecode is decodeAll with checks on errors and buffer size.
func fuzzDecode(t *testing.T, r io.Reader, lim Limits) result {
	d := NewDecoder(r, lim)
	maxBuf := lim.MaxStanzaBytes + idleBufSize
	check := func(err error) {
		t.Helper()
		if len(d.buf) > maxBuf {
			t.Fatalf("buffer grew to %d bytes", len(d.buf))
		}
		if err == nil || err == ErrStreamEnd || err == io.EOF || err == io.ErrUnexpectedEOF {
			return
		}
		var se *stanza.StreamError
		if !errors.As(err, &se) {
			t.Fatalf("error of unexpected type %T: %v", err, err)
		}
	}
	h, err := d.ReadHeader()
	check(err)
	if err != nil {
		return result{err: err}
	}
	res := result{hdr: h}
	for {
		el, err := d.Next()
		check(err)
		if err != nil {
			res.err = err
			return res
		}
		res.els = append(res.els, el)
	}
}
