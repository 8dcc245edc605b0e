// Package disco implements XEP-0030 (Service Discovery) version 2.5.0 for
// the server and its accounts, and announces the server's XEP-0115 (Entity
// Capabilities) version 1.6.0 hash as a stream feature.
//
// Nothing here is a hand-kept list: the server's disco#info answer is the
// identities and features every module registered with the module.Host
// (module.Host.HandleIQ advertises each handler's namespace), and the
// capabilities hash is computed from that same answer the first time a
// stream asks for it, once every module has registered.
//
// Accounts (bare JIDs) are answered by the server on the user's behalf
// (XEP-0030 §3.1, §8): only the account itself and the entities it has
// granted a presence subscription to ("from" or "both") get an answer.
// Everyone else gets service-unavailable, exactly what RFC 6121 §8.5.1 has
// the server answer for an account that does not exist, so the answer
// never reveals whether an account exists (directory harvesting, XEP-0030
// §8). XEP-0030 §8 asks for an empty disco#items result in that case
// instead; since the router already answers an IQ to a missing account
// with service-unavailable, an empty result would give away exactly what
// the rule protects, so disco#items is refused like disco#info.
package disco
