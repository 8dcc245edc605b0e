// Package interop holds Starling's tests against real third-party XMPP
// software: slixmpp clients, and Debian's Prosody as a federation peer
// (prosody.go runs it on loopback, steered to Starling through an in-test
// DNS server). Each test looks for its tool and skips with a message saying
// how to install it when it is missing; the README's test command installs
// them.
package interop
