// Package register is in-band registration, XEP-0077 version 2.4
// (2012-01-25), in the server role: clients create an account before they
// authenticate, and change their password or remove their account after.
//
// The module is called "register" in the configuration and is off by
// default: anyone who can connect may create accounts. When it is on:
//
//   - Streams that have not authenticated, and on which credentials may be
//     sent (TLS is on, or c2s.allow_plaintext), advertise the stream feature
//     <register xmlns='http://jabber.org/features/iq-register'/> (§8) and
//     answer jabber:iq:register IQs: a get returns the fields to fill in
//     (username and password, §3.1); a set with both creates the account on
//     the stream's host.
//   - Account creation is limited per remote IP address to one every
//     register.interval after a burst of register.burst. Past the limit the
//     request fails with <policy-violation/> of type wait: a local policy
//     refuses it and the same request will succeed later (RFC 6120
//     §8.3.3.12). <resource-constraint/> (§8.3.3.18) is kept for its own
//     meaning, a server that cannot take the request: it is returned when
//     too many addresses are being tracked at once.
//   - Authenticated clients send jabber:iq:register to their own account or
//     to the server: a get answers <registered/> with the username (§3.1), a
//     set with username and password changes the password (§3.3), and a set
//     with <remove/> deletes the account, answers, and then ends every
//     stream of the account with a <not-authorized/> stream error (§3.2).
//
// Errors (RFC 6120 §8.3.3 conditions):
//
//   - registration, a field missing or empty: <not-acceptable/> (§3.1);
//   - registration, the username is taken: <conflict/> (§3.1);
//   - a username that is not a valid localpart under the server's JID
//     profile: <jid-malformed/>, the condition RFC 6120 §8.3.3.8 gives for
//     an address, or a part of one, that violates the address rules;
//   - a password shorter than register.min_password_length, or one that
//     SASLprep refuses: <not-acceptable/>, with a text that says why;
//   - <remove/> before authentication: <unexpected-request/> (§3.2);
//   - <remove/> with other children: <bad-request/> (§3.2);
//   - a password change without a username or with an empty password:
//     <bad-request/>, and the old password stays (§3.3);
//   - a password change for another user's name: <forbidden/>.
//
// No error echoes a password: the password's text is removed from the
// request before it is echoed in an error reply (§3.3 asks that password
// changes not be echoed; registration gets the same care). Passwords are
// never logged.
//
// Not implemented: data forms (XEP-0004) in the registration form, which
// §4 recommends but does not require, and the obsolete <key/> element (§7).
package register
