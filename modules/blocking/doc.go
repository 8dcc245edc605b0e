// Package blocking implements XEP-0191 (Blocking Command), version 1.3
// (2015-03-12), for the server: a user keeps a list of blocked JIDs, reads
// it with <blocklist/>, changes it with <block/> and <unblock/> (an empty
// <unblock/> clears it), and every resource that has read the list is sent
// the change as an IQ push.
//
// A block is enforced in routing, as XEP-0191 §3.3 says and XEP-0016
// ("Blocked Entity Attempts to Communicate with User") details:
//
//   - from a blocked entity to the user: presence is dropped silently;
//     messages of type normal or chat (or groupchat, or unknown types) are
//     answered with <service-unavailable/>, headlines and errors are dropped;
//     IQ gets and sets are answered with <service-unavailable/>, results and
//     errors dropped. The user appears offline.
//   - from the user to a blocked entity: the stanza is not routed and the
//     client gets <not-acceptable/> with the <blocked/> condition of
//     urn:xmpp:blocking:errors; errors and IQ results are dropped silently.
//     Stanzas the server generates on the user's behalf (presence broadcasts,
//     probe answers) do not reach a blocked entity either, except the
//     unsubscribe and unsubscribed presence that removing the entity from
//     the roster sends, which keep its roster consistent.
//
// Traffic between the resources of one account is never blocked (XEP-0191
// §4, note). Items match as XEP-0191 §5 (and XEP-0016 §2.1) orders: a full
// JID matches only itself, a bare JID any of its resources, domain/resource
// only itself, and a domain the domain, every user of it and every resource.
//
// When the user blocks an entity that may see the user's presence (a
// subscription of type from or both), each available resource sends it
// unavailable presence; when the user unblocks one, each available resource
// sends it presence again.
//
// The lists live in the store's "blocklist" key-value map, one key per
// blocked JID. The lists of accounts with bound sessions are cached in
// memory; those of other accounts read lately (the inbound hook reads the
// recipient's list for every stanza) are kept for at most a minute.
package blocking
