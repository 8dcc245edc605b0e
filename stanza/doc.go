// Package stanza holds the XML element tree that Starling's streams carry,
// its serialisation, and the stanza and stream errors of RFC 6120 (§8.3 and
// §4.9).
//
// An Element is a small, namespace-resolved tree: names carry their namespace
// URI, never a prefix, and the stream's content namespace ('jabber:client' or
// 'jabber:server') is written as the empty string so that a stanza can move
// between client and server streams untouched (see Name).
package stanza
