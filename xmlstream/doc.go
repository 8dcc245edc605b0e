// Package xmlstream reads and opens XMPP streams: one endless XML document,
// <stream:stream> … </stream:stream>, whose top-level children (stanzas,
// stream features, negotiation elements) are handed over one at a time, as
// soon as each is complete (RFC 6120 §4).
//
// A Decoder reads the stream header (ReadHeader), then one top-level element
// at a time (Next) as a namespace-resolved stanza.Element tree; Restart and
// Reset start a new stream after SASL and STARTTLS. Parse reads a single
// element (WebSocket framing, tests, scripts), and AppendOpen writes an
// opening stream tag. Elements are written with stanza.Element.AppendXML.
//
// # Why the tokenizer is hand-written
//
// encoding/xml would do, but not well enough for a server:
//
//   - Speed. encoding/xml reads byte by byte through an interface, returns
//     each token as an interface value and allocates for nearly every one;
//     it measured about 48 MB/s on stanza-shaped input. The Decoder parses
//     each element in one pass straight from its read buffer, with table
//     lookups and without writing to it: text and attribute values that
//     need decoding go to scratch space, and the tree is built in scratch
//     space as offsets. Once the element is complete, its elements,
//     attributes, child nodes and strings are made in one allocation
//     sized from a few shapes of real stanzas: about one allocation per
//     stanza. See BenchmarkDecoder.
//   - Restricted XML. XMPP forbids comments, processing instructions,
//     DTDs and entity references other than the five predefined ones
//     (RFC 6120 §11.1, seed 9-2); encoding/xml returns them as tokens or
//     errors that cannot be told apart from malformed input, and it accepts
//     things XML forbids (duplicate attributes, undeclared prefixes, no
//     space between attributes). The Decoder maps each problem to the
//     right stream error condition and says where it is.
//   - Streaming. A stanza may arrive in any number of reads. The parser
//     tries each element as soon as it starts; if it is incomplete, a small
//     framer scans only new bytes to find where it ends, and the parser
//     then reads it again, once. Input split into tiny pieces costs linear
//     time, and the result, errors included, does not depend on how the
//     input was split.
//   - Limits. Stanza size, nesting depth and attribute count are bounded
//     (Limits); the decoder never buffers much more than one maximal
//     stanza. An idle decoder (nothing buffered, the peer quiet) keeps a
//     512-byte buffer and no scratch space; one whose reads fill its
//     buffer borrows an 8 KiB buffer from a pool. See TestIdleMemory.
//
// encoding/xml remains the test oracle: FuzzDifferential checks that
// whatever encoding/xml reads (within XMPP's profile of XML) the Decoder
// reads to the same trees, and that the Decoder reads nothing encoding/xml
// rejects.
package xmlstream
