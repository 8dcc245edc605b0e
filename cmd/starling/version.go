package main

import xepversion "github.com/starling-xmpp/starling/modules/version"

// version is what `starling version` prints and the server answers to
// XEP-0092 queries: one source for both. A release build sets it with
// -ldflags "-X github.com/starling-xmpp/starling/modules/version.Release=1.2.3".
func version() string { return xepversion.Software() }
