// Package interop holds Starling's tests against real third-party XMPP
// software (clients now, servers later). Each test looks for its tool and
// skips with a message saying how to install it when it is missing; the
// README's test command installs them.
package interop
