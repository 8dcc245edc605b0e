package sasl

import (
	"encoding/base64"
	"errors"
)

// The SASL failure conditions of RFC 6120 §6.5, all of them. The c2s code
// sends the condition as the child element of <failure/>.
const (
	// Aborted: the client aborted the exchange (§6.5.1).
	Aborted = "aborted"
	// AccountDisabled: the account is temporarily disabled (§6.5.2).
	AccountDisabled = "account-disabled"
	// CredentialsExpired: the credentials have expired (§6.5.3).
	CredentialsExpired = "credentials-expired"
	// EncryptionRequired: the mechanism needs an encrypted stream (§6.5.4).
	EncryptionRequired = "encryption-required"
	// IncorrectEncoding: the base64 data was invalid (§6.5.5).
	IncorrectEncoding = "incorrect-encoding"
	// InvalidAuthzid: the authorization identity is invalid or not
	// permitted for the authenticated user (§6.5.6).
	InvalidAuthzid = "invalid-authzid"
	// InvalidMechanism: the mechanism is not supported (§6.5.7).
	InvalidMechanism = "invalid-mechanism"
	// MalformedRequest: the request violates the mechanism's syntax or
	// protocol (§6.5.8).
	MalformedRequest = "malformed-request"
	// MechanismTooWeak: the mechanism is weaker than policy allows
	// (§6.5.9).
	MechanismTooWeak = "mechanism-too-weak"
	// NotAuthorized: the credentials were not accepted (§6.5.10).
	NotAuthorized = "not-authorized"
	// TemporaryAuthFailure: a temporary error on the server side, such as
	// an unreachable credential store (§6.5.11).
	TemporaryAuthFailure = "temporary-auth-failure"
)

// Failure is a failed SASL exchange. Condition is one of the RFC 6120 §6.5
// conditions above. Text is a human-readable explanation that is safe to send
// to the peer in <text/>: it never contains secrets, and it never reveals
// whether an account exists. Err, if not nil, is the underlying cause, for
// the server's own logs only.
type Failure struct {
	Condition string
	Text      string
	Err       error
}

// Error returns "sasl: <condition>", followed by the text and the cause when
// there are any.
func (f *Failure) Error() string {
	s := "sasl: " + f.Condition
	if f.Text != "" {
		s += ": " + f.Text
	}
	if f.Err != nil {
		s += ": " + f.Err.Error()
	}
	return s
}

// Unwrap returns the underlying cause.
func (f *Failure) Unwrap() error { return f.Err }

// Is reports whether target is a *Failure with the same Condition, so that
// errors.Is(err, &sasl.Failure{Condition: sasl.NotAuthorized}) matches any
// not-authorized failure.
func (f *Failure) Is(target error) bool {
	t, ok := target.(*Failure)
	return ok && t != nil && t.Condition == f.Condition
}

// ErrChannelBindingType is the Err of the failure of a -PLUS exchange whose
// channel-binding type this connection cannot provide. No credentials were
// checked, so it is not a failed login attempt.
var ErrChannelBindingType = errors.New("sasl: channel-binding type not available on this connection")

func fail(cond, text string) *Failure {
	return &Failure{Condition: cond, Text: text}
}

func malformed(text string) *Failure {
	return &Failure{Condition: MalformedRequest, Text: text}
}

// notAuthorized is the one answer for a wrong password and an unknown user
// alike: same condition, same text, no cause.
func notAuthorized() *Failure {
	return &Failure{Condition: NotAuthorized}
}

// EncodePayload is the base64 form of SASL data in <auth/>, <challenge/>,
// <response/> and <success/> (RFC 6120 §6.4.2): "=" for empty data.
func EncodePayload(b []byte) string {
	if len(b) == 0 {
		return "="
	}
	return base64.StdEncoding.EncodeToString(b)
}

// DecodePayload reads such a payload: "" is no data (nil), "=" is empty
// data; anything else must be strict base64, else ok is false.
func DecodePayload(s string) (b []byte, ok bool) {
	switch s {
	case "":
		return nil, true
	case "=":
		return []byte{}, true
	}
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	return b, err == nil
}
